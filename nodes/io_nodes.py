"""FilmLoadVideo and FilmSaveVideo: a video file or image sequence in, an encoded video or sequence out."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from .. import comfy_bridge as bridge
from ..filmlib.clip import Film, require_film
from ..filmlib.compare import SideBySide
from ..filmlib.io.colour import COLOR_MODES
from ..filmlib.errors import DecodeError, InputError
from ..filmlib.io.open import is_sequence_spec, open_clip
from ..filmlib.io.sequence_source import IMAGE_EXTENSIONS, find_sequence
from ..filmlib.io.video_source import VIDEO_EXTENSIONS
from ..filmlib.io.provenance import RunContext, describe_run, output_record
from ..filmlib.io.writer import FORMATS, Format, SaveResult, save_film
from ..model_loaders.folders import find_model
from .common import CATEGORY, FILM, list_input


def list_input_videos() -> list[str]:
    """Video files and image-sequence folders in the input folder, for the file chooser."""
    return list_input(VIDEO_EXTENSIONS, IMAGE_EXTENSIONS)


class FilmLoadVideo:
    DESCRIPTION = ("Open a video file (mp4, mkv, mov, avi, webm...) or an image sequence (a folder, a glob or a "
                   "%06d pattern of PNG/JPEG/TIFF/DPX) as a FILM. Nothing is decoded until a later node needs "
                   "frames, so long reels fit in memory. 16-bit sources stay 16-bit.")
    CATEGORY = f"{CATEGORY}/io"
    RETURN_TYPES = (FILM, "INT", "FLOAT")
    RETURN_NAMES = ("film", "frame_count", "fps")
    OUTPUT_TOOLTIPS = ("The clip, decoded lazily.", "Number of frames in the clip.", "Frame rate of the clip.")
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "video": (list_input_videos() or [""], {
                "video_upload": True,
                "tooltip": "A video or image-sequence folder from the input folder; in the headless runner any "
                           "path, glob or %06d pattern."}),
            "first_frame": ("INT", {"default": 0, "min": 0, "max": 10_000_000, "step": 1,
                                    "tooltip": "Skip this many frames at the start."}),
            "frame_count": ("INT", {"default": 0, "min": 0, "max": 10_000_000, "step": 1,
                                    "tooltip": "Frames to load; 0 loads to the end."}),
            "force_fps": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 240.0, "step": 0.001,
                                    "tooltip": "Play at this rate instead of the tagged one (hand-cranked films "
                                               "ran at 16-18 fps but are often tagged 24). 0 keeps the file's "
                                               "rate; image sequences default to 24."}),
            "color": (list(COLOR_MODES), {"default": "auto",
                                          "tooltip": "auto: carry gray content as 1 channel; grayscale or color: "
                                                     "force it."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, video: str) -> bool | str:
        # replaces ComfyUI's list check, so the path rules of resolve_input_path are the whole guard
        if not video:
            return "no video chosen: upload one or give a path"
        try:
            path = bridge.resolve_input_path(video)
        except InputError as exc:
            return str(exc)
        if not (os.path.exists(path) or is_sequence_spec(path)):
            return not_found_message(video)
        return True

    @classmethod
    def IS_CHANGED(cls, video: str, **_: Any) -> str:
        try:
            path = bridge.resolve_input_path(video)
            st = os.stat(path)
        except (InputError, OSError):
            return video
        return f"{path}:{st.st_size}:{st.st_mtime_ns}"

    def load(self, video: str, first_frame: int, frame_count: int, force_fps: float, color: str
             ) -> tuple[Film, int, float]:
        path = bridge.resolve_input_path(video)
        if not (os.path.exists(path) or is_sequence_spec(path)):
            raise DecodeError(not_found_message(video))
        sequence = is_sequence_spec(path)
        files = find_sequence(path) if sequence else [path]
        bridge.check_inside_input(files)
        film = open_clip(path, first_frame, frame_count, force_fps, color)
        return film, film.info.frame_count, float(film.info.fps)


def not_found_message(video: str) -> str:
    places = bridge.input_search_places(video)
    return (f"video not found: {video!r} (looked in {' and in '.join(places)}); put it in the input folder "
            f"{places[0]}, upload it, or give the path")


class FilmSaveVideo:
    DESCRIPTION = ("Encode a FILM, pulling frames chunk by chunk (memory does not grow with length). Keeps the "
                   "source audio in sync. Writes to a temporary file and renames it; never overwrites unless "
                   "asked. Connect 'compare' to also save a side-by-side before/after video. The workflow is "
                   "stored in the file as ComfyUI's own savers do (drop it on the canvas to load the graph), and "
                   "'<name>.provenance.json' beside it records inputs, models and versions to replay it "
                   "(python -m filmrestore run --replay).")
    CATEGORY = f"{CATEGORY}/io"
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("path",)
    OUTPUT_TOOLTIPS = ("Path of the written video or sequence folder.",)
    FUNCTION = "save"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {
            "film": (FILM, {"tooltip": "The clip to save."}),
            "filename_prefix": ("STRING", {"default": "FilmRestore/restored",
                                           "tooltip": "Output name relative to the output folder (a number is "
                                                      "appended), or a full file name such as out.mp4."}),
            "format": (list(FORMATS), {"default": "h264-mp4", "tooltip": "; ".join(
                f"{f.key}: {f.description}" for f in FORMATS.values())}),
            "crf": ("INT", {"default": 18, "min": 0, "max": 51, "step": 1,
                            "tooltip": "Quality for H.264/H.265: lower is better and bigger; 18 looks lossless."}),
            "overwrite": ("BOOLEAN", {"default": False,
                                      "tooltip": "Replace an existing file of the same name instead of numbering."}),
        }, "optional": {
            "compare": (FILM, {"tooltip": "The original clip: also save '<name>_compare' with original and "
                                          "restored side by side."}),
        }, "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO", "unique_id": "UNIQUE_ID"}}

    @classmethod
    def VALIDATE_INPUTS(cls, filename_prefix: str) -> bool | str:
        try:
            bridge.resolve_output_prefix(filename_prefix)
        except InputError as exc:
            return str(exc)
        return True

    def save(self, film: Film, filename_prefix: str, format: str, crf: int, overwrite: bool,
             compare: Film | None = None, prompt: Any = None, extra_pnginfo: Any = None,
             unique_id: Any = None) -> dict[str, Any]:
        film = require_film(film)
        out_dir = bridge.output_directory()
        target = bridge.resolve_output_prefix(filename_prefix)
        metadata = {}   # as ComfyUI's SaveVideo/SaveWEBM: "prompt", then each extra_pnginfo item ("workflow")
        # ComfyUI started with --disable-metadata: no workflow in the file (the sidecar still records it)
        if prompt is not None and not bridge.metadata_disabled():
            metadata["prompt"] = json.dumps(prompt)
        for key, value in ({} if bridge.metadata_disabled() else extra_pnginfo or {}).items():
            metadata[key] = json.dumps(value)
        ctx = RunContext(prompt, extra_pnginfo, None if unique_id is None else str(unique_id),
                         bridge.resolve_input_path, find_model)
        result = save_film(film, target, format, crf, overwrite, bridge.progress_reporter(len(film), "saving"),
                           metadata, recorder(film, ctx, "output"))
        paths = [result.path]
        if compare is not None:
            side = SideBySide(require_film(compare, "compare"), film)
            fmt = FORMATS[format]
            # the comparison goes into the same container as the result (--output out.mkv -> out_compare.mkv)
            cmp = save_film(side, compare_target(result.path, fmt), format, crf, overwrite,
                            bridge.progress_reporter(len(side), "comparison"), metadata,
                            recorder(side, ctx, "compare"))
            paths.append(cmp.path)
        previews = []
        for p in paths:
            try:
                rel = p.resolve().relative_to(out_dir.resolve())
            except ValueError:
                continue  # outside the output folder: ComfyUI cannot serve a preview of it
            if p.is_file():
                subfolder = "" if rel.parent.as_posix() == "." else rel.parent.as_posix()
                previews.append({"filename": rel.name, "subfolder": subfolder, "type": "output"})
        return {"ui": {"images": previews, "animated": (True,)}, "result": (str(result.path),)}


def compare_target(path: Path, fmt: Format) -> str:
    """Where the side-by-side of the output ``path`` goes: ``<name>_compare`` in the same container."""
    if fmt.kind == "sequence":
        return f"{path}_compare/"
    return f"{path.with_suffix('')}_compare{path.suffix}"


def recorder(film: Film, ctx: RunContext, role: str) -> Callable[[Path, SaveResult], dict[str, Any]]:
    """The provenance sidecar of ``film`` saved at a path: what the run was, then what it wrote."""
    def record(path: Path, result: SaveResult) -> dict[str, Any]:
        run = describe_run(film, ctx)
        return {"provenance_schema": run.pop("provenance_schema"), "output": output_record(path, result, role),
                **run}
    return record

