"""FilmToImages, FilmFromImages, FilmFromVideo: FILM <-> ComfyUI's IMAGE batches and core VIDEO."""
from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from ..filmlib.clip import ArrayFilm, Film, require_film
from ..filmlib.io.open import open_clip
from ..filmlib.io.video_source import snap_rate
from .common import CATEGORY, FILM, to_image_batch


class FilmToImages:
    DESCRIPTION = ("A frame range of a FILM as a ComfyUI IMAGE batch (float32 RGB), so any image node can work "
                   "on a short clip. Keep the range short: IMAGE batches live in memory.")
    CATEGORY = f"{CATEGORY}/convert"
    RETURN_TYPES = ("IMAGE", "FLOAT")
    RETURN_NAMES = ("images", "fps")
    OUTPUT_TOOLTIPS = ("Frames as (n, H, W, 3) floats in [0, 1].", "Frame rate of the clip.")
    FUNCTION = "convert"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "film": (FILM, {"tooltip": "The clip."}),
            "start": ("INT", {"default": 0, "min": 0, "max": 10_000_000, "tooltip": "First frame of the range."}),
            "count": ("INT", {"default": 16, "min": 1, "max": 4096,
                              "tooltip": "Number of frames (clamped to the clip's end)."}),
        }}

    def convert(self, film: Film, start: int, count: int) -> tuple[Any, float]:
        film = require_film(film)
        n = film.info.frame_count
        if start >= n:
            raise ValueError(f"start {start} is past the clip's end ({n} frames); choose a start below {n}")
        return to_image_batch(film.read(start, min(n, start + count))), float(film.info.fps)


class FilmFromImages:
    DESCRIPTION = "An IMAGE batch and a frame rate as a FILM (8-bit, or 16-bit to keep precision)."
    CATEGORY = f"{CATEGORY}/convert"
    RETURN_TYPES = (FILM,)
    RETURN_NAMES = ("film",)
    OUTPUT_TOOLTIPS = ("The frames as a clip.",)
    FUNCTION = "convert"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "images": ("IMAGE", {"tooltip": "Frames (n, H, W, C) in [0, 1]."}),
            "fps": ("FLOAT", {"default": 24.0, "min": 0.01, "max": 1000.0, "step": 0.001,
                              "tooltip": "Frame rate of the clip."}),
            "bit_depth": (["8", "16"], {"default": "8", "tooltip": "Precision of the stored frames."}),
        }}

    def convert(self, images: Any, fps: float, bit_depth: str) -> tuple[Film]:
        arr = images.detach().cpu().float().numpy() if hasattr(images, "detach") else np.asarray(images, np.float32)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4:
            raise ValueError(f"images must be an IMAGE batch (n, H, W, C), got shape {arr.shape}")
        arr = arr[..., :3]
        if arr.shape[-1] == 3 and np.abs(arr[..., 0] - arr[..., 1]).max() < 1e-6 and \
                np.abs(arr[..., 1] - arr[..., 2]).max() < 1e-6:
            arr = arr[..., :1]  # gray content stays one channel, as FilmLoadVideo does
        maxv, dtype = (65535, np.uint16) if bit_depth == "16" else (255, np.uint8)
        frames = np.clip(arr * maxv + 0.5, 0, maxv).astype(dtype)
        return (ArrayFilm(frames, snap_rate(fps), name="images"),)


class FilmFromVideo:
    DESCRIPTION = "ComfyUI core's VIDEO (from Load Video) as a FILM; a file-backed VIDEO is re-opened lazily."
    CATEGORY = f"{CATEGORY}/convert"
    RETURN_TYPES = (FILM,)
    RETURN_NAMES = ("film",)
    OUTPUT_TOOLTIPS = ("The video as a clip.",)
    FUNCTION = "convert"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"video": ("VIDEO", {"tooltip": "A VIDEO from ComfyUI's core video nodes."})}}

    def convert(self, video: Any) -> tuple[Film]:
        source = video.get_stream_source() if hasattr(video, "get_stream_source") else None
        if isinstance(source, str):
            return (open_clip(source),)
        components = video.get_components()
        images = components.images
        return FilmFromImages().convert(images, float(Fraction(components.frame_rate)), "8")
