"""DeepRemaster: official fidelity of NetworkR/NetworkC through the user's loading path, and the stage (blocks
reset at cuts, chunk invariance, full-resolution luma, reference letterboxing, missing-model message)."""
from __future__ import annotations

import json
import sys
from fractions import Fraction

import numpy as np
import pytest
import torch

from filmrestore.filmlib.clip import ArrayFilm
from filmrestore.filmlib.errors import InputError
from filmrestore.filmlib.remaster_deep import (DeepRemasterStage, lab_to_rgb, letterbox, letterbox_references,
                                               reference_canvas, working_size)
from filmrestore.filmlib.scenes import Scenes, Shot
from filmrestore.model_loaders.deepremaster import SourceReferenceAttention, load_deepremaster, to_lab
from filmrestore.model_loaders.folders import ModelNotFoundError
from conftest import SHARED

FIDELITY = SHARED / "fixtures" / "fidelity"


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """The fidelity-recipe weights written as the official remasternet.pth.tar, and loaded back from it."""
    if not (SHARED / "tools" / "fidelity_weights.py").exists():
        pytest.skip(f"fidelity fixtures not found at {SHARED} (they come with the project's shared/ folder)")
    sys.path.insert(0, str(SHARED / "tools"))
    import fidelity_weights as fw
    manifests, sds = [], []
    for part in ("R", "C"):
        meta = json.loads((FIDELITY / f"deepremaster_{part}" / "meta.json").read_text())
        man = json.loads((SHARED / "fixtures" / "manifests" / f"deepremaster_{part}.json").read_text())
        sd = fw.make_state_dict(man, meta["weights"]["seed"])
        assert fw.state_dict_sha256(sd) == meta["weights"]["weights_sha256"]
        manifests.append(man)
        sds.append(sd)
    models = tmp_path_factory.mktemp("models")
    (models / "deepremaster").mkdir()
    path = models / "deepremaster" / "remasternet.pth.tar"
    # the 2019 file was written by torch 0.4: the legacy (non-zip) format, which must load with weights_only
    torch.save(fw.official_layout(manifests, sds), path, _use_new_zipfile_serialization=False)
    net_r, net_c = load_deepremaster(path)
    return {"path": path, "models": models, "R": net_r, "C": net_c}


def _check(ours: np.ndarray, expected: np.ndarray, tol: dict) -> None:
    err = ours - expected
    max_abs, rel = float(np.abs(err).max()), float(np.linalg.norm(err) / np.linalg.norm(expected))
    assert max_abs <= tol["max_abs"] and rel <= tol["rel_l2"], f"max_abs {max_abs:.2e}, rel_l2 {rel:.2e}"


def _fixture(part: str):
    d = FIDELITY / f"deepremaster_{part}"
    return json.loads((d / "meta.json").read_text()), np.load(d / "inputs.npz"), np.load(d / "expected.npz")


# -- fidelity to the official networks ---------------------------------------------------------------------
def test_restoration_reproduces_the_official_network(official):
    meta, inp, exp = _fixture("R")
    with torch.no_grad():
        for x, name in (("x", "out"), ("x_short", "out_short")):   # a full 5-frame block and a short last one
            out = official["R"](torch.from_numpy(inp[x])).numpy()
            assert out.shape == exp[name].shape
            _check(out, exp[name], meta["tolerance"].get(name, meta["tolerance"]["default"]))


def test_colourisation_with_references_reproduces_the_official_network_and_lab(official, monkeypatch):
    meta, inp, exp = _fixture("C")
    tol = meta["tolerance"]
    with torch.no_grad():
        l_in = official["R"](torch.from_numpy(inp["x_gray"]))       # remaster.py chains R into C
        _check(l_in.numpy(), inp["l_in"], tol["default"])
        ab = official["C"](torch.from_numpy(inp["l_in"]), torch.from_numpy(inp["refs"]))
        _check(ab.numpy(), exp["ab_refs"], tol.get("ab_refs", tol["default"]))
        lab = to_lab(torch.from_numpy(inp["l_in"]), ab).numpy()
        _check(lab, exp["lab_refs"], tol["lab_refs"])
        # the attention in slices of source positions (as on large frames) computes the same thing
        monkeypatch.setattr(SourceReferenceAttention, "ATTENTION_ELEMENTS", 5000)
        sliced = official["C"](torch.from_numpy(inp["l_in"]), torch.from_numpy(inp["refs"])).numpy()
        assert np.abs(sliced - ab.numpy()).max() < 1e-6


