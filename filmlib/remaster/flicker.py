"""Flicker: per-shot temporal matching of luminance.

An analysis pass reads the clip small (one streaming pass, a few numbers per frame) and measures each frame's
robust mean and contrast and a coarse grid of block means. Within every shot these series are smoothed over a
window of frames: a frame's correction maps its statistics onto the smoothed ones (a global gain and offset),
then a smooth spatial gain map brings its block means onto the smoothed block means (uneven flicker: one side of
the frame pumping more than the other). Changes slower than the window (a real fade, a cloud) are kept.

The smoother is a Gaussian-weighted local linear fit whose slope is shrunk towards zero unless the series
shows it clearly (:func:`_smooth`): near a shot's ends a plain local linear fit extrapolates the last few
frames' random flicker, and an error in the level there is an error over the whole frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..frames import luma, to_float

STATS_WIDTH = 64           # px: analysis thumbnails (grain and dust average out, lighting does not)
GRID = (3, 4)              # rows, cols of the spatial gain map: coarse, so moving objects barely register
MAP_LIMIT = 0.2            # the spatial map corrects at most +-20 %
EPS = 0.04                 # keeps ratios of near-black blocks tame
SLOPE_SHRINK = 1.5         # how clearly a brightness trend must show before the smoother follows it


@dataclass(frozen=True)
class FrameStats:
    """Robust luminance statistics of one frame in [0, 1]: mean, contrast (std) and block means (GRID)."""

    mean: float
    std: float
    grid: np.ndarray


def frame_stats(frame: np.ndarray) -> FrameStats:
    """Statistics of a (H, W, C) uint8/uint16 frame (any size; it is reduced to STATS_WIDTH first)."""
    import cv2
    y = luma(to_float(frame))
    h, w = y.shape
    tw = min(w, STATS_WIDTH)
    th = max(2, int(round(h * tw / w)))
    small = cv2.resize(y, (tw, th), interpolation=cv2.INTER_AREA)
    lo, hi = np.percentile(small, (2, 98))
    clipped = np.clip(small, lo, hi)   # dust, blotches and scratches must not move the statistics
    grid = cv2.resize(clipped, (GRID[1], GRID[0]), interpolation=cv2.INTER_AREA)
    return FrameStats(float(clipped.mean()), float(clipped.std()), grid.astype(np.float64))


def _smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-weighted local linear fit along axis 0 whose slope is shrunk towards zero by how clearly the
    series shows it (slope squared against its variance from the frame-to-frame noise): a steady fade is kept
    up to the ends of the shot (a plain weighted mean would pull the ends towards the middle), while random
    flicker near an end is averaged, not extrapolated."""
    n = len(values)
    if n < 3 or sigma <= 0:
        return values.copy()
    idx = np.arange(n, dtype=np.float64)
    flat = values.reshape(n, -1).astype(np.float64)
    # the frame-to-frame noise of each series: flicker is what changes from one frame to the next
    noise2 = (1.4826 * np.median(np.abs(np.diff(flat, axis=0)), axis=0) / np.sqrt(2.0)) ** 2 + 1e-12
    res = np.empty_like(flat)
    for i in range(n):
        wts = np.exp(-0.5 * ((idx - i) / sigma) ** 2)
        d = idx - i
        s0, s1, s2 = wts.sum(), (wts * d).sum(), (wts * d * d).sum()
        t0, t1 = wts @ flat, (wts * d) @ flat
        det = s0 * s2 - s1 * s1
        if det <= 1e-9:
            res[i] = t0 / s0
            continue
        level, slope = (s2 * t0 - s1 * t1) / det, (s0 * t1 - s1 * t0) / det
        w2 = wts * wts
        var_slope = noise2 * (s0 * s0 * (w2 * d * d).sum() - 2 * s0 * s1 * (w2 * d).sum() + s1 * s1 * w2.sum()) / det ** 2
        keep = slope ** 2 / (slope ** 2 + SLOPE_SHRINK * var_slope)
        # the fitted line at the weighted centre is the weighted mean; move the level towards it
        res[i] = level + (1.0 - keep) * slope * s1 / s0
    return res.reshape(values.shape)


def _plane(logmaps: np.ndarray) -> np.ndarray:
    """Each row of (n, rows*cols) log gains replaced by a robust plane through the cells, without its mean.

    Uneven flicker is a smooth gradient over the frame; a moving object changes one or two cells, which the
    robust fit (iteratively reweighted, Huber-like) leaves out instead of brightening the picture around it.
    """
    rows, cols = GRID
    yy, xx = np.mgrid[0:rows, 0:cols]
    a = np.stack([np.ones(rows * cols), (xx.ravel() - (cols - 1) / 2) / cols, (yy.ravel() - (rows - 1) / 2) / rows], 1)
    out = np.empty_like(logmaps)
    for k, z in enumerate(logmaps):
        wts = np.ones(len(z))
        for _ in range(4):
            sw = np.sqrt(wts)
            coef = np.linalg.lstsq(a * sw[:, None], z * sw, rcond=None)[0]
            r = np.abs(z - a @ coef)
            wts = 1.0 / np.maximum(r / 0.01, 1.0)
        out[k] = a[:, 1:] @ coef[1:]
    return out


def corrections(stats: Sequence[FrameStats], segments: Sequence[tuple[int, int]], window: int,
                spatial: float) -> np.ndarray:
    """Per-frame corrections (n, 2 + rows*cols): gain, offset, then the log spatial gain map on GRID.

    ``window`` is the smoothing window in frames (a Gaussian of sigma window/4, inside each segment);
    ``spatial`` in [0, 1] scales the spatial map (0: global correction only).
    """
    n = len(stats)
    cells = GRID[0] * GRID[1]
    out = np.zeros((n, 2 + cells))
    out[:, 0] = 1.0
    sigma = max(0.5, window / 4.0)
    for a, b in segments:
        m = np.array([s.mean for s in stats[a:b]])
        sd = np.array([s.std for s in stats[a:b]])
        sm, ssd = _smooth(m, sigma), _smooth(sd, sigma)
        gain = np.clip(ssd / np.maximum(sd, 1e-3), 0.5, 2.0)
        offset = sm - gain * m
        out[a:b, 0], out[a:b, 1] = gain, offset
        if spatial > 0 and b - a >= 3:
            grids = np.stack([s.grid.ravel() for s in stats[a:b]]) * gain[:, None] + offset[:, None]
            ref = _smooth(grids, sigma)
            logmap = _plane(np.log((ref + EPS) / (grids + EPS)))
            lim = np.log1p(MAP_LIMIT)
            out[a:b, 2:] = spatial * np.clip(logmap, -lim, lim)
    return out


def apply(frame: np.ndarray, corr: np.ndarray) -> np.ndarray:
    """Correct a float (H, W, C) frame in [0, 1] with one row of :func:`corrections`; float32, unclipped."""
    import cv2
    h, w = frame.shape[:2]
    out = frame * np.float32(corr[0]) + np.float32(corr[1])
    logmap = corr[2:].reshape(GRID).astype(np.float32)
    if np.any(logmap):
        # a smooth surface through the cell centres: bicubic from the coarse grid, no blocks
        small = cv2.resize(np.exp(logmap), (32, 24), interpolation=cv2.INTER_CUBIC)
        small = cv2.GaussianBlur(small, (0, 0), 2.0, borderType=cv2.BORDER_REPLICATE)
        gain = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        out = out * gain.reshape(h, w, 1)
    return out.reshape(frame.shape)
