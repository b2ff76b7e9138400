"""Shared pieces of the node definitions: the FILM type name and the category."""
from __future__ import annotations

FILM = "FILM"
CATEGORY = "FilmRestore"
