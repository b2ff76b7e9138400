"""Classical restoration stages measurably improve degraded clips with a known clean original."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from filmrestore import NODE_CLASS_MAPPINGS
from filmrestore.filmlib.clip import ArrayFilm
from filmrestore.filmlib.deblur import DeblurStage, estimate_blur_sigma
from filmrestore.filmlib.frames import from_float, to_float
from filmrestore.filmlib.sample import SampleSpec, clean_clip
from filmrestore.filmlib.upscale import UpscaleStage, resize
from filmrestore.runner.execute import Runner
from filmrestore.runner.workflow import to_api

ROOT = Path(__file__).resolve().parents[1]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


@pytest.fixture(scope="module")
def clean_gray() -> np.ndarray:
    frames, _ = clean_clip(SampleSpec(width=320, height=240, shot_frames=(5, 5)))
    y = 0.299 * frames[..., 0] + 0.587 * frames[..., 1] + 0.114 * frames[..., 2]
    return np.round(y).astype(np.uint8)[..., None]


def test_lanczos_upscale_of_a_2x_downscaled_clip_beats_bicubic(clean_gray):
    small = from_float(resize(to_float(clean_gray), 160, 120, "area"), np.uint8)
    film = ArrayFilm(small, Fraction(16))
    lanczos = UpscaleStage(film, "lanczos", 2.0).read(0, 10)
    bicubic = UpscaleStage(film, "bicubic", 2.0).read(0, 10)
    assert lanczos.shape == clean_gray.shape
    assert psnr(lanczos, clean_gray) > psnr(bicubic, clean_gray) + 0.1


def test_target_height_sets_an_even_size_with_the_aspect_kept(clean_gray):
    film = ArrayFilm(clean_gray[:2], Fraction(16))
    up = UpscaleStage(film, "lanczos", target_height=1080)
    assert (up.info.width, up.info.height) == (1440, 1080)


@pytest.mark.parametrize("sigma", [1.0, 1.6])
def test_blur_estimate_is_close(clean_gray, sigma):
    import cv2
    blurred = cv2.GaussianBlur(to_float(clean_gray[0])[..., 0], (0, 0), sigma)
    assert abs(estimate_blur_sigma(blurred) - sigma) < 0.25


@pytest.mark.parametrize("method", ["unsharp", "richardson_lucy"])
def test_classical_deblur_raises_psnr_of_a_blurred_clip(clean_gray, method):
    import cv2
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 1.2)[..., None] for f in clean_gray])
    out = DeblurStage(ArrayFilm(blurred, Fraction(16)), method).read(0, 10)
    assert psnr(out, clean_gray) > psnr(blurred, clean_gray) + 1.0


def test_upscale_and_deblur_example_workflow_runs_headless(tmp_path):
    from filmrestore.filmlib.sample import make_sample
    make_sample(tmp_path / "input" / "sample", SampleSpec(width=160, height=120, shot_frames=(4, 4)))
    data = json.loads((ROOT / "example_workflows" / "upscale_deblur.json").read_text())
    res = Runner(NODE_CLASS_MAPPINGS).run(to_api(data, NODE_CLASS_MAPPINGS))
    from filmrestore.filmlib.io.open import open_clip
    out = open_clip([o for o in res.outputs.values() if o and isinstance(o[0], str)][0][0])
    assert out.info.height == 240 and out.info.frame_count == 8
