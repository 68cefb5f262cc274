"""Where shipped models live and how they are loaded.

Shipped models are directories under `models/` at the repository root (the README installs
tenku in editable mode, so they sit next to the package). `TENKU_MODELS` overrides the root.
"""

from __future__ import annotations

import os
from pathlib import Path

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


def load_vae(path: str | Path | None = None):
    """Load a VAE from a directory (vae.safetensors + vae_config.json); None: the shipped one."""
    from tenku.vae import VideoVAE

    directory = shipped_model_dir(DEFAULT_VAE) if path is None else Path(path)
    if not directory.exists():
        raise FileNotFoundError(f"{directory}: no such model directory")
    return VideoVAE.from_pretrained(directory)
