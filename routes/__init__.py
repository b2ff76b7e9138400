"""HTTP routes of the pack under ``/filmrestore/`` (aiohttp only; ComfyUI's server is reached through
``comfy_bridge.register_routes``). Each module adds its routes to an ``aiohttp.web.RouteTableDef``."""
from __future__ import annotations

from typing import Any


def setup(routes: Any) -> None:
    """Add every route of the pack to ``routes`` (ComfyUI's ``PromptServer.instance.routes`` or a test app's)."""
    from . import frames, models
    frames.add_routes(routes)
    models.add_routes(routes)
