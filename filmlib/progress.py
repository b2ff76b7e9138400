"""Progress of lazily computed stages, for whoever listens (knows nothing of ComfyUI).

Stages compute when a consumer pulls frames, usually long after the node that built them has finished (a
saver pulls every stage of the chain). So a :class:`~.clip.Stage` remembers its *owner* when it is built: an
opaque value from the installed owner provider (inside ComfyUI the bridge installs one returning
``(prompt_id, node_id)``). Each chunk the stage delivers, computed or from the cache, is counted once, and the
installed sink gets a :class:`StageProgress` (frames done, frames per second, seconds left). Nothing is
installed headless: then a chunk costs one ``None`` check.

The sink is called on every chunk, so it can honour Cancel promptly; it rate limits what it sends itself
(:class:`RateLimiter`).
"""
from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Optional

import numpy as np

Clock = Callable[[], float]


@dataclass(frozen=True)
class StageProgress:
    """One chunk of a stage delivered. ``frame`` is the chunk's last frame ``(H, W, C)`` (a preview; not a
    copy: do not modify it), ``fps``/``eta`` are None until two chunks have been timed."""

    owner: Any
    stage: str
    done: int
    total: int
    fps: Optional[float]
    eta: Optional[float]
    frame: Optional[np.ndarray]

    @property
    def finished(self) -> bool:
        return self.done >= self.total


class Meter:
    """Frames done of ``total``, with a rate over the last ``window`` seconds (so a slow start or a cached
    stretch does not skew the estimate for long) and the time left at that rate."""

    def __init__(self, total: int, clock: Clock = time.monotonic, window: float = 10.0):
        if total < 0:
            raise ValueError(f"total must be >= 0 frames, got {total}")
        self.total = total
        self.done = 0
        self._clock = clock
        self._window = window
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, frames: int) -> None:
        """``frames`` more frames are done (now)."""
        now = self._clock()
        self.done = min(self.total, self.done + frames)
        self._samples.append((now, self.done))
        # keep one sample at or before the window's start, so the rate always spans the whole window
        while len(self._samples) > 2 and self._samples[1][0] <= now - self._window:
            self._samples.popleft()

    @property
    def fps(self) -> float | None:
        """Frames per second over the window, None before two timed samples."""
        if len(self._samples) < 2:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else None

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate (0 when done), None while the rate is unknown or zero."""
        if self.done >= self.total:
            return 0.0
        fps = self.fps
        return (self.total - self.done) / fps if fps else None


class RateLimiter:
    """At most one pass per ``interval`` seconds per key; ``force`` (e.g. the last frame) always passes."""

    def __init__(self, interval: float, clock: Clock = time.monotonic):
        self.interval = interval
        self._clock = clock
        self._last: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def ready(self, key: Hashable = None, force: bool = False) -> bool:
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if force or last is None or now - last >= self.interval:
                self._last[key] = now
                return True
            return False


class _Track:
    def __init__(self, total: int, clock: Clock):
        self.meter = Meter(total, clock)
        self.chunks: set[int] = set()


_owner_provider: Callable[[], Any] | None = None
_sink: Callable[[StageProgress], None] | None = None
_clock: Clock = time.monotonic
_tracks: "weakref.WeakKeyDictionary[Any, _Track]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def install(owner_provider: Callable[[], Any] | None, sink: Callable[[StageProgress], None] | None,
            clock: Clock = time.monotonic) -> None:
    """Set who owns a stage built now (``owner_provider()``, None for nobody) and who hears of its chunks
    (``sink``); ``install(None, None)`` turns reporting off."""
    global _owner_provider, _sink, _clock
    with _lock:
        _owner_provider, _sink, _clock = owner_provider, sink, clock
        _tracks.clear()


def current_owner() -> Any:
    """The owner a stage built now gets (None when nothing is installed)."""
    provider = _owner_provider
    return provider() if provider is not None else None


def chunk_ready(stage: Any, index: int, chunk: np.ndarray) -> None:
    """Stage ``stage`` delivered its chunk ``index`` (``(n, H, W, C)``): count it once and tell the sink."""
    sink, owner = _sink, getattr(stage, "progress_owner", None)
    if sink is None or owner is None:
        return
    with _lock:
        track = _tracks.get(stage)
        if track is None:
            track = _tracks[stage] = _Track(stage.info.frame_count, _clock)
        if index not in track.chunks:
            track.chunks.add(index)
            track.meter.add(len(chunk))
        meter = track.meter
        event = StageProgress(owner, getattr(stage, "label", "stage"), meter.done, meter.total, meter.fps,
                              meter.eta, chunk[-1] if len(chunk) else None)
    sink(event)  # outside the lock: the sink may raise (Cancel) or block on I/O
