"""Single-image models through spandrel (Real-ESRGAN, SRVGGNetCompact, SwinIR, HAT, NAFNet, ...), loaded with our
safe checkpoint reader, run in batches and tiles on the chosen device."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from ..filmlib.errors import InputError
from .checkpoint import load_state_dict
from .device import MODEL_CACHE, pick_device, pick_dtype
from .tiling import tiled_forward


def blend_state_dicts(a: dict[str, Any], b: dict[str, Any], alpha: float) -> dict[str, Any]:
    """``alpha * a + (1 - alpha) * b`` key by key (Real-ESRGAN's network interpolation, ``dni``)."""
    if a.keys() != b.keys():
        raise InputError("the two models to blend have different layers; they must be the same architecture")
    return {k: alpha * a[k] + (1 - alpha) * b[k] if a[k].is_floating_point() else a[k] for k in a}


def load_descriptor(path: Path, blend_with: Path | None = None, alpha: float = 1.0) -> Any:
    """A spandrel ImageModelDescriptor from a checkpoint file (optionally blended with a twin checkpoint)."""
    import spandrel
    sd = load_state_dict(path)
    if blend_with is not None and alpha < 1.0:
        sd = blend_state_dicts(sd, load_state_dict(blend_with), alpha)
    try:
        desc = spandrel.ModelLoader().load_from_state_dict(sd)
    except spandrel.UnsupportedModelError as exc:
        raise InputError(f"{path.name!r} is not an architecture spandrel knows ({exc}); use an upscale or "
                         f"restoration model such as Real-ESRGAN, SwinIR, HAT or NAFNet") from exc
    if not isinstance(desc, spandrel.ImageModelDescriptor):
        raise InputError(f"{path.name!r} is a {type(desc).__name__}, not a single-image model")
    return desc.eval()


class ImageModel:
    """A spandrel descriptor ready to run on float frames, with an identity for cache signatures."""

    def __init__(self, descriptor: Any, identity: str, device: str = "auto", precision: str = "auto",
                 tile: int = 512, overlap: int = 32, batch: int = 4):
        import torch
        self.device = pick_device(device)
        half_ok = bool(getattr(descriptor, "supports_half", False))
        self.dtype = pick_dtype(self.device, precision, supports_half=half_ok)
        if self.dtype == torch.bfloat16 and not getattr(descriptor, "supports_bfloat16", False):
            self.dtype = torch.float32
        self.descriptor = descriptor.to(self.device).to(self.dtype) if hasattr(descriptor, "to") else descriptor
        self.scale = int(descriptor.scale)
        self.in_channels = int(descriptor.input_channels)
        req = descriptor.size_requirements
        self.multiple = max(1, int(getattr(req, "multiple_of", 1) or 1))
        self.minimum = max(1, int(getattr(req, "minimum", 1) or 1))
        self.tile, self.overlap, self.batch = tile, overlap, max(1, batch)
        self.signature = hashlib.sha256(f"{identity}|{self.dtype}|{tile}|{overlap}".encode()).hexdigest()[:24]

    @classmethod
    def from_file(cls, path: Path, device: str = "auto", precision: str = "auto", tile: int = 512,
                  blend_with: Path | None = None, alpha: float = 1.0) -> "ImageModel":
        st = path.stat()
        identity = f"{path.name}:{st.st_size}:{st.st_mtime_ns}:{blend_with.name if blend_with else ''}:{alpha}"
        desc = MODEL_CACHE.get(path, pick_device(device), f"{precision}|{blend_with}|{alpha}",
                               lambda: load_descriptor(path, blend_with, alpha))
        return cls(desc, identity, device, precision, tile)

    def check_fits(self, width: int, height: int, frames: int) -> None:
        """Raise :class:`InputError` before any work when the model's output for ``frames`` frames of
        ``width`` x ``height`` cannot be held on a CUDA device: tiles are assembled there at full size, so a
        smaller tile does not help."""
        import torch
        if self.device.type != "cuda":
            return  # host memory is checked by the stage
        n = min(self.batch, max(1, frames))
        need = n * width * height * self.scale ** 2 * max(3, self.in_channels) * 4
        free, total = torch.cuda.mem_get_info(self.device)
        if need > free:
            from ..filmlib.io.limits import human_bytes
            raise InputError(
                f"the {self.scale}x model makes {width * self.scale}x{height * self.scale} frames: {n} of them "
                f"need about {human_bytes(need)} on {self.device}, which has {human_bytes(free)} free of "
                f"{human_bytes(total)}; choose device cpu, a smaller input (crop or downscale first), or a 2x "
                f"model (a smaller tile does not help: the whole output frame is assembled on the GPU)")

    def _forward(self, x: Any) -> Any:
        import torch
        h, w = x.shape[-2:]
        ph = max(self.minimum, -(-h // self.multiple) * self.multiple) - h
        pw = max(self.minimum, -(-w // self.multiple) * self.multiple) - w
        if ph or pw:
            x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate")
        y = self.descriptor(x)
        return y[..., : h * self.scale, : w * self.scale]

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """(n, H, W, C) float32 in [0, 1] -> (n, H*s, W*s, C) float32; gray runs on replicated channels."""
        import torch
        gray = frames.shape[-1] == 1
        outs = []
        with torch.inference_mode():
            for k in range(0, len(frames), self.batch):
                part = frames[k:k + self.batch]
                if gray and self.in_channels == 3:
                    part = np.repeat(part, 3, axis=-1)
                x = torch.from_numpy(np.ascontiguousarray(part)).permute(0, 3, 1, 2).to(self.device, self.dtype)
                y = tiled_forward(self._forward, x, self.scale, self.tile, self.overlap)
                y = y.float().clamp_(0, 1).permute(0, 2, 3, 1).cpu().numpy()
                if gray and y.shape[-1] == 3:
                    y = y.mean(axis=-1, keepdims=True)
                outs.append(y)
        return np.concatenate(outs)


def fingerprint(descriptor: Any) -> str:
    """A stable identity for an already-loaded model (ComfyUI's UPSCALE_MODEL): architecture, scale and a
    checksum of a few weights, so cache signatures survive restarts without hashing every tensor."""
    import torch
    h = hashlib.sha256(f"{type(descriptor.model).__name__}|{descriptor.scale}".encode())
    for i, (name, t) in enumerate(descriptor.model.state_dict().items()):
        if i % 7 == 0 and isinstance(t, torch.Tensor) and t.numel():
            h.update(name.encode())
            h.update(t.detach().float().flatten()[:64].cpu().numpy().tobytes())
    return h.hexdigest()[:24]


def image_model(kind: str, model_name: str, loaded: Any = None, device: str = "auto", precision: str = "auto",
                tile: int = 512, denoise_strength: float = 1.0) -> ImageModel:
    """An ImageModel from a loaded descriptor (ComfyUI's UPSCALE_MODEL) or a file in the ``kind`` folder.

    For ``realesr-general-x4v3`` a ``denoise_strength`` below 1 blends in its ``wdn`` twin, as Real-ESRGAN does.
    """
    from .folders import find_model
    if loaded is not None:
        return ImageModel(loaded, f"loaded:{fingerprint(loaded)}", device, precision, tile)
    if not model_name or model_name == "none":
        raise InputError(f"method 'model' needs a model: put one in the {kind} models folder and choose it, or "
                         f"connect a Load Upscale Model node")
    path = find_model(kind, model_name)
    blend = None
    if denoise_strength < 1.0 and "realesr-general-x4v3" in path.name:
        twin = path.with_name(path.name.replace("realesr-general-x4v3", "realesr-general-wdn-x4v3"))
        if not twin.is_file():
            raise InputError(f"denoise_strength {denoise_strength} needs {twin.name} next to {path.name} "
                             f"(python -m filmrestore models download realesr-general-wdn-x4v3)")
        blend = twin
    return ImageModel.from_file(path, device, precision, tile, blend, denoise_strength)