def test_colourisation_without_references_reproduces_the_official_network(official):
    meta, inp, exp = _fixture("C")
    with torch.no_grad():
        ab = official["C"](torch.from_numpy(inp["l_in"])).numpy()
    _check(ab, exp["ab_norefs"], meta["tolerance"].get("ab_norefs", meta["tolerance"]["default"]))
    assert np.abs(ab - exp["ab_refs"]).mean() > 0.05     # the references do change the colours


def test_a_file_that_is_not_deepremaster_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "remasternet.pth.tar"
    torch.save({"modelR": {"layers.1.conv3d.weight": torch.zeros(3)}}, path)
    with pytest.raises(InputError, match="'modelR' and 'modelC'"):
        load_deepremaster(path)
    torch.save({"modelR": {"layers.1.conv3d.weight": torch.zeros(3)}, "modelC": {}}, path)
    with pytest.raises(InputError, match="not a DeepRemaster"):
        load_deepremaster(path)


# -- the stage ---------------------------------------------------------------------------------------------
def _gray_film(inp) -> ArrayFilm:
    frames = np.rint(inp["x_gray"][0, 0] * 255).astype(np.uint8)[..., None]      # (5, 64, 64, 1), exact k/255
    return ArrayFilm(frames, Fraction(24))


def test_stage_restores_as_the_official_script(official, monkeypatch):
    monkeypatch.setenv("FILMRESTORE_MODELS", str(official["models"]))
    _, inp, _ = _fixture("C")
    # 64x64 at work size 64 is the official script's own working size: no resize, one 5-frame block
    st = DeepRemasterStage(_gray_film(inp), "remasternet.pth.tar", work_size=64, full_res_luma=False, device="cpu")
    out = st.read(0, 5)
    assert st.info.channels == 1 and out.shape == (5, 64, 64, 1)
    official_l = inp["l_in"][0, 0]                                                 # NetworkR by the official code
    assert np.abs(out[..., 0] / 255.0 - official_l).max() <= 0.5 / 255 + 1e-4


def test_stage_colours_from_letterboxed_references_like_the_network_chain(official, monkeypatch):
    monkeypatch.setenv("FILMRESTORE_MODELS", str(official["models"]))
    _, inp, _ = _fixture("C")
    refs = [np.rint(inp["refs"][0, i].transpose(1, 2, 0) * 255).astype(np.uint8) for i in range(2)]
    st = DeepRemasterStage(_gray_film(inp), "remasternet.pth.tar", refs, work_size=64, full_res_luma=False,
                           device="cpu")
    out = st.read(0, 5)
    assert st.info.channels == 3
    with torch.no_grad():
        l_in = torch.from_numpy(inp["l_in"])
        ab = official["C"](l_in, torch.from_numpy(letterbox_references(refs))[None])
        lab = to_lab(l_in, ab)[0].permute(1, 2, 3, 0).numpy()                    # (T, H, W, 3)
    want = np.stack([lab_to_rgb(f) for f in lab])
    assert np.abs(out / 255.0 - want).max() <= 2.0 / 255
    assert np.abs(out[..., 0].astype(int) - out[..., 2]).mean() > 3              # really coloured, not gray


def _two_shot_film(seed: int = 0) -> tuple[np.ndarray, Scenes]:
    rng = np.random.default_rng(seed)
    frames = (rng.random((12, 40, 56, 1)) * 255).astype(np.uint8)
    return frames, Scenes((Shot(0, 7, 3), Shot(7, 12, 9)), 12, Fraction(24))


