"""`tenku train dit`: the diffusion-transformer recipe on the procedural world.

Each step draws a bucket (frames, height, width) and renders fresh world scenes for it, encodes
them with the frozen VAE and one of their captions with the frozen text encoder (empty with
probability `text_dropout`, for classifier-free guidance), draws a conditioning mask (known
latent frames: first, first k, last k, first and last, a span, or none) and regresses the
rectified-flow velocity on the unknown frames. bf16 autocast, EMA weights, gradient clipping,
exact resume (batches are a function of the step; model, EMA, optimizer and RNG are saved).
With `latent_cache` the clips are rendered and encoded once up front (`tenku.latent_cache`) and
each step draws its batch from them, so the transformer has the machine to itself.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from tenku.checkpoint import load_checkpoint, save_checkpoint
from tenku.conditioning import latent_frames_for
from tenku.data import to_tensor
from tenku.dit import DiT, DiTConfig, deepen_state_dict, dit_small, repatch_state_dict
from tenku.flow import FlowSchedule
from tenku.grounding import (
    binding_loss,
    encoder_layout,
    grounding_loss,
    object_regions,
    object_token_groups,
    token_regions,
    world_vocabulary,
)
from tenku.precision import use_bf16
from tenku.train_vae import learning_rate  # one warm-up + cosine schedule for both recipes
from tenku.world.scene import MAX_OBJECTS


@dataclass(frozen=True)
class Bucket:
    """One training shape: all samples of a batch share it (Sora/Open-Sora style buckets)."""

    frames: int
    width: int
    height: int
    batch_size: int
    weight: float


def default_buckets() -> tuple[Bucket, ...]:
    """1:1, 16:9-ish (112x64) and 9:16-ish (64x112) at 8 fps, from one frame (images) to 4 s.
    Batch sizes keep roughly constant tokens per batch; 64x64 video gets the most weight."""
    return (
        Bucket(1, 64, 64, 24, 0.08),
        Bucket(9, 64, 64, 12, 0.12),
        Bucket(17, 64, 64, 8, 0.30),
        Bucket(33, 64, 64, 6, 0.18),
        Bucket(1, 112, 64, 16, 0.02),
        Bucket(17, 112, 64, 5, 0.09),
        Bucket(33, 112, 64, 3, 0.04),
        Bucket(1, 64, 112, 16, 0.02),
        Bucket(17, 64, 112, 5, 0.09),
        Bucket(33, 64, 112, 3, 0.06),
    )


@dataclass(kw_only=True)
class DiTTrainConfig:
    out_dir: str = "runs/dit"
    vae: str | None = None
    """VAE directory; None: the shipped VAE."""
    text_encoder: str = "minilm"
    text_clauses: bool = False
    """Give the DiT one pooled text state per prompt clause besides the token states (`tenku.text`),
    meant to help it bind colour, shape and motion to each object (stage 9: no measured gain)."""
    model: DiTConfig = field(default_factory=dit_small)
    flow: FlowSchedule = field(default_factory=lambda: FlowSchedule(logit_mean=0.3, logit_std=1.0, base_tokens=144))
    """logit_mean > 0 puts more steps at high noise, where layout and motion are decided."""
    buckets: tuple[Bucket, ...] = field(default_factory=default_buckets)
    fps: float = 8.0
    steps: int = 4000
    lr: float = 3e-4
    warmup_steps: int = 200
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    ema_decay: float = 0.998
    text_dropout: float = 0.1
    cond_probability: float = 0.4
    """Fraction of video samples that get known frames (image/video conditioning modes)."""
    bf16: bool = True
    """bf16 autocast for the transformer and the VAE's encoding; fp32 instead on a CPU that emulates
    bf16 (`tenku.precision`), where the run's config.json then says bf16 false."""
    seed: int = 0
    checkpoint_minutes: float = 4.0
    sample_every: int = 1000
    """Generate held-out samples with the EMA weights and score them with `tenku eval` this often."""
    num_eval_samples: int = 16
    max_minutes: float | None = None
    """Training-time budget: the learning rate anneals over it and the run finishes when it is
    spent (counted across resumed sessions), even before `steps`."""
    stop_at_step: int | None = None
    """Checkpoint and exit at this step without finishing (to split a run); rerun to resume."""
    threads: int | None = None
    """Threads for the transformer; the data worker (rendering, VAE, text encoder) uses one more core."""
    data_workers: int = 1
    """Processes preparing batches ahead of the optimiser (0: in the training process)."""
    latent_cache: int = 0
    """Clips to render and encode once (`tenku.latent_cache`) and draw every batch from, with fresh
    captions and masks each time; 0: render fresh clips for every step in the data worker."""
    grounding_weight: float = 0.0
    """Weight of the grounding loss (`tenku.grounding`): the words describing each object should attend to
    the latent tokens the object covers, which the world knows exactly; 0 turns it off."""
    binding_weight: float = 0.0
    """Weight of the binding loss (`grounding.binding_loss`): the latent tokens of each object should read
    that object's words rather than another object's; 0 turns it off."""
    object_weight: float = 0.0
    """Extra weight of the flow loss on the latent cells the world's objects cover (`grounding.object_regions`):
    each cell's squared error counts 1 + `object_weight` times where an object is, 1 elsewhere. The
    objects are a small part of every frame, yet their shapes and motions are what prompts ask for;
    0 weighs every cell alike. The logged `flow` loss is then the weighted one, not comparable with
    runs at 0."""
    object_mix: tuple[float, float, float] | None = None
    """Relative frequencies of scenes with 1, 2 and 3 objects in training (e.g. [0.3, 0.4, 0.3] to
    see more of the multi-object scenes the model binds worst); None: the world's own mix
    (`world.scene.OBJECT_MIX`, which the benchmark's test scenes also follow)."""
    latent_cache_dir: str | None = None
    """Where the cache lives; None: OUT/latent_cache."""
    init_from: str | None = None
    """Start from this model directory's weights (e.g. the shipped model, to train it further);
    the optimizer and schedule start fresh. If its patches are larger than `model.patch_size`, the
    weights are re-cut to the smaller patches (`dit.repatch_state_dict`); if it has fewer blocks than
    `model.depth`, identity blocks are added between them (`dit.deepen_state_dict`)."""

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = DiTConfig(**self.model)
        if isinstance(self.flow, dict):
            self.flow = FlowSchedule(**self.flow)
        self.buckets = tuple(Bucket(**b) if isinstance(b, dict) else b for b in self.buckets)
        if not self.buckets:
            raise ValueError("buckets must not be empty")
        for b in self.buckets:
            if (b.frames - 1) % 4 or b.width % 16 or b.height % 16 or b.batch_size < 1 or b.weight <= 0:
                raise ValueError(f"bad bucket {b}: frames must be 1 + 4k, sizes multiples of 16, batch >= 1, weight > 0")
        if not 0 <= self.text_dropout < 1 or not 0 <= self.cond_probability <= 1:
            raise ValueError("text_dropout must lie in [0, 1) and cond_probability in [0, 1]")
        if self.steps < 1 or self.lr <= 0:
            raise ValueError(f"steps must be >= 1 and lr > 0, got {self.steps}, {self.lr}")
        if self.latent_cache < 0:
            raise ValueError(f"latent_cache must be >= 0 clips, got {self.latent_cache}")
        if self.grounding_weight < 0 or self.binding_weight < 0 or self.object_weight < 0:
            raise ValueError(f"grounding_weight, binding_weight and object_weight must be >= 0, got "
                             f"{self.grounding_weight}, {self.binding_weight}, {self.object_weight}")
        if self.object_mix is not None:
            mix = tuple(float(w) for w in self.object_mix)
            if len(mix) != MAX_OBJECTS or min(mix) < 0 or sum(mix) <= 0:
                raise ValueError(f"object_mix must be three non-negative weights (1, 2, 3 objects) "
                                 f"with a positive sum, got {list(self.object_mix)}")
            self.object_mix = mix

    @property
    def needs_regions(self) -> bool:
        """Whether batches carry object regions and word groups (for the grounding, binding or object-weighted loss)."""
        return bool(self.grounding_weight or self.binding_weight or self.object_weight)


