"""The degradation model and the sample clip: deterministic, with ground truth that matches what was done."""
from __future__ import annotations

import json
from fractions import Fraction

import numpy as np

from filmrestore.filmlib.clip import ArrayFilm
from filmrestore.filmlib.degrade import DegradeParams, DegradeStage, degrade_frame, weave_offset
from filmrestore.filmlib.io.open import open_clip
from filmrestore.filmlib.sample import SampleSpec, clean_clip, make_sample


def test_degradation_is_deterministic_per_frame_and_grayscale():
    frames, _ = clean_clip(SampleSpec(width=96, height=72, shot_frames=(5,)))
    p = DegradeParams(seed=3)
    a = degrade_frame(frames[2], 2, p)
    assert a.shape == (72, 96, 1) and np.array_equal(a, degrade_frame(frames[2], 2, p))
    assert not np.array_equal(a, degrade_frame(frames[2], 3, p))
    stage = DegradeStage(ArrayFilm(frames, Fraction(16)), p)
    assert np.array_equal(stage.read(2, 3)[0], a)


def test_weave_ground_truth_is_the_applied_shift():
    import cv2
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.random((96, 128)).astype(np.float32), (0, 0), 2)
    frame = (img[..., None] * 255).astype(np.uint8)
    p = DegradeParams(seed=5, weave=3.0, blur=0, flicker=0, grain=0, scratches=0, dust=0, vignette=0)
    out = degrade_frame(frame, 4, p)
    (dx, dy), _ = cv2.phaseCorrelate(frame[..., 0].astype(np.float32), out[..., 0].astype(np.float32))
    assert np.allclose((dx, dy), weave_offset(p, 4), atol=0.15)


def test_sample_writes_old_film_clean_and_truth(tmp_path):
    paths = make_sample(tmp_path, SampleSpec(width=128, height=96, shot_frames=(8, 6)))
    old, clean = open_clip(paths["old_film"]), open_clip(paths["clean"])
    truth = json.loads(paths["truth"].read_text())
    assert old.info.channels == 1 and old.info.fps == 16 and old.info.frame_count == 14
    assert clean.info.channels == 3 and clean.info.frame_count == 14
    assert truth["cuts"] == [8] and len(truth["weave"]) == 14
