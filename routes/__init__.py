"""HTTP routes of the pack under ``/filmrestore/`` (aiohttp only; ComfyUI's server is reached through
``comfy_bridge.register_routes``). Each module adds its routes to an ``aiohttp.web.RouteTableDef``."""
from __future__ import annotations

from typing import Any


def setup(routes: Any) -> None:
    """Add every route of the pack to ``routes`` (ComfyUI's ``PromptServer.instance.routes`` or a test app's)."""
    from importlib import import_module
    for name in ("frames", "models"):
        try:
            module = import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            continue
        module.add_routes(routes)
