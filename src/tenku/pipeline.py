"""Text/image/video in, video out. The pipeline receives its components (VAE, DiT, text encoder,
flow schedule) and owns the only denoising loop (`sample_latents`); every mode is a way of
building the noise, the known latent frames and their mask for that loop:

    generate / image       text to video / image
    animate                image to video (the video starts from the image)
    extend                 a video continued forwards or backwards, the input kept unchanged
    connect                a transition from the end of one video to the start of another
    loop                   a video whose last frame flows into its first
    edit                   SDEdit: the input re-noised to `strength` and denoised under a new prompt
    generate_long          any duration by sliding windows, streamed in chunks (flat memory)

How each mode's windows and masks are laid out is in `tenku.conditioning`. Every mode that takes
an image or a video fits it to the model first: nearest supported aspect ratio, centre crop,
resize, nearest-in-time frames at the model's fps (`conditioning.load_frames`). Every prompt
passes through `read_prompt` first: with `PipelineConfig.colour_names` on (the shipped model),
colour names the training captions never used are read as the nearest colour the model knows
(`tenku.colour_names`); `read_prompt(prompt).replaced` says what was changed."""

from __future__ import annotations

import functools
import json
import math
import numbers
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from tenku.conditioning import (
    MIN_LOOP_FRAMES,
    MIN_VIDEO_FRAMES,
    Window,
    assemble_cond,
    carry_residual,
    check_frames,
    choose_size,
    clip_for_groups,
    conform_frames,
    decoded_frames,
    latent_frames_for,
    load_frames,
    pad_frames,
    plan_animate,
    plan_connect,
    plan_edit,
    plan_extension,
    plan_long,
    plan_loop,
)
from tenku.data import to_frames
from tenku.deflicker import ramp_group_steps
from tenku.dit import DiT, DiTConfig
from tenku.flow import FlowSchedule
from tenku.grounding import (
    GRAVITY_MOTIONS,
    encoder_layout,
    guidance_loss,
    object_centres,
    prompt_colours,
    prompt_object_groups,
    prompt_motion_names,
    prompt_object_motions,
    prompt_shape_groups,
    shape_loss,
)
from tenku.patches import patch_grid
from tenku.samplers import cfg_denoiser, sample_euler, sample_heun
from tenku.vae import SPACE_COMPRESSION, TIME_COMPRESSION, VideoVAE

SAMPLERS = {"euler": sample_euler, "heun": sample_heun}
DEFAULT_MODEL = "tenku-v0"

