"""The one place that touches ComfyUI. Every function falls back to standalone behaviour when ComfyUI's
modules are absent (headless runner, tests), so nothing else in the pack imports ComfyUI.

Covers: folders (input, output, models), progress bars with previews and Cancel, and device choice.
"""
from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

log = logging.getLogger(__name__)

_STANDALONE_ROOT = os.environ.get("FILMRESTORE_HOME", os.getcwd())


def _comfy(module: str) -> Any | None:
    """A ComfyUI module if we run inside ComfyUI (already imported by the server), else None."""
    if "comfy" not in sys.modules and module != "folder_paths":
        return None
    if module == "folder_paths" and "folder_paths" not in sys.modules:
        return None
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def input_directory() -> Path:
    fp = _comfy("folder_paths")
    if fp is not None:
        return Path(fp.get_input_directory())
    return Path(os.environ.get("FILMRESTORE_INPUT", os.path.join(_STANDALONE_ROOT, "input")))


def output_directory() -> Path:
    fp = _comfy("folder_paths")
    if fp is not None:
        return Path(fp.get_output_directory())
    return Path(os.environ.get("FILMRESTORE_OUTPUT", os.path.join(_STANDALONE_ROOT, "output")))


def resolve_input_path(name: str) -> str:
    """Where a video name points: ComfyUI's annotated input path, an absolute path, a file or folder in the
    input folder, else the name as given (relative to the current folder). Patterns resolve the same way by
    the folder they name."""
    fp = _comfy("folder_paths")
    if fp is not None and hasattr(fp, "exists_annotated_filepath") and fp.exists_annotated_filepath(name):
        return fp.get_annotated_filepath(name)
    name = os.path.expanduser(name)
    if os.path.isabs(name):
        return name
    in_input = input_directory() / name
    if in_input.exists():
        return str(in_input)
    if os.path.exists(name):
        return name
    # a pattern, or a file not there yet: the input folder wins when the folder it names exists only there
    if in_input.parent.is_dir() and not Path(name).parent.is_dir():
        return str(in_input)
    return name


def progress_reporter(total: int, desc: str = "frames") -> Callable[[int, int, Optional[np.ndarray]], None]:
    """A progress callback ``(done, total, preview_frame)``: ComfyUI's ProgressBar (with a preview, and Cancel
    raising through ComfyUI's interrupt) inside ComfyUI, a tqdm bar otherwise."""
    utils = _comfy("comfy.utils")
    mm = _comfy("comfy.model_management")
    if utils is not None:
        bar = utils.ProgressBar(total)

        def report(done: int, total_: int, frame: np.ndarray | None = None) -> None:
            if mm is not None:
                mm.throw_exception_if_processing_interrupted()
            preview = None
            if frame is not None:
                try:
                    from PIL import Image
                    from .filmlib.frames import convert_depth
                    f = convert_depth(frame, np.uint8)
                    preview = ("JPEG", Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f), 512)
                except ImportError:
                    preview = None
            bar.update_absolute(done, total_, preview)
        return report
    from tqdm import tqdm
    bar = tqdm(total=total, unit="frame", desc=desc, leave=False, disable=os.environ.get("FILMRESTORE_QUIET") == "1")

    def report_cli(done: int, total_: int, frame: np.ndarray | None = None) -> None:
        bar.update(done - bar.n)
        if done >= total_:
            bar.close()
    return report_cli


def comfy_device() -> Any | None:
    """ComfyUI's torch device for models, or None outside ComfyUI."""
    mm = _comfy("comfy.model_management")
    return mm.get_torch_device() if mm is not None else None


def register_model_folder(name: str, extensions: set[str]) -> None:
    """Register ``models/<name>`` with ComfyUI's folder_paths so users put weights where they expect."""
    fp = _comfy("folder_paths")
    if fp is None:
        return
    if name not in fp.folder_names_and_paths:
        fp.folder_names_and_paths[name] = ([os.path.join(fp.models_dir, name)], set(extensions))


def model_folders(name: str) -> list[Path]:
    """Folders ComfyUI searches for ``name`` models, or [] outside ComfyUI."""
    fp = _comfy("folder_paths")
    if fp is None:
        return []
    try:
        return [Path(p) for p in fp.get_folder_paths(name)]
    except KeyError:
        return []
