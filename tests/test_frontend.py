"""Every example workflow, opened the way ComfyUI's template browser opens it and queued with Run, in the real
web frontend: runs to success on a real clip, with our web extension loaded and no console error. Templates that
run learned models find stand-in weights (tests/standin_models.py, in the official layouts) in ComfyUI's models
folders, named by the template's own widgets; in the page they are cut to a few frames and a small target height
(tests/frontend_setup.py), and the prompt the page sends still equals our runner's with the same changes.

Optional: needs a ComfyUI checkout set up as /work/shared/tools/comfy/README.md says, named by
``FILMRESTORE_COMFY_DIR`` (a folder with ``ComfyUI/``, ``venv/`` (ComfyUI's Python with playwright and this
pack's requirements), ``harness.sh`` and ``ui_driver.py``) and /usr/bin/chromium. Set
``FILMRESTORE_FRONTEND_ROOTS`` to ``:``-separated extra frontend ``static/`` folders (e.g. an unzipped
comfyui-frontend-package 1.58.1) to check those too; the pinned one is always checked. Skips otherwise.
About 2-3 minutes per frontend on 2 cores, once the stand-ins are made (kept in pytest's cache: DeOldify's video
generator takes 1-3 minutes to make the first time). ``FILMRESTORE_FRONTEND_SHOTS=DIR`` keeps the screenshots
(``NAME_pinned.png``...) there instead of in pytest's tmp folder.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from filmrestore import NODE_CLASS_MAPPINGS
from filmrestore.runner.workflow import to_api
from frontend_setup import (BY_FILE, combo_lists, page_changes, set_args, standins_named, standins_needed,
                            with_changes, write_inputs, write_models)
from standin_models import STANDINS, shared_tools

ROOT = Path(__file__).resolve().parents[1]
PACK = "ComfyUI-FilmRestore"
EXAMPLES = sorted(p.stem for p in (ROOT / "example_workflows").glob("*.json"))
COMFY = os.environ.get("FILMRESTORE_COMFY_DIR")
# what a newer frontend asks of this older backend (ComfyUI 0.3.64 has no jobs or global-subgraphs API): not ours
MODEL_SUFFIXES = (".pth", ".pt", ".pkl", ".tar", ".ckpt", ".safetensors")
BACKEND_GAPS = ("/api/jobs", "Jobs API", "Failed to fetch jobs", "/api/global_subgraphs", "/templates/index_logo.json")


def _setup_problem() -> str | None:
    if not COMFY:
        return ("FILMRESTORE_COMFY_DIR is not set: point it at a folder with ComfyUI/, venv/, harness.sh and "
                "ui_driver.py (see /work/shared/tools/comfy/README.md) to test the pack in ComfyUI's real frontend")
    missing = [p for p in ("ComfyUI/main.py", "venv/bin/python", "harness.sh", "ui_driver.py")
               if not (Path(COMFY) / p).exists()]
    if missing:
        return f"FILMRESTORE_COMFY_DIR={COMFY} lacks {', '.join(missing)}"
    if not Path("/usr/bin/chromium").exists() and not shutil.which("chromium"):
        return "no chromium: ui_driver.py drives /usr/bin/chromium (apt-get install chromium)"
    return None


needs_comfy = pytest.mark.skipif(_setup_problem() is not None, reason=str(_setup_problem()))
FRONTENDS = [None] + [r for r in os.environ.get("FILMRESTORE_FRONTEND_ROOTS", "").split(":") if r]


def _free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not 8188 <= port < 8240:  # where people and other checks run servers by hand
            return port


class Harness:
    """A ComfyUI server with this pack, started and stopped through harness.sh (it stops only its own pid)."""

    def __init__(self, state: Path, frontend: str | None, models: Path | None = None):
        self.port = _free_port()
        self.env = dict(os.environ, COMFY_PORT=str(self.port), HARNESS_STATE=str(state),
                        COMFY_ARGS=f"--front-end-root {frontend}" if frontend else "")
        if models is not None:  # harness.sh links it as the server's models/ folder
            self.env["COMFY_MODELS_DIR"] = str(models)
        self.url = f"http://127.0.0.1:{self.port}"
        self.input = state / "base" / "input"

    def sh(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([str(Path(COMFY) / "harness.sh"), *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def driver(self, *args: str, timeout: float = 600) -> tuple[int, dict[str, Any]]:
        proc = subprocess.run([str(Path(COMFY) / "venv/bin/python"), str(Path(COMFY) / "ui_driver.py"),
                               "--url", self.url, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, cwd=COMFY)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        assert lines, f"ui_driver printed no result (rc {proc.returncode}): {proc.stderr[-2000:]}"
        return proc.returncode, json.loads(lines[-1])

    def get(self, path: str) -> Any:
        # the harness's own server on this machine
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=60) as r:
            return json.loads(r.read())


def _api(name: str) -> dict[str, dict[str, Any]]:
    return to_api(json.loads((ROOT / "example_workflows" / f"{name}.json").read_text()), NODE_CLASS_MAPPINGS)


@pytest.fixture(scope="session")
def models(request, tmp_path_factory) -> tuple[Path, set[str]]:
    """ComfyUI's models folder with the stand-in of every model file a template names (those that need the shared
    weight maker only where ../shared/tools has it), kept in pytest's cache between sessions; and the names."""
    needed = {reg for name in EXAMPLES for reg in standins_needed(_api(name))}
    if shared_tools() is None:
        needed = {n for n in needed if n.startswith("realesr")}  # these need only spandrel
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    where = cache.mkdir("filmrestore-standins") if cache is not None else tmp_path_factory.mktemp("standins")
    return write_models(Path(where), sorted(needed)), needed


