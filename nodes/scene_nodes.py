"""FilmSceneDetect, FilmSelectScenes, FilmSceneRange: shots as a first-class value."""
from __future__ import annotations

from typing import Any

from .. import comfy_bridge as bridge
from ..filmlib.clip import Film, require_film
from ..filmlib.errors import InputError
from ..filmlib.scene_detect import DETECTORS, contact_sheet, detect_scenes
from ..filmlib.scenes import Scenes
from ..filmlib.select import RangesStage, parse_indices, select_shots
from .common import CATEGORY, FILM, to_image_batch


class FilmSceneDetect:
    DESCRIPTION = ("Split a clip into shots, run on a downscaled copy. With flicker_robust (for old film) content "
                   "and adaptive use the film cut finder: flicker, grain, dust, scratches, pans and flashes or "
                   "blotches of one or two frames do not cut a shot. Without it, and always for threshold (fades), "
                   "PySceneDetect's own detectors run. Picks each shot's cleanest, sharpest keyframe (for colour "
                   "references) and draws a contact sheet.")
    CATEGORY = f"{CATEGORY}/shots"
    RETURN_TYPES = ("SCENES", "IMAGE", "IMAGE", "INT")
    RETURN_NAMES = ("scenes", "keyframes", "contact_sheet", "shot_count")
    OUTPUT_TOOLTIPS = ("The shots (connect to Stabilize, Interpolate, Select).",
                       "One keyframe per shot, full size.", "Keyframes in a labelled grid.", "Number of shots.")
    FUNCTION = "detect"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "film": (FILM, {"tooltip": "The clip to split into shots."}),
            "detector": (list(DETECTORS), {"default": "content",
                                           "tooltip": "content: cuts (PySceneDetect's default); adaptive: "
                                                      "cuts in fast motion; threshold: fades to black. With "
                                                      "flicker_robust, content and adaptive are both the film "
                                                      "cut finder (it adapts to motion itself)."}),
            "threshold": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 255.0, "step": 0.5,
                                    "tooltip": "0 keeps the default. With flicker_robust: the film cut "
                                               "finder's, in percent of picture change (32; lower finds more). "
                                               "Otherwise PySceneDetect's units (content 27, adaptive 3, "
                                               "threshold 12)."}),
            "min_scene_len": ("INT", {"default": 15, "min": 1, "max": 10000,
                                      "tooltip": "Shortest shot in frames (PySceneDetect's min_scene_len)."}),
            "flicker_robust": ("BOOLEAN", {"default": True,
                                           "tooltip": "For old film: the film cut finder instead of "
                                                      "PySceneDetect's content/adaptive scores, which flicker, "
                                                      "dust and grey prints defeat."}),
        }}

    def detect(self, film: Film, detector: str, threshold: float, min_scene_len: int, flicker_robust: bool
               ) -> tuple[Scenes, Any, Any, int]:
        film = require_film(film)
        scenes = detect_scenes(film, detector, threshold or None, min_scene_len, flicker_robust,
                               progress=bridge.progress_reporter(len(film), "scenes"))
        frames = [film.frame(s.keyframe) for s in scenes.shots]
        return scenes, to_image_batch(frames), to_image_batch([contact_sheet(frames, scenes)]), len(scenes.shots)


class FilmSelectScenes:
    DESCRIPTION = "Keep or drop shots by index ('0, 2, 5-7'); returns the chosen shots as one clip and their SCENES."
    CATEGORY = f"{CATEGORY}/shots"
    RETURN_TYPES = (FILM, "SCENES")
    RETURN_NAMES = ("film", "scenes")
    OUTPUT_TOOLTIPS = ("The chosen shots, in order.", "Their shots, re-numbered from 0.")
    FUNCTION = "select"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "film": (FILM, {"tooltip": "The clip the scenes were detected on."}),
            "scenes": ("SCENES", {"tooltip": "Shots from FilmSceneDetect."}),
            "indices": ("STRING", {"default": "", "tooltip": "Shot numbers and ranges, e.g. '0, 2, 5-7'; "
                                                           "empty keeps (or drops) nothing."}),
            "mode": (["keep", "drop"], {"default": "keep", "tooltip": "Keep the listed shots, or drop them."}),
        }}

    def select(self, film: Film, scenes: Scenes, indices: str, mode: str) -> tuple[Film, Scenes]:
        count = len(scenes.shots)
        listed = parse_indices(indices, count)
        chosen = listed if mode == "keep" else [i for i in range(count) if i not in listed]
        if mode == "keep" and not indices.strip():
            chosen = list(range(count))
        return select_shots(require_film(film), scenes, chosen)


class FilmSceneRange:
    DESCRIPTION = "One shot (by number) or a frame range of a clip, to restore a single shot."
    CATEGORY = f"{CATEGORY}/shots"
    RETURN_TYPES = (FILM, "INT", "INT")
    RETURN_NAMES = ("film", "start", "end")
    OUTPUT_TOOLTIPS = ("The shot or range.", "Its first frame in the input.", "Its end frame (exclusive).")
    FUNCTION = "pick"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "film": (FILM, {"tooltip": "The clip."}),
            "shot": ("INT", {"default": 0, "min": -1, "max": 100000,
                             "tooltip": "Shot number from SCENES; -1 uses start/end instead."}),
            "start": ("INT", {"default": 0, "min": 0, "max": 10_000_000, "tooltip": "First frame (shot = -1)."}),
            "end": ("INT", {"default": 0, "min": 0, "max": 10_000_000,
                            "tooltip": "End frame, exclusive (shot = -1); 0 = to the end."}),
        }, "optional": {
            "scenes": ("SCENES", {"tooltip": "Shots from FilmSceneDetect (needed when shot >= 0)."}),
        }}

    def pick(self, film: Film, shot: int, start: int, end: int, scenes: Scenes | None = None
             ) -> tuple[Film, int, int]:
        film = require_film(film)
        if shot >= 0:
            if scenes is None:
                raise InputError("shot >= 0 needs SCENES: connect FilmSceneDetect, or set shot to -1 and give "
                                 "start/end")
            if shot >= len(scenes.shots):
                raise InputError(f"shot {shot} does not exist: there are {len(scenes.shots)} shots")
            start, end = scenes.shots[shot].start, scenes.shots[shot].end
        end = end or film.info.frame_count
        return RangesStage(film, [(start, end)]), start, end
