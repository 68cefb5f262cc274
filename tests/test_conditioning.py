import numpy as np
import pytest
import torch

from tenku.conditioning import (
    MIN_VIDEO_FRAMES,
    assemble_cond,
    carry_residual,
    choose_size,
    clip_for_groups,
    decoded_frames,
    fit_frames,
    latent_frames_for,
    load_frames,
    pad_frames,
    plan_animate,
    plan_connect,
    plan_edit,
    plan_extension,
    plan_long,
    plan_loop,
    resample_indices,
)
from tenku.dit import DiT, dit_tiny
from tenku.pipeline import Pipeline, PipelineConfig
from tenku.vae import VideoVAE, vae_tiny

MAX_LATENTS = 9  # 4 s at 8 fps


def trained_mask(mask: np.ndarray) -> bool:
    """Whether `train_dit.draw_cond_mask` can draw this mask (or it is the all-zero one)."""
    t, known = len(mask), np.flatnonzero(mask)
    k = len(known)
    if k == 0:
        return True
    if t < 2:
        return False
    first_k = list(known) == list(range(k)) and k <= max(1, t // 2)
    last_k = list(known) == list(range(t - k, t)) and k <= max(1, t // 2)
    first_last = list(known) == [0, t - 1]
    return first_k or last_k or first_last


# --- pure planning ------------------------------------------------------------------------------


def test_frame_arithmetic_and_padding():
    assert [latent_frames_for(n) for n in (1, 2, 5, 6, 17, 18)] == [1, 2, 2, 3, 5, 6]
    assert [decoded_frames(t) for t in (1, 2, 9)] == [1, 5, 33]
    frames = np.arange(7, dtype=np.uint8)[:, None, None, None].repeat(3, axis=-1)  # (7, 1, 1, 3)
    padded = pad_frames(frames)
    assert len(padded) == 9 and (padded[:7] == frames).all() and (padded[7:] == 6).all()
    assert pad_frames(frames[:5]) is not None and len(pad_frames(frames[:5])) == 5
    grouped = clip_for_groups(frames[:4])
    assert len(grouped) == 5 and (grouped[0] == frames[0]).all() and (grouped[1:] == frames[:4]).all()


@pytest.mark.parametrize("backward", [False, True])
@pytest.mark.parametrize("num_input", [4, 5, 6, 7, 8, 9, 11, 14, 30])
@pytest.mark.parametrize("num_new", [1, 2, 3, 4, 5, 7, 17, 40])
def test_extension_plans(num_input, num_new, backward):
    windows = plan_extension(num_input, num_new, max_latents=MAX_LATENTS, context_latents=3, backward=backward)
    available = num_input
    for w in windows:
        t, k = w.num_latents, len(w.known)
        assert 2 <= t <= MAX_LATENTS and 1 <= k <= t // 2 and trained_mask(w.mask()[0].numpy())
        assert w.context_frames <= available
        if backward:
            assert w.known == tuple(range(t - k, t)) and w.context_frames == 4 * k
            assert w.keep[1] == 1 + 4 * (t - k)  # the new frames end right before the known ones
        else:
            assert w.known == tuple(range(k)) and w.context_frames == 1 + 4 * (k - 1)
            assert w.keep[0] == w.context_frames  # the new frames start right after the known ones
        assert k == min(3, (available // 4) if backward else 1 + (available - 1) // 4)
        available += w.num_output
    assert available == num_input + num_new


@pytest.mark.parametrize("num_frames", [3, 4, 6, 9, 16, 17, 18, 29])
def test_single_window_plans(num_frames):
    animate = plan_animate(num_frames, MAX_LATENTS)
    assert animate.known == (0,) and animate.keep == (0, num_frames)
    assert 0 <= animate.num_decoded - num_frames < 4  # trimmed at the right end
    edit = plan_edit(num_frames, MAX_LATENTS)
    assert edit.known == () and edit.keep == (0, num_frames)
    connect = plan_connect(num_frames, MAX_LATENTS)
    t = connect.num_latents
    assert connect.known == (0, t - 1) and trained_mask(connect.mask()[0].numpy())
    assert connect.keep == (0, 2 + 4 * (t - 2))  # decoded frame 4(t-1)-3 is B's first frame
    assert abs(connect.num_output - num_frames) <= 2 or num_frames < 6
    if num_frames >= 7:
        clip, transition = plan_loop(num_frames, MAX_LATENTS)
        assert clip.known == () and clip.keep == (0, clip.num_decoded)  # a free clip, all of it kept
        assert transition == plan_connect(transition.num_output, MAX_LATENTS)  # then a transition back
        period = clip.num_output + transition.num_output - 2  # the transition's two ends are the clip's
        assert period % 4 == 1 and (abs(period - num_frames) <= 2 or num_frames < 9)
        assert abs(clip.num_latents - transition.num_latents) <= 2  # about half the period each


def test_plans_refuse_what_one_window_cannot_hold():
    with pytest.raises(ValueError, match="at most 9"):
        plan_connect(40, MAX_LATENTS)
    with pytest.raises(ValueError, match="at most 9"):
        plan_loop(70, MAX_LATENTS)
    with pytest.raises(ValueError, match="at most 9"):
        plan_edit(34, MAX_LATENTS)
    assert [w.num_latents for w in plan_loop(61, MAX_LATENTS)] == [9, 9]
    with pytest.raises(ValueError, match="num_frames must be an integer >= 7"):
        plan_loop(6, MAX_LATENTS)


@pytest.mark.parametrize("num_frames", [1, 17, 33, 34, 100, 481])
def test_long_plan_makes_exactly_the_frames(num_frames):
    windows = plan_long(num_frames, max_latents=MAX_LATENTS, context_latents=3)
    assert windows[0].known == () and sum(w.num_output for w in windows) == num_frames
    assert all(w.num_latents <= MAX_LATENTS and trained_mask(w.mask()[0].numpy()) for w in windows)
    if num_frames == 481:  # 60 s: the first window, then 24 new frames (6 latents) per window
        assert windows[0].num_latents == 9 and windows[1].num_output == 24 and len(windows) == 1 + 19


def test_assemble_cond():
    a, b = torch.randn(1, 4, 1, 2, 2), torch.randn(1, 4, 2, 2, 2)
    cond, mask = assemble_cond(5, {0: a, 3: b})
    assert mask.tolist() == [[1, 0, 0, 1, 1]]
    torch.testing.assert_close(cond[:, :, 0:1], a)
    torch.testing.assert_close(cond[:, :, 3:5], b)
    assert cond[:, :, 1:3].abs().sum() == 0


def test_carry_residual_fades_linearly():
    frames = np.full((10, 2, 2, 3), 100, np.uint8)
    out = carry_residual(frames, np.full((2, 2, 3), 40.0), num_fade=4)
    assert out[:, 0, 0, 0].tolist() == [140, 130, 120, 110, 100, 100, 100, 100, 100, 100]
    back = carry_residual(frames, np.full((2, 2, 3), -40.0), reverse=True, num_fade=4)
    assert back[::-1, 0, 0, 0].tolist() == [60, 70, 80, 90, 100, 100, 100, 100, 100, 100]


def test_carry_residual_gate_skips_changed_pixels():
    # against the frame next to the seam (frame 0; the last one backwards): pixel (0, 0) stays, pixel (0, 1)
    # changes by 12 levels (half the gate) from frame 1 on, pixel (1, 1) by 30 (past it): full, half, no residual
    frames = np.full((3, 2, 2, 3), 100, np.uint8)
    frames[1:, 0, 1] = 112
    frames[1:, 1, 1] = 130
    out = carry_residual(frames, np.full((2, 2, 3), 40.0), num_fade=2, gate=24.0)
    assert out[:, 0, 0, 0].tolist() == [140, 120, 100]
    assert out[:, 0, 1, 0].tolist() == [140, 122, 112]
    assert out[:, 1, 1, 0].tolist() == [140, 130, 130]
    back = carry_residual(frames[::-1], np.full((2, 2, 3), 40.0), num_fade=2, gate=24.0, reverse=True)
    np.testing.assert_array_equal(back[::-1], out)
    ungated = carry_residual(frames, np.full((2, 2, 3), 40.0), num_fade=2, gate=None)
    assert ungated[1, 1, 1, 0] == 150


def test_sizes_and_fitting():
    sizes = ((64, 64), (112, 64), (64, 112))
    assert choose_size(1920, 1080, sizes) == (112, 64)
    assert choose_size(480, 640, sizes) == (64, 112)
    assert choose_size(100, 90, sizes) == (64, 64)
    frames = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    assert fit_frames(frames, (64, 64)) is frames  # already the model's size: untouched
    wide = np.zeros((1, 90, 200, 3), np.uint8)
    wide[:, :, 50:150] = 255  # the centre 100 columns; a crop to 112:64 keeps 158 of 200
    out = fit_frames(wide, (112, 64))
    assert out.shape == (1, 64, 112, 3) and out[0, 32, 56, 0] == 255 and out[0, 32, 2, 0] == 0


def test_fps_resampling():
    assert resample_indices(9, 24.0, 8.0).tolist() == [0, 3, 6]  # every third frame, ending within the clip
    assert resample_indices(5, 8.0, 8.0).tolist() == [0, 1, 2, 3, 4]
    assert resample_indices(3, 4.0, 8.0).tolist() == [0, 1, 1, 2, 2]  # nearest in time, rounding half up
    assert resample_indices(31, 30.0, 8.0).tolist() == [0, 4, 8, 11, 15, 19, 23, 26, 30]


def test_load_frames_resamples_and_resizes(tmp_path):
    from tenku.io import read_video, write_video

    frames = np.zeros((25, 48, 96, 3), np.uint8)
    frames[:, :, :, 0] = np.arange(25, dtype=np.uint8)[:, None, None] * 10  # frame index in red
    write_video(tmp_path / "in.mp4", frames, 24.0, crf=0)
    loaded = load_frames(tmp_path / "in.mp4", fps=8.0, sizes=((64, 64), (112, 64)))
    assert loaded.shape == (9, 64, 112, 3)  # 2:1 -> the 112x64 size; 25 frames at 24 fps -> 9 at 8
    index = np.round(loaded[:, 32, 56, 0] / 10).astype(int)
    assert index.tolist() == [0, 3, 6, 9, 12, 15, 18, 21, 24]
    stored = read_video(tmp_path / "in.mp4")
    np.testing.assert_array_equal(loaded, fit_frames(stored.frames[resample_indices(25, 24.0, 8.0)], (112, 64)))
    assert len(load_frames(tmp_path / "in.mp4", fps=8.0, sizes=((64, 64),), max_frames=2)) == 2


# --- the pipeline on tiny models ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def text_encoder():
    from tenku.text import load_text_encoder

    return load_text_encoder("minilm")


@pytest.fixture(scope="module")
def pipeline(text_encoder):
    torch.manual_seed(0)
    vae = VideoVAE(vae_tiny())
    torch.manual_seed(1)
    dit = DiT(dit_tiny(in_channels=4, text_dim=384))
    for p in dit.parameters():  # give the zero-initialised output layers weight, so samples depend on inputs
        if p.abs().sum() == 0:
            p.data.normal_(0, 0.02)
    return Pipeline(dit, vae, text_encoder, PipelineConfig(steps=2))


@pytest.fixture(scope="module")
def clip():
    from tenku.world import render, sample_scene

    return render(sample_scene(3, seconds=2.0, split="test"), 64, 64, 11, 8.0).frames  # 11 frames: not 1 + 4k


def test_animate(pipeline, clip, tmp_path):
    from tenku.io import write_image

    out = pipeline.animate(clip[0], "a red ball moving right", seconds=1.5)
    assert out.shape == (13, 64, 64, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], clip[0])  # starts exactly from the image
    big = np.repeat(np.repeat(clip[0], 2, axis=0), 3, axis=1)  # 128x192: resized to 112x64
    write_image(tmp_path / "big.png", big)
    out = pipeline.animate(tmp_path / "big.png", "a red ball", seconds=0.5)
    assert out.shape == (5, 64, 112, 3)


@pytest.mark.parametrize("seconds", [0.25, 1.0, 5.0])
def test_extend_keeps_the_input(pipeline, clip, seconds):
    steps = []
    out = pipeline.extend(clip, "a red ball", seconds=seconds, callback=steps.append)
    new = round(seconds * 8)
    assert out.shape == (len(clip) + new, 64, 64, 3)
    np.testing.assert_array_equal(out[: len(clip)], clip)
    assert steps[-1]["step"] == steps[-1]["total"] == len(steps)
    back = pipeline.extend(clip, "a red ball", seconds=seconds, backward=True)
    assert back.shape == out.shape
    np.testing.assert_array_equal(back[new:], clip)


def test_known_frames_follow_their_flow_path(pipeline, monkeypatch):
    """During sampling the DiT sees known frames at (1 - t) cond + t eps, one eps for all steps, as in training."""
    seen = []
    original = pipeline.dit.forward

    def spy(x_t, t, text, text_mask=None, cond=None, cond_mask=None, **kw):
        seen.append((x_t[:1].clone(), t[:1].clone(), cond[:1].clone()))
        return original(x_t, t, text, text_mask, cond, cond_mask, **kw)

    monkeypatch.setattr(pipeline.dit, "forward", spy)
    cond = torch.randn(1, 4, 3, 8, 8)
    mask = torch.tensor([[1.0, 0.0, 0.0]])
    pipeline.sample_latents("a red ball", (3, 8, 8), cond=cond, cond_mask=mask, steps=3)
    assert len(seen) == 3
    eps = [(x[:, :, 0] - (1 - t) * cond[:, :, 0]) / t for x, t, _ in seen]
    for e in eps[1:]:
        torch.testing.assert_close(e, eps[0])
    assert 0.8 < float(eps[0].std()) < 1.2


def test_connect(pipeline, clip):
    other = clip[::-1].copy()
    out = pipeline.connect(clip, other, "a red ball", seconds=1.0)
    assert out.shape == (10, 64, 64, 3)  # 2 + 8 frames between
    np.testing.assert_array_equal(out[0], clip[-1])
    np.testing.assert_array_equal(out[-1], other[0])
    joined = pipeline.connect(clip, other, "a red ball", seconds=1.0, join=True)
    assert joined.shape == (len(clip) + 8 + len(other), 64, 64, 3)
    np.testing.assert_array_equal(joined[: len(clip)], clip)
    np.testing.assert_array_equal(joined[-len(other) :], other)


def test_loop_ends_with_a_transition_into_its_own_start(pipeline, monkeypatch):
    calls = []
    original = pipeline.sample_latents

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        calls.append((kwargs.get("cond"), kwargs.get("cond_mask"), out))
        return out

    monkeypatch.setattr(pipeline, "sample_latents", spy)
    out = pipeline.loop("a red ball", seconds=1.9)
    assert out.shape == (17, 64, 64, 3)  # 15.2 frames -> a period of 1 + 4 x 4: a clip of 9, then 8 more
    (cond, mask, clip), (cond2, mask2, transition) = calls
    assert mask is None and clip.shape[2] == 3
    assert mask2.tolist() == [[1, 0, 0, 1]]
    # the transition starts at the clip's last frame and ends in its first four, encoded as a group
    np.testing.assert_array_equal(out[:9], pipeline.decode(clip, 9))
    torch.testing.assert_close(cond2[:, :, 0], pipeline.encode(out[8:9])[:, :, 0])
    torch.testing.assert_close(cond2[:, :, -1], pipeline.encode_groups(out[:4])[:, :, 0])


def test_edit(pipeline, clip):
    out = pipeline.edit(clip, "a blue ball", strength=0.5)
    assert out.shape == clip.shape
    assert pipeline.edit(clip[0], "a blue ball", strength=1.0).shape == (1, 64, 64, 3)
    steps = []
    pipeline.edit(clip, "a blue ball", strength=0.4, steps=10, callback=steps.append)
    assert 1 <= len(steps) < 10 and steps[-1]["total"] == len(steps)  # SDEdit runs the tail of the schedule


def test_edit_uses_the_models_edit_guidance(pipeline, clip):
    from dataclasses import replace

    own = Pipeline(pipeline.dit, pipeline.vae, pipeline.text_encoder, replace(pipeline.config, edit_guidance=7.0))
    edited = own.edit(clip, "a blue ball", strength=0.5)
    np.testing.assert_array_equal(edited, pipeline.edit(clip, "a blue ball", strength=0.5, guidance=7.0))
    assert not np.array_equal(edited, pipeline.edit(clip, "a blue ball", strength=0.5))  # default: config.guidance
    np.testing.assert_array_equal(own.edit(clip, "a blue ball", strength=0.5, guidance=pipeline.config.guidance),
                                  pipeline.edit(clip, "a blue ball", strength=0.5))  # an explicit value wins
    with pytest.raises(ValueError, match="edit_guidance must be a finite number"):
        replace(pipeline.config, edit_guidance=-1.0)


def test_generate_long_streams_chunks(pipeline):
    steps = []
    chunks = list(pipeline.generate_long("a red ball", seconds=9.0, callback=steps.append))
    assert [len(c) for c in chunks] == [33, 24, 16] and all(c.shape[1:] == (64, 64, 3) for c in chunks)
    assert steps[-1]["total"] == len(steps) == 3 * 2


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda p, c: p.edit(c, "a ball", strength=0.0), ValueError, r"strength must be in \(0, 1\]"),
        (lambda p, c: p.edit(c, "a ball", strength=1.5), ValueError, r"strength must be in \(0, 1\]"),
        (lambda p, c: p.edit(c, "a ball", strength=-0.2), ValueError, r"strength must be in \(0, 1\]"),
        (lambda p, c: p.extend(c[:3], "a ball"), ValueError, "shorter than one latent frame"),
        (lambda p, c: p.extend(c[:MIN_VIDEO_FRAMES - 1], "a ball", backward=True), ValueError, "shorter than one latent"),
        (lambda p, c: p.connect(c, c[:2], "a ball"), ValueError, "video_b: 2 frame"),
        (lambda p, c: p.extend(c, "a ball", seconds=0.01), ValueError, "adds no frame"),
        (lambda p, c: p.extend(c, " "), ValueError, "prompt is empty"),
        (lambda p, c: p.connect(c, c, "a ball", seconds=9), ValueError, "at most 9"),
        (lambda p, c: p.loop("a ball", seconds=9), ValueError, "at most 9"),
        (lambda p, c: p.animate(c[0], "a ball", seconds=5), ValueError, "at most 4"),
        (lambda p, c: p.animate(c[0].astype(np.float32), "a ball"), ValueError, "uint8"),
        (lambda p, c: p.animate(c[0], "a ball", size=(48, 48)), ValueError, "supported sizes"),
        (lambda p, c: p.edit(np.concatenate([c] * 4), "a ball"), ValueError, "at most 33 frames"),
        (lambda p, c: p.generate_long("a ball", seconds=-1), ValueError, "seconds must be > 0"),
        (lambda p, c: p.extend(c, "a ball", seconds=float("inf")), ValueError, "seconds must be > 0 and finite"),
        (lambda p, c: p.connect(c, c, "a ball", seconds=float("inf")), ValueError, "seconds must be > 0 and finite"),
        (lambda p, c: p.loop("a ball", seconds=float("inf")), ValueError, "seconds must be > 0 and finite"),
        (lambda p, c: p.animate(c[0], "a ball", seconds=0.01), ValueError, "seconds=0.01 is too short.*0.125 s"),
        (lambda p, c: p.connect(c, c, "a ball", seconds=0.1), ValueError, "too short for a transition.*0.25 s"),
        (lambda p, c: p.loop("a ball", seconds=0.1), ValueError, "too short for a loop.*0.875 s"),
        (lambda p, c: p.edit(c, "a ball", seed=-1), ValueError, "seed must be an integer"),
        (lambda p, c: p.animate(c[0], "a ball", guidance=float("nan")), ValueError, "guidance must be a finite"),
        # generate_long yields lazily; its arguments are still checked at the call
        (lambda p, c: p.generate_long("a ball", seconds=9, guidance=float("nan")), ValueError, "guidance must be"),
        (lambda p, c: p.generate_long("a ball", seconds=9, seed=2**64), ValueError, "seed must be an integer"),
        (lambda p, c: p.animate("/nonexistent/cat.png", "a ball"), FileNotFoundError, "no such file"),
    ],
)
def test_bad_inputs(pipeline, clip, call, error, match):
    with pytest.raises(error, match=match):
        call(pipeline, clip)


