"""``VideoSource``: a Film that decodes a video file through PyAV, with a frame index for exact seeking.

Frame ``i`` is the ``i``-th frame the decoder puts out when it plays the file from the start, which is what
ffmpeg shows. Packet timestamps name the frames when they are the decoder's own (checked on the first frames
at open); otherwise (AVI with packed B-frames, raw streams, damaged starts) the file is decoded once at open and
the frames are named by the decoder's timestamps, or counted in order when it has none.
"""
from __future__ import annotations

import bisect
import logging
import os
import threading
from fractions import Fraction
from typing import Any, Iterator

import numpy as np

from ..clip import AudioSource, ClipInfo, Film, make_signature
from ..errors import DecodeError, InputError
from .colour import COLOR_MODES, looks_gray, to_channels
from .video_index import decoded_frames, index_of, open_container, small_rgb, snap_rate

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mxf", ".mpg", ".mpeg", ".ts", ".wmv",
                    ".flv", ".ogv", ".gif")
_SEEK_FORWARD_LIMIT = 48  # decoding this many frames forward is cheaper than a seek
_LATE_WINDOW = 16  # frames that may come out before a late one is given up as lost (broken reordering)

def _pix_fmt_bits(pix_fmt: str) -> int:
    import av
    try:
        fmt = av.VideoFormat(pix_fmt)
        return max(c.bits for c in fmt.components)
    except Exception:
        return 8


_LIMITED = np.clip(np.round((np.arange(256) - 16) * 255.0 / 219.0), 0, 255).astype(np.uint8)
_PLANAR8 = ("yuv420p", "yuv422p", "yuv444p", "yuvj420p", "yuvj422p", "yuvj444p", "gray")


def _plane_luma(frame: Any, size: tuple[int, int] | None) -> np.ndarray | None:
    """8-bit luma straight from the Y plane (PyAV's own gray conversion costs ~0.5 ms a frame); None if not planar."""
    import cv2
    fmt = frame.format.name
    if fmt not in _PLANAR8:
        return None
    plane = frame.planes[0]
    y = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:frame.height, :frame.width]
    if size is not None:
        y = cv2.resize(y, size, interpolation=cv2.INTER_AREA)
    if fmt.startswith("yuv") and "j" not in fmt and int(frame.color_range) != 2:
        y = cv2.LUT(y, _LIMITED)   # MPEG range 16..235 to 0..255, as swscale's gray output
    return np.ascontiguousarray(y)


