"""Vertical line scratches: thin bright or dark columns that run the height of the frame and drift slowly.

Detection is on column statistics, robust to what is in the picture: at every column, the pixel's difference
to the pixels ``d`` columns left and right, averaged over a few rows; a line is brighter (or darker) than both
sides along nearly all of its height (COVERAGE), so that difference is large with one sign in at least that
share of rows; a picture edge differs from one side only, a post or a pole stops somewhere, grain averages
out, and a vertical object that moves with the
scene is told apart by the motion (it is in the motion-compensated neighbours at the same place, a scratch is
not). A candidate is kept if a neighbouring frame has a candidate within a few pixels (scratches persist).

Repair interpolates across the line, row by row, from vertically smoothed values just outside it, and puts
back texture from the warped neighbours where those are free of their own scratches there.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .compensate import Warped

OFFSETS = (2, 3, 5)     # px: the line-detector spacings; together they cover lines 1-6 px wide
MAX_HALF = 6            # px: half-width of the widest band repaired
DRIFT = 3               # px a scratch may move between frames and still count as the same one
COVERAGE = 0.65          # share of the height a line must run to be a scratch (they run the whole frame)


@dataclass(frozen=True)
class Line:
    """One detected scratch: the repaired band of columns [x0, x1] and its signed contrast (luma units)."""

    x0: int
    x1: int
    contrast: float

    @property
    def centre(self) -> float:
        return 0.5 * (self.x0 + self.x1)


def line_response(y: np.ndarray, row_step: int = 3) -> np.ndarray:
    """(W,) signed response of each column of (H, W) luma ``y``: how much it stands out from both sides along
    at least COVERAGE of its height (a fence post in the lower half of the picture does not count)."""
    import cv2
    best = np.zeros(y.shape[1], np.float32)
    k = int(round((1.0 - COVERAGE) * (len(range(0, y.shape[0], row_step)) - 1)))
    for d in OFFSETS:
        pad = cv2.copyMakeBorder(y, 0, 0, d, d, cv2.BORDER_REPLICATE)
        left = y - pad[:, :-2 * d]
        right = y - pad[:, 2 * d:]
        # a vertical mean over 9 rows: grain averages out, a vertical line does not
        left = cv2.blur(left, (1, 9))[::row_step]
        right = cv2.blur(right, (1, 9))[::row_step]
        both = np.where(left * right > 0, np.sign(left) * np.minimum(np.abs(left), np.abs(right)), 0.0)
        # order statistics along each column: one sort of these short columns is faster than two partitions
        ranked = np.sort(both, axis=0)
        bright = ranked[k]                        # exceeded by COVERAGE of the rows
        dark = ranked[len(ranked) - 1 - k]        # and its mirror: below it in COVERAGE of the rows
        resp = np.where(bright > 0, bright, np.where(dark < 0, dark, 0.0)).astype(np.float32)
        best = np.where(np.abs(resp) > np.abs(best), resp, best).astype(np.float32)
    return best


def relative_luma(y: np.ndarray) -> np.ndarray:
    """(H, W) luma over its local mean, scaled to mid-gray: a dark scratch darkens the picture by a factor, so
    where it crosses a dark suit or a shadow its absolute contrast is small and it would miss the coverage rule
    (seen on the sample's astronaut shot); relative contrast is the same along the whole line."""
    import cv2
    return y / np.maximum(cv2.blur(y, (31, 31)), 0.2) * 0.5


def grain_level(y: np.ndarray) -> float:
    """Rough grain RMS of one (H, W) luma frame: robust spread of horizontal neighbour differences (texture
    makes it read high, which only makes scratch detection more cautious)."""
    d = (y[::4, 1:] - y[::4, :-1]).ravel()
    return float(1.4826 * np.median(np.abs(d)) / np.sqrt(2.0))


def candidates(y: np.ndarray, sigma: float, strength: float) -> list[Line]:
    """Scratch candidates of one (H, W) luma frame with grain RMS ``sigma``; ``strength`` in [0, 1]."""
    resp = line_response(relative_luma(y))
    # a 9-row mean of grain differences has an RMS of about 1.4 sigma / 3 (clumped grain: a little more)
    thr = max(0.9 * sigma, 0.04 - 0.03 * strength)
    lines: list[Line] = []
    w = len(resp)
    order = np.argsort(-np.abs(resp))
    taken = np.zeros(w, bool)
    for x in order:
        peak = float(resp[x])
        if abs(peak) < thr:
            break
        if taken[max(0, x - 1): x + 2].any():
            continue
        # the band: contiguous columns of the same sign above a quarter of the peak
        x0 = x1 = int(x)
        while x0 > 0 and x - x0 < MAX_HALF and resp[x0 - 1] * peak > 0 and abs(resp[x0 - 1]) > 0.25 * abs(peak):
            x0 -= 1
        while x1 < w - 1 and x1 - x < MAX_HALF and resp[x1 + 1] * peak > 0 and abs(resp[x1 + 1]) > 0.25 * abs(peak):
            x1 += 1
        x0, x1 = max(0, x0 - 1), min(w - 1, x1 + 1)
        taken[x0:x1 + 1] = True
        lines.append(Line(x0, x1, peak))
    return lines


def persistent(lines: list[Line], others: list[list[Line]]) -> list[Line]:
    """The lines that a neighbouring frame also has (same sign, within DRIFT px); all when no neighbours."""
    if not others:
        return lines
    keep = []
    for ln in lines:
        if any(o.contrast * ln.contrast > 0 and abs(o.centre - ln.centre) <= DRIFT + 0.5 * (ln.x1 - ln.x0)
               for other in others for o in other):
            keep.append(ln)
    return keep


def moves_with_scene(ln: Line, y: np.ndarray, warped: list[Warped]) -> bool:
    """True when the line follows the picture's motion: the warped neighbours show it at the same place even
    though the picture there moved sideways (then it is a pole or a door frame, not a scratch)."""
    for wn in warped:
        u = float(np.median(wn.flow[:, ln.x0:ln.x1 + 1, 0]))
        if abs(u) < 2.0 + (ln.x1 - ln.x0):
            continue   # the picture barely moved here: motion cannot tell
        img = wn.image[..., 0] if wn.image.ndim == 3 else wn.image
        # the response is column by column from columns up to max(OFFSETS) away: a strip around the line
        # gives the same numbers as the whole frame at a fraction of the cost
        a, b = max(0, ln.x0 - max(OFFSETS)), min(img.shape[1], ln.x1 + 1 + max(OFFSETS))
        r = line_response(relative_luma(img)[:, a:b])[ln.x0 - a:ln.x1 + 1 - a]
        if np.max(r * np.sign(ln.contrast)) > 0.5 * abs(ln.contrast):
            return True
    return False


def band_mask(lines: list[Line], height: int, width: int) -> np.ndarray:
    """(H, W) bool mask of the bands of ``lines``."""
    mask = np.zeros((height, width), bool)
    for ln in lines:
        mask[:, ln.x0:ln.x1 + 1] = True
    return mask


def repair(cur: np.ndarray, lines: list[Line], warped: list[Warped], neighbour_bands: list[np.ndarray],
           sigma: float) -> np.ndarray:
    """Interpolate float (H, W, C) ``cur`` across each line; texture from the warped neighbours where both
    agree with each other (within the grain ``sigma``: the motion explains the picture there), are reliable
    and free of their own scratches (``neighbour_bands``: their band masks, warped onto this frame)."""
    import cv2
    out = cur.copy()
    h, w = cur.shape[:2]
    usable = []
    if len(warped) == 2:
        a, b = warped[0].image, warped[1].image
        diff = np.abs(cv2.blur((a - b).reshape(h, w, -1).mean(axis=2), (3, 3)))
        agree = diff < 2.0 * sigma
        for wn, bands in zip(warped, neighbour_bands):
            usable.append((wn.reliable > 0.5) & ~bands & agree)
    else:
        warped = []      # one neighbour cannot be checked: interpolation only
    for ln in lines:
        a, b = ln.x0 - 1, ln.x1 + 1
        left = cur[:, max(0, a - 1): max(1, a + 1)].mean(axis=1) if a >= 0 else None
        right = cur[:, min(w - 1, b): min(w, b + 2)].mean(axis=1) if b < w else None
        left = right if left is None else left
        right = left if right is None else right
        # vertical smoothing of the anchors: grain would otherwise streak along the line
        left = cv2.GaussianBlur(left.reshape(h, 1, -1).astype(np.float32), (1, 0), 1.5).reshape(h, -1)
        right = cv2.GaussianBlur(right.reshape(h, 1, -1).astype(np.float32), (1, 0), 1.5).reshape(h, -1)
        cols = np.arange(ln.x0, ln.x1 + 1)
        t = ((cols - a) / max(1, b - a)).astype(np.float32)[None, :, None]
        spatial = left[:, None, :] * (1 - t) + right[:, None, :] * t
        band = out[:, ln.x0:ln.x1 + 1]
        band[:] = spatial
        if warped:
            # the neighbours' detail (their pixels minus the same interpolation of them) where usable
            num = np.zeros_like(band)
            den = np.zeros(band.shape[:2] + (1,), np.float32)
            for wn, ok in zip(warped, usable):
                img = wn.image
                la = img[:, max(0, a - 1): max(1, a + 1)].mean(axis=1) if a >= 0 else img[:, b:b + 2].mean(axis=1)
                ra = img[:, min(w - 1, b): min(w, b + 2)].mean(axis=1) if b < w else la
                la = cv2.GaussianBlur(la.reshape(h, 1, -1).astype(np.float32), (1, 0), 1.5).reshape(h, -1)
                ra = cv2.GaussianBlur(ra.reshape(h, 1, -1).astype(np.float32), (1, 0), 1.5).reshape(h, -1)
                detail = img[:, ln.x0:ln.x1 + 1] - (la[:, None, :] * (1 - t) + ra[:, None, :] * t)
                m = ok[:, ln.x0:ln.x1 + 1, None].astype(np.float32)
                num += detail * m
                den += m
            band += num / np.maximum(den, 1.0)
    return out
