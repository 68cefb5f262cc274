"""Training data: batches are pure functions of (seed, step), so a resumed run sees exactly the
batches it would have seen, and the "data position" in a checkpoint is just the step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from tenku.footage import Footage


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (3, T, H, W) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float() / 127.5 - 1.0


def to_frames(video: torch.Tensor) -> np.ndarray:
    """float (3, T, H, W) in [-1, 1] -> uint8 (T, H, W, 3)."""
    x = ((video.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(1, 2, 3, 0).cpu().numpy()


@dataclass(kw_only=True)
class VAEDataConfig:
    seed: int = 0
    """Batches are drawn from np.random.default_rng([seed, step])."""
    crop_sizes: tuple[int, ...] = (32, 48, 64)
    """Square crop sizes in pixels (multiples of 8); one is drawn per step."""
    video_frames: tuple[int, ...] = (9, 17)
    """Clip lengths (1 + 4k) for video steps."""
    image_step_fraction: float = 0.25
    """Fraction of steps that are single frames (images)."""
    world_fraction: float = 0.5
    """Fraction of samples rendered by the procedural world; the rest is real footage or stills."""
    values_per_step: int = 32 * 32 * 9 * 8
    """Batch size is chosen so that a step holds about this many pixel-frames."""
    max_batch: int = 32

    def __post_init__(self) -> None:
        if any(c % 8 or c < 32 for c in self.crop_sizes):
            raise ValueError(f"crop_sizes must be multiples of 8 and >= 32, got {self.crop_sizes}")
        if any((t - 1) % 4 for t in self.video_frames):
            raise ValueError(f"video_frames must be 1 + 4k, got {self.video_frames}")
        if not 0 <= self.world_fraction <= 1 or not 0 <= self.image_step_fraction <= 1:
            raise ValueError("world_fraction and image_step_fraction must lie in [0, 1]")


class VAEBatches:
    """Mixed batches of world renders, real footage crops (random scale, window and stride) and stills."""

    def __init__(self, config: VAEDataConfig, footage: list[Footage], stills: list[np.ndarray]):
        self.config = config
        self.footage = footage
        self.stills = stills

    def batch(self, step: int) -> torch.Tensor:
        """(B, 3, T, S, S) in [-1, 1] for this step."""
        c = self.config
        rng = np.random.default_rng([c.seed, step])
        size = int(rng.choice(c.crop_sizes))
        num_frames = 1 if rng.random() < c.image_step_fraction else int(rng.choice(c.video_frames))
        batch_size = int(np.clip(round(c.values_per_step / (size * size * num_frames)), 1, c.max_batch))
        clips = [self._sample(rng, size, num_frames) for _ in range(batch_size)]
        return torch.stack([to_tensor(x) for x in clips])

    def _sample(self, rng: np.random.Generator, size: int, num_frames: int) -> np.ndarray:
        real = self.footage or self.stills
        if not real or rng.random() < self.config.world_fraction:
            return world_clip(rng, size, num_frames)
        if num_frames == 1 and self.stills and rng.random() < 0.5:
            return random_crop(rng, self.stills[rng.integers(len(self.stills))][None], size, 1, stride=1)
        if not self.footage:
            return random_crop(rng, self.stills[rng.integers(len(self.stills))][None], size, 1, stride=1).repeat(num_frames, 0)
        clip = self.footage[rng.integers(len(self.footage))]
        return random_crop(rng, clip.frames, size, num_frames, stride=int(rng.integers(1, 4)))


def world_clip(rng: np.random.Generator, size: int, num_frames: int) -> np.ndarray:
    from tenku.world import render, sample_scene

    fps = float(rng.choice([6, 8, 10, 12]))
    scene = sample_scene(int(rng.integers(2**31)), seconds=max(num_frames - 1, 1) / fps, split="train")
    # Render a little larger sometimes and crop, so objects are seen cut by tile borders too.
    render_size = int(rng.choice([size, min(256, size + 16)]))
    frames = render(scene, render_size, render_size, num_frames, fps).frames
    top, left = rng.integers(0, render_size - size + 1, size=2)
    return frames[:, top : top + size, left : left + size]


def random_crop(rng: np.random.Generator, frames: np.ndarray, size: int, num_frames: int, stride: int) -> np.ndarray:
    """A random window of `num_frames` frames (temporal `stride`), a random region of random scale,
    resized to size x size with area averaging, randomly mirrored."""
    total, height, width = frames.shape[:3]
    stride = max(1, min(stride, (total - 1) // max(num_frames - 1, 1))) if num_frames > 1 else 1
    span = (num_frames - 1) * stride + 1
    if span > total:
        raise ValueError(f"footage of {total} frames is too short for {num_frames} frames")
    start = int(rng.integers(0, total - span + 1))
    window = frames[start : start + span : stride]
    scale = rng.uniform(1.0, max(1.0, min(height, width) / size) ** 0.75)  # region side / output side
    region = min(int(round(size * scale)), height, width)
    top = int(rng.integers(0, height - region + 1))
    left = int(rng.integers(0, width - region + 1))
    window = window[:, top : top + region, left : left + region]
    if region != size:
        x = torch.from_numpy(np.ascontiguousarray(window)).permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=(size, size), mode="area" if region > size else "bilinear")
        window = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    if rng.random() < 0.5:
        window = window[:, :, ::-1]
    return np.ascontiguousarray(window)
