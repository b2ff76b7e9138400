"""Conversions between stored frames (uint8/uint16, 1 or 3 channels) and working floats in [0, 1]."""
from __future__ import annotations

import numpy as np


def to_float(frames: np.ndarray) -> np.ndarray:
    """uint8/uint16 frames -> float32 in [0, 1], same shape."""
    maxv = 65535.0 if frames.dtype == np.uint16 else 255.0
    return frames.astype(np.float32) * np.float32(1.0 / maxv)


def from_float(frames: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float frames in [0, 1] -> ``dtype`` (uint8/uint16), rounded and clipped."""
    maxv = 65535.0 if np.dtype(dtype) == np.uint16 else 255.0
    return np.clip(frames * maxv + 0.5, 0, maxv).astype(dtype)


def convert_depth(frames: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """uint8 <-> uint16 frames (x257 up, top byte down); unchanged when already ``dtype``."""
    dtype = np.dtype(dtype)
    if frames.dtype == dtype:
        return frames
    if dtype == np.uint16:
        return frames.astype(np.uint16) * 257
    return (frames >> 8).astype(np.uint8)


def luma(frame: np.ndarray) -> np.ndarray:
    """(H, W, C) -> (H, W) Rec.601 luma, same dtype kind as float32."""
    f = frame.astype(np.float32)
    if f.ndim == 2:
        return f
    if f.shape[-1] == 1:
        return f[..., 0]
    return 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]


def even(n: float) -> int:
    """Round to the nearest even integer >= 2 (chroma-subsampled codecs need even sizes)."""
    return max(2, int(round(n / 2.0)) * 2)
