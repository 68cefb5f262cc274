"""`tenku eval`: judge videos against prompts or ground truth, or check the benchmark itself."""

from __future__ import annotations

import argparse


def add_eval_command(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="world-simulation benchmark: judge videos from pixels",
        description=(
            "Judge videos from their pixels: colour, shape, size, count, motion, persistence, physical "
            "plausibility and flicker. TARGET is a directory holding index.jsonl, an index file (one JSON per "
            "line: video, caption or prompt, optional objects ground truth), or one video with --prompt. "
            "--selftest renders world scenes and checks the benchmark against their ground truth."
        ),
    )
    parser.add_argument("target", nargs="?", help="DIR, DIR/index.jsonl, or a video file (with --prompt)")
    parser.add_argument("--prompt", help="what the single video should show")
    parser.add_argument("--out", help="write the JSON report here")
    parser.add_argument("--limit", type=int, help="evaluate only the first N videos of an index")
    parser.add_argument("--selftest", action="store_true", help="render world scenes and check agreement with truth")
    parser.add_argument("--num", type=int, default=40, help="selftest scenes (default 40)")
    parser.add_argument("--seed", type=int, default=0, help="selftest first seed (default 0)")
    parser.add_argument("--failures", type=int, default=10, help="list up to N failed attributes (default 10)")
    parser.set_defaults(handler=_eval_command)


def _eval_command(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from tenku.eval.report import evaluate_index, failures, format_table, summarize
    from tenku.eval.selftest import MIN_AGREEMENT, run_selftest

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\r{done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)

    if args.selftest:
        if args.target or args.prompt:
            raise ValueError("--selftest takes no TARGET or --prompt")
        if args.num < 1:
            raise ValueError(f"--num must be >= 1, got {args.num}")
        if args.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {args.seed}")
        report = run_selftest(args.num, args.seed, progress=progress)
        seeds = f"{args.seed}..{args.seed + args.num - 1}"
        title = f"tenku eval --selftest (seeds {seeds}, test split, every other clip via mp4)"
    elif args.target is None:
        raise ValueError("give a TARGET (DIR, index file or video) or --selftest")
    elif args.prompt is not None:
        from tenku.eval.metrics import evaluate_video
        from tenku.io import read_video

        video = read_video(args.target)
        result = evaluate_video(video.frames, video.fps, args.prompt)
        videos = [
            {"video": str(Path(args.target).resolve()), "prompt": args.prompt, "expected_from": "prompt", **result}
        ]
        report = {"videos": videos, "summary": summarize(videos)}
        title = f"tenku eval {args.target}"
    else:
        target = Path(args.target)
        if target.is_file() and target.suffix != ".jsonl":
            raise ValueError(f"{target} is a video: give --prompt to say what it should show, or pass an index")
        report = evaluate_index(target, limit=args.limit, progress=progress)
        title = f"tenku eval {args.target}"

    print(format_table(report["summary"], title))
    if "coverage" in report:
        for key, counts in report["coverage"].items():
            print(f"  {key}: " + ", ".join(f"{name} {n}" for name, n in counts.items()))
    for line in failures(report["videos"], args.failures):
        print(f"  FAIL {line}")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {out}")
    if args.selftest:
        agreement = report["summary"]["agreement"] or 0.0
        verdict = "PASS" if agreement >= MIN_AGREEMENT else "FAIL"
        print(f"selftest agreement {100 * agreement:.2f}% (needs >= {100 * MIN_AGREEMENT:.0f}%): {verdict}")
        return 0 if agreement >= MIN_AGREEMENT else 1
    return 0
