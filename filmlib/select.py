"""Selecting frame ranges of a clip: one shot, a list of shots, or any set of ranges, as a new lazy Film."""
from __future__ import annotations

import bisect
from dataclasses import replace
from typing import Sequence

import numpy as np

from .clip import Film, Stage
from .errors import InputError
from .scenes import Scenes, Shot


def parse_indices(text: str, count: int) -> list[int]:
    """'0, 2, 5-7' -> [0, 2, 5, 6, 7]; negative numbers count from the end; checked against ``count``."""
    out: list[int] = []
    for part in (p.strip() for p in text.replace(";", ",").split(",")):
        if not part:
            continue
        try:
            if "-" in part[1:]:
                a, b = part[0] + part[1:].split("-", 1)[0], part[1:].split("-", 1)[1]
                lo, hi = int(a), int(b)
                out.extend(range(lo, hi + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise InputError(f"cannot read shot indices {text!r}: use numbers and ranges like '0, 2, 5-7'") from None
    fixed = []
    for i in out:
        j = i + count if i < 0 else i
        if not 0 <= j < count:
            raise InputError(f"shot index {i} is out of range: there are {count} shots (0..{count - 1})")
        fixed.append(j)
    return sorted(set(fixed))


class RangesStage(Stage):
    """The frames of ``ranges`` ([start, end) pairs of the source, in order) as one clip."""

    name = "ranges"
    version = "1"
    cache_policy = "none"  # a pure re-indexing: the source's own cache holds the frames

    def __init__(self, source: Film, ranges: Sequence[tuple[int, int]]):
        n = source.info.frame_count
        ranges = [(int(a), int(b)) for a, b in ranges]
        if not ranges or any(not 0 <= a < b <= n for a, b in ranges):
            raise InputError(f"frame ranges {ranges} must be non-empty and inside the clip's 0..{n} frames")
        self.ranges = ranges
        self._offsets = np.cumsum([0] + [b - a for a, b in ranges]).tolist()
        count = self._offsets[-1]
        info = source.info
        audio = info.audio
        if audio is not None:
            if len(ranges) == 1:  # one contiguous piece: cut the audio to it
                a, b = ranges[0]
                t0 = info.time_of(a)
                end = info.time_of(b) if b < n else info.duration
                audio = replace(audio, start=audio.start + t0, duration=end - t0, trimmed=True)
            else:
                audio = None  # separate pieces of sound would jump: leave it out
        timestamps = None
        if info.timestamps is not None:
            ts = [info.timestamps[i] for a, b in ranges for i in range(a, b)]
            timestamps = tuple(t - ts[0] for t in ts)
        super().__init__(source, {"ranges": ranges}, info=info.with_(frame_count=count, timestamps=timestamps,
                                                                      audio=audio))

    def source_index(self, k: int) -> int:
        r = bisect.bisect_right(self._offsets, k) - 1
        return self.ranges[r][0] + (k - self._offsets[r])

    def input_range(self, start: int, stop: int) -> tuple[int, int]:
        idx = [self.source_index(k) for k in (start, stop - 1)]
        return min(idx), max(idx) + 1

    def compute(self, frames: np.ndarray, first: int, start: int, stop: int) -> np.ndarray:
        return frames[[self.source_index(k) - first for k in range(start, stop)]]

    def _compute_chunk(self, start: int, stop: int) -> np.ndarray:
        # read each contiguous piece separately, so two distant shots never pull everything in between
        out = []
        k = start
        while k < stop:
            r = bisect.bisect_right(self._offsets, k) - 1
            piece_end = min(stop, self._offsets[r + 1])
            a = self.source_index(k)
            out.append(self.source.read(a, a + (piece_end - k)))
            k = piece_end
        self.cache.stats.count(self.name, stop - start)
        return np.concatenate(out)


def select_shots(film: Film, scenes: Scenes, indices: Sequence[int]) -> tuple[Film, Scenes]:
    """The chosen shots of ``film`` as one clip, and their Scenes re-indexed to it."""
    scenes.check_film(film.info.frame_count)
    chosen = [scenes.shots[i] for i in indices]
    if not chosen:
        raise InputError("no shots selected: give at least one shot index")
    ranges, shots, pos = [], [], 0
    for s in chosen:
        ranges.append((s.start, s.end))
        shots.append(Shot(pos, pos + len(s), pos + (s.keyframe - s.start), s.score))
        pos += len(s)
    out = RangesStage(film, ranges)
    return out, Scenes(tuple(shots), pos, out.info.fps, out.signature, meta=dict(scenes.meta))
