"""Samplers for the probability-flow ODE `dx/dt = v(x, t)` of a rectified flow, integrated from t = 1
(noise) to t = 0 (data), in the style of k-diffusion's `sampling.py`: pure functions over any
denoiser callable `model(x, t, **extra_args) -> v`, with `t` of shape `(B,)`.

The times come from `FlowSchedule.timesteps`; the starting noise comes from the caller (a seeded
`torch.Generator`), so a sample is a deterministic function of the seed.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor


class Denoiser(Protocol):
    def __call__(self, x: Tensor, t: Tensor, **kwargs: Any) -> Tensor: ...


Callback = Callable[[dict[str, Any]], None]
Refine = Callable[[Tensor, Tensor], Tensor]
"""`refine(x, t) -> x`: moves the state before a step's model call (attention-guided sampling)."""


def _check_ts(ts: Tensor) -> None:
    if ts.ndim != 1 or ts.numel() < 2:
        raise ValueError(f"ts must be a 1-D tensor of at least 2 times, got shape {tuple(ts.shape)}")
    if not bool((ts[1:] < ts[:-1]).all()):
        raise ValueError(f"ts must decrease strictly (from noise towards data), got {ts.tolist()}")


def _report(callback: Callback | None, i: int, x: Tensor, t: Tensor, v: Tensor) -> None:
    if callback is not None:
        # x0 = x - t v: the current estimate of the clean sample, for previews
        callback({"i": i, "x": x, "t": t, "v": v, "x0": x - t * v})


@torch.no_grad()
def sample_euler(
    model: Denoiser,
    x: Tensor,
    ts: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    refine: Refine | None = None,
) -> Tensor:
    """Euler's method: `x <- x + (t_next - t) v(x, t)` for each consecutive pair in `ts`.

    First order, one model call per step. `callback` receives {i, x, t, v, x0} before each step;
    `refine`, if given, may move x at the start of each step (before the callback sees it).
    """
    _check_ts(ts)
    extra_args = extra_args or {}
    batch = x.shape[0]
    for i in range(len(ts) - 1):
        t, t_next = ts[i], ts[i + 1]
        if refine is not None:
            x = refine(x, t.expand(batch))
        v = model(x, t.expand(batch), **extra_args)
        _report(callback, i, x, t, v)
        x = x + (t_next - t) * v
    return x


@torch.no_grad()
def sample_heun(
    model: Denoiser,
    x: Tensor,
    ts: Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    refine: Refine | None = None,
) -> Tensor:
    """Heun's method (explicit trapezoid; Karras et al. 2022, alg. 1): an Euler predictor, then the
    average of the velocities at both ends. Second order, two model calls per step, except a step
    ending at t = 0, which is a plain Euler step: the velocity at t = 0 is only defined as a limit
    (it is `(x - x_0) / t` for a point mass) and one call is saved. `refine` as for `sample_euler`,
    at the start of each step only."""
    _check_ts(ts)
    extra_args = extra_args or {}
    batch = x.shape[0]
    for i in range(len(ts) - 1):
        t, t_next = ts[i], ts[i + 1]
        if refine is not None:
            x = refine(x, t.expand(batch))
        v = model(x, t.expand(batch), **extra_args)
        _report(callback, i, x, t, v)
        x_euler = x + (t_next - t) * v
        if t_next <= 0:
            x = x_euler
        else:
            v_next = model(x_euler, t_next.expand(batch), **extra_args)
            x = x + (t_next - t) * (v + v_next) / 2
    return x


