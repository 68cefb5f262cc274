"""tenku: open text-to-video on spacetime patches of a causal video latent.

`tenku.Pipeline` (text, image and video in, video out) and `tenku.VideoVAE` are imported on first
use, so that `import tenku` and the command line's start stay light (no torch until needed).
"""

__version__ = "0.1.0"

_LAZY = {"Pipeline": "tenku.pipeline", "PipelineConfig": "tenku.pipeline", "VideoVAE": "tenku.vae"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tenku' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
