"""Helpers shared by the benchmarks: synthetic clips, timing of child processes, reference tools."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

WORK = Path(os.environ.get("FILMRESTORE_BENCH_DIR", Path(__file__).resolve().parents[1] / ".bench"))


def synthetic_720p(path: Path, seconds: float, fps: int = 24, width: int = 1280, height: int = 720) -> Path:
    """A moving textured 720p clip, encoded fast (ultrafast x264) so making a long one is cheap."""
    import av
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".tmp-" + path.name)
    rng = np.random.default_rng(0)
    base = (rng.random((height + 64, width + 64)) * 255).astype(np.uint8)
    import cv2
    base = cv2.GaussianBlur(base, (0, 0), 3)
    base = cv2.normalize(base, None, 0, 255, cv2.NORM_MINMAX)
    with av.open(str(tmp), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"preset": "ultrafast", "crf": "18"}
        for i in range(int(seconds * fps)):
            x, y = int(32 + 24 * np.sin(i / 30)), int(32 + 24 * np.cos(i / 41))
            g = base[y:y + height, x:x + width]
            frame = np.stack([g, np.roll(g, i % 50, 1), 255 - g], -1)
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    os.replace(tmp, path)
    return path


def run_child(code: str, env: dict | None = None) -> dict:
    """Run Python ``code`` in a fresh process; returns its JSON line plus wall/CPU seconds and peak RSS (MiB)."""
    wrapper = code + "\nimport resource, json as _j\nprint(_j.dumps({'peak_rss_mib': resource.getrusage(" \
                     "resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
    t0 = time.perf_counter()
    r0 = os.times()
    out = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True,
                         env=dict(os.environ, FILMRESTORE_QUIET="1", **(env or {})))
    r1 = os.times()
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    result = {}
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            result.update(json.loads(line))
    result["wall_s"] = time.perf_counter() - t0
    result["cpu_s"] = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
    return result


def run_cmd(cmd: list[str]) -> dict:
    """Wall and CPU seconds of an external command."""
    t0, r0 = time.perf_counter(), os.times()
    subprocess.run(cmd, check=True, capture_output=True)
    r1 = os.times()
    return {"wall_s": time.perf_counter() - t0,
            "cpu_s": (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)}


def ffmpeg() -> str | None:
    return shutil.which("ffmpeg")


def report(name: str, rows: dict) -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / f"{name}.json").write_text(json.dumps(rows, indent=1))
    print(f"\n== {name} ==")
    for k, v in rows.items():
        print(f"  {k}: {v}")
