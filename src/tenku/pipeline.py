"""Text/image/video in, video out. The pipeline receives its components (VAE, DiT, text encoder,
flow schedule) and owns the only denoising loop (`sample_latents`); every mode is a way of
building the noise, the known latent frames and their mask for that loop."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from tenku.data import to_frames
from tenku.dit import DiT, DiTConfig
from tenku.flow import FlowSchedule
from tenku.samplers import cfg_denoiser, sample_euler, sample_heun
from tenku.vae import SPACE_COMPRESSION, TIME_COMPRESSION, VideoVAE

SAMPLERS = {"euler": sample_euler, "heun": sample_heun}
DEFAULT_MODEL = "tenku-v0"


@dataclass(kw_only=True)
class PipelineConfig:
    """What a trained model supports and how it samples by default (pipeline.json)."""

    fps: float = 8.0
    """The frame rate the model was trained at."""
    sizes: tuple[tuple[int, int], ...] = ((64, 64), (112, 64), (64, 112))
    """Supported (width, height) pairs."""
    max_seconds: float = 4.0
    """Longest clip generated in one window."""
    steps: int = 30
    guidance: float = 4.0
    sampler: str = "euler"
    text_encoder: str = "minilm"
    vae: str = "vae"
    """VAE directory, relative to the model directory."""
    flow: FlowSchedule = field(default_factory=FlowSchedule)

    def __post_init__(self) -> None:
        self.sizes = tuple(tuple(int(v) for v in s) for s in self.sizes)
        if isinstance(self.flow, dict):
            self.flow = FlowSchedule(**self.flow)
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {self.sampler!r}")


def num_video_frames(seconds: float, fps: float) -> int:
    """Frames for a clip of `seconds`: round(seconds * fps) + 1, as the world renders them."""
    return int(round(seconds * fps)) + 1


def latent_frames_for(num_frames: int) -> int:
    """Latent frames that cover `num_frames` (the decoded video is then trimmed)."""
    return 1 + math.ceil((num_frames - 1) / TIME_COMPRESSION)


class Pipeline:
    def __init__(self, dit: DiT, vae: VideoVAE, text_encoder, config: PipelineConfig):
        self.dit = dit.eval()
        self.vae = vae.eval()
        self.text_encoder = text_encoder
        self.config = config

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None) -> "Pipeline":
        """Load a model directory (dit.safetensors, dit_config.json, pipeline.json); None: the shipped model."""
        from safetensors.torch import load_file

        from tenku.models import shipped_model_dir
        from tenku.text import load_text_encoder

        directory = shipped_model_dir(DEFAULT_MODEL) if path is None else Path(path)
        for name in ("dit.safetensors", "dit_config.json", "pipeline.json"):
            if not (directory / name).is_file():
                raise FileNotFoundError(f"{directory / name}: missing; a tenku model directory holds "
                                        "dit.safetensors, dit_config.json and pipeline.json")
        config = PipelineConfig(**json.loads((directory / "pipeline.json").read_text()))
        dit = DiT(DiTConfig(**json.loads((directory / "dit_config.json").read_text())))
        dit.load_state_dict({k: v.float() for k, v in load_file(str(directory / "dit.safetensors")).items()})
        vae = VideoVAE.from_pretrained((directory / config.vae).resolve())
        return cls(dit, vae, load_text_encoder(config.text_encoder), config)

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype = torch.float16) -> None:
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().to(dtype).contiguous() for k, v in self.dit.state_dict().items()},
                  str(directory / "dit.safetensors"))
        (directory / "dit_config.json").write_text(json.dumps(asdict(self.dit.config), indent=2) + "\n")
        (directory / "pipeline.json").write_text(json.dumps(asdict(self.config), indent=2) + "\n")

    # --- checks ------------------------------------------------------------------------------

    def check_request(self, prompt: str, seconds: float | None, size: tuple[int, int]) -> None:
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("prompt is empty; describe the video, e.g. 'a red ball bouncing on a black background'")
        size = tuple(int(v) for v in size)
        if size not in self.config.sizes:
            listed = ", ".join(f"{w}x{h}" for w, h in self.config.sizes)
            raise ValueError(f"size {size[0]}x{size[1]} is not supported by this model; supported sizes: {listed}")
        if seconds is not None:
            if not seconds > 0:
                raise ValueError(f"seconds must be > 0, got {seconds}")
            if seconds > self.config.max_seconds:
                raise ValueError(f"seconds must be at most {self.config.max_seconds:g} for one window of this "
                                 f"model, got {seconds:g}")

    # --- the denoising loop ------------------------------------------------------------------

    @torch.no_grad()
    def sample_latents(
        self,
        prompt: str,
        latent_shape: tuple[int, int, int],
        *,
        seed: int = 0,
        steps: int | None = None,
        guidance: float | None = None,
        sampler: str | None = None,
        cond: torch.Tensor | None = None,
        cond_mask: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        t_start: float = 1.0,
        callback: Callable[[dict], None] | None = None,
    ) -> torch.Tensor:
        """Denoise one latent (1, C, t, h, w) under `prompt`. `cond`/`cond_mask` give known latent
        frames; `noise` and `t_start` < 1 start from a partly noised latent (SDEdit)."""
        c = self.config
        steps = c.steps if steps is None else steps
        guidance = c.guidance if guidance is None else guidance
        sampler_fn = SAMPLERS[sampler or c.sampler] if (sampler or c.sampler) in SAMPLERS else None
        if sampler_fn is None:
            raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {sampler!r}")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if guidance < 0:
            raise ValueError(f"guidance must be >= 0, got {guidance}")
        t, h, w = latent_shape
        shape = (1, self.dit.config.in_channels, t, h, w)
        if noise is None:
            generator = torch.Generator().manual_seed(int(seed))
            noise = torch.randn(shape, generator=generator)
        text, mask = self.text_encoder.encode([prompt])
        null_text, null_mask = self.text_encoder.encode([""])
        num_tokens = t * (h // self.dit.config.patch_size[1]) * (w // self.dit.config.patch_size[2])
        ts = c.flow.timesteps(steps, num_tokens)
        if t_start < 1.0:
            ts = torch.cat([torch.tensor([t_start]), ts[ts < t_start]])
        if cond is None:  # the model was trained with an all-zero mask for "nothing known"
            cond, cond_mask = torch.zeros(shape), torch.zeros(1, t)
        extra = {"cond": cond, "cond_mask": cond_mask}
        denoiser = cfg_denoiser(self.dit, {"text": text, "text_mask": mask, **extra},
                                {"text": null_text, "text_mask": null_mask, **extra}, guidance)
        x = sampler_fn(denoiser, noise, ts, callback=callback)
        known = cond_mask.reshape(1, 1, -1, 1, 1).to(x.dtype)
        return known * cond + (1 - known) * x  # known frames are exactly the given ones

    def decode(self, latents: torch.Tensor, num_frames: int) -> np.ndarray:
        """Latent (1, C, t, h, w) -> uint8 frames (num_frames, H, W, 3)."""
        video = self.vae.decode(latents, chunk_latents=8)
        return to_frames(video[0, :, :num_frames])

    def encode(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 (T, H, W, 3) with T = 1 + 4k -> normalised latent (1, C, t, H/8, W/8)."""
        from tenku.data import to_tensor

        return self.vae.encode(to_tensor(frames)[None], chunk_frames=32)

    # --- modes -------------------------------------------------------------------------------

    def generate(
        self,
        prompt: str,
        seconds: float = 2.0,
        size: tuple[int, int] = (64, 64),
        fps: float | None = None,
        seed: int = 0,
        steps: int | None = None,
        guidance: float | None = None,
        sampler: str | None = None,
        callback: Callable[[dict], None] | None = None,
    ) -> np.ndarray:
        """Text to video: uint8 frames (round(seconds * fps) + 1, H, W, 3) at the model's fps."""
        self.check_request(prompt, seconds, size)
        self._check_fps(fps)
        num_frames = num_video_frames(seconds, self.config.fps)
        width, height = size
        shape = (latent_frames_for(num_frames), height // SPACE_COMPRESSION, width // SPACE_COMPRESSION)
        latents = self.sample_latents(prompt, shape, seed=seed, steps=steps, guidance=guidance,
                                      sampler=sampler, callback=callback)
        return self.decode(latents, num_frames)

    def image(
        self,
        prompt: str,
        size: tuple[int, int] = (64, 64),
        seed: int = 0,
        steps: int | None = None,
        guidance: float | None = None,
        callback: Callable[[dict], None] | None = None,
    ) -> np.ndarray:
        """Text to image: uint8 (H, W, 3), a one-frame video."""
        self.check_request(prompt, None, size)
        width, height = size
        latents = self.sample_latents(prompt, (1, height // SPACE_COMPRESSION, width // SPACE_COMPRESSION),
                                      seed=seed, steps=steps, guidance=guidance, callback=callback)
        return self.decode(latents, 1)[0]

    def _check_fps(self, fps: float | None) -> None:
        if fps is not None and abs(fps - self.config.fps) > 1e-6:
            raise ValueError(f"this model generates at {self.config.fps:g} fps, got fps={fps:g}")
