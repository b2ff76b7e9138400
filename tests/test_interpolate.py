"""FilmInterpolate: official RIFE fidelity, exact timing, no morphing across cuts, audio sync, flow quality."""
from __future__ import annotations

import json
import math
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from filmrestore import NODE_CLASS_MAPPINGS
from filmrestore.filmlib.clip import ArrayFilm
from filmrestore.filmlib.interpolate import BlendInterpolator, FlowInterpolator, InterpolateStage
from filmrestore.filmlib.io.open import open_clip
from filmrestore.filmlib.io.writer import save_film
from filmrestore.filmlib.sample import SampleSpec, clean_clip, rate_pair
from filmrestore.filmlib.scenes import Scenes, Shot
from filmrestore.model_loaders.rife import interpolate as rife_e2e, load_rife
from filmrestore.nodes.interpolate_node import FilmInterpolate
from conftest import SHARED, moving_frames, stream_durations, write_video

ROOT = Path(__file__).resolve().parents[1]
RIFE_VERSIONS = ["rife_v46", "rife_v47", "rife_v417", "rife_v426"]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0 ** 2 / max(1e-9, np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))))


# -- fidelity to the official RIFE ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fidelity_tools():
    if not (SHARED / "tools" / "fidelity_weights.py").exists():
        pytest.skip(f"fidelity fixtures not found at {SHARED} (they come with the project's shared/ folder)")
    sys.path.insert(0, str(SHARED / "tools"))
    import fidelity_weights
    return fidelity_weights


def _weights(tools, version: str):
    meta = json.loads((SHARED / "fixtures" / "fidelity" / version / "meta.json").read_text())
    manifest = json.loads((SHARED / "fixtures" / "manifests" / f"{version}.json").read_text())
    sd = tools.make_state_dict(manifest, meta["weights"]["seed"])
    assert tools.state_dict_sha256(sd) == meta["weights"]["weights_sha256"]
    return meta, manifest, sd


def _within(ours: np.ndarray, expected: np.ndarray, tol: dict) -> None:
    err = ours - expected
    max_abs, rel = float(np.abs(err).max()), float(np.linalg.norm(err) / np.linalg.norm(expected))
    assert max_abs <= tol["max_abs"] and rel <= tol["rel_l2"], f"max_abs {max_abs:.2e}, rel_l2 {rel:.2e}"


@pytest.mark.parametrize("version", RIFE_VERSIONS)
@pytest.mark.parametrize("layout", ["flownet.pkl", "rife4x.pth", "safetensors"])
def test_rife_reproduces_the_official_outputs(fidelity_tools, tmp_path, version, layout):
    meta, manifest, sd = _weights(fidelity_tools, version)
    if layout == "flownet.pkl":        # Practical-RIFE's file: every key prefixed 'module.'
        path = tmp_path / "flownet.pkl"
        torch.save(fidelity_tools.official_layout([manifest], [sd]), path)
    elif layout == "rife4x.pth":       # ComfyUI-Frame-Interpolation's file: no prefix
        path = tmp_path / "rife4x.pth"
        torch.save({k: torch.from_numpy(np.asarray(v)) if not torch.is_tensor(v) else v for k, v in sd.items()}, path)
    else:
        from safetensors.torch import save_file
        path = tmp_path / "rife.safetensors"
        save_file({k: (v if torch.is_tensor(v) else torch.from_numpy(np.asarray(v))).contiguous()
                   for k, v in sd.items()}, str(path))
    net = load_rife(path)
    d = SHARED / "fixtures" / "fidelity" / version
    inp, exp = np.load(d / "inputs.npz"), np.load(d / "expected.npz")
    tol = meta["tolerance"]["default"]
    with torch.no_grad():
        for t in (0.5, 0.25):
            out = net(torch.from_numpy(inp["img0"]), torch.from_numpy(inp["img1"]), t).numpy()
            _within(out, exp[f"merged_t{t}"], meta["tolerance"].get(f"merged_t{t}", tol))
        e2e = rife_e2e(net, torch.from_numpy(inp["e2e_img0"]), torch.from_numpy(inp["e2e_img1"]), 0.5).numpy()
        _within(e2e, exp["e2e_t0.5"], meta["tolerance"].get("e2e_t0.5", tol))


def test_rife_method_runs_through_the_node(fidelity_tools, tmp_path, monkeypatch):
    _, manifest, sd = _weights(fidelity_tools, "rife_v426")
    (tmp_path / "models" / "rife").mkdir(parents=True)
    torch.save(fidelity_tools.official_layout([manifest], [sd]), tmp_path / "models" / "rife" / "flownet.pkl")
    monkeypatch.setenv("FILMRESTORE_MODELS", str(tmp_path / "models"))
    film = ArrayFilm(moving_frames(4, 40, 56), Fraction(16))
    (out,) = FilmInterpolate().interpolate(film, "rife", 24.0, 0.0, "medium", "flownet.pkl", 1.0, False, False,
                                           "cpu", "auto")
    frames = out.read(0, out.info.frame_count)
    assert frames.shape == (6, 40, 56, 3) and out.info.fps == 24