class VideoSource(Film):
    """Frames of a video file, decoded on demand; sequential reads continue the decoder, others seek."""

    label = "video"

    def __init__(self, path: str | os.PathLike, first_frame: int = 0, frame_count: int = 0,
                 force_fps: float | Fraction = 0, color: str = "auto"):
        path = str(path)
        if not os.path.isfile(path):
            raise DecodeError(f"video file not found: {path!r} (looked at {os.path.abspath(path)!r}); check the "
                              f"name, put the file in the input folder or give its full path")
        if color not in COLOR_MODES:
            raise InputError(f"color must be one of {COLOR_MODES}, got {color!r}")
        if first_frame < 0 or frame_count < 0:
            raise InputError(f"first_frame and frame_count must be >= 0, got {first_frame} and {frame_count}")
        st = os.stat(path)
        self.path = path
        self._index = index_of(os.path.abspath(path), st.st_size, st.st_mtime_ns)
        total = len(self._index.keys)
        if total == 0:
            raise DecodeError(f"{path!r} contains zero video frames; the file is empty or damaged")
        if first_frame >= total:
            raise InputError(f"first_frame {first_frame} is past the end of {path!r}, which has {total} frames")
        stop = total if frame_count == 0 else min(total, first_frame + frame_count)
        self._first, self._count = first_frame, stop - first_frame
        self._lock = threading.Lock()
        self._container: Any = None
        self._stream: Iterator[tuple[int, Any]] | None = None
        self._next = -1  # clip index the open stream yields next; -1: no stream
        self._lost: set[int] = set()  # file indices already reported as lost
        bits = 16 if _pix_fmt_bits(self._index.pix_fmt) > 8 else 8
        channels = self._choose_channels(color)
        self._out_fmt = {(1, 8): "gray", (1, 16): "gray16le", (3, 8): "rgb24", (3, 16): "rgb48le"}[(channels, bits)]
        keys, tb = self._index.keys[first_frame:stop], self._index.time_base
        native_rate = self._index.rate
        t0 = Fraction(keys[0]) * tb if self._index.by else Fraction(first_frame) / native_rate
        timestamps = None
        if force_fps:
            fps = snap_rate(force_fps)
        else:
            fps = native_rate
            if not self._index.is_constant_rate():
                timestamps = tuple(Fraction(p - keys[0]) * tb for p in keys)
        info = ClipInfo(width=self._index.width, height=self._index.height, channels=channels, bit_depth=bits,
                        frame_count=self._count, fps=fps, timestamps=timestamps,
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

    def _choose_channels(self, color: str) -> int:
        if color == "grayscale" or self._index.pix_fmt.startswith("gray"):
            return 1 if color != "color" else 3
        if color == "color":
            return 3
        index = self._index
        lo, hi = self._first, self._first + self._count
        samples = [s for i, s in sorted(index.samples.items()) if lo <= i < hi]
        if not index.scanned or not samples:
            # keyframes spread over the clip: each costs about one decoded frame, not a run from the last keyframe
            keys = [index.position[k] for k in index.keyframes if index.keys[lo] <= k <= index.keys[hi - 1]]
            picks = sorted({keys[int(q * (len(keys) - 1))] for q in (0.0, 0.25, 0.5, 0.75, 1.0)} if keys else {lo})
            picks = [i for i in picks if i not in index.samples][: 1 if index.by is None else None]
            with self._lock:
                for i in picks:
                    samples.append(small_rgb(self._frame_at(i)))
                self._close_stream()
        return 1 if looks_gray(samples) else 3

    def _frame_at(self, file_index: int) -> Any:
        self._stream = self._frames_from(file_index)
        return next(self._stream)[1]

    # -- decoding ------------------------------------------------------------------------------------------

    def _restart(self, file_index: int, back: int) -> tuple[Iterator[tuple[int | None, Any]], int]:
        """A fresh decode: seeking ``back`` keyframes before the one at or before ``file_index``, or from the
        start of the file. Returns (frames, file index of the keyframe sought, or -1 from the start)."""
        index = self._index
        kpos = bisect.bisect_right(index.keyframes, index.keys[file_index]) - 1 - back if index.by else -1
        if kpos <= 0 or self._container is None:
            if self._container is not None:
                self._container.close()
            self._container = open_container(self.path)
        if kpos > 0:
            vs = self._container.streams.video[0]
            self._container.seek(index.keyframes[kpos], stream=vs, backward=True, any_frame=False)
        frames = self._numbered(decoded_frames(self._container, self.path))
        return frames, index.position[index.keyframes[kpos]] if kpos > 0 else -1

    def _numbered(self, frames: Iterator[Any]) -> Iterator[tuple[int | None, Any]]:
        """``(file index or None when the index does not list it, frame)`` for decoded frames."""
        index = self._index
        by, position, step = index.by, index.position, index.step
        last = None
        for n, frame in enumerate(frames):
            key = n if by is None else frame.pts if by == "pts" else frame.dts
            if key is None and last is not None:
                key = last + step  # flushed at the end without a dts
            last = key
            yield position.get(key), frame

    def _frames_from(self, start: int) -> Iterator[tuple[int, Any]]:
        """``(file index, frame)`` for every frame from ``start`` to the file's end, in order. A frame the decoder
        cannot produce is stood in for by the last one before it (the next one at the very start)."""
        back = 0
        while True:
            frames, landing = self._restart(start, back)
            prev: Any = None
            concealed = False
            pending: dict[int, Any] = {}
            for i, frame in frames:
                if i is None:
                    continue  # a frame the index does not list (a leading frame after a seek)
                concealed = concealed or (i >= landing and getattr(frame, "is_corrupt", False))
                if i < start:
                    prev = frame
                    continue
                pending[i] = frame
                break
            if landing < 0 or (not concealed and (prev is not None or (pending and min(pending) == start))):
                # landed on or before the wanted frame, on a keyframe decoded whole (a damaged one is concealed
                # from earlier frames when played through, so it is reached from further back), or at the start
                break
            back = max(1, 2 * back)
        if not pending and prev is None:
            raise DecodeError(f"no frame of {self.path!r} from frame {start} on could be decoded; the file is "
                              f"damaged (play it with ffmpeg to see where)")
        want, waited = start, 0
        for i, frame in frames:
            if i is None or i < want:
                continue
            pending[i] = frame
            waited += 1
            while pending:
                if want in pending:
                    prev, waited = pending.pop(want), 0
                elif waited > _LATE_WINDOW:  # everything before the earliest waiting frame is lost
                    prev = self._stand_in(want, prev, pending)
                else:
                    break
                yield want, prev
                want += 1
        while want < len(self._index.keys):
            prev = pending.pop(want) if want in pending else self._stand_in(want, prev, pending)
            yield want, prev
            want += 1

    def _stand_in(self, lost: int, prev: Any, pending: dict[int, Any]) -> Any:
        if lost not in self._lost:
            self._lost.add(lost)
            who = f"frame {lost - 1} stands in" if prev is not None else "the next frame stands in"
            log.warning("%s: frame %d (%.3f s) could not be decoded; %s, as ffmpeg does", self.path,
                        lost - self._first, float(Fraction(lost) / self._index.rate), who)
        return prev if prev is not None else pending[min(pending)]

    def _close_stream(self) -> None:
        self._stream, self._next = None, -1

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

    def read_luma_scaled(self, start: int, stop: int, width: int) -> np.ndarray:
        if self.info.bit_depth != 8:
            return super().read_luma_scaled(start, stop, width)
        size = self.scaled_size(width)
        return self._decode(start, stop, None if size == (self.info.width, self.info.height) else size, luma=True)

    def _decode(self, start: int, stop: int, size: tuple[int, int] | None, luma: bool = False) -> np.ndarray:
        w, h = size or (self.info.width, self.info.height)
        shape = (h, w, 1 if luma else self.info.channels)
        with self._lock:
            if self._stream is None or not (0 <= start - self._next <= _SEEK_FORWARD_LIMIT):
                self._stream = self._frames_from(self._first + start)
                self._next = start
            out = np.empty((stop - start, *shape), self.info.dtype)
            try:
                while self._next < stop:
                    i, frame = next(self._stream)
                    i -= self._first
                    self._next = i + 1
                    if i < start:
                        continue
                    arr = _plane_luma(frame, size) if self._out_fmt == "gray" or luma else None
                    if arr is None and luma:
                        arr = frame.to_ndarray(format="gray", width=w, height=h, interpolation="AREA")
                    if arr is None:
                        arr = (frame.to_ndarray(format=self._out_fmt) if size is None else
                               frame.to_ndarray(format=self._out_fmt, width=w, height=h, interpolation="AREA"))
                    out[i - start] = (arr if luma else to_channels(arr, self.info.channels)).reshape(shape)
            except DecodeError:
                self._close_stream()
                raise
            except Exception as exc:
                self._close_stream()
                raise DecodeError(f"decoding {self.path!r} failed at frame {self._next} ({exc}); the file is "
                                  f"damaged") from exc
            return out

    def close(self) -> None:
        with self._lock:
            if self._container is not None:
                self._container.close()
            self._container = None
            self._close_stream()

    def __del__(self) -> None:
        try:
            if self._container is not None:
                self._container.close()
        except Exception:  # interpreter shutdown: nothing left to release
            pass
