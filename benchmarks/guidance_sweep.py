"""Choose the shipped model's default guidance (and steps, sampling time shift) on a tuning set of held-out prompts,
disjoint from the ones `dit_benchmark.py` reports on, so the reported scores are not tuned on.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/guidance_sweep.py [--model DIR] [--num 32] \\
        [--guidance 3 4 6 8] [--steps 30] [--sampler euler heun] \\
        [--binding-guidance 0 0.05 0.1] [--binding-until 0.6] [--binding-motion 0 1] [--binding-compact 0 1] [--binding-steady 0 1] \\
        [--binding-steady-objects 1 any] [--binding-steady-many 0 0.3] [--binding-shape 0 1] [--min-objects 2] \\
        [--autoguidance 0 1 --autoguidance-model DIR | --autoguidance-skip 4 2,3] [--autoguidance-until 0.5]

Prompts: canonical captions of test-split scenes with seeds 10,000 onwards (the benchmark uses
seeds 0..63); 2 s at 64x64, one sample each, scored by `tenku eval`. `--min-objects 2` keeps the
prompts that name two or more objects, the only ones attention-guided sampling changes. Prints one row per setting
and the mean of colour, shape, direction, count and persistence, the issue's five bars.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from dit_benchmark import ATTRIBUTES, BARS, held_out_prompts, rate_cells, score_set  # noqa: E402

TUNING_START = 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--num", type=int, default=32)
    parser.add_argument("--guidance", type=float, nargs="+", default=[None], help="default: the model's")
    parser.add_argument("--steps", type=int, nargs="+", default=[None])
    parser.add_argument("--base-shift", type=float, nargs="+", default=[None],
                        help="sampling time shift at the flow's base_tokens (default: the model's)")
    parser.add_argument("--sampler", nargs="+", default=[None], choices=["euler", "heun"],
                        help="sampler (default: the model's); heun evaluates the model about twice a step")
    parser.add_argument("--binding-guidance", type=float, nargs="+", default=[None],
                        help="attention-guided sampling step (PipelineConfig.binding_guidance; default: the model's)")
    parser.add_argument("--binding-until", type=float, nargs="+", default=[None],
                        help="lowest t it acts at (PipelineConfig.binding_guidance_until; default: the model's)")
    parser.add_argument("--binding-motion", type=float, nargs="+", default=[None],
                        help="weight of its motion term (PipelineConfig.binding_motion; default: the model's)")
    parser.add_argument("--binding-compact", type=float, nargs="+", default=[None],
                        help="weight of its one-place term (PipelineConfig.binding_compact; default: the model's)")
    parser.add_argument("--binding-steady", type=float, nargs="+", default=[None],
                        help="weight of its steady-size term (PipelineConfig.binding_steady; default: the model's)")
    parser.add_argument("--binding-steady-objects", type=_objects, nargs="+", default=[None],
                        help="most objects a prompt may name for the steady-size term, or 'any' "
                             "(PipelineConfig.binding_steady_objects; default: the model's)")
    parser.add_argument("--binding-steady-many", type=float, nargs="+", default=[None],
                        help="the steady-size term's weight past binding_steady_objects "
                             "(PipelineConfig.binding_steady_many; default: the model's)")
    parser.add_argument("--binding-shape", type=float, nargs="+", default=[None],
                        help="weight of its shape term (PipelineConfig.binding_shape; default: the model's)")
    parser.add_argument("--autoguidance", type=float, nargs="+", default=[None],
                        help="autoguidance weight (PipelineConfig.autoguidance; default: the model's)")
    parser.add_argument("--autoguidance-model", default=None,
                        help="the weaker transformer's directory for --autoguidance (default: the model's)")
    parser.add_argument("--autoguidance-skip", type=_blocks, nargs="+", default=[None],
                        help="blocks whose self-attention the weak model leaves out, comma-separated, e.g. 4 or 2,3 "
                             "(PipelineConfig.autoguidance_skip; default: the model's)")
    parser.add_argument("--autoguidance-until", type=float, nargs="+", default=[None],
                        help="autoguidance only at steps with t >= this (PipelineConfig.autoguidance_until; "
                             "default: the model's)")
    parser.add_argument("--layout-candidates", type=int, nargs="+", default=[None],
                        help="starting noises ranked by their guided steps' loss (PipelineConfig.layout_candidates; "
                             "default: the model's)")
    parser.add_argument("--layout-until", type=float, nargs="+", default=[None],
                        help="layout candidates are ranked at this time (PipelineConfig.layout_until; default: the model's)")
    parser.add_argument("--binding-shape-until", type=float, nargs="+", default=[None],
                        help="the shape term alone down to this time (PipelineConfig.binding_shape_until; default: the model's)")
    parser.add_argument("--binding-steady-gravity", type=float, nargs="+", default=[None],
                        help="the steady-size term's weight on bouncing and falling objects of prompts naming more "
                             "than binding_steady_objects (PipelineConfig.binding_steady_gravity; default: the model's)")
    parser.add_argument("--offset", type=int, default=0, help=f"first prompt's seed less {TUNING_START:,}")
    parser.add_argument("--max-objects", type=int, default=3, help="keep prompts naming at most this many objects")
    parser.add_argument("--min-objects", type=int, default=1, help="keep prompts naming at least this many objects")
    parser.add_argument("--out", default=None, help="write the JSON report here")
    args = parser.parse_args()
    from tenku.pipeline import Pipeline

    torch.set_num_threads(2)
    pipeline = Pipeline.from_pretrained(args.model)
    base = pipeline.config
    if args.autoguidance_model:
        from tenku.pipeline import load_transformer

        pipeline.weak = load_transformer(args.autoguidance_model).eval()
        base = dataclasses.replace(base, autoguidance_model=str(Path(args.autoguidance_model).resolve()))
    from tenku.world import parse_prompt

    prompts = held_out_prompts(args.num, paraphrase=False, start=TUNING_START + args.offset)
    prompts = [p for p in prompts if args.min_objects <= len(parse_prompt(p).objects) <= args.max_objects]
    rows = []
    print(f"{len(prompts)} prompts")
    # config field -> the values to try (None: the model's own)
    knobs = {"guidance": args.guidance, "steps": args.steps, "sampler": args.sampler,
             "binding_guidance": args.binding_guidance, "binding_guidance_until": args.binding_until,
             "binding_motion": args.binding_motion, "binding_compact": args.binding_compact,
             "binding_steady": args.binding_steady,
             "binding_steady_objects": args.binding_steady_objects,
             "binding_steady_many": args.binding_steady_many,
             "binding_shape": args.binding_shape, "autoguidance": args.autoguidance,
             "autoguidance_skip": args.autoguidance_skip, "autoguidance_until": args.autoguidance_until,
             "layout_candidates": args.layout_candidates, "layout_until": args.layout_until,
             "binding_shape_until": args.binding_shape_until, "binding_steady_gravity": args.binding_steady_gravity}
    print(f"| {' | '.join(knobs)} | base shift | {' | '.join(ATTRIBUTES)} | mean of the five bars | s per clip |")
    print("| --- " * (len(ATTRIBUTES) + len(knobs) + 3) + "|")
    for shift, *values in itertools.product(args.base_shift, *knobs.values()):
        flow = dataclasses.replace(base.flow, base_shift=shift or base.flow.base_shift)
        chosen = {name: value for name, value in zip(knobs, values) if value is not None}
        if chosen.get("binding_steady_objects") == "any":
            chosen["binding_steady_objects"] = None
        pipeline.config = c = dataclasses.replace(base, flow=flow, **chosen)
        start = time.perf_counter()
        scored = score_set(pipeline, prompts, (64, 64), 2.0, None)
        rates = scored["rates"]
        seconds = (time.perf_counter() - start) / len(prompts)
        mean = float(np.mean([rates[a] for a in BARS if rates[a] is not None]))
        setting = {name: getattr(c, name) for name in knobs}
        rows.append({**setting, "base_shift": flow.base_shift, "rates": rates, "mean": mean, "seconds_per_clip": seconds,
                     "samples": scored["samples"]})  # per-prompt verdicts, for compare_models.py
        print(f"| {' | '.join(f'{v:g}' if isinstance(v, float) else _cell(v) for v in setting.values())} | "
              f"{flow.base_shift:g} | {rate_cells(rates)} | {100 * mean:.1f}% | {seconds:.1f} |", flush=True)
    best = max(rows, key=lambda r: r["mean"])
    print("best: " + ", ".join(f"{k} {v}" for k, v in best.items() if k not in ("rates", "seconds_per_clip", "samples")))
    if args.out:
        Path(args.out).write_text(json.dumps({"model": args.model or "shipped", "prompts": len(prompts),
                                              "autoguidance_model": base.autoguidance_model,
                                              "rows": rows, "best": best}, indent=2) + "\n")


def _cell(value) -> str:
    return (",".join(map(str, value)) or "none") if isinstance(value, tuple) else str(value)


def _blocks(value: str) -> tuple[int, ...]:
    """An `--autoguidance-skip` value: block numbers, comma-separated."""
    try:
        return tuple(int(v) for v in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"block numbers separated by commas, got {value!r}") from None


def _objects(value: str) -> int | str:
    """A `--binding-steady-objects` value: 'any', or a whole number >= 1."""
    if value == "any":
        return value
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"'any' or a whole number >= 1, got {value!r}")
    return int(value)


if __name__ == "__main__":
    main()
