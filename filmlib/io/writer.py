"""Writing a Film: video files through PyAV and image sequences through OpenCV, atomically, chunk by chunk.

Nothing is written at the final path until the whole output is complete: video goes to a hidden temporary
file and sequences to a hidden temporary folder, put into place at the end, deleted on any error (and, after a
``kill -9``, by the next save into that folder). The final name is taken without replacing anything (a hard link,
or an exclusive ``mkdir`` for sequences), so two runs with the same prefix never share a number. ``overwrite``
replaces a file, or a sequence folder that holds only our own frames, never anything else.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import queue
import secrets
import struct
import threading
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np

from ..clip import Film
from ..errors import EncodeError, InputError
from ..frames import convert_depth
from .audio import AudioPump
from .limits import check_encodable
from .provenance import sidecar_path, write_sidecar
from .output_path import (OutputTarget, check_overwrite, clean_leftovers, make_folder, place_output, remove_empty,
                          remove_ours, writing)

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
    frames_sha256: str = ""   # of the frames as handed to the encoder (shape, dtype, pixels)
    stream_sha256: str = ""   # of the encoded video packets, or of the frame files of a sequence, in order
    sidecar: Path | None = None


# Container options. movflags=use_metadata_tags is how ComfyUI's SaveVideo stores its "prompt" and "workflow"
# (udta/meta keys + ilst, the boxes the front end's isobmff.ts parses); faststart puts that moov box first, since
# the front end reads only the first 64 MiB of a dropped file. Matroska writes a random segment UID unless
# bitexact: without it the same job never gives the same bytes twice.
CONTAINER_OPTIONS = {"mp4": {"movflags": "use_metadata_tags+faststart"},
                     "mov": {"movflags": "use_metadata_tags+faststart"},
                     "mkv": {"fflags": "+bitexact"}}


def format_for(key: str) -> Format:
    if key not in FORMATS:
        raise InputError(f"unknown output format {key!r}; choose one of {sorted(FORMATS)}")
    return FORMATS[key]


CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "mkv"}
CONTAINER_CODECS = {"mp4": {"libx264", "libx265"}, "mov": {"libx264", "libx265", "prores_ks"},
                    "mkv": {"libx264", "libx265", "prores_ks", "ffv1"}}


def formats_fitting(ext: str) -> list[str]:
    """The output formats a file named ``*.ext`` can hold (``.mkv``: every video format)."""
    container = CONTAINERS.get(ext.lower())
    return [f.key for f in FORMATS.values() if container and f.codec in CONTAINER_CODECS[container]]


def output_target(target: str | os.PathLike, fmt: Format) -> OutputTarget:
    """Read ``target``: a file name whose extension (.mp4, .mov, .mkv) picks the container, a sequence folder
    name ending in ``/``, or a prefix that gets a number. A container that cannot hold ``fmt`` is an error."""
    text, path = os.fspath(target), Path(target)
    ext = path.suffix.lower()
    fits = ", ".join(formats_fitting(ext))
    if fmt.kind == "sequence":
        if ext in CONTAINERS:
            raise EncodeError(f"{fmt.key} saves a folder of {fmt.ext} frames, not a {ext} file ({text!r}); "
                              f"formats a {ext} file holds: {fits}; or name a folder without an extension")
        return OutputTarget(path, "", "sequence", text.endswith(("/", os.sep)))
    if ext in CONTAINERS:
        container = CONTAINERS[ext]
        if fmt.codec not in CONTAINER_CODECS[container]:
            raise EncodeError(f"a {ext} file cannot hold {fmt.key} ({text!r}); formats that fit {ext}: {fits}; "
                              f"or use another extension (.mkv holds every video format)")
        return OutputTarget(path.with_suffix(""), path.suffix, container, True)
    return OutputTarget(path, fmt.ext, fmt.kind, False)


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


def video_pix_fmt(codec: str, channels: int, bit_depth: int) -> str:
    """The pixel format we encode ``codec`` in, for frames of ``channels`` (1 or 3) at ``bit_depth`` (8 or 16)."""
    if codec == "libx264":
        return "yuv420p"
    if codec == "libx265":
        return "yuv420p10le" if bit_depth == 16 else "yuv420p"
    if codec == "ffv1":
        return {(1, 8): "gray", (1, 16): "gray16le", (3, 8): "bgr0", (3, 16): "gbrp16le"}[(channels, bit_depth)]
    return "yuv422p10le"  # ProRes 422 HQ


def _open_video_stream(container: Any, kind: str, film: Film, fmt: Format, crf: int) -> Any:
    info = film.info
    tb = _time_base(film)
    stream = container.add_stream(fmt.codec, rate=info.fps)
    stream.width, stream.height = info.width, info.height
    stream.time_base = tb
    stream.codec_context.time_base = tb
    stream.codec_context.thread_count = 0  # let the encoder use every core, as the ffmpeg CLI does
    stream.pix_fmt = video_pix_fmt(fmt.codec, info.channels, info.bit_depth)
    if fmt.codec == "libx264":
        stream.options = {"crf": str(crf), "preset": "medium"}
    elif fmt.codec == "libx265":
        stream.options = {"crf": str(crf), "preset": "medium", "x265-params": "log-level=error"}
        if kind in ("mp4", "mov"):
            stream.codec_tag = "hvc1"  # what Apple players need to recognise HEVC
    elif fmt.codec == "prores_ks":
        stream.options = {"profile": "3", "vendor": "apl0"}
    elif fmt.codec == "ffv1":
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


def _frame_digest(film: Film) -> Any:
    info = film.info
    return hashlib.sha256(f"{info.width}x{info.height}x{info.channels}:{info.dtype}\n".encode())


def _write_video(film: Film, fmt: Format, kind: str, tmp: Path, where: str, crf: int, progress: Progress | None,
                 metadata: dict[str, str] | None) -> tuple[str, str, str]:
    """Encode ``film`` into ``tmp``; returns (audio mode, frames sha256, video packets sha256)."""
    import av
    info = film.info
    frames_hash, packets_hash = _frame_digest(film), hashlib.sha256()
    with writing(where):
        container = av.open(str(tmp), mode="w", format={"mkv": "matroska"}.get(kind, kind),
                            options=CONTAINER_OPTIONS.get(kind, {}))
    pump = None
    audio_mode = "none"
    finished = False
    try:
        for k, v in (metadata or {}).items():
            container.metadata[k] = v
        stream = _open_video_stream(container, kind, film, fmt, crf)
        if info.audio is not None:
            pump = AudioPump(info.audio, container, kind)
            audio_mode = "copied" if pump.copy else "re-encoded"
        tb = stream.codec_context.time_base
        done = 0
        for first, frames in prefetched_chunks(film):
            with writing(where):
                for j, arr in enumerate(frames):
                    frames_hash.update(np.ascontiguousarray(arr).data)
                    frame = _to_av_frame(arr)
                    frame.pts = int(round(info.time_of(first + j) / tb))
                    frame.time_base = tb
                    for packet in stream.encode(frame):
                        packets_hash.update(bytes(packet))
                        container.mux(packet)
                done = first + len(frames)
                if pump is not None:
                    pump.until(info.time_of(done - 1))
            if progress is not None:
                progress(done, info.frame_count, frames[-1])
        with writing(where):
            for packet in stream.encode(None):
                packets_hash.update(bytes(packet))
                container.mux(packet)
            if pump is not None:
                pump.until(None)
        finished = True
    finally:
        if pump is not None:
            pump.close()
        if finished:
            with writing(where):
                container.close()
        else:
            try:
                container.close()
            except OSError as exc:  # the write already failed (or was interrupted): keep that error, not this one
                log.debug("closing the failed output %s: %s", tmp, exc)
    return audio_mode, frames_hash.hexdigest(), packets_hash.hexdigest()


def write_frame_file(path: Path, data: bytes) -> None:
    """Write one encoded frame file (a seam: tests replace it to simulate a full disk)."""
    with open(path, "wb") as f:
        f.write(data)


def png_text_chunks(data: bytes, text: dict[str, str]) -> bytes:
    """PNG ``data`` with a tEXt chunk per ``text`` item after its header, as ComfyUI's SaveImage stores "prompt"
    and "workflow" (the front end's png.ts reads them). Values must be Latin-1 (``json.dumps`` gives ASCII)."""
    chunks = b""
    for key, value in text.items():
        body = b"tEXt" + key.encode("latin-1") + b"\0" + value.encode("latin-1")
        chunks += struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    end_of_header = 8 + 8 + struct.unpack(">I", data[8:12])[0] + 4   # signature, then IHDR: length, type, crc
    return data[:end_of_header] + chunks + data[end_of_header:]


def _write_sequence(film: Film, fmt: Format, tmp: Path, where: str, progress: Progress | None,
                    metadata: dict[str, str] | None = None) -> tuple[str, str]:
    """Write ``film`` as frame files in the new folder ``tmp``; the first PNG carries ``metadata`` as text
    chunks (one copy: a reel has many thousand frames). Returns (frames sha256, files sha256)."""
    import cv2
    with writing(where):
        tmp.mkdir()
    digits = max(6, len(str(film.info.frame_count)))
    frames_hash, files_hash = _frame_digest(film), hashlib.sha256()
    for first, frames in prefetched_chunks(film):
        for j, arr in enumerate(frames):
            if fmt.codec == "tiff":
                arr = convert_depth(arr, np.uint16)
            frames_hash.update(np.ascontiguousarray(arr).data)
            img = arr[..., 0] if arr.shape[-1] == 1 else arr[..., ::-1]
            name = tmp / f"frame_{first + j:0{digits}d}{fmt.ext}"
            ok, data = cv2.imencode(fmt.ext, np.ascontiguousarray(img))
            if not ok:
                raise EncodeError(f"OpenCV could not encode frame {first + j} as {fmt.ext} ({img.shape}, "
                                  f"{img.dtype})")
            encoded = data.tobytes()
            if first + j == 0 and metadata and fmt.codec == "png":
                encoded = png_text_chunks(encoded, metadata)
            files_hash.update(encoded)
            with writing(where):
                write_frame_file(name, encoded)
        if progress is not None:
            progress(first + len(frames), film.info.frame_count, frames[-1])
    return frames_hash.hexdigest(), files_hash.hexdigest()


def save_film(film: Film, target: str | os.PathLike, format: str = "h264-mp4", crf: int = 18,
              overwrite: bool = False, progress: Progress | None = None,
              metadata: dict[str, str] | None = None,
              sidecar: Callable[[Path, SaveResult], dict[str, Any]] | None = None) -> SaveResult:
    """Encode ``film`` to ``target`` and return what was written.

    ``target``: a file name (``out.mkv``: exactly that file, its extension picks the container), a sequence folder
    name ending in ``/``, or a prefix that gets the next free number (``clip`` -> ``clip_00001.mp4``). A taken
    name gets a number unless ``overwrite``, which replaces only a file or a folder of our own frames.
    ``metadata`` (str -> str): container tags (the first PNG's text chunks). ``sidecar(path, result)``: the record
    written as the output's provenance sidecar once the output is in place (a number whose sidecar name is taken
    is skipped); if it cannot be written the output is removed again.
    """
    fmt = format_for(format)
    check_writable(film, fmt)
    check_encodable(film.info, fmt)  # a frame size the encoder refuses, before any work
    if not 0 <= crf <= 51:
        raise InputError(f"crf must be between 0 and 51, got {crf}")
    t = output_target(target, fmt)
    check_overwrite(t, overwrite)
    side = sidecar_path(t.path)
    if sidecar is not None and overwrite and t.exact and os.path.lexists(side) and not os.path.isfile(side):
        raise EncodeError(f"will not overwrite {side}: it is not a file; move it away or choose another name")
    folder = t.stem.parent
    created = make_folder(folder)
    clean_leftovers(folder)
    where = os.fspath(target)
    tmp = folder / f".{t.stem.name}.partial-{os.getpid()}-{secrets.token_hex(4)}{t.suffix}"
    audio = "none"
    try:
        if fmt.kind == "sequence":
            if film.info.audio is not None:
                log.warning("image sequences carry no audio: the source audio of %s is not saved",
                            film.info.source_name)
            frames_sha, stream_sha = _write_sequence(film, fmt, tmp, where, progress, metadata)
        else:
            audio, frames_sha, stream_sha = _write_video(film, fmt, t.container, tmp, where, crf, progress, metadata)
        with writing(where):
            path = place_output(tmp, t, overwrite)
            while sidecar is not None and os.path.lexists(sidecar_path(path)) and not (overwrite and path == t.path):
                path = place_output(path, t, False)   # a sidecar left without its output: keep it, take the next
    except BaseException:
        try:
            remove_ours(tmp) if os.path.lexists(tmp) else None
        except OSError as exc:
            log.warning("could not remove the partial output %s: %s", tmp, exc)
        remove_empty(created)
        raise
    result = SaveResult(path=path, frames=film.info.frame_count, format=fmt.key, audio=audio,
                        frames_sha256=frames_sha, stream_sha256=stream_sha)
    if sidecar is None:
        return result
    try:
        written = write_sidecar(path, sidecar(path, result), overwrite and path == t.path)
    except BaseException:
        remove_ours(path)   # an output without its record would be one nobody can reproduce
        raise
    return dataclasses.replace(result, sidecar=written)