# -- timing -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fps_in, fps_out, n", [(Fraction(16), Fraction(24), 32), (Fraction(16), Fraction(60), 33),
                                                (Fraction(24000, 1001), Fraction(60), 25)])
def test_output_count_and_times_are_exact(fps_in, fps_out, n):
    film = ArrayFilm(moving_frames(n, 16, 16), fps_in)
    st = InterpolateStage(film, fps_out, BlendInterpolator(), detect_cuts=False)
    duration = Fraction(n) / fps_in
    assert st.info.frame_count == math.ceil(duration * fps_out) and st.info.fps == fps_out
    assert abs(st.info.duration - duration) < 1 / fps_out
    for k in range(st.info.frame_count):
        i, j, t = st.source_position(k)
        tk = Fraction(k) / fps_out
        assert film.info.time_of(i) <= tk and (t == 0.0 or film.info.time_of(j) > tk)
        if t:
            assert math.isclose(t, float((tk - film.info.time_of(i)) / (film.info.time_of(j) - film.info.time_of(i))))


def test_variable_rate_input_is_resampled_by_its_timestamps():
    ts = [Fraction(x, 100) for x in (0, 5, 10, 30, 35, 40, 60, 65)]
    film = ArrayFilm(moving_frames(8, 16, 16), Fraction(20), timestamps=ts)
    st = InterpolateStage(film, Fraction(50), BlendInterpolator(), detect_cuts=False)
    assert st.info.frame_count == math.ceil(film.info.duration * 50) and st.info.timestamps is None
    assert st.source_position(5) == (2, 2, 0.0)          # t = 0.10 s is source frame 2 exactly: a copy
    i, j, t = st.source_position(8)                        # t = 0.16 s: between 0.10 and 0.30
    assert (i, j) == (2, 3) and math.isclose(t, 0.3)


def test_chunked_output_equals_whole_clip(monkeypatch, isolated):
    import filmrestore.filmlib.clip as clip
    truth, src = rate_pair(96, 64, 24, moving_object=True)
    film = ArrayFilm(src, Fraction(16))
    whole = InterpolateStage(film, Fraction(24), FlowInterpolator("fast")).read(0, 24)
    monkeypatch.setattr(clip, "CHUNK_BYTES", 5 * 96 * 64 * 3)
    isolated.clear()
    st = InterpolateStage(film, Fraction(24), FlowInterpolator("fast"))
    assert st.chunk_frames == 5
    assert np.array_equal(np.concatenate([f for _, f in st.chunks()]), whole)


# -- quality ----------------------------------------------------------------------------------------------
def test_flow_recovers_dropped_frames_far_better_than_blending():
    truth, src = rate_pair(320, 240, 24, moving_object=True)
    film = ArrayFilm(src, Fraction(16))
    flow = InterpolateStage(film, Fraction(24), FlowInterpolator("medium")).read(0, 24)
    blend = InterpolateStage(film, Fraction(24), BlendInterpolator()).read(0, 24)
    dropped = [k for k in range(24) if k % 3]
    p_flow = np.mean([psnr(flow[k], truth[k]) for k in dropped])
    p_blend = np.mean([psnr(blend[k], truth[k]) for k in dropped])
    assert all(np.array_equal(flow[k], truth[k]) for k in range(0, 24, 3))   # kept frames are copied exactly
    assert p_flow > 30 and p_flow > p_blend + 4, (p_flow, p_blend)


def _two_shot_film() -> tuple[ArrayFilm, int]:
    frames, cuts = clean_clip(SampleSpec(width=96, height=72, shot_frames=(7, 6)))
    return ArrayFilm(frames, Fraction(16)), cuts[0]


@pytest.mark.parametrize("how", ["scenes", "cut_check"])
def test_no_output_frame_mixes_two_shots(how):
    film, cut = _two_shot_film()
    src = film.read(0, film.info.frame_count)
    scenes = Scenes((Shot(0, cut, 0), Shot(cut, 13, cut)), 13, Fraction(16))
    (out,) = FilmInterpolate().interpolate(film, "flow", 60.0, 0.0, "fast", "none", 1.0, False,
                                           how == "cut_check", "cpu", "auto",
                                           scenes if how == "scenes" else None)
    frames = out.read(0, out.info.frame_count)
    t_cut = film.info.time_of(cut)
    for k, f in enumerate(frames):
        tk = Fraction(k) / out.info.fps
        if film.info.time_of(cut - 1) < tk < t_cut:   # between the last frame of shot 1 and the cut
            assert np.array_equal(f, src[cut - 1]) or np.array_equal(f, src[cut])


