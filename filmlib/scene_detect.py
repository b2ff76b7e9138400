"""Finding shots, in old film or with PySceneDetect's detectors, and picking each shot's keyframe.

With ``flicker_robust`` (the default) the content and adaptive detectors are our film cut finder
(``cuts.CutFinder``): frames are compared as small contrast-normalised thumbnails after the best shift, so
flicker, grain, dust, scratches and pans are no change, and frames either side of a candidate are paired so a
flash or a blotch of one or two frames does not split a shot. PySceneDetect's HSV scores need colour and a
steady exposure; on graded grey film they miss most cuts. Without ``flicker_robust``, and always for
``threshold`` (fades), PySceneDetect's own detector runs on frames of about 256 px wide (its own rule).

Keyframe score (higher is better), per frame, on a 128 px wide luma frame:
``sharpness * exposure * cleanliness`` where sharpness is the variance of the Laplacian over the variance of
the image (contrast-free, relative to the sharpest frame of the shot), exposure falls off as the mean moves
away from mid-grey and as pixels clip, and cleanliness falls with the share of pixels that differ strongly
from the median of the frame and its two neighbours (dust, blotches, one-frame damage).
"""
from __future__ import annotations

from collections import deque
from fractions import Fraction
from typing import Callable, Optional

import numpy as np

from .clip import Film
from .cuts import CutFinder, film_thumb
from .errors import InputError
from .frames import convert_depth
from .scenes import Scenes, Shot

DETECTORS = ("content", "adaptive", "threshold")
ANALYSIS_WIDTH = 256   # PySceneDetect's DEFAULT_MIN_WIDTH, for its detectors
FILM_WIDTH = 128       # the film cut finder (64 px thumbnails) and the keyframe scores need no more
FILM_THRESHOLD = 32.0  # the film cut finder's default, in percent of dissimilarity


def make_detector(kind: str, threshold: float | None, min_scene_len: int, luma_only: bool):
    """A PySceneDetect detector with its own parameter names; ``threshold`` None keeps its default."""
    from scenedetect.detectors import AdaptiveDetector, ContentDetector, ThresholdDetector
    if kind == "content":
        return ContentDetector(**({"threshold": threshold} if threshold is not None else {}),
                               min_scene_len=min_scene_len, luma_only=luma_only)
    if kind == "adaptive":
        return AdaptiveDetector(**({"adaptive_threshold": threshold} if threshold is not None else {}),
                                min_scene_len=min_scene_len, luma_only=luma_only)
    if kind == "threshold":
        return ThresholdDetector(**({"threshold": threshold} if threshold is not None else {}),
                                 min_scene_len=min_scene_len)
    raise InputError(f"detector must be one of {DETECTORS}, got {kind!r}")


def make_cut_finder(threshold: float | None, min_scene_len: int) -> CutFinder:
    """The film cut finder; ``threshold`` in percent (1..100, None = FILM_THRESHOLD)."""
    t = FILM_THRESHOLD if threshold is None else float(threshold)
    if not 0 < t <= 100:
        raise InputError(f"with flicker_robust the threshold is the film cut finder's, in percent (1-100, "
                         f"default {FILM_THRESHOLD:g}); got {t:g}")
    return CutFinder(threshold=t / 100, strong=max(0.65, 2 * t / 100), min_scene_len=min_scene_len)


def small_luma(frame: np.ndarray, width: int) -> np.ndarray:
    """(H, W, C) uint8/16 frame -> (h, width) float32 luma in 0..255, resized first (cheap on uint8)."""
    import cv2
    h, w = frame.shape[:2]
    if w > width:
        frame = cv2.resize(frame, (width, max(1, int(round(h * width / w)))), interpolation=cv2.INTER_AREA)
    if frame.ndim == 3 and frame.shape[-1] == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    y = frame.reshape(frame.shape[0], frame.shape[1]).astype(np.float32)
    return y * np.float32(1.0 / 257.0) if frame.dtype == np.uint16 else y


def analysis_frame(frame: np.ndarray, width: int) -> np.ndarray:
    """(H, W, C) uint8/16 -> small BGR uint8 frame for a PySceneDetect detector."""
    import cv2
    h, w = frame.shape[:2]
    if w > width:
        size = (width, max(1, int(round(h * width / w))))
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR).reshape(size[1], size[0], -1)
    frame = convert_depth(frame, np.uint8)
    if frame.ndim == 2 or frame.shape[-1] == 1:
        return cv2.cvtColor(frame.reshape(frame.shape[0], frame.shape[1]), cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)


def contrast_free(y: np.ndarray) -> np.ndarray:
    """A luma frame at zero mean and unit variance, so flicker is not damage."""
    import cv2
    mean, std = cv2.meanStdDev(y)
    return (y - np.float32(mean[0, 0])) * np.float32(1.0 / (float(std[0, 0]) + 1e-3))


