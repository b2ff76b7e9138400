"""The before/after and shot-gallery routes: a headless run records each node's FILMs by (prompt id, node id), and
``/filmrestore/frame``, ``/film_info``, ``/scenes``, ``/keyframe`` serve them, found by ids only; bad ids and
parameters are answered 4xx with a message; reading a frame computes only its chunk."""
from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from filmrestore import NODE_CLASS_MAPPINGS
from filmrestore.comfy_bridge import set_headless_context
from filmrestore.filmlib.clip import ArrayFilm, FrameStage
from filmrestore.filmlib.film_registry import FilmRegistry, RecordNotFound, default_registry
from filmrestore.nodes.recording import instrument
from filmrestore.runner.execute import Runner
from conftest import moving_frames, with_pack_routes, write_video


def _decode(body: bytes) -> np.ndarray:
    import cv2
    img = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, f"not an image: {body[:80]!r}"
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _node(ctype: str, **links: Any) -> dict[str, Any]:
    """An API node with every widget at its default (a combo at its first choice) and ``links`` set."""
    inputs: dict[str, Any] = {}
    for name, spec in (NODE_CLASS_MAPPINGS[ctype].INPUT_TYPES().get("required") or {}).items():
        kind, opts = spec[0], (spec[1] if len(spec) > 1 else {})
        if isinstance(kind, list):
            inputs[name] = opts.get("default", kind[0])
        elif "default" in opts:
            inputs[name] = opts["default"]
    inputs.update(links)
    return {"class_type": ctype, "inputs": inputs}


def _get(requests: list[tuple[str, dict[str, Any]]]) -> list[tuple[int, dict[str, str], bytes]]:
    """GET each (path, query) against an aiohttp app with the pack's routes; (status, headers, body) each."""
    async def go(client) -> list:
        out = []
        for path, query in requests:
            r = await client.get(path, params={k: str(v) for k, v in query.items()})
            out.append((r.status, dict(r.headers), await r.read()))
        return out
    return with_pack_routes(go)


