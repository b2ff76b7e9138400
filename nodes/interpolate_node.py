"""FilmInterpolate: raise the frame rate by motion interpolation (weight-free flow, or official RIFE)."""
from __future__ import annotations

from fractions import Fraction
from typing import Any

from ..filmlib.clip import Film, require_film
from ..filmlib.interpolate import METHODS, BlendInterpolator, FlowInterpolator, InterpolateStage
from ..filmlib.io.video_source import snap_rate
from ..filmlib.errors import InputError
from ..filmlib.scenes import Scenes
from .common import CATEGORY, FILM
from .models_common import RUNTIME_INPUTS, check_choice, check_model_choice, model_choice


class FilmInterpolate:
    DESCRIPTION = ("Raise the frame rate (silent films: 16-18 fps to 24, 50 or 60) by motion interpolation. "
                   "'flow' needs no weights (dense optical flow both ways, occlusion-aware, curved motion paths "
                   "from the frames around each pair); 'rife' runs an official RIFE 4.x checkpoint from "
                   "models/rife. Timing is exact, duration and audio sync are kept, and frames never morph across "
                   "a cut.")
    CATEGORY = f"{CATEGORY}/motion"
    RETURN_TYPES = (FILM,)
    RETURN_NAMES = ("film",)
    OUTPUT_TOOLTIPS = ("The clip at the new frame rate.",)
    FUNCTION = "interpolate"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        rt = dict(RUNTIME_INPUTS)
        rt.pop("tile")
        return {"required": {
            "film": (FILM, {"tooltip": "The clip to interpolate."}),
            "method": (list(METHODS), {"default": "flow",
                                                   "tooltip": "flow: optical flow, no weights; rife: a RIFE "
                                                              "model; blend: cross-fade (for comparison)."}),
            "fps": ("FLOAT", {"default": 24.0, "min": 1.0, "max": 240.0, "step": 0.001,
                              "tooltip": "Output frame rate (23.976 and 29.97 are taken exactly as NTSC)."}),
            "multiplier": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 16.0, "step": 0.5,
                                     "tooltip": "If above 0, output rate = input rate x multiplier (fps ignored)."}),
            "flow_quality": (["fast", "medium", "fine"], {"default": "fine",
                                                          "tooltip": "Optical flow effort (flow method). fine "
                                                                     "(picked on real footage): the sharpest, "
                                                                     "and still less CPU than ffmpeg's "
                                                                     "minterpolate; medium: ~2x faster, up to "
                                                                     "0.5 dB less; fast: up to 1.6 dB less."}),
            "rife_model": model_choice("rife", "RIFE checkpoint in models/rife (flownet.pkl or rife4x.pth)."),
            "rife_scale": ("FLOAT", {"default": 1.0, "min": 0.25, "max": 4.0, "step": 0.25,
                                     "tooltip": "RIFE scale: 0.5 for 4K, 1 for HD and below (as Practical-RIFE)."}),
            "drop_duplicates": ("BOOLEAN", {"default": False,
                                            "tooltip": "Remove repeated frames (telecine, re-scans) and fill "
                                                       "their time with motion instead."}),
            "cut_check": ("BOOLEAN", {"default": True,
                                      "tooltip": "Without SCENES, test each pair for a cut and hold the "
                                                 "frame instead of morphing."}),
            **rt,
        }, "optional": {
            "scenes": ("SCENES", {"tooltip": "Shots from FilmSceneDetect: never blend across their cuts."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, method: str, rife_model: str) -> bool | str:
        ok = check_choice("method", method, METHODS)
        return check_model_choice("rife", rife_model) if ok is True and method == "rife" else ok

    def interpolate(self, film: Film, method: str, fps: float, multiplier: float, flow_quality: str,
                    rife_model: str, rife_scale: float, drop_duplicates: bool, cut_check: bool, device: str,
                    precision: str, scenes: Scenes | None = None) -> tuple[Film]:
        film = require_film(film)
        out_fps = film.info.fps * Fraction(multiplier).limit_denominator(1000) if multiplier > 0 else snap_rate(fps)
        if method == "rife":
            from ..model_loaders.folders import find_model
            from ..model_loaders.rife import RifeInterpolator
            if rife_model == "none":
                raise InputError("method 'rife' needs a RIFE model: put rife426.pth or flownet.pkl in models/rife "
                                 "(python -m filmrestore models download rife-4.26)")
            interp: Any = RifeInterpolator(find_model("rife", rife_model), device, precision, rife_scale)
        elif method == "blend":
            interp = BlendInterpolator()
        else:
            interp = FlowInterpolator(flow_quality)
        if scenes is not None:
            scenes.check_film(film.info.frame_count)
        cuts = scenes.cuts if scenes is not None else None
        return (InterpolateStage(film, out_fps, interp, cuts, cut_check, drop_duplicates),)
