"""Frame-to-frame camera motion on small luma frames: tracked corners with a RANSAC similarity fit, phase
correlation where texture is poor. Motion is a similarity about the frame centre: (dx, dy, angle, log-scale)."""
from __future__ import annotations

import numpy as np

from .frames import luma

MOTION_WIDTH = 320


def analysis_width(frame_width: int) -> int:
    """Width (px) the stabiliser analyses a clip ``frame_width`` wide at: half size, within [320, 480].

    Picked on real footage (a steady Big Buck Bunny shot with 1.5 px of added weave; benchmarks/bench_shots.py):
    at 1280x720, 480 px leaves 15-30% less residual jitter than 320; at 640 px wide, 320 keeps the analysis
    within ffmpeg vidstab's CPU time (decoding dominates it) and the jitter already far below vidstab's.
    """
    return int(min(480, max(MOTION_WIDTH, frame_width // 2)))


def prepare(frame: np.ndarray, width: int = MOTION_WIDTH) -> tuple[np.ndarray, float]:
    """(H, W, C) frame -> (small uint8 luma normalised for flicker and lightly denoised, scale factor)."""
    import cv2
    y = luma(frame.astype(np.float32) * (1.0 / 257.0 if frame.dtype == np.uint16 else 1.0))
    h, w = y.shape
    s = min(1.0, width / w)
    if s < 1.0:
        y = cv2.resize(y, (int(round(w * s)), int(round(h * s))), interpolation=cv2.INTER_AREA)
    y = (y - y.mean()) * (45.0 / (y.std() + 1e-3)) + 120.0   # flicker would fool the tracker
    y = cv2.GaussianBlur(y, (0, 0), 0.8)                      # grain
    return np.clip(y + 0.5, 0, 255).astype(np.uint8), s


def _track(prev: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Corners of ``prev`` and where LK finds them in ``cur``, (n, 2) each about the frame centre; None when
    there is too little texture to track."""
    import cv2
    h, w = prev.shape
    c = np.array([w / 2.0, h / 2.0], np.float32)
    pts = cv2.goodFeaturesToTrack(prev, maxCorners=300, qualityLevel=0.01, minDistance=7, blockSize=7)
    if pts is None or len(pts) < 20:
        return None
    nxt, status, _ = cv2.calcOpticalFlowPyrLK(prev, cur, pts, None, winSize=(21, 21), maxLevel=3,
                                              criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
    ok = status.ravel() == 1
    if ok.sum() < 12:
        return None
    return pts.reshape(-1, 2)[ok] - c, nxt.reshape(-1, 2)[ok] - c


def estimate(prev: np.ndarray, cur: np.ndarray, scale: float) -> np.ndarray:
    """Similarity motion from ``prev`` to ``cur`` (small frames), in full-size pixels: [dx, dy, da, dlogs]."""
    import cv2
    tracked = _track(prev, cur)
    if tracked is not None:
        p0, p1 = tracked
        m, inliers = cv2.estimateAffinePartial2D(p0, p1, method=cv2.RANSAC, ransacReprojThreshold=1.0,
                                                 maxIters=2000, confidence=0.995, refineIters=10)
        if m is not None and inliers is not None and inliers.sum() >= 10:
            a, b = float(m[0, 0]), float(m[1, 0])
            return np.array([m[0, 2] / scale, m[1, 2] / scale, np.arctan2(b, a), np.log(np.hypot(a, b))])
    # too little texture for corners: translation from phase correlation
    (dx, dy), _ = cv2.phaseCorrelate(prev.astype(np.float32), cur.astype(np.float32))
    return np.array([dx / scale, dy / scale, 0.0, 0.0])


def estimate_camera(prev: np.ndarray, cur: np.ndarray, scale: float, inlier_px: float = 0.6,
                    stiffness: float = 1e5) -> np.ndarray:
    """Camera motion from ``prev`` to ``cur`` (small frames) on the static background, in full-size pixels:
    [dx, dy, da, dlogs]. The stabiliser's estimator (:func:`estimate` stays the registration of two views of one
    frame, where every point agrees).

    A big moving subject carries most corners and moves nearly rigidly from one frame to the next, so a RANSAC
    similarity fit follows it or mixes it in, and the rotation and zoom fitted to a background seen on one side
    of the frame swing the shift at the centre. Instead the background is found as the densest cluster of the
    corners' shifts (``inlier_px``, small-frame px: what the subject's own motion exceeds), grown along the
    similarity fitted to it, and the rotation/zoom of that fit is damped (``stiffness``, small px^2, a ridge on
    the similarity's linear part) so a narrow cluster yields a shift, a frame-wide one a full similarity.
    Picked on Megamind (a static shot with a big moving subject; benchmarks/bench_shots.py): 0.156 px of jitter
    left against 0.238 for the RANSAC similarity of :func:`estimate` (ffmpeg vidstab 0.201); the steady real and
    synthetic shots are unchanged or better. A subject that moves as one rigid piece and holds more corners than
    the background still wins the cluster.
    """
    import cv2
    tracked = _track(prev, cur)
    if tracked is not None:
        p0, p1 = tracked
        z = p0 @ np.array([1.0, 1.0j])   # positions about the centre, complex
        d = p1 @ np.array([1.0, 1.0j]) - z
        t2 = inlier_px ** 2

        def near(r: np.ndarray) -> np.ndarray:
            return r.real ** 2 + r.imag ** 2 < t2

        hyp = d[np.linspace(0, len(d) - 1, min(64, len(d))).astype(int)]
        v = hyp[np.argmax(near(hyp[:, None] - d[None]).sum(1))]
        for _ in range(3):                      # the shift cluster: its mean, re-centred
            inl = near(d - v)
            v = d[inl].mean()
        u, b = 0j, v
        for _ in range(3):                      # grown along the damped similarity d = u z + b
            inl = near(d - (u * z + b))
            if inl.sum() < 10:
                break
            zi, di = z[inl], d[inl]
            zc = zi - zi.mean()
            u = np.sum((di - di.mean()) * np.conj(zc)) / (np.sum(np.abs(zc) ** 2) + stiffness)
            b = di.mean() - u * zi.mean()
        if inl.sum() >= 10:
            a = 1.0 + u
            return np.array([b.real / scale, b.imag / scale, float(np.angle(a)), float(np.log(np.abs(a)))])
    # too little texture for corners, or no agreeing background: translation from phase correlation
    (dx, dy), _ = cv2.phaseCorrelate(prev.astype(np.float32), cur.astype(np.float32))
    return np.array([dx / scale, dy / scale, 0.0, 0.0])


def similarity_matrix(dx: float, dy: float, da: float, dlogs: float, width: int, height: int) -> np.ndarray:
    """2x3 matrix of a similarity about the frame centre followed by a shift (dx, dy)."""
    s = np.exp(dlogs)
    a, b = s * np.cos(da), s * np.sin(da)
    cx, cy = width / 2.0, height / 2.0
    return np.array([[a, -b, cx - a * cx + b * cy + dx],
                     [b, a, cy - b * cx - a * cy + dy]], np.float64)
