"""Writing a Film: video files through PyAV and image sequences through OpenCV, atomically, chunk by chunk.

Nothing is written at the final path until the whole output is complete: video goes to a hidden temporary
file and sequences to a hidden temporary folder, renamed into place at the end, deleted on any error. An
existing output is never replaced unless ``overwrite`` is set; by default a new numbered name is chosen.
"""
from __future__ import annotations

import logging
import math
import os
import queue
import re
import shutil
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np

from ..clip import Film
from ..errors import EncodeError, InputError
from ..frames import convert_depth
from .audio import AudioPump

log = logging.getLogger(__name__)

Progress = Callable[[int, int, Optional[np.ndarray]], None]


@dataclass(frozen=True)
class Format:
    """One output format: container (or sequence), codec and what it needs."""

    key: str
    kind: str            # container name for PyAV, or "sequence"
    ext: str
    codec: str
    even_size: bool      # chroma-subsampled formats need even width/height
    description: str


FORMATS: dict[str, Format] = {f.key: f for f in (
    Format("h264-mp4", "mp4", ".mp4", "libx264", True, "H.264 in MP4 (crf): plays everywhere"),
    Format("h265-mp4", "mp4", ".mp4", "libx265", True, "H.265 in MP4 (crf): smaller files, 10-bit for 16-bit input"),
    Format("prores_hq-mov", "mov", ".mov", "prores_ks", True, "ProRes 422 HQ 10-bit in MOV: editing"),
    Format("ffv1-mkv", "mkv", ".mkv", "ffv1", False, "FFV1 lossless in MKV, 8/16-bit gray or RGB: archival"),
    Format("png-sequence", "sequence", ".png", "png", False, "PNG files, 8 or 16-bit"),
    Format("tiff16-sequence", "sequence", ".tif", "tiff", False, "16-bit TIFF files: archival masters"),
)}
EXTENSION_FORMAT = {".mp4": "h264-mp4", ".m4v": "h264-mp4", ".mov": "prores_hq-mov", ".mkv": "ffv1-mkv",
                    ".png": "png-sequence", ".tif": "tiff16-sequence", ".tiff": "tiff16-sequence"}


@dataclass(frozen=True)
class SaveResult:
    path: Path
    frames: int
    format: str
    audio: str  # "copied", "re-encoded" or "none"


def format_for(key: str) -> Format:
    if key not in FORMATS:
        raise InputError(f"unknown output format {key!r}; choose one of {sorted(FORMATS)}")
    return FORMATS[key]


def resolve_output(target: str | os.PathLike, fmt: Format, overwrite: bool) -> Path:
    """The final output path: ``target`` itself when it names a file (``x.mp4``), else ``target_00001.mp4``;
    an existing path gets the next free number unless ``overwrite``."""
    exact_folder = fmt.kind == "sequence" and str(target).endswith(("/", os.sep))
    target = Path(target)
    if exact_folder or (fmt.kind != "sequence" and target.suffix.lower() == fmt.ext):
        path = target
        if not path.exists() or overwrite:
            return path
        stem, suffix = path.with_suffix(""), path.suffix
    else:
        stem, suffix = target, ("" if fmt.kind == "sequence" else fmt.ext)
    folder = stem.parent
    pattern = re.compile(re.escape(stem.name) + r"_(\d{5,})" + re.escape(suffix) + "$")
    existing = [int(m.group(1)) for p in (folder.iterdir() if folder.is_dir() else [])
                if (m := pattern.match(p.name))]
    counter = max(existing, default=0) + 1
    return folder / f"{stem.name}_{counter:05d}{suffix}"


def check_writable(film: Film, fmt: Format) -> None:
    """Raise before anything is written when ``film`` cannot be stored in ``fmt``."""
    info = film.info
    if info.frame_count == 0:
        raise EncodeError("the clip has zero frames; nothing to save")
    if fmt.even_size and (info.width % 2 or info.height % 2):
        raise EncodeError(f"{fmt.key} needs an even width and height (4:2:0/4:2:2 chroma), but the clip is "
                          f"{info.width}x{info.height}; choose ffv1-mkv, png-sequence or tiff16-sequence, or "
                          f"crop/scale to an even size first")


def _time_base(film: Film) -> Fraction:
    info = film.info
    if info.timestamps is None:
        return 1 / info.fps
    den = 1
    for t in info.timestamps:
        den = den * t.denominator // math.gcd(den, t.denominator)
        if den > 1_000_000:
            return Fraction(1, 90000)
    return Fraction(1, den)