def draw_cond_mask(rng: np.random.Generator, num_latent_frames: int) -> np.ndarray:
    """A mask over latent frames (1 = known) for one of the conditioning modes."""
    t = num_latent_frames
    mask = np.zeros(t, dtype=np.float32)
    if t < 2:
        return mask
    mode = rng.choice(["first", "first_k", "last_k", "first_last", "span"], p=[0.3, 0.2, 0.15, 0.2, 0.15])
    k = int(rng.integers(1, max(2, t // 2 + 1)))
    if mode == "first":
        mask[0] = 1
    elif mode == "first_k":
        mask[:k] = 1
    elif mode == "last_k":
        mask[-k:] = 1
    elif mode == "first_last":
        mask[0] = mask[-1] = 1
    else:
        start = int(rng.integers(0, t - k + 1))
        mask[start : start + k] = 1
    return mask


def draw_text_and_mask(rng: np.random.Generator, config: DiTTrainConfig, options: list[str],
                       num_latent_frames: int) -> tuple[str, np.ndarray]:
    """One sample's caption (empty with probability `text_dropout`) and conditioning mask."""
    text = "" if rng.random() < config.text_dropout else options[int(rng.integers(len(options)))]
    if rng.random() < config.cond_probability:
        return text, draw_cond_mask(rng, num_latent_frames)
    return text, np.zeros(num_latent_frames, np.float32)


def draw_scene(rng: np.random.Generator, config: DiTTrainConfig, seconds: float):
    """One training scene of the world's train split, with `config.object_mix` objects when set
    (when it is None the draw is the one earlier recipes made, so their streams reproduce)."""
    from tenku.world import sample_scene

    num_objects = None
    if config.object_mix is not None:
        weights = np.array(config.object_mix)
        num_objects = int(rng.choice(np.arange(1, MAX_OBJECTS + 1), p=weights / weights.sum()))
    return sample_scene(int(rng.integers(2**31)), seconds=seconds, split="train", num_objects=num_objects)


def draw_bucket(rng: np.random.Generator, config: DiTTrainConfig) -> int:
    """Index of the bucket of one step's batch, drawn in proportion to the bucket weights."""
    weights = np.array([b.weight for b in config.buckets])
    return int(rng.choice(len(config.buckets), p=weights / weights.sum()))


class WorldLatentBatches:
    """Batches of (latents, captions, cond masks) rendered from the world's train split."""

    def __init__(self, config: DiTTrainConfig, vae):
        self.config = config
        self.vae = vae

    @torch.no_grad()
    def batch(self, step: int) -> dict:
        from tenku.world import captions, render

        c = self.config
        rng = np.random.default_rng([c.seed, step])
        bucket = c.buckets[draw_bucket(rng, c)]
        seconds = max(bucket.frames - 1, 1) / c.fps
        videos, texts, masks, regions, colours = [], [], [], [], []
        latent_size = (bucket.height // 8, bucket.width // 8)
        for _ in range(bucket.batch_size):
            scene = draw_scene(rng, c, seconds)
            rendered = render(scene, bucket.width, bucket.height, bucket.frames, c.fps)
            videos.append(to_tensor(rendered.frames))
            text, mask = draw_text_and_mask(rng, c, captions(scene, rng), latent_frames_for(bucket.frames))
            texts.append(text)
            masks.append(mask)
            if c.needs_regions:
                regions.append(object_regions(rendered.truth, latent_size))
                colours.append([obj.color for obj in scene.objects])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=c.bf16):
            latents = self.vae.encode(torch.stack(videos)).float()
        batch = {"latents": latents, "texts": texts, "cond_mask": torch.from_numpy(np.stack(masks)), "bucket": bucket}
        if c.needs_regions:
            batch["regions"], batch["colours"] = torch.from_numpy(np.stack(regions)), colours
        return batch


class StepStream(torch.utils.data.IterableDataset):
    """Batches for steps start, start + 1, ... with their text encodings, made in a worker process
    while the transformer trains on the previous one (the two cores work in parallel)."""

    def __init__(self, batches: WorldLatentBatches, text_encoder, start: int, stop: int):
        super().__init__()
        self.batches, self.text_encoder, self.start, self.stop = batches, text_encoder, start, stop

    def __iter__(self):
        for step in range(self.start, self.stop):
            batch = self.batches.batch(step)
            batch["text"], batch["text_mask"] = self.text_encoder.encode(batch["texts"])
            if "regions" in batch:
                batch["groups"] = word_groups(self.text_encoder, batch["texts"], batch["colours"],
                                              batch["regions"].shape[1], batch["text"].shape[1])
            batch["step"] = step
            yield batch


def word_groups(text_encoder, texts: list[str], colours: list[list[str]], max_objects: int, length: int) -> torch.Tensor:
    """`(B, max_objects, length)` bool: the states of each object's words in the encoded captions
    (`grounding.object_token_groups`); all False for captions that cannot be grounded (the empty
    text, prompts longer than one window)."""
    colour_words, attributes = world_vocabulary()
    groups = np.zeros((len(texts), max_objects, length), dtype=bool)
    for i, (text, names) in enumerate(zip(texts, colours)):
        found = object_token_groups(text_encoder.tokenizer, text, names, colour_words, attributes,
                                    **encoder_layout(text_encoder), length=length)
        if found is not None:
            groups[i, : found.shape[0]] = found
    return torch.from_numpy(groups)


def training_step(model: DiT, flow: FlowSchedule, batch: dict, text, text_mask, bf16: bool,
                  grounding_weight: float = 0.0, binding_weight: float = 0.0,
                  object_weight: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
    """Rectified-flow loss on one batch (plus `grounding_weight` x the grounding loss and `binding_weight`
    x the binding loss when the batch has object regions); known frames are given clean and excluded
    from the flow loss, and with `object_weight` the cells objects cover count 1 + `object_weight`
    times in it (`DiTTrainConfig.object_weight`). Returns the total and its parts."""
    x_0 = batch["latents"]  # (B, C, T, H, W)
    cond_mask = batch["cond_mask"]  # (B, T)
    b, _, t, h, w = x_0.shape
    num_tokens = t * (h // model.config.patch_size[1]) * (w // model.config.patch_size[2])
    times = flow.sample_t(b, num_tokens)
    noise = torch.randn_like(x_0)
    x_t = flow.add_noise(x_0, noise, times)
    # Known frames always go in (all-zero mask when there are none), exactly as the pipeline does.
    ground = bool(grounding_weight or binding_weight) and "regions" in batch
    model.record_cross_attention(ground)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        v = model(x_t, times, text, text_mask, cond=x_0, cond_mask=cond_mask)
    unknown = (1 - cond_mask).reshape(b, 1, t, 1, 1)
    if object_weight and "regions" in batch:
        covered = batch["regions"].any(dim=1, keepdim=True).to(unknown.dtype)  # (B, 1, T, h, w)
        unknown = unknown * (1 + object_weight * covered)
    loss = flow.loss(v, x_0, noise, mask=unknown)
    parts = {"flow": loss.item()}
    if ground:
        regions = token_regions(batch["regions"], model.config.patch_size)  # (B, O, N)
        maps = model.cross_attention_maps()
        model.record_cross_attention(False)
        for name, weight, term in (("grounding", grounding_weight, grounding_loss), ("binding", binding_weight, binding_loss)):
            if weight:
                value = term(maps, regions, batch["groups"])
                parts[name] = value.item()
                loss = loss + weight * value
    return loss, parts


def train_dit(config: DiTTrainConfig, progress: bool = True) -> Path:
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    from tenku.models import load_vae
    from tenku.text import load_text_encoder

    if config.threads:
        torch.set_num_threads(config.threads)
    config = replace(config, bf16=use_bf16(config.bf16, "train dit"))  # also the latent cache's and workers' precision
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_dir = out / "checkpoint"
    vae = load_vae(config.vae)
    text_encoder = load_text_encoder(config.text_encoder, clauses=config.text_clauses)
    if text_encoder.dim != config.model.text_dim:
        raise ValueError(f"model.text_dim={config.model.text_dim} but the text encoder gives {text_encoder.dim}")
    if vae.config.latent_channels != config.model.in_channels:
        raise ValueError(f"model.in_channels={config.model.in_channels} but the VAE has {vae.config.latent_channels} channels")
    if config.latent_cache:
        from tenku.latent_cache import CachedLatentBatches, build_cache, vae_fingerprint

        fingerprint = vae_fingerprint(vae)
        cache_dir = build_cache(config, config.latent_cache_dir or out / "latent_cache", fingerprint,
                                processes=config.threads or 2, progress=progress)
        batches = CachedLatentBatches(config, cache_dir, fingerprint)
    else:
        batches = WorldLatentBatches(config, vae)

    start_state = None
    if config.init_from:  # built before seeding, so the training RNG stream does not depend on it
        from tenku.pipeline import load_dit

        start_model = load_dit(config.init_from)
        start_state, start_config = start_model.state_dict(), start_model.config
        if start_config.depth != config.model.depth:  # more blocks, same function
            deeper = replace(start_config, depth=config.model.depth)
            start_state, start_config = deepen_state_dict(start_state, start_config, deeper), deeper
            print(f"deepened {config.init_from} from {start_model.config.depth} to {deeper.depth} blocks")
        if start_config.patch_size != config.model.patch_size:
            start_state = repatch_state_dict(start_state, start_config, config.model)  # finer tokens, same weights
            print(f"re-cut {config.init_from}'s patches {start_model.config.patch_size} -> {config.model.patch_size}")
    torch.manual_seed(config.seed)
    model = DiT(config.model)
    if start_state is not None:
        model.load_state_dict(start_state)
    ema = copy.deepcopy(model).requires_grad_(False)
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.ndim >= 2 else no_decay).append(p)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config.lr, betas=(0.9, 0.99),
                                  fused=True)  # one kernel for all tensors: 23 vs 166 ms a step for dit_small on one core
    start, seconds_before = 0, 0.0
    if ckpt_dir.exists():
        tensors, state = load_checkpoint(ckpt_dir, optimizer)
        model.load_state_dict({k: v for k, v in tensors.items() if not k.startswith("ema.")})
        ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
        start, seconds_before = state["step"], state.get("train_seconds", 0.0)
        print(f"resumed from {ckpt_dir} at step {start}")
    (out / "config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    writer = SummaryWriter(str(out / "tb"))
    began = last_save = time.time()
    tokens_seen = 0

    def checkpoint(step: int) -> None:
        tensors = {**model.state_dict(), **{f"ema.{k}": v for k, v in ema.state_dict().items()}}
        save_checkpoint(ckpt_dir, tensors, optimizer, {"step": step, "config": asdict(config),
                                                        "train_seconds": seconds_before + time.time() - began})

    model.train()
    stream = torch.utils.data.DataLoader(
        StepStream(batches, text_encoder, start, config.steps), batch_size=None, num_workers=config.data_workers,
        prefetch_factor=2 if config.data_workers else None, worker_init_fn=_single_thread_worker,
        generator=torch.Generator().manual_seed(config.seed),  # leaves the global RNG (noise, t) untouched
    )
    bar = tqdm(stream, initial=start, total=config.steps, disable=not progress, desc="train dit", dynamic_ncols=True)
    step = start - 1
    for batch in bar:
        step = batch["step"]
        lr = learning_rate(config, step, seconds_before + time.time() - began)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss, parts = training_step(model, config.flow, batch, batch["text"], batch["text_mask"], config.bf16,
                                    config.grounding_weight, config.binding_weight, config.object_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip).item()
        optimizer.step()
        with torch.no_grad():
            for p_ema, p in zip(ema.parameters(), model.parameters()):
                p_ema.lerp_(p, 1 - config.ema_decay)

        lat = batch["latents"]
        tokens_seen += lat.shape[0] * lat.shape[2] * (lat.shape[3] // 2) * (lat.shape[4] // 2)
        rate = tokens_seen / max(time.time() - began, 1e-6)
        bar.set_postfix({**{name: f"{value:.4f}" for name, value in parts.items()}, "tok_s": f"{rate:.0f}"})
        if step % 10 == 0:
            for name, value in parts.items():
                writer.add_scalar(f"loss/{name}", value, step)
            writer.add_scalar("train/lr", lr, step)
            writer.add_scalar("train/grad_norm", grad_norm, step)
            writer.add_scalar("train/tokens_per_s", rate, step)
        if config.sample_every and (step + 1) % config.sample_every == 0:
            scores = sample_and_evaluate(ema, vae, text_encoder, config, out / "samples" / f"step{step + 1:06d}")
            for k, v in scores.items():
                writer.add_scalar(f"eval/{k}", v, step + 1)
            bar.write(f"step {step + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
        if time.time() - last_save > config.checkpoint_minutes * 60:
            checkpoint(step + 1)
            last_save = time.time()
        if config.stop_at_step is not None and step + 1 >= config.stop_at_step:
            checkpoint(step + 1)
            writer.close()
            return ckpt_dir
        if config.max_minutes is not None and seconds_before + time.time() - began > config.max_minutes * 60:
            bar.write(f"stopped at step {step + 1}: {config.max_minutes} minutes of training reached")
            break
    checkpoint(step + 1)
    writer.close()
    final = out / "final"
    export_pipeline(ema, vae, text_encoder, config, final)
    return final


def _single_thread_worker(_: int) -> None:
    torch.set_num_threads(1)


def export_pipeline(ema: DiT, vae, text_encoder, config: DiTTrainConfig, directory: Path):
    """Write a self-contained model directory (EMA weights, the VAE, pipeline.json)."""
    from tenku.pipeline import Pipeline, PipelineConfig

    sizes = sorted({(b.width, b.height) for b in config.buckets})
    max_frames = max(b.frames for b in config.buckets)
    pipeline_config = PipelineConfig(fps=config.fps, sizes=tuple(sizes), max_seconds=(max_frames - 1) / config.fps,
                                     text_encoder=config.text_encoder, text_clauses=config.text_clauses, vae="vae",
                                     flow=config.flow)
    pipeline = Pipeline(ema, vae, text_encoder, pipeline_config)
    pipeline.save_pretrained(directory)
    vae.save_pretrained(directory / "vae")
    return pipeline


def sample_and_evaluate(ema: DiT, vae, text_encoder, config: DiTTrainConfig, directory: Path) -> dict[str, float]:
    """Generate held-out prompts (world test split, canonical captions) at 64x64, 2 s; score them."""
    from tenku.eval import evaluate_video
    from tenku.io import write_video
    from tenku.pipeline import Pipeline, PipelineConfig
    from tenku.world import canonical_caption, parse_prompt, sample_scene

    was_training = ema.training
    pipeline = Pipeline(ema, vae, text_encoder, PipelineConfig(fps=config.fps, flow=config.flow, steps=20,
                                                               text_clauses=config.text_clauses))
    directory.mkdir(parents=True, exist_ok=True)
    totals: dict[str, list[float]] = {}
    for i in range(config.num_eval_samples):
        prompt = canonical_caption(sample_scene(i, seconds=2.0, split="test"))
        frames = pipeline.generate(prompt, seconds=2.0, size=(64, 64), seed=i)
        write_video(directory / f"{i:03d}.mp4", frames, config.fps)
        result = evaluate_video(frames, config.fps, parse_prompt(prompt))
        for k, v in _scalar_scores(result).items():
            totals.setdefault(k, []).append(v)
    ema.train(was_training)
    return {k: float(np.mean(v)) for k, v in totals.items()}


def _scalar_scores(result: dict) -> dict[str, float]:
    """Pass/fail per attribute of one `evaluate_video` result as 0/1 (attributes that do not apply
    are left out), plus the flicker value."""
    out = {name: float(a["pass"]) for name, a in result["attributes"].items() if a["pass"] is not None}
    out["flicker_value"] = float(result["flicker"])
    return out


def config_from_json(path: str | Path) -> DiTTrainConfig:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such config file")
    try:
        return DiTTrainConfig(**json.loads(path.read_text()))
    except (TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a valid DiT training config ({error})") from None
