#!/usr/bin/env python3
"""Drive the before/after view and the shot gallery in ComfyUI's real page, as a user does.

Runs with the ComfyUI folder's Python (it has playwright) and reuses its ``ui_driver.py`` session (browser, ready
wait, dialogs, console capture); prints one JSON line. Steps: open ``template:ComfyUI-FilmRestore/
shots_and_stabilize``, add a FilmSelectScenes fed by the detector (as a user drags one in), press Run, wait; press
FilmStabilize's "Before/after" button, drag the divider to a quarter, step three frames with the arrow key, take a
screenshot; close it; click shot 1 in FilmSceneDetect's gallery, read FilmSelectScenes' ``indices``, screenshot.

    venv/bin/python tests/frontend_web_driver.py --comfy COMFY_DIR --url http://127.0.0.1:PORT --shots DIR
        [--template upscale_deblur --view FilmUpscale]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

PACK = "ComfyUI-FilmRestore"

ADD_SELECT = """(viewed) => {
  const find = (t) => app.graph.nodes.find((n) => n.type === t);
  const load = find('FilmLoadVideo'), detect = find('FilmSceneDetect');
  if (!detect) return {viewed: find(viewed).id};
  const select = LiteGraph.createNode('FilmSelectScenes');
  select.pos = [detect.pos[0], detect.pos[1] + detect.size[1] + 60];
  app.graph.add(select);
  load.connect(0, select, 0);
  detect.connect(0, select, 1);
  app.graph.setDirtyCanvas(true, true);
  return {select: select.id, detect: detect.id, viewed: find(viewed).id};
}"""

PRESS_BUTTON = """(id) => {
  const node = app.graph.getNodeById(id);
  const w = node.widgets.find((w) => w.name === 'Before/after');
  if (!w) return {error: `no Before/after button on #${id}: ${node.widgets.map((w) => w.name)}`};
  w.callback(w.value, app.canvas, node);   // what a click on the button runs
  return {ok: true, widgets_values: node.serialize().widgets_values};
}"""

VIEW_STATE = """() => {
  const root = document.querySelector('.filmrestore-before-after');
  if (!root) return null;
  const [before, after] = root.querySelectorAll('img');
  // how different the two pictures are (mean absolute difference of 64x48 copies, 0..255)
  const pixels = (img) => { const c = document.createElement('canvas'); c.width = 64; c.height = 48;
    const g = c.getContext('2d'); g.drawImage(img, 0, 0, 64, 48); return g.getImageData(0, 0, 64, 48).data; };
  const a = pixels(before), b = pixels(after);
  let diff = 0;
  for (let i = 0; i < a.length; i += 4) for (let c = 0; c < 3; c++) diff += Math.abs(a[i + c] - b[i + c]);
  return {before: before.naturalWidth, after: after.naturalWidth, clip: after.style.clipPath,
          difference: +(diff / (a.length / 4 * 3)).toFixed(2),
          label: root.querySelector('.filmrestore-frame-label').textContent,
          message: root.querySelector('.filmrestore-message').textContent,
          box: (() => { const r = before.parentElement.getBoundingClientRect();
                        return [r.left, r.top, r.width, r.height]; })()};
}"""


def run_workflow(ud, s, a, rep: dict) -> dict:
    """Open the template (plus a FilmSelectScenes where it has a detector), press Run, wait for success."""
    p = s.page
    s.open()
    s.load(f"template:{PACK}/{a.template}")
    ids = p.evaluate(ADD_SELECT, a.view)
    if "select" in ids:
        rep["steps"].append(f"added FilmSelectScenes #{ids['select']}")
    # the button before any run: on a fresh server (nothing recorded) a message in the view; arrows harmless
    pressed = p.evaluate(PRESS_BUTTON, ids["viewed"])
    assert not pressed.get("error"), pressed["error"]
    p.wait_for_function("() => { const v = document.querySelector('.filmrestore-before-after');"
                        " return v && (v.querySelector('.filmrestore-message').textContent"
                        " || v.querySelector('img').naturalWidth > 0); }", timeout=30000)
    p.keyboard.press("ArrowRight")
    rep["message_before_run"] = p.evaluate("() => document.querySelector('.filmrestore-message').textContent")
    p.keyboard.press("Escape")
    _, code, res = ud.queue(s, "command")
    assert code == 200, f"/prompt answered {code}: {res}"
    pid = res["prompt_id"]
    t0 = time.time()
    while True:
        c, h = ud.http(f"{s.base}/history/{pid}", timeout=30)
        if c == 200 and pid in h and h[pid].get("status", {}).get("status_str") in ("success", "error"):
            break
        assert time.time() - t0 < a.timeout, "run timed out"
        p.wait_for_timeout(250)   # keeps page events flowing while we poll
    rep.update(run_status=h[pid]["status"]["status_str"], run_seconds=round(time.time() - t0, 1), prompt_id=pid)
    assert rep["run_status"] == "success", h[pid]["status"]
    return ids


def check_before_after(s, a, ids: dict, shots: Path, rep: dict) -> None:
    """Press the node's Before/after button, drag the divider to a quarter, step 3 frames, screenshot, close."""
    p = s.page
    pressed = p.evaluate(PRESS_BUTTON, ids["viewed"])
    assert not pressed.get("error"), pressed["error"]
    rep["viewed_widgets_values"] = pressed["widgets_values"]
    p.wait_for_function("() => { const i = document.querySelectorAll('.filmrestore-before-after img');"
                        " return i.length === 2 && i[0].naturalWidth > 0 && i[1].naturalWidth > 0; }", timeout=60000)
    first = p.evaluate(VIEW_STATE)
    left, top, width, height = first["box"]
    p.mouse.move(left + width * 0.6, top + height / 2)
    p.mouse.down()
    p.mouse.move(left + width * 0.25, top + height / 2, steps=5)
    p.mouse.up()
    for _ in range(3):
        p.keyboard.press("ArrowRight")
    p.wait_for_function("() => document.querySelector('.filmrestore-before-after .filmrestore-frame-label')"
                        ".textContent.startsWith('frame 3 /')", timeout=30000)
    p.wait_for_timeout(800)
    rep["before_after"] = {"opened": first, "after_drag_and_steps": p.evaluate(VIEW_STATE)}
    p.screenshot(path=str(shots / f"before_after_{a.template}.png"))
    p.keyboard.press("Escape")
    assert p.evaluate("() => !document.querySelector('.filmrestore-before-after')"), "view did not close"
    prompt = p.evaluate("async () => (await app.graphToPrompt()).output")
    rep["viewed_inputs_in_prompt"] = sorted(prompt[str(ids["viewed"])]["inputs"])


