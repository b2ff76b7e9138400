"""Side-by-side before/after comparison of two clips, matched by time (so frame-rate changes line up)."""
from __future__ import annotations

import bisect

import numpy as np

from .clip import Film, Stage
from .frames import convert_depth


def frame_at_time(film: Film, t) -> int:
    """Index of the frame of ``film`` on screen at time ``t`` seconds (the last one that started)."""
    info = film.info
    if info.timestamps is not None:
        return max(0, min(info.frame_count - 1, bisect.bisect_right(info.timestamps, t) - 1))
    return max(0, min(info.frame_count - 1, int(t * info.fps)))


def _fit(frame: np.ndarray, height: int, channels: int, dtype: np.dtype) -> np.ndarray:
    import cv2
    frame = convert_depth(frame, dtype)
    if frame.shape[0] != height:
        width = max(1, int(round(frame.shape[1] * height / frame.shape[0])))
        width += width % 2
        frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if frame.shape[0] > height
                           else cv2.INTER_CUBIC).reshape(height, width, -1)
    if frame.shape[-1] != channels:
        frame = np.repeat(frame, channels, axis=-1)
    return frame


def _label(frame: np.ndarray, text: str) -> None:
    import cv2
    maxv = 65535 if frame.dtype == np.uint16 else 255
    scale = max(0.4, frame.shape[0] / 720)
    for color, thick in ((0, 3), (maxv, 1)):
        cv2.putText(frame, text, (int(10 * scale), int(28 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (color,) * frame.shape[-1], max(1, int(thick * scale)), cv2.LINE_AA)


class SideBySide(Stage):
    """``before`` (left, resized to the same height) next to ``after`` (right), labelled."""

    name = "side_by_side"
    version = "1"
    cache_policy = "none"

    def __init__(self, before: Film, after: Film, labels: tuple[str, str] = ("original", "restored")):
        a = after.info
        bw = int(round(before.info.width * a.height / before.info.height))
        bw += bw % 2
        channels = 3 if 3 in (a.channels, before.info.channels) else 1
        info = a.with_(width=a.width + bw, channels=channels)
        super().__init__(after, {"labels": list(labels)}, info=info, extra_sources=[before])
        self.before = before
        self.labels = labels

    def compute(self, frames: np.ndarray, first: int, start: int, stop: int) -> np.ndarray:
        idx = [frame_at_time(self.before, self.info.time_of(i)) for i in range(start, stop)]
        lo, hi = min(idx), max(idx) + 1
        before = self.before.read(lo, hi)
        out = np.empty((stop - start, *self.info.frame_shape), self.info.dtype)
        h, c, dt = self.info.height, self.info.channels, self.info.dtype
        for k, i in enumerate(range(start, stop)):
            left = _fit(before[idx[k] - lo], h, c, dt).copy()
            right = _fit(frames[i - first], h, c, dt).copy()
            _label(left, self.labels[0])
            _label(right, self.labels[1])
            out[k] = np.concatenate([left, right], axis=1)
        return out
