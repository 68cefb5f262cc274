"""Diffusion transformer over spacetime patches (Peebles & Xie 2023, "Scalable Diffusion Models with
Transformers", with the text conditioning of PixArt-alpha, Chen et al. 2023).

The model predicts a velocity `v` for a noisy latent `x_t` at time `t` (see `tenku.flow`; the model
itself knows nothing about the schedule). Each block is

    x = x + gate_msa * SelfAttn(modulate(LN(x), shift_msa, scale_msa))   full 3D attention, QK-norm, 3D RoPE
    x = x + CrossAttn(LN(x), text)                                          text tokens, key padding mask
    x = x + gate_mlp * MLP(modulate(LN(x), shift_mlp, scale_mlp))

with shift/scale/gate regressed from the conditioning vector `c = emb(t) + emb(pooled text)`
(adaLN-Zero). Every gate, the cross-attention output, the final projection and the conditioning
patch embedding start at zero, so each block is the identity and the model outputs zeros at init.

Image and video conditioning (image-to-video, extension, interpolation) enters as known latent
frames `cond` and a per-frame mask; `[cond * mask, mask]` is patchified through its own
zero-initialised projection and added to the patch embedding, so a model that has the branch is
exactly the model without it until training moves the projection.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from tenku.patches import default_rope_axes, patch_grid, patchify, rope_3d, apply_rope, unpatchify


@dataclass(kw_only=True)
class DiTConfig:
    in_channels: int = 16
    """Channels C of the latent (B, C, T, H, W) the model denoises; the VAE's latent channels."""
    patch_size: tuple[int, int, int] = (1, 2, 2)
    """Patch extent (pt, ph, pw) in latent frames and latent pixels; one token per patch."""
    width: int = 384
    """Hidden size of every token."""
    depth: int = 8
    """Number of transformer blocks."""
    num_heads: int = 6
    """Attention heads; width / num_heads is the head dimension, which must be even (RoPE)."""
    mlp_ratio: float = 4.0
    """MLP hidden size as a multiple of width."""
    text_dim: int = 384
    """Width of the text encoder's token states (384 for MiniLM-L6, 4096 for T5-XXL)."""
    rope_axes: tuple[int, int, int] | None = None
    """How the head dimension is split between (time, height, width) rotary parts; None: a quarter
    for time, the rest split evenly (see `patches.default_rope_axes`)."""
    rope_theta: float = 10000.0
    """RoPE base wavelength."""
    rope_space_scale: float = 1.0
    """RoPE row and column coordinates are patch indices times this. A model re-cut to smaller
    patches from one trained with larger ones (`repatch_state_dict`) uses the size ratio (0.5 for
    2x2 -> 1x1), so every position keeps the meaning the trained weights learned."""
    conditioning: bool = True
    """Build the zero-initialised branch for known latent frames (image/video conditioning)."""
    timestep_scale: float = 1000.0
    """t in [0, 1] is multiplied by this before the sinusoidal embedding, so its frequencies resolve
    fine steps in t (DiT used integer steps 0..999)."""
    frequency_dim: int = 256
    """Size of the sinusoidal timestep embedding before its MLP."""
    gradient_checkpointing: bool = False
    """Recompute each block's activations in backward to save memory (training only)."""

    def __post_init__(self) -> None:
        self.patch_size = tuple(self.patch_size)  # type: ignore[assignment]
        if len(self.patch_size) != 3 or any(not isinstance(p, int) or p < 1 for p in self.patch_size):
            raise ValueError(f"patch_size must be three positive integers, got {self.patch_size!r}")
        for name in ("in_channels", "width", "depth", "num_heads", "text_dim", "frequency_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.frequency_dim % 2:
            raise ValueError(f"frequency_dim must be even, got {self.frequency_dim}")
        if self.width % self.num_heads:
            raise ValueError(f"width={self.width} is not divisible by num_heads={self.num_heads}")
        if self.mlp_ratio <= 0 or self.rope_theta <= 0 or self.timestep_scale <= 0 or self.rope_space_scale <= 0:
            raise ValueError(
                f"mlp_ratio, rope_theta, timestep_scale and rope_space_scale must be positive, got "
                f"{self.mlp_ratio}, {self.rope_theta}, {self.timestep_scale}, {self.rope_space_scale}"
            )
        if self.rope_axes is None:
            default_rope_axes(self.head_dim)  # raises for an odd or tiny head dimension
        else:
            self.rope_axes = tuple(self.rope_axes)  # type: ignore[assignment]
            if len(self.rope_axes) != 3 or sum(self.rope_axes) != self.head_dim or any(
                d < 2 or d % 2 for d in self.rope_axes
            ):
                raise ValueError(
                    f"rope_axes must be three even positive parts summing to head_dim={self.head_dim}, "
                    f"got {self.rope_axes!r}"
                )

    @property
    def head_dim(self) -> int:
        return self.width // self.num_heads

    @property
    def patch_dim(self) -> int:
        """Numbers per token in and out: C * pt * ph * pw."""
        return self.in_channels * math.prod(self.patch_size)


def dit_tiny(**overrides) -> DiTConfig:
    """2 blocks of width 64 (~0.3M parameters): for tests."""
    return DiTConfig(**{"width": 64, "depth": 2, "num_heads": 4, "in_channels": 4, "text_dim": 32, **overrides})


def dit_small(**overrides) -> DiTConfig:
    """The shipped CPU model: width 256, 10 blocks, 4 heads of 64 (~14M parameters, ~8M of them act on
    every token). Chosen for steps per hour on two cores: a 2 s 64x64 clip is 80 tokens, and the
    recipe's budget buys ~2x more steps than width 384 would."""
    return DiTConfig(**{"width": 256, "depth": 10, "num_heads": 4, **overrides})


def dit_1b(**overrides) -> DiTConfig:
    """~1.1B parameters for a GPU: width 1536, 20 blocks, 12 heads of 128 (RoPE split 32/48/48).
    Pair it with a bigger text encoder (set text_dim, e.g. 4096 for T5-XXL) and enable
    gradient_checkpointing for clips beyond a few thousand tokens."""
    return DiTConfig(**{"width": 1536, "depth": 20, "num_heads": 12, **overrides})


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN: `x (B, N, D)` scaled and shifted by per-sample `(B, D)` vectors; scale is centred at 1."""
    return torch.addcmul(shift[:, None], x, 1 + scale[:, None])  # shift + x * (1 + scale), one kernel


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding `(B, dim)` of (already scaled) times `t (B,)`, as in "Attention Is All You Need"."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # (B, dim)


class Mlp(nn.Sequential):
    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, act: nn.Module) -> None:
        super().__init__(nn.Linear(in_dim, hidden_dim), act, nn.Linear(hidden_dim, out_dim))


class RMSNorm(nn.Module):
    """RMSNorm (Zhang & Sennrich 2019), computed and returned in float32 whatever the input dtype:
    it feeds RoPE and attention, which `attention` runs at the precision the device handles best."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), self.eps)


# Largest score tensor (batch x heads x queries x keys) that `attention` materialises on CPU.
MAX_EXPLICIT_SCORES = 2**25


def attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """softmax(q k^T / sqrt(d)) v over `(B, h, N, d)` queries and `(B, h, L, d)` keys and values, in
    v's dtype; `mask` (broadcastable to `(B, h, N, L)`, True = attend) removes keys.

    This is `F.scaled_dot_product_attention`, except on CPU for score tensors up to
    MAX_EXPLICIT_SCORES elements: there (torch 2.13) the fused CPU kernels, above all their
    backward, are slower than two plain bf16 matmuls and a softmax; a training step of dit_small at 8 x 144
    tokens takes ~30% less time, at 8 x 576 ~20%. Long sequences keep the fused, memory-light kernel.
    """
    q, k = q.to(v.dtype), k.to(v.dtype)
    if q.device.type != "cpu" or q.shape[0] * q.shape[1] * q.shape[2] * k.shape[2] > MAX_EXPLICIT_SCORES:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return (attention_weights(q, k, mask) @ v).to(v.dtype)  # (B, h, N, d)


def attention_weights(q: Tensor, k: Tensor, mask: Tensor | None = None) -> Tensor:
    """softmax(q k^T / sqrt(d)): `(B, h, N, L)`, the weights `attention` applies to the values."""
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5  # (B, h, N, L)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1)


class SelfAttention(nn.Module):
    """Full attention over all spacetime tokens, with RMSNorm on q and k (stabilises attention
    logits at scale; Dehghani et al. 2023) and 3D RoPE on q and k."""

    def __init__(self, width: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(width, 3 * width)
        self.q_norm = RMSNorm(width // num_heads)
        self.k_norm = RMSNorm(width // num_heads)
        self.proj = nn.Linear(width, width)

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor]) -> Tensor:
        qkv = self.qkv(x)  # (B, N, 3D)
        q, k, v = rearrange(qkv, "b n (three h d) -> three b h n d", three=3, h=self.num_heads)  # each (B, h, N, d)
        q = apply_rope(self.q_norm(q), *rope)  # (B, h, N, d)
        k = apply_rope(self.k_norm(k), *rope)  # (B, h, N, d)
        out = attention(q, k, v)  # (B, h, N, d)
        return self.proj(rearrange(out, "b h n d -> b n (h d)"))  # (B, N, D)


class CrossAttention(nn.Module):
    """Tokens attend to text tokens; padded text positions are masked out of the keys."""

    def __init__(self, width: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(width, 2 * width)
        self.q_norm = RMSNorm(width // num_heads)
        self.k_norm = RMSNorm(width // num_heads)
        self.proj = nn.Linear(width, width)

    record = False
    """When set, each call keeps its attention weights, averaged over heads, in `probs` `(B, N, L)`
    (for the grounding loss, `tenku.grounding`); the output is the same either way."""
    probs: Tensor | None = None

    def forward(self, x: Tensor, text: Tensor, text_mask: Tensor) -> Tensor:
        q = rearrange(self.q(x), "b n (h d) -> b h n d", h=self.num_heads)  # (B, h, N, d)
        k, v = rearrange(self.kv(text), "b l (two h d) -> two b h l d", two=2, h=self.num_heads)  # each (B, h, L, d)
        q, k = self.q_norm(q), self.k_norm(k)
        if self.record:
            weights = attention_weights(q.to(v.dtype), k.to(v.dtype), text_mask[:, None, None, :])  # (B, h, N, L)
            self.probs = weights.mean(1)  # (B, N, L)
            out = (weights @ v).to(v.dtype)  # (B, h, N, d)
        else:
            out = attention(q, k, v, text_mask[:, None, None, :])  # (B, h, N, d)
        return self.proj(rearrange(out, "b h n d -> b n (h d)"))  # (B, N, D)


class DiTBlock(nn.Module):
    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        width = config.width
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(width, config.num_heads)
        self.norm_cross = nn.LayerNorm(width, eps=1e-6)
        self.cross_attn = CrossAttention(width, config.num_heads)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        # exact GELU: on CPU its bf16 kernel is ~3x faster than the tanh approximation DiT used
        self.mlp = Mlp(width, int(width * config.mlp_ratio), width, nn.GELU())
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))

    def forward(self, x: Tensor, c: Tensor, text: Tensor, text_mask: Tensor, rope: tuple[Tensor, Tensor],
                skip_attention: bool = False) -> Tensor:
        """`skip_attention`: leave out the self-attention (the block's only way across space and time)."""
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(6, dim=-1)  # each (B, D)
        if not skip_attention:
            x = x + gate_msa[:, None] * self.attn(modulate(self.norm1(x), shift_msa, scale_msa), rope)  # (B, N, D)
        x = x + self.cross_attn(self.norm_cross(x), text, text_mask)  # (B, N, D)
        x = x + gate_mlp[:, None] * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))  # (B, N, D)
        return x


class FinalLayer(nn.Module):
    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(config.width, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(config.width, config.patch_dim)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(config.width, 2 * config.width))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)  # each (B, D)
        return self.linear(modulate(self.norm(x), shift, scale))  # (B, N, C*pt*ph*pw)


