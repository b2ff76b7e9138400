"""FilmStabilize: remove gate weave and camera shake, shot by shot."""
from __future__ import annotations

from typing import Any


from .. import comfy_bridge as bridge
from ..filmlib.clip import Film, require_film
from ..filmlib.scenes import Scenes
from ..filmlib.stabilize import BORDERS, METHODS, PATHS, StabilizeStage, trajectory_plot
from .common import CATEGORY, FILM, to_image_batch


class FilmStabilize:
    DESCRIPTION = ("Steady shaky film. 'smooth' (ours, fast): camera motion from the features on small frames "
                   "that move together (the background, not a moving subject), path smoothed per shot "
                   "(Gaussian or L1-optimal) and reset at every cut when SCENES is connected; 'weave only' "
                   "removes projector-gate jitter but keeps pans. 'vidstab': the vidstab package's algorithm, "
                   "as in the seed notebooks. Borders: crop-and-scale to a common window (no border shows), "
                   "reflect or black.")
    CATEGORY = f"{CATEGORY}/restore"
    RETURN_TYPES = (FILM, "IMAGE")
    RETURN_NAMES = ("film", "trajectory_plot")
    OUTPUT_TOOLTIPS = ("The stabilised clip.", "Estimated (thin) and smoothed (thick) camera paths.")
    FUNCTION = "stabilize"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "film": (FILM, {"tooltip": "The clip to stabilise."}),
            "method": (list(METHODS), {"default": "smooth", "tooltip": "smooth: ours; vidstab: the vidstab package."}),
            "path": (list(PATHS), {"default": "gaussian",
                                   "tooltip": "smooth method: gaussian, or l1 (still shots stay still, pans "
                                              "become constant-speed, as in Grundmann et al. 2011)."}),
            "smoothing": ("FLOAT", {"default": 12.0, "min": 0.0, "max": 200.0, "step": 0.5,
                                    "tooltip": "Gaussian path: smoothing in frames (sigma)."}),
            "weave_only": ("BOOLEAN", {"default": False,
                                       "tooltip": "Remove only frame-to-frame jitter (gate weave); keep pans "
                                                  "and intentional camera moves."}),
            "border": (list(BORDERS), {"default": "crop",
                                       "tooltip": "crop: zoom just enough that no border shows; reflect or "
                                                  "black: keep the size and fill the edges."}),
            "max_crop": ("FLOAT", {"default": 0.1, "min": 0.0, "max": 0.4, "step": 0.01,
                                   "tooltip": "Largest zoom allowed for crop (0.1 = 10%)."}),
            "vidstab_kp_method": (["GFTT", "ORB", "FAST", "BRISK", "HARRIS", "STAR", "MSER", "DENSE"],
                                  {"default": "GFTT", "tooltip": "vidstab method: its keypoint detector."}),
            "vidstab_window": ("INT", {"default": 30, "min": 2, "max": 500,
                                       "tooltip": "vidstab method: its smoothing_window in frames."}),
            "border_size": ("INT", {"default": 0, "min": 0, "max": 500,
                                    "tooltip": "reflect/black: extra border in pixels (vidstab's border_size)."}),
        }, "optional": {
            "scenes": ("SCENES", {"tooltip": "Shots from FilmSceneDetect: the path restarts at each cut."}),
        }}

    def stabilize(self, film: Film, method: str, path: str, smoothing: float, weave_only: bool, border: str,
                  max_crop: float, vidstab_kp_method: str, vidstab_window: int, border_size: int,
                  scenes: Scenes | None = None) -> tuple[Film, Any]:
        film = require_film(film)
        if scenes is not None:
            scenes.check_film(film.info.frame_count)
        cuts = scenes.cuts if scenes is not None else []
        stage = StabilizeStage(film, method, path, smoothing, weave_only, border, max_crop, cuts,
                               vidstab_kp_method, vidstab_window, border_size,
                               progress=bridge.progress_reporter(len(film), "stabilize analysis"))
        plot = trajectory_plot(stage.analysis(), cuts)  # runs (or loads) the analysis pass once
        return stage, to_image_batch(plot[None])
