"""Foundation benchmarks: (a) peak memory of load->save does not grow with clip length; (b) throughput against
``ffmpeg -i in -c:v libx264 -crf 18 out``; (c) first run vs a re-run with the last node's parameter changed.

    python benchmarks/bench_io.py [--short 60] [--long 600]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import WORK, ffmpeg, report, run_child, run_cmd, synthetic_720p  # noqa: E402

SAVE = """
from filmrestore.filmlib.cache import configure_cache
from filmrestore.filmlib.io.open import open_clip
from filmrestore.filmlib.io.writer import save_film
configure_cache({cache!r}, "1G", "0")
film = open_clip({src!r})
save_film(film, {dst!r}, "h264-mp4", crf=18, overwrite=True)
"""

WORKFLOW = """
import json
from filmrestore import NODE_CLASS_MAPPINGS
from filmrestore.filmlib.cache import configure_cache
from filmrestore.runner.execute import Runner
configure_cache({cache!r}, "1G", "20G")
prompt = json.loads({prompt!r})
Runner(NODE_CLASS_MAPPINGS).run(prompt)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--short", type=float, default=60.0, help="seconds of the short clip")
    ap.add_argument("--long", type=float, default=600.0, help="seconds of the long clip")
    args = ap.parse_args()
    rows: dict = {}
    short = synthetic_720p(WORK / f"syn720_{int(args.short)}s.mp4", args.short)
    long = synthetic_720p(WORK / f"syn720_{int(args.long)}s.mp4", args.long)
    frames_short = int(args.short * 24)
    for name, src in (("short", short), ("long", long)):
        r = run_child(SAVE.format(cache=str(WORK / "cache_io"), src=str(src), dst=str(WORK / f"out_{name}.mp4")))
        rows[f"load_save_{name}_{src.stem}"] = {k: round(v, 2) for k, v in r.items()}
    rows["peak_rss_ratio_long_over_short"] = round(rows[f"load_save_long_{long.stem}"]["peak_rss_mib"]
                                                   / rows[f"load_save_short_{short.stem}"]["peak_rss_mib"], 3)
    ours = rows[f"load_save_short_{short.stem}"]
    if ffmpeg():
        ref = run_cmd([ffmpeg(), "-y", "-loglevel", "error", "-i", str(short), "-c:v", "libx264", "-crf", "18",
                       str(WORK / "ffmpeg_short.mp4")])
        rows["ffmpeg_x264_crf18_short"] = {k: round(v, 2) for k, v in ref.items()}
        rows["throughput_ratio_ours_over_ffmpeg (wall, >1 = faster)"] = round(ref["wall_s"] / ours["wall_s"], 3)
        rows["fps_ours_vs_ffmpeg"] = [round(frames_short / ours["wall_s"], 1), round(frames_short / ref["wall_s"], 1)]
    else:
        rows["ffmpeg"] = "not found on PATH: install ffmpeg for the reference figure"
    # (c) first run vs re-run with the last node's parameter changed, in fresh processes (disk cache)
    prompt = {
        "1": {"class_type": "FilmLoadVideo", "inputs": {"video": str(short), "first_frame": 0,
                                                        "frame_count": 240, "force_fps": 0.0, "color": "auto"}},
        "2": {"class_type": "FilmDegrade", "inputs": {"film": ["1", 0], "seed": 1, "grayscale": True, "blur": 1.0,
                                                      "weave": 1.5, "flicker": 0.08, "grain": 0.04, "scratches": 2,
                                                      "dust": 6.0, "vignette": 0.25}},
        "3": {"class_type": "FilmSaveVideo", "inputs": {"film": ["2", 0], "filename_prefix": str(WORK / "rerun"),
                                                        "format": "h264-mp4", "crf": 18, "overwrite": True}},
    }
    cache = str(WORK / "cache_rerun")
    import shutil
    shutil.rmtree(cache, ignore_errors=True)
    first = run_child(WORKFLOW.format(cache=cache, prompt=json.dumps(prompt)))
    prompt["3"]["inputs"]["crf"] = 22
    second = run_child(WORKFLOW.format(cache=cache, prompt=json.dumps(prompt)))
    rows["rerun_first_wall_s"] = round(first["wall_s"], 2)
    rows["rerun_last_param_changed_wall_s"] = round(second["wall_s"], 2)
    rows["rerun_speedup"] = round(first["wall_s"] / second["wall_s"], 2)
    report("io", rows)


if __name__ == "__main__":
    main()
