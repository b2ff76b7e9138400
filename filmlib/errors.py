"""Typed exceptions. Every message says what was wrong, with the value, and what to do."""
from __future__ import annotations


class FilmRestoreError(Exception):
    """Base class of every error this package raises on purpose."""


class InputError(FilmRestoreError, ValueError):
    """A user-supplied file, path or parameter cannot be used."""


class DecodeError(FilmRestoreError):
    """A media file could not be read (missing, not a video, truncated, zero frames)."""


class EncodeError(FilmRestoreError):
    """An output could not be written with the requested format."""


class CacheError(FilmRestoreError):
    """The chunk cache is misconfigured (bad folder or budget)."""


class WorkflowError(FilmRestoreError):
    """A workflow failed validation; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__(
            f"workflow is invalid ({len(self.errors)} error{'s' if len(self.errors) != 1 else ''}):\n  "
            + "\n  ".join(self.errors)
        )

