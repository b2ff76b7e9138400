"""FilmLoadPhotos: reference photos (one file or a folder) as an IMAGE batch, for the colour nodes."""
from __future__ import annotations

import os
from typing import Any

from .. import comfy_bridge as bridge
from ..filmlib.errors import InputError
from ..filmlib.io.photos import load_photos, photo_files
from ..filmlib.io.sequence_source import IMAGE_EXTENSIONS
from .common import CATEGORY, list_input, to_image_batch


def list_input_photos() -> list[str]:
    """Image files and folders holding images in the input folder, for the chooser."""
    return list_input(IMAGE_EXTENSIONS, IMAGE_EXTENSIONS)


class FilmLoadPhotos:
    DESCRIPTION = ("Load colour reference photos, one image or a whole folder (in name order: one per shot), as "
                   "an IMAGE batch for FilmReferenceColorize, FilmDeOldify's reference or FilmRemaster's "
                   "deepremaster references. Photos of other sizes are fitted into the first one's size. ComfyUI's "
                   "own Load Image works as well for a single uploaded photo.")
    CATEGORY = f"{CATEGORY}/io"
    RETURN_TYPES = ("IMAGE", "INT")
    RETURN_NAMES = ("images", "count")
    OUTPUT_TOOLTIPS = ("The photos, in name order.", "How many photos.")
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "photos": (list_input_photos() or [""], {
                "tooltip": "An image, or a folder of images, in the input folder (headless: any path or glob)."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, photos: str) -> bool | str:
        if not photos:
            return "no photos chosen: put an image or a folder of images in the input folder"
        try:
            photo_files(bridge.resolve_input_path(photos))
        except InputError as exc:
            return str(exc)
        return True

    @classmethod
    def IS_CHANGED(cls, photos: str) -> str:
        try:
            files = photo_files(bridge.resolve_input_path(photos))
        except InputError:
            return photos
        return "|".join(f"{f}:{os.path.getsize(f)}:{os.stat(f).st_mtime_ns}" for f in files)

    def load(self, photos: str) -> tuple[Any, int]:
        files = photo_files(bridge.resolve_input_path(photos))
        bridge.check_inside_input(files)
        batch = load_photos(files)
        return to_image_batch(batch), len(batch)