@pytest.fixture(scope="module")
def two_shots() -> np.ndarray:
    """32 frames 96x64: a bright textured shot of 16 frames, then a dark one (a cut at frame 16)."""
    a = moving_frames(16, 64, 96, seed=0)
    b = (moving_frames(16, 64, 96, seed=5) // 4).astype(np.uint8)
    return np.concatenate([a, b[..., ::-1]])


@pytest.fixture
def run(tmp_path, two_shots):
    """The clip through load -> deblur -> scene detect -> keep shot 1 -> save, run headless."""
    write_video(tmp_path / "input" / "two_shots.mp4", two_shots, fps=Fraction(24))
    default_registry().clear()
    prompt = {"1": _node("FilmLoadVideo", video="two_shots.mp4"),
              "2": _node("FilmDeblur", film=["1", 0], method="unsharp"),
              "3": _node("FilmSceneDetect", film=["2", 0], min_scene_len=4),
              "4": _node("FilmSelectScenes", film=["2", 0], scenes=["3", 0], indices="1"),
              "5": _node("FilmSaveVideo", film=["4", 0], format="ffv1-mkv")}
    result = Runner(NODE_CLASS_MAPPINGS).run(prompt)
    return result.prompt_id


def test_a_run_is_recorded_and_its_frames_served_by_ids(run, tmp_path):
    pid = run
    (s_info, _, info), (s_in, h_in, b_in), (s_al, h_al, b_al), (s_out, h_out, b_out), (s_sc, _, sc), \
        (s_kf, h_kf, b_kf), (s_lat, h_lat, _) = _get([
            ("/filmrestore/film_info", {"prompt": pid, "node": "2"}),
            ("/filmrestore/frame", {"prompt": pid, "node": "2", "side": "input", "index": 20, "format": "png"}),
            ("/filmrestore/frame", {"prompt": pid, "node": "4", "side": "input", "index": 3, "align": "output"}),
            ("/filmrestore/frame", {"prompt": pid, "node": "4", "side": "output", "index": 3}),
            ("/filmrestore/scenes", {"prompt": pid, "node": "3"}),
            ("/filmrestore/keyframe", {"prompt": pid, "node": "3", "shot": 1, "max_width": 48}),
            ("/filmrestore/frame", {"node": "4", "index": 0}),   # no prompt: the node's latest run
        ])
    assert s_info == 200
    info = json.loads(info)
    assert info["class_type"] == "FilmDeblur" and info["prompt"] == pid
    assert info["inputs"]["film"]["frames"] == 32 and info["outputs"]["film"]["frames"] == 32
    assert (info["inputs"]["film"]["width"], info["inputs"]["film"]["height"], info["inputs"]["film"]["fps"]) == \
        (96, 64, 24.0)
    # the deblur's input frame is the file's frame 20 as PyAV decodes it (served as PNG: exactly)
    assert s_in == 200 and h_in["Content-Type"] == "image/png" and h_in["X-Film-Index"] == "20"
    import av
    with av.open(str(tmp_path / "input" / "two_shots.mp4")) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert np.array_equal(_decode(b_in), decoded[20])
    # the selection kept shot 1 (frames 16..31): its output frame 3 was made from input frame 19
    assert s_al == 200 and h_al["X-Film-Index"] == "19" and h_out["X-Film-Index"] == "3" and s_out == 200
    assert np.abs(_decode(b_al).astype(int) - _decode(b_out).astype(int)).mean() < 2.0  # same frame, JPEG twice
    assert s_sc == 200
    sc = json.loads(sc)
    assert [(s["start"], s["end"], s["length"]) for s in sc["shots"]] == [(0, 16, 16), (16, 32, 16)]
    assert sc["shots"][1]["start_tc"] == "00:00:00.667" and sc["shots"][1]["end_tc"] == "00:00:01.333"
    assert sc["count"] == 2 and not sc["truncated"] and sc["fps"] == 24.0
    assert sc["shots"][1]["keyframe_url"].startswith("/filmrestore/keyframe?")
    assert s_kf == 200 and _decode(b_kf).shape == (32, 48, 3)
    kf = int(h_kf["X-Film-Index"])
    assert 16 <= kf < 32 and kf == sc["shots"][1]["keyframe"]
    assert s_lat == 200 and h_lat["X-Film-Prompt"] == pid and h_lat["Cache-Control"] == "no-store"


def test_runs_says_which_nodes_ran_without_an_error_status(run):
    (s3, _, b3), (s9, _, b9) = _get([("/filmrestore/runs", {"node": "3"}), ("/filmrestore/runs", {"node": "99"})])
    assert (s3, s9) == (200, 200)
    b3, b9 = json.loads(b3), json.loads(b9)
    assert b3["runs"] == [{"prompt": run, "class_type": "FilmSceneDetect", "inputs": ["film"], "outputs": [],
                           "scenes": ["scenes"]}]
    assert b9["runs"] == [] and b9["latest_prompt"] == run and b9["prompts"] == [run]


def test_bad_or_unknown_ids_and_parameters_are_4xx_with_a_message(run):
    pid = run
    cases = [
        ({"prompt": "no-such-prompt", "node": "2", "index": 0}, 404, "not among the last"),
        ({"prompt": pid, "node": "99", "index": 0}, 404, "did not run"),
        ({"prompt": pid, "node": "5", "side": "output", "index": 0}, 404, "no FILM output"),
        ({"prompt": pid, "node": "2", "index": 32}, 400, "out of range: it must be 0..31"),
        ({"prompt": pid, "node": "2", "index": -1}, 400, "out of range"),
        ({"prompt": pid, "node": "2", "index": "x"}, 400, "not a whole number"),
        ({"prompt": pid, "node": "2", "index": 0, "max_width": 99999}, 400, "16..4096"),
        ({"prompt": pid, "node": "2", "side": "sideways", "index": 0}, 400, "use 'input' or 'output'"),
        ({"prompt": pid, "node": "2", "side": "input", "input": "mask", "index": 0}, 404, "it has film"),
        ({"prompt": "../../etc/passwd", "node": "2", "index": 0}, 400, "not a valid prompt"),
        ({"prompt": pid, "index": 0}, 400, "missing query parameter 'node'"),
        ({"prompt": pid, "node": "2"}, 400, "missing query parameter 'index'"),
    ]
    answers = _get([("/filmrestore/frame", q) for q, _, _ in cases] +
                   [("/filmrestore/scenes", {"prompt": pid, "node": "2"}),
                    ("/filmrestore/keyframe", {"prompt": pid, "node": "3", "shot": 2})])
    expected = [(s, m) for _, s, m in cases] + [(404, "gave no SCENES"), (400, "must be 0..1")]
    for (status, headers, body), (want, text) in zip(answers, expected):
        assert headers["Content-Type"].startswith("application/json"), body[:200]
        message = json.loads(body)["error"]
        assert (status, text in message) == (want, True), (status, message)
        assert "Traceback" not in message


class CountingStage(FrameStage):
    """Inverts frames and counts how many it computed (cache stats count them per stage name)."""

    name = "invert_for_test"

    def process_frame(self, frame: np.ndarray, index: int) -> np.ndarray:
        return 255 - frame


def test_a_frame_computes_only_its_chunk_and_is_then_served_from_the_cache(isolated):
    src = ArrayFilm(moving_frames(200, 48, 64), Fraction(24))
    stage = CountingStage(src, {})
    assert stage.chunk_frames == 64
    default_registry().clear()
    default_registry().record("p1", "7", "Test", {"film": src}, {"film": stage})
    first, again = _get([("/filmrestore/frame", {"prompt": "p1", "node": "7", "index": 130, "format": "png"})] * 2)
    assert first[0] == again[0] == 200
    assert isolated.stats.computed["invert_for_test"] == 64   # chunk 2 (128..191) only, once
    assert np.array_equal(_decode(first[2]), 255 - src.frame(130))


def test_registry_keeps_the_last_prompts_and_finds_a_nodes_latest_run():
    reg = FilmRegistry(max_prompts=3)
    film = ArrayFilm(moving_frames(2, 8, 8), Fraction(24))
    for i in range(5):
        reg.record(f"p{i}", "1", "A", {"film": film}, {})
    reg.record("p4", "2", "B", {}, {"film": film})
    assert reg.prompts() == ["p2", "p3", "p4"] and reg.latest_prompt == "p4"
    with pytest.raises(RecordNotFound, match="not among the last 3"):
        reg.get("p0", "1")
    assert reg.get("latest", "1").prompt_id == "p4"
    reg.record("p5", "2", "B", {}, {"film": film})      # node 1 cached in p5: its latest run is still p4's
    assert reg.get("latest", "1").prompt_id == "p4" and reg.get("latest", "2").prompt_id == "p5"
    with pytest.raises(RecordNotFound, match="has no recorded run"):
        reg.get("latest", "9")


class Toy:
    RETURN_TYPES = ("FILM", "INT")
    RETURN_NAMES = ("clip", "n")
    FUNCTION = "go"

    def go(self, film, fail: bool = False):
        """Doc kept."""
        if fail:
            raise ValueError("deliberate")
        return {"ui": {"text": ["x"]}, "result": (film, 3)}


def test_instrument_keeps_results_names_and_exceptions_and_records_only_inside_a_prompt():
    reg = FilmRegistry()
    film = ArrayFilm(moving_frames(2, 8, 8), Fraction(24))
    plain = Toy().go(film)
    instrument({"Toy": Toy}, reg)
    instrument({"Toy": Toy}, reg)                     # idempotent: wrapped once
    assert Toy.go.__name__ == "go" and Toy.go.__doc__ == "Doc kept." and Toy.go.__wrapped__.__name__ == "go"
    assert not hasattr(Toy.go.__wrapped__, "__wrapped__")
    assert Toy().go(film) == plain and reg.prompts() == []   # no executing prompt: nothing recorded
    set_headless_context(("pX", "4"))
    try:
        assert Toy().go(film=film) == plain
        with pytest.raises(ValueError, match="deliberate"):
            Toy().go(film, True)
    finally:
        set_headless_context(None)
    rec = reg.get("pX", "4")
    assert rec.class_type == "Toy" and rec.inputs == {"film": film} and rec.outputs == {"clip": film}


class DoubleRate(FrameStage):
    """Twice the frames at twice the rate (each source frame shown twice): a stand-in for a rate change."""

    name = "double_rate_for_test"

    def __init__(self, source):
        info = source.info.with_(frame_count=2 * len(source), fps=source.info.fps * 2)
        super().__init__(source, {}, info=info)

    def input_range(self, start: int, stop: int) -> tuple[int, int]:
        return start // 2, (stop - 1) // 2 + 1

    def compute(self, frames, first, start, stop):
        return np.stack([frames[k // 2 - first] for k in range(start, stop)])

    def process_frame(self, frame, index):  # not used: compute is overridden
        return frame


def test_the_input_frame_shown_beside_an_output_frame_is_the_one_it_came_from():
    from filmrestore.filmlib.select import RangesStage
    from filmrestore.routes.frames import aligned_index
    src = ArrayFilm(moving_frames(10, 8, 8), Fraction(24))
    picked = RangesStage(src, [(6, 9), (1, 3)])        # output 0..2 <- 6..8, output 3..4 <- 1..2
    assert [aligned_index(picked, src, k) for k in range(5)] == [6, 7, 8, 1, 2]
    doubled = DoubleRate(picked)                       # a rate change after the selection: by time, then ranges
    assert [aligned_index(doubled, src, k) for k in (0, 2, 4, 6, 8)] == [6, 7, 8, 1, 2]
    assert aligned_index(doubled, picked, 6) == 3
    assert aligned_index(src, src, 4) == 4
    other = ArrayFilm(moving_frames(20, 8, 8), Fraction(48))   # not derived from src: matched by time
    assert aligned_index(other, src, 10) == 5
