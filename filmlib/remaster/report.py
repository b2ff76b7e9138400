"""What a remaster changed: a change mask for methods that give no defect mask, and the node's short report."""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ..clip import Film, Stage
from ..frames import luma, to_float
from .stage import DUST, SCRATCH, DefectMaskStage, RemasterStage

CHANGED = 0.1     # fraction of full scale: a change this large is a repair, not a tone adjustment

Progress = Optional[Callable[[int, int, Optional[np.ndarray]], None]]


class ChangeMaskStage(Stage):
    """255 where ``output``'s luma differs from ``original``'s by more than CHANGED, (H, W, 1) uint8 at the
    output's size."""

    name = "change-mask"
    version = "1"
    cache_policy = "memory"

    def __init__(self, output: Film, original: Film):
        info = output.info.with_(channels=1, bit_depth=8, audio=None)
        super().__init__(output, {}, info=info, extra_sources=(original,))
        self.original = original

    def compute(self, frames: np.ndarray, first: int, start: int, stop: int) -> np.ndarray:
        import cv2
        before = self.original.read(start, stop)
        h, w = self.info.height, self.info.width
        out = np.zeros((stop - start, h, w, 1), np.uint8)
        for k in range(stop - start):
            a = luma(to_float(frames[start - first + k]))
            b = luma(to_float(before[k]))
            if b.shape != a.shape:
                b = cv2.resize(b, (w, h), interpolation=cv2.INTER_AREA)
            out[k, ..., 0] = np.where(np.abs(a - b) > CHANGED, 255, 0)
        return out


def _count(mask: Film, progress: Progress) -> tuple[int, int, int]:
    dust = scratch = 0
    n = len(mask)
    for first, chunk in mask.chunks():
        dust += int(np.count_nonzero(chunk == DUST))
        scratch += int(np.count_nonzero(chunk == SCRATCH))
        if progress is not None:
            progress(first + len(chunk), n, None)
    return dust, scratch, n * mask.info.width * mask.info.height


def classical_report(stage: RemasterStage, mask: DefectMaskStage, progress: Progress = None) -> str:
    """The classical method's report; computes (and caches) the whole clip to count its repairs."""
    dust, scratch, total = _count(mask, progress)
    a = stage.analysis()
    p = stage.remaster
    gains = a["corr"][:, 0]
    lines = [f"{len(stage)} frames, {len(a['cuts']) + 1} shot(s)",
             f"dust and blotches: {100.0 * dust / total:.3f} % of pixels repaired" if p.dust else "dust: off",
             f"line scratches: {100.0 * scratch / total:.3f} % of pixels repaired" if p.scratches else "scratches: off"]
    if p.flicker:
        lines.append(f"flicker: every pixel adjusted; gain correction mean {100 * np.mean(np.abs(gains - 1)):.1f} %, "
                     f"max {100 * np.max(np.abs(gains - 1)):.1f} % (window {p.flicker_window} frames)")
    else:
        lines.append("flicker: off")
    lines.append(f"grain: every pixel, strength {p.grain:.2f}" if p.grain > 0 else "grain: kept (strength 0)")
    return "\n".join(lines)


def change_report(mask: Film, progress: Progress = None) -> str:
    """Report for a method without a defect mask: the share of pixels changed by more than CHANGED."""
    changed, _, total = _count(mask, progress)
    return (f"{len(mask)} frames; {100.0 * changed / total:.3f} % of pixels changed by more than "
            f"{int(CHANGED * 100)} % of full scale")
