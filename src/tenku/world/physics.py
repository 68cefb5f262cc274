"""Closed-form trajectories of world objects.

Every motion is an analytic function of time, so positions never depend on fps: a scene
rendered at 8 fps and at 16 fps agrees exactly at shared times. Units are frame units
(x across the width, y down the height, both in [0, 1]) and seconds. Objects do not
collide with one another; they pass in front of or behind each other by depth.

- left/right/up/down: x(t) = x0 + v t.
- bouncing: constant-speed motion folded into the wall-bounded interval per axis
  (a triangle wave), i.e. perfect reflection off all four walls.
- falling: starts at rest, y(t) = y0 + g t^2 / 2 until it hits the floor, then each bounce
  leaves the floor with e times the impact speed, so it settles after
  t0 + 2 e v0 / (g (1 - e)) seconds (a convergent geometric series of flights).
- still: x(t) = x0.
"""

from __future__ import annotations

import math

import numpy as np

from tenku.world.scene import SHAPE_EXTENTS, WorldObject

GRAVITY = 3.5  # frame heights per second^2: a drop from the top half reaches the floor in ~0.6 s
RESTITUTION = 0.8  # bounce speed / impact speed on the floor
_MAX_BOUNCES = 48  # 0.8^48 ~ 2e-5: later bounces are below a thousandth of a pixel


def bounds(obj: WorldObject, width: int, height: int) -> tuple[float, float, float, float]:
    """(x_lo, x_hi, y_lo, y_hi): where the object's centre touches the frame edges."""
    radius = obj.half_extent * min(width, height)  # px
    left, right, up, down = SHAPE_EXTENTS[obj.shape]
    return radius * left / width, 1.0 - radius * right / width, radius * up / height, 1.0 - radius * down / height


def trajectory(obj: WorldObject, times: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Centre (T, 2) and velocity (T, 2) in frame units at `times` (T,) seconds.

    `width` and `height` only set the aspect ratio, which decides where the walls are."""
    t = np.asarray(times, dtype=np.float64)  # (T,)
    x0, y0 = obj.position
    vx, vy = obj.velocity
    if obj.motion == "bouncing":
        x_lo, x_hi, y_lo, y_hi = bounds(obj, width, height)
        x, vx_t = fold(x0, vx, t, x_lo, x_hi)
        y, vy_t = fold(y0, vy, t, y_lo, y_hi)
    elif obj.motion == "falling":
        x, vx_t = np.full_like(t, x0), np.zeros_like(t)
        y, vy_t = fall(y0, t, bounds(obj, width, height)[3])
    else:  # linear and still
        x, vx_t = x0 + vx * t, np.full_like(t, vx)
        y, vy_t = y0 + vy * t, np.full_like(t, vy)
    return np.stack([x, y], axis=-1), np.stack([vx_t, vy_t], axis=-1)


def fold(p0: float, v: float, t: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Position and velocity of a point moving at `v` between reflecting walls lo and hi.

    Unfolded, the point moves freely; folding u = (p0 - lo + v t) mod 2L onto [0, L]
    (L = hi - lo) mirrors it at each wall, which is an elastic reflection."""
    length = hi - lo
    if length <= 0:  # object as large as the frame: pin it to the middle
        return np.full_like(t, (lo + hi) / 2), np.zeros_like(t)
    u = np.mod(np.clip(p0, lo, hi) - lo + v * t, 2 * length)  # (T,)
    forward = u <= length
    position = lo + np.where(forward, u, 2 * length - u)
    velocity = np.where(forward, v, -v)
    return position, velocity


def fall(y0: float, t: np.ndarray, floor: float, g: float = GRAVITY, e: float = RESTITUTION) -> tuple[np.ndarray, np.ndarray]:
    """Height and vertical velocity of a ball dropped from rest at y0 onto `floor` (y down)."""
    drop = max(floor - y0, 0.0)
    t_impact = math.sqrt(2 * drop / g)
    v_impact = g * t_impact
    # Flight n (n >= 1) leaves the floor at speed e^n v_impact and lasts 2 e^n v_impact / g.
    launch = v_impact * e ** np.arange(1, _MAX_BOUNCES + 1)  # (N,)
    starts = t_impact + np.concatenate([[0.0], np.cumsum(2 * launch / g)])  # (N+1,) floor contacts
    y = np.full_like(t, floor)
    vy = np.zeros_like(t)
    before = t < t_impact
    y[before] = y0 + 0.5 * g * t[before] ** 2
    vy[before] = g * t[before]
    flight = np.searchsorted(starts, t, side="right") - 1  # index of the last contact, -1 before
    airborne = (flight >= 0) & (flight < _MAX_BOUNCES)
    tau = t[airborne] - starts[flight[airborne]]
    v_up = launch[flight[airborne]]
    y[airborne] = floor - v_up * tau + 0.5 * g * tau**2
    vy[airborne] = -v_up + g * tau
    return y, vy
