"""Colour flicker removal: flow-guided temporal filtering of the chroma only, the luma kept bit for bit.

A frame is split into its Rec.601 luma Y (:func:`~filmlib.frames.luma`) and the colour differences
Cb = B - Y, Cr = R - Y. Only Cb/Cr are filtered: each neighbour within ``radius`` frames (same shot) is warped onto
the current frame with DIS optical flow computed on the luma, and weighted by how far its flow can be trusted
(forward-backward consistency, inside the frame) and by how well its warped luma matches the current luma (a
moving edge the flow missed does not match, so its colour is not smeared onto the background). The frame is
rebuilt from the source Y and the filtered Cb/Cr.

What is guaranteed about the luma: the output's 8-/16-bit luma code :func:`luma_code` (OpenCV's
``COLOR_RGB2GRAY``, what the pack's analysis passes read) equals the source's exactly, every pixel, every frame.
Rebuilding alone cannot promise it (rounding R, G, B moves Y by up to half a code), so after rounding each pixel
whose code differs takes the nearest RGB (each channel +-1) that has the source's code; a pixel where none exists
keeps its source colour. The float luma :func:`~filmlib.frames.luma` then lies in the same code bin as the
source's: it differs by less than one code value plus 3.4e-5 of full scale (OpenCV's fixed-point weights differ
from 0.299/0.587/0.114 by up to 1.7e-5), i.e. < 1.01 codes at 8 bits, < 3.3 codes of 65535 at 16 bits. New
chroma is pulled towards grey just enough that no channel clips, since clipping would change Y.

Reproducible in chunks: an output frame depends only on the source frames within ``radius`` of it (the stage's
``context``), cuts come from SCENES or from the same frames, so a chunked run equals a whole-clip run.
"""
from __future__ import annotations

import itertools
from typing import Callable, Sequence

import numpy as np

from ..clip import Film, Stage
from ..cuts import is_cut
from ..errors import InputError
from ..interpolate import FlowInterpolator
from ..remaster.compensate import single_threaded, warp

# OpenCV's fixed-point Rec.601 RGB -> gray (cv::cvtColor, 8- and 16-bit): (9798 R + 19235 G + 3735 B + 2^14) >> 15
LUMA_COEF = (9798, 19235, 3735)
LUMA_SHIFT = 15
WR, WG, WB = 0.299, 0.587, 0.114
FLOW_SCALE = 0.5          # flow at half size: chroma is smooth, grain averages out, 4x cheaper
FLOW_QUALITY = "medium"
# every RGB step of +-1 per channel: offsets tried when rounding moved a pixel's luma code
_STEPS = np.array(list(itertools.product((-1, 0, 1), repeat=3)), np.int64)
_STEPS = _STEPS[np.argsort(np.abs(_STEPS).sum(1), kind="stable")]


def luma_code(frames: np.ndarray) -> np.ndarray:
    """(..., 3) uint8/uint16 RGB -> (...) luma code of the same dtype, bit-exact with OpenCV ``COLOR_RGB2GRAY``."""
    x = frames.astype(np.int64)
    y = (x[..., 0] * LUMA_COEF[0] + x[..., 1] * LUMA_COEF[1] + x[..., 2] * LUMA_COEF[2]
         + (1 << (LUMA_SHIFT - 1))) >> LUMA_SHIFT
    return y.astype(frames.dtype)


