"""FilmReferenceColorize on real colour footage made gray, with the known colours as the answer: exemplar
transfer beats global statistics, no colour crosses a cut, the luma is kept bit-identical, chunking changes
nothing, IMAGE batches, one reference for all or one per shot, and a wrong reference count."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from realclips import cut_frames

SIZE = (160, 120)
SHOT = 16      # frames per shot (the cut finder needs shots of 15 frames or more)


@pytest.fixture(scope="module")
def two_shots():
    """Colour truth (2*SHOT, 120, 160, 3), its gray film and the cut: bikes, then Big Buck Bunny."""
    import cv2
    frames, cuts = cut_frames([("bikes", 0, SHOT), ("bigbuckbunny", 10, SHOT)], SIZE)
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[..., None] for f in frames])
    return frames, gray, cuts


def _de(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.color import deltaE_ciede2000, rgb2lab
    return float(deltaE_ciede2000(rgb2lab(a), rgb2lab(b)).mean())


def _colour(gray, refs, cuts, method="transfer", **kw):
    from filmrestore.filmlib.clip import ArrayFilm
    from filmrestore.filmlib.colorize.reference import ReferenceColorizeStage
    st = ReferenceColorizeStage(ArrayFilm(gray, Fraction(24)), refs, cuts, method, **kw)
    return st, st.read(0, len(st))


def test_transfer_beats_global_keeps_luma_and_nothing_crosses_the_cut(two_shots):
    import cv2
    truth, gray, cuts = two_shots
    refs = [truth[0], truth[cuts[0]]]                  # each shot's first frame, in colour
    _, ours = _colour(gray, refs, cuts)
    _, glob = _colour(gray, refs, cuts, "global")
    assert np.array_equal(np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in ours]), gray[..., 0])
    assert np.array_equal(np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in glob]), gray[..., 0])
    for a, b in ((0, SHOT), (SHOT, 2 * SHOT)):
        later = range(a + 4, b)
        d_ours = np.mean([_de(ours[i], truth[i]) for i in later])
        d_glob = np.mean([_de(glob[i], truth[i]) for i in later])
        assert d_ours < 0.75 * d_glob, (a, d_ours, d_glob)
    # right after the cut the colour is as good as later in the shot: nothing of shot 1 is carried over
    after = [_de(ours[i], truth[i]) for i in range(SHOT, SHOT + 5)]
    later = [_de(ours[i], truth[i]) for i in range(SHOT + 5, 2 * SHOT)]
    assert max(after) <= np.mean(later) + 0.5, (after, later)
    # shot 2 comes out exactly as when coloured on its own: nothing of shot 1 reaches it
    _, alone = _colour(gray[SHOT:], [truth[cuts[0]]], [])
    assert np.array_equal(ours[SHOT:], alone)


def test_chunked_equals_whole_and_found_cuts_equal_given(two_shots, monkeypatch):
    from filmrestore.filmlib import clip
    truth, gray, cuts = two_shots
    refs = [truth[0], truth[cuts[0]]]
    _, whole = _colour(gray, refs, cuts, key_interval=5)
    monkeypatch.setattr(clip, "CHUNK_BYTES", 3 * SIZE[0] * SIZE[1] * 3)   # 3-frame chunks split every segment
    from filmrestore.filmlib.colorize.reference import ReferenceColorizeStage
    from filmrestore.filmlib.clip import ArrayFilm
    fresh = ReferenceColorizeStage(ArrayFilm(gray, Fraction(24)), refs, cuts, key_interval=5)
    assert fresh.chunk_frames == 3
    assert np.array_equal(np.concatenate([fresh._compute_chunk(a, min(len(gray), a + 3))
                                          for a in range(0, len(gray), 3)]), whole)
    found = ReferenceColorizeStage(ArrayFilm(gray, Fraction(24)), refs, None, key_interval=5)
    assert found.shots == [(0, SHOT), (SHOT, 2 * SHOT)]
    assert np.array_equal(found.read(0, len(found)), whole)


def test_one_reference_for_all_and_photos_matched_to_shots_when_counts_differ(two_shots):
    truth, gray, cuts = two_shots
    _, per_shot = _colour(gray, [truth[0], truth[cuts[0]]], cuts)
    _, one = _colour(gray, [truth[0]], cuts)            # the street photo for both shots
    shot2 = range(SHOT + 4, 2 * SHOT)
    assert np.mean([_de(one[i], truth[i]) for i in shot2]) > np.mean([_de(per_shot[i], truth[i]) for i in shot2]) + 2
    # more photos than shots (a trimmed clip): each shot takes the photo that looks like it, in any order
    unrelated = np.full_like(truth[0], 128)
    st, matched = _colour(gray, [truth[cuts[0]], unrelated, truth[0]], cuts)
    assert [st.reference_of(0), st.reference_of(1)] == [2, 0]
    assert np.array_equal(matched, per_shot)


def test_node_colours_an_image_batch_each_from_its_own_reference(two_shots):
    import torch
    from filmrestore.filmlib.errors import InputError
    from filmrestore.nodes.reference_colorize_node import FilmReferenceColorize
    truth, gray, cuts = two_shots
    keys = [6, SHOT + 8]
    images = torch.from_numpy(np.repeat(gray[keys], 3, -1).astype(np.float32) / 255)
    refs = torch.from_numpy(truth[[0, cuts[0]]].astype(np.float32) / 255)
    node = FilmReferenceColorize()
    film, out = node.colorize(refs, "transfer", 256, 8, 0.25, "none", "cpu", images=images)
    got = (out.numpy() * 255 + 0.5).astype(np.uint8)
    assert got.shape == (2, SIZE[1], SIZE[0], 3) and len(film) == 2
    swapped = node.colorize(refs.flip(0), "transfer", 256, 8, 0.25, "none", "cpu", images=images)[1]
    bad = (swapped.numpy() * 255 + 0.5).astype(np.uint8)
    for k, i in enumerate(keys):
        assert _de(got[k], truth[i]) + 2 < _de(bad[k], truth[i])
        # the 16-bit path keeps the luma too: gray in, same gray out
        y = got[k].astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
        assert np.abs(y - gray[i, ..., 0]).max() <= 1.0
    # three photos for two keyframes: each keyframe takes the photo that looks like it
    extra = node.colorize(torch.cat([refs.flip(0), refs[:1]]), "transfer", 256, 8, 0.25, "none", "cpu",
                          images=images)[1]
    assert np.array_equal((extra.numpy() * 255 + 0.5).astype(np.uint8), got)
    # a film alone: its shots found, the coloured film, and each shot's first frame as a preview
    from filmrestore.filmlib.clip import ArrayFilm
    film, previews = node.colorize(refs, "transfer", 256, 8, 0.25, "none", "cpu", film=ArrayFilm(gray, Fraction(24)))
    assert film.shots == [(0, SHOT), (SHOT, 2 * SHOT)] and tuple(previews.shape) == (2, SIZE[1], SIZE[0], 3)
    first = (previews.numpy()[1] * 255 + 0.5).astype(np.uint8)
    assert _de(first, truth[SHOT]) < 8.0      # global statistics give 16 on this shot
    with pytest.raises(InputError, match="connect a film or images"):
        node.colorize(refs, "transfer", 256, 8, 0.25, "none", "cpu")


def test_sample_writes_one_genuine_reference_per_shot(tmp_path):
    from filmrestore.filmlib.io.open import open_clip
    from filmrestore.filmlib.sample import SampleSpec, clean_clip, make_sample
    spec = SampleSpec(width=128, height=96, shot_frames=(8, 6))
    paths = make_sample(tmp_path, spec)
    refs = open_clip(paths["references"])
    assert refs.info.frame_count == 2 and (refs.info.width, refs.info.height) == (128, 96)
    clean, cuts = clean_clip(spec)
    r = refs.read(0, 2).astype(np.float32)
    for k, (a, b) in enumerate(((0, 8), (8, 14))):
        # the shot's colours (mean chroma close), but not one of its frames
        assert min(np.abs(r[k] - f).mean() for f in clean[a:b]) > 10
        assert np.abs(r[k].mean((0, 1)) - clean[a:b].mean((0, 1, 2))).max() < 25


def test_siggraph17_method_calls_the_network_per_frame_with_its_shots_reference(two_shots, monkeypatch):
    """The wiring only (the network itself is tested in test_siggraph17.py): a stand-in colorizer that paints
    the mean colour of the reference it is given."""
    import cv2
    from filmrestore.filmlib.colorize import siggraph
    calls = []

    class StandIn:
        def __init__(self, model_path: str, device: str = "auto"):
            calls.append(("init", model_path, device))

        def colorize(self, L, reference_rgb=None, work_size=256):
            calls.append((L.shape, float(L.min()), float(L.max()), reference_rgb.shape, work_size))
            lab = cv2.cvtColor(reference_rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
            return np.broadcast_to(lab[..., 1:].mean((0, 1)), (*L.shape, 2)).astype(np.float32)

    monkeypatch.setattr(siggraph, "Siggraph17Colorizer", StandIn)
    truth, gray, cuts = two_shots
    refs = [truth[0], truth[cuts[0]]]
    st, out = _colour(gray[SHOT - 4:SHOT + 4], refs, [4], "siggraph17", key_interval=3, model_path="m.pth",
                      device="cpu")
    assert calls[0] == ("init", "m.pth", "cpu") and len([c for c in calls if c[0] != "init"]) >= 4
    assert all(c[0] == (SIZE[1], SIZE[0]) and 0 <= c[1] <= c[2] <= 100 and c[4] == 256 for c in calls[1:])
    assert np.array_equal(np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in out]),
                          gray[SHOT - 4:SHOT + 4, ..., 0])
    for k, part in enumerate((out[:4], out[4:])):
        got = cv2.cvtColor(part.reshape(-1, SIZE[0], 3), cv2.COLOR_RGB2Lab).astype(np.float32)[..., 1:].mean((0, 1))
        want = cv2.cvtColor(refs[k], cv2.COLOR_RGB2Lab).astype(np.float32)[..., 1:].mean((0, 1))
        other = cv2.cvtColor(refs[1 - k], cv2.COLOR_RGB2Lab).astype(np.float32)[..., 1:].mean((0, 1))
        assert np.abs(got - want).max() < np.abs(got - other).max(), (k, got, want, other)
