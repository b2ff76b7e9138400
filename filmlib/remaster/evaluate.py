"""Scores of a remaster against FilmDegrade's ground truth: PSNR, defect-mask recall and false detections,
flicker. Used by the tests and the benchmark, so both measure the same thing.

The truth of "where is a defect" is where the degradation model changed a pixel visibly: by more than
``VISIBLE`` of full scale (about 2.5x the default grain). A dark speck on black changes nothing and is not
counted in the recall; a detection is false only where the defect layer is (nearly) zero, so repairing the
faint antialiased rim of a real speck is not a false detection.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from ..degrade import DegradeParams, defect_mask, flicker_gain

VISIBLE = 0.1
ANY = 0.02


def defect_truth(clean_gray: np.ndarray, params: DegradeParams, index: int, anywhere: bool = False
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(dust, scratch) (H, W) bool masks of the visible defects FilmDegrade put on frame ``index``, from the
    clean (H, W) gray frame in [0, 1] (blur, weave and vignette assumed off, as in the remaster evaluation).
    ``anywhere``: every pixel the defect layer touches at all (|layer| > ANY), visible or not."""
    h, w = clean_gray.shape
    gain, offset = flicker_gain(params, index)
    img = clean_gray * gain + offset
    out = []
    for only in (replace(params, scratches=0), replace(params, dust=0)):
        layer = defect_mask(only, index, h, w)
        if anywhere:
            out.append(np.abs(layer) > ANY)
            continue
        effect = np.where(layer < 0, img * layer, layer * (1 - img))
        out.append(np.abs(effect) > VISIBLE)
    return out[0], out[1]


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray | None = None) -> float:
    """PSNR in dB of uint8 arrays of one shape (optionally only where the bool mask ``where`` is set)."""
    d = a.astype(np.float64) - b.astype(np.float64)
    mse = float(np.mean(d[where] ** 2 if where is not None else d ** 2))
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-10)))


def flicker_variation(frames: np.ndarray, cuts: Sequence[int] = ()) -> float:
    """RMS frame-to-frame change of mean luminance inside shots (no step across a cut in ``cuts`` counts),
    (N, H, W[, 1]) frames, in the frames' units."""
    means = frames.reshape(len(frames), -1).astype(np.float64).mean(axis=1)
    steps = np.diff(means)
    inside = np.ones(len(steps), bool)
    for c in cuts:
        if 0 < c < len(means):
            inside[c - 1] = False
    return float(np.sqrt(np.mean(steps[inside] ** 2))) if inside.any() else 0.0


def mask_scores(mask: np.ndarray, clean_gray: np.ndarray, params: DegradeParams) -> dict[str, float]:
    """Recall of dust (mask 255) and scratches (any repair) on visible defects, and false detections (where
    there is no defect at all) as a share of all pixels; ``mask`` (N, H, W) uint8, ``clean_gray`` (N, H, W)
    float in [0, 1]."""
    dust_hit = dust_all = scr_hit = scr_all = false_dust = false_scr = 0
    for i in range(len(mask)):
        d, s = defect_truth(clean_gray[i], params, i)
        da, sa = defect_truth(clean_gray[i], params, i, anywhere=True)
        m = mask[i]
        dust_hit += int(np.count_nonzero(m[d] == 255))
        dust_all += int(d.sum())
        scr_hit += int(np.count_nonzero(m[s] > 0))
        scr_all += int(s.sum())
        false_dust += int(np.count_nonzero((m == 255) & ~da & ~sa))
        false_scr += int(np.count_nonzero((m == 128) & ~sa & ~da))
    total = mask.size
    return {"dust_recall": dust_hit / dust_all if dust_all else float("nan"),
            "scratch_recall": scr_hit / scr_all if scr_all else float("nan"),
            "dust_false_share": false_dust / total, "scratch_false_share": false_scr / total}