def check_gallery(s, a, ids: dict, shots: Path, rep: dict) -> None:
    """Wait for the detector's shot cards, click shot 1 three times, read FilmSelectScenes' indices each time."""
    p = s.page
    p.wait_for_function("() => document.querySelectorAll('.filmrestore-shot').length > 0", timeout=60000)
    p.wait_for_function("() => [...document.querySelectorAll('.filmrestore-shot img')]"
                        ".every((i) => i.complete && i.naturalWidth > 0)", timeout=60000)
    s.fit_and_draw()
    cards = p.locator(".filmrestore-shot")
    rep["gallery"] = {"cards": cards.count(), "status": p.locator(".filmrestore-gallery > div").first.text_content()}
    indices = f"() => app.graph.getNodeById({ids['select']}).widgets.find((w) => w.name === 'indices').value"
    clicks = []
    for _ in range(3):
        cards.nth(1).click()
        p.wait_for_timeout(250)
        clicks.append(p.evaluate(indices))
    rep["gallery"]["indices_after_clicks"] = clicks
    kept = "() => [...document.querySelectorAll('.filmrestore-shot')].map((c) => c.dataset.kept)"
    rep["gallery"]["kept"] = p.evaluate(kept)
    prompt = p.evaluate("async () => (await app.graphToPrompt()).output")
    rep["select_inputs_in_prompt"] = prompt[str(ids["select"])]["inputs"]
    s.screenshot(str(shots / f"gallery_{a.template}.png"))
    # the user types "2" into indices; the gallery shows it when the pointer comes back over it
    p.evaluate(f"() => {{ const n = app.graph.getNodeById({ids['select']});"
               f" n.widgets.find((w) => w.name === 'indices').value = '2'; }}")
    p.mouse.move(0, 0)
    cards.nth(0).hover()
    p.wait_for_timeout(200)
    rep["gallery"]["kept_after_typing_2"] = p.evaluate(kept)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--comfy", required=True, help="folder with ui_driver.py")
    ap.add_argument("--url", required=True)
    ap.add_argument("--shots", required=True, help="folder for the screenshots")
    ap.add_argument("--template", default="shots_and_stabilize", help="example workflow to open")
    ap.add_argument("--view", default="FilmStabilize", help="node type whose before/after to open")
    ap.add_argument("--timeout", type=float, default=300)
    a = ap.parse_args()
    sys.path.insert(0, a.comfy)
    import ui_driver as ud  # the shared driver's session: browser, ready wait, dialog closing, console capture

    args = argparse.Namespace(url=a.url, profile=None, viewport="1600x1000", console_all=False,
                              allow_external=False, verbose=False, strict_console=False)
    shots = Path(a.shots)
    shots.mkdir(parents=True, exist_ok=True)
    rep: dict = {"ok": False, "template": a.template, "steps": [], "errors": []}
    with ud.Session(args) as s:
        try:
            ids = run_workflow(ud, s, a, rep)
            check_before_after(s, a, ids, shots, rep)
            if "select" in ids:
                check_gallery(s, a, ids, shots, rep)
            else:
                s.screenshot(str(shots / f"graph_{a.template}.png"))
            rep["ok"] = True
        except Exception as e:  # a failed assertion or a playwright timeout: reported, with a screenshot
            rep["errors"].append(f"{type(e).__name__}: {str(e)[:1500]}")
            try:
                s.page.screenshot(path=str(shots / f"failure_{a.template}.png"))
            except Exception as shot_error:
                rep["errors"].append(f"no failure screenshot: {shot_error}")
        rep.update(s.report_common())
    print(json.dumps(rep))
    return 0 if rep["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
