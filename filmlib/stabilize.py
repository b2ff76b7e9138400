"""Stabilisation: an analysis pass (camera motion per frame, a smoothed path per shot, one crop for the clip),
cached; then each frame is warped on demand.

``smooth`` (ours): background motion from :func:`motion.estimate_camera`, path smoothed per shot by a
Gaussian or an L1-optimal path (Grundmann et al., CVPR 2011: minimise the L1 norms of the path's 1st, 2nd and
3rd differences, staying within the allowed crop of the original path), reset at every cut. ``weave only``
keeps pans and removes only frame-to-frame jitter. ``vidstab``: the vidstab package's algorithm (its keypoint
detectors, LK tracking, partial affine fit and rolling-mean smoothing) for users of the seed pipeline.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Optional, Sequence

import numpy as np

from .clip import Film, Stage
from .errors import InputError
from .motion import analysis_width, estimate_camera, prepare, similarity_matrix

log = logging.getLogger(__name__)

METHODS = ("smooth", "vidstab")
PATHS = ("gaussian", "l1")
BORDERS = ("crop", "reflect", "black")
WEAVE_SIGMA = 1.5  # frames: removes frame-to-frame jitter, keeps anything slower than ~1/3 s


def segments(n: int, cuts: Sequence[int]) -> list[tuple[int, int]]:
    bounds = [0] + sorted(c for c in set(cuts) if 0 < c < n) + [n]
    return list(zip(bounds, bounds[1:]))


def smooth_gaussian(path: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d
    if len(path) < 2 or sigma <= 0:
        return path.copy()
    return gaussian_filter1d(path, sigma, axis=0, mode="nearest")


def smooth_l1(path: np.ndarray, bound: np.ndarray, weights: tuple[float, float, float] = (10.0, 1.0, 100.0)
              ) -> np.ndarray:
    """L1-optimal path per column: min w1|D1 p| + w2|D2 p| + w3|D3 p|, |p - path| <= bound (Grundmann 2011)."""
    from scipy import sparse
    from scipy.optimize import linprog
    n, k = path.shape
    if n < 4:
        return path.copy()
    out = np.empty_like(path)
    diffs = []
    for order in (1, 2, 3):
        d = sparse.eye(n, format="csr")
        for _ in range(order):
            d = (d[1:] - d[:-1])
        diffs.append(d)
    m = [d.shape[0] for d in diffs]
    total = n + sum(m)
    c = np.concatenate([np.zeros(n)] + [np.full(mi, w) for mi, w in zip(m, weights)])
    rows, offset = [], n
    for d, mi in zip(diffs, m):
        e = sparse.csr_matrix((np.ones(mi), (np.arange(mi), offset + np.arange(mi))), shape=(mi, total))
        dp = sparse.hstack([d, sparse.csr_matrix((mi, total - n))])
        rows += [dp - e, -dp - e]     # D p - e <= 0 and -D p - e <= 0
        offset += mi
    a_ub = sparse.vstack(rows).tocsc()
    b_ub = np.zeros(a_ub.shape[0])
    for j in range(k):
        bounds = [(path[i, j] - bound[j], path[i, j] + bound[j]) for i in range(n)] + [(0, None)] * sum(m)
        res = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
        out[:, j] = res.x[:n] if res.status == 0 else smooth_gaussian(path[:, j:j + 1], 10)[:, 0]
    return out


def crop_zoom(corrections: Sequence[np.ndarray], width: int, height: int, limit: float) -> float:
    """The smallest zoom (>= 1) about the centre that keeps every corrected frame covering the whole output."""
    corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], np.float64)
    cx, cy = width / 2.0, height / 2.0

    def covers(z: float) -> bool:
        zoom = np.array([[z, 0, cx - z * cx], [0, z, cy - z * cy], [0, 0, 1]])
        for m in corrections:
            full = zoom @ np.vstack([m, [0, 0, 1]])
            inv = np.linalg.inv(full)
            src = corners @ inv[:2, :2].T + inv[:2, 2]
            if (src[:, 0].min() < -1e-6 or src[:, 1].min() < -1e-6 or src[:, 0].max() > width + 1e-6
                    or src[:, 1].max() > height + 1e-6):
                return False
        return True

    lo, hi = 1.0, 1.0 + limit
    if not covers(hi):
        return hi
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if covers(mid) else (mid, hi)
    return hi


class StabilizeStage(Stage):
    """Per-frame warps from a cached analysis of the whole clip."""

    name = "stabilize"
    version = "3"  # 2: analysis_width; 3: background motion (estimate_camera)

    def __init__(self, source: Film, method: str = "smooth", path: str = "gaussian", smoothing: float = 12.0,
                 weave_only: bool = False, border: str = "crop", max_crop: float = 0.1,
                 cuts: Sequence[int] | None = None, vidstab_kp: str = "GFTT", vidstab_window: int = 30,
                 border_size: int = 0,
                 progress: Optional[Callable[[int, int, Optional[np.ndarray]], None]] = None):
        for value, allowed, what in ((method, METHODS, "method"), (path, PATHS, "path"), (border, BORDERS, "border")):
            if value not in allowed:
                raise InputError(f"{what} must be one of {allowed}, got {value!r}")
        if smoothing < 0 or not 0 <= max_crop < 0.5:
            raise InputError(f"smoothing must be >= 0 and max_crop in [0, 0.5), got {smoothing} and {max_crop}")
        self.cuts = sorted(set(cuts or []))
        super().__init__(source, {"method": method, "path": path, "smoothing": smoothing, "weave_only": weave_only,
                                  "border": border, "max_crop": max_crop, "cuts": self.cuts, "kp": vidstab_kp,
                                  "window": vidstab_window, "border_size": border_size})
        self.method, self.path, self.smoothing, self.weave_only = method, path, smoothing, weave_only
        self.border, self.max_crop, self.kp, self.window = border, max_crop, vidstab_kp, vidstab_window
        self.border_size = border_size
        self.progress = progress

    # -- analysis -------------------------------------------------------------------------------------
    def analysis(self) -> dict[str, np.ndarray]:
        """trajectory (n, 4), smoothed (n, 4), corrections (n, 2, 3) and zoom; cached on disk."""
        return self.cached_analysis(self._analyse, self._unpack)

    def _unpack(self, packed: np.ndarray) -> dict[str, Any]:
        n = self.info.frame_count
        return {"trajectory": packed[:n * 4].reshape(n, 4), "smoothed": packed[n * 4: n * 8].reshape(n, 4),
                "corrections": packed[n * 8: n * 14].reshape(n, 2, 3), "zoom": float(packed[-1])}

    def _motions(self) -> np.ndarray:
        """(n, 4) motion from frame i-1 to i (zero at the first frame of every shot)."""
        n = self.info.frame_count
        motion = np.zeros((n, 4))
        starts = {a for a, _ in segments(n, self.cuts)}
        prev = None
        detector = None
        if self.method == "vidstab":
            from vidstab.VidStab import VidStab
            detector = VidStab(kp_method=self.kp).kp_detector
        full_width = self.source.info.width
        width = analysis_width(full_width)
        for first, chunk in self.source.scaled_chunks(width):
            for j, frame in enumerate(chunk):
                i = first + j
                small, s = prepare(frame, width)
                s = s * frame.shape[1] / full_width  # the source may have decoded it small already
                if prev is not None and i not in starts:
                    motion[i] = (estimate_camera(prev, small, s) if detector is None
                                 else _vidstab_motion(detector, prev, small, s))
                prev = small
            if self.progress is not None:
                self.progress(first + len(chunk), n, None)
        return motion

    def _analyse(self) -> np.ndarray:
        info = self.info
        n = info.frame_count
        motion = self._motions()
        traj = np.zeros_like(motion)
        smooth = np.zeros_like(motion)
        for a, b in segments(n, self.cuts):
            traj[a:b] = np.cumsum(motion[a:b], axis=0)
            if self.method == "vidstab":
                smooth[a:b] = _rolling_mean(traj[a:b], self.window)
            elif self.weave_only:
                smooth[a:b] = smooth_gaussian(traj[a:b], WEAVE_SIGMA)
            elif self.path == "l1":
                bound = np.array([self.max_crop * info.width / 2, self.max_crop * info.height / 2, 0.02, 0.02])
                smooth[a:b] = smooth_l1(traj[a:b], bound)
            else:
                smooth[a:b] = smooth_gaussian(traj[a:b], self.smoothing)
        delta = smooth - traj
        corr = np.stack([similarity_matrix(*d, info.width, info.height) for d in delta])
        zoom = 1.0
        if self.border == "crop":
            zoom = crop_zoom(list(corr), info.width, info.height, self.max_crop)
        return np.concatenate([traj.ravel(), smooth.ravel(), corr.ravel(), [zoom]]).astype(np.float64)

    # -- frames ---------------------------------------------------------------------------------------
    def transform(self, i: int) -> np.ndarray:
        """The 2x3 warp applied to source frame ``i``."""
        a = self.analysis()
        m = np.vstack([a["corrections"][i], [0, 0, 1]])
        z = a["zoom"]
        if self.border_size and self.border != "crop":
            z = 1.0 - 2.0 * self.border_size / min(self.info.width, self.info.height)
        cx, cy = self.info.width / 2.0, self.info.height / 2.0
        zoom = np.array([[z, 0, cx - z * cx], [0, z, cy - z * cy], [0, 0, 1]])
        return (zoom @ m)[:2]

    def compute(self, frames: np.ndarray, first: int, start: int, stop: int) -> np.ndarray:
        import cv2
        h, w, c = self.info.frame_shape
        mode = {"crop": cv2.BORDER_REFLECT, "reflect": cv2.BORDER_REFLECT, "black": cv2.BORDER_CONSTANT}[self.border]
        out = np.empty((stop - start, h, w, c), self.info.dtype)
        for i in range(start, stop):
            out[i - start] = cv2.warpAffine(frames[i - first], self.transform(i), (w, h), flags=cv2.INTER_CUBIC,
                                            borderMode=mode).reshape(h, w, c)
        return out


def _rolling_mean(traj: np.ndarray, window: int) -> np.ndarray:
    from vidstab.general_utils import bfill_rolling_mean
    out = np.zeros_like(traj)  # vidstab smooths (dx, dy, angle); it has no scale term
    if len(traj) <= window:
        out[:, :3] = traj[:, :3].mean(axis=0, keepdims=True)
    else:
        out[:, :3] = bfill_rolling_mean(traj[:, :3], n=window)
    return out


def _vidstab_motion(detector, prev: np.ndarray, cur: np.ndarray, scale: float) -> np.ndarray:
    """vidstab's frame-to-frame step: its keypoints, LK flow, its partial-affine estimate -> [dx, dy, da, 0]."""
    import cv2
    from vidstab import vidstab_utils
    kps = np.array([kp.pt for kp in detector.detect(prev)], dtype="float32").reshape(-1, 1, 2)
    if len(kps) < 3:
        return np.zeros(4)
    flow = cv2.calcOpticalFlowPyrLK(prev, cur, kps, None)
    matched = vidstab_utils.match_keypoints(flow, kps)
    dx, dy, da = vidstab_utils.estimate_partial_transform(matched)
    # vidstab fits about the image origin; re-centre the shift so our matrix (about the centre) agrees
    h, w = prev.shape
    cx, cy = w / 2.0, h / 2.0
    ca, sa = np.cos(da), np.sin(da)
    dxc = dx + (ca - 1) * cx - sa * cy
    dyc = dy + sa * cx + (ca - 1) * cy
    return np.array([dxc / scale, dyc / scale, da, 0.0])


