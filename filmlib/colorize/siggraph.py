"""Colourisation with the SIGGRAPH 2017 network (Zhang et al., richzhang/colorization), hinted from a reference.

The network (``model_loaders/siggraph17.py``) colours a gray frame on its own, and takes sparse colour hints:
ab values at a few points with a mask. Here the hints come from a colour reference photo by luminance
matching, in the spirit of Welsh, Ashikhmin and Mueller, "Transferring Color to Greyscale Images" (SIGGRAPH
2002): points spread over the frame (:func:`hint_points`, a grid, each point moved away from edges) are
described by their luminance and its local mean and spread; each takes the colour of the reference pixels
that look most alike after the reference's exposure is matched to the frame's. A point whose best matches
disagree on the colour, or match nothing, gets no hint: the network fills in between the hints it trusts.

As the official demo, the frame is resized to a square ``work_size`` (256) for the network and its ab are
upsampled (bilinear) to the frame's size; the luma is resized directly (the demo resizes the RGB image and
takes its L, which is the same on gray film).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

N_POINTS = 64          # hint points per frame at the working size
PATCH = 2              # hint patch side in working-size pixels (the training hints are small patches)
K_NEAREST = 32         # at least this many reference candidates vote for a point's colour
MAX_SPREAD = 12.0      # Lab ab units: matches that disagree more than this are ambiguous
MAX_DISTANCE = 12.0    # feature distance (Lab L units) beyond which nothing in the reference matches
MAX_CANDIDATES = 16384
TOLERANCE = 1.5        # feature distance (Lab L units) within which a candidate is as good as the best


def resolve_model(model_path: str) -> Path:
    """The SIGGRAPH17 file ``model_path`` (a name in models/colorization, or a path), or an error naming the
    file, the folders searched and where to get it."""
    from ...model_loaders.folders import find_registry_model
    return find_registry_model("siggraph17", model_path, "the siggraph17 method")


def _check_l(L: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(L)
    if a.ndim != 2 or not np.issubdtype(a.dtype, np.floating):
        raise InputError(f"{what} must be an (H, W) float array of Lab L, got shape {a.shape} {a.dtype}")
    if a.size == 0 or not np.isfinite(a).all() or a.min() < -0.5 or a.max() > 100.5:
        lo, hi = (float(np.nanmin(a)), float(np.nanmax(a))) if a.size else (0.0, 0.0)
        raise InputError(f"{what} must be Lab L in [0, 100] (finite), got values in [{lo:.3g}, {hi:.3g}]; "
                         f"gray in [0, 1] is L = 100 * gray for this purpose")
    return np.clip(a.astype(np.float32), 0, 100)


def _reference_lab(reference_rgb: np.ndarray, long_side: int) -> np.ndarray:
    """(h, w, 3) RGB uint8 (or float in [0, 1]) -> (h', w', 3) float32 Lab, long side ``long_side``."""
    import cv2
    from skimage import color
    ref = np.asarray(reference_rgb)
    if ref.ndim != 3 or ref.shape[-1] != 3 or min(ref.shape[:2]) < 4:
        raise InputError(f"the reference must be an (h, w, 3) RGB image of at least 4x4, got shape {ref.shape}")
    if ref.dtype == np.uint8:
        rgb = ref.astype(np.float32) / np.float32(255)
    elif np.issubdtype(ref.dtype, np.floating):
        rgb = np.clip(ref.astype(np.float32), 0, 1)
    else:
        raise InputError(f"the reference must be uint8 RGB (or float in [0, 1]), got {ref.dtype}")
    h, w = rgb.shape[:2]
    scale = long_side / max(h, w)
    if abs(scale - 1) > 1e-3:
        size = (max(4, round(w * scale)), max(4, round(h * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    return color.rgb2lab(np.clip(rgb, 0, 1)).astype(np.float32)


def _features(L: np.ndarray, radius: int) -> np.ndarray:
    """(H, W, 3) per-pixel description: lightly smoothed L, local mean and local standard deviation of L in a
    (2 radius + 1)^2 window; all in Lab L units."""
    import cv2
    win = (2 * radius + 1,) * 2
    mean = cv2.blur(L, win, borderType=cv2.BORDER_REFLECT)
    sq = cv2.blur(L * L, win, borderType=cv2.BORDER_REFLECT)
    std = np.sqrt(np.maximum(sq - mean * mean, 0))
    point = cv2.GaussianBlur(L, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
    return np.stack([point, mean, std], axis=-1)


def _radius(shape: tuple[int, int]) -> int:
    return max(2, round(min(shape) / 32))


def hint_points(L: np.ndarray, n_points: int = N_POINTS) -> np.ndarray:
    """About ``n_points`` (y, x) int points spread over an (H, W) L image in [0, 100]: one per cell of a grid
    of the image's aspect, each at the place of its cell farthest from edges of brightness or texture.
    -> (N, 2) int64."""
    L = _check_l(L, "L")
    return _points(_features(L, _radius(L.shape)), int(n_points))


def _points(features: np.ndarray, n_points: int) -> np.ndarray:
    import cv2
    h, w = features.shape[:2]
    edges = np.zeros((h, w), np.float32)
    for c in (1, 2):   # local mean and texture: a flat/textured border of equal brightness counts as an edge
        gx = cv2.Sobel(features[..., c], cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(features[..., c], cv2.CV_32F, 0, 1, ksize=3)
        edges += np.hypot(gx, gy)
    edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))
    ny = max(1, round(np.sqrt(n_points * h / w)))
    nx = max(1, round(n_points / ny))
    ys, xs = np.linspace(0, h, ny + 1).round().astype(int), np.linspace(0, w, nx + 1).round().astype(int)
    pts = []
    for y0, y1 in zip(ys[:-1], ys[1:]):
        for x0, x1 in zip(xs[:-1], xs[1:]):
            if y1 <= y0 or x1 <= x0:
                continue
            cell = edges[y0:y1, x0:x1]
            # ties (flat cells) go to the pixel nearest the cell centre, so points stay spread
            yy, xx = np.mgrid[y0:y1, x0:x1]
            centre = np.hypot(yy - (y0 + y1 - 1) / 2, xx - (x0 + x1 - 1) / 2)
            k = int(np.argmin(cell + 1e-3 * centre))
            pts.append((y0 + k // cell.shape[1], x0 + k % cell.shape[1]))
    return np.asarray(pts, np.int64).reshape(-1, 2)


class _Reference:
    """A reference prepared for matching at one scale: candidate features (M, 3) of its raw L, their ab
    (M, 2) and its L's 5th/95th percentiles. It does not depend on the frame, so a film coloured from one
    reference prepares it once."""

    def __init__(self, reference_rgb: np.ndarray, long_side: int, radius: int):
        import cv2
        lab = _reference_lab(reference_rgb, long_side)
        self.radius = radius
        # the ab of a candidate is that of its immediate neighbourhood, as a hint patch stands for one
        ab = cv2.blur(lab[..., 1:], (3, 3), borderType=cv2.BORDER_REFLECT)
        step = max(1, int(np.ceil(np.sqrt(lab[..., 0].size / MAX_CANDIDATES))))
        self.features = _features(lab[..., 0], self.radius)[::step, ::step].reshape(-1, 3)
        self.ab = ab[::step, ::step].reshape(-1, 2)
        self.levels = tuple(float(v) for v in np.percentile(lab[..., 0], (5, 95)))

    def matched(self, L_target: np.ndarray) -> np.ndarray:
        """The features after mapping the reference's L linearly so its 5th/95th percentiles meet the
        target's (scale kept in [0.5, 2]): a brighter or flatter print still matches by structure, not by
        absolute level. The features are linear in L (the spread scales), so this maps them exactly."""
        rlo, rhi = self.levels
        tlo, thi = np.percentile(L_target, (5, 95))
        scale = float(np.clip((thi - tlo) / max(rhi - rlo, 1e-3), 0.5, 2.0))
        shift = (tlo + thi) / 2 - (rlo + rhi) / 2 * scale
        return self.features * np.float32(scale) + np.array([shift, shift, 0], np.float32)


def sample_hints(L_target: np.ndarray, reference_rgb: np.ndarray, n_points: int = N_POINTS,
                 patch: int = PATCH, max_spread: float = MAX_SPREAD, max_distance: float = MAX_DISTANCE,
                 tolerance: float = TOLERANCE
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Colour hints for an (H, W) float32 L target in [0, 100] from an (h, w, 3) uint8 RGB reference of any
    size: -> (ab_hint (H, W, 2) float32 in Lab units, zero off the hints; mask (H, W) float32, 1 on the hints).

    Each of about ``n_points`` spread points (:func:`hint_points`) takes the median ab of the reference pixels
    about as close as the closest in (L, local mean, local spread) (within ``tolerance``; at least
    ``K_NEAREST``), painted as a ``patch`` x ``patch`` square. A point is left without a hint when those
    disagree (median distance to their median over ``max_spread`` ab units) or the closest is farther than
    ``max_distance`` (Lab L units)."""
    L = _check_l(L_target, "L_target")
    if not 1 <= int(n_points) <= 4096 or not 1 <= int(patch) <= 64:
        raise InputError(f"n_points must be 1..4096 and patch 1..64, got {n_points} and {patch}")
    return _hints(L, _Reference(reference_rgb, max(L.shape), _radius(L.shape)), int(n_points), int(patch), max_spread,
                  max_distance, tolerance)


