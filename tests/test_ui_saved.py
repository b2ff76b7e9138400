"""The runner reads UI workflows exactly as ComfyUI's front end does.

tests/ui_saved/ holds files the real front end wrote (ComfyUI 0.3.64 with frontend 1.27.10, and frontend 1.58.1,
through /work/shared/tools/comfy/ui_driver.py): ``NAME.json`` is what Save writes, ``NAME.export.json`` what
Export writes, ``NAME.api.json`` the prompt the front end itself made from that graph (Export (API) = what Run
POSTs). The known answer of each test is the front end's own prompt. No ComfyUI needed.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from filmrestore import NODE_CLASS_MAPPINGS
from filmrestore.filmlib.errors import WorkflowError
from filmrestore.filmlib.io.open import open_clip
from filmrestore.runner.execute import Runner
from filmrestore.runner.workflow import to_api, widget_layout
from realclips import megamind, read_frames, write_frames

SAVED = Path(__file__).parent / "ui_saved"
GRAPHS = sorted(p.name[:-5] for p in SAVED.glob("fe*.json") if not p.name.endswith((".api.json", ".export.json")))


def core_classes() -> dict[str, Any]:
    """Stand-ins for the ComfyUI core nodes in the saved files, from the server's own /object_info."""
    info = json.loads((SAVED / "core_object_info.json").read_text())
    return {name: type(name, (), {"INPUT_TYPES": classmethod(lambda cls, d=d: copy.deepcopy(d["input"])),
                                  "RETURN_TYPES": tuple(d["output"]), "FUNCTION": "run"})
            for name, d in info.items()}


CLASSES = {**NODE_CLASS_MAPPINGS, **core_classes()}


def frontend_prompt(name: str) -> dict[str, Any]:
    """The front end's prompt without what only the page has: the DOM preview widget ('video-preview', which the
    server ignores) and _meta."""
    api = json.loads((SAVED / f"{name}.api.json").read_text())
    out = {}
    for nid, node in api.items():
        types = CLASSES[node["class_type"]].INPUT_TYPES()
        known = {k for sec in ("required", "optional") for k in (types.get(sec) or {})}
        out[nid] = {"class_type": node["class_type"], "inputs": {k: v for k, v in node["inputs"].items() if k in known}}
    return out


def ours(data: dict[str, Any]) -> dict[str, Any]:
    return {nid: {"class_type": n["class_type"], "inputs": n["inputs"]} for nid, n in to_api(data, CLASSES).items()}


def test_the_saved_files_cover_both_front_ends_and_every_node_with_extra_values():
    """A node whose widgets_values hold more than its widgets (an upload button, a seed's control) needs a file
    saved by the front end here: save one with ui_driver.py export (see docs in tests/test_frontend.py)."""
    types = {n["type"] for g in GRAPHS for n in json.loads((SAVED / f"{g}.json").read_text())["nodes"]}
    special = {name for name, cls in NODE_CLASS_MAPPINGS.items()
               if any(s.kind != "widget" for s in widget_layout(cls))}
    assert special and special <= types, f"no front-end-saved file has {sorted(special - types)}"
    versions = {json.loads((SAVED / f"{g}.export.json").read_text())["extra"]["frontendVersion"] for g in GRAPHS}
    assert versions == {"1.27.10", "1.58.1"}


@pytest.mark.parametrize("suffix", ["json", "export.json"])
@pytest.mark.parametrize("name", GRAPHS)
def test_runner_reads_frontend_saved_files_as_the_frontend_does(name, suffix):
    data = json.loads((SAVED / f"{name}.{suffix}").read_text())
    assert ours(data) == frontend_prompt(name)


def test_where_the_frontend_puts_its_extra_values():
    """What the saved files show: the upload button's value 'image' after every widget; a control_after_generate
    value right after each seed (FilmDegrade.seed gets one by its name, KSampler.seed by its flag)."""
    nodes = {n["type"]: n for g in GRAPHS for n in json.loads((SAVED / f"{g}.json").read_text())["nodes"]}
    for typ in ("FilmLoadVideo", "FilmDegrade", "LoadVideo", "KSampler", "FilmStabilize"):
        slots = widget_layout(CLASSES[typ])
        assert len(slots) == len(nodes[typ]["widgets_values"]), typ
        for slot, value in zip(slots, nodes[typ]["widgets_values"]):
            if slot.kind == "upload":
                assert value == "image", typ
            elif slot.kind == "control":
                assert value == "randomize", typ   # a new node's seed randomizes in both front ends
    assert [s.kind for s in widget_layout(CLASSES["FilmLoadVideo"])][-1] == "upload"
    assert [s.kind for s in widget_layout(CLASSES["FilmDegrade"])][:2] == ["widget", "control"]


def _old_builder_layout(data: dict[str, Any]) -> dict[str, Any]:
    """The same graph as our example builder wrote it before: the upload value right after the video."""
    old = copy.deepcopy(data)
    for n in old["nodes"]:
        if n["type"] == "FilmLoadVideo":
            v = n["widgets_values"]
            n["widgets_values"] = [v[0], v[-1], *v[1:-1]]
    return old