class DiT(nn.Module):
    """`forward(x_t, t, text, text_mask, cond=None, cond_mask=None) -> v`, all latents `(B, C, T, H, W)`."""

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        self.config = config
        width = config.width
        self.x_embed = nn.Linear(config.patch_dim, width)  # a stride=kernel Conv3d, written as a Linear on patches
        self.cond_embed = (
            nn.Linear((config.in_channels + 1) * math.prod(config.patch_size), width) if config.conditioning else None
        )
        self.t_embed = Mlp(config.frequency_dim, width, width, nn.SiLU())
        self.text_pool_embed = Mlp(config.text_dim, width, width, nn.SiLU())
        self.text_proj = Mlp(config.text_dim, width, width, nn.GELU())
        self.blocks = nn.ModuleList(DiTBlock(config) for _ in range(config.depth))
        self.final = FinalLayer(config)
        self.init_weights()

    def init_weights(self) -> None:
        def xavier(module: nn.Module) -> None:
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

        self.apply(xavier)
        for mlp in (self.t_embed, self.text_pool_embed):
            nn.init.normal_(mlp[0].weight, std=0.02)
            nn.init.normal_(mlp[2].weight, std=0.02)
        # adaLN-Zero: every residual branch and the output start at zero, so each block is the
        # identity and the model predicts v = 0; gradients still reach the gates through their inputs.
        zero = [self.final.adaLN_modulation[-1], self.final.linear]
        for block in self.blocks:
            zero += [block.adaLN_modulation[-1], block.cross_attn.proj]
        if self.cond_embed is not None:
            zero.append(self.cond_embed)  # conditioning adds nothing until trained
        for linear in zero:
            nn.init.zeros_(linear.weight)
            nn.init.zeros_(linear.bias)

    def num_params(self, *, per_token_only: bool = False) -> int:
        """Parameter count; with `per_token_only`, only the weights applied to every video token
        (the ones that set the training FLOPs: ~6 * this * tokens per sample)."""
        if not per_token_only:
            return sum(p.numel() for p in self.parameters())
        per_token = [self.x_embed, self.final.linear]
        for block in self.blocks:
            per_token += [block.attn, block.cross_attn.q, block.cross_attn.proj, block.mlp]
        return sum(p.numel() for module in per_token for p in module.parameters() if p.ndim == 2)

    def record_cross_attention(self, on: bool) -> None:
        """Keep (or stop keeping) every block's cross-attention weights; see `cross_attention_maps`."""
        for block in self.blocks:
            block.cross_attn.record = on
            block.cross_attn.probs = None

    def cross_attention_maps(self) -> list[Tensor]:
        """Each block's `(B, N, L)` cross-attention weights (mean over heads) from the last forward
        pass made while recording."""
        maps = [block.cross_attn.probs for block in self.blocks]
        if any(m is None for m in maps):
            raise RuntimeError("no cross-attention recorded: call record_cross_attention(True) before the forward pass")
        return maps

    def forward(
        self,
        x_t: Tensor,
        t: Tensor,
        text: Tensor,
        text_mask: Tensor | None = None,
        cond: Tensor | None = None,
        cond_mask: Tensor | None = None,
        *,
        frame_offset: float | Tensor = 0.0,
        skip_attention: Sequence[int] = (),
    ) -> Tensor:
        """Velocity `(B, C, T, H, W)` for `x_t (B, C, T, H, W)` at times `t (B,)` in [0, 1].

        text `(B, L, text_dim)` with `text_mask (B, L)` bool, True for real tokens (each row needs
        one). `cond (B, C, T, H, W)` holds known latent frames where `cond_mask` (`(B, T)` or
        `(B, 1, T, 1, 1)`) is 1. `frame_offset` shifts the RoPE time of the first latent frame
        (`(B,)` for per-sample offsets), for windows of a longer video. `skip_attention` lists blocks
        whose self-attention is left out: a weaker model of the same weights, for spatiotemporal skip
        guidance (`PipelineConfig.autoguidance_skip`).
        """
        cfg = self.config
        batch, channels, *latent_size = x_t.shape
        if x_t.ndim != 5 or channels != cfg.in_channels:
            raise ValueError(f"x_t must be (B, {cfg.in_channels}, T, H, W), got {tuple(x_t.shape)}")
        grid = patch_grid(tuple(latent_size), cfg.patch_size)
        t = torch.as_tensor(t, device=x_t.device).reshape(-1).expand(batch)  # (B,)
        if text.ndim != 3 or text.shape[0] != batch or text.shape[2] != cfg.text_dim:
            raise ValueError(f"text must be (B={batch}, L, {cfg.text_dim}), got {tuple(text.shape)}")
        if text_mask is None:
            text_mask = torch.ones(text.shape[:2], dtype=torch.bool, device=text.device)
        if text_mask.shape != text.shape[:2] or text_mask.dtype != torch.bool:
            raise ValueError(f"text_mask must be bool {tuple(text.shape[:2])}, got {text_mask.dtype} {tuple(text_mask.shape)}")
        if not bool(text_mask.any(dim=1).all()):
            raise ValueError("every text_mask row needs at least one True (use the empty prompt's encoding as null text)")

        x = self.x_embed(patchify(x_t, cfg.patch_size))  # (B, N, D)
        if cond is not None or cond_mask is not None:
            x = x + self.cond_embed(patchify(self._cond_input(x_t, cond, cond_mask), cfg.patch_size))  # (B, N, D)

        text_mask_f = text_mask[..., None].to(text.dtype)  # (B, L, 1)
        pooled = (text * text_mask_f).sum(1) / text_mask_f.sum(1)  # (B, text_dim): masked mean, MiniLM's pooling
        c = self.t_embed(timestep_embedding(t * cfg.timestep_scale, cfg.frequency_dim)) + self.text_pool_embed(pooled)  # (B, D)
        text_tokens = self.text_proj(text)  # (B, L, D)

        rope = rope_3d(*grid, cfg.head_dim, axes_dim=cfg.rope_axes, theta=cfg.rope_theta,
                       t_offset=frame_offset, space_scale=cfg.rope_space_scale, device=x.device)  # cos, sin: (N, head_dim/2) or (B, N, head_dim/2)
        if any(not 0 <= i < cfg.depth for i in skip_attention):
            raise ValueError(f"skip_attention must list blocks 0..{cfg.depth - 1}, got {list(skip_attention)}")
        for i, block in enumerate(self.blocks):
            if cfg.gradient_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(block, x, c, text_tokens, text_mask, rope, i in skip_attention, use_reentrant=False)  # (B, N, D)
            else:
                x = block(x, c, text_tokens, text_mask, rope, i in skip_attention)  # (B, N, D)
        out = self.final(x, c)  # (B, N, C*pt*ph*pw)
        return unpatchify(out, cfg.patch_size, grid).to(x_t.dtype)  # (B, C, T, H, W)

    def _cond_input(self, x_t: Tensor, cond: Tensor | None, cond_mask: Tensor | None) -> Tensor:
        """`[cond * mask, mask]`: `(B, C + 1, T, H, W)`, the mask broadcast over space."""
        if self.cond_embed is None:
            raise ValueError("this model was built with conditioning=False; pass cond=None")
        if cond is None or cond_mask is None:
            raise ValueError("cond and cond_mask go together: pass both or neither")
        if cond.shape != x_t.shape:
            raise ValueError(f"cond must have x_t's shape {tuple(x_t.shape)}, got {tuple(cond.shape)}")
        batch, _, frames, height, width = x_t.shape
        if cond_mask.shape == (batch, frames):
            cond_mask = cond_mask[:, None, :, None, None]  # (B, 1, T, 1, 1)
        if cond_mask.shape != (batch, 1, frames, 1, 1):
            raise ValueError(f"cond_mask must be (B, T) or (B, 1, T, 1, 1) = {(batch, 1, frames, 1, 1)}, got {tuple(cond_mask.shape)}")
        mask = cond_mask.to(cond.dtype).expand(batch, 1, frames, height, width)  # (B, 1, T, H, W)
        return torch.cat([cond * mask, mask], dim=1)  # (B, C + 1, T, H, W)


