"""``open_clip``: one entry point for video files and image sequences."""
from __future__ import annotations

import os
from fractions import Fraction

from ..clip import Film
from ..errors import DecodeError
from .sequence_source import IMAGE_EXTENSIONS, SequenceSource
from .video_source import VideoSource


def is_sequence_spec(spec: str) -> bool:
    """A folder, a glob/printf pattern, or a single image file names an image sequence."""
    return (os.path.isdir(spec) or any(c in os.path.basename(spec) for c in "*?[") or "%" in os.path.basename(spec)
            or spec.lower().endswith(IMAGE_EXTENSIONS))


def open_clip(spec: str | os.PathLike, first_frame: int = 0, frame_count: int = 0,
              force_fps: float | Fraction = 0, color: str = "auto") -> Film:
    """Open a video file or an image sequence as a lazy Film (nothing is decoded beyond a few probe frames)."""
    spec = str(spec)
    if not spec:
        raise DecodeError("no video given: choose a file in the input folder or give a path")
    if is_sequence_spec(spec):
        return SequenceSource(spec, first_frame, frame_count, force_fps, color)
    if not os.path.exists(spec):
        raise DecodeError(f"video file not found: {spec!r}; check the path")
    return VideoSource(spec, first_frame, frame_count, force_fps, color)
