"""Still photographs (reference photos for colour, keyframes): one file or a folder of them, as one batch."""
from __future__ import annotations

import os

import numpy as np

from ..errors import DecodeError, InputError
from .sequence_source import find_sequence, read_image

MAX_PHOTOS = 1024   # a folder of a whole reel's frames is a film: load it with FilmLoadVideo instead


def photo_files(path: str) -> list[str]:
    """The image files ``path`` names: itself, or a folder's (or glob's) images in natural order."""
    files = find_sequence(path)
    if not files:
        raise InputError(f"no photos at {path!r}: give an image file (PNG, JPEG, TIFF...) or a folder of them")
    if len(files) > MAX_PHOTOS:
        raise InputError(f"{path!r} holds {len(files)} images, more than {MAX_PHOTOS} photos: for a frame sequence "
                         f"use FilmLoadVideo")
    return files


def load_photos(files: list[str]) -> np.ndarray:
    """(n, H, W, 3) uint16 RGB of every file, each fitted into the first one's size (aspect kept, letterboxed in
    black) so they form one batch; 8-bit images are scaled to 16 bits so none loses precision."""
    import cv2
    out: list[np.ndarray] = []
    for path in files:
        img = read_image(path)
        if img.ndim == 2:
            img = img[..., None]
        img = img[..., :3] if img.shape[-1] >= 3 else np.repeat(img, 3, axis=-1)
        img = img.astype(np.uint16) * 257 if img.dtype == np.uint8 else img.astype(np.uint16)
        if out and img.shape[:2] != out[0].shape[:2]:
            h, w = out[0].shape[:2]
            scale = min(w / img.shape[1], h / img.shape[0])
            nw, nh = max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale))
            small = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
            canvas = np.zeros_like(out[0])
            y0, x0 = (h - nh) // 2, (w - nw) // 2
            canvas[y0:y0 + nh, x0:x0 + nw] = small
            img = canvas
        out.append(np.ascontiguousarray(img))
    if not out:
        raise DecodeError("no photo could be read")
    return np.stack(out)


def describe(files: list[str]) -> str:
    names = [os.path.basename(f) for f in files]
    return ", ".join(names[:4]) + (f" ... ({len(names)} photos)" if len(names) > 4 else "")