def _check_same_but(old: DiTConfig, new: DiTConfig, fields: tuple[str, ...], what: str) -> None:
    """`new` must equal `old` in every field but `fields` (and gradient checkpointing, which changes no weight)."""
    skip = (*fields, "gradient_checkpointing")
    if {k: v for k, v in asdict(new).items() if k not in skip} != {k: v for k, v in asdict(old).items() if k not in skip}:
        raise ValueError(f"{what} must match the old one in everything but {' and '.join(fields)}")


def repatch_state_dict(state: dict[str, Tensor], old: DiTConfig, new: DiTConfig) -> dict[str, Tensor]:
    """Re-cut a trained model's weights to smaller spatial patches (e.g. 1x2x2 -> 1x1x1), to go on
    training with more, finer tokens without starting over.

    Only the patch-sized layers change: the input and conditioning embeddings of a new token are
    the old ones summed over the old patch's sub-blocks (a token whose values fill the old patch
    uniformly is embedded as before), and the output layer gives each new token the mean of its
    old patch's outputs. `new` must equal `old` but for `patch_size`, each new size dividing the
    old one equally along height and width, time unchanged, and `rope_space_scale` scaled by the
    same ratio, so that attention sees every position where it saw it before.
    """
    (pt, ph, pw), (qt, qh, qw) = old.patch_size, new.patch_size
    if qt != pt or ph % qh or pw % qw or ph // qh != pw // qw:
        raise ValueError(f"can only re-cut patches {old.patch_size} into smaller spatial patches with the "
                         f"same ratio along height and width and the same time extent, got {new.patch_size}")
    ratio = ph // qh
    if not math.isclose(new.rope_space_scale, old.rope_space_scale / ratio):
        raise ValueError(f"the re-cut model needs rope_space_scale {old.rope_space_scale / ratio} "
                         f"(old {old.rope_space_scale} / {ratio}), got {new.rope_space_scale}")
    _check_same_but(old, new, ("patch_size", "rope_space_scale"), "the re-cut model")
    split = "d (t rh qh rw qw c) -> d (t qh qw c) rh rw"
    sizes = dict(t=pt, rh=ratio, qh=qh, rw=ratio, qw=qw)
    out = dict(state)
    for name in ("x_embed.weight", "cond_embed.weight"):
        if name in state:
            out[name] = rearrange(state[name], split, **sizes).sum((-2, -1))  # (D, patch_dim')
    weight, bias = state["final.linear.weight"], state["final.linear.bias"]  # (patch_dim, D), (patch_dim,)
    out["final.linear.weight"] = rearrange(weight, "(t rh qh rw qw c) d -> (t qh qw c) d rh rw", **sizes).mean((-2, -1))
    out["final.linear.bias"] = rearrange(bias, "(t rh qh rw qw c) -> (t qh qw c) rh rw", **sizes).mean((-2, -1))
    return out


