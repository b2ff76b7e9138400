"""Loading checkpoints safely: ``.safetensors`` directly; ``.pth``/``.pkl``/``.tar`` only through
``torch.load(weights_only=True)`` with a short allow-list, so a file that would run code is refused."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..filmlib.errors import InputError

PICKLE_SUFFIXES = (".pth", ".pt", ".pkl", ".tar", ".ckpt", ".bin")
WRAPPER_KEYS = ("state_dict", "params_ema", "params", "model", "module", "net", "generator", "model_state_dict")


class UnsafeCheckpointError(InputError):
    """The checkpoint needs arbitrary code to load; it is refused."""


def _allowed_globals() -> list[Any]:
    import collections
    import torch
    # Harmless types that official checkpoints pickle besides tensors (DeOldify stores slices in BatchNorm
    # metadata; older torch.save files use OrderedDict and torch.Size).
    return [slice, collections.OrderedDict, torch.Size, set, frozenset]


def load_file(path: str | os.PathLike) -> Any:
    """The raw object in a checkpoint file (a dict of tensors, possibly nested), loaded on the CPU."""
    import torch
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint not found: {str(path)!r}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file as st_load
        flat = st_load(str(path), device="cpu")
        return _nest(flat)
    if not path.name.endswith(PICKLE_SUFFIXES):
        raise InputError(f"{path.name!r}: unknown checkpoint type; use .safetensors or one of {PICKLE_SUFFIXES}")
    import pickle
    try:
        with torch.serialization.safe_globals(_allowed_globals()):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpointError(
            f"{path.name!r} refers to code that would run on loading ({str(exc).splitlines()[0][:200]}); it is "
            f"refused for safety. If you trust the file, convert it once in a throwaway environment, or get a "
            f".safetensors version") from None
    except RuntimeError as exc:
        raise InputError(f"{path.name!r} is not a readable PyTorch checkpoint ({exc}); the download may be "
                         f"incomplete: delete it and download again") from exc


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Undo the flattening of nested checkpoints written by :func:`convert` (``modelR::conv.weight``)."""
    if not any("::" in k for k in flat):
        return flat
    out: dict[str, Any] = {}
    for k, v in flat.items():
        outer, _, inner = k.partition("::")
        out.setdefault(outer, {})[inner] = v
    return out


def unwrap(obj: Any) -> dict[str, Any]:
    """A flat ``{key: tensor}`` state dict from the usual wrappers (state_dict, params_ema, module. prefix)."""
    import torch
    for _ in range(4):
        if isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
            key = next((k for k in WRAPPER_KEYS if k in obj and isinstance(obj[k], dict)), None)
            if key is None:
                break
            obj = obj[key]
    if not isinstance(obj, dict) or not obj:
        raise InputError(f"checkpoint holds {type(obj).__name__}, not a state dict of tensors")
    keys = [k for k in obj if isinstance(obj[k], torch.Tensor)]
    if keys and all(k.startswith("module.") for k in keys):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def load_state_dict(path: str | os.PathLike, key: str | None = None) -> dict[str, Any]:
    """A flat state dict from ``path``; ``key`` picks one model of a multi-model file (DeepRemaster)."""
    obj = load_file(path)
    if key is not None:
        if not isinstance(obj, dict) or key not in obj:
            have = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
            raise InputError(f"{Path(path).name!r} has no {key!r} entry (it has {have})")
        obj = obj[key]
    return unwrap(obj)


def convert(path: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write a ``.safetensors`` copy of a checkpoint (nested models flattened as ``outer::key``)."""
    import torch
    from safetensors.torch import save_file
    path = Path(path)
    obj = load_file(path)
    flat: dict[str, torch.Tensor] = {}
    if isinstance(obj, dict) and obj and all(isinstance(v, dict) for v in obj.values()) and \
            not any(k in obj for k in WRAPPER_KEYS):
        for outer, sd in obj.items():
            for k, v in unwrap(sd).items():
                if isinstance(v, torch.Tensor):
                    flat[f"{outer}::{k}"] = v.contiguous()
    else:
        flat = {k: v.contiguous() for k, v in unwrap(obj).items() if isinstance(v, torch.Tensor)}
    target = Path(out) if out else path.with_name(path.name.split(".")[0] + ".safetensors")
    if target.exists():
        raise InputError(f"{target} exists; remove it first or choose another output name")
    tmp = target.with_name(f".{target.name}.tmp")
    save_file(flat, str(tmp))
    os.replace(tmp, target)
    return target
