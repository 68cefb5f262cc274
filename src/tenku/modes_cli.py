"""`tenku animate`, `extend`, `connect`, `loop` and `edit`, and the long-video path of `tenku generate`.

Inputs may be any image or video tenku.io reads, at any size and frame rate: they are fitted to the
model (nearest supported aspect ratio, centre crop, resize; nearest-in-time frames at the model's
fps; see `tenku.conditioning`), and the output is at the model's size and fps.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tenku.generate_cli import Progress, _check_output, _sampling_arguments, load_pipeline, parse_size, preflight


def add_mode_commands(commands: argparse._SubParsersAction) -> None:
    animate = commands.add_parser("animate", help="image to video: the video starts from the image")
    animate.add_argument("image", metavar="IMAGE", help="image (or video: its first frame)")
    animate.add_argument("prompt", metavar="PROMPT")
    _output_arguments(animate, seconds_help="length of the video (default 2)")
    animate.set_defaults(handler=_animate)

    extend = commands.add_parser("extend", help="add seconds after a video (or before it, --backward)")
    extend.add_argument("video", metavar="VIDEO")
    extend.add_argument("prompt", metavar="PROMPT")
    _output_arguments(extend, seconds_help="seconds to add (default 2; longer than one window slides)")
    extend.add_argument("--backward", action="store_true", help="add the new seconds before the video")
    extend.set_defaults(handler=_extend)

    connect = commands.add_parser("connect", help="a transition from the end of VIDEO_A to the start of VIDEO_B")
    connect.add_argument("video_a", metavar="VIDEO_A", help="video (or image) the transition starts from")
    connect.add_argument("video_b", metavar="VIDEO_B", help="video the transition leads into")
    connect.add_argument("prompt", metavar="PROMPT")
    _output_arguments(connect, seconds_help="length of the transition (default 2; whole latent frames, 0.5 s at 8 fps)")
    connect.add_argument("--join", action="store_true", help="write VIDEO_A + transition + VIDEO_B")
    connect.set_defaults(handler=_connect)

    loop = commands.add_parser("loop", help="a video whose last frame flows into its first")
    loop.add_argument("prompt", metavar="PROMPT")
    _output_arguments(loop, seconds_help="loop period (default 2; 1 + 4n frames at 8 fps, at least 9)", size=(64, 64))
    loop.set_defaults(handler=_loop)

    edit = commands.add_parser("edit", help="re-render a video under a new prompt, keeping its layout and motion (SDEdit)")
    edit.add_argument("video", metavar="VIDEO", help="video (or image), at most one window long (4 s)")
    edit.add_argument("prompt", metavar="PROMPT")
    _output_arguments(edit, seconds_help=None)
    edit.add_argument("--strength", type=float, default=0.5,
                      help="noise level in (0, 1] to edit from: low keeps more of the input (default 0.5)")
    edit.set_defaults(handler=_edit)


def _output_arguments(parser: argparse.ArgumentParser, seconds_help: str | None, size=None) -> None:
    parser.add_argument("-o", "--output", default="tenku.mp4", help="output .mp4 (default tenku.mp4)")
    if seconds_help is not None:
        parser.add_argument("--seconds", type=float, default=2.0, help=seconds_help)
    parser.add_argument("--size", type=parse_size, default=size,
                        help="WIDTHxHEIGHT" + (" (default 64x64)" if size else
                                               " (default: the supported size nearest the input's aspect ratio)"))
    parser.add_argument("--sampler", default=None, choices=["euler", "heun"])
    _sampling_arguments(parser)


def _run(args: argparse.Namespace, inputs: list[str], method: str, *positional, **options) -> int:
    """Check the output, the request and the inputs (before the model loads), run one pipeline
    mode, write the video."""
    from tenku.io import probe_video, write_video

    output = _check_output(Path(args.output), {".mp4"}, inputs)
    preflight(args, args.prompt, seconds=getattr(args, "seconds", None), sampler=args.sampler)
    for path in inputs:
        probe_video(path)  # a missing or unreadable input fails now, naming the file
    started = time.time()
    pipeline = load_pipeline(args)
    with Progress() as progress:
        frames = getattr(pipeline, method)(*positional, size=args.size, seed=args.seed, steps=args.steps,
                                           guidance=args.guidance, sampler=args.sampler, callback=progress, **options)
    write_video(output, frames, pipeline.config.fps)
    print(f"{output}  ({frames.shape[0]} frames, {frames.shape[2]}x{frames.shape[1]}, "
          f"{pipeline.config.fps:g} fps, {time.time() - started:.1f} s)")
    return 0


def _animate(args: argparse.Namespace) -> int:
    return _run(args, [args.image], "animate", args.image, args.prompt, seconds=args.seconds)


def _extend(args: argparse.Namespace) -> int:
    return _run(args, [args.video], "extend", args.video, args.prompt, seconds=args.seconds, backward=args.backward)


def _connect(args: argparse.Namespace) -> int:
    return _run(args, [args.video_a, args.video_b], "connect", args.video_a, args.video_b, args.prompt,
                seconds=args.seconds, join=args.join)


def _loop(args: argparse.Namespace) -> int:
    return _run(args, [], "loop", args.prompt, seconds=args.seconds)


def _edit(args: argparse.Namespace) -> int:
    if not 0 < args.strength <= 1:  # before the model loads
        raise ValueError(f"--strength must be in (0, 1], got {args.strength:g}")
    return _run(args, [args.video], "edit", args.video, args.prompt, strength=args.strength)


def generate_long_to_file(args: argparse.Namespace, pipeline, output: Path, started: float) -> int:
    """`tenku generate` beyond one window: chunks stream into the mp4 as windows finish."""
    from tenku.io import VideoWriter

    progress = Progress()
    chunks = pipeline.generate_long(args.prompt, args.seconds, size=args.size, fps=args.fps, seed=args.seed,
                                    steps=args.steps, guidance=args.guidance, sampler=args.sampler,
                                    callback=progress)
    with progress, VideoWriter(output, pipeline.config.fps) as writer:
        for chunk in chunks:
            writer.write(chunk)
    print(f"{output}  ({writer.num_frames} frames, {args.size[0]}x{args.size[1]}, "
          f"{pipeline.config.fps:g} fps, {time.time() - started:.1f} s)")
    return 0
