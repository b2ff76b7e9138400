"""Stand-in weights in the official file layouts, for wiring tests of workflows that use learned models.

The weights follow ``../shared/tools/fidelity_weights.py`` (deterministic, not trained): a workflow that runs on
them proves the files load through the user's path and the graph is wired, not that the output looks good.
Files are written once per session into a models folder laid out like ComfyUI's (``deoldify/``, ``rife/``...).
"""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Iterable

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

# registry name -> (sub-folder, file name, manifests or a builder)
STANDINS = {
    "deoldify-artistic": ("deoldify", "ColorizeArtistic_gen.pth", ("deoldify_artistic",)),
    "deoldify-video": ("deoldify", "ColorizeVideo_gen.pth", ("deoldify_video",)),
    "deepremaster": ("deepremaster", "remasternet.pth.tar", ("deepremaster_R", "deepremaster_C")),
    "rife-4.26": ("rife", "rife426.pth", ("rife_v426",)),
    "siggraph17": ("colorization", "siggraph17-df00044c.pth", ("zhang_siggraph17",)),
    "realesr-general-x4v3": ("upscale_models", "realesr-general-x4v3.pth", ()),
    "realesr-general-wdn-x4v3": ("upscale_models", "realesr-general-wdn-x4v3.pth", ()),
}


def shared_tools():
    """The fidelity weight maker from ../shared/tools, or None when the shared folder is absent."""
    tools = SHARED / "tools"
    if not (tools / "fidelity_weights.py").exists():
        return None
    if str(tools) not in sys.path:
        sys.path.insert(0, str(tools))
    import fidelity_weights
    return fidelity_weights


@functools.lru_cache(maxsize=None)
def recipe_state_dict(manifest: str) -> tuple[dict, dict]:
    """(fidelity meta or {}, state dict) of the fidelity recipe for manifest ``manifest`` (e.g.
    "deoldify_video"), made once per test session (the video model takes ~25 s) and checked against the
    fixture's sha256, so RNG drift shows up. Callers must not change the dict in place (copy it first)."""
    fw = shared_tools()
    if fw is None:
        raise FileNotFoundError(f"{SHARED}/tools/fidelity_weights.py is needed for the {manifest} weights")
    man = json.loads((SHARED / "fixtures" / "manifests" / f"{manifest}.json").read_text())
    meta_path = SHARED / "fixtures" / "fidelity" / manifest / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    sd = fw.make_state_dict(man, meta.get("weights", {}).get("seed", 0))
    if meta:
        assert fw.state_dict_sha256(sd) == meta["weights"]["weights_sha256"], f"{manifest}: weights drifted"
    return meta, sd


def write_standin(root: Path, name: str) -> Path:
    """Write the stand-in for registry model ``name`` under ``root`` (a models folder); its path."""
    import torch
    folder, filename, manifests = STANDINS[name]
    path = root / folder / filename
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    if not manifests:  # Real-ESRGAN's compact net: spandrel's own class gives the official key layout
        from spandrel.architectures.Compact import Compact
        torch.manual_seed(len(filename))  # the two Real-ESRGAN twins differ
        sd = Compact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=32, upscale=4).state_dict()
        torch.save({"params": sd}, path)  # the file Real-ESRGAN publishes wraps the dict in 'params'
        return path
    fw = shared_tools()
    if fw is None:
        raise FileNotFoundError(f"{SHARED}/tools/fidelity_weights.py is needed to make {filename}")
    mans = [json.loads((SHARED / "fixtures" / "manifests" / f"{m}.json").read_text()) for m in manifests]
    sds = [recipe_state_dict(m)[1] for m in manifests]
    layout = fw.official_layout(mans, sds, plain=name.startswith("rife"))
    torch.save(layout, path)
    return path


def write_standins(root: Path, names: Iterable[str]) -> Path:
    """Every stand-in in ``names`` under ``root``; returns ``root``."""
    for name in names:
        write_standin(root, name)
    return root
