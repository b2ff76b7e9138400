"""The FILM type and stages: lazy, chunked, cached, identical however it is read."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from filmrestore.filmlib.clip import ArrayFilm, ClipInfo, FrameStage, Stage
from conftest import moving_frames


class Invert(FrameStage):
    name = "invert"

    def process_frame(self, frame, index):
        return self.info.max_value - frame


class Blur3(Stage):
    """A temporal stage: mean of each frame and its neighbours (clamped at the ends)."""

    name = "blur3"
    context = 1

    def compute(self, frames, first, start, stop):
        out = []
        n = self.source.info.frame_count
        for i in range(start, stop):
            idx = [min(max(j, 0), n - 1) - first for j in (i - 1, i, i + 1)]
            out.append(np.mean([frames[k].astype(np.float32) for k in idx], axis=0))
        return np.rint(np.stack(out)).astype(self.info.dtype)


def test_nothing_is_computed_until_frames_are_pulled(isolated):
    film = Blur3(Invert(ArrayFilm(moving_frames(40), Fraction(24)), {}), {})
    assert sum(isolated.stats.computed.values()) == 0
    film.read(10, 12)
    assert isolated.stats.computed["blur3"] == film.chunk_frames or isolated.stats.computed["blur3"] <= 40


@pytest.mark.parametrize("chunk_bytes", [1, 3 * 48 * 64 * 3, 10**9])
def test_chunked_output_identical_to_whole_clip(monkeypatch, isolated, chunk_bytes):
    import filmrestore.filmlib.clip as clip
    src = ArrayFilm(moving_frames(37), Fraction(24))
    whole = Blur3(Invert(src, {}), {}).read(0, 37)
    monkeypatch.setattr(clip, "CHUNK_BYTES", chunk_bytes)
    isolated.clear()
    film = Blur3(Invert(src, {"x": 1}), {})  # a different signature: nothing reused
    pieces = np.concatenate([f for _, f in film.chunks()])
    assert np.array_equal(pieces, whole)
    rand = np.concatenate([film.read(a, b) for a, b in [(0, 5), (5, 6), (6, 30), (30, 37)]])
    assert np.array_equal(rand, whole)


def test_signature_changes_with_parameters_and_source():
    src = ArrayFilm(moving_frames(8), Fraction(24))
    other = ArrayFilm(moving_frames(8, seed=1), Fraction(24))
    assert Invert(src, {"a": 1}).signature == Invert(src, {"a": 1}).signature
    assert Invert(src, {"a": 1}).signature != Invert(src, {"a": 2}).signature
    assert Invert(src, {"a": 1}).signature != Invert(other, {"a": 1}).signature


def test_read_out_of_range_is_a_clear_error():
    film = ArrayFilm(moving_frames(8), Fraction(24))
    with pytest.raises(IndexError, match="outside the clip"):
        film.read(5, 9)


def test_clip_info_time_and_duration_are_exact():
    info = ClipInfo(width=4, height=2, channels=1, bit_depth=8, frame_count=3, fps=Fraction(24000, 1001))
    assert info.time_of(2) == Fraction(2002, 24000)
    assert info.duration == Fraction(3 * 1001, 24000)
    vfr = info.with_(timestamps=(Fraction(0), Fraction(1, 10), Fraction(3, 10)))
    assert vfr.time_of(2) == Fraction(3, 10) and vfr.duration == Fraction(5, 10)
    with pytest.raises(ValueError, match="channels"):
        info.with_(channels=2)


def test_array_film_rejects_bad_frames():
    with pytest.raises(ValueError, match="uint8 or uint16"):
        ArrayFilm(np.zeros((2, 4, 4, 3), np.float32), Fraction(24))
    with pytest.raises(ValueError, match="at least one frame"):
        ArrayFilm(np.zeros((0, 4, 4, 3), np.uint8), Fraction(24))