def frame_quality(prev: np.ndarray | None, cur: np.ndarray, nxt: np.ndarray | None,
                  cur_free: np.ndarray | None = None) -> tuple[float, float, float]:
    """(sharpness, exposure, cleanliness) of a small float luma frame (0..255, not normalised).

    ``prev`` and ``nxt`` are the neighbours as ``contrast_free`` frames (None at the ends), ``cur_free`` the
    frame's own (computed when not given).
    """
    import cv2
    mean, std = cv2.meanStdDev(cur)
    var = (float(std[0, 0]) / 255.0) ** 2 + 1e-6
    _, lstd = cv2.meanStdDev(cv2.Laplacian(cur, cv2.CV_32F))
    sharp = (float(lstd[0, 0]) / 255.0) ** 2 / var
    clipped = (np.count_nonzero(cur < 5.1) + np.count_nonzero(cur > 249.9)) / cur.size
    exposure = max(0.05, 1.0 - 1.5 * abs(float(mean[0, 0]) / 255.0 - 0.45) - 3.0 * clipped)
    clean = 1.0
    if prev is not None and nxt is not None:
        b = contrast_free(cur) if cur_free is None else cur_free
        med = cv2.max(cv2.min(prev, nxt), cv2.min(cv2.max(prev, nxt), b))  # median of three, elementwise
        frac = np.count_nonzero(cv2.absdiff(b, med) > 1.2) / b.size
        clean = 1.0 / (1.0 + 40.0 * frac)
    return sharp, exposure, clean


def detect_scenes(film: Film, detector: str = "content", threshold: float | None = None, min_scene_len: int = 15,
                  flicker_robust: bool = True,
                  progress: Optional[Callable[[int, int, Optional[np.ndarray]], None]] = None) -> Scenes:
    """Shots of ``film`` and each shot's best keyframe (see the module docstring for the cuts and the score).

    ``threshold``: None keeps the detector's default; PySceneDetect's units for its detectors, percent for the
    film cut finder (``flicker_robust`` with content or adaptive).
    """
    from scenedetect import FrameTimecode
    if detector not in DETECTORS:
        raise InputError(f"detector must be one of {DETECTORS}, got {detector!r}")
    n = film.info.frame_count
    fps = float(film.info.fps)
    use_finder = flicker_robust and detector != "threshold"
    finder = make_cut_finder(threshold, min_scene_len) if use_finder else None
    det = None if use_finder else make_detector(detector, threshold, min_scene_len, film.info.channels == 1)
    cuts: list[int] = []
    quality: list[tuple[float, float, float]] = []
    window: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=3)   # (luma, contrast-free luma)
    first: np.ndarray | None = None

    def found(tcs: list) -> None:
        cuts.extend(int(tc.frame_num) for tc in tcs)

    for pos, chunk in (film.luma_chunks(FILM_WIDTH) if use_finder else film.scaled_chunks(ANALYSIS_WIDTH)):
        for j, frame in enumerate(chunk):
            k = pos + j
            y = small_luma(frame, FILM_WIDTH)
            if finder is not None:
                finder.push(film_thumb(y))
            else:
                found(det.process_frame(FrameTimecode(k, fps), analysis_frame(frame, ANALYSIS_WIDTH)))
            if k == 0:
                first = y
            window.append((y, contrast_free(y)))
            if len(window) == 3:
                quality.append(frame_quality(window[0][1], window[1][0], window[2][1], window[1][1]))  # k - 1
        if progress is not None:
            progress(pos + len(chunk), n, None)
    if finder is not None:
        cuts = finder.finish()
    else:
        found(det.post_process(FrameTimecode(n, fps)))
    # the first and last frames have one neighbour only: no damage estimate for them
    quality = [frame_quality(None, first, None)] + quality
    if n > 1:
        quality.append(frame_quality(None, window[-1][0], None))
    cuts = sorted({c for c in cuts if 0 < c < n})
    bounds = [0] + cuts + [n]
    shots = [_best_keyframe(a, b, quality) for a, b in zip(bounds, bounds[1:])]
    return Scenes(tuple(shots), n, Fraction(film.info.fps), film.signature,
                  meta={"detector": "film" if use_finder else detector, "flicker_robust": flicker_robust})


def contact_sheet(keyframes: list[np.ndarray], scenes: Scenes, columns: int = 4, width: int = 256) -> np.ndarray:
    """The shots' keyframes (one frame per shot, as read from the clip) in a labelled grid; (H, W, 3) uint8."""
    import cv2
    tiles = []
    h = max(2, int(round(width * keyframes[0].shape[0] / keyframes[0].shape[1])))
    for i, (s, f) in enumerate(zip(scenes.shots, keyframes)):
        f = cv2.resize(convert_depth(f, np.uint8), (width, h), interpolation=cv2.INTER_AREA).reshape(h, width, -1)
        f = np.ascontiguousarray(np.repeat(f, 3, axis=-1) if f.shape[-1] == 1 else f)
        label = f"#{i}  {scenes.timecode(s.start)}  ({len(s)}f)"
        for color, thick in (((0, 0, 0), 3), ((255, 255, 255), 1)):
            cv2.putText(f, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, color, thick, cv2.LINE_AA)
        tiles.append(f)
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[r:r + columns], axis=1) for r in range(0, len(tiles), columns)]
    return np.concatenate(rows, axis=0)


def _best_keyframe(a: int, b: int, quality: list[tuple[float, float, float]]) -> Shot:
    q = quality[a:b]
    top = max(s for s, _, _ in q) or 1.0
    scores = [(s / top) * e * c for s, e, c in q]
    # frames next to a cut are often a dissolve or a splice: prefer the inside of the shot
    lo, hi = (2, len(q) - 2) if len(q) > 6 else (0, len(q))
    best = max(range(lo, hi), key=lambda i: scores[i])
    return Shot(a, b, a + best, round(float(scores[best]), 4))
