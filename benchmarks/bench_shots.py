"""Shots and steadiness benchmark, all in one run on the same clips.

Stabilisation: 640x480 and 1280x720 old-film clips (known gate weave, two cuts): CPU seconds per frame and
residual jitter for our ``smooth`` (load -> stabilise -> save FFV1), the vidstab package (its stabilize(),
FFV1 output) and ffmpeg's vidstabdetect/vidstabtransform (two passes, FFV1 output). Residual jitter: each output
frame is registered to its clean original; the RMS second difference of those offsets / sqrt(6), in px.

Scene detection: FilmSceneDetect (flicker-robust) against plain PySceneDetect (scenedetect.detect with
ContentDetector) on a clean and an old-film 640x480 clip with 5 cuts: cut F1 and CPU seconds per frame.

    python benchmarks/bench_shots.py
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


def cpu_of(fn) -> tuple[float, object]:
    r0, c0 = os.times(), time.process_time()
    out = fn()
    r1, c1 = os.times(), time.process_time()
    children = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
    return (c1 - c0) + children, out


def jitter(path_or_film, clean: np.ndarray, cuts: list[int]) -> dict:
    """Residual jitter (px) of a clip against its clean original, three ways: RMS over every frame, RMS inside
    shots (8 frames from each cut or end left out, where a path that ignores cuts goes wrong), and the median
    (robust to the few frames a stabiliser throws far off)."""
    from filmrestore.filmlib.io.open import open_clip
    from filmrestore.filmlib.motion import estimate, prepare
    film = open_clip(path_or_film) if isinstance(path_or_film, (str, Path)) else path_or_film
    n = min(len(film), len(clean))
    off = []
    for i in range(n):
        a, s = prepare(clean[i])
        b, _ = prepare(film.frame(i))
        off.append(estimate(a, b, s)[:2])
    off = np.array(off)
    bounds = [0] + cuts + [n]

    def d2(margin: int) -> np.ndarray:
        parts = [off[a + margin:b - margin] for a, b in zip(bounds, bounds[1:]) if b - a - 2 * margin > 2]
        return np.concatenate([p[2:] - 2 * p[1:-1] + p[:-2] for p in parts])

    full, inside = d2(0), d2(8)
    return {"rms_px": round(float(np.sqrt(np.mean(np.sum(full ** 2, 1)) / 6)), 3),
            "rms_inside_shots_px": round(float(np.sqrt(np.mean(np.sum(inside ** 2, 1)) / 6)), 3),
            "median_px": round(float(np.median(np.linalg.norm(full, axis=1)) / np.sqrt(6)), 3)}


def f1(found: list[int], truth: list[int]) -> float:
    tp = len(set(found) & set(truth))
    if tp == 0:
        return 0.0
    p, r = tp / len(found), tp / len(truth)
    return round(2 * p * r / (p + r), 3)


def stabilize_rows(rows: dict, width: int, height: int) -> None:
    from filmrestore.filmlib.cache import configure_cache
    from filmrestore.filmlib.clip import ArrayFilm
    from filmrestore.filmlib.degrade import DegradeParams, DegradeStage
    from filmrestore.filmlib.io.open import open_clip
    from filmrestore.filmlib.io.writer import save_film
    from filmrestore.filmlib.sample import SampleSpec, clean_clip
    from filmrestore.filmlib.stabilize import StabilizeStage
    frames, cuts = clean_clip(SampleSpec(width=width, height=height, shot_frames=(48, 40, 44)))
    n = len(frames)
    clean_gray = np.round(frames @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)[..., None]
    old = DegradeStage(ArrayFilm(frames, Fraction(16)), DegradeParams(seed=5, weave=1.5))
    src = save_film(old, WORK / f"stab_src_{width}.mkv", "ffv1-mkv", overwrite=True).path
    tag = f"{width}x{height}"
    rows[f"stab_{tag}_input"] = jitter(src, clean_gray, cuts)
    configure_cache(WORK / "cache_stab", "1G", "0")

    def ours():
        film = open_clip(src)
        st = StabilizeStage(film, "smooth", cuts=cuts)
        return save_film(st, WORK / f"stab_ours_{width}.mkv", "ffv1-mkv", overwrite=True).path
    cpu, out = cpu_of(ours)
    rows[f"stab_{tag}_ours_smooth"] = {**jitter(out, clean_gray, cuts), "cpu_s_per_frame": round(cpu / n, 4)}

    def vidstab_pkg():
        from vidstab import VidStab
        dst = WORK / f"stab_vidstab_{width}.avi"
        VidStab().stabilize(input_path=str(src), output_path=str(dst), output_fourcc="FFV1", show_progress=False)
        return dst
    cpu, out = cpu_of(vidstab_pkg)
    rows[f"stab_{tag}_vidstab_package"] = {**jitter(out, clean_gray, cuts), "cpu_s_per_frame": round(cpu / n, 4)}
    if ffmpeg():
        trf = WORK / f"stab_{width}.trf"
        dst = WORK / f"stab_ffmpeg_{width}.mkv"

        def ff():
            subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-i", str(src), "-vf",
                            f"format=yuv420p,vidstabdetect=result={trf}", "-f", "null", "-"], check=True)
            subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-i", str(src), "-vf",
                            f"format=yuv420p,vidstabtransform=input={trf}", "-c:v", "ffv1", str(dst)], check=True)
            return dst
        cpu, out = cpu_of(ff)
        rows[f"stab_{tag}_ffmpeg_vidstab"] = {**jitter(out, clean_gray, cuts), "cpu_s_per_frame": round(cpu / n, 4)}
        o, f = rows[f"stab_{tag}_ours_smooth"], rows[f"stab_{tag}_ffmpeg_vidstab"]
        rows[f"stab_{tag}_ours_vs_ffmpeg"] = {
            "jitter_ratio_median": round(o["median_px"] / f["median_px"], 3),
            "jitter_ratio_inside_shots": round(o["rms_inside_shots_px"] / f["rms_inside_shots_px"], 3),
            "cpu_ratio": round(o["cpu_s_per_frame"] / f["cpu_s_per_frame"], 3)}


def scene_rows(rows: dict) -> None:
    from scenedetect import ContentDetector, detect
    from filmrestore.filmlib.clip import ArrayFilm
    from filmrestore.filmlib.degrade import DegradeParams, DegradeStage
    from filmrestore.filmlib.io.open import open_clip
    from filmrestore.filmlib.io.writer import save_film
    from filmrestore.filmlib.sample import SampleSpec, clean_clip
    from filmrestore.filmlib.scene_detect import detect_scenes
    frames, cuts = clean_clip(SampleSpec(width=640, height=480, shot_frames=(40, 36, 44, 38, 42, 40)))
    clean = ArrayFilm(frames, Fraction(16))
    clips = {"clean": clean, "old_film": DegradeStage(clean, DegradeParams(seed=9, flicker=0.12))}
    for name, film in clips.items():
        path = save_film(film, WORK / f"scenes_{name}.mp4", "h264-mp4", crf=16, overwrite=True).path
        n = len(frames)
        cpu_ref, ref = cpu_of(lambda p=path: detect(str(p), ContentDetector()))
        ref_cuts = [s[0].frame_num for s in ref[1:]]
        cpu_ours, ours = cpu_of(lambda p=path: detect_scenes(open_clip(p)))
        rows[f"scenes_{name}"] = {
            "pyscenedetect": {"f1": f1(ref_cuts, cuts), "cuts": ref_cuts, "cpu_s_per_frame": round(cpu_ref / n, 4)},
            "ours": {"f1": f1(ours.cuts, cuts), "cuts": ours.cuts, "cpu_s_per_frame": round(cpu_ours / n, 4)},
            "truth": cuts, "cpu_ratio_ours_over_pyscenedetect": round(cpu_ours / cpu_ref, 3)}


def main() -> None:
    rows: dict = {}
    scene_rows(rows)
    for w, h in ((640, 480), (1280, 720)):
        stabilize_rows(rows, w, h)
    report("shots", rows)


if __name__ == "__main__":
    main()
