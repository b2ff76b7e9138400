"""Colour for one gray frame from a colour reference photo, without weights: exemplar transfer and global
statistics transfer, both in CIE Lab; and the recombination with the frame's own full-resolution luma.

``exemplar_ab`` (method ``transfer``), after Welsh et al., "Transferring Color to Greyscale Images" (SIGGRAPH
2002), with the neighbourhood statistics matched densely and an edge-aware filter after: the reference's
lightness is remapped to the frame's histogram; every pixel of both, at a matching size, gets a feature vector
(its lightness, local contrast at two scales, the lightness of its surroundings, and weakly its position); each
frame pixel takes the weighted mean chroma (a, b) of its nearest reference pixels in that feature space; the
chroma is then smoothed by a guided filter (He et al. 2010) on the frame's lightness, so colour follows the
frame's edges rather than the blocky match. ``global_ab`` is Reinhard et al. (2001): the frame's Lab mean and
standard deviation set to the reference's (a gray frame takes the reference's mean chroma).

``compose`` puts chroma back on the source luma so that the output's Rec.601 luma (OpenCV's ``RGB2GRAY``
integer formula) is bit-identical to the source's: colour never changes the picture's tones.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError

WORK_SIZE = 256      # short side (px) of the working resolution: chroma needs far less detail than luma
MATCH_SCALE = 0.5    # features are matched at half the working size (chroma is smoothed after anyway)
NEIGHBOURS = 8       # reference pixels averaged per frame pixel
MAX_REF_SAMPLES = 24000
# Feature weights (lightness in [0, 1] units), picked on real clips (bikes, bigbuckbunny, carphone made gray;
# benchmarks/bench_colour.py). Position is a bet that the reference is framed like the shot: with each shot's
# own first frame as its reference, position weight 0.4 gives mean CIEDE2000 4.19 against 5.53 without, but on
# the sample's mirrored, wider references 6.08 against 5.12; 0.25 is the default between.
W_LIGHT, W_TEXTURE, W_CONTEXT, W_POSITION = 1.0, 1.5, 0.3, 0.25
GUIDE_RADIUS, GUIDE_EPS = 6, 1e-3   # guided filter at the working size, on lightness in [0, 1]
_WR, _WG, _WB = 0.299, 0.587, 0.114   # Rec.601: the luma the output keeps exactly
_MARGIN = 3                           # code values kept free at both ends for the exact-luma fix-up


def working_shape(height: int, width: int, short_side: int = WORK_SIZE) -> tuple[int, int]:
    """(h, w) of a frame ``height`` x ``width`` at the working size (never enlarged)."""
    s = min(1.0, short_side / min(height, width))
    return max(8, int(round(height * s))), max(8, int(round(width * s)))


def resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """``img`` (H, W[, C]) float32 at (h, w): area when shrinking, linear otherwise."""
    import cv2
    if img.shape[:2] == (h, w):
        return img
    shrink = h < img.shape[0] and w < img.shape[1]
    out = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return out.reshape(h, w, *img.shape[2:])


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB float32 in [0, 1] -> Lab float32 (L in [0, 100], a/b about [-110, 110])."""
    import cv2
    return cv2.cvtColor(np.ascontiguousarray(rgb, np.float32), cv2.COLOR_RGB2Lab)


def gray_lightness(y: np.ndarray) -> np.ndarray:
    """(H, W) gray float32 in [0, 1] -> CIE L in [0, 100] (the lightness of that gray)."""
    import cv2
    y = np.ascontiguousarray(y, np.float32)
    return cv2.cvtColor(cv2.merge([y, y, y]), cv2.COLOR_RGB2Lab)[..., 0]


