"""DeOldify inference (Jason Antic, github.com/jantic/DeOldify, MIT) as a stage, following the official
``deoldify/filters.py`` ``ColorizerFilter`` that ``visualize.py`` runs on every frame of a video.

Per frame, as the official filter: the gray picture is stretched to a square of ``render_factor * 16`` pixels
(PIL bilinear: here torch's antialiased bilinear, which is PIL's filter), ImageNet-normalised as three equal
channels, run through the generator, de-normalised and clamped to [0, 1]; the colour is resized back to the
frame size and only its chroma is kept: the frame's own luma, at full resolution and bit depth, is merged with
the model's U and V with OpenCV's RGB<->YUV constants (the official ``_post_process``), then clamped.

Deliberate differences from ``filters.py``, none of which changes an 8-bit result by more than a few levels:
the gray is the source's luma rounded to its own integer levels (PIL's ``convert('L')`` formula) taken before
the resize rather than after it; the model's colour is not truncated to uint8 before the resize, and the YUV
merge is done in float rather than in cv2's 8-bit path, so 16-bit films keep 16-bit luma. The official code
returns the gray input when the GPU runs out of memory; here the batch is halved and, at one frame, an error
says what to lower.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..clip import Film, Stage
from ..errors import InputError

RENDER_BASE = 16                               # filters.py: ColorizerFilter.render_base
OFFICIAL_FILES = ("ColorizeArtistic_gen.pth", "ColorizeVideo_gen.pth", "ColorizeStable_gen.pth")
# cv2 COLOR_RGB2YUV / COLOR_YUV2RGB float constants (the official post-process goes through them)
_YUV_U, _YUV_V = 0.492, 0.877
_RGB_FROM_V_R, _RGB_FROM_U_G, _RGB_FROM_V_G, _RGB_FROM_U_B = 1.140, -0.395, -0.581, 2.032
# the Y error of one cv2 round trip per unit of U and V: the constants above are rounded, so Y' = Y + aU + bV
YUV_ROUND_TRIP_U = 0.114 * _RGB_FROM_U_B + 0.587 * _RGB_FROM_U_G                    # -0.000217
YUV_ROUND_TRIP_V = 0.299 * _RGB_FROM_V_R + 0.587 * _RGB_FROM_V_G                    # -0.000187


def render_size(render_factor: int) -> int:
    """Side of the square the network sees: ``render_factor * 16`` pixels (official ``render_base``)."""
    rf = int(render_factor)
    if not 1 <= rf <= 128:
        raise InputError(f"render_factor must be 1..128 (the network sees a square of render_factor x 16 px), "
                         f"got {render_factor}; the official video default is 21, 10-15 often suits old footage")
    return rf * RENDER_BASE


def model_gray(frames: Any, max_value: int) -> Any:
    """(B, H, W, C) integer tensor (C 1 or 3) -> (B, 1, H, W) float32 gray in [0, 1], rounded to the source's
    levels with PIL's ``convert('L')`` fixed-point Rec.601 (``(19595 R + 38470 G + 7471 B + 2^15) >> 16``)."""
    import torch
    x = frames.to(torch.int64)
    g = x[..., 0] if x.shape[-1] == 1 else (x[..., 0] * 19595 + x[..., 1] * 38470 + x[..., 2] * 7471 + 32768) >> 16
    return (g.to(torch.float32) / max_value)[:, None]


def source_luma(frames: Any, max_value: int) -> Any:
    """(B, H, W, C) integer tensor -> (B, 1, H, W) float32 Rec.601 luma in [0, 1], unrounded (cv2's Y)."""
    import torch
    x = frames.to(torch.float32) / max_value
    if x.shape[-1] == 1:
        return x.permute(0, 3, 1, 2)
    return (0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2])[:, None]


def resize(x: Any, height: int, width: int) -> Any:
    """(B, C, h, w) float -> (B, C, height, width) by PIL's bilinear filter (antialiased when shrinking)."""
    import torch.nn.functional as F
    if tuple(x.shape[-2:]) == (height, width):
        return x
    return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)


def chroma_of(color: Any) -> Any:
    """(B, 3, h, w) RGB in [0, 1] -> (B, 2, h, w) U, V (cv2's float YUV, without the 0.5 offset)."""
    y = 0.299 * color[:, 0] + 0.587 * color[:, 1] + 0.114 * color[:, 2]
    return _stack(_YUV_U * (color[:, 2] - y), _YUV_V * (color[:, 0] - y))


def merge_chroma(y: Any, uv: Any) -> Any:
    """Luma (B, 1, H, W) and chroma (B, 2, H, W) -> (B, 3, H, W) RGB clamped to [0, 1] (cv2 YUV2RGB)."""
    u, v = uv[:, 0], uv[:, 1]
    lum = y[:, 0]
    rgb = _stack(lum + _RGB_FROM_V_R * v, lum + _RGB_FROM_U_G * u + _RGB_FROM_V_G * v, lum + _RGB_FROM_U_B * u)
    return rgb.clamp(0.0, 1.0)


def _stack(*planes: Any) -> Any:
    import torch
    return torch.stack(planes, dim=1)


