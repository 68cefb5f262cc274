"""World clips encoded once by the frozen VAE, so DiT training needs no data worker.

Rendering and VAE-encoding fresh scenes for every step keeps one of a laptop's cores busy beside
the transformer (and on two hyperthreads of one core, slows it too). With a cache the clips are
made once, in parallel processes, and training draws batches from them: each draw picks the
clips, one of their captions (or the empty text, for guidance), and a conditioning mask anew, so
repeated clips still come in new combinations, and both cores train the transformer.

Layout of a cache directory:
    manifest.json                 the buckets, seed, clip counts and VAE weights it was built for
    b{bucket:02d}_{chunk:04d}.safetensors
                                  "latents" (n, C, T, h, w) bf16 of one bucket's chunk of clips;
                                  metadata "captions": JSON list (per clip) of caption lists
A build that was interrupted resumes: finished chunks are kept (each is written to a temporary
name and renamed into place), the rest are made.
"""

from __future__ import annotations

import hashlib
import json
import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from tenku.conditioning import latent_frames_for
from tenku.grounding import object_regions
from tenku.precision import use_bf16
from tenku.train_dit import draw_bucket, draw_scene, draw_text_and_mask

CHUNK_CLIPS = 64
_SEED_SALT = 7919  # keeps cache scenes apart from the step-drawn scenes of the same seed
_VAE = None  # (path, model) loaded once per worker process


def clips_per_bucket(buckets, total: int) -> list[int]:
    """`total` clips shared in proportion to how fast training consumes each bucket (weight x
    batch size), and never fewer than one batch."""
    rates = np.array([b.weight * b.batch_size for b in buckets], dtype=np.float64)
    return [max(b.batch_size, int(round(total * r / rates.sum()))) for b, r in zip(buckets, rates)]


def vae_fingerprint(vae) -> str:
    """A digest of the VAE's encoder weights and latent statistics: a cache holds one encoder's
    latents, and the same path may hold another VAE later. The decoder is left out, so a decoder
    fine-tuned on a frozen encoder (VAE v3, v4) reads the same cache."""
    digest = hashlib.sha256()
    for name, tensor in sorted(vae.state_dict().items()):
        if not name.startswith(("encoder.", "latent_")):
            continue
        digest.update(name.encode())
        digest.update(tensor.detach().float().contiguous().numpy().tobytes())
    return digest.hexdigest()[:20]


def _manifest(config, fingerprint: str) -> dict:
    manifest = {"seed": config.seed, "fps": config.fps, "vae": fingerprint,
                "buckets": [[b.frames, b.width, b.height] for b in config.buckets],
                "clips": clips_per_bucket(config.buckets, config.latent_cache)}
    if config.needs_regions:  # older caches (without this key) hold no object regions
        manifest["regions"] = True
    if config.object_mix is not None:  # older caches (without this key) follow the world's own mix
        manifest["object_mix"] = list(config.object_mix)
    return manifest


def _chunk_path(directory: Path, bucket: int, chunk: int) -> Path:
    return directory / f"b{bucket:02d}_{chunk:04d}.safetensors"


