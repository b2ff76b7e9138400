"""FilmReferenceColorize: colour a film or an IMAGE batch from reference photos, shot by shot."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..filmlib.clip import ArrayFilm, Film, require_film
from ..filmlib.colorize.reference import KEY_INTERVAL, METHODS, ReferenceColorizeStage
from ..filmlib.colorize.transfer import W_POSITION, WORK_SIZE
from ..filmlib.errors import InputError
from ..filmlib.scenes import Scenes
from ..model_loaders.device import DEVICES
from .common import CATEGORY, FILM, to_image_batch
from .models_common import check_choice, check_resolves, model_choice


class FilmReferenceColorize:
    DESCRIPTION = ("Colour a gray film, or an IMAGE batch (e.g. FilmSceneDetect's keyframes, to give FilmRemaster's "
                   "deepremaster its references), from colour reference photos: one for everything, one per shot in "
                   "shot order, or a set from which each shot takes the one most like it. 'transfer' (no weights) "
                   "matches every pixel to the reference by lightness and local texture and takes its colour; 'global' only matches the colour statistics; "
                   "'siggraph17' runs Zhang et al.'s network from models/colorization with the reference as hints. "
                   "In a film, colour is carried along the optical flow inside each shot so it does not flicker, "
                   "and never crosses a cut. The picture's brightness is kept exactly; only colour is added.")
    CATEGORY = f"{CATEGORY}/colour"
    RETURN_TYPES = (FILM, "IMAGE")
    RETURN_NAMES = ("film", "images")
    OUTPUT_TOOLTIPS = ("The coloured film (with only images connected: those images as a clip).",
                       "The coloured images (with only a film connected: the first frame of each shot, "
                       "coloured on its own).")
    FUNCTION = "colorize"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "references": ("IMAGE", {"tooltip": "Colour photos: one for all shots, one per shot in shot order, or "
                                                "any other number (each shot then takes the photo that looks most "
                                                "like it). An image sequence folder through FilmLoadVideo and "
                                                "FilmToImages, or ComfyUI's Load Image."}),
            "method": (list(METHODS), {"default": "transfer",
                                       "tooltip": "transfer: exemplar matching, no weights; global: colour "
                                                  "statistics only; siggraph17: Zhang et al. 2017 network."}),
            "work_size": ("INT", {"default": WORK_SIZE, "min": 64, "max": 2048, "step": 16,
                                  "tooltip": "Short side (px) colour is worked out at; brightness stays full "
                                             "resolution."}),
            "key_interval": ("INT", {"default": KEY_INTERVAL, "min": 1, "max": 64,
                                     "tooltip": "Film: frames between the frames matched to the reference; the "
                                                "ones between follow the motion (1 = match every frame)."}),
            "position": ("FLOAT", {"default": W_POSITION, "min": 0.0, "max": 4.0, "step": 0.05,
                                   "tooltip": "transfer: how much where things are in the frame counts. Higher "
                                              "when each reference is a coloured frame of its shot, 0 when it "
                                              "is a different view (mirrored, reframed, another photo)."}),
            "siggraph17_model": model_choice("colorization", "siggraph17: the checkpoint (siggraph17-df00044c.pth) "
                                                             "in models/colorization."),
            "device": (list(DEVICES), {"default": "auto", "tooltip": "siggraph17: where the network runs."}),
        }, "optional": {
            "film": (FILM, {"tooltip": "The clip to colour (gray or colour: its brightness is kept)."}),
            "images": ("IMAGE", {"tooltip": "Images to colour, each on its own (reference k for image k when there "
                                            "is one reference per image)."}),
            "scenes": ("SCENES", {"tooltip": "Shots of the film from FilmSceneDetect: shot k takes reference k "
                                             "(without it, cuts are detected)."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, method: str, siggraph17_model: str) -> bool | str:
        ok = check_choice("method", method, METHODS)
        if ok is not True or method != "siggraph17":
            return ok
        from ..filmlib.colorize.siggraph import resolve_model
        return check_resolves(resolve_model, siggraph17_model)

    def colorize(self, references: Any, method: str, work_size: int, key_interval: int, position: float,
                 siggraph17_model: str, device: str, film: Film | None = None, images: Any = None,
                 scenes: Scenes | None = None) -> tuple[Film, Any]:
        if film is None and images is None:
            raise InputError("connect a film or images to colour")
        refs = _frames(references, np.uint8, "references")
        from ..filmlib.colorize.siggraph import resolve_model
        model = str(resolve_model(siggraph17_model)) if method == "siggraph17" else ""
        out_film: Film | None = None
        if film is not None:
            film = require_film(film)
            if scenes is not None:
                scenes.check_film(film.info.frame_count)
            out_film = ReferenceColorizeStage(film, list(refs), scenes.cuts if scenes is not None else None, method,
                                              work_size, key_interval, model_path=model, device=device,
                                              position=position)
        if images is None:
            # a preview that costs one match per shot, not the film: each shot's first frame as a still
            frames = np.stack([film.frame(a) for a, _ in out_film.shots])
        else:
            frames = _frames(images, np.uint16, "images")
        stills = ReferenceColorizeStage(ArrayFilm(frames, 24, name="images"), list(refs), method=method,
                                        work_size=work_size, stills=True, model_path=model, device=device,
                                        position=position)
        out_images = to_image_batch(stills.read(0, len(stills)))
        if out_film is None:
            out_film = stills
        return out_film, out_images


def _frames(images: Any, dtype: Any, what: str) -> np.ndarray:
    """ComfyUI IMAGE (n, H, W, C) float in [0, 1] -> (n, H, W, 3) ``dtype`` frames."""
    arr = images.detach().cpu().float().numpy() if hasattr(images, "detach") else np.asarray(images, np.float32)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3, 4) or len(arr) == 0:
        raise InputError(f"{what} must be an IMAGE batch (n, H, W, 3), got shape {tuple(arr.shape)}")
    arr = np.repeat(arr, 3, axis=-1) if arr.shape[-1] == 1 else arr[..., :3]
    maxv = np.iinfo(dtype).max
    return np.clip(arr * maxv + 0.5, 0, maxv).astype(dtype)