Source = str | os.PathLike | np.ndarray
"""An image or video input: a file path, or uint8 frames (T, H, W, 3) / one frame (H, W, 3)."""


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
    edit_guidance: float | None = None
    """Guidance for `edit` (SDEdit); None: `guidance`. SDEdit starts from the input's own latent, which
    already holds the old attributes, so changing them takes stronger guidance than generating."""
    sampler: str = "euler"
    text_encoder: str = "minilm"
    text_clauses: bool = False
    """Append one pooled state per prompt clause to the text tokens (`tenku.text`); the model must
    have been trained so."""
    vae: str = "vae"
    """VAE directory, relative to the model directory."""
    flow: FlowSchedule = field(default_factory=FlowSchedule)
    binding_guidance: float = 0.0
    """Attention-guided sampling for prompts naming two or more objects by the world's colour words
    (`grounding.prompt_object_groups`; one, with `binding_compact` on): at every step with t >=
    `binding_guidance_until`, x moves against the gradient of `grounding.guidance_loss` (separation,
    with the motion and one-place terms), by this times t in units of the gradient's RMS, before the
    model is called (`binding_shape` adds a step of its own). One extra forward and backward pass
    per such step. 0: off."""
    binding_guidance_until: float = 0.6
    binding_motion: float = 0.0
    """Weight of `grounding.motion_loss` (each object's attention moving the way the prompt says,
    `grounding.prompt_object_motions`) added to the separation loss that attention-guided sampling
    descends; it acts only where `binding_guidance` does. 0: separation only."""
    binding_compact: float = 0.0
    """Weight of `grounding.compact_loss` (each object's attention in one place per frame, against
    objects drawn twice) added to the loss that attention-guided sampling descends. Above 0,
    attention-guided sampling also acts on prompts naming one object, where this term and the
    motion term are all it descends. Only for clips with no known frames (text to video, a loop's
    first half, a long video's first window): with known frames it cost animate direction and
    backward persistence on their tuning cases (session 24). 0: off."""
    binding_steady: float = 0.0
    """Weight of `grounding.steady_loss` (each object's attention marking as much of every latent frame,
    against objects that shrink for a frame or two and grow back) added to the loss that
    attention-guided sampling descends. As the one-place term, only for clips with no known frames,
    and, above 0, on prompts naming one object too; not in edits. 0: off."""
    binding_steady_objects: int | None = None
    """The most objects a prompt may name for `binding_steady` to act on it; None: any number. (Session
    31: on prompts naming two or three objects the term cost count and direction where objects cross,
    on the benchmark and on the second tuning half; one-object prompts gained on both tuning halves.)"""
    binding_steady_many: float = 0.0
    """The steady-size term's weight (in place of `binding_steady`, or `binding_steady_known` with known
    frames) for prompts naming more objects than `binding_steady_objects`; 0: it does not act on them."""
    binding_steady_gravity: float = 0.0
    """For prompts naming more objects than `binding_steady_objects`, in clips with no known frames: the
    steady-size term's weight (in place of `binding_steady_many`) on the objects whose own clauses say
    they bounce or fall (`grounding.GRAVITY_MOTIONS`), and on no other. (Session 41: in 192 samples of
    the 64 tuning prompts, every persistence failure of a prompt naming two or three objects had such
    an object.) 0: off."""
    binding_steady_known: float = 0.0
    """`binding_steady` for clips with known frames (animate, extend, connect, a long video's later
    windows): each free latent frame's object mass is asked to match the known frames' mean, so
    objects keep the size the given frames show. Above 0, attention-guided sampling also acts on
    one-object prompts with known frames. 0: off."""
    binding_shape: float = 0.0
    """Step of attention-guided sampling along `grounding.shape_loss` (a token that reads an object's
    colour words reads that object's shape word, against objects drawn in another's shape), in
    units of the other terms' step: it takes a step of its own, its gradient normalised apart from
    theirs. For prompts whose objects (two or more) name their shapes
    (`grounding.prompt_shape_groups`), and, as the one-place term, only for clips with no known
    frames. 0: off."""
    binding_shape_until: float | None = None
    """The shape term's steps go on alone below `binding_guidance_until` down to this time (t >= it),
    on the same prompts; None: it stops with the other terms. Not in edits."""
    edit_binding: float = 0.0
    """Attention-guided sampling in `edit`, in place of `binding_guidance` (which never acts there, at
    any strength): its step at every step down to t = `edit_binding_until`, with the separation,
    one-place and shape terms and not the motion term, plus `edit_anchor`. Against edits that erase
    an object instead of recolouring it. 0: off."""
    edit_binding_until: float = 0.2
    edit_anchor: float = 0.0
    """Weight of `grounding.anchor_loss` in `edit`'s attention-guided sampling: each object stays
    where its words marked it at the first step. 0: off."""
    colour_names: bool = False
    """Read colour names the training captions never used ("sapphire", "pumpkin") as the world's
    nearest colour before encoding the prompt (`tenku.colour_names`); for models trained on the world."""
    autoguidance: float = 0.0
    """Weight a of autoguidance (Karras et al. 2024): every step also moves by a (v - v_weak), away from
    what `autoguidance_model`, a weaker transformer of the same latent space (an earlier training
    stage), predicts under the same prompt. One more model call a step. Only for clips with no known
    frames (text to video, a loop's first half, a long video's first window), and not in edits: it was
    measured on text to video alone (session 33). 0: off."""
    autoguidance_model: str | None = None
    """Directory of that transformer (dit.safetensors, dit_config.json), relative to the model directory."""
    autoguidance_skip: tuple[int, ...] = ()
    """Instead of `autoguidance_model`: the weak model is this model with the self-attention of these
    blocks left out (spatiotemporal skip guidance, after Hyung et al. 2024), so it needs no other weights."""
    autoguidance_until: float = 0.0
    """Autoguidance acts only at steps with t >= this (t = 1 is pure noise), the early steps where an
    object's place and motion are decided; later steps skip its model call. 0: every step."""
    context_guidance: float = 0.0
    """Weight b of guidance on the known frames, for clips with some (animate, extend, connect, a loop's
    way back, a long video's later windows; not edits): every step also moves by b (v_u - v_plain),
    where v_u is the empty prompt's velocity with the known frames and v_plain its velocity without
    them (an all-zero mask, which training also draws): b + 1 is a second guidance scale, for the
    given frames beside the prompt's. It joins the batched guidance call (1.5x its work). 0: off."""
    layout_candidates: int = 1
    """Layout selection, for clips with no known frames where attention-guided sampling acts (text to
    video, an image, a loop's first half, a long video's first window; not edits): this many starting
    noises are each sampled through the guided steps (t >= `binding_guidance_until`, where an object's
    place and motion are decided), and the one whose guidance loss (`grounding.guidance_loss`, as the
    guided step computed it at its last step) is lowest is denoised to the end; after InitNO (Guo et
    al. 2024), which ranks starting noises by their cross-attention. The first candidate is the
    seed's own noise. The judge is the model's own attention, never the evaluator. Each more candidate
    repeats the guided steps (the costly part). 1: off."""
    layout_until: float | None = None
    """Layout candidates take the guided steps from t = 1 down to this time only, and are ranked by the
    loss of the last one; None (or a time below `binding_guidance_until`): all the guided steps."""
    context_latents: int = 3
    """Known latent frames carried into each window when extending or generating long videos
    (9 frames, 1.1 s at 8 fps); capped at half a window, the most the training masks use."""
    encode_refine_steps: int = 0
    """Given images and videos (animate, extend, connect, edit, a long video's context) are encoded and
    then refined this many steps against their pixels through the frozen decoder (`VideoVAE.refine`),
    so the known latents decode closer to what was given; each step is a decoder pass forwards and
    backwards over the encoded frames. 0: the encoder's latent as it is."""
    deflicker_gate: float | None = None
    """Every decoded video's steps between latent groups are turned into ramps where the two groups'
    mean pixels differ by less than this many 8-bit levels (`tenku.deflicker`); None: off."""

    def __post_init__(self) -> None:
        self.sizes = tuple(tuple(int(v) for v in s) for s in self.sizes)
        if isinstance(self.flow, dict):
            self.flow = FlowSchedule(**self.flow)
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {self.sampler!r}")
        for name in ("fps", "max_seconds"):
            if not _is_finite(getattr(self, name)) or getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {getattr(self, name)!r}")
        guidances = {"guidance": self.guidance}
        if self.edit_guidance is not None:
            guidances["edit_guidance"] = self.edit_guidance
        for name, value in guidances.items():
            if not _is_finite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not _is_finite(self.binding_guidance) or self.binding_guidance < 0:
            raise ValueError(f"binding_guidance must be a finite number >= 0, got {self.binding_guidance!r}")
        optional_times = [n for n in ("layout_until", "binding_shape_until") if getattr(self, n) is not None]
        for name in ["binding_guidance_until", "edit_binding_until", "autoguidance_until", *optional_times]:
            if not _is_finite(getattr(self, name)) or not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)!r}")
        for name in ("binding_motion", "binding_compact", "binding_steady", "binding_steady_many",
                     "binding_steady_gravity", "binding_steady_known", "binding_shape", "edit_binding",
                     "edit_anchor", "autoguidance", "context_guidance"):
            if not _is_finite(getattr(self, name)) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {getattr(self, name)!r}")
        if self.binding_steady_objects is not None and (
                isinstance(self.binding_steady_objects, bool) or not isinstance(self.binding_steady_objects, int)
                or self.binding_steady_objects < 1):
            raise ValueError(f"binding_steady_objects must be None or a whole number >= 1, "
                             f"got {self.binding_steady_objects!r}")
        self.autoguidance_skip = tuple(self.autoguidance_skip)
        if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in self.autoguidance_skip):
            raise ValueError(f"autoguidance_skip must list block numbers >= 0, got {list(self.autoguidance_skip)}")
        if self.autoguidance_model and self.autoguidance_skip:
            raise ValueError("autoguidance_model and autoguidance_skip are two weak models: set one")
        if self.autoguidance > 0 and not (self.autoguidance_model or self.autoguidance_skip):
            raise ValueError(f"autoguidance {self.autoguidance} needs a weak model: autoguidance_model (a weaker "
                             "transformer's directory) or autoguidance_skip (blocks whose self-attention it leaves out)")
        if self.context_latents < 1:
            raise ValueError(f"context_latents must be >= 1, got {self.context_latents}")
        if isinstance(self.layout_candidates, bool) or not isinstance(self.layout_candidates, int) or self.layout_candidates < 1:
            raise ValueError(f"layout_candidates must be a whole number >= 1, got {self.layout_candidates!r}")
        if isinstance(self.encode_refine_steps, bool) or not isinstance(self.encode_refine_steps, int) \
                or self.encode_refine_steps < 0:
            raise ValueError(f"encode_refine_steps must be a whole number >= 0, got {self.encode_refine_steps!r}")
        if self.deflicker_gate is not None and not (_is_finite(self.deflicker_gate) and self.deflicker_gate > 0):
            raise ValueError(f"deflicker_gate must be a number of 8-bit levels > 0, or null (off), got {self.deflicker_gate!r}")


