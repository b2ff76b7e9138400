"""``VideoSource``: a Film that decodes a video file through PyAV, with a frame index for exact seeking."""
from __future__ import annotations

import logging
import os
import threading
from fractions import Fraction
from typing import Any

import numpy as np

from ..clip import AudioSource, ClipInfo, Film, make_signature
from ..errors import DecodeError, InputError
from .colour import COLOR_MODES, looks_gray, to_channels

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mxf", ".mpg", ".mpeg", ".ts", ".wmv",
                    ".flv", ".ogv", ".gif")
_SEEK_FORWARD_LIMIT = 48  # decoding this many frames forward is cheaper than a seek
_NTSC = {Fraction(24000, 1001), Fraction(30000, 1001), Fraction(60000, 1001), Fraction(48000, 1001)}


def snap_rate(rate: float | Fraction) -> Fraction:
    """A frame rate as an exact Fraction; 23.976 and friends snap to their NTSC values (24000/1001)."""
    r = Fraction(rate).limit_denominator(100000)
    for ntsc in _NTSC:
        if abs(float(r) - float(ntsc)) < 5e-4:
            return ntsc
    return Fraction(rate).limit_denominator(1001)


def _open(path: str) -> Any:
    import av
    try:
        return av.open(path, metadata_errors="ignore")
    except FileNotFoundError:
        raise DecodeError(f"video file not found: {path!r}; check the path") from None
    except av.error.FFmpegError as exc:
        raise DecodeError(f"cannot open {path!r} as a video ({exc}); the file is not a video or is "
                          f"truncated (re-download or re-export it)") from exc


class _Index:
    """Sorted presentation timestamps of every frame, found by demuxing packets (no decoding)."""

    def __init__(self, path: str):
        container = _open(path)
        try:
            if not container.streams.video:
                raise DecodeError(f"{path!r} has no video stream (streams: "
                                  f"{[s.type for s in container.streams] or 'none'}); give a video file")
            vs = container.streams.video[0]
            self.time_base = vs.time_base or Fraction(1, 90000)
            rate = vs.average_rate or vs.guessed_rate or vs.base_rate
            self.rate = snap_rate(rate) if rate else None
            pts: list[int] = []
            keys: list[int] = []
            try:
                for packet in container.demux(vs):
                    if packet.size == 0:
                        continue
                    p = packet.pts if packet.pts is not None else packet.dts
                    if p is None:  # raw streams without timestamps: number them
                        p = len(pts)
                    pts.append(p)
                    if packet.is_keyframe:
                        keys.append(p)
            except Exception as exc:
                raise DecodeError(f"cannot read {path!r} past frame {len(pts)} ({exc}); the file is damaged or "
                                  f"truncated (re-download or re-export it)") from exc
            self.pts = sorted(pts)
            self._check_complete(path, container, vs)
            self.keyframes = sorted(keys) or self.pts[:1]
            if self.rate is None and len(self.pts) > 1:
                span = (self.pts[-1] - self.pts[0]) * self.time_base
                self.rate = snap_rate(Fraction(len(self.pts) - 1) / span) if span > 0 else Fraction(24)
            self.rate = self.rate or Fraction(24)
            self.start = Fraction(self.pts[0]) * self.time_base if self.pts else Fraction(0)
            self.width, self.height = vs.codec_context.width, vs.codec_context.height
            self.pix_fmt = vs.codec_context.pix_fmt or ""
            self.audio = None
            if container.streams.audio:
                a = container.streams.audio[0]
                self.audio = (a.index, a.codec_context.name)
        finally:
            container.close()

    def _check_complete(self, path: str, container: Any, vs: Any) -> None:
        """Refuse a file whose header promises more than its packets hold (a cut-off download or copy)."""
        if len(self.pts) < 2:
            return
        declared = None
        if vs.duration:
            declared = float(vs.duration * vs.time_base)
        elif container.duration:
            declared = container.duration / 1_000_000
        if declared is None:
            return
        present = float((self.pts[-1] - self.pts[0]) * self.time_base)
        step = float((self.pts[-1] - self.pts[0]) * self.time_base) / (len(self.pts) - 1)
        if declared - present > max(1.0, 3 * step):
            raise DecodeError(f"{path!r} is truncated: its header says {declared:.2f} s but its frames stop at "
                              f"{present:.2f} s ({len(self.pts)} frames); re-download or re-export the file")

    def is_constant_rate(self) -> bool:
        """True when every frame sits within a quarter frame of ``i / rate`` (timebase rounding allowed)."""
        p0 = self.pts[0]
        for i, p in enumerate(self.pts):
            if abs((p - p0) * self.time_base - Fraction(i) / self.rate) > 1 / (4 * self.rate):
                return False
        return True


