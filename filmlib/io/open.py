"""``open_clip``: one entry point for video files and image sequences."""
from __future__ import annotations

import os
import re
from fractions import Fraction

from ..clip import Film
from ..errors import DecodeError
from .sequence_source import IMAGE_EXTENSIONS, SequenceSource
from .video_source import VIDEO_EXTENSIONS, VideoSource


def is_sequence_spec(spec: str) -> bool:
    """A folder, a glob/printf pattern, or a single image file names an image sequence. An existing file is a
    file first: ``Nosferatu (1922) [1080p].mp4`` or ``100%.mkv`` are videos, not patterns."""
    if os.path.isfile(spec):
        return spec.lower().endswith(IMAGE_EXTENSIONS)
    if os.path.isdir(spec):
        return True
    name = os.path.basename(spec)
    if name.lower().endswith(VIDEO_EXTENSIONS):  # a missing video, whatever its name holds
        return False
    return any(c in name for c in "*?[") or re.search(r"%0?\d*d", name) is not None or name.lower().endswith(
        IMAGE_EXTENSIONS)


def open_clip(spec: str | os.PathLike, first_frame: int = 0, frame_count: int = 0,
              force_fps: float | Fraction = 0, color: str = "auto") -> Film:
    """Open a video file or an image sequence as a lazy Film. Nothing is decoded beyond a few probe frames,
    except for a video whose packet timestamps are not the decoder's (AVI with packed B-frames, raw streams):
    that one is decoded once to index its frames."""
    spec = str(spec)
    if not spec:
        raise DecodeError("no video given: choose a file in the input folder or give a path")
    if is_sequence_spec(spec):
        return SequenceSource(spec, first_frame, frame_count, force_fps, color)
    if not os.path.exists(spec):
        raise DecodeError(f"video file not found: {spec!r} (looked at {os.path.abspath(spec)!r}); check the name, "
                          f"put the file in the input folder or give its full path")
    return VideoSource(spec, first_frame, frame_count, force_fps, color)
