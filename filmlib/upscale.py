"""Upscaling a clip: classical resampling (Lanczos, bicubic) or any single-image model, to a factor or height."""
from __future__ import annotations

from typing import Protocol

import numpy as np

from .clip import CHUNK_BYTES, MAX_CHUNK_FRAMES, ClipInfo, Film, Stage
from .errors import InputError
from .frames import even, to_float
from .io.limits import available_memory, human_bytes

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
    return np.clip(out, 0.0, 1.0, out=out)


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
        check_upscale_memory(source.info, width, height, model.scale if model else 0)
        if model is not None and hasattr(model, "check_fits"):
            model.check_fits(source.info.width, source.info.height, self.chunk_frames)

    def compute(self, frames: np.ndarray, first: int, start: int, stop: int) -> np.ndarray:
        x = to_float(frames[start - first: stop - first])
        if self.method == "model":
            x = self.model(x)
        x = resize(x, self.info.width, self.info.height, self.method)
        # in place: a full-size float temporary less at the peak, which decides whether huge frames fit
        maxv = float(self.info.max_value)
        np.multiply(x, maxv, out=x)
        x += 0.5
        np.clip(x, 0.0, maxv, out=x)
        return x.astype(self.info.dtype)


def upscale_memory(info: ClipInfo, width: int, height: int, model_scale: int = 0) -> tuple[int, int]:
    """(peak bytes, frames) of upscaling one cached chunk of ``info`` to ``width`` x ``height``: the source
    frames and their float copy, the float result, its integer copy, the cached chunk and the copy a reader
    gets, and a model's raw output twice (on its device and on the host). A chunk holds as many output frames
    as Film.chunk_frames allows."""
    c, sample = info.channels, 2 if info.bit_depth == 16 else 1
    frames = int(max(1, min(MAX_CHUNK_FRAMES, CHUNK_BYTES // (width * height * c * sample))))
    pixels_in, pixels_out = info.width * info.height, width * height
    per_frame = pixels_in * c * (sample + 4) + pixels_out * c * (4 + 3 * sample)
    if model_scale:
        per_frame += pixels_in * model_scale ** 2 * max(c, 3) * 4 * 2
    return frames * per_frame, frames


def check_upscale_memory(info: ClipInfo, width: int, height: int, model_scale: int = 0) -> None:
    """Raise :class:`InputError` before any work when one chunk of the upscale cannot be allocated, with the
    largest factor that fits."""
    need, frames = upscale_memory(info, width, height, model_scale)
    budget = available_memory()
    if budget is None or need <= budget:
        return
    factor = width / info.width
    lo, hi = 0.0, factor
    for _ in range(30):
        mid = (lo + hi) / 2
        w, h = even(info.width * mid), even(info.height * mid)
        fits = w >= 2 and h >= 2 and upscale_memory(info, w, h, model_scale)[0] <= budget
        lo, hi = (mid, hi) if fits else (lo, mid)
    fit = (f"a factor up to {lo:.2f} (target_height {even(info.height * lo)}) fits" if lo >= 0.25 else
           "not even a factor of 0.25 fits")
    raise InputError(
        f"upscaling {info.width}x{info.height} by {factor:.3g} to {width}x{height} needs about "
        f"{human_bytes(need)} of memory ({frames} frame{'s' if frames != 1 else ''} at a time), but only "
        f"{human_bytes(budget)} is available: {fit}. Use a smaller factor or target_height, or crop the "
        f"frame first (a smaller model tile does not help: the whole output frame is held in memory)")
