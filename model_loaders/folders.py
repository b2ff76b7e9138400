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
    """The path of model file ``name``, or an error naming the folders searched and where to get it.

    Headless an absolute path is accepted. Inside ComfyUI, as its own ``get_full_path`` does, the name is
    taken relative to the model folders: ``..`` cannot climb out and absolute paths are not followed (links
    placed in a model folder are, as ComfyUI follows them: putting them there is the owner's choice)."""
    confined = bridge.in_comfyui()
    if not confined and os.path.isabs(name) and os.path.isfile(name):
        return Path(name)
    rel = os.path.relpath(os.path.join(os.sep, name), os.sep) if confined else name
    searched = folders(kind)
    for folder in searched:
        if (folder / rel).is_file():
            return folder / rel
    info = by_filename(os.path.basename(name))
    in_comfy = bool(bridge.model_folders(kind))
    if info is None:
        where = "put the file there"
    elif "#" in info.urls[0] or in_comfy:  # the download command fills our own folder, not ComfyUI's
        where = f"download it{' by hand' if '#' in info.urls[0] else ''} from {info.urls[0]} into {searched[0]}"
    else:
        where = (f"download it with `python -m filmrestore models download {info.name}` or from "
                 f"{info.urls[0]} into {searched[0]}")
    env = "" if in_comfy else " (set FILMRESTORE_MODELS to use another models folder)"
    raise ModelNotFoundError(f"model file {name!r} not found in {', '.join(str(f) for f in searched)}; "
                             f"{where}{env}")



def find_registry_model(registry_name: str, name: str, needed_by: str) -> Path:
    """The file ``name`` of the registry's ``registry_name`` model, as :func:`find_model`; an empty name or
    "none" says that ``needed_by`` needs it, where it goes and how to get it (with its licence)."""
    from .registry import find
    info = find(registry_name)
    licence = f"{info.license}: non-commercial use only" if info.non_commercial else info.license
    if not name or name == "none":
        raise InputError(f"{needed_by} needs its model file {info.filename!r} in models/{info.folder}: "
                         f"python -m filmrestore models download {info.name}, or {info.urls[0]} ({licence})")
    try:
        return find_model(info.folder, name)
    except ModelNotFoundError as exc:
        raise ModelNotFoundError(f"{exc}. The official file is {info.filename} (into models/{info.folder}) from "
                                 f"{info.urls[0]} ({licence})") from None
