"""The node defaults of FilmStabilize and FilmInterpolate, checked on real footage (not our synthetic clips).

Stabiliser: the steadiest real shot we have (Big Buck Bunny frames 80-119: its own camera moves < 0.05 px per
frame, measured) at 960x540 with gate weave from FilmDegrade (weave=1.5: 1.86 px of jitter by this measure); the
default must leave less than 1/57 of it (it leaves 1/65; the old default, motion analysed at 320 px whatever
the frame size, left 1/50), and at most 0.6x what the vidstab algorithm (method='vidstab') leaves. Against
ffmpeg's vidstab: benchmarks/bench_shots.py.

Interpolation: every other frame of a real clip held out and rebuilt; the default must beat ffmpeg's
minterpolate (mci, run through PyAV's filter graph) by 0.5 dB on Big Buck Bunny (it gains 1.6 dB; the old default,
flow_quality=fast, bilinear warps, near-zero visibility floor, lost 2.1 dB), and by 1 dB on handheld footage
(carphone frames 56-88, where the camera shakes: it gains 1.23 dB; straight-line motion paths gained 0.94 dB).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from filmrestore.filmlib.clip import ArrayFilm
from filmrestore.filmlib.motion import estimate, prepare
from filmrestore.filmlib.stabilize import StabilizeStage
from filmrestore.nodes.interpolate_node import FilmInterpolate
from filmrestore.nodes.stabilize_node import FilmStabilize
from realclips import degrade_frames, read_frames, real_clip


def _defaults(node) -> dict:
    return {k: v[1]["default"] for k, v in node.INPUT_TYPES()["required"].items() if "default" in v[1]}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    err = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(1e-9, err)))


def _jitter(frames: np.ndarray, clean: np.ndarray) -> float:
    """RMS second difference / sqrt(6) (px) of each frame's offset to its clean original, registered at full
    size: white jitter of sigma reads as sigma, a steady camera path as 0."""
    w = clean.shape[2]
    off = []
    for out, ref in zip(frames, clean):
        a, s = prepare(ref, w)
        b, _ = prepare(out, w)
        off.append(estimate(a, b, s)[:2])
    off = np.array(off)
    d2 = off[2:] - 2 * off[1:-1] + off[:-2]
    return float(np.sqrt(np.mean(np.sum(d2 ** 2, axis=1)) / 6))


@pytest.fixture(scope="module")
def steady_real_shot():
    frames = read_frames(real_clip("bigbuckbunny"), 80, 40, (960, 540))
    old, truth = degrade_frames(frames, seed=5, weave=1.5, blur=0, flicker=0, grain=0, scratches=0, dust=0,
                                vignette=0)
    return ArrayFilm(old, Fraction(25)), truth["clean"]


def test_default_stabilizer_beats_vidstab_on_a_real_steady_shot(steady_real_shot):
    film, clean = steady_real_shot
    d = _defaults(FilmStabilize)
    st = StabilizeStage(film, d["method"], d["path"], d["smoothing"], d["weave_only"], d["border"], d["max_crop"])
    ours = _jitter(st.read(0, len(st)), clean)
    vid = _jitter(StabilizeStage(film, "vidstab").read(0, len(film)), clean)
    before = _jitter(film.read(0, len(film)), clean)
    assert before > 1.2, before                       # the weave is there to remove
    assert ours <= before / 57, (ours, before)
    assert ours <= 0.6 * vid, (ours, vid)


def _minterpolate_mci(frames: np.ndarray, fps_in: int, fps_out: int) -> np.ndarray:
    """ffmpeg's minterpolate (mi_mode=mci) through PyAV's libavfilter: (N, H, W, 3) uint8 at ``fps_out``."""
    import av
    g = av.filter.Graph()
    h, w = frames.shape[1:3]
    chain = [g.add_buffer(width=w, height=h, format="rgb24", time_base=Fraction(1, fps_in)),
             g.add("format", "yuv444p"), g.add("minterpolate", f"fps={fps_out}:mi_mode=mci"),
             g.add("format", "rgb24"), g.add("buffersink")]
    for a, b in zip(chain, chain[1:]):
        a.link_to(b)
    g.configure()
    out: list[np.ndarray] = []

    def drain() -> None:
        while True:
            try:
                out.append(chain[-1].pull().to_ndarray())
            except (av.error.BlockingIOError, av.error.EOFError):
                return

    for i, f in enumerate(frames):
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
        vf.pts, vf.time_base = i, Fraction(1, fps_in)
        chain[0].push(vf)
        drain()
    chain[0].push(None)
    drain()
    return np.stack(out)


@pytest.mark.parametrize("clip, start, count, size, margin", [("bigbuckbunny", 0, 21, (320, 180), 0.5),
                                                              ("carphone_pristine", 56, 33, None, 1.0)])
def test_default_interpolation_beats_minterpolate_on_real_footage(clip, start, count, size, margin):
    import av
    if "minterpolate" not in av.filter.filters_available:
        pytest.skip("this PyAV build has no minterpolate filter")
    truth = read_frames(real_clip(clip), start, count, size)
    src = truth[::2]                                            # the frames between are held out
    held = range(1, len(truth) - 2, 2)                          # minterpolate stops a frame early
    d = _defaults(FilmInterpolate)
    (st,) = FilmInterpolate().interpolate(ArrayFilm(src, Fraction(12)), d["method"], 24.0, 0.0, d["flow_quality"],
                                          "none", d["rife_scale"], d["drop_duplicates"], False, "cpu", "auto")
    ours = st.read(0, len(truth))
    mci = _minterpolate_mci(src, 12, 24)
    p_ours = np.mean([_psnr(ours[k], truth[k]) for k in held])
    p_mci = np.mean([_psnr(mci[k], truth[k]) for k in held])
    assert p_ours >= p_mci + margin, (p_ours, p_mci)
