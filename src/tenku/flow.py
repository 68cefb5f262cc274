"""Rectified flow, in the convention of Stable Diffusion 3 (Esser et al. 2024, "Scaling Rectified Flow
Transformers for High-Resolution Image Synthesis"):

    x_t = (1 - t) * x_0 + t * eps,    t = 0 is data, t = 1 is noise,    v = dx_t/dt = eps - x_0.

The network regresses `v` with an MSE loss. Training times come from a logit-normal density
(SD3 sec. 3.1: more weight on the middle of the path, where the velocity is hardest to predict),
then pass through a time shift that moves them towards noise as the latent grows:

    shift(t) = s * t / (1 + (s - 1) * t),    s = base_shift * sqrt(num_tokens / base_tokens).

More tokens carry more redundant signal, so a given noise level destroys less of the content; the
shift keeps the signal-to-noise ratio seen per token comparable across sizes and durations (SD3
eq. 23 derives `s = sqrt(m / n)` for m and n pixels). `s = 1` is the identity; the shift maps 0 to
0 and 1 to 1 and is increasing for every s > 0.

`FlowSchedule` owns this parameterisation: training (`sample_t`, `add_noise`, `loss`) and sampling
(`timesteps`, `x0_from_v`) both go through it, so they cannot drift apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


def time_shift(t: Tensor, shift: float) -> Tensor:
    """`s * t / (1 + (s - 1) * t)`: monotonic on [0, 1], fixes 0 and 1, identity for s = 1."""
    if shift <= 0:
        raise ValueError(f"shift must be positive, got {shift}")
    # the same fraction divided through by s; this form gives exactly 1 at t = 1
    return t / (t + (1 - t) / shift)


def _expand(t: Tensor, like: Tensor) -> Tensor:
    """`(B,)` -> `(B, 1, ..., 1)` to broadcast against a latent `(B, ...)`."""
    return t.reshape(t.shape[0], *([1] * (like.ndim - 1))).to(like.dtype)


@dataclass(kw_only=True)
class FlowSchedule:
    logit_mean: float = 0.0
    """Mean of the normal whose sigmoid gives training times (SD3's best: 0)."""
    logit_std: float = 1.0
    """Standard deviation of that normal (SD3's best: 1)."""
    base_tokens: int = 256
    """Latent token count at which the time shift is `base_shift`."""
    base_shift: float = 1.0
    """Shift at `base_tokens` tokens; 1.0 means no shift there."""
    fixed_shift: float | None = None
    """If set, use this shift for every size instead of the token-dependent one."""

    def __post_init__(self) -> None:
        if self.logit_std <= 0:
            raise ValueError(f"logit_std must be positive, got {self.logit_std}")
        if not isinstance(self.base_tokens, int) or self.base_tokens < 1:
            raise ValueError(f"base_tokens must be a positive integer, got {self.base_tokens!r}")
        if self.base_shift <= 0:
            raise ValueError(f"base_shift must be positive, got {self.base_shift}")
        if self.fixed_shift is not None and self.fixed_shift <= 0:
            raise ValueError(f"fixed_shift must be positive or None, got {self.fixed_shift}")

    def shift(self, num_tokens: int) -> float:
        """The time shift s for a latent of `num_tokens` tokens (the DiT's sequence length)."""
        if self.fixed_shift is not None:
            return self.fixed_shift
        if num_tokens < 1:
            raise ValueError(f"num_tokens must be positive, got {num_tokens}")
        return self.base_shift * math.sqrt(num_tokens / self.base_tokens)

    # --- training ---------------------------------------------------------------------------

    def sample_t(
        self,
        batch_size: int,
        num_tokens: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """Training times `(B,)` in (0, 1): sigmoid of N(logit_mean, logit_std), then shifted."""
        # drawn where the generator lives, so a CPU generator seeds GPU training the same way
        u = torch.randn(batch_size, generator=generator, device=generator.device if generator else device)
        u = u.to(device) * self.logit_std + self.logit_mean
        return time_shift(torch.sigmoid(u), self.shift(num_tokens))

    @staticmethod
    def add_noise(x_0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """`x_t = (1 - t) x_0 + t eps` for per-sample times `t (B,)`."""
        t = _expand(t, x_0)
        return (1 - t) * x_0 + t * noise

    @staticmethod
    def velocity(x_0: Tensor, noise: Tensor) -> Tensor:
        """The regression target `v = eps - x_0`."""
        return noise - x_0

    @staticmethod
    def loss(
        v_pred: Tensor,
        x_0: Tensor,
        noise: Tensor,
        *,
        weight: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> Tensor:
        """Mean squared error of `v_pred` against `eps - x_0`, computed in float32.

        `weight (B,)` scales each sample's loss (its mean is not renormalised). `mask`, broadcastable
        to the latent (e.g. `(B, 1, T, 1, 1)` to skip known conditioning frames), restricts each
        sample's mean to the masked elements; a sample with an empty mask contributes 0. A mask
        of non-negative reals weights the elements: each sample's loss is their weighted mean.
        """
        error = (v_pred.float() - FlowSchedule.velocity(x_0.float(), noise.float())).square()  # (B, ...)
        dims = tuple(range(1, error.ndim))
        if mask is None:
            per_sample = error.mean(dim=dims)  # (B,)
        else:
            mask = mask.to(error.dtype).expand_as(error)
            per_sample = (error * mask).sum(dim=dims) / mask.sum(dim=dims).clamp_min(1)  # (B,)
        if weight is not None:
            per_sample = per_sample * weight.to(per_sample)
        return per_sample.mean()

    # --- sampling -----------------------------------------------------------------------------

    def timesteps(self, num_steps: int, num_tokens: int, *, device: torch.device | str | None = None) -> Tensor:
        """`num_steps + 1` times from 1 (noise) down to 0 (data): uniform, then shifted like training."""
        if num_steps < 1:
            raise ValueError(f"num_steps must be at least 1, got {num_steps}")
        ts = torch.linspace(1.0, 0.0, num_steps + 1, device=device, dtype=torch.float64)
        return time_shift(ts, self.shift(num_tokens)).float()

    @staticmethod
    def x0_from_v(x_t: Tensor, v: Tensor, t: Tensor) -> Tensor:
        """The data estimate `x_0 = x_t - t v` (exact when v is the true velocity of this x_0)."""
        return x_t - _expand(t, x_t) * v

    @staticmethod
    def noise_from_v(x_t: Tensor, v: Tensor, t: Tensor) -> Tensor:
        """The noise estimate `eps = x_t + (1 - t) v`."""
        return x_t + (1 - _expand(t, x_t)) * v