def colorize_batch(net: Any, frames: Any, max_value: int, render_factor: int, strength: float = 1.0) -> Any:
    """Colour a batch the official way. ``frames``: (B, H, W, C) integer tensor on the net's device (C 1 or 3,
    levels 0..``max_value``); returns (B, 3, H, W) float32 RGB in [0, 1] with the frames' own luma."""
    import torch
    from ...model_loaders.deoldify import IMAGENET_MEAN, IMAGENET_STD, deoldify_normalize
    side = render_size(render_factor)
    dtype = next(net.parameters()).dtype
    h, w = frames.shape[1], frames.shape[2]
    gray = resize(model_gray(frames, max_value), side, side)
    with torch.inference_mode():
        raw = net(deoldify_normalize(gray).to(dtype)).to(torch.float32)
    mean = torch.tensor(IMAGENET_MEAN, device=raw.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=raw.device).view(1, 3, 1, 1)
    color = (raw * std + mean).clamp(0.0, 1.0)           # fastai denorm, then ImageList.reconstruct's clamp
    # YUV is linear and bilinear weights sum to 1: the chroma of the resized colour is the resized chroma
    uv = resize(chroma_of(color), h, w) * float(strength)
    return merge_chroma(source_luma(frames, max_value), uv)


def resolve_model(model: str) -> Path:
    """The DeOldify file ``model`` (a name in models/deoldify, or a path), or an error naming the file, the
    folders searched and where to get it."""
    from ...model_loaders.folders import ModelNotFoundError, find_model
    from ...model_loaders.registry import find
    if not model or model == "none":
        infos = [find(name) for name in OFFICIAL_FILES]
        where = "; ".join(f"{i.filename} ({i.urls[0]})" for i in infos)
        raise InputError(f"DeOldify needs a generator checkpoint in models/deoldify: {where}. Download one with "
                         f"`python -m filmrestore models download deoldify-video` (MIT licence), or, with no weights, connect a "
                         f"colour photo to the node's reference input (exemplar transfer)")
    try:
        return find_model("deoldify", model)
    except ModelNotFoundError as exc:
        raise ModelNotFoundError(f"{exc}. DeOldify's official generators (MIT licence) are "
                                 f"{', '.join(OFFICIAL_FILES)}") from None


class DeOldifyStage(Stage):
    """DeOldify colourisation of a gray (or faded colour) film. Output: RGB (3 channels), the source's size and
    bit depth; its luma is the source's (see :data:`YUV_ROUND_TRIP_U`), its chroma the model's, scaled by
    ``strength`` (0 gray, 1 the official colour). ``batch_size`` frames go through the network at once."""

    name = "deoldify"
    version = "1"

    def __init__(self, source: Film, model: str, render_factor: int = 21, strength: float = 1.0,
                 device: str = "auto", precision: str = "auto", batch_size: int = 4):
        from ...model_loaders.device import pick_device, pick_dtype
        side = render_size(render_factor)
        if not 0.0 <= float(strength) <= 1.0:
            raise InputError(f"strength must be 0..1 (0 keeps the film gray, 1 is the model's colour), "
                             f"got {strength}")
        if int(batch_size) < 1:
            raise InputError(f"batch_size must be at least 1 frame, got {batch_size}")
        self.path = resolve_model(model)
        try:
            self.device = pick_device(device)
            self.dtype = pick_dtype(self.device, precision)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        self.render_factor, self.strength, self.batch_size = int(render_factor), float(strength), int(batch_size)
        st = self.path.stat()
        params = {"model": [str(self.path), st.st_size, st.st_mtime_ns], "render_size": side,
                  "strength": self.strength, "dtype": str(self.dtype)}
        super().__init__(source, params, info=source.info.with_(channels=3))

    def network(self) -> Any:
        """The generator on the stage's device and precision (loaded once per process, see MODEL_CACHE)."""
        from ...model_loaders.deoldify import load_deoldify
        from ...model_loaders.device import MODEL_CACHE
        return MODEL_CACHE.get(self.path, self.device, self.dtype,
                               lambda: load_deoldify(self.path).to(device=self.device, dtype=self.dtype))

    def compute(self, frames: np.ndarray, first: int, start: int, stop: int) -> np.ndarray:
        net = self.network()
        out = np.empty((stop - start, *self.info.frame_shape), self.info.dtype)
        pos, batch = start, self.batch_size
        while pos < stop:
            end = min(stop, pos + batch)
            try:
                out[pos - start:end - start] = self._run(net, frames[pos - first:end - first])
            except Exception as exc:   # noqa: BLE001 -- only out-of-memory is handled, anything else re-raised
                if not _out_of_memory(exc):
                    raise
                if batch == 1:
                    raise InputError(f"DeOldify at render_factor {self.render_factor} "
                                     f"({render_size(self.render_factor)} px square) does not fit in "
                                     f"{self.device} memory even one frame at a time; lower render_factor or "
                                     f"choose device cpu") from exc
                batch = max(1, batch // 2)
                _free_memory()
                continue
            pos = end
        return out

    def _run(self, net: Any, frames: np.ndarray) -> np.ndarray:
        import torch
        maxv = self.source.info.max_value
        src = frames if frames.dtype == np.uint8 else frames.astype(np.int32)   # torch lacks uint16 arithmetic
        x = torch.from_numpy(np.ascontiguousarray(src)).to(self.device)
        rgb = colorize_batch(net, x, maxv, self.render_factor, self.strength)
        q = (rgb * maxv + 0.5).floor_().permute(0, 2, 3, 1)
        return q.to(torch.int32).cpu().numpy().astype(self.info.dtype)


def _out_of_memory(exc: BaseException) -> bool:
    import torch
    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", ())
    return isinstance(exc, oom) or (isinstance(exc, RuntimeError) and "out of memory" in str(exc))


def _free_memory() -> None:
    import torch
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
