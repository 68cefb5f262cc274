"""Where shipped models live and how they are loaded.

Shipped models are directories under `models/` at the repository root (the README installs
tenku in editable mode, so they sit next to the package). `TENKU_MODELS` overrides the root.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

DEFAULT_VAE = "tenku-vae"


def models_root() -> Path:
    env = os.environ.get("TENKU_MODELS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "models"


def shipped_model_dir(name: str) -> Path:
    path = models_root() / name
    if not path.is_dir():
        raise FileNotFoundError(
            f"{path}: the shipped model '{name}' is not there; install tenku from a clone of the repository "
            "(`pip install -e .`) or set TENKU_MODELS to the folder that holds the models"
        )
    return path


def read_json_object(path: Path, what: str = "a JSON object") -> dict:
    """A JSON file holding an object; bad JSON or another JSON value is a ValueError naming the file."""
    try:
        values = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected {what}")
    return values


def read_config(path: Path, config_class: type[T]) -> T:
    """A dataclass config from its JSON file; bad JSON or fields are a ValueError naming the file."""
    values = read_json_object(path, f"a JSON object of {config_class.__name__} fields")
    try:
        return config_class(**values)
    except (TypeError, ValueError) as error:  # unknown or missing fields, or values __post_init__ refuses
        raise ValueError(f"{path}: not a valid {config_class.__name__} ({error})") from None


INT8_SCALE = ".int8_scale"
"""Suffix of the key that holds the per-output-channel scales of a weight stored as int8."""


def quantize_int8(weight) -> tuple:
    """Symmetric int8 with one float32 scale per output channel (dim 0): weight ~= q * scale, with
    an error of at most half a scale step. Returns (q, scale), scale shaped to broadcast over q."""
    import torch

    flat = weight.detach().float().reshape(weight.shape[0], -1)
    scale = flat.abs().amax(1).clamp_min(1e-12) / 127
    q = (flat / scale[:, None]).round().clamp(-127, 127).to(torch.int8)
    return q.reshape(weight.shape), scale.reshape(-1, *[1] * (weight.dim() - 1))


def dequantize_int8(state: dict, path: Path) -> dict:
    """`state` with every int8 weight and its `INT8_SCALE` partner replaced by the float32 weight."""
    import torch

    out = {k: v for k, v in state.items() if not k.endswith(INT8_SCALE)}
    for key in (k for k in state if k.endswith(INT8_SCALE)):
        name = key[: -len(INT8_SCALE)]
        q, scale = state.get(name), state[key]
        if q is None or q.dtype != torch.int8 or scale.shape != (q.shape[0], *[1] * (q.dim() - 1)):
            raise ValueError(f"{path}: {key} does not scale an int8 tensor {name!r} of matching shape")
        out[name] = q.float() * scale.float()
    unscaled = [k for k, v in out.items() if v.dtype == torch.int8]
    if unscaled:
        raise ValueError(f"{path}: int8 tensor {unscaled[0]!r} has no {INT8_SCALE} partner")
    return out


def read_safetensors(path: Path) -> dict:
    """The tensors of a safetensors file, int8-stored weights (`quantize_int8`) turned back into
    float32; a file that is not one is a ValueError naming it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except SafetensorError as error:
        raise ValueError(f"{path}: not a readable safetensors file ({error})") from None
    return dequantize_int8(state, path)


def load_weights(model, path: Path) -> None:
    """Load safetensors weights into `model` as float32. A file that is not safetensors, or whose
    tensors do not fit the model its config describes, is a ValueError naming the file."""
    state = read_safetensors(path)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    if found != expected:
        missing, unexpected = sorted(expected.keys() - found.keys()), sorted(found.keys() - expected.keys())
        wrong = sorted(k for k in expected.keys() & found.keys() if expected[k] != found[k])
        example = (missing or unexpected or wrong)[0]
        raise ValueError(f"{path}: the weights do not fit the model its config describes ({len(missing)} missing, "
                         f"{len(unexpected)} unexpected, {len(wrong)} of the wrong shape, e.g. {example!r})")
    model.load_state_dict({k: v.float() for k, v in state.items()})


def load_vae(path: str | Path | None = None):
    """Load a VAE from a directory (vae.safetensors + vae_config.json); None: the shipped one."""
    from tenku.vae import VideoVAE

    directory = shipped_model_dir(DEFAULT_VAE) if path is None else Path(path)
    if not directory.exists():
        raise FileNotFoundError(f"{directory}: no such model directory")
    return VideoVAE.from_pretrained(directory)
