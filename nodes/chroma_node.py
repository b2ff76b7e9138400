"""FilmChromaStabilize: remove colour flicker, luma untouched; FilmColourFlicker: measure it."""
from __future__ import annotations

from typing import Any

from .. import comfy_bridge as bridge
from ..filmlib.clip import Film, require_film
from ..filmlib.colorize.chroma_stabilize import ChromaStabilizeStage
from ..filmlib.colorize.flicker_metric import DEFAULT_WIDTH, flicker_plot, format_report, measure_flicker
from ..filmlib.errors import InputError
from ..filmlib.scenes import Scenes
from .common import CATEGORY, FILM, to_image_batch


class FilmChromaStabilize:
    DESCRIPTION = ("Steady the colour of a colourised (or faded colour) film without touching its brightness: "
                   "each frame's chroma is averaged with its neighbours' (a few frames either side, same shot), "
                   "warped onto it with optical flow, and only where the flow can be trusted and the brightness "
                   "matches, so moving edges do not smear. The luma is kept bit for bit. Works after any "
                   "colouriser, ours or another pack's (through FilmFromImages). Nothing is borrowed across a cut.")
    CATEGORY = f"{CATEGORY}/colour"
    RETURN_TYPES = (FILM,)
    RETURN_NAMES = ("film",)
    OUTPUT_TOOLTIPS = ("The clip with steadier colour; its luma (Rec.601 8/16-bit gray) is the input's exactly.",)
    FUNCTION = "stabilize"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "film": (FILM, {"tooltip": "The colour clip to steady (a gray clip passes through unchanged)."}),
            "strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.05,
                                   "tooltip": "0 leaves the colour as it is, 1 takes the full motion-compensated "
                                              "average of the neighbours' colour."}),
            "radius": ("INT", {"default": 3, "min": 1, "max": 12,
                               "tooltip": "Frames either side averaged: more evens out more flicker, and costs "
                                          "time (two optical flows per frame per step)."}),
            "luma_tolerance": ("FLOAT", {"default": 0.04, "min": 0.005, "max": 1.0, "step": 0.005,
                                         "tooltip": "How closely (share of full scale) a neighbour's warped "
                                                    "brightness must match for its colour to count: lower "
                                                    "protects moving edges more, higher averages more."}),
            "detect_cuts": ("BOOLEAN", {"default": True,
                                        "tooltip": "Without SCENES: find cuts between frames and never average "
                                                   "across them."}),
        }, "optional": {
            "scenes": ("SCENES", {"tooltip": "Shots from FilmSceneDetect: averaging restarts at every cut."}),
        }}

    def stabilize(self, film: Film, strength: float, radius: int, luma_tolerance: float, detect_cuts: bool,
                  scenes: Scenes | None = None) -> tuple[Film]:
        film = require_film(film)
        if scenes is not None:
            scenes.check_film(film.info.frame_count)
        return (ChromaStabilizeStage(film, strength, radius, luma_tolerance,
                                     scenes.cuts if scenes is not None else None, detect_cuts),)


class FilmColourFlicker:
    DESCRIPTION = ("Measure colour flicker: the mean CIELAB chroma difference (ab units; about 1 is just "
                   "noticeable) between each frame and the next one warped onto it with optical flow, over the "
                   "pixels whose motion is trusted; cuts do not count. Connect 'before' to compare two versions "
                   "of one clip (e.g. before and after FilmChromaStabilize).")
    CATEGORY = f"{CATEGORY}/colour"
    RETURN_TYPES = ("STRING", "IMAGE", "FLOAT")
    RETURN_NAMES = ("report", "plot", "flicker")
    OUTPUT_TOOLTIPS = ("The clip's figure, its spread and the cuts (and the ratio to 'before').",
                       "Per-frame flicker, cuts as grey lines ('before' too when connected).",
                       "The clip's mean flicker in ab units.")
    FUNCTION = "measure"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "film": (FILM, {"tooltip": "The clip to measure."}),
            "width": ("INT", {"default": DEFAULT_WIDTH, "min": 64, "max": 4096, "step": 16,
                              "tooltip": "Width frames are measured at (chroma is smooth: the figure hardly "
                                         "changes; smaller is faster)."}),
        }, "optional": {
            "scenes": ("SCENES", {"tooltip": "Shots from FilmSceneDetect (without it, cuts are detected)."}),
            "before": (FILM, {"tooltip": "Another version of the same clip to compare against."}),
        }}

    def measure(self, film: Film, width: int, scenes: Scenes | None = None, before: Film | None = None
                ) -> dict[str, Any]:
        film = require_film(film)
        if scenes is not None:
            scenes.check_film(film.info.frame_count)
        cuts = scenes.cuts if scenes is not None else None
        report = measure_flicker(film, cuts, width, bridge.progress_reporter(len(film), "colour flicker"))
        curves = [("film", report)]
        ref = None
        if before is not None:
            before = require_film(before, "before")
            if before.info.frame_count != film.info.frame_count:
                raise InputError(f"'before' has {before.info.frame_count} frames but the film has "
                                 f"{film.info.frame_count}; connect two versions of the same clip")
            ref = measure_flicker(before, cuts if cuts is not None else report.cuts, width,
                                  bridge.progress_reporter(len(before), "colour flicker (before)"))
            curves.insert(0, ("before", ref))
        text = format_report(report, film.label, ref)
        picture = flicker_plot(curves)
        ui: dict[str, Any] = {"text": [text]}
        shown = bridge.save_preview_image(picture, "colour_flicker")   # the plot in the node, as Preview Image
        if shown is not None:
            ui["images"] = [shown]
        return {"ui": ui, "result": (text, to_image_batch(picture[None]), float(report.clip))}
