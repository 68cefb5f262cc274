"""The shipped transformer's samples decoded through another VAE, paired with the shipped VAE: which
decoder draws the same latents better, by `tenku eval` from pixels.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/decoder_swap.py --vae DIR [--model DIR] [--num 64] [--out FILE.json]

A VAE whose encoder was fine-tuned near the shipped one's (`latent_anchor` in `tenku train vae`)
must still decode the latents the transformer was trained to make. Each held-out canonical prompt of
`dit_benchmark.py` (test split, seeds 0..num-1, 2 s at 64x64) is sampled once, with the model
directory's settings, and its latents are decoded by both VAEs, so every difference between the two
columns is the decoder's. Also scores both VAEs' round trips of the same scenes (`vae_ceiling`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from dit_benchmark import BARS, held_out_prompts, rate_cells, row_of, summarize, vae_ceiling  # noqa: E402


def decode_both(pipeline, other, prompts: list[str], size: tuple[int, int], seconds: float) -> tuple[list, list]:
    """Sample each prompt once (seed = its index) and score its latents decoded by the pipeline's VAE
    and by `other`; returns the two lists of `row_of` rows."""
    from tenku.eval import evaluate_video
    from tenku.world import parse_prompt

    latents = []
    own_decode = pipeline.decode

    def recording(z: torch.Tensor, num_frames: int):
        latents.append((z.clone(), num_frames))
        return own_decode(z, num_frames)

    pipeline.decode = recording
    rows, other_rows = [], []
    try:
        for i, prompt in enumerate(prompts):
            latents.clear()
            frames = pipeline.generate(prompt, seconds=seconds, size=size, seed=i)
            if len(latents) != 1:
                raise RuntimeError(f"expected one decode per sample, saw {len(latents)}")
            own_vae, pipeline.vae = pipeline.vae, other  # the pipeline's own decoding, through the other VAE
            try:
                swapped = own_decode(*latents[0])
            finally:
                pipeline.vae = own_vae
            expected = parse_prompt(prompt)
            rows.append(row_of(prompt, evaluate_video(frames, pipeline.config.fps, expected)))
            other_rows.append(row_of(prompt, evaluate_video(swapped, pipeline.config.fps, expected)))
    finally:
        del pipeline.decode  # the class's method again
    return rows, other_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vae", required=True, help="the VAE directory to compare with the model's own")
    parser.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    parser.add_argument("--num", type=int, default=64)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    from tenku.pipeline import Pipeline
    from tenku.vae import VideoVAE

    torch.set_num_threads(2)
    started = time.time()
    pipeline = Pipeline.from_pretrained(args.model)
    other = VideoVAE.from_pretrained(args.vae).float().eval()
    if not torch.equal(other.latent_std, pipeline.vae.latent_std.float()):
        print("note: the two VAEs store different latent statistics; the transformer's latents mean "
              "something else to the other decoder")
    own, swapped = decode_both(pipeline, other, held_out_prompts(args.num, paraphrase=False), (64, 64), 2.0)
    report = {"model": args.model or "shipped", "vae": args.vae, "num": args.num,
              "own_decoder": summarize(own), "other_decoder": summarize(swapped),
              "own_ceiling": vae_ceiling(pipeline.vae, args.num, (64, 64), 2.0, pipeline.config.fps),
              "other_ceiling": vae_ceiling(other, args.num, (64, 64), 2.0, pipeline.config.fps)}
    gained = {a: sum(b[a] is True and o[a] is False for o, b in zip(own, swapped)) for a in BARS}
    lost = {a: sum(o[a] is True and b[a] is False for o, b in zip(own, swapped)) for a in BARS}
    report["changed_samples"] = {"gained": gained, "lost": lost}
    report["minutes"] = (time.time() - started) / 60
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print("| decoder | n | colour | shape | direction | count | persistence | physics | flicker |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for key in ("own_decoder", "other_decoder", "own_ceiling", "other_ceiling"):
        print(f"| {key} | {len(report[key]['samples'])} | {rate_cells(report[key]['rates'])} |")
    print("samples the other decoder passes and the own fails, per bar:", gained)
    print("samples the other decoder fails and the own passes, per bar:", lost)
    print(f"{report['minutes']:.1f} minutes")


if __name__ == "__main__":
    main()