def test_files_from_older_frontends_and_builders_read_the_same_where_unambiguous():
    name = "fe1.27.10_restore_sample_resaved"
    data = json.loads((SAVED / f"{name}.json").read_text())
    want = frontend_prompt(name)
    assert ours(_old_builder_layout(data)) == want
    no_upload = copy.deepcopy(data)   # a front end that did not store the button's value
    for n in no_upload["nodes"]:
        if n["type"] == "FilmLoadVideo":
            n["widgets_values"] = n["widgets_values"][:-1]
    assert ours(no_upload) == want
    no_control = json.loads((SAVED / "fe1.27.10_chain_restore.json").read_text())
    degrade = next(n for n in no_control["nodes"] if n["type"] == "FilmDegrade")
    del degrade["widgets_values"][1]  # written by hand or before seeds had a control value
    assert ours(no_control) == frontend_prompt("fe1.27.10_chain_restore")


def test_a_file_that_two_layouts_fit_differently_is_refused_with_both_readings():
    class TwoTexts:  # a media list with an upload button and two free-text widgets
        RETURN_TYPES = ("STRING",)

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"clip": (["a.mp4"], {"video_upload": True}), "note": ("STRING", {}),
                                 "tag": ("STRING", {})}}
    wf = {"nodes": [{"id": 1, "type": "TwoTexts", "widgets_values": ["a.mp4", "image", "x", "image"]}], "links": []}
    with pytest.raises(WorkflowError) as err:
        to_api(wf, {"TwoTexts": TwoTexts})
    text = str(err.value)
    assert "node 1 (TwoTexts)" in text and "more than one way" in text
    assert "note='image', tag='x'" in text and "note='x', tag='image'" in text and "save it again" in text


def test_fewer_values_take_defaults_like_the_frontend_and_extra_values_are_an_error():
    data = json.loads((SAVED / "fe1.27.10_images_roundtrip.json").read_text())
    save = next(n for n in data["nodes"] if n["type"] == "FilmSaveVideo")
    save["widgets_values"] = save["widgets_values"][:2]      # saved before crf/overwrite existed
    got = ours(data)[str(save["id"])]["inputs"]
    assert (got["crf"], got["overwrite"], got["format"]) == (18, False, "ffv1-mkv")
    save["widgets_values"] = ["a", "ffv1-mkv", 18, False, 7, 8]
    with pytest.raises(WorkflowError, match=r"widgets_values has 6 values .* FilmSaveVideo has 4 "
                                            r"\(filename_prefix, format, crf, overwrite\)"):
        to_api(data, CLASSES)


@pytest.fixture
def real_clip(tmp_path: Path) -> Path:
    """12 frames of the real Megamind clip, at the name the saved graphs use (input/megamind_short.mp4)."""
    frames = read_frames(megamind(), 0, 12, size=(160, 120))
    return write_frames(tmp_path / "input" / "megamind_short.mp4", frames, fps=24)


def test_frontend_saved_graph_runs_headless_on_a_real_clip(real_clip, tmp_path):
    data = json.loads((SAVED / "fe1.27.10_images_roundtrip.export.json").read_text())
    res = Runner(NODE_CLASS_MAPPINGS).run(to_api(data, NODE_CLASS_MAPPINGS), extra_pnginfo={"workflow": data})
    out = open_clip(res.outputs["5"][0]).info
    # load 12 frames as gray -> 8 images -> a 16 fps, 16-bit film -> frames [0, 6)
    assert (out.frame_count, out.channels, float(out.fps)) == (6, 1, 16.0)
    assert Path(res.outputs["5"][0]).parent == tmp_path / "output" / "saved"


def test_frontend_saved_restore_sample_runs_headless_on_a_real_clip(real_clip, tmp_path):
    data = json.loads((SAVED / "fe1.58.1_restore_sample_resaved.json").read_text())
    res = Runner(NODE_CLASS_MAPPINGS).run(to_api(data, NODE_CLASS_MAPPINGS), extra_pnginfo={"workflow": data})
    out = open_clip(res.outputs["2"][0]).info
    assert (out.width, out.height) == (240, 180)          # FilmUpscale.factor was set to 1.5 in the page
    assert out.frame_count == 12 and float(out.fps) == 24.0


def test_our_example_reads_in_the_frontend_as_we_wrote_it():
    """The front end opened restore_sample.json as our builder wrote it (kept as source_restore_sample.json) and
    saved it again: every widget value came back where we put it (apart from the two the page changed: video and
    FilmUpscale.factor)."""
    ours_file = json.loads((SAVED / "source_restore_sample.json").read_text())
    mine = {(n["id"], n["type"]): n["widgets_values"] for n in ours_file["nodes"]}
    for version in ("1.27.10", "1.58.1"):
        resaved = json.loads((SAVED / f"fe{version}_restore_sample_resaved.json").read_text())
        for n in resaved["nodes"]:
            want = list(mine[(n["id"], n["type"])])
            if n["type"] == "FilmLoadVideo":
                want[0] = "megamind_short.mp4"
            if n["type"] == "FilmUpscale":
                want[1] = 1.5
            assert n["widgets_values"] == want, (version, n["type"])