def deepen_state_dict(state: dict[str, Tensor], old: DiTConfig, new: DiTConfig) -> dict[str, Tensor]:
    """Grow a trained model to more blocks without changing what it computes, to go on training
    with more capacity instead of starting over.

    The new blocks are spread evenly between the old ones (10 -> 15: one after every second old
    block); each starts as a copy of the block before it with its adaLN modulation and its
    cross-attention output zeroed, so every gate is 0 and the block is the identity (as in
    adaLN-Zero's own initialisation), while its attention and MLP weights are already useful
    features once training opens the gates. `new` must equal `old` but for a larger `depth`.
    """
    if new.depth <= old.depth:
        raise ValueError(f"can only deepen a model, got depth {old.depth} -> {new.depth}")
    _check_same_but(old, new, ("depth",), "the deepened model")
    extra = new.depth - old.depth
    sources: list[tuple[int, bool]] = []  # (old block, is a new identity copy) for each new block
    for i in range(old.depth):
        sources.append((i, False))
        sources += [(i, True)] * ((i + 1) * extra // old.depth - i * extra // old.depth)
    out = {k: v for k, v in state.items() if not k.startswith("blocks.")}
    zeroed = ("adaLN_modulation.1.", "cross_attn.proj.")
    for j, (i, copy) in enumerate(sources):
        prefix = f"blocks.{i}."
        for key, value in state.items():
            if key.startswith(prefix):
                name = key[len(prefix):]
                out[f"blocks.{j}.{name}"] = torch.zeros_like(value) if copy and name.startswith(zeroed) else value.clone()
    return out
