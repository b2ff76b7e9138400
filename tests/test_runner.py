"""The headless runner: both workflow formats, validation that reports everything, ComfyUI caching semantics."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from filmrestore import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from filmrestore.cli import main as cli_main
from filmrestore.filmlib.errors import WorkflowError
from filmrestore.filmlib.io.open import open_clip
from filmrestore.runner.build import ui_workflow
from filmrestore.runner.execute import Runner, object_info
from filmrestore.runner.workflow import to_api
from conftest import moving_frames, write_video

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_video(tmp_path / "input" / "clip.mp4", moving_frames(20, 48, 64), Fraction(16))


def api_prompt(video: str, out: str, blur: float = 1.0) -> dict:
    return {
        "1": {"class_type": "FilmLoadVideo", "inputs": {"video": video, "first_frame": 0, "frame_count": 0,
                                                        "force_fps": 0.0, "color": "auto"}},
        "2": {"class_type": "FilmDegrade", "inputs": {"film": ["1", 0], "seed": 3, "grayscale": True, "blur": blur,
                                                      "weave": 1.0, "flicker": 0.05, "grain": 0.02, "scratches": 1,
                                                      "dust": 2.0, "vignette": 0.2}},
        "3": {"class_type": "FilmSaveVideo", "inputs": {"film": ["2", 0], "filename_prefix": out,
                                                        "format": "ffv1-mkv", "crf": 18, "overwrite": False}},
    }


def test_api_format_runs_and_writes_the_video(clip, tmp_path):
    res = Runner(NODE_CLASS_MAPPINGS).run(api_prompt(str(clip), "t/out"))
    out = Path(res.outputs["3"][0])
    assert out.exists() and out.parent == tmp_path / "output" / "t"
    assert open_clip(out).info.frame_count == 20
    assert res.ui["3"]["images"][0] == {"filename": out.name, "subfolder": "t", "type": "output"}


def test_ui_format_runs_with_reroute_primitive_note_bypass_and_mute(clip, tmp_path):
    nodes = [
        {"id": 1, "type": "FilmLoadVideo", "widgets": {"video": "clip.mp4"}},
        {"id": 2, "type": "FilmDegrade", "links": {"film": (1, 0)}, "mode": 4},   # bypassed: passes film through
        {"id": 3, "type": "FilmSaveVideo", "widgets": {"filename_prefix": "ui/out", "format": "ffv1-mkv"},
         "links": {"film": (2, 0)}},
        {"id": 4, "type": "FilmSaveVideo", "widgets": {"filename_prefix": "ui/muted"}, "links": {"film": (1, 0)},
         "mode": 2},
    ]
    wf = ui_workflow(nodes, NODE_CLASS_MAPPINGS)
    # insert a Reroute between 1 and 2, a PrimitiveNode driving the save's crf, and a Note
    wf["nodes"].append({"id": 10, "type": "Reroute", "inputs": [{"name": "", "type": "*", "link": 100}],
                        "outputs": [{"name": "", "type": "FILM", "links": [101]}], "mode": 0})
    link = next(l for l in wf["links"] if l[1] == 1 and l[3] == 2)
    wf["links"].remove(link)
    save = next(n for n in wf["nodes"] if n["id"] == 3)
    crf_slot = next(i for i, inp in enumerate(save["inputs"]) if inp["name"] == "crf")   # the widget's socket
    wf["links"] += [[100, 1, 0, 10, 0, "FILM"], [101, 10, 0, 2, link[4], "FILM"], [102, 11, 0, 3, crf_slot, "INT"]]
    next(n for n in wf["nodes"] if n["id"] == 2)["inputs"][0]["link"] = 101
    wf["nodes"].append({"id": 11, "type": "PrimitiveNode", "outputs": [{"name": "INT", "type": "INT", "links": [102]}],
                        "widgets_values": [23, "fixed"], "mode": 0})
    save["inputs"][crf_slot]["link"] = 102
    wf["nodes"].append({"id": 12, "type": "Note", "widgets_values": ["restoration notes"], "mode": 0})
    prompt = to_api(wf, NODE_CLASS_MAPPINGS)
    assert set(prompt) == {"1", "3"}                         # note, reroute, primitive, bypassed, muted gone
    assert prompt["3"]["inputs"]["film"] == ["1", 0]         # through the bypass and the reroute
    assert prompt["3"]["inputs"]["crf"] == 23                # from the primitive
    assert prompt["1"]["inputs"]["first_frame"] == 0 and prompt["1"]["inputs"]["color"] == "auto"  # upload value last
    res = Runner(NODE_CLASS_MAPPINGS).run(prompt)
    assert open_clip(res.outputs["3"][0]).info.channels == 3  # not degraded: node 2 was bypassed
    assert not list((tmp_path / "output" / "ui").glob("muted*"))   # the muted saver never ran


def test_subgraphs_are_refused_with_a_message():
    wf = ui_workflow([{"id": 1, "type": "FilmLoadVideo"}], NODE_CLASS_MAPPINGS)
    wf["definitions"] = {"subgraphs": [{"id": "abc"}]}
    with pytest.raises(WorkflowError, match="subgraphs"):
        to_api(wf, NODE_CLASS_MAPPINGS)


def test_validation_reports_every_error_at_once(clip):
    prompt = api_prompt(str(clip), "x")
    prompt["2"]["inputs"]["blur"] = 99.0                       # above max
    prompt["2"]["inputs"]["seed"] = "abc"                      # not an int
    prompt["1"]["inputs"]["color"] = "sepia"                   # not a choice
    del prompt["3"]["inputs"]["crf"]                           # missing
    prompt["3"]["inputs"]["film"] = ["1", 1]                   # INT into FILM
    prompt["4"] = {"class_type": "FilmMagic", "inputs": {}}    # unknown
    prompt["5"] = {"class_type": "FilmDegrade", "inputs": dict(prompt["2"]["inputs"], film=["6", 0], blur=1.0, seed=1)}
    prompt["6"] = {"class_type": "FilmDegrade", "inputs": dict(prompt["2"]["inputs"], film=["5", 0], blur=1.0, seed=1)}
    with pytest.raises(WorkflowError) as err:
        Runner(NODE_CLASS_MAPPINGS).run(prompt)
    text = "\n".join(err.value.errors)
    assert "node 2 input 'blur': 99.0 is above the maximum 10.0" in text
    assert "node 2 input 'seed': expected an integer" in text
    assert "node 1 input 'color': 'sepia' is not one of the choices" in text
    assert "node 3 (FilmSaveVideo): required input 'crf' is missing" in text
    assert "node 3 input 'film': expects FILM but is linked to a INT output of node 1" in text
    assert "node 4: unknown node type 'FilmMagic'; known types: " in text and "FilmLoadVideo, " in text
    assert "form a cycle" in text
    assert len(err.value.errors) == 7


def test_missing_video_is_reported_by_validation(tmp_path):
    with pytest.raises(WorkflowError, match="video not found: 'nothing.mp4'"):
        Runner(NODE_CLASS_MAPPINGS).run(api_prompt("nothing.mp4", "x"))


def test_changing_the_last_node_recomputes_only_that_node(clip, isolated):
    runner = Runner(NODE_CLASS_MAPPINGS)
    first = runner.run(api_prompt(str(clip), "c/out"))
    assert first.executed == ["1", "2", "3"] and isolated.stats.computed["degrade"] == 20
    again = runner.run(api_prompt(str(clip), "c/out"))
    assert again.executed == []                                # unchanged graph: nothing runs
    changed = api_prompt(str(clip), "c/out")
    changed["3"]["inputs"]["crf"] = 20
    third = runner.run(changed)
    assert third.executed == ["3"] and isolated.stats.computed["degrade"] == 20  # frames came from the cache
    upstream = api_prompt(str(clip), "c/out", blur=2.0)
    fourth = runner.run(upstream)
    assert fourth.executed == ["2", "3"] and isolated.stats.computed["degrade"] == 40


def test_cli_run_with_overrides_and_a_fresh_process_reuses_the_cache(clip, tmp_path, isolated):
    wf = tmp_path / "wf.json"
    wf.write_text(json.dumps(api_prompt("placeholder.mp4", "x")))
    cache = str(tmp_path / "cache")
    out = tmp_path / "result.mkv"
    args = ["--cache-dir", cache, "run", str(wf), "--input", str(clip), "--output", str(out), "--set", "2.blur=2.5"]
    assert cli_main(args) == 0 and out.exists()
    assert isolated.stats.computed["degrade"] == 0  # the CLI configured its own cache: count through the folder
    from filmrestore.filmlib.cache import default_cache
    assert default_cache().stats.computed["degrade"] == 20
    assert cli_main(args) == 2  # --output names exactly one file: an existing one is kept unless --overwrite
    assert cli_main(args + ["--overwrite"]) == 0  # a second run: chunks from disk
    assert default_cache().stats.computed["degrade"] == 0 and out.exists()
    assert cli_main(["run", str(wf), "--set", "9.blur=1"]) == 2


def test_nodes_command_prints_object_info(capsys):
    assert cli_main(["nodes"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["FilmLoadVideo"]["output"] == ["FILM", "INT", "FLOAT"]
    assert info["FilmSaveVideo"]["output_node"] is True
    assert info == json.loads(json.dumps(object_info(NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS), default=list))


def test_example_restore_workflow_runs_headless(tmp_path):
    from filmrestore.filmlib.sample import SampleSpec, make_sample
    make_sample(tmp_path / "input" / "sample", SampleSpec(width=160, height=120, shot_frames=(6, 6)))
    data = json.loads((ROOT / "example_workflows" / "restore_sample.json").read_text())
    res = Runner(NODE_CLASS_MAPPINGS).run(to_api(data, NODE_CLASS_MAPPINGS), extra_pnginfo={"workflow": data})
    saved = [Path(o[0]) for nid, o in res.outputs.items() if o and isinstance(o[0], str)]
    assert saved and all(p.exists() for p in saved)
    assert any(p.name.endswith("_compare.mp4") for p in (tmp_path / "output" / "FilmRestore").iterdir())


def test_example_workflows_are_up_to_date_with_the_node_definitions():
    import importlib.util
    spec = importlib.util.spec_from_file_location("build_examples", ROOT / "example_workflows" / "build_examples.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    for name, nodes in builder.EXAMPLES.items():
        on_disk = json.loads((ROOT / "example_workflows" / name).read_text())
        assert on_disk == ui_workflow(nodes, NODE_CLASS_MAPPINGS), \
            f"{name} is stale: run python example_workflows/build_examples.py"
