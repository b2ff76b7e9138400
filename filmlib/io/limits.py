"""Size limits checked before any work starts: free memory, what an encoder can open, what an image header
claims. Each refusal gives the size, the memory it would take and what to do instead."""
from __future__ import annotations

import io
import os
import struct
import sys
from typing import Any

from ..errors import DecodeError, EncodeError, InputError

# PyAV stream settings of filmlib.io.writer, per (codec, channels, bit depth): the probe opens exactly these
_CONTAINER = {"mp4": "mp4", "mov": "mov", "mkv": "matroska"}
# every encoder we use opens at this size, so smaller frames skip the (sub-second) probe
_ALWAYS_OPENS = 4096
# OpenCV's default OPENCV_IO_MAX_IMAGE_PIXELS: imread returns nothing for larger images
_OPENCV_MAX_PIXELS = 1 << 30


def human_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def available_memory() -> int | None:
    """Bytes of RAM free for a new allocation (Linux MemAvailable, else sysconf/Windows), None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    if sys.platform == "win32":
        try:
            import ctypes

            class _Status(ctypes.Structure):
                _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
                            ("ullTotalPhys", ctypes.c_ulonglong), ("ullAvailPhys", ctypes.c_ulonglong),
                            ("ullTotalPageFile", ctypes.c_ulonglong), ("ullAvailPageFile", ctypes.c_ulonglong),
                            ("ullTotalVirtual", ctypes.c_ulonglong), ("ullAvailVirtual", ctypes.c_ulonglong),
                            ("ullAvailExtendedVirtual", ctypes.c_ulonglong)]
            st = _Status()
            st.dwLength = ctypes.sizeof(_Status)
            ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(st))  # type: ignore[attr-defined]
            return int(st.ullAvailPhys)
        except (OSError, AttributeError):
            return None
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(need: int, what: str, todo: str, error: type[Exception] = InputError) -> None:
    """Raise ``error`` naming ``what``, ``need`` and the budget when ``need`` bytes do not fit in memory."""
    budget = available_memory()
    if budget is not None and need > budget:
        raise error(f"{what} needs about {human_bytes(need)} of memory, but only {human_bytes(budget)} is "
                    f"available; {todo}")


def _open_encoder(codec: str, container: str, pix_fmt: str, width: int, height: int) -> str | None:
    """None if FFmpeg's ``codec`` opens at ``width`` x ``height``, else its error text."""
    import av
    with av.open(io.BytesIO(), mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.codec_context.thread_count = 1
        if codec == "libx265":
            stream.options = {"x265-params": "log-level=none"}
        try:
            stream.codec_context.open()
        except (av.error.FFmpegError, ValueError) as exc:
            return str(exc)
    return None


def _largest_opening(codec: str, container: str, pix_fmt: str, width: int, height: int) -> tuple[int, int]:
    """The largest even size of the same aspect that ``codec`` opens (bisection on the scale)."""
    lo, hi = 0.0, 1.0
    for _ in range(7):
        mid = (lo + hi) / 2
        w, h = max(2, int(width * mid) // 2 * 2), max(2, int(height * mid) // 2 * 2)
        if _open_encoder(codec, container, pix_fmt, w, h) is None:
            lo = mid
        else:
            hi = mid
    return max(2, int(width * lo) // 2 * 2), max(2, int(height * lo) // 2 * 2)


def check_encodable(info: Any, fmt: Any) -> None:
    """Raise :class:`EncodeError` before anything is written when frames of ``info`` (a ClipInfo) cannot be
    stored in ``fmt`` (a writer Format): the encoder does not open at that size, or a frame does not fit in
    memory. Sizes up to 4096 px are accepted without probing."""
    w, h, c = info.width, info.height, info.channels
    sample = 2 if info.bit_depth == 16 else 1
    frame = w * h * c * sample
    others = "tiff16-sequence or png-sequence" if fmt.kind != "sequence" else "a smaller size"
    # a sequence frame is converted once (RGB->BGR, depth); an encoder holds a few frames of look-ahead
    copies = 3 if fmt.kind == "sequence" else 8
    check_memory(frame * copies, f"saving {w}x{h} frames as {fmt.key} ({human_bytes(frame)} per frame)",
                 f"scale the clip down first, or save as {others}", EncodeError)
    if fmt.kind == "sequence" or max(w, h) <= _ALWAYS_OPENS:
        return
    from .writer import video_pix_fmt  # writer imports this module
    pix = video_pix_fmt(fmt.codec, c, info.bit_depth)
    container = _CONTAINER.get(fmt.kind, fmt.kind)
    error = _open_encoder(fmt.codec, container, pix, w, h)
    if error is None:
        return
    bw, bh = _largest_opening(fmt.codec, container, pix, w, h)
    raise EncodeError(f"{fmt.key} cannot encode {w}x{h} frames ({human_bytes(frame)} each): FFmpeg's "
                      f"{fmt.codec} encoder does not open at that size ({error}); the largest size of this "
                      f"shape it opens is about {bw}x{bh}. Scale down to that (FilmUpscale target_height "
                      f"{bh}, or a smaller factor), or save as {others}")


def image_header_size(path: str) -> tuple[int, int] | None:
    """(width, height) an image file's header claims, without decoding it; None if unknown."""
    with open(path, "rb") as f:
        head = f.read(32)
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    try:
        from PIL import Image
    except ImportError:
        return None
    try:
        with Image.open(path) as img:  # lazy: reads the header only
            return img.size
    except Image.DecompressionBombError:
        return None  # over PIL's own limit; OpenCV decides below on its own limit
    except (OSError, ValueError, SyntaxError):
        return None


def check_image_header(path: str, channels: int = 4, sample_bytes: int = 2) -> None:
    """Raise :class:`DecodeError` before decoding when ``path``'s header claims a frame too large to decode:
    over OpenCV's pixel limit, or more than the free memory (counted at ``channels`` x ``sample_bytes``)."""
    size = image_header_size(path)
    if size is None:
        return
    w, h = size
    name = os.path.basename(path)
    need = w * h * channels * sample_bytes
    todo = ("scale the scans down or cut them into tiles before loading (e.g. with ImageMagick: "
            "magick in.png -resize 50% out.png), or save them as a video format FFmpeg reads")
    if w * h > _OPENCV_MAX_PIXELS:
        raise DecodeError(f"{name!r} claims to be {w}x{h} ({w * h / 1e6:.0f} megapixels, about "
                          f"{human_bytes(need)} decoded): more than OpenCV reads ({_OPENCV_MAX_PIXELS / 1e6:.0f} "
                          f"megapixels), or a damaged header; {todo}")
    check_memory(need, f"decoding {name!r} ({w}x{h})", todo, DecodeError)