def test_duplicates_are_dropped_and_their_time_is_interpolated():
    truth, src = rate_pair(160, 120, 24, moving_object=True)
    dup = src.copy()
    dup[5] = dup[4]   # a repeated frame, as in a re-scanned print
    film = ArrayFilm(dup, Fraction(16))
    keep = InterpolateStage(film, Fraction(16), FlowInterpolator("fast"), detect_cuts=False)
    drop = InterpolateStage(film, Fraction(16), FlowInterpolator("fast"), detect_cuts=False, drop_duplicates=True)
    assert 5 not in drop.kept_frames() and drop.info.frame_count == keep.info.frame_count == 16
    fixed = drop.read(5, 6)[0]
    assert psnr(fixed, src[5]) > psnr(dup[5], src[5]) + 3


def test_audio_stays_in_sync_after_16_to_24(tmp_path):
    src = write_video(tmp_path / "silent.mkv", moving_frames(32, 48, 64), Fraction(16), audio_seconds=2.0,
                      audio_codec="flac")
    film = open_clip(src)
    st = InterpolateStage(film, Fraction(24), FlowInterpolator("fast"))
    out = save_film(st, tmp_path / "out.mkv", "ffv1-mkv")
    back = open_clip(out.path)
    assert back.info.frame_count == 48 and back.info.fps == 24
    d = stream_durations(out.path)
    assert abs(d["audio"] - float(back.info.duration)) < 1 / 24


def test_silent_film_to_60fps_example_workflow_runs_headless(tmp_path):
    from filmrestore.filmlib.sample import make_sample
    from filmrestore.runner.execute import Runner
    from filmrestore.runner.workflow import to_api
    make_sample(tmp_path / "input" / "sample", SampleSpec(width=96, height=72, shot_frames=(5, 4)))
    data = json.loads((ROOT / "example_workflows" / "silent_film_to_60fps.json").read_text())
    res = Runner(NODE_CLASS_MAPPINGS).run(to_api(data, NODE_CLASS_MAPPINGS))
    path = [o[0] for o in res.outputs.values() if o and isinstance(o[0], str)][0]
    out = open_clip(path)
    assert out.info.fps == 60 and out.info.frame_count == math.ceil(Fraction(9, 16) * 60)


def test_node_validation_names_a_bad_method_and_a_missing_rife_file(tmp_path, monkeypatch):
    (tmp_path / "rife").mkdir()
    monkeypatch.setenv("FILMRESTORE_MODELS", str(tmp_path))
    assert FilmInterpolate.VALIDATE_INPUTS("flow", "missing.pth") is True    # not used by flow: not needed
    assert FilmInterpolate.VALIDATE_INPUTS("rife", "none") is True           # the run itself says how to get one
    assert "'warp' is not one of" in FilmInterpolate.VALIDATE_INPUTS("warp", "none")
    msg = FilmInterpolate.VALIDATE_INPUTS("rife", "missing.pth")
    assert isinstance(msg, str) and "missing.pth" in msg and "rife" in msg
    (tmp_path / "rife" / "flownet.pkl").write_bytes(b"\0" * 16)
    assert FilmInterpolate.VALIDATE_INPUTS("rife", "flownet.pkl") is True


def test_accelerating_motion_follows_its_curved_path():
    import cv2
    rng = np.random.default_rng(3)
    tex = cv2.GaussianBlur(rng.random((160, 200, 3)).astype(np.float32), (0, 0), 2.0)
    tex = (tex - tex.min()) / (tex.max() - tex.min())
    pos = [0.25 * k * k for k in range(11)]                  # constant acceleration, up to 25 px
    truth = np.stack([np.clip(cv2.warpAffine(tex, np.float32([[1, 0, -x], [0, 1, 0]]), (200, 160),
                                             flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
                              * 255 + 0.5, 0, 255).astype(np.uint8)[24:-24, 24:-40] for x in pos])
    film = ArrayFilm(truth[::2], Fraction(12))

    def score(quadratic: bool) -> float:
        st = InterpolateStage(film, Fraction(24), FlowInterpolator("fine", quadratic=quadratic), detect_cuts=False)
        out = st.read(0, len(truth))
        return float(np.mean([psnr(out[k][8:-8, 8:-8], truth[k][8:-8, 8:-8]) for k in range(1, len(truth) - 1, 2)]))
    straight, curved = score(False), score(True)
    assert curved >= straight + 5.0, (straight, curved)   # 40.6 dB -> 50.6 dB