def reference_lab(reference: np.ndarray, height: int, width: int) -> np.ndarray:
    """A reference (H, W, 3) uint8/uint16/float [0, 1] RGB as Lab float32 at most ``height`` x ``width``-ish
    (its own aspect kept, short side that of the working size)."""
    ref = np.asarray(reference)
    if ref.ndim != 3 or ref.shape[-1] != 3:
        raise InputError(f"a reference must be an (H, W, 3) colour image, got shape {ref.shape}")
    if ref.dtype == np.uint8:
        f = ref.astype(np.float32) / 255.0
    elif ref.dtype == np.uint16:
        f = ref.astype(np.float32) / 65535.0
    else:
        f = np.clip(ref.astype(np.float32), 0.0, 1.0)
    h, w = working_shape(*f.shape[:2], min(height, width))
    return rgb_to_lab(resize(f, h, w))


def match_histogram(values: np.ndarray, template: np.ndarray) -> np.ndarray:
    """``values`` remapped so their distribution is ``template``'s (quantile mapping), same shape, float32."""
    q = np.linspace(0.0, 1.0, 257)
    src = np.quantile(values, q)
    dst = np.quantile(template, q)
    src = src + np.arange(257) * 1e-6   # strictly increasing for interp on flat stretches
    return np.interp(values, src, dst).astype(np.float32)


def _local_std(x: np.ndarray, sigma: float) -> np.ndarray:
    import cv2
    m = cv2.GaussianBlur(x, (0, 0), sigma)
    m2 = cv2.GaussianBlur(x * x, (0, 0), sigma)
    return np.sqrt(np.maximum(m2 - m * m, 0.0))


def features(light: np.ndarray, position: float = W_POSITION) -> np.ndarray:
    """(h, w) lightness in [0, 1] -> (h*w, 6) float32 matching features (weighted, see the W_ constants);
    ``position`` weighs where a pixel is in the frame."""
    import cv2
    h, w = light.shape
    scale = min(h, w) / 128.0     # neighbourhoods scale with the picture, not the pixel count
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cols = [W_LIGHT * cv2.GaussianBlur(light, (0, 0), 0.8 * scale),
            W_TEXTURE * _local_std(light, 1.5 * scale),
            W_TEXTURE * 0.5 * _local_std(light, 5.0 * scale),
            W_CONTEXT * cv2.GaussianBlur(light, (0, 0), 6.0 * scale),
            position * xx / max(h, w), position * yy / max(h, w)]
    return np.stack(cols, -1).reshape(-1, len(cols)).astype(np.float32)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter: ``src`` (h, w[, C]) float32 smoothed where ``guide`` (h, w) is flat and kept
    sharp at its edges. Box filters only (OpenCV's ximgproc is not in every build)."""
    import cv2
    k = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, k, borderType=cv2.BORDER_REFLECT)

    g = guide.astype(np.float32)
    p = src.astype(np.float32)
    g3 = g[..., None] if p.ndim == 3 else g
    mg, mp = box(g), box(p)
    mg3 = mg[..., None] if p.ndim == 3 else mg
    var = box(g * g) - mg * mg
    cov = box(p * g3).reshape(p.shape) - mg3 * mp.reshape(p.shape)
    a = cov / ((var + eps)[..., None] if p.ndim == 3 else var + eps)
    b = mp.reshape(p.shape) - a * mg3
    return (box(a).reshape(p.shape) * g3 + box(b).reshape(p.shape)).astype(np.float32)


def exemplar_ab(light: np.ndarray, ref_lab: np.ndarray, position: float = W_POSITION
                ) -> tuple[np.ndarray, np.ndarray]:
    """Chroma for a frame from a reference by dense feature matching (module docstring).

    ``light`` (h, w) float32 CIE L in [0, 100] of the frame at the working size; ``ref_lab`` (rh, rw, 3) the
    reference in Lab; ``position`` how much where things are in the frame counts (0: the reference may be
    framed any way). Returns ab (h, w, 2) float32 and a match confidence (h, w) in [0, 1].
    """
    from scipy.spatial import cKDTree
    h, w = light.shape
    mh, mw = max(8, int(round(h * MATCH_SCALE))), max(8, int(round(w * MATCH_SCALE)))
    rh, rw = ref_lab.shape[:2]
    s = min(1.0, np.sqrt(MAX_REF_SAMPLES / (rh * rw)), (mh * mw / (rh * rw)) ** 0.5 * 1.2)
    rh2, rw2 = max(8, int(round(rh * s))), max(8, int(round(rw * s)))
    ref = resize(ref_lab, rh2, rw2)
    t_light = resize(light, mh, mw) / 100.0
    r_light = match_histogram(ref[..., 0] / 100.0, t_light)
    tf, rf = features(t_light, position), features(r_light, position)
    dist, idx = cKDTree(rf).query(tf, k=NEIGHBOURS)
    ab_ref = ref[..., 1:].reshape(-1, 2)
    wgt = 1.0 / (dist + 0.01)
    ab = np.einsum("nk,nkc->nc", wgt, ab_ref[idx]) / wgt.sum(1, keepdims=True)
    conf = np.exp(-(dist[:, 0] / 0.05) ** 2)
    ab = resize(ab.reshape(mh, mw, 2).astype(np.float32), h, w)
    conf = resize(conf.reshape(mh, mw).astype(np.float32), h, w)
    ab = guided_filter(light / 100.0, ab, GUIDE_RADIUS, GUIDE_EPS)
    return ab, conf


