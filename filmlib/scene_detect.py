"""Finding shots with PySceneDetect's detectors, made robust to old film, and picking each shot's keyframe.

Frames are taken from the FILM at analysis size (PySceneDetect's own rule: about 256 px wide). In
``flicker_robust`` mode each analysis frame is first normalised to a fixed mean and contrast (flicker and
exposure pumping vanish) and lightly blurred (grain and dust count less), and every cut the detector reports
is confirmed by the correlation of the frames either side, so a flash or a blotch does not split a shot.

Keyframe score (higher is better), per frame, on the analysis frame:
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
from .cuts import cut_score
from .errors import InputError
from .frames import convert_depth
from .scenes import Scenes, Shot

DETECTORS = ("content", "adaptive", "threshold")
ANALYSIS_WIDTH = 256  # PySceneDetect's DEFAULT_MIN_WIDTH


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


def small_luma(frame: np.ndarray, width: int) -> np.ndarray:
    """(H, W, C) uint8/16 frame -> (h, width) float32 luma in 0..255, resized first (cheap on uint8)."""
    import cv2
    h, w = frame.shape[:2]
    if w > width:
        frame = cv2.resize(frame, (width, max(1, int(round(h * width / w)))), interpolation=cv2.INTER_LINEAR)
    if frame.ndim == 3 and frame.shape[-1] == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    y = frame.reshape(frame.shape[0], frame.shape[1]).astype(np.float32)
    return y * np.float32(1.0 / 257.0) if frame.dtype == np.uint16 else y


def analysis_frame(frame: np.ndarray, width: int, robust: bool) -> np.ndarray:
    """(H, W, C) uint8/16 -> small BGR uint8 frame for a detector, normalised when ``robust``."""
    import cv2
    h, w = frame.shape[:2]
    if w > width:
        size = (width, max(1, int(round(h * width / w))))
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR).reshape(size[1], size[0], -1)
    frame = convert_depth(frame, np.uint8)
    if frame.ndim == 2 or frame.shape[-1] == 1:
        frame = cv2.cvtColor(frame.reshape(frame.shape[0], frame.shape[1]), cv2.COLOR_GRAY2BGR)
    else:
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    if robust:
        y = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        mean, std = cv2.meanStdDev(y)
        gain = 48.0 / (float(std[0, 0]) + 1e-3)
        # flicker and exposure pumping: every frame to the same mean and contrast, then a little blur for grain
        frame = cv2.convertScaleAbs(frame, alpha=gain, beta=118.0 - gain * float(mean[0, 0]))
        frame = cv2.GaussianBlur(frame, (3, 3), 0)
    return frame


def frame_quality(prev: np.ndarray | None, cur: np.ndarray, nxt: np.ndarray | None) -> tuple[float, float, float]:
    """(sharpness, exposure, cleanliness) of a small float luma frame (0..255, not normalised)."""
    import cv2
    y = cur * np.float32(1.0 / 255.0)
    var = float(y.var()) + 1e-6
    sharp = float(cv2.Laplacian(y, cv2.CV_32F).var()) / var
    mean = float(y.mean())
    clipped = float(np.mean(y < 0.02) + np.mean(y > 0.98))
    exposure = max(0.05, 1.0 - 1.5 * abs(mean - 0.45) - 3.0 * clipped)
    clean = 1.0
    if prev is not None and nxt is not None:
        # compare contrast-normalised frames so flicker is not damage
        a, b, c = ((f - f.mean()) / (f.std() + 1e-3) for f in (prev, cur, nxt))
        med = np.maximum(np.minimum(a, c), np.minimum(np.maximum(a, c), b))  # median of three, elementwise
        frac = float(np.mean(np.abs(b - med) > 1.2))
        clean = 1.0 / (1.0 + 40.0 * frac)
    return sharp, exposure, clean


def detect_scenes(film: Film, detector: str = "content", threshold: float | None = None, min_scene_len: int = 15,
                  flicker_robust: bool = True, confirm: float = 0.3,
                  progress: Optional[Callable[[int, int, Optional[np.ndarray]], None]] = None) -> Scenes:
    """Shots of ``film`` and each shot's best keyframe (see the module docstring for the score)."""
    from scenedetect import FrameTimecode
    n = film.info.frame_count
    fps = float(film.info.fps)
    det = make_detector(detector, threshold, min_scene_len, luma_only=film.info.channels == 1)
    recent: deque[tuple[int, np.ndarray]] = deque(maxlen=max(8, min_scene_len + 8))
    cuts: list[int] = []
    quality: list[tuple[float, float, float]] = []
    window: deque[np.ndarray] = deque(maxlen=3)
    first_plain: np.ndarray | None = None

    def accept(found: list) -> None:
        for tc in found:
            c = int(tc.frame_num)
            if not 0 < c < n:
                continue
            if confirm > 0:
                frames = dict(recent)
                if c - 1 in frames and c in frames and cut_score(frames[c - 1], frames[c]) < confirm:
                    continue  # the same picture either side: flicker, a flash or a blotch, not a cut
            cuts.append(c)

    for first, chunk in film.scaled_chunks(ANALYSIS_WIDTH):
        for j, frame in enumerate(chunk):
            k = first + j
            small = analysis_frame(frame, ANALYSIS_WIDTH, flicker_robust)
            plain = small_luma(frame, ANALYSIS_WIDTH)
            recent.append((k, small))
            accept(det.process_frame(FrameTimecode(k, fps), small))
            if k == 0:
                first_plain = plain
            window.append(plain)
            if len(window) == 3:
                quality.append(frame_quality(window[0], window[1], window[2]))  # frame k - 1
        if progress is not None:
            progress(first + len(chunk), n, None)
    accept(det.post_process(FrameTimecode(n, fps)))
    # the first and last frames have one neighbour only: no damage estimate for them
    quality = [frame_quality(None, first_plain, None)] + quality
    if n > 1:
        quality.append(frame_quality(None, window[-1], None))
    cuts = sorted(set(cuts))
    bounds = [0] + cuts + [n]
    shots = []
    for a, b in zip(bounds, bounds[1:]):
        shots.append(_best_keyframe(a, b, quality))
    return Scenes(tuple(shots), n, Fraction(film.info.fps), film.signature,
                  meta={"detector": detector, "flicker_robust": flicker_robust})


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
