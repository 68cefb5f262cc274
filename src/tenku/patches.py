"""Spacetime patches of a video latent, and the 3D rotary position embedding over their grid.

A latent `(B, C, T, H, W)` is cut into non-overlapping `pt x ph x pw` patches, each flattened into one
token of `C * pt * ph * pw` numbers (Sora's "spacetime patches"). Tokens are ordered time-major
(`t h w`), so the tokens of one latent frame are contiguous.

Positions are given to attention by RoPE (Su et al. 2021, "RoFormer") applied per axis: the head
dimension is split into a time, a height and a width part, and each part is rotated by angles
proportional to the token's *absolute integer* grid coordinate on that axis. Because a rotation by
`a` followed by the transpose of a rotation by `b` is a rotation by `a - b`, the attention score
`q_i . k_j` depends only on the coordinate difference, so a model trained on several sizes and
durations has seen every offset it will meet on a new grid of the same extents. Positions start at
0 on every axis; the time axis may be offset and scaled (`t_offset`, `t_scale`) so that a sliding
window over a long video can keep its frames' absolute times, or use window-relative ones.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor

PatchSize = tuple[int, int, int]
Grid = tuple[int, int, int]


def _check_patch_size(patch_size: PatchSize) -> None:
    if len(patch_size) != 3 or any(int(p) != p or p < 1 for p in patch_size):
        raise ValueError(f"patch_size must be three positive integers (pt, ph, pw), got {patch_size!r}")


def patch_grid(latent_size: tuple[int, int, int], patch_size: PatchSize) -> Grid:
    """The token grid `(gt, gh, gw)` of a latent of size `(T, H, W)`; each size must divide evenly."""
    _check_patch_size(patch_size)
    if len(latent_size) != 3:
        raise ValueError(f"latent_size must be (T, H, W), got {latent_size!r}")
    for axis, size, p in zip("THW", latent_size, patch_size):
        if size < 1 or size % p:
            raise ValueError(
                f"latent {axis}={size} is not a positive multiple of the patch size {p} on that axis "
                f"(latent size {tuple(latent_size)}, patch size {tuple(patch_size)})"
            )
    return tuple(size // p for size, p in zip(latent_size, patch_size))  # type: ignore[return-value]


def patchify(x: Tensor, patch_size: PatchSize) -> Tensor:
    """`(B, C, T, H, W)` -> tokens `(B, N, pt*ph*pw*C)` with `N = (T/pt)(H/ph)(W/pw)` in `t h w` order."""
    if x.ndim != 5:
        raise ValueError(f"expected a latent (B, C, T, H, W), got shape {tuple(x.shape)}")
    patch_grid(tuple(x.shape[2:]), patch_size)  # validates divisibility
    pt, ph, pw = patch_size
    return rearrange(x, "b c (t pt) (h ph) (w pw) -> b (t h w) (pt ph pw c)", pt=pt, ph=ph, pw=pw)


def unpatchify(tokens: Tensor, patch_size: PatchSize, grid: Grid) -> Tensor:
    """Inverse of `patchify`: tokens `(B, N, pt*ph*pw*C)` on grid `(gt, gh, gw)` -> `(B, C, T, H, W)`."""
    _check_patch_size(patch_size)
    pt, ph, pw = patch_size
    gt, gh, gw = grid
    if tokens.ndim != 3 or tokens.shape[1] != gt * gh * gw or tokens.shape[2] % (pt * ph * pw):
        raise ValueError(
            f"tokens of shape {tuple(tokens.shape)} do not fit grid {tuple(grid)} with patch size {tuple(patch_size)}"
        )
    return rearrange(
        tokens, "b (t h w) (pt ph pw c) -> b c (t pt) (h ph) (w pw)", t=gt, h=gh, w=gw, pt=pt, ph=ph, pw=pw
    )


def default_rope_axes(head_dim: int) -> tuple[int, int, int]:
    """Split `head_dim` into (time, height, width) parts: a quarter for time, the rest shared by the
    two spatial axes, each part even (RoPE rotates pairs). 64 -> (16, 24, 24), 128 -> (32, 48, 48)."""
    if head_dim < 6 or head_dim % 2:
        raise ValueError(f"head_dim must be even and at least 6 for 3D RoPE, got {head_dim}")
    d_t = max(2, 2 * (head_dim // 8))
    d_hw = 2 * ((head_dim - d_t) // 4)
    d_t = head_dim - 2 * d_hw  # give time whatever rounding left over; still even
    return d_t, d_hw, d_hw


def grid_positions(
    grid_t: int,
    grid_h: int,
    grid_w: int,
    *,
    t_offset: float | Tensor = 0.0,
    t_scale: float = 1.0,
    space_scale: float = 1.0,
    device: torch.device | str | None = None,
) -> Tensor:
    """Coordinates `(N, 3)` (time, row, column) of the tokens of a grid in `t h w` order.

    Row and column are the patch indices times `space_scale` (1: integers; 0.5 for a model whose
    patches were halved from one trained at 1, so positions keep their old meaning). Time is `t_offset + t_scale * frame_index`:
    keep `t_offset = 0` for a clip on its own, set it to the window's first latent frame for a
    sliding window that keeps absolute time, and use `t_scale` if latent frames are strided.
    A tensor `t_offset` of shape `(B,)` gives per-sample positions `(B, N, 3)`.
    """
    t = torch.arange(grid_t, device=device, dtype=torch.float32) * t_scale
    h = torch.arange(grid_h, device=device, dtype=torch.float32) * space_scale
    w = torch.arange(grid_w, device=device, dtype=torch.float32) * space_scale
    pos = torch.stack(torch.meshgrid(t, h, w, indexing="ij"), dim=-1)  # (gt, gh, gw, 3)
    pos = rearrange(pos, "t h w k -> (t h w) k")  # (N, 3)
    if isinstance(t_offset, Tensor) and t_offset.ndim > 0:
        offset = torch.zeros(t_offset.shape[0], 1, 3, device=pos.device)  # (B, 1, 3)
        offset[:, 0, 0] = t_offset.to(pos.device, torch.float32)
        return pos.unsqueeze(0) + offset  # (B, N, 3)
    pos[:, 0] += float(t_offset)
    return pos


def rope_from_positions(
    positions: Tensor, axes_dim: tuple[int, int, int], *, theta: float = 10000.0
) -> tuple[Tensor, Tensor]:
    """cos and sin `(..., N, head_dim / 2)` for coordinates `(..., N, 3)`.

    Axis `k` gets `axes_dim[k] / 2` frequencies `theta ** (-2i / axes_dim[k])` (RoFormer eq. 15),
    so each axis spans wavelengths from 2*pi to about 2*pi*theta positions.
    """
    if positions.shape[-1] != len(axes_dim):
        raise ValueError(f"positions have {positions.shape[-1]} coordinates but axes_dim is {axes_dim}")
    if any(d % 2 or d < 2 for d in axes_dim):
        raise ValueError(f"every RoPE axis part must be even and positive, got {axes_dim}")
    angles = []
    for k, dim in enumerate(axes_dim):
        inv_freq = theta ** (-torch.arange(0, dim, 2, device=positions.device, dtype=torch.float64) / dim)
        # float64 for the product: positions times high frequencies lose digits in float32
        angles.append(positions[..., k, None].double() * inv_freq)  # (..., N, dim/2)
    angle = torch.cat(angles, dim=-1)  # (..., N, head_dim/2)
    return angle.cos().float(), angle.sin().float()


def rope_3d(
    grid_t: int,
    grid_h: int,
    grid_w: int,
    head_dim: int,
    *,
    axes_dim: tuple[int, int, int] | None = None,
    theta: float = 10000.0,
    t_offset: float | Tensor = 0.0,
    t_scale: float = 1.0,
    space_scale: float = 1.0,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    """cos and sin `(N, head_dim / 2)` (or `(B, N, head_dim / 2)` for per-sample `t_offset`) for the
    tokens of a `grid_t x grid_h x grid_w` grid. See `grid_positions` for the time axis options."""
    axes_dim = default_rope_axes(head_dim) if axes_dim is None else tuple(axes_dim)
    if sum(axes_dim) != head_dim:
        raise ValueError(f"RoPE axes {axes_dim} must sum to head_dim={head_dim}")
    positions = grid_positions(grid_t, grid_h, grid_w, t_offset=t_offset, t_scale=t_scale,
                               space_scale=space_scale, device=device)
    return rope_from_positions(positions, axes_dim, theta=theta)  # type: ignore[arg-type]


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate consecutive pairs `(x[2i], x[2i+1])` of `x (B, heads, N, head_dim)` by the angles whose
    cos and sin are `(N, head_dim/2)` or `(B, N, head_dim/2)`. Computed in float32, returned in x's dtype.

    Each pair is a complex number and the rotation one complex product (as in Llama): a single
    vectorised kernel, about 5x faster on CPU, forward and backward, than the same rotation
    written with real slices and a stack."""
    rotation = torch.complex(cos.float(), sin.float())  # (N, head_dim/2) or (B, N, head_dim/2)
    if rotation.ndim == 3:  # per-sample positions: broadcast over heads
        rotation = rotation[:, None]  # (B, 1, N, head_dim/2)
    pairs = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)).contiguous())  # (B, heads, N, head_dim/2)
    return torch.view_as_real(pairs * rotation).flatten(-2).to(x.dtype)  # (B, heads, N, head_dim)
