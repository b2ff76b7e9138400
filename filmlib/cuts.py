"""Cheap frame-pair checks shared by stages: is this a cut, is this a duplicate.

Frames are compared as small luma thumbnails normalised to zero mean and unit variance, so flicker and
fades (brightness pumping in old prints) do not read as cuts.
"""
from __future__ import annotations

import numpy as np

from .frames import luma

THUMB = 64


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """(H, W, C) frame -> (THUMB*h/w, THUMB) float32 luma, area-averaged."""
    import cv2
    y = luma(frame)
    h, w = y.shape
    tw = THUMB
    th = max(8, int(round(THUMB * h / w)))
    return cv2.resize(y, (tw, th), interpolation=cv2.INTER_AREA)


def normalised(thumb: np.ndarray) -> np.ndarray:
    return (thumb - thumb.mean()) / (thumb.std() + 1e-6)


def cut_score(a: np.ndarray, b: np.ndarray) -> float:
    """1 - correlation of the normalised thumbnails: ~0 for the same shot, ~1 for unrelated pictures."""
    import cv2
    # a little blur so camera motion and grain count less than a change of picture
    ta = normalised(cv2.GaussianBlur(thumbnail(a), (0, 0), 1.5))
    tb = normalised(cv2.GaussianBlur(thumbnail(b), (0, 0), 1.5))
    return float(1.0 - np.mean(ta * tb))


def is_cut(a: np.ndarray, b: np.ndarray, threshold: float = 0.6) -> bool:
    """True when ``a`` and ``b`` belong to different shots."""
    return cut_score(a, b) > threshold


def duplicate_score(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute thumbnail difference as a fraction of full scale (0 for identical frames)."""
    scale = 65535.0 if a.dtype == np.uint16 else 255.0
    return float(np.mean(np.abs(thumbnail(a) - thumbnail(b))) / scale)
