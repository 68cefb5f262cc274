import dataclasses
import json
import re

import numpy as np
import pytest
import torch

from tenku.data import VAEBatches, VAEDataConfig
from tenku.footage import Footage
from tenku.models import INT8_SCALE
from tenku.similarity import psnr, psnr_uint8, ssim
from tenku.train_vae import VAETrainConfig, train_vae
from tenku.vae import (
    CausalConv3d,
    VAEConfig,
    VideoVAE,
    latent_frames,
    pack,
    pad_video,
    reconstruct_frames,
    vae_tiny,
)


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    model = VideoVAE(vae_tiny()).eval()
    # Non-trivial latent statistics, so normalisation is exercised.
    model.latent_mean.uniform_(-0.5, 0.5)
    model.latent_std.uniform_(0.5, 2.0)
    return model


def video(t, h=32, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, t, h, w, generator=g) * 2 - 1


@pytest.mark.parametrize("t,h,w", [(1, 32, 32), (5, 32, 32), (17, 16, 24), (9, 64, 112), (9, 112, 64), (1, 8, 8)])
def test_shapes(vae, t, h, w):
    z = vae.encode(video(t, h, w))
    assert z.shape == (1, 4, latent_frames(t), h // 8, w // 8)
    assert vae.decode(z).shape == (1, 3, t, h, w)


def test_causal_first_frame_alone(vae):
    x = video(17)
    z_all = vae.encode(x)
    z_first = vae.encode(x[:, :, :1])
    torch.testing.assert_close(z_first[:, :, 0], z_all[:, :, 0], atol=1e-5, rtol=0)
    # The first four groups do not depend on what comes later.
    z_prefix = vae.encode(x[:, :, :9])
    torch.testing.assert_close(z_prefix, z_all[:, :, :3], atol=1e-5, rtol=0)


def test_future_does_not_leak(vae):
    x = video(9)
    y = x.clone()
    y[:, :, 5:] = -y[:, :, 5:]
    a, b = vae.encode(x), vae.encode(y)
    torch.testing.assert_close(a[:, :, :2], b[:, :, :2], atol=1e-6, rtol=0)
    assert (a[:, :, 2] - b[:, :, 2]).abs().max() > 1e-3


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_chunked_equals_one_shot(vae, chunk):
    x = video(25, 24, 32)
    z = vae.encode(x)
    zc = vae.encode(x, chunk_frames=4 * chunk)
    assert (zc - z).abs().max() <= 1e-4
    out = vae.decode(z)
    out_c = vae.decode(z, chunk_latents=chunk)
    assert (out_c - out).abs().max() <= 1e-4


def test_tiling_shapes_and_identity_when_tile_covers(vae):
    x = video(5, 48, 64)
    z = vae.encode(x)
    torch.testing.assert_close(vae.encode(x, tile=64), z)
    assert vae.encode(x, tile=32).shape == z.shape
    assert vae.decode(z, tile=32).shape == (1, 3, 5, 48, 64)


def test_bad_sizes_raise(vae):
    with pytest.raises(ValueError, match="multiple of 8"):
        vae.encode(video(5, 30, 32))
    with pytest.raises(ValueError, match="1 \\+ 4k"):
        vae.encode(video(4))
    with pytest.raises(ValueError, match="B, 3, T, H, W"):
        vae.encode(torch.zeros(3, 5, 32, 32))
    with pytest.raises(ValueError, match="latent"):
        vae.decode(torch.zeros(1, 3, 2, 4, 4))
    with pytest.raises(ValueError, match="multiple of 4"):
        vae.encode(video(17), chunk_frames=6)
    with pytest.raises(ValueError):
        VAEConfig(channels=(8, 8))


def test_pad_and_reconstruct_any_size(vae):
    frames = (np.random.default_rng(0).random((6, 21, 30, 3)) * 255).astype(np.uint8)
    padded, original = pad_video(torch.zeros(1, 3, 6, 21, 30))
    assert padded.shape[2:] == (9, 24, 32) and original == (6, 21, 30)
    assert reconstruct_frames(vae, frames).shape == frames.shape
    for chunk_latents in (0, -2):  # was "range() arg 3 must not be zero"
        with pytest.raises(ValueError, match="chunk_latents must be an integer >= 1"):
            reconstruct_frames(vae, frames, chunk_latents=chunk_latents)


def test_refine_draws_the_input_closer_and_leaves_the_weights_alone(vae):
    # A clip the decoder can draw exactly (a decoded random latent), so refinement has room to close in.
    x = vae.decode(torch.randn(1, 4, 3, 2, 2, generator=torch.Generator().manual_seed(3)))
    z = vae.encode(x)
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    refined = vae.refine(x, z, steps=8, lr=0.2)
    assert refined.shape == z.shape and not refined.requires_grad
    error = lambda latent: (vae.decode(latent) - x).pow(2).mean().item()  # noqa: E731
    assert error(refined) < 0.5 * error(z)
    assert all(torch.equal(v, vae.state_dict()[k]) for k, v in before.items())
    assert all(p.grad is None for p in vae.parameters())
    assert vae.refine(x, z, steps=0) is z
    # Chunked: the first chunk is refined against its own frames alone, whatever follows (causal),
    # and the later ones still draw their frames closer.
    chunked = vae.refine(x, z, steps=8, lr=0.2, chunk_latents=2)
    torch.testing.assert_close(chunked[:, :, :2], vae.refine(x[:, :, :5], z[:, :, :2], steps=8, lr=0.2))
    late = lambda latent: (vae.decode(latent)[:, :, 5:] - x[:, :, 5:]).pow(2).mean().item()  # noqa: E731
    assert late(chunked) < late(z)
    calls = []
    vae.refine(x, z, steps=3, chunk_latents=2, progress=lambda info: calls.append((info["step"], info["total"])))
    assert calls == [(k, 6) for k in range(1, 7)]


def test_refine_rejects_bad_arguments(vae):
    x = video(9, 16, 24)
    z = vae.encode(x)
    for kwargs, match in [
        (dict(steps=-1), "refine steps must be an integer >= 0"),
        (dict(steps=2.5), "refine steps must be an integer >= 0"),
        (dict(lr=0), "refine lr must be a positive number"),
        (dict(lr=float("nan")), "refine lr must be a positive number"),
        (dict(chunk_latents=0), "chunk_latents must be an integer >= 1"),
    ]:
        with pytest.raises(ValueError, match=match):
            vae.refine(x, z, **kwargs)
    with pytest.raises(ValueError, match=r"does not belong to a video of shape \(1, 3, 5, 16, 24\)"):
        vae.refine(x[:, :, :5], z)
    with pytest.raises(ValueError, match="expected a video tensor"):
        vae.refine(x[0], z)


def test_save_load_round_trip(vae, tmp_path):
    vae.save_pretrained(tmp_path, dtype=torch.float32)
    loaded = VideoVAE.from_pretrained(tmp_path)
    x = video(5)
    torch.testing.assert_close(loaded.encode(x), vae.encode(x))
    with pytest.raises(FileNotFoundError):
        VideoVAE.from_pretrained(tmp_path / "missing")


def test_int8_encoder_storage(vae, tmp_path):
    """int8_encoder stores every encoder weight of 2+ dims as int8 plus per-channel scales: within
    half a scale step of the original, the rest stored as before, and saving what was loaded again
    gives the same values."""
    from safetensors.torch import load_file

    packed = VideoVAE(dataclasses.replace(vae.config, int8_encoder=True))
    packed.load_state_dict(vae.state_dict())
    packed.save_pretrained(tmp_path / "int8", dtype=torch.float32)
    raw = load_file(str(tmp_path / "int8" / "vae.safetensors"))
    quantised = [k for k, v in vae.state_dict().items() if k.startswith("encoder.") and v.dim() >= 2]
    assert quantised and all(raw[k].dtype == torch.int8 for k in quantised)
    assert not any(v.dtype == torch.int8 for k, v in raw.items() if not k.startswith("encoder."))
    loaded = VideoVAE.from_pretrained(tmp_path / "int8")
    assert loaded.config.int8_encoder
    original, got = vae.state_dict(), loaded.state_dict()
    for k, v in original.items():
        if k in quantised:
            assert torch.all((got[k] - v).abs() <= raw[k + INT8_SCALE] / 2 + 1e-7), k
        else:
            assert torch.equal(got[k], v), k
    assert sum(not torch.equal(got[k], original[k]) for k in quantised) > len(quantised) / 2
    loaded.save_pretrained(tmp_path / "again", dtype=torch.float32)
    again = VideoVAE.from_pretrained(tmp_path / "again").state_dict()
    for k, v in got.items():
        torch.testing.assert_close(again[k], v, rtol=1e-6, atol=1e-8)


def test_int8_tensors_without_their_scales_are_named(vae, tmp_path):
    from safetensors.torch import load_file, save_file

    packed = VideoVAE(dataclasses.replace(vae.config, int8_encoder=True))
    packed.save_pretrained(tmp_path)
    state = load_file(str(tmp_path / "vae.safetensors"))
    name = next(k for k, v in state.items() if v.dtype == torch.int8)
    save_file({k: v for k, v in state.items() if k != name + INT8_SCALE}, str(tmp_path / "vae.safetensors"))
    with pytest.raises(ValueError, match=re.escape(f"vae.safetensors: int8 tensor '{name}' has no {INT8_SCALE} partner")):
        VideoVAE.from_pretrained(tmp_path)
    save_file({**state, name: state[name].float()}, str(tmp_path / "vae.safetensors"))
    with pytest.raises(ValueError, match="does not scale an int8 tensor"):
        VideoVAE.from_pretrained(tmp_path)


def test_broken_files_are_named(vae, tmp_path):
    config = json.loads(json.dumps(dataclasses.asdict(vae.config)))
    for damage, match in [
        (lambda: (tmp_path / "vae_config.json").write_text("[1, 2"), "vae_config.json: not valid JSON"),
        (lambda: (tmp_path / "vae_config.json").write_text("[1, 2]"), "vae_config.json: expected a JSON object"),
        (lambda: (tmp_path / "vae_config.json").write_text(json.dumps({**config, "colour": 1})),
         "vae_config.json: not a valid VAEConfig.*colour"),
        (lambda: (tmp_path / "vae_config.json").write_text(json.dumps({**config, "latent_channels": 8})),
         "vae.safetensors: the weights do not fit.*of the wrong shape"),
        (lambda: (tmp_path / "vae.safetensors").write_bytes(b"\x00" * 64), "vae.safetensors: not a readable safetensors"),
    ]:
        vae.save_pretrained(tmp_path, dtype=torch.float32)
        damage()
        with pytest.raises(ValueError, match=match):
            VideoVAE.from_pretrained(tmp_path)


def test_reconstruct_cli_outputs(vae, tmp_path, capsys):
    """An image output holds one frame, so a video is refused rather than cut to its first frame; an
    image may be written as a one-frame mp4; the input is never the output."""
    from tenku.cli import main
    from tenku.io import probe_video, write_image, write_video

    model = tmp_path / "model"
    vae.save_pretrained(model, dtype=torch.float32)
    frames = (np.random.default_rng(0).random((9, 24, 40, 3)) * 255).astype(np.uint8)
    write_video(tmp_path / "in.mp4", frames, 8.0)
    write_image(tmp_path / "in.png", frames[0])
    common = ["--model", str(model)]
    assert main(["vae", "reconstruct", str(tmp_path / "in.mp4"), "-o", str(tmp_path / "out.png"), *common]) == 2
    assert "out.png: an image holds one frame but the input has 9" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()
    assert main(["vae", "reconstruct", str(tmp_path / "in.mp4"), "-o", str(tmp_path / "out.png"), "--max-frames", "1",
                 *common]) == 0
    assert (tmp_path / "out.png").is_file()
    assert main(["vae", "reconstruct", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.mp4"), *common]) == 0
    assert probe_video(tmp_path / "out.mp4").num_frames == 1
    before = (tmp_path / "in.mp4").read_bytes()
    assert main(["vae", "reconstruct", str(tmp_path / "in.mp4"), "-o", str(tmp_path / "in.mp4"), *common]) == 2
    assert "is also the input" in capsys.readouterr().err and (tmp_path / "in.mp4").read_bytes() == before
    assert main(["vae", "reconstruct", str(tmp_path / "in.mp4"), "--chunk-latents", "0", *common]) == 2
    assert "chunk_latents must be" in capsys.readouterr().err
    assert main(["vae", "reconstruct", str(tmp_path / "in.mp4"), "--refine", "-1", *common]) == 2
    assert "refine steps must be an integer >= 0" in capsys.readouterr().err


def test_reconstruct_cli_refine_prints_a_higher_psnr(vae, tmp_path, capsys):
    from tenku.cli import main
    from tenku.io import write_video

    model = tmp_path / "model"
    vae.save_pretrained(model, dtype=torch.float32)
    frames = (np.random.default_rng(1).random((5, 16, 16, 3)) * 255).astype(np.uint8)
    write_video(tmp_path / "in.mp4", frames, 8.0)
    scores = []
    for refine in ("0", "15"):
        assert main(["vae", "reconstruct", str(tmp_path / "in.mp4"), "-o", str(tmp_path / f"out{refine}.mp4"),
                     "--model", str(model), "--refine", refine]) == 0
        scores.append(float(capsys.readouterr().out.split("PSNR ")[1].split(" dB")[0]))
    assert scores[1] > scores[0] + 0.1


def test_metrics_known_values():
    x = torch.zeros(1, 3, 2, 16, 16)
    assert psnr(x, x + 0.02).item() == pytest.approx(10 * np.log10(4 / 0.0004), rel=1e-4)
    assert ssim(x, x).item() == pytest.approx(1.0, abs=1e-6)
    a = np.zeros((2, 8, 8, 3), np.uint8)
    assert psnr_uint8(a, a + 1) == pytest.approx(10 * np.log10(255**2), rel=1e-6)


def _synthetic_footage():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, size=(1, 48, 48, 3))
    frames = np.concatenate([np.roll(base, i, axis=2) for i in range(20)]).astype(np.uint8)
    return [Footage("synthetic", frames, 25.0)], [frames[0]]


def _tiny_train_config(out, steps):
    return VAETrainConfig(
        out_dir=str(out), model=vae_tiny(), steps=steps, warmup_steps=2, validate_every=10**6,
        data=VAEDataConfig(world_fraction=0.0, crop_sizes=(32,), video_frames=(5,), values_per_step=32 * 32 * 5 * 2),
        checkpoint_minutes=1e9, stats_batches=2,
    )


def test_training_resumes_exactly(tmp_path, monkeypatch):
    import tenku.train_vae as tv

    monkeypatch.setattr(tv, "validation_clips", lambda: {"toy": video(5)})
    footage, stills = _synthetic_footage()
    straight = train_vae(_tiny_train_config(tmp_path / "a", 4), footage, stills, progress=False)

    # Two steps, stop (checkpoint), then resume to four.
    config = _tiny_train_config(tmp_path / "b", 4)
    config.stop_at_step = 1
    train_vae(config, footage, stills, progress=False)
    state = json.loads((tmp_path / "b" / "checkpoint" / "state.json").read_text())
    assert state["step"] == 1
    resumed = train_vae(_tiny_train_config(tmp_path / "b", 4), footage, stills, progress=False)

    a = VideoVAE.from_pretrained(straight).state_dict()
    b = VideoVAE.from_pretrained(resumed).state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=0, rtol=0, msg=key)


def test_batches_are_a_function_of_step():
    footage, stills = _synthetic_footage()
    data = VAEBatches(VAEDataConfig(world_fraction=0.0, crop_sizes=(32,)), footage, stills)
    torch.testing.assert_close(data.batch(7), data.batch(7))
    assert not torch.equal(data.batch(7), data.batch(8))


def _trained_base(tmp_path, monkeypatch):
    """A two-step tiny VAE to fine-tune from, with the synthetic footage it was trained on."""
    import tenku.train_vae as tv

    monkeypatch.setattr(tv, "validation_clips", lambda: {"toy": video(5)})
    footage, stills = _synthetic_footage()
    return train_vae(_tiny_train_config(tmp_path / "base", 2), footage, stills, progress=False), footage, stills


def test_decoder_finetune_keeps_latent_space(tmp_path, monkeypatch):
    base, footage, stills = _trained_base(tmp_path, monkeypatch)
    config = _tiny_train_config(tmp_path / "ft", 3)
    config.init_from, config.train_encoder = str(base), False
    tuned = train_vae(config, footage, stills, progress=False)
    a, b = VideoVAE.from_pretrained(base), VideoVAE.from_pretrained(tuned)
    x = video(5)
    torch.testing.assert_close(a.encode(x), b.encode(x), atol=0, rtol=0)  # same latent space
    assert not torch.equal(a.decode(a.encode(x)), b.decode(b.encode(x)))  # decoder moved


def test_encoder_finetune_keeps_the_decoder(tmp_path, monkeypatch):
    base, footage, stills = _trained_base(tmp_path, monkeypatch)
    config = _tiny_train_config(tmp_path / "enc", 3)
    config.init_from, config.train_decoder = str(base), False  # no anchor: the statistics must stay anyway
    tuned = train_vae(config, footage, stills, progress=False)
    a, b = VideoVAE.from_pretrained(base), VideoVAE.from_pretrained(tuned)
    x = video(5)
    z = a.encode(x)
    torch.testing.assert_close(a.decode(z), b.decode(z), atol=0, rtol=0)  # a latent decodes as before
    assert not torch.equal(a.encode(x), b.encode(x))  # the encoder moved
    for name, value in a.state_dict().items():
        if name.startswith("decoder."):
            torch.testing.assert_close(b.state_dict()[name], value, atol=0, rtol=0)


def test_latent_anchor_keeps_statistics_and_charges_drift(tmp_path, monkeypatch):
    from tenku.train_vae import vae_loss

    base, footage, stills = _trained_base(tmp_path, monkeypatch)
    config = _tiny_train_config(tmp_path / "anchored", 3)
    config.init_from, config.latent_anchor, config.decoder_lr_ratio = str(base), 1.0, 0.5
    tuned = train_vae(config, footage, stills, progress=False)
    a, b = VideoVAE.from_pretrained(base), VideoVAE.from_pretrained(tuned)
    torch.testing.assert_close(a.latent_std, b.latent_std, atol=0, rtol=0)  # statistics kept, not measured again
    torch.testing.assert_close(a.latent_mean, b.latent_mean, atol=0, rtol=0)
    x = video(5)
    assert not torch.equal(a.encode(x), b.encode(x))  # the encoder did train

    # The term is the mean squared drift in latent-std units: zero at the anchor, 0.5² for every mean half a std off.
    mean, logvar = a.encode_distribution(x)
    recon = a.decode_raw(mean)
    plain, _ = vae_loss(config, x, recon, mean, logvar)
    same, parts = vae_loss(config, x, recon, mean, logvar, mean, a.latent_std)
    assert parts["anchor_rms"] == 0 and same.item() == pytest.approx(plain.item())
    shifted = mean + 0.5 * a.latent_std.view(1, -1, 1, 1, 1)
    moved, parts = vae_loss(config, x, recon, shifted, logvar, mean, a.latent_std)
    assert parts["anchor_rms"] == pytest.approx(0.5, rel=1e-4)
    unanchored, _ = vae_loss(config, x, recon, shifted, logvar)
    assert moved.item() == pytest.approx(unanchored.item() + config.latent_anchor * 0.25, rel=1e-5)


def test_mse_term_charges_squared_error():
    from tenku.train_vae import vae_loss

    x = video(5)
    mean, logvar = torch.zeros(1, 4, 2, 1, 1), torch.zeros(1, 4, 2, 1, 1)
    recon = x.clone()
    recon[:, :, 2, :2, :2] += 0.5  # 12 of x's values off by 0.5
    plain, _ = vae_loss(VAETrainConfig(), x, recon, mean, logvar)
    charged, parts = vae_loss(VAETrainConfig(mse_weight=10.0), x, recon, mean, logvar)
    assert parts["mse"] == pytest.approx(12 * 0.25 / x.numel())
    assert charged.item() == pytest.approx(plain.item() + 10.0 * parts["mse"], rel=1e-5)
    with pytest.raises(ValueError, match="mse_weight must be >= 0"):
        VAETrainConfig(mse_weight=-1.0)


@pytest.mark.parametrize("change, message", [({"latent_anchor": -1.0}, "latent_anchor must be"),
                                             ({"decoder_lr_ratio": 0.0}, "decoder_lr_ratio > 0"),
                                             ({"latent_anchor": 0.1}, "set init_from and train_encoder"),
                                             ({"latent_anchor": 0.1, "init_from": "x", "train_encoder": False},
                                              "set init_from and train_encoder"),
                                             ({"train_decoder": False}, "train_decoder=False"),
                                             ({"train_decoder": False, "init_from": "x", "train_encoder": False},
                                              "train_decoder=False")])
def test_anchor_settings_are_checked(change, message):
    with pytest.raises(ValueError, match=message):
        VAETrainConfig(**change)


@pytest.fixture(scope="module", params=[(False, False), (True, False), (True, True)],
                ids=["reach-back", "group-frames", "wide-unfold"])
def frame_vae(request):
    torch.manual_seed(1)
    group_frames, wide_unfold = request.param
    model = VideoVAE(dataclasses.replace(vae_tiny(), frame_decoder=True, group_frames=group_frames, wide_unfold=wide_unfold))
    if wide_unfold:  # trained-looking: a zero branch would pass the chunk and causality tests trivially
        with torch.no_grad():
            model.decoder.wide_unfold.proj.conv.weight.normal_(0, 0.3)
    return model.eval()


def test_group_conv_never_looks_across_a_group():
    torch.manual_seed(0)
    conv = CausalConv3d(2, 3, (3, 3, 3), group=4)
    x = torch.randn(1, 2, 12, 5, 5)
    out = conv(x)
    changed = x.clone()
    changed[:, :, 3] += 1.0  # last frame of the first group
    diff = (conv(changed) - out).abs().amax(dim=(0, 1, 3, 4))
    assert diff[:3].max() == 0 and diff[3] > 0  # causal inside the group
    assert diff[4:].max() == 0  # later groups never see it
    # each group alone gives the same as within the whole video: a group starts afresh
    torch.testing.assert_close(conv(x[:, :, 4:8]), out[:, :, 4:8], atol=1e-6, rtol=0)
    # the same as a plain causal convolution run on each group separately
    conv.group = None
    separately = torch.cat([conv(x[:, :, g : g + 4]) for g in range(0, 12, 4)], dim=2)
    torch.testing.assert_close(out, separately, atol=1e-5, rtol=0)


def test_group_frames_keeps_the_weights_and_needs_a_frame_decoder():
    reach = VideoVAE(dataclasses.replace(vae_tiny(), frame_decoder=True))
    grouped = VideoVAE(dataclasses.replace(vae_tiny(), frame_decoder=True, group_frames=True))
    grouped.load_state_dict(reach.state_dict())  # same parameters: a reach-back decoder fine-tunes into it
    assert any(m.group for m in grouped.decoder.modules() if isinstance(m, CausalConv3d))
    assert not any(m.group for m in grouped.encoder.modules() if isinstance(m, CausalConv3d))
    with pytest.raises(ValueError, match="group_frames needs frame_decoder"):
        VAEConfig(group_frames=True)


@pytest.mark.parametrize("t", [1, 5, 17])
def test_frame_decoder_shapes_and_chunks(frame_vae, t):
    z = frame_vae.encode(video(t, 24, 32))
    out = frame_vae.decode(z)
    assert out.shape == (1, 3, t, 24, 32)
    for chunk in (1, 2):
        assert (frame_vae.decode(z, chunk_latents=chunk) - out).abs().max() <= 1e-4


def test_frame_decoder_is_causal(frame_vae):
    z = frame_vae.encode(video(9))
    whole = frame_vae.decode(z)
    torch.testing.assert_close(frame_vae.decode(z[:, :, :2]), whole[:, :, :5], atol=1e-5, rtol=0)
    changed = z.clone()
    changed[:, :, 2] += 1.0
    torch.testing.assert_close(frame_vae.decode(changed)[:, :, :5], whole[:, :, :5], atol=1e-5, rtol=0)


def test_new_frame_decoder_on_a_frozen_encoder(tmp_path, monkeypatch):
    base, footage, stills = _trained_base(tmp_path, monkeypatch)
    config = _tiny_train_config(tmp_path / "frames", 2)
    config.init_from, config.train_encoder = str(base), False
    config.model = dataclasses.replace(vae_tiny(), frame_decoder=True)
    tuned = train_vae(config, footage, stills, progress=False)
    a, b = VideoVAE.from_pretrained(base), VideoVAE.from_pretrained(tuned)
    assert b.config.frame_decoder
    x = video(5)
    torch.testing.assert_close(a.encode(x), b.encode(x), atol=0, rtol=0)
    assert b.decode(b.encode(x)).shape == x.shape
    # A frozen encoder must come from init_from unchanged: another latent width is refused.
    config = _tiny_train_config(tmp_path / "bad", 2)
    config.init_from, config.train_encoder = str(base), False
    config.model = dataclasses.replace(vae_tiny(), latent_channels=8)
    with pytest.raises(ValueError, match="train_encoder=False"):
        train_vae(config, footage, stills, progress=False)


def test_deepened_vae_starts_where_its_source_ended(tmp_path):
    from tenku.train_vae import init_from_trained

    torch.manual_seed(3)
    base = VideoVAE(vae_tiny()).eval()  # blocks (1, 0, 1) per level in both halves
    for p in base.parameters():  # trained-looking weights: no zero convolutions to hide a misload
        p.data.add_(0.05 * torch.randn_like(p))
    base.save_pretrained(tmp_path / "base", dtype=torch.float32)
    config = _tiny_train_config(tmp_path / "deep", 2)
    config.init_from = str(tmp_path / "base")
    config.model = dataclasses.replace(vae_tiny(), encoder_blocks=(2, 1, 1), decoder_blocks=(1, 2, 3))
    deep = init_from_trained(config).eval()
    assert sum(p.numel() for p in deep.parameters()) > sum(p.numel() for p in base.parameters())
    x = video(9)
    with torch.no_grad():
        torch.testing.assert_close(deep.encoder(pack(x)), base.encoder(pack(x)), atol=1e-5, rtol=0)
        z = base.encode(x)
        torch.testing.assert_close(deep.decode(z), base.decode(z), atol=1e-5, rtol=0)
    # The same design loads every value unchanged; a shallower one keeps the blocks it has.
    config.model = vae_tiny()
    same = init_from_trained(config)
    for name, value in base.state_dict().items():
        torch.testing.assert_close(same.state_dict()[name], value, atol=0, rtol=0)
    # Blocks move between levels: level 1's two (width 8) are dropped, not loaded into level 0's
    # new second and third blocks (also width 8), which start as the identity.
    other = VideoVAE(dataclasses.replace(vae_tiny(), encoder_blocks=(1, 2, 1)))
    other.save_pretrained(tmp_path / "other", dtype=torch.float32)
    config.init_from, config.model = str(tmp_path / "other"), dataclasses.replace(vae_tiny(), encoder_blocks=(3, 0, 1))
    moved = init_from_trained(config).encoder.layers
    torch.testing.assert_close(moved[0].conv1.conv.weight, other.encoder.layers[0].conv1.conv.weight, atol=0, rtol=0)
    assert not moved[1].conv2.conv.weight.any() and not moved[2].conv2.conv.weight.any()


def test_wide_unfold_starts_where_its_source_ended_and_then_learns(tmp_path):
    from tenku.train_vae import init_from_trained

    torch.manual_seed(4)
    design = dataclasses.replace(vae_tiny(), frame_decoder=True, group_frames=True)
    base = VideoVAE(design).eval()
    for p in base.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    base.save_pretrained(tmp_path / "base", dtype=torch.float32)
    config = _tiny_train_config(tmp_path / "wide", 2)
    config.init_from, config.train_encoder = str(tmp_path / "base"), False
    config.model = dataclasses.replace(design, wide_unfold=True)
    wide = init_from_trained(config)
    x = video(9)
    with torch.no_grad():
        z = base.encode(x)
        torch.testing.assert_close(wide.eval().decode(z), base.decode(z), atol=1e-6, rtol=0)
    # the zero branch still gets a gradient, so training moves it
    recon, _, _ = wide.train()(x)
    (recon - x).abs().mean().backward()
    assert wide.decoder.wide_unfold.proj.conv.weight.grad.abs().sum() > 0
    # the branch changes every frame of a group differently: it is a per-frame read
    with torch.no_grad():
        wide.decoder.wide_unfold.proj.conv.weight.normal_(0, 0.3)
        groups = torch.randn(1, 8, 2, 4, 4)
        frames = wide.decoder.wide_unfold(groups)
    assert frames.shape == (1, 8, 8, 8, 8)
    assert (frames[:, :, 4] - frames[:, :, 5]).abs().max() > 0
    with pytest.raises(ValueError, match="wide_unfold needs frame_decoder"):
        VAEConfig(wide_unfold=True)


def test_motion_mask_marks_where_an_object_leaves_and_enters():
    from tenku.train_vae import motion_mask

    x = -torch.ones(1, 3, 3, 16, 16)
    x[:, :, 0, 2:4, 2:4] = 1  # a square at (2, 2), then (2, 10), then still at (2, 10)
    x[:, :, 1:, 2:4, 10:12] = 1
    mask = motion_mask(x)[0, 0]
    assert mask.shape == (3, 16, 16)
    for t in (0, 1):  # both ends of the jump, grown by one pixel
        assert mask[t, 1:5, 1:5].all() and mask[t, 1:5, 9:13].all()
    assert mask[0].sum() == mask[1].sum() == 32 and not mask[2].any()  # nothing changes from frame 1 to 2
    assert not mask[:, 8:].any()
    assert not motion_mask(x[:, :, :1]).any()  # an image has no motion


def test_motion_weight_puts_errors_on_moving_pixels_first():
    from tenku.train_vae import vae_loss

    x = -torch.ones(1, 3, 2, 16, 16)
    x[:, :, 1, 4:8, 4:8] = 1
    mean = logvar = torch.zeros(1, 4, 1, 2, 2)
    on_object, off_object = x.clone(), x.clone()
    on_object[:, :, 1, 4:8, 4:8] = 0.5
    off_object[:, :, 1, 12:16, 12:16] += 0.5  # the same total error, on still background
    plain = VAETrainConfig(steps=1, ssim_weight=0.0)
    weighted = VAETrainConfig(steps=1, ssim_weight=0.0, motion_weight=4.0)
    assert vae_loss(plain, x, on_object, mean, logvar)[1]["l1"] == pytest.approx(vae_loss(plain, x, off_object, mean, logvar)[1]["l1"])
    assert vae_loss(weighted, x, on_object, mean, logvar)[1]["l1"] > 2 * vae_loss(weighted, x, off_object, mean, logvar)[1]["l1"]



def test_temporal_weight_charges_a_jump_between_frames_not_a_steady_offset():
    from tenku.train_vae import temporal_error, vae_loss

    x = torch.linspace(-1, 1, 5).reshape(1, 1, 5, 1, 1).expand(1, 3, 5, 8, 8).contiguous()  # brightens steadily
    steady = x + 0.2  # off by the same amount in every frame: it changes as the input does
    lagging = x.clone()
    lagging[:, :, 1:4] = x[:, :, 1:2]  # holds frame 1 for a group, then jumps to frame 4
    assert temporal_error(x, steady).item() == pytest.approx(0.0, abs=1e-6)
    assert temporal_error(x, lagging).item() > 0.1
    assert temporal_error(x[:, :, :1], steady[:, :, :1]).item() == 0.0  # an image has no frame steps
    mean = logvar = torch.zeros(1, 4, 2, 1, 1)
    plain = VAETrainConfig(steps=1, ssim_weight=0.0)
    weighted = VAETrainConfig(steps=1, ssim_weight=0.0, temporal_weight=1.0)
    assert "temporal" not in vae_loss(plain, x, lagging, mean, logvar)[1]
    gap = vae_loss(weighted, x, lagging, mean, logvar)[0] - vae_loss(plain, x, lagging, mean, logvar)[0]
    assert gap.item() == pytest.approx(temporal_error(x, lagging).item(), rel=1e-5)
    with pytest.raises(ValueError, match="temporal_weight"):
        VAETrainConfig(steps=1, temporal_weight=-1.0)


def test_vae_training_runs_in_fp32_where_bf16_is_emulated(tmp_path, monkeypatch, capsys):
    import tenku.precision as precision
    import tenku.train_vae as tv

    monkeypatch.setattr(tv, "validation_clips", lambda: {"toy": video(5)})
    monkeypatch.setattr(precision, "bf16_speedup", lambda: 0.01)
    footage, stills = _synthetic_footage()
    train_vae(_tiny_train_config(tmp_path / "run", 1), footage, stills, progress=False)
    assert "train vae: this CPU has no native bf16 matmul" in capsys.readouterr().err
    assert json.loads((tmp_path / "run" / "config.json").read_text())["bf16"] is False
