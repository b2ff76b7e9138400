"""FilmDeOldify: colour a black-and-white film with DeOldify, keeping the film's own luma."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..filmlib.clip import Film, require_film
from .common import CATEGORY, FILM
from .models_common import RUNTIME_INPUTS, check_resolves, model_choice


class FilmDeOldify:
    DESCRIPTION = ("Colour a black-and-white (or faded) film with DeOldify (Jason Antic; the official code and "
                   "weights are MIT licensed). Put one of the official generators in models/deoldify: "
                   "ColorizeVideo_gen.pth (trained for smooth, flicker-free video; the least colourful), "
                   "ColorizeStable_gen.pth (the same architecture, trained for photos: landscapes, portraits) or "
                   "ColorizeArtistic_gen.pth (the most vivid and detailed, but flickers more). Each frame is "
                   "coloured as the official video colouriser does it; only the colour comes from the model: "
                   "brightness and detail stay the film's own, at full resolution and bit depth. The output is "
                   "always RGB. Without weights (model 'none'), connect a colour photo to 'reference': the film "
                   "is then coloured from it by exemplar transfer, as FilmReferenceColorize does.")
    CATEGORY = f"{CATEGORY}/colour"
    RETURN_TYPES = (FILM,)
    RETURN_NAMES = ("film",)
    OUTPUT_TOOLTIPS = ("The coloured clip (RGB, the source's size and bit depth).",)
    FUNCTION = "colorize"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        rt = dict(RUNTIME_INPUTS)
        rt.pop("tile")   # the network sees one small square per frame: nothing to tile
        return {"required": {
            "film": (FILM, {"tooltip": "The clip to colour (gray or colour; colour is reduced to its luma)."}),
            "model": model_choice("deoldify", "DeOldify generator in models/deoldify: ColorizeVideo_gen.pth "
                                              "(video), ColorizeStable_gen.pth or ColorizeArtistic_gen.pth (MIT)."),
            "render_factor": ("INT", {"default": 21, "min": 7, "max": 45, "step": 1,
                                      "tooltip": "The model colours a square of render_factor x 16 pixels, then "
                                                 "the colour is stretched over the frame. 21 is the official "
                                                 "video default; 10-15 is often best for old, soft or grainy "
                                                 "footage (steadier, less blotchy colour); higher renders finer "
                                                 "colour detail on clean scans, slower and with more memory."}),
            "strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.05,
                                   "tooltip": "Colour saturation: 1 the model's colour, 0 the film stays gray."}),
            "batch_size": ("INT", {"default": 4, "min": 1, "max": 64,
                                   "tooltip": "Frames through the network at once (halved automatically if the "
                                              "GPU runs out of memory)."}),
            **rt,
        }, "optional": {
            "reference": ("IMAGE", {"tooltip": "With model 'none' (no weights): colour photo(s) to colour the film "
                                               "from instead (exemplar transfer, no weights)."}),
            "scenes": ("SCENES", {"tooltip": "With a reference: the shots, so no colour crosses a cut."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, model: str) -> bool | str:
        from ..filmlib.colorize.deoldify import resolve_model
        # 'none' is the weight-free path; the run says what to do if no reference is connected
        return True if model == "none" else check_resolves(resolve_model, model)

    def colorize(self, film: Film, model: str, render_factor: int, strength: float, batch_size: int,
                 device: str, precision: str, reference: Any = None, scenes: Any = None) -> tuple[Film]:
        from ..filmlib.colorize.deoldify import DeOldifyStage, resolve_model
        film = require_film(film)
        if model == "none" and reference is not None:
            from ..filmlib.colorize.reference import ReferenceColorizeStage
            from .reference_colorize_node import _frames
            return (ReferenceColorizeStage(film, list(_frames(reference, np.uint8, "reference")),
                                           scenes.cuts if scenes is not None else None),)
        resolve_model(model)   # 'none' without a reference: which files to get, or to connect a photo
        return (DeOldifyStage(film, model, render_factor, strength, device, precision, batch_size),)
