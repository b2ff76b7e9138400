"""SCENES: the shots of a clip, as a value stages can use to avoid working across cuts."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any


@dataclass(frozen=True)
class Shot:
    """Frames ``[start, end)`` of one shot and its best keyframe (an absolute frame index)."""

    start: int
    end: int
    keyframe: int
    score: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"a shot needs 0 <= start < end, got [{self.start}, {self.end})")
        if not self.start <= self.keyframe < self.end:
            raise ValueError(f"keyframe {self.keyframe} is outside the shot [{self.start}, {self.end})")

    def __len__(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Scenes:
    """The shots of a clip of ``frame_count`` frames at ``fps``; shots cover the clip in order."""

    shots: tuple[Shot, ...]
    frame_count: int
    fps: Fraction
    source_signature: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        pos = 0
        for s in self.shots:
            if s.start != pos:
                raise ValueError(f"shots must cover the clip without gaps: a shot starts at {s.start}, expected {pos}")
            pos = s.end
        if pos != self.frame_count:
            raise ValueError(f"shots end at frame {pos} but the clip has {self.frame_count} frames")

    def check_film(self, frame_count: int) -> None:
        """Raise unless these shots describe a clip of ``frame_count`` frames (the same film)."""
        if self.frame_count != frame_count:
            from .errors import InputError
            raise InputError(f"scenes describe {self.frame_count} frames but the film has {frame_count}; "
                             f"detect scenes on this same film (after any stage that changes the frame count)")

    @property
    def cuts(self) -> list[int]:
        """Frame indices where a new shot starts (the first shot's 0 excluded)."""
        return [s.start for s in self.shots[1:]]

    def timecode(self, frame: int) -> str:
        """HH:MM:SS.mmm of a frame at this clip's rate."""
        t = Fraction(frame) / self.fps
        ms = int(round(t * 1000))
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
