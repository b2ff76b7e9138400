"""Shared pieces of the node definitions: the FILM type name, the category, IMAGE conversion."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

FILM = "FILM"


def to_image_batch(frames: Sequence[np.ndarray] | np.ndarray) -> Any:
    """uint8/uint16 (n, H, W, 1|3) frames of one size -> ComfyUI IMAGE: (n, H, W, 3) float32 in [0, 1]."""
    import torch
    arr = np.stack(list(frames)) if not isinstance(frames, np.ndarray) else frames
    out = torch.from_numpy(arr.astype(np.float32) * np.float32(1.0 / np.iinfo(arr.dtype).max))
    return out.expand(-1, -1, -1, 3).contiguous() if out.shape[-1] == 1 else out
CATEGORY = "FilmRestore"


def list_input(file_suffixes: Sequence[str], folder_of: Sequence[str]) -> list[str]:
    """For a file chooser: files in the input folder (recursively) ending in ``file_suffixes``, and folders that
    hold files ending in ``folder_of`` (as ``name/``), relative to the input folder."""
    from .. import comfy_bridge as bridge
    root = bridge.input_directory()
    if not root.is_dir():
        return []
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and p.suffix.lower() in file_suffixes:
            out.append(rel)
        elif p.is_dir() and any(c.suffix.lower() in folder_of for c in p.iterdir() if c.is_file()):
            out.append(rel + "/")
    return out
