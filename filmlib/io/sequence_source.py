"""``SequenceSource``: a Film over numbered image files (PNG, JPEG, TIFF incl. 16-bit, DPX through FFmpeg)."""
from __future__ import annotations

import glob
import os
import re
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..clip import ClipInfo, Film, make_signature
from ..errors import DecodeError, InputError
from ..frames import convert_depth
from .colour import COLOR_MODES, looks_gray, to_channels
from .limits import check_image_header
from .video_source import snap_rate

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dpx", ".exr", ".bmp")
DEFAULT_SEQUENCE_FPS = Fraction(24)


def _natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def find_sequence(spec: str) -> list[str]:
    """Image files of a sequence given as a folder, a glob (``scan_*.tif``) or a printf pattern (``%06d``)."""
    if os.path.isfile(spec):  # a file is itself first, even when its name holds [ ] % ? *
        files = [spec] if spec.lower().endswith(IMAGE_EXTENSIONS) else []
    elif os.path.isdir(spec):
        files = [os.path.join(spec, f) for f in os.listdir(spec) if f.lower().endswith(IMAGE_EXTENSIONS)]
    elif re.search(r"%0?\d*d", spec):
        regex = re.compile("^" + re.sub(r"%0?(\d*)d", lambda m: r"\d{%s,}" % (m.group(1) or 1),
                                        re.escape(os.path.basename(spec)).replace(r"\%", "%")) + "$")
        folder = os.path.dirname(spec) or "."
        files = [os.path.join(folder, f) for f in os.listdir(folder) if regex.match(f)] if os.path.isdir(folder) else []
    else:
        # the folder part is a name, not a pattern, when it exists as written ("scans [2K]/f_*.tif")
        folder, leaf = os.path.split(spec)
        if folder and os.path.isdir(folder):
            spec = os.path.join(glob.escape(folder), leaf)
        files = [f for f in glob.glob(spec) if f.lower().endswith(IMAGE_EXTENSIONS)]
    files.sort(key=lambda f: _natural_key(os.path.basename(f)))
    return files


def read_image(path: str) -> np.ndarray:
    """One image as ``(H, W, C)`` RGB(A) or gray, uint8 or uint16 (16-bit TIFF/PNG kept 16-bit)."""
    if path.lower().endswith((".dpx", ".exr")):
        return _read_with_ffmpeg(path)
    import cv2
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DecodeError(f"cannot read image {path!r}: not an image OpenCV understands, or damaged")
    if img.dtype not in (np.uint8, np.uint16):
        if img.dtype.kind == "f":
            img = np.clip(img * 65535.0 + 0.5, 0, 65535).astype(np.uint16)
        else:
            raise DecodeError(f"{path!r} has {img.dtype} pixels; only 8- and 16-bit images are supported")
    if img.ndim == 3 and img.shape[2] == 3:
        img = img[..., ::-1]
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[..., [2, 1, 0]]
    return np.ascontiguousarray(img)


def _read_with_ffmpeg(path: str) -> np.ndarray:
    import av
    try:
        with av.open(path) as c:
            frame = next(c.decode(video=0))
            deep = max(comp.bits for comp in frame.format.components) > 8
            gray = frame.format.name.startswith("gray")
            fmt = ("gray16le" if deep else "gray") if gray else ("rgb48le" if deep else "rgb24")
            return frame.to_ndarray(format=fmt)
    except (av.error.FFmpegError, StopIteration) as exc:
        raise DecodeError(f"cannot decode image {path!r} through FFmpeg ({exc})") from exc


class SequenceSource(Film):
    """Frames of an image sequence, one file per frame."""

    label = "sequence"

    def __init__(self, spec: str, first_frame: int = 0, frame_count: int = 0, force_fps: float | Fraction = 0,
                 color: str = "auto"):
        if color not in COLOR_MODES:
            raise InputError(f"color must be one of {COLOR_MODES}, got {color!r}")
        files = find_sequence(spec)
        if not files:
            folder = spec if os.path.isdir(spec) else os.path.dirname(spec) or "."
            where = (f"in {os.path.abspath(folder)!r}" if os.path.isdir(folder) else
                     f"and the folder {os.path.abspath(folder)!r} does not exist")
            raise DecodeError(f"no image files found for {spec!r} (looked for {', '.join(IMAGE_EXTENSIONS)} "
                              f"{where}); give a folder of frames, a glob such as scan_*.tif or a pattern such "
                              f"as frame_%06d.png")
        if first_frame >= len(files):
            raise InputError(f"first_frame {first_frame} is past the end of the sequence ({len(files)} files)")
        files = files[first_frame: len(files) if frame_count == 0 else first_frame + frame_count]
        self.files = files
        check_image_header(files[0])  # a header claiming 40000x40000 is refused before any decoding
        first = read_image(files[0])
        ch_in = 1 if first.ndim == 2 else first.shape[2]
        if color == "auto":
            channels = 1 if ch_in == 1 else (1 if looks_gray(
                [first] + [read_image(files[i]) for i in sorted({len(files) // 2, len(files) - 1}) if i]) else 3)
        else:
            channels = 1 if color == "grayscale" else 3
        stats = [os.stat(f) for f in (files[0], files[-1])]
        fps = snap_rate(force_fps) if force_fps else DEFAULT_SEQUENCE_FPS
        self.info = ClipInfo(width=first.shape[1], height=first.shape[0], channels=channels,
                             bit_depth=16 if first.dtype == np.uint16 else 8, frame_count=len(files), fps=fps,
                             source_name=Path(spec).name)
        self.signature = make_signature("sequence", [os.path.abspath(f) for f in files],
                                        [(s.st_size, s.st_mtime_ns) for s in stats],
                                        sum(os.path.getmtime(f) for f in files), fps, color, channels)
        self.label = Path(spec).name

    def _read(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, *self.info.frame_shape), self.info.dtype)
        for i in range(start, stop):
            img = read_image(self.files[i])
            if img.shape[:2] != (self.info.height, self.info.width):
                raise DecodeError(f"{self.files[i]!r} is {img.shape[1]}x{img.shape[0]}, but the sequence starts "
                                  f"at {self.info.width}x{self.info.height}; all frames must have one size")
            out[i - start] = to_channels(convert_depth(img, self.info.dtype), self.info.channels)
        return out