@pytest.fixture(scope="module", params=FRONTENDS, ids=lambda r: "pinned" if r is None else Path(r).parent.name)
def harness(request, tmp_path_factory, models):
    state = tmp_path_factory.mktemp("comfy")
    h = Harness(state, request.param, models[0])
    h.label = "pinned" if request.param is None else Path(request.param).parents[1].name  # names screenshots
    pack = state / PACK  # ComfyUI names the pack (and its template folder) after the folder, whatever the checkout's
    pack.symlink_to(ROOT)
    started = h.sh("start", str(pack))
    assert started.returncode == 0, f"harness start failed:\n{started.stdout}\n{started.stderr}"
    try:
        # the templates open input/sample/old_film.mp4 and sample/references/: as `make restore` puts the sample
        write_inputs(h.input)
        h.object_info = h.get("/object_info")
        yield h
    finally:
        h.sh("stop")


def _ours(errors: list[str]) -> list[str]:
    return [e for e in errors if not any(g in e for g in BACKEND_GAPS)]


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_model_file_a_template_names_has_a_stand_in(name):
    """The frontend test finds a template's models by their file names: a model file no stand-in provides would
    reach the page without weights (add it to tests/standin_models.py STANDINS)."""
    data = json.loads((ROOT / "example_workflows" / f"{name}.json").read_text())
    named = {os.path.basename(v) for n in data["nodes"] for v in (n.get("widgets_values") or [])
             if isinstance(v, str) and v.endswith(MODEL_SUFFIXES)}
    assert named <= set(BY_FILE), f"{name} names {sorted(named - set(BY_FILE))}, which no stand-in provides"
    assert named == {STANDINS[r][1] for _, _, r in standins_named(_api(name))}


@needs_comfy
@pytest.mark.parametrize("name", EXAMPLES)
def test_template_opened_and_run_in_the_real_frontend(harness, models, name, tmp_path):
    api = _api(name)
    standins = standins_named(api)
    lacking = sorted(standins_needed(api) - models[1])
    if lacking:
        pytest.skip(f"stand-ins {lacking} need ../shared/tools/fidelity_weights.py (the project's shared folder)")
    for nid, inp, reg in standins:  # ComfyUI sees the files where a user puts them: the node's list offers them
        value = api[nid]["inputs"][inp]
        offered = combo_lists(harness.object_info, api[nid]["class_type"], inp)
        assert value in offered, f"{name}: node {nid} {inp}={value!r} ({reg}) is not offered by the server: {offered}"
    changes = page_changes(api)
    shots = Path(os.environ.get("FILMRESTORE_FRONTEND_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    prompt_file = tmp_path / "prompt.json"
    # a wide graph fitted into the default 1600 px page falls below LiteGraph's low-detail zoom (no text drawn)
    wide = ["--viewport", f"{330 * len(api)}x1100"] if len(api) > 5 else []
    rc, res = harness.driver(*wide, "load-run", f"template:{PACK}/{name}", *set_args(changes), "--out-prompt",
                             str(prompt_file), "--screenshot", str(shots / f"{name}_{harness.label}.png"))
    where = f"{name} in frontend {res.get('frontend_version')}"
    assert rc == 0 and res["status"] == "success", f"{where}: {res['status']}: {res['errors']} {res['warnings']}"
    made = {(str(w["node"]), w["widget"]): w["value"] for w in res.get("widgets_set") or []}
    assert made == changes, f"{where}: the page's widgets took {made}, wanted {changes}"
    assert res["output_files"], f"{where}: ran but wrote nothing"
    assert "FilmRestore.FilmType" in res["pack_extensions"], f"{where}: our web extension did not load"
    # the headless runner reads the template as the frontend did: the same prompt, with the same edits
    sent = json.loads(prompt_file.read_text())["prompt"]
    mine = with_changes(api, changes)
    assert sorted(sent) == sorted(mine), f"{where}: the page sent nodes {sorted(sent)}, the runner {sorted(mine)}"
    for nid, node in sent.items():
        types = NODE_CLASS_MAPPINGS[node["class_type"]].INPUT_TYPES()
        known = {k for sec in ("required", "optional") for k in (types.get(sec) or {})}
        assert mine[nid]["inputs"] == {k: v for k, v in node["inputs"].items() if k in known}, f"{where}: node {nid}"
    assert not _ours(res["console_errors"]) and not res["page_errors"], \
        f"{where}: console {_ours(res['console_errors'])} page {res['page_errors']}"


@needs_comfy
def test_old_style_file_fails_in_the_frontend_as_reported(harness, tmp_path):
    """The bug this guards against (issue 8.4): our old files put the upload value right after `video`, which the
    frontend reads shifted. Proves the page really reads widgets_values by its own rule."""
    data = json.loads((ROOT / "example_workflows" / "upscale_deblur.json").read_text())
    load = next(n for n in data["nodes"] if n["type"] == "FilmLoadVideo")
    v = load["widgets_values"]
    load["widgets_values"] = [v[0], v[-1], *v[1:-1]]
    old = tmp_path / "old_style.json"
    old.write_text(json.dumps(data))
    rc, res = harness.driver("load-run", str(old), "--expect-fail")
    assert res["status"] == "validation_error", res["status"]
    assert any("invalid literal for int() with base 10: 'image'" in e for e in res["errors"]), res["errors"]
