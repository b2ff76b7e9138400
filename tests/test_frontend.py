"""Every example workflow, opened the way ComfyUI's template browser opens it and queued with Run, in the real
web frontend: runs to success on a real clip, with our web extension loaded and no console error.

Optional: needs a ComfyUI checkout set up as /work/shared/tools/comfy/README.md says, named by
``FILMRESTORE_COMFY_DIR`` (a folder with ``ComfyUI/``, ``venv/`` (ComfyUI's Python with playwright and this
pack's requirements), ``harness.sh`` and ``ui_driver.py``) and /usr/bin/chromium. Set
``FILMRESTORE_FRONTEND_ROOTS`` to ``:``-separated extra frontend ``static/`` folders (e.g. an unzipped
comfyui-frontend-package 1.58.1) to check those too; the pinned one is always checked. Skips otherwise.
About 1-2 minutes per frontend on 2 cores.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from filmrestore import NODE_CLASS_MAPPINGS
from filmrestore.runner.workflow import to_api
from realclips import megamind, read_frames, write_frames

ROOT = Path(__file__).resolve().parents[1]
PACK = "ComfyUI-FilmRestore"
EXAMPLES = sorted(p.stem for p in (ROOT / "example_workflows").glob("*.json"))
COMFY = os.environ.get("FILMRESTORE_COMFY_DIR")
# what a newer frontend asks of this older backend (ComfyUI 0.3.64 has no jobs or global-subgraphs API): not ours
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


pytestmark = pytest.mark.skipif(_setup_problem() is not None, reason=str(_setup_problem()))
FRONTENDS = [None] + [r for r in os.environ.get("FILMRESTORE_FRONTEND_ROOTS", "").split(":") if r]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Harness:
    """A ComfyUI server with this pack, started and stopped through harness.sh (it stops only its own pid)."""

    def __init__(self, state: Path, frontend: str | None):
        self.port = _free_port()
        self.env = dict(os.environ, COMFY_PORT=str(self.port), HARNESS_STATE=str(state),
                        COMFY_ARGS=f"--front-end-root {frontend}" if frontend else "")
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


@pytest.fixture(scope="module", params=FRONTENDS, ids=lambda r: "pinned" if r is None else Path(r).parent.name)
def harness(request, tmp_path_factory):
    state = tmp_path_factory.mktemp("comfy")
    h = Harness(state, request.param)
    pack = state / PACK  # ComfyUI names the pack (and its template folder) after the folder, whatever the checkout's
    pack.symlink_to(ROOT)
    started = h.sh("start", str(pack))
    assert started.returncode == 0, f"harness start failed:\n{started.stdout}\n{started.stderr}"
    try:
        # the templates open input/sample/old_film.mp4: put a real clip there, as `make restore` puts the sample
        frames = read_frames(megamind(), 0, 12, size=(160, 120))
        (h.input / "sample").mkdir(parents=True, exist_ok=True)
        write_frames(h.input / "sample" / "old_film.mp4", frames, fps=16)
        yield h
    finally:
        h.sh("stop")


def _ours(errors: list[str]) -> list[str]:
    return [e for e in errors if not any(g in e for g in BACKEND_GAPS)]


@pytest.mark.parametrize("name", EXAMPLES)
def test_template_opened_and_run_in_the_real_frontend(harness, name, tmp_path):
    prompt_file = tmp_path / "prompt.json"
    rc, res = harness.driver("load-run", f"template:{PACK}/{name}", "--out-prompt", str(prompt_file),
                             "--screenshot", str(tmp_path / f"{name}.png"))
    where = f"{name} in frontend {res.get('frontend_version')}"
    assert rc == 0 and res["status"] == "success", f"{where}: {res['status']}: {res['errors']}"
    assert res["output_files"], f"{where}: ran but wrote nothing"
    assert "FilmRestore.FilmType" in res["pack_extensions"], f"{where}: our web extension did not load"
    assert not _ours(res["console_errors"]) and not res["page_errors"], \
        f"{where}: console {_ours(res['console_errors'])} page {res['page_errors']}"
    # the headless runner reads the template as the frontend did: the same prompt
    sent = json.loads(prompt_file.read_text())["prompt"]
    data = json.loads((ROOT / "example_workflows" / f"{name}.json").read_text())
    mine = to_api(data, NODE_CLASS_MAPPINGS)
    for nid, node in sent.items():
        types = NODE_CLASS_MAPPINGS[node["class_type"]].INPUT_TYPES()
        known = {k for sec in ("required", "optional") for k in (types.get(sec) or {})}
        assert mine[nid]["inputs"] == {k: v for k, v in node["inputs"].items() if k in known}, f"{where}: node {nid}"


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