def _batch_halves(*halves: Any) -> Any:
    """Concatenate one argument of each half (conditional, unconditional, ...) along the batch.

    Sequences of different lengths (`(B, L, ...)`, e.g. text tokens and their masks) are padded
    with zeros (False for masks) to the longest length, which a key padding mask then ignores."""
    if all(h is None for h in halves):
        return None
    if not all(isinstance(h, Tensor) for h in halves):
        raise ValueError(f"conditional arguments must all be tensors or all None, got {[type(h) for h in halves]}")
    sequences = halves[0].ndim >= 2 and all(h.ndim == halves[0].ndim for h in halves)
    length = max(h.shape[1] for h in halves) if sequences else 0
    if sequences and any(h.shape[1] != length for h in halves):

        def pad(a: Tensor) -> Tensor:
            # F.pad lists padding from the last dimension backwards; dim 1 is the sequence
            padding = [0, 0] * (a.ndim - 2) + [0, length - a.shape[1]]
            return F.pad(a, padding)  # (B, length, ...)

        halves = tuple(pad(h) for h in halves)
    return torch.cat(halves, dim=0)  # (n B, ...)


def cfg_denoiser(
    model: Denoiser, cond_args: dict[str, Any], uncond_args: dict[str, Any], guidance: float,
    *, weak: Denoiser | None = None, weak_weight: float = 0.0, weak_until: float = 0.0,
    plain_args: dict[str, Any] | None = None, plain_weight: float = 0.0,
) -> Denoiser:
    """Classifier-free guidance (Ho & Salimans 2022): `v_u + w (v_c - v_u)`.

    `cond_args` and `uncond_args` are keyword arguments of `model` with the same keys (e.g. text,
    text_mask, cond, cond_mask); both halves go through the model in one batched call. With
    `guidance == 1` the unconditional half is skipped, since it cancels exactly.

    With `weak` (a weaker model of the same data, e.g. an earlier training stage) and `weak_weight`
    a > 0, the result also moves away from what the weak model predicts under the same condition:
    `+ a (v_c - v_weak)`, autoguidance (Karras et al. 2024), one more model call a step. With
    `weak_until` > 0 that term acts only at steps whose time is at least `weak_until` (from pure
    noise at t = 1 down to there, where layout and motion are decided), and later steps skip the call.

    With `plain_args` (`uncond_args` less a condition, e.g. the known frames) and `plain_weight` b > 0,
    the result also moves towards what that condition adds: `+ b (v_u - v_plain)`, a second guidance
    scale for it (as InstructPix2Pix guides image and text apart); its half joins the batched call.
    """
    if set(cond_args) != set(uncond_args):
        raise ValueError(f"cond_args and uncond_args need the same keys, got {sorted(cond_args)} and {sorted(uncond_args)}")
    if weak_weight < 0 or (weak_weight > 0 and weak is None):
        raise ValueError(f"weak_weight must be >= 0 and needs a weak model, got {weak_weight} and {weak!r}")
    if not 0 <= weak_until <= 1:
        raise ValueError(f"weak_until must lie in [0, 1], got {weak_until!r}")
    if plain_weight < 0 or (plain_weight > 0 and plain_args is None):
        raise ValueError(f"plain_weight must be >= 0 and needs plain_args, got {plain_weight} and {plain_args!r}")
    if plain_weight > 0 and set(plain_args) != set(cond_args):
        raise ValueError(f"plain_args needs the keys of cond_args, got {sorted(plain_args)} and {sorted(cond_args)}")
    halves = [cond_args] + ([uncond_args] if guidance != 1.0 or plain_weight > 0 else [])
    halves += [plain_args] if plain_weight > 0 else []
    batched = {} if len(halves) == 1 else {key: _batch_halves(*[h[key] for h in halves]) for key in cond_args}

    def guided(x: Tensor, t: Tensor, **kwargs: Any) -> Tensor:
        if len(halves) == 1:
            v = v_cond = model(x, t, **cond_args, **kwargs)
        else:
            n = len(halves)
            v_cond, v_uncond, *v_plain = model(torch.cat([x] * n), torch.cat([t] * n), **batched, **kwargs).chunk(n)
            v = v_uncond + guidance * (v_cond - v_uncond)  # each (B, ...)
            if v_plain:
                v = v + plain_weight * (v_uncond - v_plain[0])
        if weak_weight > 0 and float(t.max()) >= weak_until:
            v = v + weak_weight * (v_cond - weak(x, t, **cond_args, **kwargs))
        return v

    return guided
