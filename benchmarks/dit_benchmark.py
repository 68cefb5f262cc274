"""The shipped text-to-video model on held-out world prompts, scored by `tenku eval` from pixels,
plus generation wall time and the DiT's achieved FLOP/s while sampling and training, as a
fraction of this machine's bf16 matmul rate measured in the same run.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/dit_benchmark.py [--model DIR] [--num 64] [--out FILE.json]

Prompts come from world scenes of the *test* split (seeds never used in training), one sample
each: canonical phrasing at 64x64, paraphrased phrasing (held-out sentence forms and synonyms)
at 64x64, and canonical phrasing at 112x64 and 64x112. Clips are 2 s at 8 fps. The row
`vae_ceiling_64x64` scores the same scenes' true renders after a VAE round trip: the most a
perfect transformer could score through this VAE.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from dit_flops import forward_flops, matmul_peak  # noqa: E402

ATTRIBUTES = ("color", "shape", "motion", "count", "persistence", "physics", "flicker")
BARS = ATTRIBUTES[:5]
"""The issue's five quality bars (colour, shape, direction, count, persistence), whose mean ranks models."""


def score_set(pipeline, prompts: list[str], size: tuple[int, int], seconds: float, out_dir: Path | None) -> dict:
    from tenku.eval import evaluate_video
    from tenku.io import write_video
    from tenku.world import parse_prompt

    rows = []
    for i, prompt in enumerate(prompts):
        frames = pipeline.generate(prompt, seconds=seconds, size=size, seed=i)
        result = evaluate_video(frames, pipeline.config.fps, parse_prompt(prompt))
        if out_dir is not None:
            write_video(out_dir / f"{size[0]}x{size[1]}_{i:03d}.mp4", frames, pipeline.config.fps)
        rows.append(row_of(prompt, result))
    return summarize(rows)


def row_of(prompt: str, result: dict) -> dict:
    """One sample's verdicts, and per expected object its (expected, measured) motion."""
    checks = result["attributes"]["motion"].get("checks", [])
    return {"prompt": prompt, **{a: result["attributes"][a]["pass"] for a in ATTRIBUTES},
            "motions": [[c["expected"], c["measured"]] for c in checks]}


def motion_binding(rows: list[dict]) -> dict:
    """Whether motions go to the right objects: among samples with two or more objects, different
    expected motions and every object matched, those whose measured motions are exactly the
    prompt's motions, given either to the right objects or shuffled among them. A model that draws
    the right motions but ignores which object each belongs to shuffles about as often as not."""
    right = shuffled = 0
    for r in rows:
        pairs = r.get("motions") or []
        expected, measured = [e for e, _ in pairs], [m for _, m in pairs]
        if len(pairs) < 2 or len(set(expected)) < 2 or Counter(expected) != Counter(measured):
            continue
        right += expected == measured
        shuffled += expected != measured
    return {"right": right, "shuffled": shuffled}


def rate_cells(rates: dict) -> str:
    """One markdown row's cells: each attribute's pass rate in percent, n/a where none was judged."""
    return " | ".join("n/a" if rates[a] is None else f"{100 * rates[a]:.0f}%" for a in ATTRIBUTES)


def rates_of(rows: list[dict]) -> tuple[dict, dict]:
    """Pass rate and number judged per attribute over the rows' verdicts (None: not judged, left out)."""
    judged = {a: [bool(r[a]) for r in rows if r[a] is not None] for a in ATTRIBUTES}
    return {a: (float(np.mean(v)) if v else None) for a, v in judged.items()}, {a: len(v) for a, v in judged.items()}


def summarize(rows: list[dict]) -> dict:
    """Pass rates per attribute, overall and by the number of objects the prompt names (where
    text-to-video models usually break down: binding colours, shapes and motions to the right object)."""
    from tenku.world import parse_prompt

    rates, judged = rates_of(rows)
    counts = [len(parse_prompt(r["prompt"]).objects) for r in rows]
    by_objects = {str(n): rates_of([r for r, c in zip(rows, counts) if c == n])[0] | {"n": counts.count(n)}
                  for n in sorted(set(counts))}
    return {"rates": rates, "judged": judged, "by_objects": by_objects, "binding": motion_binding(rows), "samples": rows}


def vae_ceiling(vae, num: int, size: tuple[int, int], seconds: float, fps: float = 8.0, start: int = 0) -> dict:
    """Held-out world scenes (test split, seeds start..start+num-1) rendered, passed through the VAE
    and scored like samples against their canonical prompts: what a perfect transformer could score
    through this VAE's decoder. The raw renders score 100% on every attribute (checked at 64x64 on
    seeds 0-63 in session 20), so every failure here is the VAE's."""
    from tenku.eval import evaluate_video
    from tenku.vae import reconstruct_frames
    from tenku.world import canonical_caption, parse_prompt, render, sample_scene

    rows = []
    for i in range(start, start + num):
        scene = sample_scene(i, seconds=seconds, split="test")
        prompt = canonical_caption(scene)
        frames = render(scene, size[0], size[1], int(round(seconds * fps)) + 1, fps).frames
        result = evaluate_video(reconstruct_frames(vae, frames), fps, parse_prompt(prompt))
        rows.append(row_of(prompt, result))
    return summarize(rows)