def _is_finite(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def num_video_frames(seconds: float, fps: float) -> int:
    """Frames for a clip of `seconds`: round(seconds * fps) + 1, as the world renders them."""
    return int(round(seconds * fps)) + 1


def _counting(callback: Callable[[dict], None] | None, total: int) -> Callable[[dict], None] | None:
    """Number the steps of all of a mode's denoising passes: adds "step" (from 1) and "total"."""
    if callback is None:
        return None
    done = [0]

    def report(info: dict) -> None:
        done[0] += 1
        callback({**info, "step": done[0], "total": total})

    return report


def _candidate_seed(seed: int, index: int) -> int:
    """The noise seed of layout candidate `index` >= 1 (`PipelineConfig.layout_candidates`)."""
    return int(np.random.SeedSequence([int(seed) % 2**32, index, 1]).generate_state(1)[0])


def _window_seed(seed: int, index: int) -> int:
    """Window 0 uses `seed` itself; later windows of the same call get independent seeds."""
    if index == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed) % 2**32, index]).generate_state(1)[0])


MODEL_FILES = ("dit.safetensors", "dit_config.json", "pipeline.json")
"""The files of a tenku model directory."""


def model_directory(path: str | Path | None = None) -> Path:
    """A tenku model directory (dit.safetensors, dit_config.json, pipeline.json), checked to hold
    its three files; None: the shipped model."""
    from tenku.models import shipped_model_dir

    directory = shipped_model_dir(DEFAULT_MODEL) if path is None else Path(path)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such model directory")
    for name in MODEL_FILES:
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory / name}: missing; a tenku model directory holds "
                                    "dit.safetensors, dit_config.json and pipeline.json")
    return directory


def load_dit(path: str | Path | None = None) -> DiT:
    """The transformer of a model directory (its dit_config.json and dit.safetensors), with the
    directory's and the weights' clear errors; None: the shipped model."""
    return load_transformer(model_directory(path))


def load_transformer(directory: str | Path) -> DiT:
    """A transformer from a directory holding its dit_config.json and dit.safetensors (a model
    directory, or an autoguidance model's, which needs no pipeline.json)."""
    from tenku.models import load_weights, read_config

    directory = Path(directory)
    for name in ("dit_config.json", "dit.safetensors"):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory / name}: missing; a transformer directory holds dit.safetensors "
                                    "and dit_config.json")
    dit = DiT(read_config(directory / "dit_config.json", DiTConfig))
    load_weights(dit, directory / "dit.safetensors")
    return dit


def read_pipeline_config(path: str | Path | None = None) -> PipelineConfig:
    """A model's pipeline.json alone: what it supports, without loading any weights."""
    from tenku.models import read_config

    return read_config(model_directory(path) / "pipeline.json", PipelineConfig)


class RequestChecks:
    """Checks of a request that need only the model's pipeline.json, so the CLI can refuse a bad
    size, prompt or seed in milliseconds instead of after the weights have loaded:
    `RequestChecks(read_pipeline_config(path)).check_request(...)`. `Pipeline` runs the same checks."""

    def __init__(self, config: PipelineConfig):
        self.config = config

    @property
    def max_latents(self) -> int:
        """Latent frames of the longest window (9 for 4 s at 8 fps)."""
        return latent_frames_for(num_video_frames(self.config.max_seconds, self.config.fps))

    def check_request(self, prompt: str, seconds: float | None, size: tuple[int, int]) -> None:
        self._check_prompt(prompt)
        self._check_size(size)
        if seconds is not None:
            self._check_seconds(seconds)
            if seconds > self.config.max_seconds:
                raise ValueError(f"seconds must be at most {self.config.max_seconds:g} for one window of this "
                                 f"model, got {seconds:g} (only text to video goes longer: `tenku generate --seconds S`, "
                                 "or Pipeline.generate_long)")

    @staticmethod
    def _check_prompt(prompt: str) -> None:
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("prompt is empty; describe what to make, e.g. 'a red ball bouncing on a black background'")

    def _check_size(self, size: tuple[int, int]) -> None:
        size = tuple(int(v) for v in size)
        if size not in self.config.sizes:
            listed = ", ".join(f"{w}x{h}" for w, h in self.config.sizes)
            raise ValueError(f"size {size[0]}x{size[1]} is not supported by this model; supported sizes: {listed}")

    @staticmethod
    def _check_seconds(seconds: float) -> None:
        if not _is_finite(seconds) or seconds <= 0:
            raise ValueError(f"seconds must be > 0 and finite, got {seconds}")

    def _count_frames(self, seconds: float, what: str, min_frames: int, *, plus_one: bool) -> int:
        """round(seconds * fps) frames (+ 1 for a clip that starts at frame 0), at least `min_frames`."""
        self._check_seconds(seconds)
        num_frames = num_video_frames(seconds, self.config.fps) - (not plus_one)
        if num_frames < min_frames:
            shortest = (min_frames - plus_one) / self.config.fps
            raise ValueError(f"seconds={seconds:g} is too short for {what} at {self.config.fps:g} fps; "
                             f"ask for at least {shortest:g} s")
        return num_frames

    def _check_fps(self, fps: float | None) -> None:
        if fps is not None and not abs(fps - self.config.fps) <= 1e-6:  # also refuses nan
            raise ValueError(f"this model generates at {self.config.fps:g} fps, got fps={fps:g}")

    @staticmethod
    def _check_sampling(seed: int, guidance: float | None, sampler: str | None) -> None:
        """What every mode passes through to `sample_latents`; None takes the model's default."""
        if sampler is not None and sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {sampler!r}")
        if guidance is not None and (not _is_finite(guidance) or guidance < 0):
            raise ValueError(f"guidance must be a finite number >= 0, got {guidance}")
        if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or not 0 <= seed < 2**64:
            raise ValueError(f"seed must be an integer from 0 to 2**64 - 1, got {seed!r}")

    @staticmethod
    def _check_steps(steps: int | None) -> None:
        if steps is not None and steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")

    def preflight(self, prompt: str, *, size: tuple[int, int] | None = None, seconds: float | None = None,
                  fps: float | None = None, seed: int = 0, steps: int | None = None, guidance: float | None = None,
                  sampler: str | None = None) -> None:
        """Everything about a request that can be refused from pipeline.json alone (None: not given).
        Limits that depend on the mode or the input (e.g. too short for a loop) come later."""
        self._check_prompt(prompt)
        if size is not None:
            self._check_size(size)
        if seconds is not None:
            self._check_seconds(seconds)
        self._check_fps(fps)
        self._check_steps(steps)
        self._check_sampling(seed, guidance, sampler)


