"""Weight averaging of trained models (a "model soup"): `tenku train average A B --out C`.

Two fine-tunings of one model (the same architecture, started from the same weights) can be
averaged parameter by parameter; the mean often follows prompts better than either. The result is
an ordinary model directory: the averaged dit.safetensors, the shared dit_config.json, and the first
source's pipeline.json with its VAE path rewritten to point at the same VAE from the new place.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path


def average_models(sources: list[str | Path], out: str | Path, weights: list[float] | None = None) -> Path:
    """Write the weighted mean of the DiT weights of `sources` (model directories) to `out`.

    `weights` (default equal) are normalised to sum to 1. Means are taken in float32 and stored in
    the first source's dtype. The sources must share dit_config.json. `out` must not already hold a
    model, and may not be one of the sources: nothing the user has is overwritten."""
    import torch
    from safetensors.torch import save_file

    from tenku.models import read_json_object, read_safetensors
    from tenku.pipeline import MODEL_FILES, model_directory

    sources = [model_directory(s) for s in sources]
    if len(sources) < 2:
        raise ValueError("averaging needs at least two model directories")
    weights = _normalised(weights, len(sources))
    out = Path(out)
    if out.resolve() in {s.resolve() for s in sources}:
        raise ValueError(f"{out}: the output directory is one of the sources; write the average somewhere new")
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: exists and is not a directory")
    taken = [name for name in MODEL_FILES if (out / name).exists()]
    if taken:
        raise ValueError(f"{out}: already holds {', '.join(taken)}; choose an empty or new directory "
                         "(tenku does not overwrite a model)")

    configs = [read_json_object(s / "dit_config.json") for s in sources]
    for source, config in zip(sources[1:], configs[1:]):
        if config != configs[0]:
            differ = sorted(k for k in configs[0].keys() | config.keys() if configs[0].get(k) != config.get(k))
            raise ValueError(f"{source / 'dit_config.json'}: a different architecture from "
                             f"{sources[0] / 'dit_config.json'} (fields {', '.join(differ)}); "
                             "only models of one architecture can be averaged")

    total: dict[str, torch.Tensor] = {}
    dtypes: dict[str, torch.dtype] = {}
    for source, weight in zip(sources, weights):
        path = source / "dit.safetensors"
        state = read_safetensors(path)
        if total and state.keys() != total.keys():
            raise ValueError(f"{path}: holds other tensors than {sources[0] / 'dit.safetensors'}")
        for name, tensor in state.items():
            if name in total and tensor.shape != total[name].shape:
                raise ValueError(f"{path}: tensor {name!r} has shape {tuple(tensor.shape)}, "
                                 f"not {tuple(total[name].shape)} as in {sources[0] / 'dit.safetensors'}")
            value = tensor.float() * weight
            if not torch.isfinite(value).all():
                raise ValueError(f"{path}: tensor {name!r} holds non-finite values")
            if name in total:
                total[name] += value
            else:
                total[name], dtypes[name] = value, tensor.dtype

    pipeline = read_json_object(sources[0] / "pipeline.json")
    vae = pipeline.get("vae")
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(vae, str) and not Path(vae).is_absolute():
        pipeline["vae"] = os.path.relpath((sources[0] / vae).resolve(), out.resolve())
    save_file({k: v.to(dtypes[k]).contiguous() for k, v in total.items()}, str(out / "dit.safetensors"),
              metadata={"tenku_average_of": json.dumps([str(s) for s in sources]),
                        "tenku_average_weights": json.dumps(weights)})
    (out / "dit_config.json").write_text(json.dumps(configs[0], indent=2) + "\n")
    (out / "pipeline.json").write_text(json.dumps(pipeline, indent=2) + "\n")
    return out


def _normalised(weights: list[float] | None, count: int) -> list[float]:
    if weights is None:
        return [1.0 / count] * count
    if len(weights) != count:
        raise ValueError(f"{len(weights)} weights for {count} models; give one weight per model")
    if not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"weights must be finite numbers >= 0 with a positive sum, not {weights}")
    return [w / sum(weights) for w in weights]


def add_average_command(train_commands: argparse._SubParsersAction) -> None:
    average = train_commands.add_parser(
        "average", help="average the weights of trained models of one architecture (a model soup)")
    average.add_argument("models", nargs="+", help="two or more model directories")
    average.add_argument("--out", required=True, help="new directory for the averaged model")
    average.add_argument("--weights", type=float, nargs="+", default=None,
                         help="one weight per model (default equal); normalised to sum to 1")
    average.set_defaults(handler=_average)


def _average(args: argparse.Namespace) -> int:
    out = average_models(args.models, args.out, args.weights)
    print(f"averaged {len(args.models)} models into {out}")
    return 0