def held_out_prompts(num: int, paraphrase: bool, start: int = 0) -> list[str]:
    from tenku.world import canonical_caption, paraphrase_prompt, sample_scene

    prompts = []
    for i in range(start, start + num):
        scene = sample_scene(i, seconds=2.0, split="test")
        prompts.append(paraphrase_prompt(scene, np.random.default_rng([7, i])) if paraphrase else canonical_caption(scene))
    return prompts


ONE_OBJECT = "a red ball bouncing on a black background"
TWO_OBJECTS = "a red ball bouncing and a blue square moving left on a black background"
"""Timed prompts: attention-guided sampling (`binding_guidance`) works only on prompts naming two
or more objects, and costs extra passes there."""


def generate_wall_time(model: str | None, prompt: str = ONE_OBJECT) -> float:
    """`tenku generate` of a 2 s 64x64 clip at default settings, as a user runs it (new process,
    model loading included)."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "tenku", "generate", prompt,
                   "-o", f"{tmp}/clip.mp4"] + (["--model", model] if model else [])
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        return time.perf_counter() - start


def sampling_flops(pipeline) -> dict:
    """Achieved DiT FLOP/s of the forward passes while sampling a 2 s 64x64 clip at default settings:
    the classifier-free-guided calls (batch 2) and attention-guided sampling's recording calls
    (batch 1; their backward passes are not timed or counted)."""
    latent = (5, 8, 8)
    config = pipeline.dit.config
    tokens = latent[0] * (latent[1] // config.patch_size[1]) * (latent[2] // config.patch_size[2])
    steps = pipeline.config.steps
    text, _ = pipeline.text_encoder.encode(["a red ball bouncing on a black background"])
    calls, batches = [], []

    def timed(*args, **kwargs):
        start = time.perf_counter()
        out = original(*args, **kwargs)
        calls.append(time.perf_counter() - start)
        batches.append(args[0].shape[0])
        return out

    original = pipeline.dit.forward
    pipeline.dit.forward = timed
    try:
        pipeline.sample_latents("a red ball bouncing on a black background", latent, steps=steps)
    finally:
        pipeline.dit.forward = original
    flops = forward_flops(config, tokens, text.shape[1]) * sum(batches)
    seconds = sum(calls)
    return {"dit_seconds": seconds, "calls": len(calls), "flops": flops, "flop_per_s": flops / seconds}


def training_flops(pipeline, batch: int = 8, repeats: int = 3) -> dict:
    """Achieved FLOP/s of a training step (forward + backward + AdamW) at the 2 s 64x64 bucket, in
    bf16 autocast as `tenku train dit` runs it, or in fp32 where this CPU emulates bf16 (as the trainer)."""
    from tenku.dit import DiT
    from tenku.precision import use_bf16

    bf16 = use_bf16(True, "training step")
    config = pipeline.dit.config
    model = DiT(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)  # as train_dit
    latent = (5, 8, 8)
    tokens = latent[0] * (latent[1] // config.patch_size[1]) * (latent[2] // config.patch_size[2])
    x = torch.randn(batch, config.in_channels, *latent)
    text = torch.randn(batch, 16, config.text_dim)
    mask = torch.ones(batch, 16, dtype=torch.bool)
    t = torch.rand(batch)
    durations = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            v = model(x, t, text, mask, cond=torch.zeros_like(x), cond_mask=torch.zeros(batch, latent[0]))
        v.float().square().mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i:
            durations.append(time.perf_counter() - start)
    seconds = float(np.median(durations))
    flops = 3 * forward_flops(config, tokens, 16) * batch
    return {"step_seconds": seconds, "batch": batch, "tokens_per_sample": tokens, "flop_per_s": flops / seconds,
            "dtype": "bfloat16" if bf16 else "float32"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--num", type=int, default=64, help="prompts per set at 64x64")
    parser.add_argument("--num-aspect", type=int, default=32, help="prompts per non-square size")
    parser.add_argument("--out", default=None, help="write the JSON report here")
    parser.add_argument("--videos", default=None, help="also write every sample to this folder")
    args = parser.parse_args()
    from tenku.pipeline import Pipeline

    torch.set_num_threads(2)
    videos = Path(args.videos) if args.videos else None
    if videos:
        videos.mkdir(parents=True, exist_ok=True)
    started = time.time()
    pipeline = Pipeline.from_pretrained(args.model)
    c = pipeline.config
    report = {"model": args.model or "shipped", "steps": c.steps, "guidance": c.guidance,
              "binding_guidance": c.binding_guidance, "binding_guidance_until": c.binding_guidance_until,
              "binding_motion": c.binding_motion, "binding_compact": c.binding_compact, "binding_steady": c.binding_steady,
              "binding_steady_objects": c.binding_steady_objects, "binding_steady_many": c.binding_steady_many,
              "binding_shape": c.binding_shape, "autoguidance": c.autoguidance,
              "autoguidance_model": c.autoguidance_model, "autoguidance_skip": c.autoguidance_skip,
              "autoguidance_until": c.autoguidance_until, "layout_candidates": c.layout_candidates,
              "layout_until": c.layout_until, "binding_shape_until": c.binding_shape_until,
              "binding_steady_gravity": c.binding_steady_gravity}

    def save() -> None:  # after every part, so that a stopped run keeps what it measured
        if args.out:
            Path(args.out).write_text(json.dumps(report, indent=2) + "\n")

    canonical = held_out_prompts(args.num, paraphrase=False)
    report["canonical_64x64"] = score_set(pipeline, canonical, (64, 64), 2.0, videos)
    save()
    report["paraphrased_64x64"] = score_set(pipeline, held_out_prompts(args.num, paraphrase=True), (64, 64), 2.0, None)
    save()
    for size in [(112, 64), (64, 112)]:
        report[f"canonical_{size[0]}x{size[1]}"] = score_set(pipeline, canonical[: args.num_aspect], size, 2.0, videos)
        save()
    report["vae_ceiling_64x64"] = vae_ceiling(pipeline.vae, args.num, (64, 64), 2.0, pipeline.config.fps)
    save()
    report["peak_bf16_matmul_flop_per_s"] = matmul_peak(torch.bfloat16)
    report["peak_fp32_matmul_flop_per_s"] = matmul_peak(torch.float32)
    report["sampling"] = sampling_flops(pipeline)
    report["training"] = training_flops(pipeline, batch=24)  # the 2 s 64x64 bucket of recipes/dit_continue.json
    save()
    report["generate_2s_64x64_wall_seconds"] = generate_wall_time(args.model)
    report["generate_2s_64x64_two_objects_wall_seconds"] = generate_wall_time(args.model, TWO_OBJECTS)
    report["benchmark_minutes"] = (time.time() - started) / 60
    save()
    peak, fp32_peak = report["peak_bf16_matmul_flop_per_s"], report["peak_fp32_matmul_flop_per_s"]

    print("| set | n | colour | shape | direction | count | persistence | physics | flicker |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for key in [k for k in report if k.startswith(("canonical", "paraphrased", "vae_ceiling"))]:
        print(f"| {key} | {len(report[key]['samples'])} | {rate_cells(report[key]['rates'])} |")
    print("\nBy the number of objects in the prompt:\n")
    print("| set | objects | n | colour | shape | direction | count | persistence | physics | flicker |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for key in ("canonical_64x64", "vae_ceiling_64x64"):
        for objects, r in report[key]["by_objects"].items():
            print(f"| {key} | {objects} | {r['n']} | {rate_cells(r)} |")
    print("\nMotion binding (samples whose measured motions are the prompt's, 2-3 objects with different motions):\n")
    for key in [k for k in report if k.startswith(("canonical", "paraphrased", "vae_ceiling"))]:
        b = report[key]["binding"]
        print(f"- {key}: {b['right']} to the right objects, {b['shuffled']} shuffled among them")
    s, t = report["sampling"], report["training"]
    print(f"\n`tenku generate` 2 s 64x64, default settings, model loading included: "
          f"{report['generate_2s_64x64_wall_seconds']:.1f} s wall (one object), "
          f"{report['generate_2s_64x64_two_objects_wall_seconds']:.1f} s (two objects)")
    print(f"matmul peaks measured in this run: bf16 {peak / 1e9:.0f} GFLOP/s, fp32 {fp32_peak / 1e9:.0f} GFLOP/s")
    print(f"DiT sampling (fp32): {s['flop_per_s'] / 1e9:.1f} GFLOP/s = {100 * s['flop_per_s'] / peak:.1f}% of the bf16 "
          f"peak, {100 * s['flop_per_s'] / fp32_peak:.1f}% of fp32's ({s['calls']} calls, {s['dit_seconds']:.2f} s)")
    own = peak if t["dtype"] == "bfloat16" else fp32_peak
    print(f"DiT training step ({t['dtype']}, batch {t['batch']} x {t['tokens_per_sample']} tokens): "
          f"{t['step_seconds']:.2f} s, {t['flop_per_s'] / 1e9:.1f} GFLOP/s = {100 * t['flop_per_s'] / peak:.1f}% of the "
          f"bf16 peak, {100 * t['flop_per_s'] / own:.1f}% of its own dtype's")


if __name__ == "__main__":
    main()
