"""A film-degradation model: what a century does to a print, with the ground truth kept.

Per frame (deterministic from ``seed`` and the frame index, so any chunking gives the same result):
grayscale, softness (Gaussian blur), gate weave (a sub-pixel translation), flicker (exposure gain and
offset), grain (clumped Gaussian noise), vertical scratches (long-lived lines that drift), and dust and
blotches (dark or bright specks that live one frame).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .clip import ClipInfo, Film, FrameStage


@dataclass(frozen=True)
class DegradeParams:
    """Strengths of each defect; 0 turns it off."""

    seed: int = 0
    grayscale: bool = True
    blur: float = 1.0          # Gaussian sigma in pixels
    weave: float = 1.5         # RMS gate-weave offset in pixels
    flicker: float = 0.08      # RMS relative exposure change per frame
    grain: float = 0.04        # RMS grain, fraction of full scale
    scratches: int = 2         # scratch tracks alive at a time
    dust: float = 6.0          # mean dust specks and blotches per frame
    vignette: float = 0.25     # darkening at the corners

    def __post_init__(self) -> None:
        for name in ("blur", "weave", "flicker", "grain", "dust", "vignette"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.scratches < 0:
            raise ValueError(f"scratches must be >= 0, got {self.scratches}")


def weave_offset(params: DegradeParams, index: int) -> tuple[float, float]:
    """The (dx, dy) gate-weave translation of frame ``index`` in pixels (the ground truth for stabilizers)."""
    if params.weave == 0:
        return 0.0, 0.0
    rng = np.random.default_rng([params.seed, index, 1])
    # weave is mostly horizontal in a projector gate; vertical jitter comes from the sprocket registration
    dx, dy = rng.normal(0.0, 1.0, 2)
    return float(dx * params.weave), float(dy * params.weave * 0.6)


def flicker_gain(params: DegradeParams, index: int) -> tuple[float, float]:
    """Exposure gain and offset of frame ``index``."""
    if params.flicker == 0:
        return 1.0, 0.0
    rng = np.random.default_rng([params.seed, index, 2])
    g, o = rng.normal(0.0, 1.0, 2)
    return float(1.0 + params.flicker * g), float(0.02 * params.flicker / 0.08 * o)


def _scratch_lines(params: DegradeParams, index: int, width: int) -> list[tuple[float, float, float]]:
    """Scratches on frame ``index`` as (x, width_px, signed strength); tracks live ~12-40 frames and drift."""
    lines = []
    for track in range(params.scratches):
        # each track is a sequence of scratches; which one is alive depends on the frame index
        period = 12 + (track * 7) % 29
        epoch = index // period
        rng = np.random.default_rng([params.seed, track, epoch, 3])
        if rng.random() < 0.25:   # some epochs have no scratch on this track
            continue
        x0 = rng.uniform(0.05, 0.95) * width
        drift = rng.normal(0.0, 0.4)
        x = x0 + drift * (index % period)
        strength = rng.choice([-1.0, 1.0]) * rng.uniform(0.25, 0.6)
        lines.append((x, rng.uniform(0.8, 2.0), strength))
    return lines


def defect_mask(params: DegradeParams, index: int, height: int, width: int) -> np.ndarray:
    """Signed defect layer of frame ``index`` (H, W) float32 in about [-1, 1]: scratches, dust and blotches."""
    import cv2
    layer = np.zeros((height, width), np.float32)
    xs = np.arange(width, dtype=np.float32)
    rng_line = np.random.default_rng([params.seed, index, 4])
    for x, w, s in _scratch_lines(params, index, width):
        profile = np.exp(-0.5 * ((xs - x) / w) ** 2).astype(np.float32)
        along = (0.7 + 0.3 * rng_line.random(height)).astype(np.float32)[:, None]
        layer += s * profile[None, :] * along
    if params.dust > 0:
        rng = np.random.default_rng([params.seed, index, 5])
        for _ in range(rng.poisson(params.dust)):
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            big = rng.random() < 0.2  # a few blotches among the dust
            ax = rng.uniform(4, 14) if big else rng.uniform(0.8, 3)
            ay = ax * rng.uniform(0.5, 1.5)
            blob = np.zeros((height, width), np.float32)
            cv2.ellipse(blob, (int(cx * 16), int(cy * 16)), (int(ax * 16), int(ay * 16)), rng.uniform(0, 180),
                        0, 360, 1.0, -1, cv2.LINE_AA, 4)
            sign = -1.0 if rng.random() < 0.7 else 1.0  # dust prints dark, emulsion damage bright
            layer += sign * rng.uniform(0.5, 0.9) * blob
    return layer


def degrade_frame(frame: np.ndarray, index: int, params: DegradeParams) -> np.ndarray:
    """Degrade one ``(H, W, C)`` uint8/uint16 frame; returns the same dtype with 1 channel when grayscale."""
    import cv2
    maxv = 65535.0 if frame.dtype == np.uint16 else 255.0
    img = frame.astype(np.float32) / maxv
    h, w = img.shape[:2]
    if params.grayscale and img.shape[-1] == 3:
        img = (0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2])[..., None]
    if params.blur > 0:
        img = cv2.GaussianBlur(img, (0, 0), params.blur).reshape(h, w, -1)
    dx, dy = weave_offset(params, index)
    if dx or dy:
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        img = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT).reshape(h, w, -1)
    gain, offset = flicker_gain(params, index)
    img = img * gain + offset
    if params.vignette > 0:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
        img = img * (1.0 - params.vignette * 0.5 * r2)[..., None]
    layer = defect_mask(params, index, h, w)
    img = np.where(layer[..., None] < 0, img * (1 + layer[..., None]), img + layer[..., None] * (1 - img))
    if params.grain > 0:
        rng = np.random.default_rng([params.seed, index, 6])
        noise = rng.normal(0.0, 1.0, (h, w)).astype(np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), 0.7) * 1.9  # clumped grain, restore its RMS after the blur
        img = img + params.grain * noise[..., None]
    return np.clip(img * maxv + 0.5, 0, maxv).astype(frame.dtype)


class DegradeStage(FrameStage):
    """``degrade_frame`` over a Film."""

    name = "degrade"
    version = "1"

    def __init__(self, source: Film, params: DegradeParams):
        channels = 1 if params.grayscale else source.info.channels
        info: ClipInfo = source.info.with_(channels=channels)
        super().__init__(source, asdict(params), info=info)
        self.degrade = params

    def process_frame(self, frame: np.ndarray, index: int) -> np.ndarray:
        return degrade_frame(frame, index, self.degrade)


def truth_for(params: DegradeParams, frame_count: int) -> dict[str, Any]:
    """Ground truth of a degraded clip: per-frame weave offsets and flicker gains."""
    return {"weave": [weave_offset(params, i) for i in range(frame_count)],
            "flicker": [flicker_gain(params, i) for i in range(frame_count)],
            "params": asdict(params)}
