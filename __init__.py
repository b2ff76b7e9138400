"""ComfyUI-FilmRestore: restore old film in ComfyUI or headless (``python -m filmrestore``).

Importing the pack is cheap: node classes only; no model, torch or ComfyUI import happens here.
"""
from .comfy_bridge import register_routes
from .model_loaders.folders import register_folders
from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

register_routes()  # /filmrestore/... on ComfyUI's server (nothing happens outside ComfyUI)
register_folders()  # ComfyUI's folder_paths learns models/deoldify, rife, ... (nothing happens outside ComfyUI)

WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
