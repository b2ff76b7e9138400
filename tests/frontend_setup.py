"""What a template needs before it runs in the real frontend, read from the template itself: the stand-in model
files its widgets name (``tests/standin_models.py``), and the few widget changes that keep a heavy graph fast on a
CPU (a few frames, a small target height). The same changes are made in the page (``ui_driver --set``) and to our
runner's prompt, so the two can still be compared."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from standin_models import STANDINS, write_standins

CLIP_SIZE = (160, 120)   # the clip put in the input folder (and the reference photos): small, so CPU runs are quick
MODEL_FRAMES = 4         # frames a template that runs learned models loads in the page
MAX_HEIGHT = 480         # a target height above this (e.g. 2160) is cut to SMALL_HEIGHT in the page
SMALL_HEIGHT = 240
# in a template that runs learned models, the networks' working sizes are capped too (DeepRemaster at 320 and
# DeOldify at render_factor 12 take most of budapest_1896's 90 s on 2 cores): input -> cap
MODEL_CAPS = {"work_size": 160, "render_factor": 8}
BY_FILE = {filename: (name, folder) for name, (folder, filename, _) in STANDINS.items()}


def standins_named(api: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """(node id, input name, stand-in registry name) for each widget value that names a stand-in's file (e.g.
    ``rife_model: "rife426.pth"``), in node order."""
    found = []
    for nid, node in api.items():
        for name, value in node["inputs"].items():
            if isinstance(value, str) and os.path.basename(value) in BY_FILE:
                found.append((nid, name, BY_FILE[os.path.basename(value)][0]))
    return found


def standins_needed(api: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Every stand-in a run of ``api`` loads: those its widgets name, and the denoise twin that
    ``model_loaders/spandrel_models.py`` loads beside realesr-general-x4v3 when denoise_strength is below 1."""
    needed = set()
    for nid, _, reg in standins_named(api):
        needed.add(reg)
        if reg == "realesr-general-x4v3" and float(api[nid]["inputs"].get("denoise_strength", 1.0)) < 1.0:
            needed.add("realesr-general-wdn-x4v3")
    return needed


def _is_folder(value: Any) -> bool:
    return isinstance(value, str) and value.endswith("/")


def page_changes(api: Mapping[str, Mapping[str, Any]]) -> dict[tuple[str, str], Any]:
    """{(node id, input): value} to set in the page before Run: every clip loader of a template that runs learned
    models reads MODEL_FRAMES frames (a folder of reference photos is left whole) with its networks' working
    sizes capped (MODEL_CAPS), and any target height above MAX_HEIGHT becomes SMALL_HEIGHT (a 4K target would cost
    minutes per frame on a CPU). Templates without learned models keep their widgets: only Run."""
    changes: dict[tuple[str, str], Any] = {}
    learned = bool(standins_named(api))
    for nid, node in api.items():
        inputs = node["inputs"]
        if learned and node["class_type"] == "FilmLoadVideo" and not _is_folder(inputs.get("video")):
            changes[(nid, "frame_count")] = MODEL_FRAMES
        height = inputs.get("target_height")
        if _int(height) and height > MAX_HEIGHT:
            changes[(nid, "target_height")] = SMALL_HEIGHT
        for name, cap in MODEL_CAPS.items():
            if learned and _int(inputs.get(name)) and inputs[name] > cap:
                changes[(nid, name)] = cap
    return changes


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def set_args(changes: Mapping[tuple[str, str], Any]) -> list[str]:
    """The ui_driver arguments that make ``changes`` in the page, as a user edits the widgets."""
    args = []
    for (nid, name), value in sorted(changes.items()):
        args += ["--set", f"#{nid}.{name}={value}"]
    return args


def with_changes(api: Mapping[str, Mapping[str, Any]], changes: Mapping[tuple[str, str], Any]
                 ) -> dict[str, dict[str, Any]]:
    """A copy of ``api`` with ``changes`` made (what the runner's ``--set NODE.input=value`` does)."""
    out = {nid: {"class_type": n["class_type"], "inputs": dict(n["inputs"])} for nid, n in api.items()}
    for (nid, name), value in changes.items():
        assert name in out[nid]["inputs"], f"node {nid} has no input {name!r}"
        out[nid]["inputs"][name] = value
    return out


def _recipe_key() -> str:
    """A digest of what makes the stand-ins (tests/standin_models.py, the shared weight maker and manifests): a
    cached set is used only while these are unchanged."""
    import hashlib
    import standin_models
    h = hashlib.sha1(Path(standin_models.__file__).read_bytes())
    tools = standin_models.SHARED / "tools" / "fidelity_weights.py"
    for p in [tools, *sorted((standin_models.SHARED / "fixtures" / "manifests").glob("*.json"))]:
        if p.is_file():
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()[:12]


def write_models(cache: Path, names: list[str]) -> Path:
    """A models folder in ComfyUI's layout (``upscale_models/``, ``rife/``...) holding the stand-ins ``names``,
    kept under ``cache`` between sessions (DeOldify's video generator takes minutes to make on 2 cores). Each file
    is made in a scratch folder and moved in whole, so an interrupted session leaves no half file behind."""
    import shutil
    root = cache / _recipe_key()
    for old in cache.iterdir() if cache.is_dir() else []:  # sets made by an older recipe: a gigabyte each
        if old.is_dir() and old != root and not old.name.startswith("partial-"):
            shutil.rmtree(old, ignore_errors=True)
    for name in sorted(set(names)):
        folder, filename, _ = STANDINS[name]
        final = root / folder / filename
        if final.is_file():
            continue
        scratch = cache / f"partial-{os.getpid()}"
        made = write_standins(scratch, [name]) / folder / filename
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(made, final)
        shutil.rmtree(scratch, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    return root


def write_inputs(input_dir: Path) -> None:
    """What the templates open in ComfyUI's input folder: ``sample/old_film.mp4`` (12 real frames, small) and the
    sample's reference photos ``sample/references/ref_0001.png``... at the clip's size, as ``filmrestore sample``
    writes them."""
    from filmrestore.filmlib.sample import SampleSpec, write_references
    from realclips import megamind, read_frames, write_frames
    sample = input_dir / "sample"
    sample.mkdir(parents=True, exist_ok=True)
    write_frames(sample / "old_film.mp4", read_frames(megamind(), 0, 12, size=CLIP_SIZE), fps=16)
    write_references(sample / "references", SampleSpec(width=CLIP_SIZE[0], height=CLIP_SIZE[1]))


def combo_lists(object_info: Mapping[str, Any], class_type: str, name: str) -> list[Any]:
    """The choices the server offers for combo input ``name`` of ``class_type`` (both combo styles)."""
    inputs = object_info[class_type]["input"]
    spec = (inputs.get("required") or {}).get(name) or (inputs.get("optional") or {}).get(name)
    assert spec is not None, f"{class_type} has no input {name!r} in /object_info"
    if isinstance(spec[0], list):
        return spec[0]
    return list((spec[1] if len(spec) > 1 else {}).get("options") or [])
