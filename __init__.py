"""ComfyUI-FilmRestore: restore old film in ComfyUI or headless (``python -m filmrestore``).

Importing the pack is cheap: node classes only; no model, torch or ComfyUI import happens here.
"""
from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