def _open_video_stream(container: Any, film: Film, fmt: Format, crf: int) -> Any:
    info = film.info
    tb = _time_base(film)
    stream = container.add_stream(fmt.codec, rate=info.fps)
    stream.width, stream.height = info.width, info.height
    stream.time_base = tb
    stream.codec_context.time_base = tb
    stream.codec_context.thread_count = 0  # let the encoder use every core, as the ffmpeg CLI does
    if fmt.codec == "libx264":
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
    elif fmt.codec == "libx265":
        stream.pix_fmt = "yuv420p10le" if info.bit_depth == 16 else "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium", "x265-params": "log-level=error"}
        stream.codec_tag = "hvc1"
    elif fmt.codec == "prores_ks":
        stream.pix_fmt = "yuv422p10le"
        stream.options = {"profile": "3", "vendor": "apl0"}
    elif fmt.codec == "ffv1":
        stream.pix_fmt = {(1, 8): "gray", (1, 16): "gray16le", (3, 8): "bgr0", (3, 16): "gbrp16le"}[
            (info.channels, info.bit_depth)]
        stream.options = {"level": "3", "slicecrc": "1", "g": "1"}
    return stream


def _to_av_frame(arr: np.ndarray) -> Any:
    import av
    deep = arr.dtype == np.uint16
    if arr.shape[-1] == 1:
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(arr[..., 0]), format="gray16le" if deep else "gray")
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb48le" if deep else "rgb24")


def prefetched_chunks(film: Film, depth: int = 2) -> Iterator[tuple[int, np.ndarray]]:
    """``film.chunks()`` computed one or two chunks ahead in a worker thread, so decoding and the stages run
    while the encoder works (both release the GIL); memory stays bounded by ``depth`` chunks."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in film.chunks():
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            q.put(exc)

    worker = threading.Thread(target=produce, name="film-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                q.get(timeout=0.1)
            except queue.Empty:
                pass
        worker.join()


def _write_video(film: Film, fmt: Format, tmp: Path, crf: int, progress: Progress | None,
                 metadata: dict[str, str] | None) -> str:
    import av
    info = film.info
    container = av.open(str(tmp), mode="w", format={"mkv": "matroska"}.get(fmt.kind, fmt.kind))
    pump = None
    audio_mode = "none"
    try:
        for k, v in (metadata or {}).items():
            container.metadata[k] = v
        stream = _open_video_stream(container, film, fmt, crf)
        if info.audio is not None:
            pump = AudioPump(info.audio, container, fmt.kind)
            audio_mode = "copied" if pump.copy else "re-encoded"
        tb = stream.codec_context.time_base
        done = 0
        for first, frames in prefetched_chunks(film):
            for j, arr in enumerate(frames):
                frame = _to_av_frame(arr)
                frame.pts = int(round(info.time_of(first + j) / tb))
                frame.time_base = tb
                for packet in stream.encode(frame):
                    container.mux(packet)
            done = first + len(frames)
            if pump is not None:
                pump.until(info.time_of(done - 1))
            if progress is not None:
                progress(done, info.frame_count, frames[-1])
        for packet in stream.encode(None):
            container.mux(packet)
        if pump is not None:
            pump.until(None)
    finally:
        if pump is not None:
            pump.close()
        container.close()
    return audio_mode


def _write_sequence(film: Film, fmt: Format, tmp: Path, progress: Progress | None) -> None:
    import cv2
    tmp.mkdir(parents=True)
    digits = max(6, len(str(film.info.frame_count)))
    for first, frames in prefetched_chunks(film):
        for j, arr in enumerate(frames):
            if fmt.codec == "tiff":
                arr = convert_depth(arr, np.uint16)
            img = arr[..., 0] if arr.shape[-1] == 1 else arr[..., ::-1]
            name = tmp / f"frame_{first + j:0{digits}d}{fmt.ext}"
            if not cv2.imwrite(str(name), np.ascontiguousarray(img)):
                raise EncodeError(f"OpenCV could not write {name}")
        if progress is not None:
            progress(first + len(frames), film.info.frame_count, frames[-1])


def save_film(film: Film, target: str | os.PathLike, format: str = "h264-mp4", crf: int = 18,
              overwrite: bool = False, progress: Progress | None = None,
              metadata: dict[str, str] | None = None) -> SaveResult:
    """Encode ``film`` to ``target`` (a file name, or a prefix that gets a number) and return what was written."""
    fmt = format_for(format)
    check_writable(film, fmt)
    if not 0 <= crf <= 51:
        raise InputError(f"crf must be between 0 and 51, got {crf}")
    path = resolve_output(target, fmt, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}{fmt.ext if fmt.kind != 'sequence' else ''}")
    audio = "none"
    try:
        if fmt.kind == "sequence":
            if film.info.audio is not None:
                log.warning("image sequences carry no audio: the source audio of %s is not saved",
                            film.info.source_name)
            _write_sequence(film, fmt, tmp, progress)
        else:
            audio = _write_video(film, fmt, tmp, crf, progress, metadata)
        if path.exists() and overwrite:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise
    return SaveResult(path=path, frames=film.info.frame_count, format=fmt.key, audio=audio)
