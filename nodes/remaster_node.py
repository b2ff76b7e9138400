"""FilmRemaster: remove dust, blotches, line scratches, flicker and grain (classical), or run DeepRemaster."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import comfy_bridge as bridge
from ..filmlib.clip import Film, require_film
from ..filmlib.errors import InputError
from ..filmlib.remaster import (METHODS, ChangeMaskStage, DefectMaskStage, RemasterParams, RemasterStage,
                                change_report, classical_report)
from ..filmlib.scenes import Scenes
from ..model_loaders.device import DEVICES
from .common import CATEGORY, FILM
from .models_common import check_choice, check_resolves, model_choice


class FilmRemaster:
    DESCRIPTION = ("Repair an old print. 'classical' needs no weights: dust and blotches found by motion-"
                   "compensated spike detection and filled from the neighbouring frames (never on moving objects), "
                   "vertical line scratches interpolated across, flicker matched shot by shot (global and uneven), "
                   "grain reduced by motion-compensated temporal denoising; each part has its own switch and "
                   "strength. 'deepremaster' runs DeepRemaster (Iizuka and Simo-Serra 2019) from models/"
                   "deepremaster, colouring from reference keyframes when given; its weights are licensed CC "
                   "BY-NC-SA 4.0 (non-commercial use only). Nothing is borrowed across a cut.")
    CATEGORY = f"{CATEGORY}/restore"
    RETURN_TYPES = (FILM, FILM, "STRING")
    RETURN_NAMES = ("film", "defect_mask", "report")
    OUTPUT_TOOLTIPS = ("The repaired clip.",
                       "What was repaired, per frame: 255 dust and blotches, 128 scratches (deepremaster: 255 "
                       "where the picture changed by more than 10 %).",
                       "Share of pixels changed, per defect kind, and the flicker corrected.")
    FUNCTION = "remaster"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        d = RemasterParams()
        return {"required": {
            "film": (FILM, {"tooltip": "The clip to repair (gray or colour)."}),
            "method": (list(METHODS), {"default": "classical",
                                       "tooltip": "classical: no weights; deepremaster: the DeepRemaster network "
                                                  "(CC BY-NC-SA 4.0 weights)."}),
            "dust": ("BOOLEAN", {"default": d.dust, "tooltip": "Remove dust and blotches (classical)."}),
            "dust_strength": ("FLOAT", {"default": d.dust_strength, "min": 0.0, "max": 1.0, "step": 0.05,
                                        "tooltip": "Detection sensitivity: 0 glaring specks only, 1 anything that "
                                                   "stands out from the grain."}),
            "scratches": ("BOOLEAN", {"default": d.scratches, "tooltip": "Remove vertical line scratches."}),
            "scratch_strength": ("FLOAT", {"default": d.scratch_strength, "min": 0.0, "max": 1.0, "step": 0.05,
                                           "tooltip": "0 strong lines only, 1 faint lines too."}),
            "flicker": ("BOOLEAN", {"default": d.flicker, "tooltip": "Even out frame-to-frame brightness."}),
            "flicker_window": ("INT", {"default": d.flicker_window, "min": 3, "max": 241,
                                       "tooltip": "Frames over which brightness is evened out; slower changes "
                                                  "(fades, real lighting) are kept."}),
            "flicker_spatial": ("FLOAT", {"default": d.flicker_spatial, "min": 0.0, "max": 1.0, "step": 0.05,
                                          "tooltip": "Uneven flicker (one part of the frame pumping): 0 global "
                                                     "gain only, 1 full smooth gain map."}),
            "grain": ("FLOAT", {"default": d.grain, "min": 0.0, "max": 1.0, "step": 0.05,
                                "tooltip": "Grain reduction: 0 keeps all the grain, 1 removes what it can; the "
                                           "default keeps a natural amount."}),
            "deepremaster_model": model_choice("deepremaster", "DeepRemaster checkpoint (remasternet.pth.tar) in "
                                                               "models/deepremaster; CC BY-NC-SA 4.0."),
            "work_size": ("INT", {"default": 320, "min": 16, "max": 4096, "step": 16,
                                  "tooltip": "deepremaster: short side the network sees (official 320)."}),
            "full_res_luma": ("BOOLEAN", {"default": True,
                                          "tooltip": "deepremaster: keep the source resolution (the correction is "
                                                     "upsampled) instead of the working size."}),
            "device": (list(DEVICES), {"default": "auto", "tooltip": "deepremaster: where the network runs."}),
        }, "optional": {
            "scenes": ("SCENES", {"tooltip": "Shots from FilmSceneDetect: temporal windows and flicker statistics "
                                             "restart at every cut (without it, cuts are detected)."}),
            "references": ("IMAGE", {"tooltip": "deepremaster: colour keyframes (one or more per shot) to colour "
                                                "the film from."}),
        }, "hidden": {"prompt": "PROMPT", "unique_id": "UNIQUE_ID"}}

    @classmethod
    def VALIDATE_INPUTS(cls, method: str, deepremaster_model: str) -> bool | str:
        ok = check_choice("method", method, METHODS)
        if ok is not True or method != "deepremaster":
            return ok
        from ..filmlib.remaster_deep import resolve_model
        return check_resolves(resolve_model, deepremaster_model)

    def remaster(self, film: Film, method: str, dust: bool, dust_strength: float, scratches: bool,
                 scratch_strength: float, flicker: bool, flicker_window: int, flicker_spatial: float, grain: float,
                 deepremaster_model: str, work_size: int, full_res_luma: bool, device: str,
                 scenes: Scenes | None = None, references: Any = None, prompt: Any = None,
                 unique_id: Any = None) -> tuple[Film, Film, str]:
        film = require_film(film)
        # the report needs the whole clip computed now; when nothing reads it, the frames stay lazy (streamed
        # chunk by chunk by whatever pulls them) instead of computed here first
        want_report = _output_used(prompt, unique_id, 2)
        if scenes is not None:
            scenes.check_film(film.info.frame_count)
        if method == "deepremaster":
            from ..filmlib.remaster_deep import DeepRemasterStage
            refs = _images(references) if references is not None else None
            out: Film = DeepRemasterStage(film, deepremaster_model, refs, scenes, work_size, full_res_luma, device)
            mask: Film = ChangeMaskStage(out, film)
            return out, mask, (change_report(mask, bridge.progress_reporter(len(film), "remaster")) if want_report
                               else UNUSED_REPORT)
        if method != "classical":
            raise InputError(f"method must be one of {METHODS}, got {method!r}")
        params = RemasterParams(dust, dust_strength, scratches, scratch_strength, flicker, flicker_window,
                                flicker_spatial, grain)
        stage = RemasterStage(film, params, scenes.cuts if scenes is not None else None)
        mask = DefectMaskStage(stage)
        return stage, mask, (classical_report(stage, mask, bridge.progress_reporter(len(film), "remaster"))
                             if want_report else UNUSED_REPORT)


UNUSED_REPORT = "report not computed: connect the report output to get it"


def _output_used(prompt: Any, unique_id: Any, slot: int) -> bool:
    """Whether any node of the running prompt reads output ``slot`` of node ``unique_id`` (True when unknown)."""
    if not isinstance(prompt, dict) or unique_id is None:
        return True
    nid = str(unique_id)
    for node in prompt.values():
        for value in (node.get("inputs") or {}).values() if isinstance(node, dict) else ():
            if isinstance(value, list) and len(value) == 2 and str(value[0]) == nid and value[1] == slot:
                return True
    return False


def _images(images: Any) -> list[np.ndarray]:
    """ComfyUI IMAGE (n, H, W, 3) float in [0, 1] -> list of (H, W, 3) uint8 RGB."""
    arr = images.detach().cpu().float().numpy() if hasattr(images, "detach") else np.asarray(images, np.float32)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3, 4):
        raise InputError(f"references must be an IMAGE batch (n, H, W, 3), got shape {tuple(arr.shape)}")
    arr = np.repeat(arr, 3, axis=-1) if arr.shape[-1] == 1 else arr[..., :3]
    return [np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8) for a in arr]
