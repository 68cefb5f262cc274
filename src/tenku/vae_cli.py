"""`tenku vae reconstruct` and `tenku train vae`."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_vae_commands(commands: argparse._SubParsersAction, train_commands: argparse._SubParsersAction) -> None:
    vae = commands.add_parser("vae", help="the video compression network")
    vae_commands = vae.add_subparsers(dest="vae_command", metavar="COMMAND", required=True)
    rec = vae_commands.add_parser("reconstruct", help="round-trip a video or image through the VAE; print PSNR/SSIM")
    rec.add_argument("video", help="input video or image")
    rec.add_argument("-o", "--output", default=None, help="output file (default: <input>_vae.mp4, or .png for images)")
    rec.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    rec.add_argument("--max-frames", type=int, default=None, help="only the first N frames")
    rec.add_argument("--chunk-latents", type=int, default=4, help="latent frames decoded at a time (memory)")
    rec.add_argument("--refine", type=int, default=0, metavar="STEPS",
                     help="improve the encoding by this many steps of gradient descent through the decoder before "
                          "decoding (slower, closer; about +4 dB on world renders at 25; see the tenku-vae card)")
    rec.set_defaults(handler=_reconstruct)

    train = train_commands.add_parser("vae", help="train the VAE (resumes from OUT/checkpoint if present)")
    train.add_argument("--config", default=None, help="JSON file with a VAETrainConfig")
    train.add_argument("--out", default=None, help="output directory (default runs/vae)")
    train.add_argument("--steps", type=int, default=None)
    train.add_argument("--latent-channels", type=int, default=None, choices=[4, 8, 16])
    train.add_argument("--max-minutes", type=float, default=None, help="training-time budget in minutes: the learning rate anneals over it, then the run finishes")
    train.add_argument("--threads", type=int, default=None)
    train.add_argument("--seed", type=int, default=None)
    train.set_defaults(handler=_train)


def _reconstruct(args: argparse.Namespace) -> int:
    import numpy as np

    from tenku.generate_cli import Progress, _check_output
    from tenku.io import probe_video, read_video, write_image, write_video
    from tenku.models import load_vae
    from tenku.vae import reconstruct_frames
    from tenku.similarity import psnr_uint8, ssim_uint8

    image_suffixes = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
    source = Path(args.video)
    is_image = probe_video(source).num_frames == 1 and source.suffix.lower() in image_suffixes
    output = Path(args.output) if args.output else source.with_name(source.stem + ("_vae.png" if is_image else "_vae.mp4"))
    output = _check_output(output, {".mp4"} | image_suffixes, [source])
    video = read_video(source, max_frames=args.max_frames)
    if output.suffix.lower() != ".mp4" and len(video.frames) > 1:
        raise ValueError(f"{output}: an image holds one frame but the input has {len(video.frames)}; "
                         "write a .mp4, or pass --max-frames 1")
    vae = load_vae(args.model)
    with Progress(desc="refining") as progress:
        out_frames = reconstruct_frames(vae, video.frames, chunk_latents=args.chunk_latents,
                                        refine_steps=args.refine, progress=progress)
    if output.suffix.lower() == ".mp4":
        write_video(output, out_frames, video.fps)
    else:
        write_image(output, out_frames[0])
    print(f"PSNR {psnr_uint8(video.frames, out_frames):.2f} dB  SSIM {ssim_uint8(video.frames, out_frames):.4f}  "
          f"({video.frames.shape[0]} frames {video.frames.shape[2]}x{video.frames.shape[1]}, {np.prod(video.frames.shape)} values)")
    print(f"wrote {output}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from tenku.train_vae import VAETrainConfig, config_from_json, train_vae

    config = config_from_json(args.config) if args.config else VAETrainConfig()
    if args.out:
        config.out_dir = args.out
    if args.steps:
        config.steps = args.steps
    if args.latent_channels:
        if config.model is None:
            raise SystemExit("error: --latent-channels needs a model design; it cannot change init_from's encoder")
        config.model.latent_channels = args.latent_channels
    if args.max_minutes is not None:
        config.max_minutes = args.max_minutes
    if args.threads:
        config.threads = args.threads
    if args.seed is not None:
        config.data.seed = args.seed
    config.__post_init__()
    final = train_vae(config)
    print(f"output: {final}")
    return 0
