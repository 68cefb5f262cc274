import json
import re

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from tenku.average import average_models
from tenku.cli import main
from tenku.dit import DiT, dit_tiny
from tenku.pipeline import Pipeline, PipelineConfig
from tenku.text import load_text_encoder
from tenku.vae import VideoVAE, vae_tiny


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two tiny models of one architecture with different weights, each with its own VAE folder."""
    root = tmp_path_factory.mktemp("soup")
    text = load_text_encoder("minilm")
    torch.manual_seed(0)
    vae = VideoVAE(vae_tiny())
    dirs = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        dit = DiT(dit_tiny(in_channels=4, text_dim=384))
        for p in dit.parameters():
            p.data.normal_(0, 0.05)
        directory = root / f"m{seed}"
        Pipeline(dit, vae, text, PipelineConfig(steps=2, vae="vae")).save_pretrained(directory)
        vae.save_pretrained(directory / "vae", dtype=torch.float32)
        dirs.append(directory)
    return dirs


def test_average_is_the_weighted_mean_in_the_sources_dtype_and_loads(models, tmp_path):
    a, b = (load_file(str(d / "dit.safetensors")) for d in models)
    out = average_models(models, tmp_path / "soup", weights=[3, 1])
    soup = load_file(str(out / "dit.safetensors"))
    assert soup.keys() == a.keys()
    for name in a:
        expected = (0.75 * a[name].float() + 0.25 * b[name].float()).half()
        assert soup[name].dtype == torch.float16
        torch.testing.assert_close(soup[name], expected, rtol=0, atol=0)
    assert json.loads((out / "dit_config.json").read_text()) == json.loads((models[0] / "dit_config.json").read_text())
    # The VAE path now leads from the new folder to the first source's VAE.
    pipeline = Pipeline.from_pretrained(out)
    frames = pipeline.generate("a red ball moving right", seconds=1.0, size=(64, 64), steps=2, seed=0)
    assert frames.shape == (9, 64, 64, 3)
    assert (out / json.loads((out / "pipeline.json").read_text())["vae"]).resolve() == (models[0] / "vae").resolve()


def test_average_cli_equal_weights(models, tmp_path, capsys):
    assert main(["train", "average", str(models[0]), str(models[1]), "--out", str(tmp_path / "soup")]) == 0
    a, b = (load_file(str(d / "dit.safetensors")) for d in models)
    soup = load_file(str(tmp_path / "soup" / "dit.safetensors"))
    name = next(iter(a))
    np.testing.assert_array_equal(soup[name].numpy(), ((a[name].float() + b[name].float()) / 2).half().numpy())
    assert "averaged 2 models" in capsys.readouterr().out


def _other_architecture(models, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    for name in ("dit.safetensors", "pipeline.json"):
        (other / name).write_bytes((models[1] / name).read_bytes())
    config = json.loads((models[1] / "dit_config.json").read_text())
    config["depth"] += 1
    (other / "dit_config.json").write_text(json.dumps(config))
    return other


@pytest.mark.parametrize(
    "case,match",
    [
        ("one model", "at least two model directories"),
        ("out is a source", "one of the sources"),
        ("out holds a model", "already holds dit.safetensors"),
        ("weights count", "2 weights for 3 models"),
        ("negative weight", "weights must be finite numbers >= 0"),
        ("other architecture", "a different architecture .*fields depth"),
        ("other tensors", "holds other tensors"),
        ("not safetensors", "not a readable safetensors file"),
        ("missing file", "dit_config.json: missing"),
    ],
)
def test_average_refuses_bad_input_with_a_clear_error(models, tmp_path, capsys, case, match):
    sources, out, weights = [str(models[0]), str(models[1])], str(tmp_path / "soup"), []
    if case == "one model":
        sources = sources[:1]
    elif case == "out is a source":
        out = sources[1]
    elif case == "out holds a model":
        (tmp_path / "soup").mkdir()
        (tmp_path / "soup" / "dit.safetensors").write_bytes(b"precious")
    elif case == "weights count":
        sources, weights = sources + [sources[0]], ["--weights", "1", "2"]
    elif case == "negative weight":
        weights = ["--weights", "1", "-1"]
    elif case == "other architecture":
        sources[1] = str(_other_architecture(models, tmp_path))
    elif case in ("other tensors", "not safetensors", "missing file"):
        broken = tmp_path / "broken"
        broken.mkdir()
        for name in ("dit.safetensors", "dit_config.json", "pipeline.json"):
            (broken / name).write_bytes((models[1] / name).read_bytes())
        if case == "other tensors":
            state = load_file(str(broken / "dit.safetensors"))
            state.pop(next(iter(state)))
            save_file(state, str(broken / "dit.safetensors"))
        elif case == "not safetensors":
            (broken / "dit.safetensors").write_bytes(b"not a model")
        else:
            (broken / "dit_config.json").unlink()
        sources[1] = str(broken)
    before = (models[1] / "dit.safetensors").read_bytes()
    assert main(["train", "average", *sources, "--out", out, *weights]) == 2
    assert re.search(match, capsys.readouterr().err)
    assert (models[1] / "dit.safetensors").read_bytes() == before
    if case == "out holds a model":
        assert (tmp_path / "soup" / "dit.safetensors").read_bytes() == b"precious"
