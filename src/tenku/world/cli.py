"""`tenku world render`: write world clips as mp4 plus an index.jsonl of captions and truth."""

from __future__ import annotations

import argparse


def add_world_commands(subparsers) -> None:
    world = subparsers.add_parser("world", help="the procedural world: render training/benchmark clips")
    commands = world.add_subparsers(dest="world_command", metavar="SUBCOMMAND", required=True)
    render = commands.add_parser(
        "render",
        help="render N clips to DIR as mp4 with DIR/index.jsonl",
        description=(
            "Render N world scenes (seeds S, S+1, ...) as mp4 files and write DIR/index.jsonl, one JSON object "
            "per clip: video, caption (canonical), captions, size, fps, frames, background, camera, seed, split "
            "and per-object color/shape/size/motion with per-frame track [x, y] px, visible fraction and radius px. "
            "Clips have round(seconds * fps) + 1 frames."
        ),
    )
    render.add_argument("--num", type=int, required=True, metavar="N", help="number of clips")
    render.add_argument("--out", required=True, metavar="DIR", help="output directory (created if missing)")
    render.add_argument("--seed", type=int, default=0, metavar="S", help="first scene seed (default 0)")
    render.add_argument("--size", default="64x64", metavar="WxH", help="multiples of 8 from 32 to 256 (default 64x64)")
    render.add_argument("--seconds", type=float, default=2.0, metavar="S", help="clip duration (default 2)")
    render.add_argument("--fps", type=float, default=8.0, metavar="F", help="frames per second (default 8)")
    render.add_argument("--split", default="train", metavar="SPLIT", help="train or test: disjoint scene streams (default train)")
    render.set_defaults(handler=_render_command)


def parse_size(text: str) -> tuple[int, int]:
    """Parse and validate "WxH", e.g. "64x48" -> (64, 48)."""
    from tenku.world.render import check_size

    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"--size must look like WxH, e.g. 64x64, got {text!r}")
    width, height = int(parts[0]), int(parts[1])
    check_size(width, height)
    return width, height


def _render_command(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import numpy as np

    from tenku.io import write_video
    from tenku.world.captions import canonical_caption, captions
    from tenku.world.render import render, truth_to_json
    from tenku.world.scene import SPLITS, num_frames_for, sample_scene

    width, height = parse_size(args.size)
    if args.num < 1:
        raise ValueError(f"--num must be >= 1, got {args.num}")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    if args.split not in SPLITS:
        raise ValueError(f"--split must be one of {', '.join(SPLITS)}, got {args.split!r}")
    if not args.seconds > 0:
        raise ValueError(f"--seconds must be > 0, got {args.seconds}")
    num_frames = num_frames_for(args.seconds, args.fps)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "index.jsonl", "w") as index:
        for seed in range(args.seed, args.seed + args.num):
            scene = sample_scene(seed, seconds=args.seconds, split=args.split)
            clip = render(scene, width, height, num_frames, args.fps)
            name = f"{args.split}_{seed:06d}.mp4"
            write_video(out / name, clip.frames, args.fps)
            # Caption variety is seeded by the scene, so the index is reproducible.
            texts = captions(scene, np.random.default_rng([SPLITS[args.split], seed, 1]))
            record = {"video": name, "caption": canonical_caption(scene), "captions": texts, **truth_to_json(clip.truth)}
            index.write(json.dumps(record) + "\n")
    clips = "clip" if args.num == 1 else "clips"
    print(f"wrote {args.num} {clips} ({width}x{height}, {num_frames} frames at {args.fps:g} fps) and {out / 'index.jsonl'}")
    return 0
