"""Colour flicker: how much a clip's colour changes from one frame to the next where the picture itself does not.

For each pair of consecutive frames t, t+1 of one shot, frame t+1 is warped onto t with DIS optical flow computed
on the luma (both ways), and the CIELAB chroma difference sqrt(da^2 + db^2) (D65, sRGB; ab units: 1 is about a
just-noticeable colour difference) is averaged over the pixels whose motion is trusted: forward-backward
consistent, inside the frame, and with matching lightness (|dL| < ``L_TOLERANCE``), so occlusions and moving
edges the flow missed do not count. Frame t's figure is that of the pair (t, t+1); the last frame of a shot has
none (a cut is not flicker). The clip's figure is the mean over frames that have one. Frames are measured at
``width`` px wide (chroma is smooth: the figure hardly depends on it).

:func:`perturb_chroma` makes test material with a known answer: a clip's chroma shaken per frame (hue, saturation,
patches), its luma code unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from ..clip import Film
from ..cuts import is_cut
from ..interpolate import FlowInterpolator
from ..remaster.compensate import single_threaded, warp
from .chroma_stabilize import merge_chroma, split_chroma

UNIT = "CIELAB ab"
L_TOLERANCE = 8.0      # L* units: a larger lightness mismatch is a wrong flow, not a colour change
MIN_COVERAGE = 0.05    # a pair with less of the frame trusted has no figure
DEFAULT_WIDTH = 320


@dataclass
class FlickerReport:
    """Per-frame colour flicker (n,) float64 in ab units, NaN where a frame has no figure (last of a shot, too
    little trusted motion); ``coverage`` (n,) the share of pixels that counted; ``cuts`` the shot starts."""

    per_frame: np.ndarray
    coverage: np.ndarray
    cuts: list[int] = field(default_factory=list)
    width: int = DEFAULT_WIDTH

    @property
    def clip(self) -> float:
        """Mean over frames that have a figure (NaN when none has)."""
        v = self.per_frame[np.isfinite(self.per_frame)]
        return float(v.mean()) if len(v) else float("nan")

    def to_json(self) -> dict:
        return {"unit": UNIT, "clip": _num(self.clip), "frames": len(self.per_frame), "cuts": list(self.cuts),
                "width": self.width, "per_frame": [_num(v) for v in self.per_frame],
                "coverage": [round(float(c), 4) for c in self.coverage]}


def _num(v: float) -> float | None:
    return round(float(v), 4) if np.isfinite(v) else None


def _lab(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8/uint16 RGB -> (H, W, 3) float32 CIELAB (L 0..100, a/b in ab units)."""
    import cv2
    maxv = np.float32(np.iinfo(frame.dtype).max)
    return cv2.cvtColor(frame.astype(np.float32) / maxv, cv2.COLOR_RGB2Lab)


def pair_flicker(a: np.ndarray, b: np.ndarray, flow: FlowInterpolator | None = None) -> tuple[float, float]:
    """(mean ab difference of ``b`` warped onto ``a`` over trusted pixels, share of pixels trusted) for two
    (H, W, 3) RGB frames of one dtype; NaN when less than ``MIN_COVERAGE`` is trusted. Gray frames give 0."""
    if a.shape[-1] == 1:
        return 0.0, 1.0
    flow = flow or FlowInterpolator("medium", 1.0)
    la, lb = _lab(a), _lab(b)
    ya, yb = la[..., :1] / 100.0, lb[..., :1] / 100.0
    with single_threaded():
        f_ab, f_ba = flow.flows(ya, yb)
        wn = warp(lb, f_ab, f_ba)
    d = la - wn.image
    ok = (wn.reliable > 0.5) & (np.abs(d[..., 0]) < L_TOLERANCE)
    coverage = float(ok.mean())
    if coverage < MIN_COVERAGE:
        return float("nan"), coverage
    dab = np.sqrt(d[..., 1] ** 2 + d[..., 2] ** 2)
    return float(dab[ok].mean()), coverage


def measure_flicker(film: Film, cuts: Sequence[int] | None = None, width: int = DEFAULT_WIDTH,
                    progress: Optional[Callable[[int, int, Optional[np.ndarray]], None]] = None) -> FlickerReport:
    """The colour flicker of ``film``, one streaming pass (two frames in memory beyond a chunk). ``cuts``: first
    frames of shots (from SCENES); None finds them with :func:`~filmlib.cuts.is_cut` between consecutive frames."""
    n = film.info.frame_count
    per, cov = np.full(n, np.nan), np.zeros(n)
    found: list[int] = []
    cut_set = set(cuts) if cuts is not None else None
    flow = FlowInterpolator("medium", 1.0)
    prev = None
    for first, chunk in film.scaled_chunks(width):
        for k, f in enumerate(chunk):
            i = first + k
            if prev is not None:
                cut = (i in cut_set) if cut_set is not None else is_cut(prev, f)
                if cut:
                    found.append(i)
                else:
                    per[i - 1], cov[i - 1] = pair_flicker(prev, f, flow)
            prev = f
        if progress is not None:
            progress(first + len(chunk), n, None)
    return FlickerReport(per, cov, sorted(cut_set) if cut_set is not None else found,
                         min(width, film.info.width))