def trajectory_plot(analysis: dict[str, np.ndarray], cuts: Sequence[int], width: int = 900, height: int = 420
                    ) -> np.ndarray:
    """A plot of the estimated (thin) and smoothed (thick) x/y camera paths, cuts as grey lines; (H, W, 3) uint8."""
    import cv2
    traj, smooth = analysis["trajectory"], analysis["smoothed"]
    img = np.full((height, width, 3), 255, np.uint8)
    n = len(traj)
    pad = 40
    lo = float(min(traj[:, :2].min(), smooth[:, :2].min()))
    hi = float(max(traj[:, :2].max(), smooth[:, :2].max()))
    hi = hi if hi > lo else lo + 1

    def pt(i: int, v: float) -> tuple[int, int]:
        x = pad + int((width - 2 * pad) * i / max(1, n - 1))
        y = height - pad - int((height - 2 * pad) * (v - lo) / (hi - lo))
        return x, y

    for c in cuts:
        cv2.line(img, pt(c, lo), pt(c, hi), (200, 200, 200), 1)
    for col, color in ((0, (200, 60, 40)), (1, (40, 120, 200))):
        raw = np.array([pt(i, traj[i, col]) for i in range(n)], np.int32)
        sm = np.array([pt(i, smooth[i, col]) for i in range(n)], np.int32)
        cv2.polylines(img, [raw], False, color, 1, cv2.LINE_AA)
        cv2.polylines(img, [sm], False, tuple(int(v * 0.6) for v in color), 2, cv2.LINE_AA)
    cv2.putText(img, "camera path: x (red), y (blue); thin = estimated, thick = smoothed; px", (pad, 24),
                cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, f"frames 0..{n - 1}   range {lo:.1f}..{hi:.1f} px   zoom {analysis['zoom']:.3f}",
                (pad, height - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (60, 60, 60), 1, cv2.LINE_AA)
    return img
