"""Channel handling shared by the readers: grayscale detection and conversion."""
from __future__ import annotations

import numpy as np

COLOR_MODES = ("auto", "grayscale", "color")


def looks_gray(frames: list[np.ndarray]) -> bool:
    """True when every sampled ``(H, W, 3)`` frame has (almost) equal R, G and B: a gray film in an RGB file."""
    for f in frames:
        if f.ndim == 2 or f.shape[-1] == 1:
            continue
        scale = 256 if f.dtype == np.uint16 else 1
        tol = 6 * scale  # chroma subsampling and compression leave a few levels of tint on gray content
        sub = f[::4, ::4].astype(np.int32)
        spread = np.maximum(np.abs(sub[..., 0] - sub[..., 1]), np.abs(sub[..., 1] - sub[..., 2]))
        if np.mean(spread > tol) > 0.002 or np.mean(spread) > 1.5 * scale:
            return False
    return True


def to_channels(frame: np.ndarray, channels: int) -> np.ndarray:
    """Convert an ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` RGB(A) frame to ``channels`` (1 or 3)."""
    if frame.ndim == 2:
        frame = frame[..., None]
    if frame.shape[-1] == 4:
        frame = frame[..., :3]
    if frame.shape[-1] == channels:
        return frame
    if channels == 3:
        return np.repeat(frame, 3, axis=-1)
    # Rec.601 luma, as FFmpeg's gray conversion uses
    f = frame.astype(np.float32)
    y = 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]
    return np.clip(np.rint(y), 0, np.iinfo(frame.dtype).max).astype(frame.dtype)[..., None]
