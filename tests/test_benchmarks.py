import importlib.util
import json
from pathlib import Path

import pytest
import torch


def _load(name):
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


compare = _load("compare_models")


def _samples(passes, n=40, start=0):
    """n prompts whose verdicts pass on prompts start..passes-1 (count not judged on odd ones)."""
    return [{"prompt": f"p{i}", **{b: start <= i < passes for b in compare.BARS},
             "count": None if i % 2 else start <= i < passes} for i in range(n)]


def test_identical_reports_differ_by_nothing():
    r = compare.compare_section(_samples(20), _samples(20), draws=500)
    assert r["difference"] == 0 and r["interval_95"] == [0.0, 0.0] and r["mean_a"] == pytest.approx(0.5)


def test_a_clearly_better_model_has_an_interval_above_zero():
    r = compare.compare_section(_samples(8), _samples(36), draws=2000)
    assert r["mean_b"] > r["mean_a"] and 0 < r["interval_95"][0] < r["difference"] < r["interval_95"][1]
    # A passes prompts 0..19, B prompts 3..23: each wins on a few prompts the other fails
    small = compare.compare_section(_samples(20), _samples(24, start=3), draws=2000)
    assert small["interval_95"][0] < 0 < small["interval_95"][1]


def test_different_prompts_are_refused():
    other = _samples(20)
    other[3]["prompt"] = "another prompt"
    with pytest.raises(ValueError, match="same prompts"):
        compare.compare_section(_samples(20), other, draws=500)


def test_a_one_setting_guidance_sweep_compares_as_the_tuning_section(tmp_path):
    sweep = {"model": "m", "prompts": 40, "rows": [{"guidance": 4.0, "mean": 0.5, "samples": _samples(20)}]}
    section = compare.as_sections(sweep, "a.json")
    assert section["model"] == "m" and section["tuning_64x64"]["samples"] == _samples(20)
    assert "tuning_64x64" in compare.SECTIONS
    benchmark = {"model": "m", "canonical_64x64": {"samples": _samples(20)}}
    assert compare.as_sections(benchmark, "b.json") is benchmark
    with pytest.raises(ValueError, match="a.json: a guidance sweep of 2 settings"):
        compare.as_sections({"rows": sweep["rows"] * 2}, "a.json")
    with pytest.raises(ValueError, match="without per-prompt verdicts"):
        compare.as_sections({"rows": [{"guidance": 4.0, "mean": 0.5}]}, "a.json")


def test_motion_binding_counts_right_and_shuffled_motions_only_where_it_can_tell():
    bench = _load("dit_benchmark")
    rows = [
        {"motions": [["left", "left"], ["up", "up"]]},  # right
        {"motions": [["left", "up"], ["up", "left"]]},  # shuffled
        {"motions": [["falling", "bouncing"], ["bouncing", "falling"], ["still", "still"]]},  # shuffled
        {"motions": [["left", "left"], ["left", "left"]]},  # same motions: cannot tell
        {"motions": [["left", "down"], ["up", "up"]]},  # a wrong motion: not a binding question
        {"motions": [["left", "left"]]},  # one object
        {"motions": [["left", None], ["up", "up"]]},  # an object not found
        {"prompt": "older report without motions"},
    ]
    assert bench.motion_binding(rows) == {"right": 1, "shuffled": 2}


def test_group_steps_finds_a_jump_every_four_frames():
    import numpy as np

    vae_bench = _load("vae_benchmark")
    steady = np.stack([np.full((4, 4, 3), 10 * k, np.uint8) for k in range(9)])  # +10 levels a frame
    assert vae_bench.group_steps(steady) == pytest.approx((10.0, 10.0))
    # held within each group of four, then a jump to the next group: frames 0 | 1-4 | 5-8
    lagging = np.stack([np.full((4, 4, 3), v, np.uint8) for v in [0, 10, 10, 10, 10, 50, 50, 50, 50]])
    boundary, inner = vae_bench.group_steps(lagging)
    assert boundary == pytest.approx(25.0) and inner == 0.0  # steps 0->1 (10) and 4->5 (40)