def _make_chunk(args) -> str:
    """Render, caption and encode one chunk (runs in a worker process, one thread)."""
    from tenku.data import to_tensor
    from tenku.models import load_vae
    from tenku.world import captions, render

    directory, config, bucket_index, (frames, width, height), chunk, count = args
    seed, fps, with_regions = config.seed, config.fps, config.needs_regions
    vae_path = None if config.vae is None else str(config.vae)
    global _VAE
    if _VAE is None or _VAE[0] != vae_path:
        _VAE = (vae_path, load_vae(vae_path))
    vae = _VAE[1]
    rng = np.random.default_rng([seed, _SEED_SALT, bucket_index, chunk])
    seconds = max(frames - 1, 1) / fps
    videos, texts, regions, colours = [], [], [], []
    for _ in range(count):
        scene = draw_scene(rng, config, seconds)
        rendered = render(scene, width, height, frames, fps)
        videos.append(to_tensor(rendered.frames))
        texts.append(captions(scene, rng))
        if with_regions:
            regions.append(object_regions(rendered.truth, (height // 8, width // 8)))
            colours.append([obj.color for obj in scene.objects])
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
        latents = vae.encode(torch.stack(videos))
    path = _chunk_path(Path(directory), bucket_index, chunk)
    partial = path.with_suffix(".partial")
    tensors = {"latents": latents.to(torch.bfloat16).contiguous()}
    metadata = {"captions": json.dumps(texts)}
    if with_regions:
        tensors["regions"] = torch.from_numpy(np.stack(regions))
        metadata["colours"] = json.dumps(colours)
    save_file(tensors, str(partial), metadata=metadata)
    partial.rename(path)
    return path.name


def build_cache(config, directory: str | Path, fingerprint: str, processes: int = 2, progress: bool = True) -> Path:
    """Make (or finish) the cache of `config.latent_cache` clips for `config.buckets` with the VAE
    at `config.vae` (whose `vae_fingerprint` is `fingerprint`), in `processes` spawned processes of
    one thread each (1: in this process)."""
    from tqdm import tqdm

    config = replace(config, bf16=use_bf16(config.bf16, "latent cache"))  # the encoding's precision
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = _manifest(config, fingerprint)
    manifest_path = directory / "manifest.json"
    if manifest_path.exists() and json.loads(manifest_path.read_text()) != manifest:
        raise ValueError(f"{directory} holds a latent cache built for other buckets, seed, VAE or size; "
                         f"delete it or point latent_cache_dir elsewhere")
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    jobs = []
    for index, (shape, clips) in enumerate(zip(manifest["buckets"], manifest["clips"])):
        for chunk in range(math.ceil(clips / CHUNK_CLIPS)):
            if not _chunk_path(directory, index, chunk).exists():
                count = min(CHUNK_CLIPS, clips - chunk * CHUNK_CLIPS)
                jobs.append((str(directory), config, index, tuple(shape), chunk, count))
    if processes <= 1:
        for job in tqdm(jobs, disable=not progress, desc="latent cache", dynamic_ncols=True):
            _make_chunk(job)
    elif jobs:
        with ProcessPoolExecutor(max_workers=processes, mp_context=get_context("spawn"),
                                 initializer=torch.set_num_threads, initargs=(1,)) as pool:
            for _ in tqdm(pool.map(_make_chunk, jobs), total=len(jobs), disable=not progress, desc="latent cache",
                          dynamic_ncols=True):
                pass
    return directory


class CachedLatentBatches:
    """Batches like `train_dit.WorldLatentBatches`, drawn from a built cache: a function of the step."""

    def __init__(self, config, directory: str | Path, fingerprint: str):
        self.config = config
        directory = Path(directory)
        manifest_path = directory / "manifest.json"
        manifest = _manifest(config, fingerprint)
        if not manifest_path.exists() or json.loads(manifest_path.read_text()) != manifest:
            raise ValueError(f"{directory}: no latent cache for this config and VAE; build it with build_cache")
        self.latents, self.captions, self.regions, self.colours = [], [], [], []
        with_regions = manifest.get("regions", False)
        for index, clips in enumerate(manifest["clips"]):
            parts, texts, regions, colours = [], [], [], []
            for chunk in range(math.ceil(clips / CHUNK_CLIPS)):
                path = _chunk_path(directory, index, chunk)
                if not path.exists():
                    raise ValueError(f"{directory}: the cache is incomplete ({path.name} missing); build it again to finish it")
                with safe_open(str(path), "pt") as f:
                    parts.append(f.get_tensor("latents"))
                    texts += json.loads(f.metadata()["captions"])
                    if with_regions:
                        regions.append(f.get_tensor("regions"))
                        colours += json.loads(f.metadata()["colours"])
            self.latents.append(torch.cat(parts))
            self.captions.append(texts)
            self.regions.append(torch.cat(regions) if with_regions else None)
            self.colours.append(colours)

    def __len__(self) -> int:
        return sum(len(c) for c in self.captions)

    def batch(self, step: int) -> dict:
        c = self.config
        rng = np.random.default_rng([c.seed, step])
        index = draw_bucket(rng, c)
        bucket = c.buckets[index]
        picks = rng.choice(len(self.captions[index]), size=bucket.batch_size, replace=False)
        t_lat = latent_frames_for(bucket.frames)
        texts, masks = zip(*(draw_text_and_mask(rng, c, self.captions[index][i], t_lat) for i in picks))
        batch = {"latents": self.latents[index][torch.from_numpy(picks)].float(), "texts": list(texts),
                 "cond_mask": torch.from_numpy(np.stack(masks)), "bucket": bucket}
        if self.regions[index] is not None:
            batch["regions"] = self.regions[index][torch.from_numpy(picks)]
            batch["colours"] = [self.colours[index][i] for i in picks]
        return batch
