"""Training-step cost of the shipped DiT on this CPU: parameters, forward+backward time in bf16
autocast, achieved matmul FLOP/s, and that as a fraction of a large bf16 matmul's rate measured in
the same run (the practical peak).

    python benchmarks/dit_flops.py [--threads 2] [--batch 8] [--steps 3]

FLOPs are counted analytically (2 per multiply-add; backward = 2 x forward) and cross-checked with
torch's FlopCounterMode. The optimizer step is not timed: AdamW on 27M parameters is ~0.1 s.

On a machine shared with other busy processes, OpenMP's spin-waiting threads lose whole scheduler
slices at every barrier and two threads can be 3x slower than one; run with
`OMP_WAIT_POLICY=PASSIVE` (it must be set before torch starts) or `--threads 1` there.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from tenku.dit import DiT, DiTConfig, dit_small
from tenku.precision import best_matmul_seconds

# (latent frames, latent height, latent width): 13 frames at 96x96 and 33 frames at 128x128 pixels
# through a 4x temporal, 8x spatial VAE, patches (1, 2, 2): 144 and 576 tokens
LATENTS = {"144 tokens": (4, 12, 12), "576 tokens": (9, 16, 16)}
TEXT_TOKENS = 24


def forward_flops(config: DiTConfig, num_tokens: int, text_tokens: int) -> float:
    """Matmul FLOPs of one sample's forward pass."""
    n, l, w, d = num_tokens, text_tokens, config.width, config.depth
    hidden = int(w * config.mlp_ratio)
    per_block = (
        2 * n * w * 3 * w + 4 * n * n * w + 2 * n * w * w  # self-attention: qkv, q k^T and a v, out
        + 2 * n * w * w + 2 * l * w * 2 * w + 4 * n * l * w + 2 * n * w * w  # cross-attention: q, kv, scores, out
        + 4 * n * w * hidden  # MLP
        + 2 * w * 6 * w  # adaLN, once per sample
    )
    embed = 2 * n * config.patch_dim * w * 2  # patch embedding and output projection
    conditioning = 2 * (config.frequency_dim * w + w * w) + 2 * (config.text_dim * w + w * w) * (1 + l) + 2 * w * 2 * w
    return d * per_block + embed + conditioning


def matmul_peak(dtype: torch.dtype = torch.bfloat16, max_size: int = 4096, repeats: int = 3,
                budget_s: float = 1.0) -> float:
    """FLOP/s of a square matmul, its size doubled from 512 up to `max_size` while the next size
    would take under `budget_s` (8x this one): 4096 where the dtype is native, 512 where it is
    emulated (bf16 on a CPU without AVX-512 BF16 took 483 s a matmul at 4096, session 35)."""
    size = 512
    while True:
        best = best_matmul_seconds(torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype), repeats)
        if size >= max_size or best * 8 > budget_s:
            return 2 * size**3 / best
        size *= 2


def time_step(
    model: DiT, latent: tuple[int, int, int], batch: int, steps: int, dtype: torch.dtype
) -> tuple[float, float, float]:
    """Median wall and process-CPU seconds of a forward+backward step, and FlopCounterMode's count.
    On a shared machine CPU time is the steadier figure; with one thread it is what an idle core
    would take (with more threads it also counts their waiting)."""
    cfg = model.config
    g = torch.Generator().manual_seed(0)
    x_t = torch.randn(batch, cfg.in_channels, *latent, generator=g)
    t = torch.rand(batch, generator=g)
    text = torch.randn(batch, TEXT_TOKENS, cfg.text_dim, generator=g)
    mask = torch.ones(batch, TEXT_TOKENS, dtype=torch.bool)
    target = torch.randn_like(x_t)

    def step() -> None:
        with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            v = model(x_t, t, text, mask)
        (v.float() - target).square().mean().backward()
        model.zero_grad(set_to_none=True)

    with FlopCounterMode(display=False) as counter:
        step()  # also the warm-up
    wall, cpu = [], []
    for _ in range(steps):
        start, start_cpu = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu), float(counter.get_total_flops())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)

    torch.manual_seed(0)
    model = DiT(dit_small()).train()
    cfg = model.config
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other processes slow every figure below)")
    print(f"dit_small: width {cfg.width}, depth {cfg.depth}, heads {cfg.num_heads}, patch {cfg.patch_size}")
    print(f"parameters: {model.num_params() / 1e6:.2f}M, of which per-token: {model.num_params(per_token_only=True) / 1e6:.2f}M")
    peak = matmul_peak(torch.bfloat16)
    print(f"bf16 matmul peak (up to 4096^3, {args.threads} threads): {peak / 1e9:.0f} GFLOP/s")
    for name, latent in LATENTS.items():
        num_tokens = math.prod(s // p for s, p in zip(latent, cfg.patch_size))
        seconds, cpu_seconds, counted = time_step(model, latent, args.batch, args.steps, dtype)
        analytic = 3 * args.batch * forward_flops(cfg, num_tokens, TEXT_TOKENS)
        rate = analytic / seconds
        print(
            f"{name} (latent {latent}, batch {args.batch}, {args.dtype}): {seconds:.2f} s/step "
            f"(CPU time {cpu_seconds:.2f} s), "
            f"{analytic / 1e9:.0f} GFLOP/step (FlopCounterMode: {counted / 1e9:.0f}), "
            f"{rate / 1e9:.0f} GFLOP/s = {rate / peak:.0%} of peak, "
            f"{args.batch * num_tokens / seconds:.0f} tokens/s"
        )


if __name__ == "__main__":
    main()
