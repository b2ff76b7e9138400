"""The FILM value: an immutable, lazy handle on a clip.

A :class:`Film` knows its facts (:class:`ClipInfo`) and reads any frame range ``[start, stop)`` as a
``(n, H, W, C)`` uint8/uint16 array. A :class:`Stage` is a Film computed from other Films: it says which
input frames an output range needs and computes output frames chunk by chunk, on demand, through the
chunk cache. Nothing is decoded or computed until a consumer pulls frames.
"""
from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .cache import ChunkCache, default_cache
from .progress import chunk_ready, current_owner

CHUNK_BYTES = 48 * 1024 * 1024  # one cached chunk: big enough to amortise I/O, small enough for a laptop
MAX_CHUNK_FRAMES = 64


@dataclass(frozen=True)
class AudioSource:
    """The audio stream of a source file, and which part of it belongs to the clip.

    ``start`` is the time (seconds, in the source file's clock) of the clip's first frame; ``duration`` the
    clip's length in seconds; ``trimmed`` tells whether the clip is a part of the file (audio must then be
    cut, not copied whole).
    """

    path: str
    stream_index: int
    codec: str
    start: Fraction
    duration: Fraction
    trimmed: bool


@dataclass(frozen=True)
class ClipInfo:
    """Facts of a clip. ``timestamps`` (seconds from the first frame) is set only for variable-rate clips."""

    width: int
    height: int
    channels: int
    bit_depth: int
    frame_count: int
    fps: Fraction
    timestamps: tuple[Fraction, ...] | None = None
    audio: AudioSource | None = None
    source_name: str = ""

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if self.bit_depth not in (8, 16):
            raise ValueError(f"bit_depth must be 8 or 16, got {self.bit_depth}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"frame size must be positive, got {self.width}x{self.height}")
        if self.fps <= 0:
            raise ValueError(f"frame rate must be positive, got {self.fps}")
        if self.timestamps is not None and len(self.timestamps) != self.frame_count:
            raise ValueError(f"{len(self.timestamps)} timestamps for {self.frame_count} frames")

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint16 if self.bit_depth == 16 else np.uint8)

    @property
    def max_value(self) -> int:
        return 65535 if self.bit_depth == 16 else 255

    @property
    def frame_bytes(self) -> int:
        return self.width * self.height * self.channels * (2 if self.bit_depth == 16 else 1)

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, self.channels)

    def time_of(self, index: int) -> Fraction:
        """Presentation time of frame ``index`` in seconds from the first frame (exact)."""
        if self.timestamps is not None:
            return self.timestamps[index]
        return Fraction(index) / self.fps

    @property
    def duration(self) -> Fraction:
        """Clip length in seconds: the last frame's time plus one frame's display time."""
        if self.frame_count == 0:
            return Fraction(0)
        if self.timestamps is not None and self.frame_count > 1:
            last_step = self.timestamps[-1] - self.timestamps[-2]
            return self.timestamps[-1] + (last_step if last_step > 0 else 1 / self.fps)
        return Fraction(self.frame_count) / self.fps

    def with_(self, **changes: Any) -> "ClipInfo":
        return replace(self, **changes)

    def describe(self) -> str:
        rate = f"{float(self.fps):.3f} fps" + (" (variable)" if self.timestamps is not None else "")
        kind = "gray" if self.channels == 1 else "rgb"
        return (f"{self.width}x{self.height} {kind} {self.bit_depth}-bit, {self.frame_count} frames, {rate}, "
                f"{float(self.duration):.2f} s" + (", audio" if self.audio else ""))


