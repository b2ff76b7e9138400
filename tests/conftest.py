"""Shared fixtures: an isolated cache and output folder per test, and small synthetic clips."""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("FILMRESTORE_QUIET", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Each test gets its own cache, input and output folders."""
    from filmrestore.filmlib.cache import configure_cache
    monkeypatch.setenv("FILMRESTORE_INPUT", str(tmp_path / "input"))
    monkeypatch.setenv("FILMRESTORE_OUTPUT", str(tmp_path / "output"))
    (tmp_path / "input").mkdir()
    cache = configure_cache(tmp_path / "cache", "256M", "2G")
    yield cache


def moving_frames(n: int = 24, h: int = 48, w: int = 64, channels: int = 3, dtype=np.uint8, seed: int = 0
                  ) -> np.ndarray:
    """A smooth, textured, moving pattern: compresses well, so lossy round trips stay close."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 6.28, 3)
    frames = []
    for i in range(n):
        planes = [0.5 + 0.4 * np.sin(xx / (7 + c) + i * 0.3 + phase[c]) * np.cos(yy / (9 + c) - i * 0.2)
                  for c in range(channels)]
        frames.append(np.stack(planes, -1))
    arr = np.clip(np.stack(frames), 0, 1)
    maxv = 65535 if dtype == np.uint16 else 255
    return (arr * maxv + 0.5).astype(dtype)


def write_video(path: Path, frames: np.ndarray, fps: Fraction = Fraction(24), codec: str = "libx264",
                audio_seconds: float | None = None, pts: list[int] | None = None, time_base: Fraction | None = None,
                audio_codec: str = "aac") -> Path:
    """Encode frames (and optionally a sine tone) with PyAV; ``pts``/``time_base`` make variable-rate files."""
    import av
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height = frames.shape[2], frames.shape[1]
        s.pix_fmt = "yuv420p" if codec in ("libx264", "mpeg4") else ("gray" if codec == "ffv1" else "yuv420p")
        if time_base is not None:
            s.time_base = time_base
            s.codec_context.time_base = time_base
        a = None
        if audio_seconds:
            a = c.add_stream(audio_codec, rate=48000, layout="stereo")
        for i, f in enumerate(frames):
            if f.shape[-1] == 1:
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[..., 0]), format="gray")
            else:
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            if pts is not None:
                vf.pts = pts[i]
                vf.time_base = time_base
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
        if a is not None:
            n = int(audio_seconds * 48000)
            t = np.arange(n) / 48000
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            data = np.stack([tone, tone])
            step = 1024
            for k in range(0, n, step):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(data[:, k:k + step]), format="fltp",
                                                layout="stereo")
                af.sample_rate = 48000
                af.pts = k
                for p in a.encode(af):
                    c.mux(p)
            for p in a.encode(None):
                c.mux(p)
    return path


def stream_durations(path: Path) -> dict[str, float]:
    """Duration in seconds of the video and audio streams, measured from decoded frames."""
    import av
    out = {}
    with av.open(str(path)) as c:
        for kind in ("video", "audio"):
            streams = getattr(c.streams, kind)
            if not streams:
                continue
            st = streams[0]
            first, last_end = None, 0.0
            for frame in c.decode(st):
                t = float(frame.pts * frame.time_base)
                first = t if first is None else first
                if kind == "audio":
                    end = t + frame.samples / frame.sample_rate
                else:
                    end = t
                last_end = max(last_end, end)
            out[kind] = last_end - (first or 0.0)
            c.seek(0)
    return out


def write_audio_only(path: Path) -> Path:
    """A valid FLAC file with sound and no video stream."""
    import av
    with av.open(str(path), "w") as c:
        a = c.add_stream("flac", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4800), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        for p in list(a.encode(frame)) + list(a.encode(None)):
            c.mux(p)
    return path


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty standalone models folder (FILMRESTORE_MODELS); returns its upscale_models sub-folder."""
    root = tmp_path / "models"
    (root / "upscale_models").mkdir(parents=True)
    monkeypatch.setenv("FILMRESTORE_MODELS", str(root))
    return root / "upscale_models"


def with_pack_routes(fn):
    """Run ``await fn(client)`` against an aiohttp app holding the pack's ``/filmrestore/`` routes, as ComfyUI's
    server holds them; returns its result."""
    import asyncio
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer
    from filmrestore.routes import setup

    async def main():
        routes = web.RouteTableDef()
        setup(routes)
        app = web.Application()
        app.add_routes(routes)
        async with TestClient(TestServer(app)) as client:
            return await fn(client)
    return asyncio.run(main())
