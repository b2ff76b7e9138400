"""``python -m filmrestore metrics flicker VIDEO [--plot OUT.png] [--json]``: quality figures of a clip."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..filmlib.errors import EncodeError, InputError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``metrics`` command (with its ``flicker`` sub-command) to the CLI's sub-parsers."""
    from ..filmlib.colorize.flicker_metric import DEFAULT_WIDTH
    m = subparsers.add_parser("metrics", help="measure a clip (colour flicker)")
    sub = m.add_subparsers(dest="metric", required=True)
    f = sub.add_parser("flicker", help="colour flicker: mean flow-warped CIELAB ab difference between consecutive "
                                       "frames, cuts excluded")
    f.add_argument("video", help="video file or image sequence")
    f.add_argument("--plot", metavar="OUT.png", help="write a per-frame plot (PNG)")
    f.add_argument("--json", action="store_true", help="print the clip figure and the per-frame figures as JSON")
    f.add_argument("--width", type=int, default=DEFAULT_WIDTH, help=f"measure at this width (default {DEFAULT_WIDTH})")
    f.add_argument("--cuts", help="first frames of shots, comma-separated (default: cuts are detected)")
    f.set_defaults(func=cmd_metrics_flicker)


def _cuts(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return sorted({int(t) for t in text.replace(" ", "").split(",") if t})
    except ValueError:
        raise InputError(f"--cuts must be frame numbers separated by commas, e.g. --cuts 120,480; got {text!r}")


def cmd_metrics_flicker(args: argparse.Namespace) -> int:
    """Print the clip's colour flicker (ab units); per frame too with ``--json``; ``--plot`` writes a PNG."""
    from ..filmlib.colorize.flicker_metric import flicker_plot, format_report, measure_flicker
    from ..filmlib.io.open import open_clip
    if args.width < 16:
        raise InputError(f"--width must be at least 16 px, got {args.width}")
    plot = Path(args.plot) if args.plot else None
    if plot is not None and plot.suffix.lower() != ".png":
        raise InputError(f"--plot writes a PNG: name a .png file, got {args.plot!r}")
    film = open_clip(args.video)
    cuts = _cuts(args.cuts)
    if cuts is not None and any(not 0 < c < film.info.frame_count for c in cuts):
        raise InputError(f"--cuts {args.cuts!r}: every cut must be within 1..{film.info.frame_count - 1} "
                         f"(the clip has {film.info.frame_count} frames)")
    report = measure_flicker(film, cuts, args.width)
    if plot is not None:
        import cv2
        plot.parent.mkdir(parents=True, exist_ok=True)
        img = flicker_plot([(Path(args.video).name, report)])
        if not cv2.imwrite(str(plot), img[..., ::-1]):
            raise EncodeError(f"could not write the plot to {plot}; check that the folder is writable")
    if args.json:
        print(json.dumps({"video": str(args.video), **report.to_json()}))
    else:
        print(format_report(report, Path(args.video).name))
        if plot is not None:
            print(f"plot: {plot}")
    return 0
