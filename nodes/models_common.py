"""Inputs shared by nodes that run learned models: device, precision, tile size."""
from __future__ import annotations

from typing import Any

from ..model_loaders.device import DEVICES, PRECISIONS
from ..model_loaders.folders import list_models


def model_choice(kind: str, tooltip: str) -> tuple[list[str], dict[str, Any]]:
    return (["none"] + list_models(kind), {"default": "none", "tooltip": tooltip})


RUNTIME_INPUTS: dict[str, Any] = {
    "tile": ("INT", {"default": 512, "min": 0, "max": 4096, "step": 64,
                     "tooltip": "Tile size in pixels for model inference (0 = whole frame); halved on out-of-memory."}),
    "device": (list(DEVICES), {"default": "auto", "tooltip": "Where the model runs; auto picks the GPU if any."}),
    "precision": (list(PRECISIONS), {"default": "auto",
                                     "tooltip": "auto: fp16 on GPU where the model allows, fp32 on CPU."}),
}