def test_blocks_restart_at_cuts(official, monkeypatch):
    monkeypatch.setenv("FILMRESTORE_MODELS", str(official["models"]))
    frames, scenes = _two_shot_film()
    st = DeepRemasterStage(ArrayFilm(frames, Fraction(24)), "remasternet.pth.tar", scenes=scenes, work_size=32,
                           device="cpu")
    assert [st.block_of(i) for i in (0, 4, 5, 6, 7, 11)] == [(0, 5), (0, 5), (5, 7), (5, 7), (7, 12), (7, 12)]
    other = frames.copy()
    other[:7] = 255 - other[:7]                              # a different first shot...
    a = st.read(0, 12)
    b = DeepRemasterStage(ArrayFilm(other, Fraction(24)), "remasternet.pth.tar", scenes=scenes, work_size=32,
                          device="cpu").read(0, 12)
    assert np.array_equal(a[7:], b[7:]) and not np.array_equal(a[:7], b[:7])   # ...leaves the second alone
    whole = DeepRemasterStage(ArrayFilm(frames, Fraction(24)), "remasternet.pth.tar", work_size=32,
                              device="cpu").read(0, 12)
    assert not np.array_equal(whole[5:], a[5:])              # without the cut, block [5, 10) mixes both shots


def test_chunked_output_equals_whole_clip(official, monkeypatch, isolated):
    import filmrestore.filmlib.clip as clip
    monkeypatch.setenv("FILMRESTORE_MODELS", str(official["models"]))
    frames, scenes = _two_shot_film(1)
    rng = np.random.default_rng(2)
    refs = [(rng.random((30, 40, 3)) * 255).astype(np.uint8), (rng.random((40, 40, 3)) * 255).astype(np.uint8)]
    film = ArrayFilm(frames, Fraction(24))
    whole = DeepRemasterStage(film, "remasternet.pth.tar", refs, scenes, work_size=32, device="cpu").read(0, 12)
    monkeypatch.setattr(clip, "CHUNK_BYTES", 3 * 40 * 56 * 3)           # 3-frame chunks split the 5-frame blocks
    isolated.clear()
    st = DeepRemasterStage(film, "remasternet.pth.tar", refs, scenes, work_size=32, device="cpu")
    assert st.chunk_frames == 3
    assert np.array_equal(np.concatenate([f for _, f in st.chunks()]), whole)
    assert np.array_equal(np.concatenate([st.read(a, b) for a, b in [(0, 6), (6, 8), (8, 12)]]), whole)


def test_reference_shots_colour_each_shot_from_its_own_references(official, monkeypatch):
    monkeypatch.setenv("FILMRESTORE_MODELS", str(official["models"]))
    frames, scenes = _two_shot_film(3)
    film = ArrayFilm(frames, Fraction(24))
    rng = np.random.default_rng(4)
    refs = [(rng.random((32, 32, 3)) * 255).astype(np.uint8) for _ in range(2)]
    changed = [255 - refs[0], refs[1]]                      # another reference for shot 0 only
    run = lambda r: DeepRemasterStage(film, "remasternet.pth.tar", r, scenes, work_size=32, device="cpu",  # noqa
                                      reference_shots=[0, 1]).read(0, 12)
    a, b = run(refs), run(changed)
    assert np.array_equal(a[7:], b[7:]) and np.abs(a[:7].astype(int) - b[:7]).mean() > 1
    with pytest.raises(InputError, match="one shot index per reference"):
        DeepRemasterStage(film, "remasternet.pth.tar", refs, scenes, reference_shots=[0])
    with pytest.raises(InputError, match="there are 2 shots"):
        DeepRemasterStage(film, "remasternet.pth.tar", refs, scenes, reference_shots=[0, 2])