def test_error_split_puts_a_moving_objects_error_on_moving_pixels_and_its_frame():
    import numpy as np

    vae_bench = _load("vae_benchmark")
    frames = np.zeros((9, 16, 16, 3), np.uint8)
    for k in range(9):  # a white 2x2 square moving one pixel a frame
        frames[k, 4:6, k : k + 2] = 255
    out = frames.copy()
    out[5, 4:6, 5:7] = 155  # frame 5 (the first of the second group of four) loses 100 levels on the square
    split = vae_bench.error_split(frames, out)
    assert split["static"][0] == 0.0 and split["moving"][0] == 4 * 100.0**2
    assert split["moving"][1] + split["static"][1] == 9 * 16 * 16
    assert split["place_1"] == [4 * 100.0**2, 2 * 256]  # frames 1 and 5
    assert [split[f"place_{k}"][1] for k in (0, 2, 3, 4)] == [256, 512, 512, 512]
    pooled = vae_bench._pooled_psnr([split, vae_bench.error_split(frames, frames)])
    exact = 10 * np.log10(255**2 / 1e-12)  # no error: the floor
    assert pooled["static"] == pytest.approx(exact) and pooled["moving_error_share"] == 1.0
    assert pooled["by_group_place"][1] == pytest.approx(10 * np.log10(255**2 / (4e4 / 1024)))
    assert pooled["by_group_place"][2] == pytest.approx(exact)


class _PassThrough:
    """A stand-in VAE for `vae_ceiling`: the 'latent' is the video itself, decoded unchanged or black."""

    def __init__(self, black: bool = False):
        self.black = black

    def encode(self, video, chunk_frames=None):
        return video

    def decode(self, z, chunk_latents=None):
        return -torch.ones_like(z) if self.black else z


def test_vae_ceiling_passes_true_renders_and_fails_a_decoder_that_loses_them():
    bench = _load("dit_benchmark")
    perfect = bench.vae_ceiling(_PassThrough(), 3, (64, 64), 1.0, start=10_000)
    assert all(perfect["rates"][a] == 1.0 for a in bench.BARS)
    black = bench.vae_ceiling(_PassThrough(black=True), 3, (64, 64), 1.0, start=10_000)
    assert black["rates"]["color"] == 0.0


def test_decoder_swap_scores_one_sample_decoded_by_two_decoders():
    from tenku.dit import DiT, dit_tiny
    from tenku.pipeline import Pipeline, PipelineConfig
    from tenku.text import load_text_encoder
    from tenku.vae import VideoVAE, vae_tiny

    swap = _load("decoder_swap")
    torch.manual_seed(0)
    vae, dit = VideoVAE(vae_tiny()).eval(), DiT(dit_tiny(in_channels=4, text_dim=384)).eval()
    pipeline = Pipeline(dit, vae, load_text_encoder("minilm"), PipelineConfig(steps=2))
    prompts = ["a red ball moving right on a black background", "a blue square falling on a black background"]
    own, same = swap.decode_both(pipeline, vae, prompts, (64, 64), 1.0)
    assert own == same and [r["prompt"] for r in own] == prompts  # the same latents, the same decoder

    class Black:  # draws every latent as a black frame: no object is seen
        def decode(self, z, chunk_latents=None):
            return -torch.ones(1, 3, 1 + 4 * (z.shape[2] - 1), 8 * z.shape[3], 8 * z.shape[4])

    _, black = swap.decode_both(pipeline, Black(), prompts, (64, 64), 1.0)
    assert [r["color"] for r in black] == [False, False]
    assert "decode" not in vars(pipeline) or pipeline.decode.__func__ is Pipeline.decode  # put back


def test_a_stopped_conditioning_run_keeps_the_modes_it_measured(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from tenku.pipeline import PipelineConfig

    bench = _load("conditioning_benchmark")
    monkeypatch.setattr(bench, "load_pipeline", lambda *args, **kwargs: SimpleNamespace(config=PipelineConfig()))
    monkeypatch.setattr(bench, "world_case", lambda i, base: None)
    monkeypatch.setattr(bench, "bench_animate", lambda *args: {"first_psnr": [31.0]})

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt  # the session ends while the second mode runs

    monkeypatch.setattr(bench, "bench_extend", stopped)
    out = tmp_path / "report.json"
    monkeypatch.setattr("sys.argv", ["conditioning_benchmark.py", "--cases", "1", "--modes", "animate", "extend",
                                     "--out", str(out)])
    with pytest.raises(KeyboardInterrupt):
        bench.main()
    report = json.loads(out.read_text())
    assert report["animate"] == {"first_psnr": [31.0]} and "extend" not in report and report["complete"] is False
