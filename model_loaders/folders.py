"""Where model files live: ComfyUI's model folders inside ComfyUI, else ``$FILMRESTORE_MODELS`` or
``~/.cache/filmrestore/models``, with the same sub-folder names (``upscale_models``, ``rife``, ...)."""
from __future__ import annotations

import os
from pathlib import Path

from .. import comfy_bridge as bridge
from ..filmlib.cache import user_cache_base
from ..filmlib.errors import InputError
from .registry import FOLDERS, by_filename


class ModelNotFoundError(InputError, FileNotFoundError):
    """A model file is not where it was looked for."""


def models_root() -> Path:
    env = os.environ.get("FILMRESTORE_MODELS")
    return Path(env).expanduser() if env else user_cache_base() / "models"


def register_folders() -> None:
    """Tell ComfyUI about our model folders (no-op outside ComfyUI)."""
    for name, exts in FOLDERS.items():
        bridge.register_model_folder(name, exts)


def folders(kind: str) -> list[Path]:
    """Folders searched for ``kind`` models, in order."""
    if kind not in FOLDERS:
        raise ValueError(f"unknown model folder {kind!r}; one of {sorted(FOLDERS)}")
    return bridge.model_folders(kind) or [models_root() / kind]


def list_models(kind: str) -> list[str]:
    """File names of the ``kind`` models present, for node combos."""
    names = set()
    for folder in folders(kind):
        if folder.is_dir():
            names.update(p.name for p in folder.iterdir()
                         if p.is_file() and any(p.name.endswith(e) for e in FOLDERS[kind]))
    return sorted(names)


def find_model(kind: str, name: str) -> Path:
    """The path of model file ``name`` (or an absolute path), or an error saying where to get it."""
    if os.path.isabs(name) and os.path.isfile(name):
        return Path(name)
    searched = folders(kind)
    for folder in searched:
        if (folder / name).is_file():
            return folder / name
    info = by_filename(name)
    where = (f"download it with `python -m filmrestore models download {info.name}` or from "
             f"{info.urls[0]}" if info else "put the file there")
    raise ModelNotFoundError(f"model file {name!r} not found in {', '.join(str(f) for f in searched)}; {where} "
                             f"(set FILMRESTORE_MODELS to use another models folder)")
