"""Bad workflows and bad --set values through ``python -m filmrestore run``: each gives exit status 2, one clear
message naming the bad value and what to do, no traceback, and nothing written."""
from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import pytest

from filmrestore import NODE_CLASS_MAPPINGS
from filmrestore.cli import main as cli_main
from filmrestore.runner.build import ui_workflow
from conftest import moving_frames, write_video

ROOT = Path(__file__).resolve().parents[1]


def api() -> dict[str, Any]:
    return {"1": {"class_type": "FilmLoadVideo", "inputs": {"video": "clip.mp4", "first_frame": 0, "frame_count": 0,
                                                            "force_fps": 0.0, "color": "auto"}},
            "2": {"class_type": "FilmSaveVideo", "inputs": {"film": ["1", 0], "filename_prefix": "err/out",
                                                            "format": "ffv1-mkv", "crf": 18, "overwrite": False}}}


def ui() -> dict[str, Any]:
    return ui_workflow([{"id": 1, "type": "FilmLoadVideo", "widgets": {"video": "clip.mp4"}},
                        {"id": 2, "type": "FilmSaveVideo", "widgets": {"filename_prefix": "err/out"},
                         "links": {"film": (1, 0)}}], NODE_CLASS_MAPPINGS)


def _json(data: Any) -> Callable[[Path], None]:
    return lambda p: p.write_text(json.dumps(data))


def _edit(make: Callable[[], dict], change: Callable[[dict], Any]) -> Callable[[Path], None]:
    def write(p: Path) -> None:
        data = make()
        change(data)
        p.write_text(json.dumps(data))
    return write


def _node(data: dict, nid: int) -> dict:
    return next(n for n in data["nodes"] if n["id"] == nid)


# (case id, how to write the workflow file (None: the path is a folder), extra CLI args, texts the message must have)
CASES = [
    ("folder", None, [], ["is a folder, not a file", "give the path of a workflow .json"]),
    ("binary", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" * 50), [],
     ["is not a text file", "0x89", "Export"]),
    ("deep_brackets", lambda p: p.write_text("[" * 100_000 + "]" * 100_000), [], ["nests brackets too deeply"]),
    ("not_json", lambda p: p.write_text('{"1": {"class_type": '), [], ["is not valid JSON", "line 1 column"]),
    ("a_list", _json([1, 2]), [], ["holds a JSON list, not a ComfyUI workflow object"]),
    ("api_inputs_list", _edit(api, lambda d: d["2"].update(inputs=[1, 2])), [],
     ["node 2 (FilmSaveVideo): \"inputs\" is [1, 2]", "must be an object of input name to value"]),
    ("api_int_link", _edit(api, lambda d: d["2"]["inputs"].update(film=[1, 0])), [],
     ["input 'film'", "got the value [1, 0]", "write [\"1\", 0]"]),
    ("ui_node_without_id", _edit(ui, lambda d: _node(d, 2).pop("id")), [],
     ["nodes[1] is", "needs an integer 'id' and a 'type'"]),
    ("ui_link_3_items", _edit(ui, lambda d: d["links"].__setitem__(0, [1, 1, 0])), [],
     ["link #0 is [1, 1, 0]", "(6 items)"]),
    ("ui_link_from_gone_node", _edit(ui, lambda d: d["links"][0].__setitem__(1, 9)), [],
     ["node 2 (FilmSaveVideo) input 'film': link 1 comes from node 9, which is not in the workflow"]),
    ("ui_input_to_missing_link", _edit(ui, lambda d: _node(d, 2)["inputs"][0].update(link=77)), [],
     ["input 'film': uses link 77, which is not in the workflow's links"]),
    ("ui_widgets_values_too_many", _edit(ui, lambda d: _node(d, 2)["widgets_values"].extend([1, 2, 3])), [],
     ["widgets_values has 7 values", "FilmSaveVideo has 4 (filename_prefix, format, crf, overwrite)"]),
    ("bad_set_does_not_hide_others", _edit(api, lambda d: d["2"]["inputs"].update(crf=99)), ["--set", "9.blur=1"],
     ["no node '9'", "node 2 input 'crf': 99 is above the maximum 51"]),
    ("set_typo", _json(api()), ["--set", "2.crff=30"],
     ["node 2 (FilmSaveVideo) has no input 'crff'", "did you mean 'crf'", "filename_prefix, format, crf"]),
    ("set_nan", _json(api()), ["--set", "1.force_fps=NaN"],
     ["node 1 input 'force_fps': nan is not a usable number", "finite value between 0.0 and 240.0"]),
    ("file_infinity", lambda p: p.write_text(json.dumps(api()).replace('"force_fps": 0.0', '"force_fps": Infinity')),
     [], ["node 1 input 'force_fps': inf is not a usable number"]),
    ("set_wrong_type_for_custom_check", _json(api()), ["--set", "1.video=5"],
     ["node 1 input 'video': expected a name (a string), got 5"]),
]


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_video(tmp_path / "input" / "clip.mp4", moving_frames(6, 32, 48), Fraction(24))


@pytest.mark.parametrize("case, write, args, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_workflow_gives_a_clear_error_and_writes_nothing(case, write, args, expected, clip, tmp_path, capsys):
    path = tmp_path / "wf.json"
    if write is None:
        path.mkdir()
    else:
        write(path)
    status = cli_main(["run", str(path), *args])
    out = capsys.readouterr()
    text = out.out + out.err
    assert status == 2, text
    assert "Traceback" not in text
    for want in expected:
        assert want in text, f"{want!r} not in:\n{text}"
    assert not (tmp_path / "output").exists() or not any((tmp_path / "output").rglob("*"))


def test_the_same_checks_in_a_real_process(tmp_path):
    """No traceback reaches the terminal from the interpreter itself (the deep-nesting case recurses in C)."""
    path = tmp_path / "deep.json"
    path.write_text("{\"a\": " * 100_000 + "1" + "}" * 100_000)
    proc = subprocess.run([sys.executable, "-m", "filmrestore", "run", str(path)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT.parent)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "too deeply" in proc.stderr, proc.stderr
