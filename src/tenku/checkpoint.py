"""Training checkpoints that resume exactly, stored as safetensors plus JSON (never pickle).

A checkpoint directory holds:
  model.safetensors       model weights (and EMA weights under "ema." when present)
  optimizer.safetensors   optimizer tensors, keyed "state.<param index>.<name>"
  state.json              step, optimizer hyper-parameters and scalars, RNG states, data position,
                          the training config, and anything else the trainer adds
Writing goes to a temporary directory that is renamed into place, so an interrupted save never
destroys the previous checkpoint.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file


def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state dict into tensors (for safetensors) and JSON-able rest."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if torch.is_tensor(value) and value.ndim > 0:
                tensors[f"state.{index}.{name}"] = value.detach().contiguous()
            else:
                scalars.setdefault(str(index), {})[name] = value.item() if torch.is_tensor(value) else value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_from_tensors(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value
    for index, values in meta["scalars"].items():
        for name, value in values.items():
            # Adam keeps `step` as a float tensor; restore the same type.
            state.setdefault(int(index), {})[name] = torch.tensor(float(value)) if name == "step" else value
    # The hyper-parameters come from the checkpoint; how the update is computed (a fused kernel or
    # not) stays as the optimizer was built, so a resumed run keeps the trainer's current choice.
    groups = [{**saved, **{k: live[k] for k in _IMPLEMENTATION if k in live}}
              for saved, live in zip(meta["param_groups"], optimizer.param_groups)]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


_IMPLEMENTATION = ("foreach", "fused", "capturable", "differentiable")


def rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state().tolist()}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))


def numpy_rng_state(rng: np.random.Generator) -> dict[str, Any]:
    return _jsonable(rng.bit_generator.state)


def set_numpy_rng_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    rng.bit_generator.state = state


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    return value


def save_checkpoint(
    directory: str | Path,
    model_tensors: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
) -> None:
    directory = Path(directory)
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().contiguous() for k, v in model_tensors.items()}, str(tmp / "model.safetensors"))
    opt_tensors, opt_meta = optimizer_to_tensors(optimizer)
    save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
    (tmp / "state.json").write_text(json.dumps(_jsonable({**state, "optimizer": opt_meta, "rng": rng_state()})))
    old = directory.with_name(directory.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        directory.rename(old)
    tmp.rename(directory)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(directory: str | Path, optimizer: torch.optim.Optimizer | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Returns (model tensors, state); restores the optimizer and torch RNG in place."""
    directory = Path(directory)
    for name in ("model.safetensors", "optimizer.safetensors", "state.json"):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory / name}: missing; not a tenku training checkpoint")
    state = json.loads((directory / "state.json").read_text())
    if optimizer is not None:
        optimizer_from_tensors(optimizer, load_file(str(directory / "optimizer.safetensors")), state["optimizer"])
    set_rng_state(state["rng"])
    return load_file(str(directory / "model.safetensors")), state
