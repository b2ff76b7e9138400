"""Tiled inference for any image model: overlapping tiles blended with feathered weights, so a frame of any
size fits in memory; on out-of-memory the tile is halved and the frame retried."""
from __future__ import annotations

import logging
from typing import Any, Callable

log = logging.getLogger(__name__)


def _ramp(n: int, overlap: int, at_start: bool, at_end: bool) -> Any:
    import torch
    w = torch.ones(n)
    if overlap > 0:
        ramp = (torch.arange(overlap, dtype=torch.float32) + 0.5) / overlap
        if not at_start:
            w[:overlap] = ramp
        if not at_end:
            w[n - overlap:] = ramp.flip(0)
    return w


def _starts(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, size - tile, step)) + [size - tile]
    return sorted(set(starts))


def tiled_forward(model: Callable[[Any], Any], x: Any, scale: int, tile: int = 512, overlap: int = 32,
                  min_tile: int = 64) -> Any:
    """``model`` over ``x`` (N, C, H, W) in tiles of ``tile`` px with ``overlap`` px blended; output ``scale``x.

    Equal to ``model(x)`` up to float error when the model's receptive field fits in the overlap. ``tile <= 0``
    runs untiled.
    """
    import torch
    while True:
        try:
            return _tiled(model, x, scale, tile, overlap)
        except torch.OutOfMemoryError:
            if tile <= 0:
                tile = max(x.shape[-2], x.shape[-1])
            if tile // 2 < min_tile:
                raise
            tile //= 2
            overlap = min(overlap, tile // 4)
            log.warning("out of memory: retrying with %d px tiles", tile)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


def _tiled(model: Callable[[Any], Any], x: Any, scale: int, tile: int, overlap: int) -> Any:
    import torch
    n, c, h, w = x.shape
    if tile <= 0 or (h <= tile and w <= tile):
        return model(x)
    overlap = min(overlap, tile // 2)
    out = None
    weight = torch.zeros((1, 1, h * scale, w * scale), dtype=torch.float32, device=x.device)
    ys, xs = _starts(h, tile, overlap), _starts(w, tile, overlap)
    for y0 in ys:
        for x0 in xs:
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            pred = model(x[:, :, y0:y1, x0:x1]).float()
            if out is None:
                out = torch.zeros((n, pred.shape[1], h * scale, w * scale), dtype=torch.float32, device=x.device)
            wy = _ramp((y1 - y0) * scale, overlap * scale, y0 == 0, y1 == h).to(x.device)
            wx = _ramp((x1 - x0) * scale, overlap * scale, x0 == 0, x1 == w).to(x.device)
            wt = (wy[:, None] * wx[None, :])[None, None]
            out[:, :, y0 * scale:y1 * scale, x0 * scale:x1 * scale] += pred * wt
            weight[:, :, y0 * scale:y1 * scale, x0 * scale:x1 * scale] += wt
    return (out / weight).to(x.dtype)
