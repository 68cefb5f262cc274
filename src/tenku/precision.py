"""Whether this CPU runs bf16 matmuls natively, measured rather than guessed from CPU flags.

bf16 autocast makes training about 1.8x faster on CPUs with AVX-512 BF16 or AMX, but where bf16 is
emulated it is two orders of magnitude slower than fp32 (an AMD EPYC with AVX2 but no
AVX-512, session 35: fp32 77 GFLOP/s on one thread, bf16 1.3 GFLOP/s at 512 x 512 and 0.28 at 4096 x
4096), so a recipe that asks for bf16 on such a CPU would take days instead of hours. The trainers
ask `use_bf16` and train in fp32 there, saying so.
"""

from __future__ import annotations

import functools
import sys
import time

import torch

SLOWER_THAN_FP32 = 0.5
"""bf16 is taken as emulated when a bf16 matmul runs at under this fraction of fp32's speed
(natively it runs at about 2.4x; emulated, under 0.02x)."""


def best_matmul_seconds(a: torch.Tensor, b: torch.Tensor, repeats: int) -> float:
    """The fastest of `repeats` timed a @ b, after one untimed."""
    a @ b  # warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return best


@functools.cache
def bf16_speedup(size: int = 256, repeats: int = 3) -> float:
    """fp32 seconds / bf16 seconds of one size x size matmul on this CPU (best of `repeats`):
    above 1 where bf16 is native, far below 1 where it is emulated. About 0.1 s where emulated."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(size, size, generator=g), torch.randn(size, size, generator=g)
    fp32 = best_matmul_seconds(a, b, repeats)
    bf16 = best_matmul_seconds(a.bfloat16(), b.bfloat16(), repeats)
    return fp32 / bf16


def use_bf16(requested: bool, what: str) -> bool:
    """`requested`, unless this CPU emulates bf16: then False, with a line on stderr naming `what`."""
    if not requested:
        return False
    speedup = bf16_speedup()
    if speedup >= SLOWER_THAN_FP32:
        return True
    print(f"{what}: this CPU has no native bf16 matmul (bf16 measured {1 / speedup:.0f}x slower than fp32), "
          f"so it runs in fp32 instead of bf16 autocast", file=sys.stderr)
    return False
