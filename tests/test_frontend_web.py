"""The before/after view and the shot gallery in ComfyUI's real web page, used as a person does: open the
shots_and_stabilize template, add a FilmSelectScenes, Run; press FilmStabilize's "Before/after", drag the divider,
step frames; click a shot in FilmSceneDetect's gallery and see FilmSelectScenes' ``indices`` change.

Optional, like tests/test_frontend.py (whose harness it reuses): needs ``FILMRESTORE_COMFY_DIR`` (a folder with
``ComfyUI/``, ``venv/`` with playwright, ``harness.sh``, ``ui_driver.py``) and /usr/bin/chromium; also checks the
frontends in ``FILMRESTORE_FRONTEND_ROOTS``. Skips otherwise. About 1 minute per frontend on 2 cores.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from realclips import cut_together
from test_frontend import BACKEND_GAPS, COMFY, FRONTENDS, PACK, ROOT, Harness, _setup_problem

pytestmark = pytest.mark.skipif(_setup_problem() is not None, reason=str(_setup_problem()))
SHOTS = [("bikes", 0, 16), ("carphone_pristine", 0, 16), ("bigbuckbunny", 100, 16)]   # 3 real shots, 48 frames


@pytest.fixture(scope="module", params=FRONTENDS, ids=lambda r: "pinned" if r is None else Path(r).parent.name)
def server(request, tmp_path_factory):
    state = tmp_path_factory.mktemp("comfy_web")
    h = Harness(state, request.param)
    pack = state / PACK
    pack.symlink_to(ROOT)
    started = h.sh("start", str(pack))
    assert started.returncode == 0, f"harness start failed:\n{started.stdout}\n{started.stderr}"
    try:
        (h.input / "sample").mkdir(parents=True, exist_ok=True)  # where the template's FilmLoadVideo looks
        cut_together(h.input / "sample" / "old_film.mp4", SHOTS, size=(320, 240), fps=16)
        yield h
    finally:
        h.sh("stop")


def test_before_after_and_shot_gallery_in_the_real_frontend(server, tmp_path):
    proc = subprocess.run([str(Path(COMFY) / "venv/bin/python"), str(ROOT / "tests" / "frontend_web_driver.py"),
                           "--comfy", COMFY, "--url", server.url, "--shots", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, cwd=COMFY)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"the driver printed no result (rc {proc.returncode}): {proc.stderr[-2000:]}"
    res = json.loads(lines[-1])
    where = f"frontend {res.get('frontend_version')}"
    assert res["ok"], f"{where}: {res['errors']} (screenshots in {tmp_path})"
    assert {"FilmRestore.BeforeAfter", "FilmRestore.SceneGallery"} <= set(res["pack_extensions"]), where
    assert not [e for e in res["console_errors"] if not any(g in e for g in BACKEND_GAPS)], res["console_errors"]
    assert not res["page_errors"], res["page_errors"]

    assert res["message_before_run"].startswith("Run the workflow first"), res["message_before_run"]
    opened, moved = res["before_after"]["opened"], res["before_after"]["after_drag_and_steps"]
    assert opened["before"] == opened["after"] == 320 and not opened["message"], opened   # both frames shown
    assert opened["clip"].endswith(" 50%)") and moved["clip"].endswith(" 25%)"), (opened, moved)  # divider dragged
    assert moved["label"].startswith("frame 3 / 48"), moved["label"]                       # three steps right
    # our button is in neither the saved widgets_values nor the prompt: the template's values are unchanged
    template = json.loads((ROOT / "example_workflows" / "shots_and_stabilize.json").read_text())
    stab = next(n for n in template["nodes"] if n["type"] == "FilmStabilize")
    assert res["viewed_widgets_values"] == stab["widgets_values"], where
    assert not [k for k in res["viewed_inputs_in_prompt"] if "before" in k.lower()], res["viewed_inputs_in_prompt"]

    gallery = res["gallery"]
    assert gallery["cards"] == 3, gallery                                  # the 3 real shots, with keyframes
    # shot 1 clicked three times in keep mode: dropped ("0, 2"), kept again (""), dropped
    assert gallery["indices_after_clicks"] == ["0, 2", "", "0, 2"], gallery
    assert gallery["kept"] == ["true", "false", "true"], gallery
    assert res["select_inputs_in_prompt"]["indices"] == "0, 2"             # what Run would send
    assert gallery["kept_after_typing_2"] == ["false", "false", "true"], gallery   # typed text shown too
