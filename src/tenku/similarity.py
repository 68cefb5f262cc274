"""Image similarity: PSNR and SSIM (Wang et al. 2004), differentiable, for losses and benchmarks.

Inputs are float tensors in [-1, 1] shaped (..., 3, H, W) or videos (B, 3, T, H, W); SSIM is
computed per frame on each RGB channel with an 11-tap Gaussian window (sigma 1.5), which
is the standard definition, and a smaller window when frames are smaller than 11 pixels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

_C1 = (0.01 * 2.0) ** 2  # constants for a data range of 2 ([-1, 1])
_C2 = (0.03 * 2.0) ** 2


def _gaussian_window(size: int, sigma: float, channels: int, like: torch.Tensor) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    window = (g[:, None] * g[None, :]).to(like)
    return window.expand(channels, 1, size, size).contiguous()


def _frames(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) -> (B*T, 3, H, W); images pass through."""
    if x.ndim == 5:
        return rearrange(x, "b c t h w -> (b t) c h w")
    if x.ndim == 4:
        return x
    raise ValueError(f"expected (B, 3, H, W) images or (B, 3, T, H, W) videos, got shape {tuple(x.shape)}")


def ssim_map(x: torch.Tensor, y: torch.Tensor, window_size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-pixel SSIM of two batches of frames in [-1, 1], shape (N, 3, H', W') (valid region)."""
    x, y = _frames(x).float(), _frames(y).float()
    size = min(window_size, x.shape[-1], x.shape[-2])
    size -= 1 - size % 2  # odd window
    window = _gaussian_window(size, sigma * size / window_size, x.shape[1], x)
    conv = lambda t: F.conv2d(t, window, groups=x.shape[1])  # noqa: E731
    mu_x, mu_y = conv(x), conv(y)
    var_x = conv(x * x) - mu_x**2
    var_y = conv(y * y) - mu_y**2
    cov = conv(x * y) - mu_x * mu_y
    return ((2 * mu_x * mu_y + _C1) * (2 * cov + _C2)) / ((mu_x**2 + mu_y**2 + _C1) * (var_x + var_y + _C2))


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean SSIM in [-1, 1] (1 = identical)."""
    return ssim_map(x, y).mean()


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """PSNR in dB for signals in [-1, 1], i.e. with a peak-to-peak range of 2."""
    mse = (x.float() - y.float()).pow(2).mean()
    return 10 * torch.log10(4.0 / mse.clamp_min(1e-12))


def psnr_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 arrays of the same shape, peak 255."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def ssim_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two uint8 (T, H, W, 3) or (H, W, 3) arrays."""
    to = lambda v: torch.from_numpy(np.ascontiguousarray(v.reshape(-1, *v.shape[-3:]))).permute(0, 3, 1, 2).float() / 127.5 - 1  # noqa: E731
    return float(ssim(to(a), to(b)))
