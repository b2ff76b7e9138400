"""Placeholder until the before/after work lands (owned by the helper building web before/after)."""
from __future__ import annotations

from typing import Any, Mapping


def instrument(mappings: Mapping[str, Any]) -> None:
    """Record each node's input and output FILMs by (prompt id, node id) for the /filmrestore/ routes."""
