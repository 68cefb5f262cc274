"""Causal 3D video VAE: video <-> latent, 4x in time and 8x in space.

A video of T = 1 + 4k frames becomes 1 + k latent frames. The first frame is encoded on its
own (it is replicated to fill a group of four, as in causal video VAEs such as MAGVIT-v2 and
CogVideoX) and every later latent frame sees one new group of four frames plus, through causal
temporal convolutions, the frames before it, never after. So an image is a one-frame video
through the same network and images and videos share one latent space.

Time is folded into channels at the input (space-time-to-depth, 4 frames x 2x2 pixels) so that
every convolution runs at latent frame rate; this is what makes training affordable on a CPU.
Normalisation is per position over channels (RMS), never over time or space, so the network is
causal, chunked decoding equals one-shot decoding, and spatial tiles behave like the whole frame.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

TIME_COMPRESSION = 4
SPACE_COMPRESSION = 8


@dataclass(kw_only=True)
class VAEConfig:
    latent_channels: int = 16
    """C: channels of the latent. 16 measured best for reconstruction at equal cost (see model card)."""
    channels: tuple[int, ...] = (64, 128, 192)
    """Width at each level; level i runs at 1/2^(i+1) of the input resolution, so 3 levels give 8x."""
    encoder_blocks: tuple[int, ...] = (1, 1, 1)
    """Residual blocks per encoder level."""
    decoder_blocks: tuple[int, ...] = (1, 2, 2)
    """Residual blocks per decoder level (the decoder does most of the work, so it is deeper)."""
    shortcuts: bool = True
    """Parameter-free space-to-channel shortcuts around every resolution change and around the
    latent bottleneck (Chen et al. 2024, DC-AE): much faster convergence at high compression."""
    frame_decoder: bool = False
    """True: the decoder unfolds time from channels before its finest level, so that level runs on
    every frame instead of on groups of four. Costs about 4x at that level; without it fast motion
    inside a group of four comes out as ghosted copies (measured on world renders)."""
    group_frames: bool = False
    """With `frame_decoder`: the finest level's temporal convolutions see only the frames of their
    own group of four, which all come from one latent frame, instead of reaching back into the
    previous group. Shared kernels cannot tell a group's first frame from the others, so with
    reach-back the first frame of every group leans on frames decoded from the previous latent;
    the reach-back decoders (v2, v3) reconstruct that frame ~5 dB worse on moving pixels than
    the other three. Adds no parameters."""
    wide_unfold: bool = False
    """With `frame_decoder`: a second way from groups to frames. The frames that `TimeUnfold` makes
    at the finest level are one linear map of that level's group features, and those are one
    convolution of the coarser level's, so every frame of a group is read through the same narrow
    (c[0]-channel) layer. This branch reads the coarser level's wider features (c[1] channels,
    before the last upsampling) with its own convolution per frame, upsamples them and adds them
    to the unfolded frames. Zero-initialised, so a decoder that gains it starts where it was.
    Why: on bounces and fast falls (a reversal or a large step inside a group of four) the v6
    decoder breaks the object up in the group's middle frames even from a latent optimised for
    the clip (session 20: 300 Adam steps on the latent of a held-out bounce raised PSNR 26.2 ->
    29.2 dB, yet the frames around the bounce still kept only 0.3-0.7 of the object's area).
    tenku-vae v8 is v7 with this branch, trained 50 minutes: held-out world 30.92 -> 31.71 dB, and
    round trips judged by `tenku eval` keep objects whole in 91% of 64 held-out scenes, from 88%
    (`benchmarks/vae_benchmark.py`). With no control run (v7 trained 50 more minutes without it),
    how much of that is the branch is not known."""
    int8_encoder: bool = False
    """Storage only, the network is the same: `save_pretrained` writes the encoder's weights of two or
    more dimensions (convolution kernels, and norm gains, which come back exact as they hold one value
    a channel) as int8 with one scale per output channel (`tenku.models.quantize_int8`), half the
    bytes of fp16, so that a deeper encoder fits in the same file; loading turns them back into
    float32. Biases stay fp16.
    Measured on tenku-vae v14's encoder (`benchmarks/vae_benchmark.py` rows, session 49): held-out
    world renders 33.386 -> 33.391 dB, carphone 28.093 -> 28.092 dB. The decoder stays fp16."""

    def __post_init__(self) -> None:
        self.channels = tuple(self.channels)
        self.encoder_blocks = tuple(self.encoder_blocks)
        self.decoder_blocks = tuple(self.decoder_blocks)
        if self.latent_channels < 1:
            raise ValueError(f"latent_channels must be >= 1, got {self.latent_channels}")
        if 2 ** len(self.channels) != SPACE_COMPRESSION:
            raise ValueError(f"channels needs {int(math.log2(SPACE_COMPRESSION))} levels for 8x, got {self.channels}")
        if not (len(self.encoder_blocks) == len(self.decoder_blocks) == len(self.channels)):
            raise ValueError("encoder_blocks, decoder_blocks and channels must have one entry per level")
        if self.group_frames and not self.frame_decoder:
            raise ValueError("group_frames needs frame_decoder: without it the decoder never sees single frames")
        if self.wide_unfold and not self.frame_decoder:
            raise ValueError("wide_unfold needs frame_decoder: it feeds the decoder's per-frame level")


def vae_tiny() -> VAEConfig:
    """For tests: a few thousand parameters."""
    return VAEConfig(latent_channels=4, channels=(8, 8, 16), encoder_blocks=(1, 0, 1), decoder_blocks=(1, 0, 1))


def vae_small() -> VAEConfig:
    """The shipped CPU model (~6.5M parameters)."""
    return VAEConfig()


class CausalConv3d(nn.Module):
    """3D convolution that only looks back in time.

    The past of the first frame is the first frame itself (replicate padding). In streaming mode
    the last `kt - 1` input frames are kept between calls, so a video fed in chunks gives exactly
    the output of the whole video fed at once.

    With `group`, time is cut into groups of that many frames and each group is padded from its
    own first frame: the convolution never looks across a group boundary, so nothing is cached.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int, int] = (3, 3, 3),
                 group: int | None = None):
        super().__init__()
        kt, kh, kw = kernel
        self.time_pad = kt - 1
        self.group = group
        self.conv = nn.Conv3d(in_channels, out_channels, kernel, padding=(0, kh // 2, kw // 2))
        self.streaming = False
        self.cache: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.time_pad and self.group:
            b = x.shape[0]
            x = rearrange(x, "b c (t g) h w -> (b t) c g h w", g=self.group)
            x = torch.cat([x[:, :, :1].expand(-1, -1, self.time_pad, -1, -1), x], dim=2)
            return rearrange(self.conv(x), "(b t) c g h w -> b c (t g) h w", b=b)
        if self.time_pad:
            if self.streaming and self.cache is not None:
                past = self.cache
            else:
                past = x[:, :, :1].expand(-1, -1, self.time_pad, -1, -1)  # (B, C, kt-1, H, W)
            x = torch.cat([past, x], dim=2)
            if self.streaming:
                self.cache = x[:, :, -self.time_pad :].detach()
            return self.conv(x)
        # Purely spatial kernels run as 2D convolutions over frames: faster on CPU, and it avoids
        # NaN weight gradients seen from oneDNN's bf16 conv3d with a 1-frame kernel on one thread.
        b = x.shape[0]
        frames = rearrange(x, "b c t h w -> (b t) c h w")
        out = F.conv2d(frames, self.conv.weight[:, :, 0], self.conv.bias, padding=self.conv.padding[1:])
        return rearrange(out, "(b t) c h w -> b c t h w", b=b)


class ChannelRMSNorm(nn.Module):
    """RMS norm over channels at each (t, h, w): causal and tiling-safe, unlike GroupNorm."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels, 1, 1, 1))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)
        return (x * self.weight).to(dtype)


class ResBlock(nn.Module):
    """norm-act-conv(3x3x3) then norm-act-conv(1x3x3), plus a skip: one step back in time per block."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.norm1 = ChannelRMSNorm(in_channels)
        self.conv1 = CausalConv3d(in_channels, out_channels, (3, 3, 3))
        self.norm2 = ChannelRMSNorm(out_channels)
        self.conv2 = CausalConv3d(out_channels, out_channels, (1, 3, 3))
        self.skip = nn.Conv3d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


def channel_resample(x: torch.Tensor, out_channels: int) -> torch.Tensor:
    """Fixed (not learned) map of channels (B, C_in, ...) -> (B, C_out, ...): average consecutive
    groups when shrinking, repeat when growing."""
    in_channels = x.shape[1]
    if in_channels == out_channels:
        return x
    if in_channels > out_channels:
        group = torch.arange(in_channels, device=x.device) * out_channels // in_channels  # (C_in,)
        matrix = (group[None, :] == torch.arange(out_channels, device=x.device)[:, None]).to(x.dtype)
        matrix = matrix / matrix.sum(dim=1, keepdim=True)
    else:
        source = torch.arange(out_channels, device=x.device) * in_channels // out_channels  # (C_out,)
        matrix = (source[:, None] == torch.arange(in_channels, device=x.device)[None, :]).to(x.dtype)
    return torch.einsum("oc,bc...->bo...", matrix, x)


class Downsample(nn.Module):
    """2x2 space-to-depth, then a 1x1 mix: lossless before the mix, no strided-conv aliasing."""

    def __init__(self, in_channels: int, out_channels: int, shortcut: bool = True):
        super().__init__()
        self.proj = nn.Conv3d(in_channels * 4, out_channels, 1)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = rearrange(x, "b c t (h ph) (w pw) -> b (c ph pw) t h w", ph=2, pw=2)
        out = self.proj(x)
        return out + channel_resample(x, out.shape[1]) if self.shortcut else out


class Upsample(nn.Module):
    """Nearest 2x upsampling then a 3x3 conv (no checkerboard artefacts of pixel shuffle)."""

    def __init__(self, in_channels: int, out_channels: int, shortcut: bool = True):
        super().__init__()
        self.conv = CausalConv3d(in_channels, out_channels, (1, 3, 3))
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(F.interpolate(x, scale_factor=(1, 2, 2), mode="nearest"))
        if not self.shortcut:
            return out
        # channel-to-space: the input's channels, spread over the 2x2 children of each position
        short = rearrange(channel_resample(x, out.shape[1] * 4), "b (c ph pw) t h w -> b c t (h ph) (w pw)", ph=2, pw=2)
        return out + short


class TimeUnfold(nn.Module):
    """(B, C, t, H, W) -> (B, C_out, 4t, H, W): a 1x1 mix to 4 x C_out channels, read as four frames;
    with shortcuts, plus the fixed channel-to-time map of the input."""

    def __init__(self, in_channels: int, out_channels: int, shortcut: bool = True, kernel: int = 1):
        super().__init__()
        # a CausalConv3d so that it runs as conv2d (see CausalConv3d: oneDNN's bf16 conv3d with a
        # one-frame kernel gives NaN weight gradients on one thread, reproduced for this 1x1x1 layer)
        self.proj = CausalConv3d(in_channels, out_channels * TIME_COMPRESSION, (1, kernel, kernel))
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.proj(x)
        if self.shortcut:
            out = out + channel_resample(x, out.shape[1])
        return rearrange(out, "b (c pt) t h w -> b c (t pt) h w", pt=TIME_COMPRESSION)


class WideUnfold(TimeUnfold):
    """(B, C_in, t, h, w) group features -> (B, C_out, 4t, 2h, 2w) frame features: a `TimeUnfold`
    through a 3x3 convolution and without the shortcut, then nearest 2x upsampling. Its convolution
    starts at zero (see `VAEConfig.wide_unfold`)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(in_channels, out_channels, shortcut=False, kernel=3)
        nn.init.zeros_(self.proj.conv.weight)
        nn.init.zeros_(self.proj.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(super().forward(x), scale_factor=(1, 2, 2), mode="nearest")


class Encoder(nn.Module):
    def __init__(self, config: VAEConfig):
        super().__init__()
        c = config.channels
        self.conv_in = CausalConv3d(3 * TIME_COMPRESSION * 4, c[0])
        layers: list[nn.Module] = []
        for level, width in enumerate(c):
            if level > 0:
                layers.append(Downsample(c[level - 1], width, config.shortcuts))
            layers.extend(ResBlock(width, width) for _ in range(config.encoder_blocks[level]))
        self.layers = nn.Sequential(*layers)
        self.norm_out = ChannelRMSNorm(c[-1])
        self.conv_out = CausalConv3d(c[-1], 2 * config.latent_channels)
        self.shortcut = config.shortcuts
        # Start with a nearly deterministic posterior (std ~0.02): with the small KL weight the
        # log-variance would otherwise take thousands of steps to leave 0, and until then the
        # decoder sees latents drowned in unit noise.
        with torch.no_grad():
            self.conv_out.conv.weight[config.latent_channels :].zero_()
            self.conv_out.conv.bias[config.latent_channels :].fill_(-8.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 48, t, H/2, W/2) packed frames
        h = self.conv_in(x)
        h = self.layers(h)  # (B, c[-1], t, H/8, W/8)
        out = self.conv_out(F.silu(self.norm_out(h)))  # (B, 2C, t, H/8, W/8): mean and log-variance
        if self.shortcut:
            mean, logvar = out.chunk(2, dim=1)
            out = torch.cat([mean + channel_resample(h, mean.shape[1]), logvar], dim=1)
        return out


class Decoder(nn.Module):
    def __init__(self, config: VAEConfig):
        super().__init__()
        c = config.channels
        self.conv_in = CausalConv3d(config.latent_channels, c[-1])
        self.shortcut = config.shortcuts
        layers: list[nn.Module] = []
        for level in reversed(range(len(c))):
            layers.extend(ResBlock(c[level], c[level]) for _ in range(config.decoder_blocks[level]))
            if level > 0:
                layers.append(Upsample(c[level], c[level - 1], config.shortcuts))
            if level == 1 and config.frame_decoder:
                layers.append(TimeUnfold(c[0], c[0], config.shortcuts))
        self.layers = nn.Sequential(*layers)
        self.norm_out = ChannelRMSNorm(c[0])
        per_position = 3 * 4 if config.frame_decoder else 3 * TIME_COMPRESSION * 4
        self.conv_out = CausalConv3d(c[0], per_position)
        # index of the TimeUnfold layer (frame decoders only)
        self.unfold = next((i for i, m in enumerate(self.layers) if isinstance(m, TimeUnfold)), None)
        if config.group_frames:
            # every temporal convolution after TimeUnfold runs on single frames
            for m in [*self.layers[self.unfold + 1 :].modules(), self.conv_out]:
                if isinstance(m, CausalConv3d) and m.time_pad:
                    m.group = TIME_COMPRESSION
        self.wide_unfold = WideUnfold(c[1], c[0]) if config.wide_unfold else None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # z: (B, C, t, h, w)
        h = self.conv_in(z)
        if self.shortcut:
            h = h + channel_resample(z, h.shape[1])
        if self.wide_unfold is None:
            h = self.layers(h)  # (B, c[0], t or 4t, 4h, 4w)
        else:
            unfold = self.unfold
            groups = self.layers[: unfold - 1](h)  # (B, c[1], t, 2h, 2w): before the last upsampling
            h = self.layers[unfold - 1 : unfold + 1](groups) + self.wide_unfold(groups)
            h = self.layers[unfold + 1 :](h)
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, 48, t, 4h, 4w) packed, or (B, 12, 4t, 4h, 4w)


def pack(x: torch.Tensor, at_start: bool = True) -> torch.Tensor:
    """(B, 3, T, H, W) -> (B, 48, t, H/2, W/2). At the start of a video T = 1 + 4k and the first
    frame is replicated to fill its group; later chunks must hold whole groups of four."""
    if at_start:
        x = torch.cat([x[:, :, :1].expand(-1, -1, TIME_COMPRESSION - 1, -1, -1), x], dim=2)
    return rearrange(x, "b c (t pt) (h ph) (w pw) -> b (c pt ph pw) t h w", pt=TIME_COMPRESSION, ph=2, pw=2)


def unpack(x: torch.Tensor, at_start: bool = True, time_unfolded: bool = False) -> torch.Tensor:
    """Inverse of `pack`: (B, 48, t, h, w) -> (B, 3, 4t (- 3 at the start), 2h, 2w). With
    `time_unfolded` (a frame decoder's output, (B, 12, 4t, h, w)) only space is unpacked."""
    if time_unfolded:
        x = rearrange(x, "b (c ph pw) t h w -> b c t (h ph) (w pw)", ph=2, pw=2)
    else:
        x = rearrange(x, "b (c pt ph pw) t h w -> b c (t pt) (h ph) (w pw)", pt=TIME_COMPRESSION, ph=2, pw=2)
    return x[:, :, TIME_COMPRESSION - 1 :] if at_start else x


def latent_frames(num_frames: int) -> int:
    """Latent frames for a video of `num_frames` = 1 + 4k frames."""
    check_num_frames(num_frames)
    return 1 + (num_frames - 1) // TIME_COMPRESSION


def check_num_frames(num_frames: int) -> None:
    if num_frames < 1 or (num_frames - 1) % TIME_COMPRESSION:
        raise ValueError(
            f"the VAE takes 1 + 4k frames (1, 5, 9, 13, 17, ...), got {num_frames}; "
            "pad with `tenku.vae.pad_video` or trim the clip"
        )


def check_video(x: torch.Tensor) -> None:
    """A (B, 3, T, H, W) tensor of a valid frame size, or a ValueError naming what is wrong."""
    if x.ndim != 5 or x.shape[1] != 3:
        raise ValueError(f"expected a video tensor (B, 3, T, H, W), got shape {tuple(x.shape)}")
    check_size(x.shape[-2], x.shape[-1])


def check_chunk_latents(chunk_latents: int | None) -> None:
    if chunk_latents is not None and (isinstance(chunk_latents, bool) or not isinstance(chunk_latents, int)
                                      or chunk_latents < 1):
        raise ValueError(f"chunk_latents must be an integer >= 1 (or None: all at once), got {chunk_latents!r}")


def check_size(height: int, width: int) -> None:
    if height % SPACE_COMPRESSION or width % SPACE_COMPRESSION or height < 8 or width < 8:
        raise ValueError(f"frame size must be a multiple of 8 in both dimensions, got {width}x{height}")


class VideoVAE(nn.Module):
    """Causal video VAE. `encode`/`decode` work in the normalised latent space that the diffusion
    model sees: per-channel mean and std measured on data (`set_latent_stats`) are stored with the
    weights, so no scale constant is guessed."""

    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.register_buffer("latent_mean", torch.zeros(config.latent_channels))
        self.register_buffer("latent_std", torch.ones(config.latent_channels))

    # --- raw network -------------------------------------------------------------------------

    def encode_distribution(self, x: torch.Tensor, at_start: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, 3, T, H, W) in [-1, 1] -> posterior mean and log-variance, each (B, C, t, H/8, W/8)."""
        check_video(x)
        if at_start:
            check_num_frames(x.shape[2])
        elif x.shape[2] % TIME_COMPRESSION:
            raise ValueError(f"a chunk after the first must hold a multiple of 4 frames, got {x.shape[2]}")
        moments = self.encoder(pack(x, at_start))
        mean, logvar = moments.float().chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode_raw(self, z: torch.Tensor, at_start: bool = True) -> torch.Tensor:
        """Unnormalised latent (B, C, t, h, w) -> video (B, 3, T, 8h, 8w), roughly in [-1, 1]."""
        return unpack(self.decoder(z), at_start, time_unfolded=self.config.frame_decoder)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """Training pass: returns (reconstruction, mean, logvar)."""
        mean, logvar = self.encode_distribution(x)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + torch.exp(0.5 * logvar) * noise
        return self.decode_raw(z), mean, logvar

    # --- normalised latent space --------------------------------------------------------------

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.latent_mean.view(1, -1, 1, 1, 1)) / self.latent_std.view(1, -1, 1, 1, 1)

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.latent_std.view(1, -1, 1, 1, 1) + self.latent_mean.view(1, -1, 1, 1, 1)

    @torch.no_grad()
    def set_latent_stats(self, latents: torch.Tensor) -> None:
        """Measure per-channel mean/std from raw posterior means (B, C, t, h, w)."""
        flat = latents.transpose(0, 1).reshape(latents.shape[1], -1).float()
        self.latent_mean.copy_(flat.mean(dim=1))
        self.latent_std.copy_(flat.std(dim=1).clamp_min(1e-4))

    @torch.no_grad()
    def encode(self, x: torch.Tensor, chunk_frames: int | None = None, tile: int | None = None) -> torch.Tensor:
        """Video (B, 3, T, H, W) in [-1, 1] -> normalised latent mean (B, C, t, H/8, W/8).

        chunk_frames: encode 1 + chunk_frames frames first and then chunk_frames at a time, with causal
        caches carried over, so memory stays flat for long videos (a multiple of 4).
        tile: encode spatial tiles of this many pixels with blended overlaps, for large frames.
        """
        if tile is not None:
            return _tiled(lambda part: self.encode(part, chunk_frames), x, tile, SPACE_COMPRESSION, up=False)
        if chunk_frames is None or x.shape[2] <= 1 + chunk_frames:
            return self.normalize(self.encode_distribution(x)[0])
        if chunk_frames % TIME_COMPRESSION:
            raise ValueError(f"chunk_frames must be a multiple of 4, got {chunk_frames}")
        check_num_frames(x.shape[2])
        parts = []
        with self.streaming():
            parts.append(self.encode_distribution(x[:, :, : 1 + chunk_frames])[0])
            for start in range(1 + chunk_frames, x.shape[2], chunk_frames):
                parts.append(self.encode_distribution(x[:, :, start : start + chunk_frames], at_start=False)[0])
        return self.normalize(torch.cat(parts, dim=2))

    def refine(self, x: torch.Tensor, z: torch.Tensor, steps: int = 25, lr: float = 0.2,
               chunk_latents: int | None = None, progress=None) -> torch.Tensor:
        """Improve an encoding by gradient descent: move the latent so that the frozen decoder draws
        `x` more closely (squared error, Adam with a cosine-annealed step over `steps` steps).

        The encoder is one amortised guess; the decoder can draw a clip better from a latent it is
        given (about +4 dB on held-out world renders, see the tenku-vae card), at the price of
        `steps` decoder passes forwards and backwards. x: (B, 3, T, H, W) in [-1, 1]; z: its
        normalised latent from `encode`; returns the refined normalised latent. With
        `chunk_latents`, latent frames are refined that many at a time, oldest first, each against
        its own frames with the refined past held fixed in the causal caches, so memory does not
        grow with duration. `progress`, if given, is called after every step with {"step": steps
        done so far, "total": all steps}, as pipeline callbacks are. The weights are never changed
        and collect no gradients.
        """
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"refine steps must be an integer >= 0, got {steps!r}")
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"refine lr must be a positive number, got {lr!r}")
        check_chunk_latents(chunk_latents)
        check_video(x)
        expected = (x.shape[0], self.config.latent_channels, latent_frames(x.shape[2]),
                    x.shape[3] // SPACE_COMPRESSION, x.shape[4] // SPACE_COMPRESSION)
        if z.ndim != 5 or tuple(z.shape) != expected:
            raise ValueError(f"latent of shape {tuple(z.shape)} does not belong to a video of shape {tuple(x.shape)} "
                             f"(expected {expected})")
        if steps == 0:
            return z
        t = z.shape[2]
        step = chunk_latents or t
        chunks = range(0, t, step)
        total, done = steps * len(chunks), 0
        raw = self.denormalize(z.detach().float())
        parts = []
        with self.streaming():
            convs = [m for m in self.decoder.modules() if isinstance(m, CausalConv3d)]
            for start in chunks:
                stop = min(start + step, t)
                first = 1 + TIME_COMPRESSION * (start - 1) if start else 0
                target = x[:, :, first : 1 + TIME_COMPRESSION * (stop - 1)].float()
                past = [m.cache for m in convs]

                def rewind() -> None:  # every pass over this chunk starts from the same refined past
                    for m, cache in zip(convs, past):
                        m.cache = cache

                part = raw[:, :, start:stop].clone().requires_grad_(True)
                optimizer = torch.optim.Adam([part], lr=lr)
                for k in range(steps):
                    rewind()
                    with torch.enable_grad():
                        loss = (self.decode_raw(part, at_start=start == 0).float() - target).pow(2).mean()
                        (part.grad,) = torch.autograd.grad(loss, [part])
                    for group in optimizer.param_groups:
                        group["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * k / steps))
                    optimizer.step()
                    done += 1
                    if progress is not None:
                        progress({"step": done, "total": total})
                rewind()
                with torch.no_grad():
                    self.decode_raw(part.detach(), at_start=start == 0)  # carry the refined past forward
                parts.append(part.detach())
        return self.normalize(torch.cat(parts, dim=2)).to(z.dtype)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, chunk_latents: int | None = None, tile: int | None = None) -> torch.Tensor:
        """Normalised latent (B, C, t, h, w) -> video (B, 3, 1 + 4(t-1), 8h, 8w) clamped to [-1, 1]."""
        return torch.cat(list(self.iter_decode(z, chunk_latents, tile)), dim=2)

    @torch.no_grad()
    def iter_decode(self, z: torch.Tensor, chunk_latents: int | None = None, tile: int | None = None):
        """Yield decoded frame chunks (B, 3, n, H, W); with `chunk_latents` memory does not grow with
        duration, so a caller can stream frames to a file."""
        if z.ndim != 5 or z.shape[1] != self.config.latent_channels:
            raise ValueError(
                f"expected a latent (B, {self.config.latent_channels}, t, h, w), got shape {tuple(z.shape)}"
            )
        z = self.denormalize(z)
        if tile is not None:
            if chunk_latents is not None:
                # Each tile would need its own causal caches; not supported (yet).
                raise ValueError("pass either tile or chunk_latents, not both")
            yield _tiled(self.decode_raw, z, tile // SPACE_COMPRESSION, SPACE_COMPRESSION, up=True).float().clamp(-1, 1)
            return
        step = chunk_latents or z.shape[2]
        with self.streaming():
            for start in range(0, z.shape[2], step):
                yield self.decode_raw(z[:, :, start : start + step], at_start=start == 0).float().clamp(-1.0, 1.0)

    @contextlib.contextmanager
    def streaming(self):
        """Within this context causal convolutions carry their past across calls."""
        convs = [m for m in self.modules() if isinstance(m, CausalConv3d)]
        for m in convs:
            m.streaming, m.cache = True, None
        try:
            yield
        finally:
            for m in convs:
                m.streaming, m.cache = False, None

    # --- files --------------------------------------------------------------------------------

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype = torch.float16) -> None:
        from safetensors.torch import save_file

        from tenku.models import INT8_SCALE, quantize_int8

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {}
        for k, v in self.state_dict().items():
            if self.config.int8_encoder and k.startswith("encoder.") and v.dim() >= 2:
                state[k], state[k + INT8_SCALE] = quantize_int8(v)
            else:
                state[k] = v.detach().to(dtype if v.is_floating_point() and "latent_" not in k else v.dtype).contiguous()
        save_file(state, str(directory / "vae.safetensors"))
        (directory / "vae_config.json").write_text(json.dumps(asdict(self.config), indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> "VideoVAE":
        from tenku.models import load_weights, read_config

        directory = Path(directory)
        weights, config_file = directory / "vae.safetensors", directory / "vae_config.json"
        for f in (weights, config_file):
            if not f.is_file():
                raise FileNotFoundError(f"{f}: no such file (a VAE directory holds vae.safetensors and vae_config.json)")
        model = cls(read_config(config_file, VAEConfig))
        load_weights(model, weights)
        return model.eval()


def _tiled(fn, x: torch.Tensor, tile: int, scale: int, up: bool) -> torch.Tensor:
    """Apply `fn` to overlapping spatial tiles of x (B, C, T, H, W) and blend them with linear ramps.

    `up`: fn multiplies spatial size by `scale` (decoding); otherwise it divides it (encoding).
    Tiles overlap by a quarter of their size, aligned to `scale` when encoding.
    """
    H, W = x.shape[-2:]
    if H <= tile and W <= tile:
        return fn(x)
    overlap = max(tile // 4, 1 if up else scale)
    if not up:
        overlap = max(overlap // scale * scale, scale)
    stride = tile - overlap
    rows = _tile_starts(H, tile, stride, 1 if up else scale)
    cols = _tile_starts(W, tile, stride, 1 if up else scale)
    out = weight = None
    for top in rows:
        for left in cols:
            part = fn(x[..., top : top + tile, left : left + tile])
            f = scale if up else 1 / scale
            t0, l0 = int(top * f), int(left * f)
            ph, pw = part.shape[-2:]
            ramp_h = _ramp(ph, int(overlap * f), top > 0, top + tile < H)
            ramp_w = _ramp(pw, int(overlap * f), left > 0, left + tile < W)
            mask = (ramp_h[:, None] * ramp_w[None, :]).to(part)
            if out is None:
                shape = (*part.shape[:-2], int(H * f), int(W * f))
                out = torch.zeros(shape, dtype=part.dtype)
                weight = torch.zeros(shape[-2:], dtype=part.dtype)
            out[..., t0 : t0 + ph, l0 : l0 + pw] += part * mask
            weight[t0 : t0 + ph, l0 : l0 + pw] += mask
    return out / weight


def _tile_starts(size: int, tile: int, stride: int, align: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, stride)) + [size - tile]
    return sorted({s // align * align for s in starts})


def _ramp(n: int, overlap: int, fade_in: bool, fade_out: bool) -> torch.Tensor:
    r = torch.ones(n)
    if overlap > 0:
        edge = (torch.arange(overlap, dtype=torch.float32) + 0.5) / overlap
        if fade_in:
            r[:overlap] = torch.minimum(r[:overlap], edge)
        if fade_out:
            r[-overlap:] = torch.minimum(r[-overlap:], edge.flip(0))
    return r


def kl_divergence(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)), averaged over all elements."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()


# --- uint8 frames in, uint8 frames out --------------------------------------------------------


def pad_video(video: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int]]:
    """Pad (B, 3, T, H, W) so that T = 1 + 4k and H, W are multiples of 8, by repeating the last
    frame and edge pixels; returns the padded video and the original (T, H, W) to crop back to."""
    t, h, w = video.shape[2:]
    pad_t = (-(t - 1)) % TIME_COMPRESSION
    pad_h, pad_w = (-h) % SPACE_COMPRESSION, (-w) % SPACE_COMPRESSION
    if pad_h or pad_w:
        video = F.pad(video, (0, pad_w, 0, pad_h, 0, 0), mode="replicate")
    if pad_t:
        video = torch.cat([video, video[:, :, -1:].expand(-1, -1, pad_t, -1, -1)], dim=2)
    return video, (t, h, w)


@torch.no_grad()
def reconstruct_frames(vae: VideoVAE, frames, chunk_latents: int | None = 4, refine_steps: int = 0, progress=None):
    """uint8 (T, H, W, 3) -> uint8 (T, H, W, 3) through encode and decode. Any size works: inputs
    are padded to valid sizes (see `pad_video`) and cropped back. `refine_steps` > 0 improves the
    encoding against the frames first (`VideoVAE.refine`, chunked like decoding)."""
    from tenku.data import to_frames, to_tensor

    check_chunk_latents(chunk_latents)
    video, (t, h, w) = pad_video(to_tensor(frames)[None])
    chunk_frames = None if chunk_latents is None else TIME_COMPRESSION * chunk_latents
    z = vae.encode(video, chunk_frames=chunk_frames)
    if refine_steps != 0:  # (refine checks the count)
        z = vae.refine(video, z, steps=refine_steps, chunk_latents=chunk_latents, progress=progress)
    out = vae.decode(z, chunk_latents=chunk_latents)
    return to_frames(out[0, :, :t, :h, :w])
