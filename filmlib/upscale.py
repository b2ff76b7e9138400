"""Upscaling a clip: classical resampling (Lanczos, bicubic) or any single-image model, to a factor or height."""
from __future__ import annotations

from typing import Protocol

import numpy as np

from .clip import Film, Stage
from .errors import InputError
from .frames import even, from_float, to_float

METHODS = ("lanczos", "bicubic", "model")


class FrameModel(Protocol):
    """A learned image model: float frames (n, H, W, C) in [0, 1] -> (n, H*scale, W*scale, C)."""

    scale: int
    signature: str

    def __call__(self, frames: np.ndarray) -> np.ndarray: ...


def output_size(width: int, height: int, factor: float = 0.0, target_height: int = 0) -> tuple[int, int]:
    """Output (width, height): by ``target_height`` when set, else by ``factor``; even, aspect kept."""
    if target_height > 0:
        f = target_height / height
        return even(width * f), even(target_height)
    if factor <= 0:
        raise InputError(f"give a factor > 0 or a target height, got factor={factor}, height={target_height}")
    return even(width * factor), even(height * factor)


def resize(frames: np.ndarray, width: int, height: int, method: str) -> np.ndarray:
    """Resize float frames (n, H, W, C); downscaling always uses area averaging (no aliasing)."""
    import cv2
    h, w = frames.shape[1:3]
    if (w, h) == (width, height):
        return frames
    down = width < w and height < h
    interp = cv2.INTER_AREA if down else {"lanczos": cv2.INTER_LANCZOS4, "bicubic": cv2.INTER_CUBIC}.get(
        method, cv2.INTER_LANCZOS4)
    out = np.empty((len(frames), height, width, frames.shape[-1]), np.float32)
    for i, f in enumerate(frames):
        out[i] = cv2.resize(f, (width, height), interpolation=interp).reshape(height, width, -1)
    return np.clip(out, 0.0, 1.0)


class UpscaleStage(Stage):
    """Each frame resized to (width, height), by a model (then a good filter to the exact size) or classically."""

    name = "upscale"
    version = "1"

    def __init__(self, source: Film, method: str = "lanczos", factor: float = 2.0, target_height: int = 0,
                 model: FrameModel | None = None):
        if method not in METHODS:
            raise InputError(f"method must be one of {METHODS}, got {method!r}")
        if method == "model" and model is None:
            raise InputError("method 'model' needs a model: choose a model file or connect an upscale model")
        width, height = output_size(source.info.width, source.info.height, factor, target_height)
        super().__init__(source, {"method": method, "size": [width, height],
                                  "model": model.signature if method == "model" and model else None},
                         info=source.info.with_(width=width, height=height))
        self.method, self.model = method, model

    def compute(self, frames: np.ndarray, first: int, start: int, stop: int) -> np.ndarray:
        x = to_float(frames[start - first: stop - first])
        if self.method == "model":
            x = self.model(x)
        return from_float(resize(x, self.info.width, self.info.height, self.method), self.info.dtype)
