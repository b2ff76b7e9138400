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


# --- cuts in old film -------------------------------------------------------------------------------------------
# A cut is a change of picture that no camera move explains and that lasts: frame k starts a new shot when no
# frame of the three before it looks like any of the three from k on. Looks like = normalised correlation after
# the best shift (SEARCH of the frame each way), so flicker (gain and offset), pans and gate weave are no change;
# pairing frames across the boundary bridges a flash, a blotch or a bad frame of up to two frames.
THUMB_AREA = 3072      # px of a film thumbnail (64x48 at 4:3): grain averages out, structure stays
SEARCH = 0.125         # of the width and height, each way: a whip pan of 1/8 frame per frame still matches
FLAT = 0.5             # grey levels of std below which a thumbnail is blank (a whiteout, black leader)
SPAN = 3               # frames either side paired when bridging, so flashes of up to SPAN - 1 frames bridge
LEVEL = 4              # frames either side whose scores give the shot's own activity
BRIDGE = 0.1           # raw scores from which a frame is bridged (its neighbours' scores set the activity too)


def film_thumb(y: np.ndarray, area: int = THUMB_AREA) -> np.ndarray:
    """(h, w) float32 luma 0..255 -> float32 thumbnail of about ``area`` px, blurred, extremes clipped.

    Clipping at 2 standard deviations keeps dust and blotches (the darkest and brightest specks) from
    dominating the correlation in flat, low-contrast pictures.
    """
    import cv2
    h, w = y.shape
    tw = max(8, int(round(np.sqrt(area * w / h))))
    th = max(8, int(round(area / tw)))
    t = cv2.GaussianBlur(cv2.resize(y, (tw, th), interpolation=cv2.INTER_AREA), (0, 0), 1.0)
    mean, std = cv2.meanStdDev(t)
    m, s = float(mean[0, 0]), float(std[0, 0])
    return np.clip(t, m - 2 * s, m + 2 * s) if s >= FLAT else t


def shifted_dissimilarity(a: np.ndarray, b: np.ndarray) -> float:
    """1 - the best normalised correlation of two film thumbnails over shifts of up to SEARCH each way.

    ~0 for the same picture at any exposure, also moved; ~1 (up to 2) for unrelated pictures. A blank
    thumbnail matches only another blank one.
    """
    import cv2
    flat_a, flat_b = is_blank(a), is_blank(b)
    if flat_a or flat_b:
        return 0.0 if flat_a and flat_b else 1.0
    h, w = a.shape
    mx, my = max(1, int(round(SEARCH * w))), max(1, int(round(SEARCH * h)))
    best = float(cv2.matchTemplate(a, b[my:h - my, mx:w - mx], cv2.TM_CCOEFF_NORMED).max())
    return 1.0 - best if np.isfinite(best) else 1.0


def is_blank(thumb: np.ndarray) -> bool:
    """True for a thumbnail with no picture to correlate (a whiteout, black leader)."""
    import cv2
    return float(cv2.meanStdDev(thumb)[1][0, 0]) < FLAT


class CutFinder:
    """Cuts of old film, fed one thumbnail (``film_thumb``) at a time; decisions come ``LEVEL + SPAN`` frames late.

    Frame k is a cut when its bridged score (the least ``shifted_dissimilarity`` between frames k-SPAN..k-1 and
    k..k+SPAN-1) is at least ``threshold`` and ``ratio`` times the shot's own activity (the median score of the
    LEVEL frames either side), or at least ``strong`` whatever the activity. Shots are at least
    ``min_scene_len`` frames; of two candidates closer than that the stronger one stays.
    """

    def __init__(self, threshold: float = 0.32, ratio: float = 3.3, strong: float = 0.65, min_scene_len: int = 15):
        if not 0 < threshold < strong:
            raise ValueError(f"need 0 < threshold < strong, got threshold {threshold}, strong {strong}")
        self.threshold, self.ratio, self.strong = threshold, ratio, strong
        self.min_scene_len = max(1, min_scene_len)
        self.thumbs: dict[int, np.ndarray] = {}
        self.raw: dict[int, float] = {}
        self.scores: dict[int, float] = {}
        self.pairs: dict[tuple[int, int], float] = {}
        self.count = 0
        self.found: list[tuple[int, float]] = []   # (frame, score) of the cuts so far

    def push(self, thumb: np.ndarray) -> None:
        """Add the next frame's thumbnail."""
        k = self.count
        self.thumbs[k] = thumb
        self.count += 1
        if k > 0:
            self.raw[k] = self._pair(k - 1, k)
        self._score(k - SPAN + 1)        # the bridged score needs frames up to k + SPAN - 1
        self._decide(k - SPAN + 1 - LEVEL)
        self._forget(k - SPAN + 1 - 2 * LEVEL - SPAN)

    def finish(self) -> list[int]:
        """The cut list (frame indices that start a shot) once every frame is pushed."""
        for k in range(max(1, self.count - SPAN + 1), self.count):
            self._score(k)
        for k in range(max(1, self.count - SPAN + 1 - LEVEL), self.count):
            self._decide(k)
        return [c for c, _ in self.found]

    def _pair(self, a: int, b: int) -> float:
        if (a, b) not in self.pairs:
            self.pairs[(a, b)] = shifted_dissimilarity(self.thumbs[a], self.thumbs[b])
        return self.pairs[(a, b)]

    def _score(self, k: int) -> None:
        if k < 1 or k in self.scores:
            return
        s = self.raw[k]
        if s >= min(BRIDGE, self.threshold):   # the bridged score is never above the raw one
            before = range(max(0, k - SPAN), k)
            after = range(k, min(self.count, k + SPAN))
            s = min(self._pair(a, b) for a in before for b in after)
        self.scores[k] = s

    def _decide(self, k: int) -> None:
        if k < 1 or k not in self.scores:
            return
        s = self.scores[k]
        if s < self.threshold:
            return
        near = [self.scores[j] for j in range(k - LEVEL, k + LEVEL + 1) if j != k and j in self.scores]
        level = float(np.median(near)) if near else 0.0
        # + 0.02: a still, clean shot has an activity near 0, where any score would be a large ratio
        if s < self.strong and s < self.ratio * (level + 0.02):
            return
        if k < self.min_scene_len:
            return
        if self.found and k - self.found[-1][0] < self.min_scene_len:
            if s > self.found[-1][1]:
                self.found[-1] = (k, s)
            return
        self.found.append((k, s))

    def _forget(self, k: int) -> None:
        """Drop frame k, which no later decision reads (memory stays bounded on long films)."""
        for d in (self.thumbs, self.raw, self.scores):
            d.pop(k, None)
        for b in range(k + 1, k + 2 * SPAN):
            self.pairs.pop((k, b), None)
