"""The frame index of a video file: which decoded frame is which, and where its keyframes are.

Packet timestamps name the frames when they are the decoder's own (checked on the first frames at open);
otherwise (AVI with packed B-frames, raw streams, damaged starts) the file is decoded once at open and the frames
are named by the decoder's timestamps, or counted in order when it has none.
"""
from __future__ import annotations

import functools
import logging
from fractions import Fraction
from typing import Any, Iterator

import numpy as np

from ..errors import DecodeError

log = logging.getLogger(__name__)

# demuxers that read other files named inside the file: a renamed playlist would read anything on the host
_REFERENCING_DEMUXERS = ("hls", "concat", "dash")
_PROBE_FRAMES = 16  # frames decoded at open to check that packet timestamps are the decoder's
_SAMPLE_EVERY = 32  # a full scan keeps every n-th frame, small, for gray detection
_NTSC = {Fraction(24000, 1001), Fraction(30000, 1001), Fraction(60000, 1001), Fraction(48000, 1001)}


def snap_rate(rate: float | Fraction) -> Fraction:
    """A frame rate as an exact Fraction; 23.976 and friends snap to their NTSC values (24000/1001)."""
    r = Fraction(rate).limit_denominator(100000)
    for ntsc in _NTSC:
        if abs(float(r) - float(ntsc)) < 5e-4:
            return ntsc
    return Fraction(rate).limit_denominator(1001)


def open_container(path: str) -> Any:
    """An open PyAV container for ``path``; a missing, unreadable or playlist file is a clear DecodeError."""
    import av
    try:
        container = av.open(path, metadata_errors="ignore")
    except FileNotFoundError:
        raise DecodeError(f"video file not found: {path!r}; check the path") from None
    except av.error.FFmpegError as exc:
        raise DecodeError(f"cannot open {path!r} as a video ({exc}); the file is not a video or is "
                          f"truncated (re-download or re-export it)") from exc
    if container.format.name.split(",")[0] in _REFERENCING_DEMUXERS:
        container.close()
        raise DecodeError(f"{path!r} is a {container.format.name} list of other files, not a video; open the "
                          f"video files it names directly")
    if container.streams.video:
        # one threading mode everywhere: error concealment in damaged files depends on it, as in ffmpeg
        container.streams.video[0].thread_type = "AUTO"
    return container


def decoded_frames(container: Any, path: str) -> Iterator[Any]:
    """Frames of the first video stream in the decoder's output order. A packet the decoder refuses is
    skipped, as ffmpeg does (it logs the error and goes on); the neighbours stand in for what it lost."""
    import av
    vs = container.streams.video[0]
    for packet in container.demux(vs):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError as exc:
            log.debug("%s: the decoder refused a packet at dts %s (%s)", path, packet.dts, exc)
            continue
        yield from frames


