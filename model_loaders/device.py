"""Device and precision choice, and a cache of loaded models keyed by (file, device, dtype)."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from .. import comfy_bridge as bridge

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")


def pick_device(name: str = "auto") -> Any:
    """A torch.device: ComfyUI's inside ComfyUI, else CUDA, then MPS, then CPU (``name`` forces one)."""
    import torch
    if name not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {name!r}")
    if name != "auto":
        if name == "cuda" and not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for but torch sees no CUDA GPU; choose auto or cpu")
        return torch.device(name)
    comfy = bridge.comfy_device()
    if comfy is not None:
        return comfy
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(device: Any, precision: str = "auto", supports_half: bool = True) -> Any:
    """fp16 on CUDA/MPS where the model allows it, fp32 on the CPU (CPU half is slow), or what is asked."""
    import torch
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32" or not supports_half:
        return torch.float32
    if precision == "fp16":
        return torch.float16
    if precision == "bf16":
        return torch.bfloat16
    return torch.float16 if device.type in ("cuda", "mps") else torch.float32


class ModelCache:
    """Loaded models, one per (file, mtime, device, dtype); ``release`` frees them."""

    def __init__(self) -> None:
        self._models: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def get(self, path: Path, device: Any, dtype: Any, load: Callable[[], Any]) -> Any:
        key = (str(path), path.stat().st_mtime_ns, str(device), str(dtype))
        with self._lock:
            model = self._models.get(key)
            if model is None:
                model = load()
                self._models[key] = model
            return model

    def release(self) -> None:
        with self._lock:
            self._models.clear()
        try:
            import torch
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass


MODEL_CACHE = ModelCache()
