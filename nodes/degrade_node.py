"""FilmDegrade: age a clean clip (grain, scratches, dust, flicker, weave, softness) to make test material."""
from __future__ import annotations

from typing import Any

from ..filmlib.clip import Film, require_film
from ..filmlib.degrade import DegradeParams, DegradeStage
from .common import CATEGORY, FILM


class FilmDegrade:
    DESCRIPTION = ("Apply the film-degradation model: grayscale, softness, gate weave, flicker, grain, vertical "
                   "scratches, dust and blotches. Deterministic for a seed: how restorers make training and test "
                   "material with a known answer.")
    CATEGORY = f"{CATEGORY}/tools"
    RETURN_TYPES = (FILM,)
    RETURN_NAMES = ("film",)
    OUTPUT_TOOLTIPS = ("The aged clip.",)
    FUNCTION = "degrade"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        d = DegradeParams()
        return {"required": {
            "film": (FILM, {"tooltip": "A clean clip."}),
            "seed": ("INT", {"default": d.seed, "min": 0, "max": 2**31 - 1, "control_after_generate": "fixed",
                             "tooltip": "Random seed of the defects (fixed: the same test material every run)."}),
            "grayscale": ("BOOLEAN", {"default": d.grayscale, "tooltip": "Turn the clip black and white."}),
            "blur": ("FLOAT", {"default": d.blur, "min": 0.0, "max": 10.0, "step": 0.1,
                               "tooltip": "Softness: Gaussian sigma in pixels."}),
            "weave": ("FLOAT", {"default": d.weave, "min": 0.0, "max": 20.0, "step": 0.1,
                                "tooltip": "Gate weave: RMS per-frame jitter in pixels."}),
            "flicker": ("FLOAT", {"default": d.flicker, "min": 0.0, "max": 0.5, "step": 0.01,
                                  "tooltip": "RMS per-frame exposure change (0.08 = 8%)."}),
            "grain": ("FLOAT", {"default": d.grain, "min": 0.0, "max": 0.3, "step": 0.005,
                                "tooltip": "RMS grain as a fraction of full scale."}),
            "scratches": ("INT", {"default": d.scratches, "min": 0, "max": 20,
                                  "tooltip": "Vertical scratch tracks alive at a time."}),
            "dust": ("FLOAT", {"default": d.dust, "min": 0.0, "max": 100.0, "step": 0.5,
                               "tooltip": "Mean dust specks and blotches per frame (each lives one frame)."}),
            "vignette": ("FLOAT", {"default": d.vignette, "min": 0.0, "max": 1.0, "step": 0.05,
                                   "tooltip": "Darkening towards the corners."}),
        }}

    def degrade(self, film: Film, **params: Any) -> tuple[Film]:
        return (DegradeStage(require_film(film), DegradeParams(**params)),)