def split_chroma(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8/uint16 RGB -> (Y (H, W), CbCr (H, W, 2)) float32 in code values: Y Rec.601 luma,
    Cb = B - Y, Cr = R - Y."""
    f = frame.astype(np.float32)
    y = np.float32(WR) * f[..., 0] + np.float32(WG) * f[..., 1] + np.float32(WB) * f[..., 2]
    return y, np.stack([f[..., 2] - y, f[..., 0] - y], -1)


def merge_chroma(y: np.ndarray, cbcr: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Rebuild RGB of ``source``'s dtype from luma ``y`` (H, W) and chroma ``cbcr`` (H, W, 2) (code values, as
    :func:`split_chroma` gives them) so that :func:`luma_code` of the result equals that of ``source``
    (H, W, 3) exactly; ``y`` must be ``source``'s own luma."""
    maxv = np.float32(np.iinfo(source.dtype).max)
    cb, cr = cbcr[..., 0], cbcr[..., 1]
    # channel planes, not (..., 3) stacks: reductions over a short last axis are slow in numpy
    d = (cr, -(np.float32(WR) * cr + np.float32(WB) * cb) / np.float32(WG), cb)
    # the largest share s <= 1 of the chroma that keeps every channel in range (grey, s = 0, always does)
    s = np.ones(y.shape, np.float32)
    with np.errstate(all="ignore"):   # d = 0: inf room, never the minimum
        for dc in d:
            room = np.where(dc > 0, (maxv - y) / dc, np.where(dc < 0, y / -dc, np.inf))
            np.minimum(s, room, out=s)
    np.maximum(s, 0, out=s)
    ideal = [y + s * dc for dc in d]
    rgb = [np.clip(np.floor(c + 0.5), 0, maxv).astype(np.int64) for c in ideal]
    target = luma_code(source).astype(np.int64)
    bad = _code(*rgb) != target
    if bad.any():
        fixed = _nearest_with_code([c[bad] for c in rgb], [c[bad] for c in ideal], target[bad],
                                   [source[..., k][bad].astype(np.int64) for k in range(3)], int(maxv))
        for c, f in zip(rgb, fixed):
            c[bad] = f
    return np.stack(rgb, -1).astype(source.dtype)


def _code(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (r * LUMA_COEF[0] + g * LUMA_COEF[1] + b * LUMA_COEF[2] + (1 << (LUMA_SHIFT - 1))) >> LUMA_SHIFT


def _nearest_with_code(rgb: list[np.ndarray], ideal: list[np.ndarray], target: np.ndarray,
                       fallback: list[np.ndarray], maxv: int) -> list[np.ndarray]:
    """Rounded pixels (three (m,) planes) -> the +-1-per-channel step of each closest to ``ideal`` whose luma code
    is ``target``; the ``fallback`` pixel where no step has it."""
    best = [f.copy() for f in fallback]
    best_err = np.full(len(target), np.inf, np.float32)
    base = rgb[0] * LUMA_COEF[0] + rgb[1] * LUMA_COEF[1] + rgb[2] * LUMA_COEF[2] + (1 << (LUMA_SHIFT - 1))
    dev = [(c - i).astype(np.float32) for c, i in zip(rgb, ideal)]
    for step in _STEPS:
        ok = ((base + int(step @ np.array(LUMA_COEF))) >> LUMA_SHIFT) == target
        err = np.zeros(len(target), np.float32)
        for c, k in zip(range(3), step):
            if k:
                moved = rgb[c] + k
                ok &= (moved >= 0) & (moved <= maxv)
            err += (dev[c] + np.float32(k)) ** 2
        take = ok & (err < best_err)
        if take.any():
            for c, k in zip(range(3), step):
                best[c][take] = rgb[c][take] + k
            best_err[take] = err[take]
    return best


class _PairFlows:
    """DIS flows between frame pairs of one chunk on luma in [0, 1] (``lumas(i)``, (H, W) float32), each pair
    computed once (both ways)."""

    def __init__(self, lumas: Callable[[int], np.ndarray]):
        self._lumas = lumas
        self._flow = FlowInterpolator(FLOW_QUALITY, FLOW_SCALE)
        self._pairs: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def flow(self, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(flow i->j, flow j->i), (H, W, 2) float32 pixels; the same numbers whichever frame asks first."""
        key = (min(i, j), max(i, j))
        if key not in self._pairs:
            with single_threaded():
                self._pairs[key] = self._flow.flows(self._lumas(key[0])[..., None], self._lumas(key[1])[..., None])
        fab, fba = self._pairs[key]
        return (fab, fba) if i < j else (fba, fab)

    def forget_before(self, i: int) -> None:
        """Drop the pairs of frames before ``i`` only: frames are made in order, so no later frame needs them."""
        for key in [k for k in self._pairs if k[1] < i]:
            del self._pairs[key]


def stabilize_chroma(y: np.ndarray, cbcr: np.ndarray, warped: Sequence[tuple[np.ndarray, np.ndarray]],
                     strength: float, luma_tolerance: float) -> np.ndarray:
    """Filtered chroma (H, W, 2) of one frame from its luma ``y`` (H, W) in [0, 1], chroma ``cbcr`` and its
    neighbours ``warped`` onto it: (image (H, W, 3) = warped [Y, Cb, Cr] (Y in [0, 1]), reliability (H, W) in
    [0, 1]). ``strength`` in [0, 1] moves from the frame's own chroma (0) to the weighted mean (1)."""
    import cv2
    cb, cr = (np.ascontiguousarray(cbcr[..., k]) for k in range(2))
    num_cb, num_cr = cb.copy(), cr.copy()
    den = np.ones(y.shape, np.float32)
    for img, reliable in warped:
        wy, wcb, wcr = cv2.split(img)
        dy = cv2.subtract(wy, y)
        w = cv2.multiply(cv2.exp(cv2.multiply(dy, dy, scale=-1.0 / luma_tolerance ** 2)), reliable)
        cv2.accumulateProduct(wcb, w, num_cb)
        cv2.accumulateProduct(wcr, w, num_cr)
        cv2.accumulate(w, den)
    k = np.float32(strength)
    out = [c + k * (cv2.divide(n, den) - c) for c, n in ((cb, num_cb), (cr, num_cr))]
    return np.dstack(out)


class ChromaStabilizeStage(Stage):
    """Remove colour flicker (see the module docstring). ``cuts``: first frames of shots (from SCENES); when
    None and ``detect_cuts``, a cut is found between consecutive frames by :func:`~filmlib.cuts.is_cut`.
    Nothing is borrowed across a cut. Gray clips pass through unchanged."""

    name = "chroma_stabilize"
    version = "1"

    def __init__(self, source: Film, strength: float = 1.0, radius: int = 3, luma_tolerance: float = 0.04,
                 cuts: Sequence[int] | None = None, detect_cuts: bool = True):
        if not 0.0 <= strength <= 1.0:
            raise InputError(f"strength must be in [0, 1], got {strength}")
        if not 1 <= radius <= 12:
            raise InputError(f"radius must be 1..12 frames, got {radius}")
        if not 0.0 < luma_tolerance <= 1.0:
            raise InputError(f"luma_tolerance must be in (0, 1] (a share of full scale), got {luma_tolerance}")
        self.cuts = sorted(set(int(c) for c in cuts)) if cuts is not None else None
        self.context = radius
        super().__init__(source, {"strength": strength, "radius": radius, "luma_tol": luma_tolerance,
                                  "cuts": self.cuts, "detect": detect_cuts and cuts is None,
                                  "flow": f"{FLOW_QUALITY}-{FLOW_SCALE}"})
        self.strength, self.radius, self.luma_tolerance = strength, radius, luma_tolerance
        self.detect_cuts = detect_cuts and cuts is None

    def _window(self, i: int, lo: int, hi: int, cut_between: dict[int, bool]) -> list[int]:
        """Frames of ``i``'s shot within ``radius`` of it and inside the chunk's frames [lo, hi), nearest first."""
        out = []
        for step in (-1, 1):
            j = i
            while abs(j + step - i) <= self.radius and lo <= j + step < hi:
                boundary = max(j, j + step)   # the pair (boundary - 1, boundary)
                if cut_between[boundary]:
                    break
                j += step
                out.append(j)
        return sorted(out, key=lambda k: (abs(k - i), k))

    def compute(self, frames: np.ndarray, first: int, start: int, stop: int) -> np.ndarray:
        if self.info.channels == 1 or self.strength == 0.0:
            return frames[start - first: stop - first].copy()
        lo, hi = first, first + len(frames)
        maxv = float(np.iinfo(frames.dtype).max)
        if self.cuts is not None:
            cut_set = set(self.cuts)
            cut_between = {k: k in cut_set for k in range(lo + 1, hi)}
        else:
            cut_between = {k: self.detect_cuts and is_cut(frames[k - 1 - first], frames[k - first])
                           for k in range(lo + 1, hi)}
        planes: dict[int, tuple[np.ndarray, ...]] = {}

        def plane(j: int) -> tuple[np.ndarray, ...]:
            """(Y code values, CbCr, Y in [0, 1], [Y in [0, 1], Cb, Cr] as one image to warp) of frame j, made
            when first needed and dropped when no later frame needs it: 2 * radius + 1 frames held, not the chunk."""
            if j not in planes:
                y, cbcr = split_chroma(frames[j - first])
                y01 = np.clip(y * np.float32(1.0 / maxv), 0, 1)
                planes[j] = (y, cbcr, y01, np.dstack([y01, cbcr]))
            return planes[j]

        flows = _PairFlows(lambda j: plane(j)[2])
        out = np.empty((stop - start, *self.info.frame_shape), self.info.dtype)
        for i in range(start, stop):
            y, cbcr, y01, _ = plane(i)
            warped = []
            for j in self._window(i, lo, hi, cut_between):
                f_ij, f_ji = flows.flow(i, j)
                with single_threaded():
                    wn = warp(plane(j)[3], f_ij, f_ji)
                warped.append((wn.image, wn.reliable))
            new = stabilize_chroma(y01, cbcr, warped, self.strength, self.luma_tolerance)
            out[i - start] = merge_chroma(y, new, frames[i - first])
            flows.forget_before(i + 1)
            for j in [k for k in planes if k < i + 1 - self.radius]:
                del planes[j]
        return out