class Pipeline(RequestChecks):
    def __init__(self, dit: DiT, vae: VideoVAE, text_encoder, config: PipelineConfig, weak: DiT | None = None):
        """`weak`: the autoguidance transformer (`PipelineConfig.autoguidance_model`), needed when
        `config.autoguidance` > 0."""
        super().__init__(config)
        if config.autoguidance > 0 and config.autoguidance_model and weak is None:
            raise ValueError(f"autoguidance {config.autoguidance} needs the weak transformer "
                             f"({config.autoguidance_model}); pass it as weak=")
        clauses = getattr(text_encoder, "clauses", None)
        if clauses is not None and clauses != config.text_clauses:
            raise ValueError(f"the model was trained with text_clauses={config.text_clauses} but the text encoder "
                             f"has clauses={clauses}; load it with load_text_encoder(..., clauses={config.text_clauses})")
        self.dit = dit.eval()
        self.weak = None if weak is None else weak.eval()
        if any(i >= dit.config.depth for i in config.autoguidance_skip):
            raise ValueError(f"autoguidance_skip {list(config.autoguidance_skip)} names blocks the transformer, "
                             f"of {dit.config.depth} blocks, does not have")
        self.vae = vae.eval()
        self.text_encoder = text_encoder

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None) -> "Pipeline":
        """Load a model directory (dit.safetensors, dit_config.json, pipeline.json); None: the shipped model."""
        from tenku.text import load_text_encoder

        directory = model_directory(path)
        config = read_pipeline_config(directory)
        dit = load_dit(directory)
        vae = VideoVAE.from_pretrained((directory / config.vae).resolve())
        weak = load_transformer(directory / config.autoguidance_model) if config.autoguidance_model else None
        return cls(dit, vae, load_text_encoder(config.text_encoder, clauses=config.text_clauses), config, weak)

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype = torch.float16) -> None:
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().to(dtype).contiguous() for k, v in self.dit.state_dict().items()},
                  str(directory / "dit.safetensors"))
        (directory / "dit_config.json").write_text(json.dumps(asdict(self.dit.config), indent=2) + "\n")
        (directory / "pipeline.json").write_text(json.dumps(asdict(self.config), indent=2) + "\n")

    def read_prompt(self, prompt: str):
        """The prompt as the model reads it (`colour_names.Reading`): unknown colour names replaced by
        the world's nearest colour when `PipelineConfig.colour_names` is on, else unchanged."""
        from tenku.colour_names import Reading, world_colour_names

        return world_colour_names().read(prompt) if self.config.colour_names else Reading(prompt, ())

    # --- the denoising loop ------------------------------------------------------------------

    def timesteps(self, steps: int | None, latent_shape: tuple[int, int, int], t_start: float = 1.0) -> torch.Tensor:
        """The times `sample_latents` steps through for a latent (t, h, w): 1 (or `t_start`) down to 0."""
        self._check_steps(steps)
        steps = self.config.steps if steps is None else steps
        t, h, w = latent_shape
        num_tokens = t * (h // self.dit.config.patch_size[1]) * (w // self.dit.config.patch_size[2])
        ts = self.config.flow.timesteps(steps, num_tokens)
        if t_start < 1.0:
            ts = torch.cat([torch.tensor([t_start]), ts[ts < t_start]])
        return ts

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
        follow_motion: bool = True,
        editing: bool = False,
    ) -> torch.Tensor:
        """Denoise one latent (1, C, t, h, w) under `prompt`. `cond`/`cond_mask` give known latent
        frames; `noise` with `t_start` < 1 is a partly noised latent x_{t_start} to start from (SDEdit).
        `follow_motion` False leaves out attention-guided sampling's motion term
        (`PipelineConfig.binding_motion`), for clips whose motion is not the prompt's (a loop's way back).
        `editing` samples an edit: attention-guided sampling with the `edit_*` settings instead.

        Known frames are held on their exact flow path x_t = (1 - t) cond + t eps (their velocity is
        eps - cond), as in training, where they are noised with the rest and left out of the loss;
        so they come out exactly as given and the model never sees them off that path."""
        c = self.config
        self._check_sampling(seed, guidance, sampler)
        prompt = self.read_prompt(prompt).prompt
        guidance = c.guidance if guidance is None else guidance
        sampler_fn = SAMPLERS[sampler or c.sampler]
        ts = self.timesteps(steps, latent_shape, t_start)
        t, h, w = latent_shape
        shape = (1, self.dit.config.in_channels, t, h, w)
        generator = torch.Generator().manual_seed(int(seed))
        if noise is None:
            noise = torch.randn(shape, generator=generator)
        text, mask = self.text_encoder.encode([prompt])
        null_text, null_mask = self.text_encoder.encode([""])
        if cond is None:  # the model was trained with an all-zero mask for "nothing known"
            cond, cond_mask = torch.zeros(shape), torch.zeros(1, t)
        assert cond.shape == shape and cond_mask.shape == (1, t), (cond.shape, cond_mask.shape, shape)
        extra = {"cond": cond, "cond_mask": cond_mask}
        known = cond_mask.reshape(1, 1, -1, 1, 1).to(noise.dtype)  # (1, 1, t, 1, 1)
        # autoguidance was measured on text to video only: not where frames are given, nor in edits
        weak_weight = 0.0 if editing or bool(known.any()) else c.autoguidance
        plain_weight = 0.0 if editing or not bool(known.any()) else c.context_guidance
        uncond = {"text": null_text, "text_mask": null_mask, **extra}
        # context guidance's third half: the empty prompt with nothing known
        plain = {**uncond, "cond": torch.zeros_like(cond), "cond_mask": torch.zeros_like(cond_mask)} if plain_weight > 0 else None
        guided = cfg_denoiser(self.dit, {"text": text, "text_mask": mask, **extra}, uncond, guidance,
                              weak=self._weak_model() if weak_weight > 0 else None, weak_weight=weak_weight,
                              weak_until=c.autoguidance_until, plain_args=plain, plain_weight=plain_weight)
        eps = torch.randn(shape, generator=generator) if bool(known.any()) else None

        def hold(x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
            """x with its known frames on their flow path at `time`."""
            if eps is None:
                return x
            s = time.reshape(-1, 1, 1, 1, 1)
            return known * ((1 - s) * cond + s * eps) + (1 - known) * x

        def denoiser(x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
            if eps is None:
                return guided(x, time)
            return known * (eps - cond) + (1 - known) * guided(hold(x, time), time)

        losses: list[float] = []  # the guidance loss of every guided step, for layout selection
        refine = self._binding_refiner(prompt, text, mask, extra, latent_shape, hold, 1 - known, follow_motion,
                                       editing, losses)
        split = 0 if editing or eps is not None or t_start < 1 else self._layout_split(ts, refine)
        if split == 0:
            x = sampler_fn(denoiser, noise, ts, callback=callback, refine=refine)
        else:
            x = self._select_layout(sampler_fn, denoiser, noise, ts, split, refine, losses, seed, callback)
        return known * cond + (1 - known) * x  # known frames are exactly the given ones

    def _layout_split(self, ts: torch.Tensor, refine: Callable | None) -> int:
        """The steps every layout candidate takes (`PipelineConfig.layout_candidates`): the guided ones
        whose start time is >= `layout_until` (and `binding_guidance_until`); 0 where no selection
        happens (off, or attention-guided sampling does not act on the prompt)."""
        c = self.config
        if c.layout_candidates < 2 or refine is None:
            return 0
        until = c.binding_guidance_until if c.layout_until is None else max(c.layout_until, c.binding_guidance_until)
        return int((ts[:-1] >= until).sum())

    def _select_layout(self, sampler_fn, denoiser, noise: torch.Tensor, ts: torch.Tensor, split: int,
                       refine: Callable, losses: list[float], seed: int, callback) -> torch.Tensor:
        """Layout selection: each candidate noise (the seed's own first) is sampled through ts[:split + 1],
        the guided steps; the one whose last guided step measured the lowest guidance loss goes on to
        t = ts[-1]. Deterministic in the seed."""
        candidates = self.config.layout_candidates
        total = candidates * split + len(ts) - 1 - split
        report = None if callback is None else lambda info: callback({"total": total, **info})
        best: tuple[float, torch.Tensor] | None = None
        for k in range(candidates):
            start = noise if k == 0 else torch.randn(noise.shape, generator=torch.Generator().manual_seed(
                _candidate_seed(seed, k)))
            losses.clear()
            x = sampler_fn(denoiser, start, ts[:split + 1], callback=report, refine=refine)
            if best is None or losses[-1] < best[0]:
                best = (losses[-1], x)
        if split == len(ts) - 1:
            return best[1]
        return sampler_fn(denoiser, best[1], ts[split:], callback=report, refine=refine)

    def _weak_model(self) -> Callable | None:
        """The autoguidance weak model: this transformer with `autoguidance_skip`'s self-attention left
        out, or the one loaded from `autoguidance_model`."""
        skip = self.config.autoguidance_skip
        return functools.partial(self.dit, skip_attention=skip) if skip else self.weak

    def _binding_refiner(self, prompt: str, text: torch.Tensor, mask: torch.Tensor, extra: dict,
                         latent_shape: tuple[int, int, int], hold: Callable, free: torch.Tensor,
                         follow_motion: bool = True, editing: bool = False,
                         losses: list[float] | None = None) -> Callable | None:
        """The `refine` step of attention-guided sampling (`PipelineConfig.binding_guidance`; with
        `editing`, `edit_binding`), or None where it does not apply: turned off, an encoder without a
        tokenizer, fewer than two objects (one, with the one-place term on). Each step it takes appends
        its guidance loss to `losses`, where given."""
        c = self.config
        encoder = self.text_encoder
        if editing:  # hold the input's layout instead of moving objects the way the prompt says
            step_size, until, motion_weight, anchor_weight = c.edit_binding, c.edit_binding_until, 0.0, c.edit_anchor
        else:
            step_size, until, anchor_weight = c.binding_guidance, c.binding_guidance_until, 0.0
            motion_weight = c.binding_motion if follow_motion else 0.0
        if step_size <= 0 or not hasattr(encoder, "tokenizer"):
            return None
        # the one-place and shape terms only where no frame is given: with known frames the one-place
        # term cost animate and backward extension on their tuning cases (session 24), and the shape
        # term was tuned on text to video only (session 25)
        free_only = bool(free.all())
        compact = c.binding_compact if free_only else 0.0
        steady = 0.0 if editing else c.binding_steady if free_only else c.binding_steady_known
        known = None if free_only else free.reshape(-1) == 0  # (t,) the given latent frames
        layout = {**encoder_layout(encoder), "length": text.shape[1]}
        groups = prompt_object_groups(encoder.tokenizer, prompt, **layout,
                                      min_objects=1 if compact > 0 or steady > 0 else 2)
        if groups is None:
            return None
        groups = torch.from_numpy(groups)
        colours = prompt_colours(prompt)  # the objects of `groups`, in its order
        steady_objects = None  # all objects
        if c.binding_steady_objects is not None and len(groups) > c.binding_steady_objects and steady > 0:
            # (with two or more objects the other terms act anyway)
            if c.binding_steady_gravity > 0 and free_only:
                names = prompt_motion_names(prompt, colours)
                steady, steady_objects = c.binding_steady_gravity, torch.tensor([bool(n & GRAVITY_MOTIONS) for n in names])
            else:
                steady = c.binding_steady_many
        grid = patch_grid(latent_shape, self.dit.config.patch_size)
        directions = prompt_object_motions(prompt, colours) if motion_weight > 0 else []
        found = prompt_shape_groups(encoder.tokenizer, prompt, **layout) if c.binding_shape > 0 and free_only else None
        shapes = None if found is None else tuple(torch.from_numpy(g) for g in found)

        anchors: list[torch.Tensor] = []  # the objects' places at the first step, for the anchor term

        shape_until = until if editing or c.binding_shape_until is None else min(until, c.binding_shape_until)

        def refine(x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
            now = float(time[0])
            if now < until and (shapes is None or now < shape_until):
                return x
            shape_only = now < until  # (binding_shape_until: the shape term's steps past the others')
            with torch.enable_grad():
                x_in = x.detach().requires_grad_(True)
                self.dit.record_cross_attention(True)
                try:
                    self.dit(hold(x_in, time), time, text, mask, **extra)
                    maps = self.dit.cross_attention_maps()
                    if anchor_weight > 0 and not anchors:
                        anchors.append(object_centres(maps, groups, grid).detach())
                    # (loss, step in units of its gradient's RMS): the shape term takes its own step, so it
                    # does not take from the others' (in one loss it cost count and persistence; session 25)
                    terms = []
                    if not shape_only:
                        loss = guidance_loss(maps, groups, grid, directions, motion_weight, compact,
                                             anchors[0] if anchors else None, anchor_weight, steady, known,
                                             steady_objects)
                        terms.append((loss, 1.0))
                        if losses is not None:
                            losses.append(float(loss.detach()))
                    if shapes is not None:
                        terms.append((shape_loss(maps, *shapes), c.binding_shape))
                finally:
                    self.dit.record_cross_attention(False)
                grads = [torch.autograd.grad(loss, x_in, retain_graph=i < len(terms) - 1)[0]
                         for i, (loss, _) in enumerate(terms)]
            step = torch.zeros_like(x)
            for grad, (_, weight) in zip(grads, terms):
                grad = grad * free  # known frames stay as given
                step = step + weight * grad / grad.pow(2).mean().sqrt().clamp_min(1e-12)
            return x - step_size * time.reshape(-1, 1, 1, 1, 1) * step

        return refine

    def decode(self, latents: torch.Tensor, num_frames: int) -> np.ndarray:
        """Latent (1, C, t, h, w) -> uint8 frames (num_frames, H, W, 3); with `config.deflicker_gate`,
        the steps between latent groups ramped (over all decoded frames, before cutting to num_frames)."""
        video = self.vae.decode(latents, chunk_latents=8)
        if self.config.deflicker_gate is not None:
            video = ramp_group_steps(video, self.config.deflicker_gate)
        return to_frames(video[0, :, :num_frames])

    def encode(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 (T, H, W, 3) with T = 1 + 4k -> normalised latent (1, C, t, H/8, W/8)."""
        from tenku.data import to_tensor

        video = to_tensor(frames)[None]
        z = self.vae.encode(video, chunk_frames=32)
        if self.config.encode_refine_steps:  # (as reconstruct_frames: no refine call, and no re-checks, when off)
            z = self.vae.refine(video, z, steps=self.config.encode_refine_steps, chunk_latents=8)
        return z

    def encode_groups(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 (4k, H, W, 3) -> (1, C, k, H/8, W/8): groups of four for latent positions >= 1,
        encoded behind a still copy of their first frame (see `tenku.conditioning`)."""
        return self.encode(clip_for_groups(frames))[:, :, 1:]

    def _sample_window(self, prompt: str, window: Window, size: tuple[int, int], known: dict[int, torch.Tensor],
                       seed: int, sampling: dict, callback, **kwargs) -> torch.Tensor:
        width, height = size
        cond, mask = assemble_cond(window.num_latents, known) if known else (None, None)
        assert mask is None or torch.equal(mask, window.mask()), (mask, window)
        shape = (window.num_latents, height // SPACE_COMPRESSION, width // SPACE_COMPRESSION)
        return self.sample_latents(prompt, shape, seed=seed, cond=cond, cond_mask=mask, callback=callback,
                                   **sampling, **kwargs)

    def _total_steps(self, windows: list[Window], size: tuple[int, int], steps: int | None, t_start: float = 1.0,
                     prompt: str | None = None) -> int:
        """Denoising steps of these windows; with `prompt`, those of layout selection's extra candidates
        too, in windows with no known frames (`PipelineConfig.layout_candidates`)."""
        width, height = size
        selecting = prompt is not None and t_start >= 1 and self.config.layout_candidates > 1
        if selecting:
            prompt = self.read_prompt(prompt).prompt
            text, mask = self.text_encoder.encode([prompt])
        total = 0
        for w in windows:
            shape = (w.num_latents, height // SPACE_COMPRESSION, width // SPACE_COMPRESSION)
            ts = self.timesteps(steps, shape, t_start)
            total += len(ts) - 1
            if selecting and not w.known:
                refine = self._binding_refiner(prompt, text, mask, {}, shape, lambda x, t: x, torch.ones(1, 1, 1, 1, 1))
                total += (self.config.layout_candidates - 1) * self._layout_split(ts, refine)
        return total

    # --- inputs ------------------------------------------------------------------------------

    def load_input(self, source: Source, what: str, *, input_fps: float | None = None,
                   size: tuple[int, int] | None = None, max_frames: int | None = None) -> np.ndarray:
        """An image or video (path or uint8 frames) -> uint8 (T, H, W, 3) at the model's fps and a
        supported size: `size`, or the one nearest the input's aspect ratio (see `tenku.conditioning`).
        `input_fps` is the rate of in-memory frames (default: the model's); files carry their own."""
        c = self.config
        if size is not None:
            self._check_size(size)
            size = tuple(int(v) for v in size)
        if isinstance(source, (str, os.PathLike)):
            if input_fps is not None:
                warnings.warn(f"input_fps has no effect for a file ({source}): its own frame rate is used", stacklevel=3)
            return load_frames(source, fps=c.fps, sizes=c.sizes, size=size, max_frames=max_frames)
        frames = check_frames(source, what)
        if input_fps is not None and not input_fps > 0:
            raise ValueError(f"input_fps must be > 0, got {input_fps}")
        size = size or choose_size(frames.shape[2], frames.shape[1], c.sizes)
        if max_frames is not None:  # only the input frames that the first max_frames outputs take
            frames = frames[: int(np.floor((max_frames - 1) * (input_fps or c.fps) / c.fps + 0.5 + 1e-9)) + 1]
        return conform_frames(frames, input_fps or c.fps, c.fps, size)[:max_frames]

    def _load_video(self, source: Source, what: str, **kwargs) -> np.ndarray:
        frames = self.load_input(source, what, **kwargs)
        if len(frames) < MIN_VIDEO_FRAMES:
            name = source if isinstance(source, (str, os.PathLike)) else what
            raise ValueError(f"{name}: {len(frames)} frame(s) at {self.config.fps:g} fps, shorter than one latent "
                             f"frame; a video input needs at least {MIN_VIDEO_FRAMES} frames (its first frame and "
                             f"{TIME_COMPRESSION} more); for a still image use animate")
        return frames

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

    def animate(
        self,
        image: Source,
        prompt: str,
        seconds: float = 2.0,
        *,
        size: tuple[int, int] | None = None,
        seed: int = 0,
        steps: int | None = None,
        guidance: float | None = None,
        sampler: str | None = None,
        callback: Callable[[dict], None] | None = None,
    ) -> np.ndarray:
        """Image to video: uint8 (round(seconds * fps) + 1, H, W, 3) whose frame 0 is the image
        (fitted to the model's size). A video file gives its first frame. The image is latent 0 (the
        trained "first" mask); the decoder's error on it is faded out over the next frames."""
        self.check_request(prompt, seconds, size or self.config.sizes[0])
        num_frames = self._count_frames(seconds, "a video from the image", 2, plus_one=True)
        image = self.load_input(image, "image", size=size, max_frames=1)  # (1, H, W, 3)
        size = (image.shape[2], image.shape[1])
        window = plan_animate(num_frames, self.max_latents)
        progress = _counting(callback, self._total_steps([window], size, steps))
        sampling = {"steps": steps, "guidance": guidance, "sampler": sampler}
        latents = self._sample_window(prompt, window, size, {0: self.encode(image)}, seed, sampling, progress)
        frames = self.decode(latents, num_frames)
        residual = image[0].astype(np.float32) - frames[0]
        return np.concatenate([image, carry_residual(frames[1:], residual)])

    def extend(
        self,
        video: Source,
        prompt: str,
        seconds: float = 2.0,
        *,
        backward: bool = False,
        input_fps: float | None = None,
        size: tuple[int, int] | None = None,
        seed: int = 0,
        steps: int | None = None,
        guidance: float | None = None,
        sampler: str | None = None,
        callback: Callable[[dict], None] | None = None,
    ) -> np.ndarray:
        """Video extension: the (fitted) input unchanged plus round(seconds * fps) new frames after it,
        or before it with `backward`. Any length: windows slide, each conditioned on the last (first)
        `config.context_latents` latent frames of the video so far (trained "first k" / "last k")."""
        self._check_prompt(prompt)
        self._check_seconds(seconds)
        num_new = int(round(seconds * self.config.fps))
        if num_new < 1:
            raise ValueError(f"seconds={seconds:g} adds no frame at {self.config.fps:g} fps; "
                             f"ask for at least {1 / self.config.fps:g} s")
        frames = self._load_video(video, "video", input_fps=input_fps, size=size)
        size = (frames.shape[2], frames.shape[1])
        windows = plan_extension(len(frames), num_new, max_latents=self.max_latents,
                                 context_latents=self.config.context_latents, backward=backward)
        progress = _counting(callback, self._total_steps(windows, size, steps))
        sampling = {"steps": steps, "guidance": guidance, "sampler": sampler}
        new = list(self._extension_chunks(prompt, frames, windows, size, seed, sampling, progress))
        return np.concatenate(new[::-1] + [frames] if backward else [frames] + new)

    def connect(
        self,
        video_a: Source,
        video_b: Source,
        prompt: str,
        seconds: float = 2.0,
        *,
        join: bool = False,
        input_fps: float | None = None,
        size: tuple[int, int] | None = None,
        seed: int = 0,
        steps: int | None = None,
        guidance: float | None = None,
        sampler: str | None = None,
        callback: Callable[[dict], None] | None = None,
    ) -> np.ndarray:
        """A transition of about `seconds` from A's last frame to B's first: uint8 (2 + 4m, H, W, 3)
        whose first and last frames are exactly those two (the 4m frames between are whole latent
        frames, 4m nearest round(seconds * fps) - 1). With `join`, A + the frames between + B.

        A's last frame is latent 0 and B's first four frames the last latent (trained "first and last");
        A may be an image, B must be a video (its first frames carry the motion to arrive at). Both are
        fitted to `size`, or to the size nearest A's aspect ratio."""
        self._check_prompt(prompt)
        window = plan_connect(self._count_frames(seconds, "a transition", 3, plus_one=True), self.max_latents)
        a = self.load_input(video_a, "video_a", input_fps=input_fps, size=size)
        size = (a.shape[2], a.shape[1])
        b = self._load_video(video_b, "video_b", input_fps=input_fps, size=size,
                             max_frames=None if join else MIN_VIDEO_FRAMES)
        progress = _counting(callback, self._total_steps([window], size, steps))
        sampling = {"steps": steps, "guidance": guidance, "sampler": sampler}
        between = self._transition(prompt, window, a[-1:], b[:TIME_COMPRESSION], size, seed, sampling, progress)
        if join:
            return np.concatenate([a, between, b])
        return np.concatenate([a[-1:], between, b[:1]])

    def loop(
        self,
        prompt: str,
        seconds: float = 2.0,
        size: tuple[int, int] = (64, 64),
        *,
        seed: int = 0,
        steps: int | None = None,
        guidance: float | None = None,
        sampler: str | None = None,
        callback: Callable[[dict], None] | None = None,
    ) -> np.ndarray:
        """A seamless loop: uint8 (P, H, W, 3) whose frame P (not included) would be frame 0 again; the
        period P = 1 + 4n frames, nearest round(seconds * fps), at least 9. Two passes: a free clip of
        about half the period, then a transition from its last frame back into its first four frames
        (as `connect`), whose last generated frame is decoded leading into them."""
        self.check_request(prompt, None, size)
        clip_window, transition = plan_loop(self._count_frames(seconds, "a loop", MIN_LOOP_FRAMES, plus_one=False),
                                            self.max_latents)
        progress = _counting(callback, self._total_steps([clip_window, transition], size, steps, prompt=prompt))
        sampling = {"steps": steps, "guidance": guidance, "sampler": sampler}
        latents = self._sample_window(prompt, clip_window, size, {}, seed, sampling, progress)
        clip = self.decode(latents, clip_window.keep[1])
        between = self._transition(prompt, transition, clip[-1:], clip[:TIME_COMPRESSION], size,
                                   _window_seed(seed, 1), sampling, progress, follow_motion=False)
        return np.concatenate([clip, between])

    def _transition(self, prompt: str, window: Window, last: np.ndarray, first: np.ndarray, size: tuple[int, int],
                    seed: int, sampling: dict, progress, follow_motion: bool = True) -> np.ndarray:
        """The 4m generated frames of a transition window (`plan_connect`) from `last` (1, H, W, 3) to
        `first` (4, H, W, 3): `last` is latent 0 and `first` the last latent, as a group; the decoding
        error at both ends is carried into the frames next to them, so they meet the given pixels (past the
        frame next to each end, only where a frame still matches that one: `carry_residual`'s gate)."""
        known = {0: self.encode(last), window.num_latents - 1: self.encode_groups(first)}
        latents = self._sample_window(prompt, window, size, known, seed, sampling, progress,
                                      follow_motion=follow_motion)
        frames = self.decode(latents, window.keep[1])  # last ... first[0]
        between = carry_residual(frames[1:-1], last[0].astype(np.float32) - frames[0])
        return carry_residual(between, first[0].astype(np.float32) - frames[-1], reverse=True)

    def edit(
        self,
        video: Source,
        prompt: str,
        strength: float = 0.5,
        *,
        input_fps: float | None = None,
        size: tuple[int, int] | None = None,
        seed: int = 0,
        steps: int | None = None,
        guidance: float | None = None,
        sampler: str | None = None,
        callback: Callable[[dict], None] | None = None,
    ) -> np.ndarray:
        """SDEdit (Meng et al. 2022): the input's latent is noised to time t = `strength`,
        x_t = (1 - t) z + t eps, and denoised under `prompt` from there; layout and motion survive
        at middling strengths, 1 is text-to-video from scratch. `guidance` None: the model's
        `edit_guidance`, else its `guidance`. Same frame count as the (fitted)
        input, which may be an image; at most one window (`config.max_seconds`)."""
        self._check_prompt(prompt)
        self._check_sampling(seed, guidance, sampler)  # the seed is used before sampling, for the noise
        if not isinstance(strength, numbers.Real) or not 0 < strength <= 1:
            raise ValueError(f"strength must be in (0, 1] (the noise level edited from; 1 ignores the input), got {strength!r}")
        limit = decoded_frames(self.max_latents)
        frames = self.load_input(video, "video", input_fps=input_fps, size=size, max_frames=limit + 1)
        if len(frames) > limit:
            raise ValueError(f"edit takes at most {limit} frames ({self.config.max_seconds:g} s at "
                             f"{self.config.fps:g} fps), the video is longer; trim it")
        size = (frames.shape[2], frames.shape[1])
        window = plan_edit(len(frames), self.max_latents)
        progress = _counting(callback, self._total_steps([window], size, steps, float(strength)))
        z = self.encode(pad_frames(frames))  # (1, C, t, h, w)
        eps = torch.randn(z.shape, generator=torch.Generator().manual_seed(int(seed)))
        x_t = self.config.flow.add_noise(z, eps, torch.tensor([float(strength)]))
        if guidance is None:
            guidance = self.config.edit_guidance
        sampling = {"steps": steps, "guidance": guidance, "sampler": sampler}
        latents = self._sample_window(prompt, window, size, {}, seed, sampling, progress, noise=x_t,
                                      t_start=float(strength), editing=True)
        return self.decode(latents, len(frames))

    def generate_long(
        self,
        prompt: str,
        seconds: float,
        size: tuple[int, int] = (64, 64),
        *,
        fps: float | None = None,
        seed: int = 0,
        steps: int | None = None,
        guidance: float | None = None,
        sampler: str | None = None,
        callback: Callable[[dict], None] | None = None,
    ) -> Iterator[np.ndarray]:
        """Text to video of any length, yielded as uint8 chunks (n, H, W, 3) that together are
        round(seconds * fps) + 1 frames: one free window, then windows that each keep the last
        `config.context_latents` latent frames as known context (trained "first k") at RoPE positions
        relative to the window, as in training. Only those frames are held between windows and each
        window is decoded on its own, so memory does not grow with duration: write the chunks to a
        `tenku.io.VideoWriter`. Arguments are checked now, frames made as the iterator is consumed."""
        self.check_request(prompt, None, size)
        self._check_seconds(seconds)
        self._check_fps(fps)
        self._check_sampling(seed, guidance, sampler)  # now, not when the first window is made
        windows = plan_long(num_video_frames(seconds, self.config.fps), max_latents=self.max_latents,
                            context_latents=self.config.context_latents)
        progress = _counting(callback, self._total_steps(windows, tuple(size), steps, prompt=prompt))
        sampling = {"steps": steps, "guidance": guidance, "sampler": sampler}
        return self._long_chunks(prompt, windows, tuple(size), seed, sampling, progress)

    def _long_chunks(self, prompt, windows, size, seed, sampling, progress) -> Iterator[np.ndarray]:
        first = windows[0]
        latents = self._sample_window(prompt, first, size, {}, seed, sampling, progress)
        frames = self.decode(latents, first.keep[1])
        yield frames
        if len(windows) > 1:
            yield from self._extension_chunks(prompt, frames, windows[1:], size, seed, sampling, progress, first_index=1)

    def _extension_chunks(self, prompt: str, video: np.ndarray, windows: list[Window], size: tuple[int, int],
                          seed: int, sampling: dict, progress, first_index: int = 0) -> Iterator[np.ndarray]:
        """The new frames of each extension window, after `video` (before it backwards), which may be
        just its last (first) frames. Only as many frames as a window's context are held; generated frames
        join them as they come."""
        hold = max(w.context_frames for w in windows)
        held = video[:hold] if windows[0].backward else video[-hold:]
        for i, window in enumerate(windows):
            k = len(window.known)
            if window.backward:
                known = {window.num_latents - k: self.encode_groups(held[: window.context_frames])}
            else:
                known = {0: self.encode(held[-window.context_frames :])}
            latents = self._sample_window(prompt, window, size, known, _window_seed(seed, first_index + i),
                                          sampling, progress)
            decoded = self.decode(latents, window.num_decoded)
            start, stop = window.keep
            if window.backward:  # decoded[stop] is the decoding of held[0]
                new = carry_residual(decoded[start:stop], held[0].astype(np.float32) - decoded[stop], reverse=True)
                held = np.concatenate([new, held])[:hold]
            else:  # decoded[start - 1] is the decoding of held[-1]
                new = carry_residual(decoded[start:stop], held[-1].astype(np.float32) - decoded[start - 1])
                held = np.concatenate([held, new])[-hold:]
            yield new
