"""Trajectory models, motion classification and the physics residual of one track.

A track is a sequence of centres (x, y) in pixels at times t (seconds). Three physical
models explain every world motion, and each is fitted by least squares:

- constant velocity: p(t) = p0 + v t (still is the special case v = 0);
- constant velocity with wall reflections, per axis: the unfolded coordinate u = u0 + v t is
  mirrored at two walls a, b (x = 2a - u after a reflection at a, and so on). With the
  reflection times read off the track's reversals this is linear in (u0, v, a, b); when a
  reversal is hidden (the object was behind another), x = fold(u0 + v t) between the walls
  where the object touches the frame edges is fitted instead;
- gravity with floor bounces: y'' = g between contacts with a fitted floor, each bounce
  leaving with e times the impact speed (5 parameters: y0, v0, g, floor, e).

Classification: still when the centre stays put; falling when there is no sideways motion
and gravity explains the height far better than constant velocity; bouncing when both axes
travel; otherwise left/right/up/down by the dominant axis. The residual (RMS distance in px
between the track and its class's model) is the physical-plausibility number: a teleport,
a mid-air reversal or a wobble shows up in it. Thresholds are relative to min(W, H), so they
mean the same at 32 and 256 pixels, and times are in seconds, so any fps works.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

MOTION_NAMES: tuple[str, ...] = ("still", "left", "right", "up", "down", "bouncing", "falling")


@dataclass(frozen=True, kw_only=True)
class MotionConfig:
    still_fraction: float = 0.03
    """A track whose centre stays within this fraction of min(H, W) (and 1 px) is still."""
    diagonal_ratio: float = 0.25
    """Bouncing needs the smaller axis travel to be at least this fraction of the larger."""
    min_gravity: float = 0.5
    """Falling needs a downward acceleration of at least this many frame heights / s^2."""
    residual_fraction: float = 0.02
    """A trajectory is physically plausible when the fit residual is below this fraction of
    min(H, W) (and 1 px)."""
    wall_fraction: float = 0.06
    """A reflection must happen within this fraction of min(H, W) (+1 px) of where the object
    touches the frame edge: objects bounce off walls, not off thin air."""

    def __post_init__(self) -> None:
        for name in ("still_fraction", "diagonal_ratio", "min_gravity", "residual_fraction", "wall_fraction"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")


@dataclass(frozen=True, kw_only=True)
class MotionResult:
    motion: str
    """One of MOTION_NAMES, or "unknown" when the track is too short to tell."""
    residual: float
    """RMS distance (px) between the track and the fitted model of `motion`."""
    plausible: bool
    speed: float
    """Mean speed in px/s along the track."""
    detail: str = ""


def _rms(error: np.ndarray) -> float:
    """RMS Euclidean norm of (N, 2) or (N,) errors."""
    error = np.asarray(error, dtype=np.float64)
    if error.ndim == 1:
        return float(np.sqrt(np.mean(error**2)))
    return float(np.sqrt(np.mean(np.sum(error**2, axis=-1))))


def fit_linear(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Least-squares constant-velocity fit of (N, 2) or (N,) positions; returns the fitted values."""
    if len(t) < 2:
        return np.array(p, dtype=np.float64)
    design = np.stack([np.ones_like(t), t], axis=-1)  # (N, 2)
    coef, *_ = np.linalg.lstsq(design, p, rcond=None)
    return design @ coef


def _turns(x: np.ndarray, noise: float) -> list[tuple[int, ...]]:
    """Candidate split points of each direction reversal: for every reversal, the sample indices
    that may be the first one after it (the extreme sample is ambiguous)."""
    step = np.diff(x)
    signs = np.where(np.abs(step) > noise, np.sign(step), 0.0)
    moving = np.nonzero(signs)[0]
    turns = []
    for i, j in zip(moving[:-1], moving[1:]):
        if signs[i] != signs[j]:
            turns.append(tuple(range(i + 1, j + 2)))
    return turns