def test_full_resolution_luma_keeps_detail_the_working_size_cannot_hold(official, monkeypatch):
    import cv2
    monkeypatch.setenv("FILMRESTORE_MODELS", str(official["models"]))
    _, inp, _ = _fixture("C")
    base = np.stack([cv2.resize(f, (128, 128), interpolation=cv2.INTER_CUBIC) for f in inp["x_gray"][0, 0]])
    checker = 0.06 * ((np.indices((128, 128)).sum(0) % 2) * 2 - 1)           # 1-pixel detail: gone at 64x64
    frames = np.rint(np.clip(0.1 + 0.8 * base + checker, 0, 1) * 255).astype(np.uint8)[..., None]
    film = ArrayFilm(frames, Fraction(24))
    full = DeepRemasterStage(film, "remasternet.pth.tar", work_size=64, device="cpu").read(0, 5)[..., 0] / 255.0
    work = DeepRemasterStage(film, "remasternet.pth.tar", work_size=64, full_res_luma=False,
                             device="cpu").read(0, 5)[..., 0] / 255.0
    assert full.shape == (5, 128, 128) and work.shape == (5, 64, 64)
    down = np.stack([cv2.resize(f, (64, 64), interpolation=cv2.INTER_AREA) for f in full])
    assert np.abs(down - work).mean() < 0.02                 # the same restoration at the coarse scale...
    inside = (full > 0.08) & (full < 0.92)                   # (where the output is not clipped)
    detail = (full - np.stack([cv2.resize(f, (128, 128), interpolation=cv2.INTER_LINEAR) for f in work]))
    corr = np.sum(detail * checker * inside) / np.sqrt(np.sum(detail ** 2 * inside) * np.sum((checker * inside) ** 2))
    assert corr > 0.7, corr                                  # ...plus the source's fine detail


def test_references_are_letterboxed_as_the_official_code():
    wide = np.zeros((100, 200, 3), np.uint8) + np.array([200, 100, 50], np.uint8)
    ramp = np.rint(50 + 200 * np.arange(100) / 99.0).astype(np.uint8)
    square = np.repeat(np.repeat(ramp[:, None, None], 100, 1), 3, 2)           # top-to-bottom ramp 50..250
    assert reference_canvas([(200, 100), (100, 100)]) == (384, 256)          # 256 x mean aspect 1.5
    assert reference_canvas([(100, 200)]) == (256, 512)                      # portrait: 256 wide
    refs = letterbox_references([wide, square])
    assert refs.shape == (2, 3, 256, 384) and refs.dtype == np.float32
    w = refs[0].transpose(1, 2, 0) * 255
    # 200x100 scaled by 384/200 -> 384x192 (multiples of 16), centred: 32-row black bars
    assert np.all(w[:32] == 0) and np.all(w[224:] == 0)
    assert np.allclose(w[32:224], [200, 100, 50], atol=0.5)
    s = refs[1].transpose(1, 2, 0) * 255
    # 100x100 scaled by 384/100 -> 384x384, taller than the canvas: rows 64..319 are kept, no bars
    assert s.min() > 0
    src_row = lambda canvas_row: (canvas_row + 64 + 0.5) / 3.84 - 0.5           # noqa: E731
    for r in (0, 128, 255):
        assert abs(s[r, 192, 0] - (50 + 200 * src_row(r) / 99)) < 1.5, r
    same = np.full((256, 256, 3), 7, np.uint8)
    assert np.array_equal(letterbox(same, 256, 256), same)
    with pytest.raises(InputError, match="too elongated"):
        letterbox(np.zeros((1, 300, 3), np.uint8), 300, 256)


def test_working_size_follows_the_official_rounding():
    assert working_size(720, 528, 320) == (432, 320)         # 436.4 -> 432
    assert working_size(1920, 1080, 320) == (576, 320)       # 568.9 -> 576
    assert working_size(320, 240, 320) == (432, 320)         # small clips are enlarged, as remaster.py does


def test_missing_model_names_the_file_the_folder_and_the_source(tmp_path, monkeypatch):
    monkeypatch.setenv("FILMRESTORE_MODELS", str(tmp_path / "models"))
    film = ArrayFilm(np.zeros((2, 32, 32, 1), np.uint8), Fraction(24))
    with pytest.raises(ModelNotFoundError) as err:
        DeepRemasterStage(film, "remasternet.pth.tar")
    msg = str(err.value)
    assert "remasternet.pth.tar" in msg and str(tmp_path / "models" / "deepremaster") in msg
    assert "iizuka.cs.tsukuba.ac.jp/data/remasternet.pth.tar" in msg and "non-commercial" in msg
    with pytest.raises(InputError, match="models download deepremaster"):
        DeepRemasterStage(film, "none")
    with pytest.raises(InputError, match="work_size"):
        DeepRemasterStage(film, "remasternet.pth.tar", work_size=8)