def _hints(L: np.ndarray, ref: _Reference, n_points: int, patch: int = PATCH, max_spread: float = MAX_SPREAD,
           max_distance: float = MAX_DISTANCE, tolerance: float = TOLERANCE) -> tuple[np.ndarray, np.ndarray]:
    h, w = L.shape
    cand, cand_ab = ref.matched(L), ref.ab
    target = _features(L, ref.radius)
    pts = _points(target, n_points)
    k = min(K_NEAREST, cand.shape[0])
    colour = np.zeros((len(pts), 2), np.float32)
    spread = np.zeros(len(pts), np.float32)
    best = np.zeros(len(pts), np.float32)
    for i, (y, x) in enumerate(pts):
        d2 = ((cand - target[y, x]) ** 2).sum(-1)
        best[i] = np.sqrt(d2.min())
        # every candidate about as good as the best votes, not an arbitrary few among near-ties: colours
        # that luminance cannot tell apart then show up as a wide spread
        near = d2 <= max(np.partition(d2, k - 1)[k - 1], (best[i] + tolerance) ** 2)
        colour[i] = np.median(cand_ab[near], axis=0)
        spread[i] = np.median(np.linalg.norm(cand_ab[near] - colour[i], axis=-1))
    keep = (spread <= max_spread) & (best <= max_distance)

    ab_hint = np.zeros((h, w, 2), np.float32)
    mask = np.zeros((h, w), np.float32)
    half = (patch - 1) // 2
    for (y, x), c in zip(pts[keep], colour[keep]):
        y0, x0 = min(max(0, y - half), max(0, h - patch)), min(max(0, x - half), max(0, w - patch))
        ab_hint[y0:y0 + patch, x0:x0 + patch] = c
        mask[y0:y0 + patch, x0:x0 + patch] = 1
    return ab_hint, mask


