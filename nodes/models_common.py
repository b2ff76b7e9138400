"""Inputs shared by nodes that run learned models: device, precision, tile size."""
from __future__ import annotations

from typing import Any, Callable

from ..filmlib.errors import InputError
from ..model_loaders.device import DEVICES, PRECISIONS
from ..model_loaders.folders import find_model, list_models


def model_choice(kind: str, tooltip: str) -> tuple[list[str], dict[str, Any]]:
    return (["none"] + list_models(kind), {"default": "none", "tooltip": tooltip})


def check_model_choice(kind: str, name: str) -> bool | str:
    """For a node's VALIDATE_INPUTS (which replaces ComfyUI's "not one of the choices" check): True when
    ``name`` is "none" or a file in the ``kind`` folders, else the folders searched and how to get it."""
    if name == "none":
        return True
    if not isinstance(name, str) or not name:
        return f"model_name must be a file name or 'none', got {name!r}"
    try:
        find_model(kind, name)
    except InputError as exc:
        return str(exc)
    return True


def check_resolves(resolve: Callable[[str], Any], name: str) -> bool | str:
    """For VALIDATE_INPUTS: True when ``resolve(name)`` finds the model file, else its message (the file, the
    folders searched and how to get it)."""
    try:
        resolve(name)
    except InputError as exc:
        return str(exc)
    return True


def check_choice(name: str, value: Any, choices: Any) -> bool | str:
    """The list check ComfyUI skips for inputs a VALIDATE_INPUTS takes."""
    if value in choices:
        return True
    return f"{name} {value!r} is not one of {', '.join(map(repr, choices))}"


RUNTIME_INPUTS: dict[str, Any] = {
    "tile": ("INT", {"default": 512, "min": 0, "max": 4096, "step": 64,
                     "tooltip": "Tile size in pixels for model inference (0 = whole frame); halved on out-of-memory."}),
    "device": (list(DEVICES), {"default": "auto", "tooltip": "Where the model runs; auto picks the GPU if any."}),
    "precision": (list(PRECISIONS), {"default": "auto",
                                     "tooltip": "auto: fp16 on GPU where the model allows, fp32 on CPU."}),
}