def make_signature(*parts: Any) -> str:
    """A stable content hash of JSON-able parts (Fractions and Films allowed)."""

    def default(o: Any) -> Any:
        if isinstance(o, Fraction):
            return f"{o.numerator}/{o.denominator}"
        if isinstance(o, Film):
            return o.signature
        if isinstance(o, (np.integer, np.floating)):
            return o.item()
        if isinstance(o, (tuple, set)):
            return list(o)
        raise TypeError(f"cannot hash {type(o).__name__} into a signature")

    blob = json.dumps(parts, sort_keys=True, default=default, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class Film(ABC):
    """A lazy clip. Subclasses implement :meth:`_read`; consumers call :meth:`read` or :meth:`chunks`."""

    info: ClipInfo
    signature: str
    label: str = "film"

    def __len__(self) -> int:
        return self.info.frame_count

    def __repr__(self) -> str:
        return f"<FILM {self.label}: {self.info.describe()} sig={self.signature[:8]}>"

    @property
    def chunk_frames(self) -> int:
        """Frames per cached chunk, from the frame size so a chunk stays near ``CHUNK_BYTES``."""
        return int(max(1, min(MAX_CHUNK_FRAMES, CHUNK_BYTES // max(1, self.info.frame_bytes))))

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``[start, stop)`` as a ``(n, H, W, C)`` array of the clip's dtype (a fresh, writable copy)."""
        n = self.info.frame_count
        if not (0 <= start <= stop <= n):
            raise IndexError(f"frame range [{start}, {stop}) is outside the clip's 0..{n} frames")
        if start == stop:
            return np.empty((0, *self.info.frame_shape), self.info.dtype)
        out = self._read(start, stop)
        expected = (stop - start, *self.info.frame_shape)
        if out.shape != expected or out.dtype != self.info.dtype:
            raise RuntimeError(f"{self.label} produced {out.shape} {out.dtype}, expected {expected} "
                               f"{self.info.dtype}: this is a bug in the stage")
        return out

    def scaled_size(self, width: int) -> tuple[int, int]:
        """(w, h) of frames read at ``width`` px wide (never enlarged), aspect kept."""
        w, h = self.info.width, self.info.height
        if width >= w:
            return w, h
        return width, max(1, int(round(h * width / w)))

    def read_scaled(self, start: int, stop: int, width: int) -> np.ndarray:
        """Frames ``[start, stop)`` at ``width`` px wide for analysis passes (sources may decode them small)."""
        import cv2
        frames = self.read(start, stop)
        w, h = self.scaled_size(width)
        if (w, h) == (self.info.width, self.info.height):
            return frames
        return np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA).reshape(h, w, -1) for f in frames])

    def read_luma_scaled(self, start: int, stop: int, width: int) -> np.ndarray:
        """Luma of frames [start, stop) at width px wide, (n, h, w, 1) of the clip's dtype (analysis passes)."""
        import cv2
        frames = self.read_scaled(start, stop, width)
        if frames.shape[-1] == 1:
            return frames
        return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[..., None] for f in frames])

    def luma_chunks(self, width: int) -> Iterator[tuple[int, np.ndarray]]:
        """Like :meth:`scaled_chunks`, luma only."""
        n, size = self.info.frame_count, self.chunk_frames
        for pos in range(0, n, size):
            yield pos, self.read_luma_scaled(pos, min(n, pos + size), width)

    def scaled_chunks(self, width: int) -> Iterator[tuple[int, np.ndarray]]:
        """Like :meth:`chunks`, at ``width`` px wide."""
        n, size = self.info.frame_count, self.chunk_frames
        for pos in range(0, n, size):
            yield pos, self.read_scaled(pos, min(n, pos + size), width)

    def frame(self, index: int) -> np.ndarray:
        """One frame ``(H, W, C)``."""
        return self.read(index, index + 1)[0]

    def chunks(self, start: int = 0, stop: int | None = None, size: int | None = None
               ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(first_index, frames)`` over ``[start, stop)`` in chunks aligned to the clip's chunking."""
        stop = self.info.frame_count if stop is None else stop
        size = size or self.chunk_frames
        pos = start
        while pos < stop:
            end = min(stop, (pos // size + 1) * size)
            yield pos, self.read(pos, end)
            pos = end

    @abstractmethod
    def _read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``[start, stop)``, already range-checked by :meth:`read`."""


class ArrayFilm(Film):
    """A clip held in memory (used by ``FilmFromImages`` and tests)."""

    label = "frames"

    def __init__(self, frames: np.ndarray, fps: Fraction, timestamps: Sequence[Fraction] | None = None,
                 name: str = "frames"):
        if frames.ndim == 3:
            frames = frames[..., None]
        if frames.ndim != 4 or frames.shape[-1] not in (1, 3):
            raise ValueError(f"frames must be (n, H, W, 1|3), got shape {frames.shape}")
        if frames.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"frames must be uint8 or uint16, got {frames.dtype}")
        if len(frames) == 0:
            raise ValueError("a clip needs at least one frame, got 0")
        self._frames = np.ascontiguousarray(frames)
        self._frames.setflags(write=False)
        self.info = ClipInfo(width=frames.shape[2], height=frames.shape[1], channels=frames.shape[3],
                             bit_depth=16 if frames.dtype == np.uint16 else 8, frame_count=len(frames),
                             fps=Fraction(fps), timestamps=tuple(timestamps) if timestamps else None,
                             source_name=name)
        self.signature = make_signature("array", hashlib.sha256(self._frames.tobytes()).hexdigest(),
                                        self.info.fps, self.info.timestamps)
        self.label = name

    def _read(self, start: int, stop: int) -> np.ndarray:
        return self._frames[start:stop].copy()


class Stage(Film):
    """A Film computed from ``sources``; output is computed chunk by chunk through the cache.

    Subclasses set ``name``, ``version`` (bump when the output changes), ``cache_policy`` ("disk": memory
    and disk, "memory": memory only, "none") and implement :meth:`compute`. Temporal stages override
    :meth:`input_range` (default: ``context`` frames either side, clamped to the clip).
    """

    name: str = "stage"
    version: str = "1"
    cache_policy: str = "disk"
    context: int = 0

    def __init__(self, source: Film, params: dict[str, Any], info: ClipInfo | None = None,
                 extra_sources: Sequence[Film] = (), cache: ChunkCache | None = None):
        self.source = source
        self.extra_sources = tuple(extra_sources)
        self.params = dict(params)
        self.info = info or source.info
        self._cache = cache
        self.signature = make_signature(self.name, self.version, self.params, source.signature,
                                        [s.signature for s in self.extra_sources], self.info.frame_count)
        self.label = self.name
        self.progress_owner = current_owner()  # the node building it, for progress while a consumer pulls

    @property
    def cache(self) -> ChunkCache:
        return self._cache or default_cache()

    def cached_analysis(self, analyse: Callable[[], np.ndarray], unpack: Callable[[np.ndarray], Any]) -> Any:
        """The stage's whole-clip analysis: ``analyse()`` computes it as one flat array in one pass, the chunk
        cache keeps it under the stage's signature (a re-run or a second process does not analyse again), and
        ``unpack(packed)`` is kept on the stage for the chunks that follow."""
        memo = self.__dict__.get("_analysis_memo")
        if memo is None:
            key = f"{self.signature}-analysis"
            packed = self.cache.get(key)
            if packed is None:
                packed = analyse()
                self.cache.put(key, packed)
            memo = self._analysis_memo = unpack(packed)
        return memo

    def input_range(self, start: int, stop: int) -> tuple[int, int]:
        """Which source frames ``[a, b)`` output frames ``[start, stop)`` need."""
        n = self.source.info.frame_count
        return max(0, start - self.context), min(n, stop + self.context)

    @abstractmethod
    def compute(self, frames: np.ndarray, first: int, start: int, stop: int) -> np.ndarray:
        """Output frames ``[start, stop)`` from source ``frames`` that begin at source index ``first``."""

    def _compute_chunk(self, start: int, stop: int) -> np.ndarray:
        a, b = self.input_range(start, stop)
        frames = self.source.read(a, b)
        out = self.compute(frames, a, start, stop)
        out = np.ascontiguousarray(out, dtype=self.info.dtype)
        self.cache.stats.count(self.name, stop - start)
        return out

    def _read(self, start: int, stop: int) -> np.ndarray:
        size = self.chunk_frames
        n = self.info.frame_count
        parts = []
        for k in range(start // size, (stop - 1) // size + 1):
            c0, c1 = k * size, min(n, (k + 1) * size)
            key = f"{self.signature}-{size}-{k}"
            chunk = None
            if self.cache_policy != "none":
                chunk = self.cache.get(key, disk=self.cache_policy == "disk")
                if chunk is not None and chunk.shape != (c1 - c0, *self.info.frame_shape):
                    chunk = None  # a stale entry of another shape is never used
            if chunk is None:
                chunk = self._compute_chunk(c0, c1)
                if self.cache_policy != "none":
                    self.cache.put(key, chunk, disk=self.cache_policy == "disk")
            chunk_ready(self, k, chunk)
            parts.append(chunk[max(start, c0) - c0: min(stop, c1) - c0])
        return np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0].copy()


class FrameStage(Stage):
    """A stage that maps each frame independently: implement :meth:`process_frame`."""

    cache_policy = "disk"

    @abstractmethod
    def process_frame(self, frame: np.ndarray, index: int) -> np.ndarray:
        """One output frame from source frame ``index``."""

    def compute(self, frames: np.ndarray, first: int, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, *self.info.frame_shape), self.info.dtype)
        for i in range(start, stop):
            out[i - start] = self.process_frame(frames[i - first], i).reshape(self.info.frame_shape)
        return out


def require_film(value: Any, what: str = "film") -> Film:
    """Check that a node input is a FILM, with an actionable message otherwise."""
    if not isinstance(value, Film):
        raise TypeError(f"{what} must be a FILM (connect a FilmLoadVideo or another Film node), "
                        f"got {type(value).__name__}")
    return value