def _resize_l(L: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image
    if L.shape == (size, size):
        return L
    # PIL bicubic (antialiased when shrinking), as the official demo's resize (resample=3)
    img = Image.fromarray(np.ascontiguousarray(L, np.float32)).resize((size, size), Image.BICUBIC)
    return np.clip(np.asarray(img, np.float32), 0, 100)


class Siggraph17Colorizer:
    """The SIGGRAPH17 network on a device, colouring single frames, optionally hinted from a reference.

    ``model_path``: a file name in models/colorization (``siggraph17-df00044c.pth``) or a path; resolved at
    once, so a missing model is reported before any work. The network is loaded on first use (and shared
    through the model cache)."""

    def __init__(self, model_path: str, device: str = "auto", n_points: int = N_POINTS):
        self.path = resolve_model(model_path)
        self.device_name = device
        self.n_points = int(n_points)
        self._loaded: Any = None
        self._reference: tuple[str, Any] | None = None

    def _model(self) -> Any:
        if self._loaded is None:
            import torch
            from ...model_loaders.device import MODEL_CACHE, pick_device
            from ...model_loaders.siggraph17 import load_siggraph17
            device = pick_device(self.device_name)
            net = MODEL_CACHE.get(self.path, device, torch.float32, lambda: load_siggraph17(self.path).to(device))
            self._loaded = (device, net)
        return self._loaded

    def _prepared(self, reference_rgb: np.ndarray, size: int) -> _Reference:
        """The reference prepared for a ``size`` square, kept while the same picture comes again."""
        import hashlib
        ref = np.ascontiguousarray(reference_rgb)
        key = f"{hashlib.sha1(ref.tobytes()).hexdigest()}{ref.shape}{ref.dtype}{size}"
        if self._reference is None or self._reference[0] != key:
            self._reference = (key, _Reference(ref, size, _radius((size, size))))
        return self._reference[1]

    def colorize(self, L: np.ndarray, reference_rgb: np.ndarray | None = None, work_size: int = 256
                 ) -> np.ndarray:
        """(H, W) float32 L in [0, 100] (and an optional (h, w, 3) uint8 RGB reference) -> (H, W, 2) float32
        ab in Lab units. The network sees a ``work_size`` square (rounded to a multiple of 8; official 256)."""
        import torch
        import torch.nn.functional as F
        L = _check_l(L, "L")
        if not 16 <= int(work_size) <= 2048:
            raise InputError(f"work_size (the square side the network sees) must be 16..2048, got {work_size}; "
                             f"the official size is 256")
        size = max(16, round(int(work_size) / 8) * 8)
        small = _resize_l(L, size)
        device, net = self._model()
        with torch.inference_mode():
            lt = torch.from_numpy(small)[None, None].to(device)
            if reference_rgb is None:
                ab = net(lt)
            else:
                hint, mask = _hints(small, self._prepared(reference_rgb, size), self.n_points)
                ht = torch.from_numpy(np.ascontiguousarray(hint.transpose(2, 0, 1)))[None].to(device)
                ab = net(lt, ht, torch.from_numpy(mask)[None, None].to(device))
            ab = F.interpolate(ab, size=L.shape, mode="bilinear", align_corners=False)
            return np.ascontiguousarray(ab[0].permute(1, 2, 0).float().cpu().numpy(), dtype=np.float32)