def _pix_fmt_bits(pix_fmt: str) -> int:
    import av
    try:
        fmt = av.VideoFormat(pix_fmt)
        return max(c.bits for c in fmt.components)
    except Exception:
        return 8


class VideoSource(Film):
    """Frames of a video file, decoded on demand; sequential reads continue the decoder, others seek."""

    label = "video"

    def __init__(self, path: str | os.PathLike, first_frame: int = 0, frame_count: int = 0,
                 force_fps: float | Fraction = 0, color: str = "auto"):
        path = str(path)
        if not os.path.isfile(path):
            raise DecodeError(f"video file not found: {path!r}; check the path (relative paths are read from "
                              f"the input folder, then the current folder)")
        if color not in COLOR_MODES:
            raise InputError(f"color must be one of {COLOR_MODES}, got {color!r}")
        if first_frame < 0 or frame_count < 0:
            raise InputError(f"first_frame and frame_count must be >= 0, got {first_frame} and {frame_count}")
        st = os.stat(path)
        self.path = path
        self._index = _Index(path)
        total = len(self._index.pts)
        if total == 0:
            raise DecodeError(f"{path!r} contains zero video frames; the file is empty or damaged")
        if first_frame >= total:
            raise InputError(f"first_frame {first_frame} is past the end of {path!r}, which has {total} frames")
        stop = total if frame_count == 0 else min(total, first_frame + frame_count)
        self._pts = self._index.pts[first_frame:stop]
        self._pts_to_index = {p: i for i, p in enumerate(self._pts)}
        bits = 16 if _pix_fmt_bits(self._index.pix_fmt) > 8 else 8
        channels = self._choose_channels(color)
        self._out_fmt = {(1, 8): "gray", (1, 16): "gray16le", (3, 8): "rgb24", (3, 16): "rgb48le"}[(channels, bits)]
        tb = self._index.time_base
        t0 = Fraction(self._pts[0]) * tb
        native_rate = self._index.rate
        timestamps = None
        if force_fps:
            fps = snap_rate(force_fps)
        else:
            fps = native_rate
            if not self._index.is_constant_rate():
                timestamps = tuple(Fraction(p - self._pts[0]) * tb for p in self._pts)
        info = ClipInfo(width=self._index.width, height=self._index.height, channels=channels, bit_depth=bits,
                        frame_count=len(self._pts), fps=fps, timestamps=timestamps,
                        source_name=os.path.basename(path))
        audio = None
        if self._index.audio is not None:
            if force_fps and fps != native_rate:
                log.warning("%s: audio dropped because the frame rate was forced from %s to %s fps, which "
                            "changes the clip's duration", path, native_rate, fps)
            else:
                audio = AudioSource(path=path, stream_index=self._index.audio[0], codec=self._index.audio[1],
                                    start=t0, duration=info.duration,
                                    trimmed=first_frame > 0 or stop < total)
        self.info = info.with_(audio=audio)
        self.signature = make_signature("video", os.path.abspath(path), st.st_size, st.st_mtime_ns, first_frame,
                                        frame_count, fps, color, channels)
        self.label = os.path.basename(path)
        self._lock = threading.Lock()
        self._container: Any = None
        self._frames: Any = None
        self._next = -1

    def _choose_channels(self, color: str) -> int:
        if color == "grayscale" or self._index.pix_fmt.startswith("gray"):
            return 1 if color != "color" else 3
        if color == "color":
            return 3
        # probe keyframes spread over the clip: each costs one decoded frame, not a run from the last keyframe
        import av
        keys = [k for k in self._index.keyframes if self._pts[0] <= k <= self._pts[-1]] or [self._pts[0]]
        picks = sorted({keys[int(q * (len(keys) - 1))] for q in (0.0, 0.25, 0.5, 0.75, 1.0)})
        samples = []
        container = _open(self.path)
        try:
            vs = container.streams.video[0]
            for pts in picks:
                container.seek(pts, stream=vs, backward=True, any_frame=False)
                try:
                    frame = next(container.decode(vs))
                except (StopIteration, av.error.FFmpegError) as exc:
                    raise DecodeError(f"cannot decode {self.path!r} near {float(pts * vs.time_base):.2f} s "
                                      f"({exc}); the file is damaged") from exc
                w = min(320, frame.width)
                samples.append(frame.to_ndarray(format="rgb24", width=w, height=max(1, frame.height * w // frame.width)))
        finally:
            container.close()
        return 1 if looks_gray(samples) else 3

    def _keyframe_before(self, pts: int) -> int:
        import bisect
        keys = self._index.keyframes
        i = bisect.bisect_right(keys, pts) - 1
        return keys[max(0, i)]

    def _seek(self, index: int) -> None:
        if self._container is None:
            self._container = _open(self.path)
            vs = self._container.streams.video[0]
            vs.thread_type = "AUTO"
        vs = self._container.streams.video[0]
        self._container.seek(self._keyframe_before(self._pts[index]), stream=vs, backward=True, any_frame=False)
        self._frames = self._container.decode(vs)
        self._next = None  # unknown until the first frame arrives

    def _next_frame(self) -> tuple[int, Any]:
        """Decode the next frame; returns (clip index or -1 when outside the clip, frame)."""
        try:
            frame = next(self._frames)
        except StopIteration:
            raise DecodeError(f"{self.path!r} ended early: the index lists {len(self._pts)} frames; the file is "
                              f"probably truncated (re-export it, or set frame_count)") from None
        except Exception as exc:
            raise DecodeError(f"decoding {self.path!r} failed ({exc}); the file is damaged") from exc
        idx = self._pts_to_index.get(frame.pts, -1) if frame.pts is not None else -1
        return idx, frame

    def _read(self, start: int, stop: int) -> np.ndarray:
        return self._decode(start, stop, None)

    def read_scaled(self, start: int, stop: int, width: int) -> np.ndarray:
        """Decode straight to the small size: FFmpeg scales while converting, far cheaper than full frames."""
        size = self.scaled_size(width)
        if size == (self.info.width, self.info.height):
            return self.read(start, stop)
        if not (0 <= start <= stop <= self.info.frame_count):
            raise IndexError(f"frame range [{start}, {stop}) is outside the clip's 0..{self.info.frame_count} frames")
        return self._decode(start, stop, size)

    def _decode(self, start: int, stop: int, size: tuple[int, int] | None) -> np.ndarray:
        w, h = size or (self.info.width, self.info.height)
        shape = (h, w, self.info.channels)
        with self._lock:
            if self._frames is None or self._next is None or not (0 <= start - self._next <= _SEEK_FORWARD_LIMIT):
                self._seek(start)
            out = np.empty((stop - start, *shape), self.info.dtype)
            i = start
            target_pts = self._pts[start]
            while i < stop:
                idx, frame = self._next_frame()
                if idx < 0:
                    if frame.pts is not None and frame.pts < target_pts:
                        continue  # before the clip (after a seek, or before first_frame)
                    if frame.pts is not None and frame.pts > self._pts[-1]:
                        raise DecodeError(f"{self.path!r}: decoded past the clip's end while reading frame {i}")
                    continue
                if idx < i:
                    continue
                if idx > i:  # a frame the decoder dropped: the file is damaged here
                    raise DecodeError(f"{self.path!r}: frame {i} could not be decoded (got frame {idx}); the "
                                      f"file is damaged")
                arr = (frame.to_ndarray(format=self._out_fmt) if size is None else
                       frame.to_ndarray(format=self._out_fmt, width=w, height=h, interpolation="AREA"))
                out[i - start] = to_channels(arr, self.info.channels).reshape(shape)
                i += 1
            self._next = stop
            return out

    def close(self) -> None:
        with self._lock:
            if self._container is not None:
                self._container.close()
            self._container = self._frames = None

    def __del__(self) -> None:
        try:
            if self._container is not None:
                self._container.close()
        except Exception:  # interpreter shutdown: nothing left to release
            pass