def test_unreadable_and_short_files(pipeline, clip, tmp_path):
    from tenku.io import write_video

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video" * 10)
    with pytest.raises(ValueError, match="bad.mp4"):
        pipeline.extend(bad, "a red ball")
    write_video(tmp_path / "short.mp4", clip[:3], 8.0)
    with pytest.raises(ValueError, match="short.mp4: 3 frame.*shorter than one latent frame"):
        pipeline.extend(tmp_path / "short.mp4", "a red ball")


def test_cli_modes(pipeline, clip, tmp_path, capsys):
    from tenku.cli import main
    from tenku.io import probe_video, read_video, write_video

    model = tmp_path / "model"
    pipeline.save_pretrained(model, dtype=torch.float32)
    pipeline.vae.save_pretrained(model / "vae", dtype=torch.float32)
    write_video(tmp_path / "in.mp4", clip, 8.0)
    common = ["--model", str(model), "--steps", "1"]
    assert main(["extend", str(tmp_path / "in.mp4"), "a red ball", "-o", str(tmp_path / "ext.mp4"), "--seconds", "1",
                 "--backward", *common]) == 0
    assert read_video(tmp_path / "ext.mp4").frames.shape == (19, 64, 64, 3)
    assert main(["loop", "a red ball", "-o", str(tmp_path / "loop.mp4"), "--seconds", "1", *common]) == 0
    assert probe_video(tmp_path / "loop.mp4").num_frames == 9
    assert main(["generate", "a red ball and a blue square", "-o", str(tmp_path / "long.mp4"), "--seconds", "5",
                 "--binding-guidance", "0.1", *common]) == 0
    assert probe_video(tmp_path / "long.mp4").num_frames == 41
    capsys.readouterr()
    assert main(["edit", str(tmp_path / "in.mp4"), "a blue ball", "--strength", "2", *common]) == 2
    assert main(["animate", str(tmp_path / "missing.png"), "a ball", "-o", str(tmp_path / "a.mp4"), *common]) == 2
    # errors found once the model is loaded: one line each, no progress bar before them
    assert main(["generate", "a ball", "-o", str(tmp_path / "g.mp4"), "--guidance", "nan", *common]) == 2
    assert main(["image", "a ball", "-o", str(tmp_path / "i.png"), "--seed", "-1", *common]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("tenku")]
    assert len(errors) == 4 and "strength" in errors[0] and "missing.png: no such file" in errors[1]
    assert "guidance" in errors[2] and "seed" in errors[3] and "denoising" not in err
    assert not (tmp_path / "g.mp4").exists() and not (tmp_path / "i.png").exists()


