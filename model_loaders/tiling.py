"""Tiled inference for any image model: overlapping tiles blended with feathered weights, so a frame of any
size fits in memory; on out-of-memory the tile is halved and the frame retried.

Each tile is computed with ``overlap`` pixels of extra context on every side, which are then dropped; tiles
overlap by ``overlap`` pixels and are cross-faded there. When the model's receptive field radius fits in
``overlap``, every kept pixel equals the untiled result, so the output matches untiled inference up to
float error, and the feathering only hides differences of models whose field is wider.
"""
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
    step = max(1, tile - overlap)
    return sorted(set(list(range(0, size - tile, step)) + [size - tile]))


def tiled_forward(model: Callable[[Any], Any], x: Any, scale: int, tile: int = 512, overlap: int = 32,
                  min_tile: int = 64) -> Any:
    """``model`` over ``x`` (N, C, H, W) in ``tile`` px tiles; output ``scale`` times larger. ``tile <= 0``
    runs the whole frame at once (still halving into tiles on out-of-memory)."""
    import torch
    while True:
        try:
            return _tiled(model, x, scale, tile, overlap)
        except torch.OutOfMemoryError:
            current = tile if tile > 0 else max(x.shape[-2], x.shape[-1])
            if current // 2 < min_tile:
                raise
            tile = current // 2
            log.warning("out of memory: retrying with %d px tiles", tile)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


def _tiled(model: Callable[[Any], Any], x: Any, scale: int, tile: int, overlap: int) -> Any:
    import torch
    n, _, h, w = x.shape
    if tile <= 0 or (h <= tile and w <= tile):
        return model(x)
    overlap = max(0, min(overlap, tile // 2))
    out = weight = None
    for y0 in _starts(h, tile, overlap):
        for x0 in _starts(w, tile, overlap):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            # the tile plus context; the context is cropped away after the model
            cy0, cx0, cy1, cx1 = max(0, y0 - overlap), max(0, x0 - overlap), min(h, y1 + overlap), min(w, x1 + overlap)
            pred = model(x[:, :, cy0:cy1, cx0:cx1]).float()
            pred = pred[:, :, (y0 - cy0) * scale:(y1 - cy0) * scale, (x0 - cx0) * scale:(x1 - cx0) * scale]
            if out is None:
                out = torch.zeros((n, pred.shape[1], h * scale, w * scale), dtype=torch.float32, device=x.device)
                weight = torch.zeros((1, 1, h * scale, w * scale), dtype=torch.float32, device=x.device)
            wy = _ramp((y1 - y0) * scale, overlap * scale, y0 == 0, y1 == h).to(x.device)
            wx = _ramp((x1 - x0) * scale, overlap * scale, x0 == 0, x1 == w).to(x.device)
            wt = (wy[:, None] * wx[None, :])[None, None]
            out[:, :, y0 * scale:y1 * scale, x0 * scale:x1 * scale] += pred * wt
            weight[:, :, y0 * scale:y1 * scale, x0 * scale:x1 * scale] += wt
    return (out / weight).to(x.dtype)
