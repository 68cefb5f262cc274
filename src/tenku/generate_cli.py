"""`tenku generate`, `tenku image` and `tenku train dit`."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like WIDTHxHEIGHT (e.g. 64x64), got {text!r}") from None
    return width, height


def _sampling_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    parser.add_argument("--guidance", type=float, default=None, help="classifier-free guidance (default: the model's)")
    parser.add_argument("--binding-guidance", type=float, default=None,
                        help="attention-guided sampling step for prompts that name their objects by colour (in edit, "
                             "its own step); 0 turns it off (default: the model's)")
    parser.add_argument("--literal-prompt", action="store_true",
                        help="encode the prompt exactly as written: do not read unknown colour names "
                             "(\"sapphire\") as the nearest colour the model knows")
    parser.add_argument("--model", default=None, help="model directory (default: the shipped model)")


def load_pipeline(args: argparse.Namespace):
    """The pipeline of `--model`, with `--binding-guidance` (both steps) and `--literal-prompt` applied to its
    settings; says how it reads the prompt where that differs from what was written."""
    from tenku.pipeline import Pipeline

    pipeline = Pipeline.from_pretrained(args.model)
    if args.binding_guidance is not None:  # edits have a step of their own (`edit_binding`); the flag sets both
        pipeline.config = dataclasses.replace(pipeline.config, binding_guidance=args.binding_guidance,
                                              edit_binding=args.binding_guidance)
    if args.literal_prompt:
        pipeline.config = dataclasses.replace(pipeline.config, colour_names=False)
    reading = pipeline.read_prompt(args.prompt)
    if reading.replaced:
        words = ", ".join(f"{written!r} as {colour!r}" for written, colour in reading.replaced)
        print(f"reading {words} (colours this model knows; --literal-prompt to keep them): {reading.prompt!r}")
    return pipeline


def add_generate_commands(commands: argparse._SubParsersAction, train_commands: argparse._SubParsersAction) -> None:
    gen = commands.add_parser("generate", help="text to video")
    gen.add_argument("prompt")
    gen.add_argument("-o", "--output", default="tenku.mp4", help="output .mp4 (default tenku.mp4)")
    gen.add_argument("--seconds", type=float, default=2.0,
                     help="length (default 2); beyond the model's window (4 s) windows slide and stream to the file")
    gen.add_argument("--size", type=parse_size, default=(64, 64), help="WIDTHxHEIGHT, e.g. 64x64, 112x64, 64x112")
    gen.add_argument("--fps", type=float, default=None, help="must equal the model's fps (8 for the shipped model)")
    gen.add_argument("--sampler", default=None, choices=["euler", "heun"])
    _sampling_arguments(gen)
    gen.set_defaults(handler=_generate)

    img = commands.add_parser("image", help="text to image")
    img.add_argument("prompt")
    img.add_argument("-o", "--output", default="tenku.png", help="output .png (default tenku.png)")
    img.add_argument("--size", type=parse_size, default=(64, 64))
    _sampling_arguments(img)
    img.set_defaults(handler=_image)

    train = train_commands.add_parser("dit", help="train the diffusion transformer (resumes from OUT/checkpoint)")
    train.add_argument("--config", default=None, help="JSON file with a DiTTrainConfig")
    train.add_argument("--out", default=None, help="output directory (default runs/dit)")
    train.add_argument("--vae", default=None, help="VAE directory (default: the shipped VAE)")
    train.add_argument("--steps", type=int, default=None)
    train.add_argument("--max-minutes", type=float, default=None, help="training-time budget in minutes: the learning rate anneals over it, then the run finishes")
    train.add_argument("--threads", type=int, default=None)
    train.set_defaults(handler=_train)


class Progress:
    """A tqdm bar over a pipeline call's denoising steps (or `VideoVAE.refine`'s), used as its callback.
    It opens at the first step, whose info carries the total of all windows (else `total`), so a call
    that fails early prints no bar."""

    def __init__(self, total: int | None = None, desc: str = "denoising") -> None:
        self.total = total
        self.desc = desc
        self.bar = None

    def __call__(self, info: dict) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=info.get("total", self.total), desc=self.desc, unit="step", dynamic_ncols=True)
        self.bar.update(1)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


def _check_output(path: Path, suffixes: set[str], inputs=()) -> Path:
    """The output file, checked before any work: a known suffix, not a directory, not one of the
    `inputs` (replacing the input with the result would lose it). Its directory is made."""
    if path.suffix.lower() not in suffixes:
        raise ValueError(f"{path}: output must end in {' or '.join(sorted(suffixes))}")
    if path.is_dir():
        raise ValueError(f"{path}: is a directory; give a file name")
    if any(path.resolve() == Path(source).resolve() for source in inputs):
        raise ValueError(f"{path}: is also the input; refusing to overwrite it, give another -o")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def preflight(args: argparse.Namespace, prompt: str, **request) -> None:
    """Refuse a bad request from the model's pipeline.json, before the weights take seconds to load."""
    from tenku.pipeline import RequestChecks, read_pipeline_config

    config = read_pipeline_config(args.model)
    if args.binding_guidance is not None:
        dataclasses.replace(config, binding_guidance=args.binding_guidance)  # checks the value
    RequestChecks(config).preflight(
        prompt, size=args.size, seed=args.seed, steps=args.steps, guidance=args.guidance, **request)


def _generate(args: argparse.Namespace) -> int:
    from tenku.io import write_video

    output = _check_output(Path(args.output), {".mp4"})
    preflight(args, args.prompt, seconds=args.seconds, fps=args.fps, sampler=args.sampler)
    started = time.time()
    pipeline = load_pipeline(args)
    if args.seconds > pipeline.config.max_seconds:  # sliding windows, streamed to the file
        from tenku.modes_cli import generate_long_to_file

        return generate_long_to_file(args, pipeline, output, started)
    with Progress(total=args.steps or pipeline.config.steps) as progress:
        frames = pipeline.generate(args.prompt, seconds=args.seconds, size=args.size, fps=args.fps, seed=args.seed,
                                   steps=args.steps, guidance=args.guidance, sampler=args.sampler, callback=progress)
    write_video(output, frames, pipeline.config.fps)
    print(f"{output}  ({frames.shape[0]} frames, {frames.shape[2]}x{frames.shape[1]}, "
          f"{pipeline.config.fps:g} fps, {time.time() - started:.1f} s)")
    return 0


def _image(args: argparse.Namespace) -> int:
    from tenku.io import write_image

    output = _check_output(Path(args.output), {".png", ".jpg", ".jpeg"})
    preflight(args, args.prompt)
    pipeline = load_pipeline(args)
    with Progress(total=args.steps or pipeline.config.steps) as progress:
        frame = pipeline.image(args.prompt, size=args.size, seed=args.seed, steps=args.steps,
                               guidance=args.guidance, callback=progress)
    write_image(output, frame)
    print(output)
    return 0


def _train(args: argparse.Namespace) -> int:
    from tenku.train_dit import DiTTrainConfig, config_from_json, train_dit

    config = config_from_json(args.config) if args.config else DiTTrainConfig()
    for name, value in (("out_dir", args.out), ("vae", args.vae), ("steps", args.steps),
                        ("max_minutes", args.max_minutes), ("threads", args.threads)):
        if value is not None:
            setattr(config, name, value)
    config.__post_init__()
    print(f"output: {train_dit(config)}")
    return 0