def fold(u: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Mirror the unfolded coordinate u into [lo, hi]: a point bouncing between two walls."""
    length = max(hi - lo, 1e-6)
    w = np.mod(u - lo, 2 * length)
    return lo + np.where(w <= length, w, 2 * length - w)


def fit_reflecting(
    t: np.ndarray, x: np.ndarray, noise: float, walls: tuple[float, float] | None = None
) -> tuple[np.ndarray, list[float]]:
    """One axis of constant speed between two reflecting walls. Returns (fitted, walls hit).

    With reflection k happening before sample j, x_j = s_j u_j + alpha_j a + beta_j b where
    u = u0 + v t and each reflection at wall w maps x -> 2w - x; that is linear least squares.
    The sample at each reversal could lie on either side of the wall contact: all choices
    are tried (few reversals fit in a clip) and the best kept. Reversals hidden in a gap of
    the track are invisible to that; so, given where the `walls` are (where the object
    touches the frame edges), x = fold(u0 + v t, lo, hi) is also fitted for (u0, v) and the
    better fit kept."""
    turns = _turns(x, noise)
    best: tuple[float, np.ndarray, list[float]] = (float(np.sum((fit_linear(t, x) - x) ** 2)), fit_linear(t, x), [])
    options = turns if len(turns) <= 8 else [(turn[len(turn) // 2],) for turn in turns]
    for splits in itertools.product(*options) if turns else ():
        if any(b <= a for a, b in zip(splits[:-1], splits[1:])):
            continue
        rows = np.zeros((len(t), 4))  # columns: u0, v, first wall, second wall
        sign, alpha, beta = 1.0, 0.0, 0.0
        bounce = 0
        for j in range(len(t)):
            while bounce < len(splits) and splits[bounce] <= j:
                if bounce % 2 == 0:
                    sign, alpha, beta = -sign, 2.0 - alpha, -beta
                else:
                    sign, alpha, beta = -sign, -alpha, 2.0 - beta
                bounce += 1
            rows[j] = (sign, sign * t[j], alpha, beta)
        used = rows[:, : 2 + min(len(splits), 2)]
        coef, *_ = np.linalg.lstsq(used, x, rcond=None)
        fitted = used @ coef
        error = float(np.sum((fitted - x) ** 2))
        if error < best[0]:
            best = (error, fitted, [float(w) for w in coef[2:]])
    if walls is not None and walls[1] - walls[0] > 1.0 and len(t) >= 4:
        lo, hi = walls
        steps = np.diff(x) / np.maximum(np.diff(t), 1e-9)
        v0 = float(np.median(np.abs(steps))) * (np.sign(steps[0]) or 1.0)
        start = np.array([x[0] - v0 * t[0], v0])
        fit = least_squares(lambda q: fold(q[0] + q[1] * t, lo, hi) - x, start, method="trf", max_nfev=200)
        u0, v = fit.x
        fitted = fold(u0 + v * t, lo, hi)
        error = float(np.sum((fitted - x) ** 2))
        if error < best[0]:
            # Reflections happen where the unfolded path crosses lo + n (hi - lo).
            index = np.floor((u0 + v * t - lo) / (hi - lo)).astype(int)  # (N,) fold index per sample
            crossings = [n for a, b in zip(index[:-1], index[1:]) for n in range(min(a, b) + 1, max(a, b) + 1)]
            best = (error, fitted, [float(lo if n % 2 == 0 else hi) for n in crossings])
    return best[1], best[2]


def _fall_curve(params: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Height (y down) of a ball at times t (from t[0]) with y0, v0, g, floor, e; bounces end when
    the launch speed is negligible and the ball rests on the floor."""
    y0, v0, g, floor, e = params
    g = max(g, 1e-6)
    e = min(max(e, 0.0), 0.99)
    tau = t - t[0]
    y = np.empty_like(tau)
    # First flight: y0 + v0 tau + g tau^2 / 2 until y reaches the floor.
    disc = v0 * v0 + 2 * g * max(floor - y0, 0.0)
    t_hit = (-v0 + math.sqrt(disc)) / g
    first = tau < t_hit
    y[first] = y0 + v0 * tau[first] + 0.5 * g * tau[first] ** 2
    speed = v0 + g * t_hit
    start = t_hit
    rest = ~first
    while rest.any():
        launch = e * speed
        duration = 2 * launch / g
        if launch < 1e-3 or duration < 1e-4:
            y[rest] = floor
            break
        now = rest & (tau < start + duration)
        s = tau[now] - start
        y[now] = floor - launch * s + 0.5 * g * s**2
        rest &= ~now
        speed, start = launch, start + duration
    return y


def fit_falling(t: np.ndarray, y: np.ndarray, height: float) -> tuple[np.ndarray, np.ndarray]:
    """Gravity with floor bounces fitted to heights y (px, down); returns (fitted, params).

    The model is non-convex (which flight a sample belongs to is discrete), so it is refined
    by nonlinear least squares from the best few of a grid of physical starts: g, y0 and v0
    from a parabola through the first flight (or g from later flights, or a few multiples
    of the frame `height` per s^2), floors at and a little below the lowest point seen (an
    impact usually falls between two frames), and several restitutions."""
    tau = t - t[0]
    step = np.diff(y)
    noise = max(0.25, 1e-3 * float(np.ptp(y)))
    # Reversals split the samples into flights; a sample next to a reversal may be on
    # either side of the floor contact, so each flight drops its last sample.
    reversal = np.nonzero((step[:-1] > noise) & (step[1:] < -noise))[0] + 1  # floor contacts
    rising = np.nonzero(step < -noise)[0]
    first = int(rising[0]) if len(rising) else len(y)  # samples strictly before the first extreme
    bounds = [0, *reversal.tolist(), len(y)]
    gravities = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        seg = slice(lo + (lo > 0), hi)
        if len(tau[seg]) >= 3:
            gravities.append(2 * float(np.polyfit(tau[seg], y[seg], 2)[0]))
    gravities = [g for g in gravities if g > 0]
    dt = max(float(tau[1]), 1e-9) if len(tau) > 1 else 1.0
    heads = []  # (y0, v0, g)
    if first >= 3:
        a2, a1, a0 = np.polyfit(tau[:first], y[:first], 2)
        if a2 > 0:
            heads.append((float(a0), float(a1), float(2 * a2)))
    for g in ([float(np.median(gravities))] if gravities else []) + [f * height for f in (1.5, 3.5, 8.0)]:
        heads.append((float(y[0]), float((y[1] - y[0]) / dt - 0.5 * g * dt) if len(y) > 1 else 0.0, g))
    spread = float(np.ptp(y))
    starts = [
        np.array([y0, v0, g, float(y.max()) + 0.5 + below * spread, e])
        for y0, v0, g in heads
        for below in (0.0, 0.02, 0.05, 0.1)
        for e in (0.5, 0.65, 0.8, 0.9)
    ]
    starts.sort(key=lambda q: float(np.sum((_fall_curve(q, t) - y) ** 2)))
    scale = max(spread, 1.0)
    best = None
    for start in starts[:3]:
        fit = least_squares(
            lambda params: _fall_curve(params, t) - y,
            start,
            x_scale=np.array([scale, scale, scale, scale, 0.1]),
            method="trf",
            max_nfev=200,
        )
        if best is None or fit.cost < best.cost:
            best = fit
    assert best is not None
    return _fall_curve(best.x, t), best.x


def classify_motion(
    t: np.ndarray,
    centers: np.ndarray,
    *,
    frame_size: tuple[int, int],
    extents: tuple[float, float, float, float],
    config: MotionConfig | None = None,
) -> MotionResult:
    """Classify one track's motion and measure how well its model explains it.

    `t` (N,) seconds and `centers` (N, 2) px from frames where the object is fully visible;
    `frame_size` is (W, H); `extents` the object's reach from its centre (left, right, up,
    down) in px, which says where its centre is when it touches a wall."""
    config = config or MotionConfig()
    width, height = frame_size
    scale = min(width, height)
    t = np.asarray(t, dtype=np.float64)
    p = np.asarray(centers, dtype=np.float64)
    if len(t) < 3:
        return MotionResult(motion="unknown", residual=0.0, plausible=True, speed=0.0, detail="too few frames")
    duration = float(t[-1] - t[0])
    speed = float(np.sum(np.linalg.norm(np.diff(p, axis=0), axis=-1)) / max(duration, 1e-9))
    tolerance = max(1.0, config.residual_fraction * scale)
    span_x, span_y = np.ptp(p[:, 0]), np.ptp(p[:, 1])
    noise = max(0.25, 0.004 * scale)

    def result(motion: str, fitted: np.ndarray, detail: str = "") -> MotionResult:
        residual = _rms(fitted - p)
        return MotionResult(
            motion=motion, residual=residual, plausible=residual <= tolerance, speed=speed, detail=detail
        )

    if max(span_x, span_y) < max(1.0, config.still_fraction * scale):
        return result("still", np.broadcast_to(p.mean(axis=0), p.shape))

    linear = fit_linear(t, p)  # (N, 2)
    # Falling: (almost) no sideways motion and a clear downward acceleration or floor bounce.
    if span_x <= max(1.0, config.still_fraction * scale, config.diagonal_ratio * span_y):
        fall_y, params = fit_falling(t, p[:, 1], height)
        g = params[2] / height  # frame heights / s^2
        fall = np.stack([np.full_like(fall_y, p[:, 0].mean()), fall_y], axis=-1)
        # The gravity model has five parameters: it must beat a straight line clearly, on a
        # path that is clearly not straight (not on noise along a few collinear points).
        curved = _rms(linear - p) > max(0.5, 0.01 * scale) and len(t) >= 5
        if curved and g >= config.min_gravity and _rms(fall - p) < 0.5 * _rms(linear - p):
            return result("falling", fall, f"g={g:.2f} H/s^2")
    # Distance travelled per axis, not the range: a reflection folds the range but not the travel.
    travel = np.maximum(np.abs(np.diff(p, axis=0)) - noise, 0.0).sum(axis=0)  # (2,)
    if travel.min() >= config.diagonal_ratio * travel.max():
        left, right, up, down = extents
        reflect_x, walls_x = fit_reflecting(t, p[:, 0], noise, (left, width - right))
        reflect_y, walls_y = fit_reflecting(t, p[:, 1], noise, (up, height - down))
        fitted = np.stack([reflect_x, reflect_y], axis=-1)
        margin = config.wall_fraction * scale + 1.0
        off_wall = [w for w in walls_x if min(abs(w - left), abs(w - (width - right))) > margin] + [
            w for w in walls_y if min(abs(w - up), abs(w - (height - down))) > margin
        ]
        detail = f"{len(walls_x) + len(walls_y)} reflections"
        out = result("bouncing", fitted, detail)
        if off_wall:
            walls = ", ".join(f"{w:.1f}" for w in off_wall)
            return MotionResult(
                motion="bouncing",
                residual=out.residual,
                plausible=False,
                speed=speed,
                detail=f"{detail}; reversal away from the walls at {walls} px",
            )
        return out
    velocity = (linear[-1] - linear[0]) / max(duration, 1e-9)
    if span_x >= span_y:
        motion = "right" if velocity[0] > 0 else "left"
    else:
        motion = "down" if velocity[1] > 0 else "up"
    return result(motion, linear)