@pytest.mark.parametrize("command", [["edit", "IN", "a blue ball"], ["extend", "IN", "a red ball"],
                                     ["connect", "IN", "IN", "a red ball"], ["animate", "IN", "a red ball"]])
def test_cli_refuses_to_overwrite_its_input(clip, tmp_path, capsys, command):
    """-o naming the input is refused before anything runs: the result would replace the user's video."""
    from tenku.cli import main
    from tenku.io import write_video

    source = tmp_path / "in.mp4"
    write_video(source, clip, 8.0)
    before = source.read_bytes()
    argv = [str(source) if arg == "IN" else arg for arg in command]
    assert main([*argv, "-o", str(tmp_path / "sub" / ".." / "in.mp4"), "--steps", "1"]) == 2
    assert "in.mp4: is also the input; refusing to overwrite it" in capsys.readouterr().err
    assert source.read_bytes() == before


def test_cli_refuses_a_bad_request_before_loading_weights(pipeline, clip, tmp_path, capsys):
    """Prompt, size, seconds, seed, steps and guidance are checked from pipeline.json alone: a model
    whose weights file is broken still gives the request's error, not the weights'."""
    from tenku.cli import main
    from tenku.io import write_video

    model = tmp_path / "model"
    pipeline.save_pretrained(model, dtype=torch.float32)
    (model / "dit.safetensors").write_bytes(b"not weights")
    write_video(tmp_path / "in.mp4", clip, 8.0)
    common = ["--model", str(model), "-o", str(tmp_path / "out.mp4")]
    cases = [
        (["generate", " ", *common], "prompt is empty"),
        (["generate", "a ball", "--size", "96x96", *common], "size 96x96 is not supported"),
        (["generate", "a ball", "--seconds", "0", *common], "seconds must be > 0"),
        (["generate", "a ball", "--steps", "0", *common], "steps must be >= 1"),
        (["generate", "a ball", "--fps", "24", *common], "generates at 8 fps"),
        (["image", "a ball", "--seed", "-1", "--model", str(model), "-o", str(tmp_path / "i.png")], "seed must be"),
        (["extend", str(tmp_path / "in.mp4"), "a ball", "--guidance", "-1", *common], "guidance must be"),
        (["loop", "a ball", "--size", "64x65", *common], "size 64x65 is not supported"),
        (["generate", "a ball", "--binding-guidance", "-0.5", *common], "binding_guidance must be a finite number >= 0"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err, argv
    # the same model with a valid request fails on its weights: the checks above ran before loading
    assert main(["generate", "a ball", *common]) == 2
    assert "dit.safetensors" in capsys.readouterr().err


def test_cli_reads_colour_names_unless_told_not_to(pipeline, tmp_path, capsys):
    import json

    from tenku.cli import main
    from tenku.io import read_image

    model = tmp_path / "model"
    pipeline.save_pretrained(model, dtype=torch.float32)
    pipeline.vae.save_pretrained(model / "vae", dtype=torch.float32)
    config = json.loads((model / "pipeline.json").read_text())
    (model / "pipeline.json").write_text(json.dumps({**config, "colour_names": True}))
    common = ["--model", str(model), "--steps", "1"]
    capsys.readouterr()
    assert main(["image", "a sapphire ball", "-o", str(tmp_path / "read.png"), *common]) == 0
    assert "reading 'sapphire' as 'blue'" in capsys.readouterr().out
    assert main(["image", "a blue ball", "-o", str(tmp_path / "blue.png"), *common]) == 0
    assert main(["image", "a sapphire ball", "-o", str(tmp_path / "literal.png"), "--literal-prompt", *common]) == 0
    assert "reading" not in capsys.readouterr().out
    read, blue, literal = (read_image(tmp_path / f"{n}.png") for n in ("read", "blue", "literal"))
    np.testing.assert_array_equal(read, blue)
    assert not np.array_equal(literal, blue)