def flicker_plot(reports: Sequence[tuple[str, FlickerReport]], width: int = 900, height: int = 360) -> np.ndarray:
    """Per-frame flicker curves of one or more reports of one clip (labelled), cuts as grey lines;
    (H, W, 3) uint8 RGB."""
    import cv2
    colors = [(200, 60, 40), (40, 120, 200), (60, 160, 60), (150, 80, 170)]
    img = np.full((height, width, 3), 255, np.uint8)
    pad_l, pad_r, pad_t, pad_b = 60, 20, 40, 40
    n = max(len(r.per_frame) for _, r in reports)
    vals = np.concatenate([r.per_frame[np.isfinite(r.per_frame)] for _, r in reports] + [np.zeros(1)])
    hi = float(vals.max()) * 1.1 or 1.0

    def pt(i: int, v: float) -> tuple[int, int]:
        x = pad_l + int(round((width - pad_l - pad_r) * i / max(1, n - 1)))
        return x, height - pad_b - int(round((height - pad_t - pad_b) * v / hi))

    for frac in (0.0, 0.5, 1.0):   # axis ticks
        p = pt(0, hi * frac / 1.1)
        cv2.line(img, (pad_l - 4, p[1]), (width - pad_r, p[1]), (225, 225, 225), 1)
        cv2.putText(img, f"{hi * frac / 1.1:.2f}", (4, p[1] + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (90, 90, 90), 1,
                    cv2.LINE_AA)
    for c in reports[0][1].cuts:
        cv2.line(img, pt(c, 0), pt(c, hi), (190, 190, 190), 1)
    legend = []
    for k, (label, r) in enumerate(reports):
        color = colors[k % len(colors)]
        v = r.per_frame
        runs, cur = [], []
        for i in range(len(v)):   # a gap (cut, no figure) breaks the line
            if np.isfinite(v[i]):
                cur.append(pt(i, float(v[i])))
            elif cur:
                runs.append(cur)
                cur = []
        if cur:
            runs.append(cur)
        for run in runs:
            if len(run) == 1:
                cv2.circle(img, run[0], 2, color, -1, cv2.LINE_AA)
            else:
                cv2.polylines(img, [np.array(run, np.int32)], False, color, 2, cv2.LINE_AA)
        legend.append((f"{label}: {r.clip:.3f}", color))
    x = pad_l
    for text, color in legend:
        cv2.putText(img, text, (x, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1, cv2.LINE_AA)
        x += 14 + cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)[0][0]
    cv2.putText(img, f"colour flicker per frame ({UNIT} units, flow-warped t+1 onto t); frames 0..{n - 1}",
                (pad_l, height - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (60, 60, 60), 1, cv2.LINE_AA)
    return img


def format_report(report: FlickerReport, label: str = "clip", before: FlickerReport | None = None) -> str:
    """A few lines: the clip's flicker, its spread, the cuts; the ratio to ``before`` when given."""
    has = np.isfinite(report.per_frame)
    v = report.per_frame[has]
    if len(v):
        spread = f"median {np.median(v):.3f}, max {v.max():.3f}"
        covered = f"trusted motion covers {report.coverage[has].mean() * 100:.0f} % of the picture"
    else:
        spread, covered = "no frame could be measured", "no trusted motion"
    cuts = f"{len(report.cuts)} cut(s) not counted" + (f": {report.cuts[:12]}" if report.cuts else "")
    lines = [f"colour flicker of {label}: {report.clip:.3f} {UNIT} units (mean over {len(v)} of "
             f"{len(report.per_frame)} frames; {spread}), measured at {report.width} px wide",
             f"{covered}; {cuts}"]
    if before is not None:
        ratio = report.clip / before.clip if before.clip > 0 else float("nan")
        lines.append(f"before: {before.clip:.3f}; after / before = {ratio:.3f} ({(1 - ratio) * 100:.0f} % less)")
    return "\n".join(lines)


def perturb_chroma(frames: np.ndarray, seed: int = 0, hue_deg: float = 10.0, saturation: float = 0.15,
                   patches: float = 0.0) -> np.ndarray:
    """Test material: (n, H, W, 3) uint8/uint16 RGB with its chroma shaken per frame, independently: Cb/Cr
    rotated by N(0, ``hue_deg``) degrees, scaled by 1 + N(0, ``saturation``) and, with ``patches`` > 0, offset by a
    smooth random field of that standard deviation (a share of full scale), as an unstable per-frame colourizer
    does. The luma code (:func:`~filmlib.colorize.chroma_stabilize.luma_code`) of every pixel is unchanged."""
    import cv2
    rng = np.random.default_rng(seed)
    maxv = float(np.iinfo(frames.dtype).max)
    out = np.empty_like(frames)
    n, h, w = frames.shape[:3]
    for i in range(n):
        theta = np.deg2rad(rng.normal(0.0, hue_deg))
        gain = max(0.0, 1.0 + rng.normal(0.0, saturation))
        field_ = rng.normal(0.0, 1.0, (max(2, h // 32), max(2, w // 32), 2)).astype(np.float32)
        y, cbcr = split_chroma(frames[i])
        c, s = np.cos(theta) * gain, np.sin(theta) * gain
        new = np.stack([c * cbcr[..., 0] - s * cbcr[..., 1], s * cbcr[..., 0] + c * cbcr[..., 1]], -1)
        if patches > 0:
            big = cv2.resize(field_, (w, h), interpolation=cv2.INTER_CUBIC)
            big = cv2.GaussianBlur(big, (0, 0), max(w, h) / 16.0)
            big *= np.float32(patches * maxv / (big.std() + 1e-6))
            new = new + big
        out[i] = merge_chroma(y, new.astype(np.float32), frames[i])
    return out