def small_rgb(frame: Any) -> np.ndarray:
    """A decoded frame at most 320 px wide as ``(h, w, 3)`` uint8 RGB, for gray detection."""
    w = min(320, frame.width)
    return frame.to_ndarray(format="rgb24", width=w, height=max(1, frame.height * w // frame.width))


def _timeline(values: list[int | None]) -> tuple[list[int], int] | None:
    """Frame timestamps with gaps (the frames a decoder flushes at the end carry no dts) filled one usual step
    after the one before, and that step; None when they are not strictly increasing."""
    steps = [b - a for a, b in zip(values, values[1:]) if a is not None and b is not None]
    if not values or values[0] is None or not steps or min(steps) <= 0:
        return None
    step = max(set(steps), key=steps.count)
    filled = [values[0]]
    for v in values[1:]:
        filled.append(filled[-1] + step if v is None else v)
    return (filled, step) if all(a < b for a, b in zip(filled, filled[1:])) else None


class VideoIndex:
    """Every frame's timestamp (``keys``, presentation order) and the seek points, found at open.

    ``by`` says which frame field names a decoded frame: ``"pts"``, ``"dts"`` (the decoder's timestamps
    when its pts are missing or out of order), or ``None`` (no usable timestamps: frames are counted from the
    start and every seek restarts the file)."""

    def __init__(self, path: str):
        self.path = path
        self.samples: dict[int, np.ndarray] = {}
        container = open_container(path)
        try:
            if not container.streams.video:
                raise DecodeError(f"{path!r} has no video stream (streams: "
                                  f"{[s.type for s in container.streams] or 'none'}); give a video file")
            vs = container.streams.video[0]
            self.time_base = vs.time_base or Fraction(1, 90000)
            rate = vs.average_rate or vs.guessed_rate or vs.base_rate
            self.rate = snap_rate(rate) if rate else None
            # without timestamps only the bitstream's own rate is known (H.264 VUI, MPEG-4 VOL)
            coded = vs.codec_context.framerate or vs.guessed_rate
            self.width, self.height = vs.codec_context.width, vs.codec_context.height
            self.pix_fmt = vs.codec_context.pix_fmt or ""
            self.audio = None
            if container.streams.audio:
                a = container.streams.audio[0]
                self.audio = (a.index, a.codec_context.name)
            pts, keys = self._demux(container, vs)
            declared = (float(vs.duration * vs.time_base) if vs.duration else
                        container.duration / 1_000_000 if container.duration else None)
        finally:
            container.close()
        self.by: str | None = "pts"
        self.step = 0  # the usual timestamp step, for a decoded frame that carries none
        self.scanned = False
        trusted = None not in pts and len(set(pts)) == len(pts)
        self.keys, self.keyframes = (sorted(pts), sorted(keys)) if trusted else ([], [])
        if not trusted or not self._probe_agrees():
            self._scan()
        self.keyframes = self.keyframes or self.keys[:1]
        self.position = {k: i for i, k in enumerate(self.keys)}
        if self.by is not None:
            self._check_complete(declared)
        self._settle_rate(coded)

    def _settle_rate(self, coded: Fraction | None) -> None:
        """The header's rate, unless the frames keep another one steadily (raw streams are said to be 25 fps
        whatever they hold); without timestamps, the bitstream's own rate."""
        if self.by is None:
            self.rate = snap_rate(coded) if coded else self.rate
        elif len(self.keys) > 1 and self.keys[-1] > self.keys[0]:
            measured = snap_rate((len(self.keys) - 1) / ((self.keys[-1] - self.keys[0]) * self.time_base))
            if self.rate is None or (not self.is_constant_rate() and self.is_constant_rate(measured)):
                self.rate = measured
        self.rate = self.rate or Fraction(24)

    def _demux(self, container: Any, vs: Any) -> tuple[list, list]:
        """Packet pts (None where a packet has none) and the pts of keyframe packets, without decoding."""
        pts: list[int | None] = []
        keys: list[int] = []
        try:
            for packet in container.demux(vs):
                if packet.size == 0 or packet.is_discard:  # discarded: before an edit list's start
                    continue
                pts.append(packet.pts)
                if packet.is_keyframe and packet.pts is not None:
                    keys.append(packet.pts)
        except Exception as exc:
            raise DecodeError(f"cannot read {self.path!r} past frame {len(pts)} ({exc}); the file is damaged "
                              f"or truncated (re-download or re-export it)") from exc
        return pts, keys

    def _probe_agrees(self) -> bool:
        """True when the first frames the decoder puts out carry the packets' first timestamps, in order."""
        want = min(_PROBE_FRAMES, len(self.keys))
        return [m[0] for m in self._decode_meta(want)] == self.keys[:want]

    def _scan(self) -> None:
        """Decode the whole file once: the frames and their timestamps are what the decoder puts out."""
        meta = self._decode_meta(None)
        self.scanned = True
        for field, col in (("pts", 0), ("dts", 1), (None, -1)):
            timeline = _timeline([m[col] for m in meta]) if field else (list(range(len(meta))), 1)
            if timeline is not None:
                break
        self.by, (self.keys, self.step) = field, timeline
        self.keyframes = [v for v, m in zip(self.keys, meta) if m[2]] if field else []
        log.info("%s: packet timestamps are not the decoder's; indexed %d decoded frames by %s", self.path,
                 len(meta), field or "order")

    def _decode_meta(self, limit: int | None) -> list[tuple[int | None, int | None, bool]]:
        """(pts, dts, keyframe) of the first ``limit`` (None: all) decoded frames; keeps a few small for gray
        detection."""
        self.samples.clear()
        meta: list[tuple[int | None, int | None, bool]] = []
        container = open_container(self.path)
        try:
            for frame in decoded_frames(container, self.path):
                if len(meta) % _SAMPLE_EVERY == 0:
                    self.samples[len(meta)] = small_rgb(frame)
                meta.append((frame.pts, frame.dts, bool(frame.key_frame)))
                if limit is not None and len(meta) >= limit:
                    break
        except Exception as exc:
            raise DecodeError(f"cannot decode {self.path!r} past frame {len(meta)} ({exc}); the file is damaged "
                              f"or truncated (re-download or re-export it)") from exc
        finally:
            container.close()
        return meta

    def _check_complete(self, declared: float | None) -> None:
        """Refuse a file whose header promises more than its packets hold (a cut-off download or copy)."""
        if declared is None or len(self.keys) < 2:
            return
        present = float((self.keys[-1] - self.keys[0]) * self.time_base)
        step = present / (len(self.keys) - 1)
        if declared - present > max(1.0, 3 * step):
            raise DecodeError(f"{self.path!r} is truncated: its header says {declared:.2f} s but its frames stop "
                              f"at {present:.2f} s ({len(self.keys)} frames); re-download or re-export the file")

    def is_constant_rate(self, rate: Fraction | None = None) -> bool:
        """True when every frame sits within a quarter frame of ``i / rate`` (timebase rounding allowed)."""
        rate = rate or self.rate
        if self.by is None or not self.keys:
            return True
        p0 = self.keys[0]
        return all(abs((p - p0) * self.time_base - Fraction(i) / rate) <= 1 / (4 * rate)
                   for i, p in enumerate(self.keys))


@functools.lru_cache(maxsize=16)
def index_of(path: str, size: int, mtime_ns: int) -> VideoIndex:
    """The index of a file as it is now (a changed file gets a new one): opening a clip again, or another range
    of it, costs no second scan."""
    return VideoIndex(path)