def global_ab(lab: np.ndarray, ref_lab: np.ndarray) -> np.ndarray:
    """Reinhard statistics transfer of chroma: ``lab`` (h, w, 3) the frame (gray: a = b = 0), ``ref_lab`` the
    reference; (h, w, 2) float32 ab with the reference's mean and standard deviation."""
    src = lab[..., 1:].reshape(-1, 2)
    ref = ref_lab[..., 1:].reshape(-1, 2)
    mu_s, sd_s = src.mean(0), src.std(0)
    mu_r, sd_r = ref.mean(0), ref.std(0)
    gain = np.where(sd_s > 1e-3, sd_r / np.maximum(sd_s, 1e-3), 0.0)
    return ((lab[..., 1:] - mu_s) * gain + mu_r).astype(np.float32)


def source_luma(frame: np.ndarray) -> np.ndarray:
    """(H, W, 1|3) uint8/uint16 frame -> (H, W) Rec.601 luma of the same dtype, as OpenCV's ``RGB2GRAY`` (what
    the film's gray picture is; a gray frame is its own luma)."""
    import cv2
    if frame.shape[-1] == 1:
        return frame[..., 0]
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def compose(y: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """Luma ``y`` (H, W) uint8/uint16 and chroma ``ab`` (H, W, 2) float32 -> (H, W, 3) RGB of ``y``'s dtype
    whose :func:`source_luma` equals ``y`` exactly. Out-of-gamut colour is desaturated towards ``y``'s gray."""
    import cv2
    maxv = 65535.0 if y.dtype == np.uint16 else 255.0
    yf = y.astype(np.float32) / np.float32(maxv)
    lab = cv2.merge([gray_lightness(yf), np.ascontiguousarray(ab[..., 0]), np.ascontiguousarray(ab[..., 1])])
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * np.float32(maxv)
    off = rgb - (_WR * rgb[..., 0] + _WG * rgb[..., 1] + _WB * rgb[..., 2])[..., None]   # luma-free chroma
    yv = y.astype(np.float32)
    # a margin for the integer fix-up below (OpenCV's 16-bit luma is off the exact formula by up to 1.6)
    lo = np.minimum(yv, float(_MARGIN))[..., None]
    hi = np.maximum(yv, maxv - _MARGIN)[..., None]
    # the largest share of the chroma that keeps every channel in [lo, hi]
    room = np.where(off > 0, (hi - yv[..., None]) / np.maximum(off, 1e-6),
                    np.where(off < 0, (lo - yv[..., None]) / np.minimum(off, -1e-6), np.inf))
    s = np.clip(room.min(-1, keepdims=True), 0.0, 1.0)
    out = np.rint(yv[..., None] + s * off).astype(np.int64)
    target = y.astype(np.int64)
    for _ in range(3):
        # adding k to all three channels moves OpenCV's integer luma by exactly k (its weights sum to one)
        d = target - source_luma(out.astype(y.dtype)).astype(np.int64)
        if not d.any():
            break
        out = np.clip(out + d[..., None], 0, int(maxv))
    return out.astype(y.dtype)
