"""Grain: motion-compensated temporal denoising.

Each pixel is averaged with its two warped neighbours, each weighted by how well it matches (a smoothed
difference compared with the grain level, so a neighbour that shows something else, at an occlusion or on a
moving object, gets no weight and nothing is smeared), then the temporal mean is lightly smoothed in space
where the picture is flat. ``amount`` blends between the input (0: keep all the grain) and the fully
denoised frame (1).
"""
from __future__ import annotations

import numpy as np

from .compensate import Warped


def denoise(cur: np.ndarray, cur_luma: np.ndarray, warped: list[Warped], sigma: float, amount: float
            ) -> np.ndarray:
    """Denoise float (H, W, C) ``cur`` (its luma ``cur_luma``) with grain RMS ``sigma``; ``amount`` in [0, 1]."""
    import cv2
    if amount <= 0:
        return cur
    h, w = cur_luma.shape
    acc = cur.astype(np.float32)   # a copy
    wsum = np.ones((h, w), np.float32)
    for wn in warped:
        other = wn.image
        d = cur_luma - (other[..., 0] if other.shape[-1] == 1 else
                        0.299 * other[..., 0] + 0.587 * other[..., 1] + 0.114 * other[..., 2])
        # a 5x5 mean of the difference (grain cancels, a real mismatch stays), and the pixel's own difference
        # with a wider tolerance (the edge of a blotch in the neighbour must not bleed in)
        box = cv2.blur(d, (5, 5)) * np.float32(1.0 / (1.6 * sigma))
        px = d * np.float32(1.0 / (3.5 * sigma))
        wgt = np.exp(-(box * box) - (px * px))
        acc += other * wgt[..., None]
        wsum += wgt
    temporal = acc / wsum[..., None]
    # where few frames matched, grain is left: a light edge-preserving spatial pass on what remains
    residual = np.float32(sigma) / np.sqrt(wsum)
    spatial = cv2.bilateralFilter(temporal.reshape(h, w, -1).astype(np.float32), 5, float(2.0 * residual.mean()),
                                  1.5).reshape(cur.shape)
    den = spatial
    return (cur + np.float32(amount) * (den - cur)).astype(np.float32)
