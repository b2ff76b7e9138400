"""FilmUpscale and FilmDeblur: classical methods by default, any spandrel model on request."""
from __future__ import annotations

from typing import Any

from ..filmlib.clip import Film, require_film
from ..filmlib.deblur import METHODS as DEBLUR_METHODS, DeblurStage
from ..filmlib.upscale import METHODS as UPSCALE_METHODS, UpscaleStage
from ..model_loaders.spandrel_models import image_model
from .common import CATEGORY, FILM
from .models_common import RUNTIME_INPUTS, check_choice, check_model_choice, model_choice


class FilmUpscale:
    DESCRIPTION = ("Upscale every frame: Lanczos or bicubic (no weights), or a super-resolution model "
                   "(Real-ESRGAN, SwinIR, HAT... any model spandrel loads, from models/upscale_models or a "
                   "connected Load Upscale Model). Target a factor or an output height; a model that "
                   "overshoots is brought down with area filtering. Gray films stay one channel.")
    CATEGORY = f"{CATEGORY}/restore"
    RETURN_TYPES = (FILM,)
    RETURN_NAMES = ("film",)
    OUTPUT_TOOLTIPS = ("The upscaled clip.",)
    FUNCTION = "upscale"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "film": (FILM, {"tooltip": "The clip to upscale."}),
            "method": (list(UPSCALE_METHODS), {"default": "lanczos",
                                               "tooltip": "lanczos/bicubic need no weights; model uses model_name "
                                                          "or the connected upscale_model."}),
            "factor": ("FLOAT", {"default": 2.0, "min": 0.25, "max": 8.0, "step": 0.05,
                                 "tooltip": "Scale factor (ignored when target_height is set)."}),
            "target_height": ("INT", {"default": 0, "min": 0, "max": 8640, "step": 2,
                                      "tooltip": "Output height in pixels, e.g. 2160; 0 uses factor."}),
            "model_name": model_choice("upscale_models", "Super-resolution model file in models/upscale_models."),
            "denoise_strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.05,
                                           "tooltip": "realesr-general-x4v3 only: below 1 blends in the wdn "
                                                      "model to keep more grain (Real-ESRGAN's -dn)."}),
            **RUNTIME_INPUTS,
        }, "optional": {
            "upscale_model": ("UPSCALE_MODEL", {"tooltip": "A model from ComfyUI's Load Upscale Model node."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, method: str, model_name: str) -> bool | str:
        ok = check_choice("method", method, UPSCALE_METHODS)
        return check_model_choice("upscale_models", model_name) if ok is True and method == "model" else ok

    def upscale(self, film: Film, method: str, factor: float, target_height: int, model_name: str,
                denoise_strength: float, tile: int, device: str, precision: str, upscale_model: Any = None
                ) -> tuple[Film]:
        model = None
        if method == "model":
            model = image_model("upscale_models", model_name, upscale_model, device, precision, tile, denoise_strength)
        return (UpscaleStage(require_film(film), method, factor, target_height, model),)


class FilmDeblur:
    DESCRIPTION = ("Sharpen soft film: edge-aware unsharp masking (sharpens edges, not grain), Richardson-Lucy "
                   "deconvolution with an estimated Gaussian blur, or a 1x restoration model (NAFNet GoPro/REDS, "
                   "FFTformer... any model spandrel loads).")
    CATEGORY = f"{CATEGORY}/restore"
    RETURN_TYPES = (FILM,)
    RETURN_NAMES = ("film",)
    OUTPUT_TOOLTIPS = ("The sharpened clip.",)
    FUNCTION = "deblur"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "film": (FILM, {"tooltip": "The clip to sharpen."}),
            "method": (list(DEBLUR_METHODS), {"default": "richardson_lucy",
                                              "tooltip": "unsharp: fast; richardson_lucy: undoes a Gaussian blur; "
                                                         "model: a 1x restoration model."}),
            "strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 3.0, "step": 0.05,
                                   "tooltip": "How much of the correction to apply (1 = all)."}),
            "sigma": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 6.0, "step": 0.05,
                                "tooltip": "Blur radius (Gaussian sigma, px); 0 estimates it per frame."}),
            "iterations": ("INT", {"default": 10, "min": 1, "max": 100,
                                   "tooltip": "Richardson-Lucy iterations: more is sharper but noisier."}),
            "model_name": model_choice("upscale_models", "1x restoration model file in models/upscale_models."),
            **RUNTIME_INPUTS,
        }, "optional": {
            "restore_model": ("UPSCALE_MODEL", {"tooltip": "A 1x model from ComfyUI's Load Upscale Model node."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, method: str, model_name: str) -> bool | str:
        ok = check_choice("method", method, DEBLUR_METHODS)
        return check_model_choice("upscale_models", model_name) if ok is True and method == "model" else ok

    def deblur(self, film: Film, method: str, strength: float, sigma: float, iterations: int, model_name: str,
               tile: int, device: str, precision: str, restore_model: Any = None) -> tuple[Film]:
        model = None
        if method == "model":
            model = image_model("upscale_models", model_name, restore_model, device, precision, tile)
        return (DeblurStage(require_film(film), method, strength, sigma, iterations, model),)
