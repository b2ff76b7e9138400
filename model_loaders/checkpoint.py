"""Loading checkpoints safely: ``.safetensors`` directly; ``.pth``/``.pkl``/``.tar`` only through
``torch.load(weights_only=True)`` with a short allow-list, so a file that would run code is refused."""
from __future__ import annotations

import json
import os
import struct
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import comfy_bridge as bridge
from ..filmlib.errors import InputError

if TYPE_CHECKING:
    import torch

PICKLE_SUFFIXES = (".pth", ".pt", ".pkl", ".tar", ".ckpt", ".bin")
WRAPPER_KEYS = ("state_dict", "params_ema", "params", "model", "module", "net", "generator", "model_state_dict")


class UnsafeCheckpointError(InputError):
    """The checkpoint needs arbitrary code to load; it is refused."""


class DamagedCheckpointError(InputError):
    """The file is empty, cut short, or not a checkpoint at all."""


# what torch's weights-only unpickler says on bytes that are not a pickle (random data, a text page)
_GARBAGE = ("Unsupported operand", "String is too long", "persistent_load id must be")


def _allowed_globals() -> list[Any]:
    import collections
    import torch
    # Harmless types that official checkpoints pickle besides tensors (DeOldify stores slices in BatchNorm
    # metadata; older torch.save files use OrderedDict and torch.Size).
    return [slice, collections.OrderedDict, torch.Size, set, frozenset]


def get_again(path: Path) -> str:
    """How to get a good copy of ``path``: the download command for a known model, else "from its source"."""
    from .registry import by_filename
    info = by_filename(path.name)
    if info is None:
        return "download it again from where you got it"
    if not info.urls:
        return "download it again"
    if "#" in info.urls[0]:  # a page to download from by hand, not a file
        return f"download it again by hand from {info.urls[0]}"
    if bridge.in_comfyui():  # the download command fills our own models folder, not ComfyUI's
        return f"download it again from {info.urls[0]}"
    return f"get it again with `python -m filmrestore models download {info.name}` (or from {info.urls[0]})"


def _expected_size(path: Path) -> int | None:
    from .registry import by_filename
    info = by_filename(path.name)
    return info.size if info is not None else None


def _damaged(path: Path, what: str) -> InputError:
    size = path.stat().st_size
    expected = _expected_size(path)
    have = f"{size} bytes" + (f" of the published {expected}" if expected and expected != size else "")
    return DamagedCheckpointError(f"model file {str(path)!r} {what}; it has {have} and is damaged or not a "
                                  f"checkpoint: delete it and {get_again(path)}")


def _looks_like_text(head: bytes) -> bool:
    return head.lstrip()[:1] in (b"<", b"{", b"#") or head.lower().lstrip().startswith(b"<!doctype")


def _check_safetensors(path: Path) -> None:
    """Raise a clear error when ``path`` is not a complete .safetensors file (read from its header only)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80":
            raise DamagedCheckpointError(
                f"{str(path)!r} is a PyTorch (pickle) checkpoint named .safetensors, not a safetensors file; "
                f"rename it to .pth (it is then read safely, tensors only) or {get_again(path)}")
        if size < 8:
            raise _damaged(path, "is empty" if size == 0 else "is too short to be a safetensors file")
        (n,) = struct.unpack("<Q", head)
        if n < 2 or n > size - 8 or n > 100 * 2**20:
            raise _damaged(path, "has no valid safetensors header" + (
                " (it looks like a text or web page saved in its place)" if _looks_like_text(head) else ""))
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _damaged(path, "has an unreadable safetensors header") from None
    if not isinstance(header, dict):
        raise _damaged(path, "has an unreadable safetensors header")
    end = max((int(v["data_offsets"][1]) for k, v in header.items()
               if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v), default=0)
    if 8 + n + end > size:
        raise _damaged(path, f"is cut short: its header describes {8 + n + end} bytes (an incomplete download)")


def _pickle_error(path: Path, exc: BaseException) -> InputError:
    """Map what torch.load raised on a damaged, truncated or foreign file to one clear error."""
    size = path.stat().st_size
    if size == 0:
        return _damaged(path, "is empty")
    with open(path, "rb") as f:
        head = f.read(512)
    if head[:4] == b"PK\x03\x04" and not zipfile.is_zipfile(path):
        return _damaged(path, "is cut short (its zip directory is missing: an incomplete download)")
    if isinstance(exc, EOFError) or "EOF" in str(exc):
        return _damaged(path, "ends early (an incomplete download)")
    if _looks_like_text(head):
        return _damaged(path, "is text, not a checkpoint (an error page saved in place of the model?)")
    if head[:1] != b"\x80" and head[:4] != b"PK\x03\x04" and head[257:262] != b"ustar":
        return _damaged(path, "is not a PyTorch checkpoint (no zip, pickle or tar signature)")
    return _damaged(path, f"could not be read ({str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__})")


def load_file(path: str | os.PathLike) -> Any:
    """The raw object in a checkpoint file (a dict of tensors, possibly nested), loaded on the CPU."""
    import torch
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint not found: {str(path)!r}")
    if path.suffix == ".safetensors":
        _check_safetensors(path)
        from safetensors import SafetensorError
        from safetensors.torch import load_file as st_load
        try:
            flat = st_load(str(path), device="cpu")
        except SafetensorError as exc:
            raise _damaged(path, f"could not be read ({exc})") from None
        return _nest(flat)
    if not path.name.endswith(PICKLE_SUFFIXES):
        raise InputError(f"{path.name!r}: unknown checkpoint type; use .safetensors or one of {PICKLE_SUFFIXES}")
    if path.stat().st_size == 0:
        raise _damaged(path, "is empty")
    import pickle
    try:
        with torch.serialization.safe_globals(_allowed_globals()):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if any(m in text for m in _GARBAGE):  # bytes that are no pickle at all, not a pickle asking for code
            raise _pickle_error(path, exc) from None
        detail = next((ln for ln in text.splitlines() if "GLOBAL" in ln or "reduce" in ln),
                      text.splitlines()[0] if text else "")
        raise UnsafeCheckpointError(
            f"{path.name!r} refers to code that would run on loading ({detail.strip()[:200]}); it is "
            f"refused for safety. If you trust the file, convert it once in a throwaway environment, or get a "
            f".safetensors version") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError) as exc:
        # torch reports a damaged zip or pickle as any of these (EOFError for an empty file, OSError
        # "Invalid argument" for a cut-short zip, RuntimeError from the zip reader)
        raise _pickle_error(path, exc) from None


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


def fill_strict(net: torch.nn.Module, sd: dict[str, Any], not_what: str, fix: str) -> torch.nn.Module:
    """``net`` (float32, eval) with every tensor of ``sd``; any missing, unexpected or wrong-shaped key is an
    error: "<not_what>: missing [...], unexpected [...], wrong shape [...]; <fix>". ``num_batches_tracked`` may be
    absent (it only counts training steps; files from before torch 0.4.1 lack it)."""
    own = net.state_dict()
    counts = {k for k in own if k.endswith("num_batches_tracked")}
    missing = [k for k in own if k not in sd and k not in counts]
    unexpected = [k for k in sd if k not in own]
    wrong = [f"{k} {tuple(sd[k].shape)} (expected {tuple(own[k].shape)})" for k in own
             if k in sd and k not in counts and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        raise InputError(f"{not_what}: missing {missing[:3]}{' ...' if len(missing) > 3 else ''} ({len(missing)}), "
                         f"unexpected {unexpected[:3]} ({len(unexpected)}), wrong shape {wrong[:3]}; {fix}")
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()}, strict=False)
    return net.float().eval()
