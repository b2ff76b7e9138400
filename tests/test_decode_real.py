"""Files that ffmpeg plays open and play the same: the frames, their count and their order are what a full
in-order decode gives (PyAV, as ffmpeg decodes; also ``ffmpeg -f framemd5`` when the CLI is on PATH), for
sequential reads and after random seeks, on the kinds of files that break naive readers: B-frames without
packet timestamps (AVI, raw streams), MPEG-2 TS, open GOPs, mkv without an index, damaged first GOPs.
"""
from __future__ import annotations

import hashlib
import logging
import random
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from filmrestore.filmlib.clip import Film
from filmrestore.filmlib.errors import DecodeError
from filmrestore.filmlib.io.open import is_sequence_spec, open_clip
from conftest import SHARED

FPS = Fraction(24)


def _frames(n: int, h: int = 48, w: int = 64) -> np.ndarray:
    """Moving waves with a frame-number bar: every frame differs, so an off-by-one shows."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        planes = [0.5 + 0.4 * np.sin(xx / (5 + c) + i * 0.5 + c) * np.cos(yy / (7 + c) - i * 0.3) for c in range(3)]
        out[i] = np.clip(np.stack(planes, -1) * 255, 0, 255).astype(np.uint8)
        out[i, : h // 6, : (i * w) // n + 1] = 255
    return out


class _Unseekable:
    """A write-only file PyAV cannot seek back in: the muxer cannot go back to write an index (mkv Cues)."""

    def __init__(self, f):
        self.f = f

    def write(self, b: bytes) -> int:
        return self.f.write(b)

    def seekable(self) -> bool:
        return False


def _encode(path: Path, n: int = 40, codec: str = "libx264", fmt: str | None = None, x264: str = "",
            bframes: int | None = None, gop: int | None = None, seekable: bool = True, size=(64, 48)) -> Path:
    import av
    frames = _frames(n, size[1], size[0])
    options = {"x264-params": x264} if x264 else {}
    with open(path, "wb") as fh:
        fmt = fmt or {"mkv": "matroska", "ts": "mpegts"}.get(path.suffix[1:], path.suffix[1:])
        with av.open(fh if seekable else _Unseekable(fh), "w", format=fmt) as c:
            s = c.add_stream(codec, rate=FPS, options=options)
            s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
            if bframes is not None:
                s.codec_context.max_b_frames = bframes
            if gop is not None:
                s.codec_context.gop_size = gop
            for f in frames:
                for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    c.mux(p)
            for p in s.encode(None):
                c.mux(p)
    return path


def _reference(path: Path) -> np.ndarray:
    """Every frame in the decoder's output order, as ffmpeg decodes (frame threads; refused packets skipped)."""
    import av
    out = []
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        for packet in c.demux(vs):
            try:
                out += [f.to_ndarray(format="rgb24") for f in packet.decode()]
            except av.error.InvalidDataError:
                continue
    return np.stack(out)


def _ffmpeg_md5(path: Path) -> list[str] | None:
    if shutil.which("ffmpeg") is None:
        return None
    text = subprocess.run(["ffmpeg", "-v", "quiet", "-i", str(path), "-map", "0:v:0", "-pix_fmt", "rgb24",
                           "-f", "framemd5", "-"], capture_output=True, text=True, timeout=60).stdout
    return [line.rsplit(",", 1)[1].strip() for line in text.splitlines() if line and not line.startswith("#")]


def _plays_like_ffmpeg(path: Path, ref: np.ndarray | None = None, seeks: int = 12) -> Film:
    ref = _reference(path) if ref is None else ref
    film = open_clip(path, color="color")
    assert film.info.frame_count == len(ref)
    seq = np.concatenate([chunk for _, chunk in film.chunks(size=16)])
    bad = [i for i in range(len(ref)) if not np.array_equal(seq[i], ref[i])]
    assert not bad, f"sequential frames {bad} differ from the full decode"
    md5 = _ffmpeg_md5(path)
    if md5 is not None and len(md5) == len(ref):
        assert [hashlib.md5(f.tobytes()).hexdigest() for f in seq] == md5
    rng = random.Random(3)
    fresh = open_clip(path, color="color")
    for _ in range(seeks):
        a = rng.randrange(len(ref))
        b = min(len(ref), a + rng.randint(1, 4))
        assert np.array_equal(fresh.read(a, b), ref[a:b]), f"frames [{a}, {b}) after a seek"
    return film


# the kinds of file that break a reader trusting packet timestamps or seeking where the file cannot: before
# this reader, the m4v and h264 streams failed to seek and both TS files lost their first GOP
CASES = {
    "mpeg4-asp-bframes.avi": dict(codec="mpeg4", bframes=2, gop=12),  # AVI: no pts, B-frames
    "mpeg4-asp-raw.m4v": dict(codec="mpeg4", bframes=2, gop=12),  # elementary stream: no timestamps, no seeking
    "h264-raw.h264": dict(fmt="h264", x264="keyint=12:bframes=3"),
    "mpeg2-bframes.ts": dict(codec="mpeg2video", bframes=2, gop=12),
    "h264-open-gop.ts": dict(x264="keyint=12:min-keyint=12:open-gop=1:bframes=3:scenecut=0"),
    "h264-open-gop.mp4": dict(x264="keyint=12:min-keyint=12:open-gop=1:bframes=3:scenecut=0"),
    "h264-no-index.mkv": dict(x264="keyint=12:bframes=3", seekable=False),
}


@pytest.mark.parametrize("name", list(CASES))
def test_file_plays_as_ffmpeg_decodes_it(tmp_path, name):
    path = _encode(tmp_path / name, n=40, **CASES[name])
    if name.endswith(".mkv"):
        assert b"\x1c\x53\xbb\x6b" not in path.read_bytes()  # no Cues element: seeks find their own way
    ref = _reference(path)
    assert len(ref) == 40  # ffmpeg decodes every frame written
    film = _plays_like_ffmpeg(path, ref)
    assert film.info.fps == FPS  # raw streams too: the rate their bitstream holds, not a guessed 25
    assert film.info.timestamps is None  # constant rate: frame i at i / fps


def _h264_with_damaged_first_idr(tmp_path: Path, damage: str) -> Path:
    path = _encode(tmp_path / f"{damage}.mp4", n=40, x264="keyint=20:bframes=3:scenecut=0", size=(160, 120))
    data = bytearray(path.read_bytes())
    at = data.find(b"\x65\x88")  # the first IDR slice NAL: header, then first_mb 0 and slice_type 7 (I)
    assert at > 0
    if damage == "not-idr":
        data[at] = 0x61  # the IDR NAL marked a plain slice: the decoder has no IDR until frame 20
    elif damage == "sp-slice":
        data[at + 1] = 0x89  # slice_type 8 (SP): "A non-intra slice in an IDR NAL unit"
    else:
        data[at + 12: at + 212] = bytes(range(200))  # bytes overwritten inside the first GOP
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("damage", ["not-idr", "sp-slice", "overwritten"])
def test_damaged_first_gop_plays_as_ffmpeg_decodes_it(tmp_path, damage):
    path = _h264_with_damaged_first_idr(tmp_path, damage)
    ref = _reference(path)
    assert len(ref) == 40  # ffmpeg conceals the damage and decodes every frame
    _plays_like_ffmpeg(path, ref)


def _drop_one_b_frame(path: Path, after: int) -> int:
    """Zero the data of the first non-reference B-frame past frame ``after``: the decoder refuses the packet and
    puts out no frame for it. Returns that frame's presentation index."""
    import av
    with av.open(str(path)) as c:
        packets = [(p.pts, p.pos, bytes(p)) for p in c.demux(video=0) if p.size]
    order = sorted(p[0] for p in packets)
    seen = -1
    for pts, pos, payload in packets:
        if pts < seen and order.index(pts) > after:
            data = bytearray(path.read_bytes())
            at = data.find(payload, pos)  # the block's data, after the container's own header
            data[at: at + len(payload)] = bytes(len(payload))
            path.write_bytes(bytes(data))
            return order.index(pts)
        seen = max(seen, pts)
    raise AssertionError("no B-frame found")


def test_a_frame_the_decoder_cannot_produce_is_its_neighbour_with_one_warning(tmp_path, caplog):
    path = _encode(tmp_path / "lost.mkv", n=60, x264="keyint=30:bframes=2:b-pyramid=none:scenecut=0")
    lost = _drop_one_b_frame(path, after=50)
    ref = _reference(path)
    assert len(ref) == 59  # the decoder gives one frame less than the file holds
    want = np.concatenate([ref[:lost], ref[lost - 1: lost], ref[lost:]])  # the frame before stands in
    with caplog.at_level(logging.WARNING, logger="filmrestore.filmlib.io.video_source"):
        film = open_clip(path, color="color")
        assert film.info.frame_count == 60 and film.info.timestamps is None  # the timeline keeps its length
        assert np.array_equal(film.read(0, 60), want)
        assert np.array_equal(film.read(lost - 3, lost + 1), want[lost - 3: lost + 1])  # again, after a seek
    warnings = [r.getMessage() for r in caplog.records if "could not be decoded" in r.getMessage()]
    assert len(warnings) == 1 and f"frame {lost} " in warnings[0] and f"frame {lost - 1} stands in" in warnings[0]
    assert np.array_equal(open_clip(path, color="color").read(lost, lost + 2), want[lost: lost + 2])  # from a seek


def _megamind() -> Path:
    path = SHARED / "fixtures" / "real" / "Megamind_bugy.avi"
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared fixtures are not checked out here (CI has them)")
    return path


def test_megamind_packed_bframes_avi_plays_all_270_frames():
    path = _megamind()
    ref = _reference(path)
    assert len(ref) == 270  # ffprobe -count_frames says 270
    film = _plays_like_ffmpeg(path, ref, seeks=10)
    assert film.info.fps == 30 and film.info.timestamps is None and film.info.duration == 9
    assert np.array_equal(open_clip(path, first_frame=100, frame_count=20, color="color").read(0, 20),
                          ref[100:120])


def test_names_with_pattern_characters_are_files_first(tmp_path):
    src = _encode(tmp_path / "clip.mp4", n=12, x264="keyint=12")
    for name in ("Nosferatu (1922) [1080p].mp4", "100% restored.mkv", "what?.mp4", "star*.mp4"):
        path = tmp_path / name
        shutil.copy(src, path)
        assert not is_sequence_spec(str(path))
        assert open_clip(path).info.frame_count == 12
    import cv2
    folder = tmp_path / "scan [2K]"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"f_{i:03d}.png"), np.full((8, 8, 3), 40 * i, np.uint8))
    assert open_clip(folder / "f_*.png").info.frame_count == 3
    assert open_clip(folder / "f_001.png").info.frame_count == 1  # one image is a one-frame sequence


def test_missing_file_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DecodeError) as err:
        open_clip("missing [1080p].mp4")
    msg = str(err.value)
    assert "not found" in msg and "'missing [1080p].mp4'" in msg and str(tmp_path / "missing [1080p].mp4") in msg
    with pytest.raises(DecodeError, match=r"no image files found .*looked for .*in '"):
        open_clip(tmp_path / "f_*.png")


@pytest.mark.parametrize("text, refusal", [
    ("ffconcat version 1.0\nfile '{target}'\n", "list of other files"),
    # FFmpeg's HLS demuxer itself refuses a playlist that is not named .m3u8: either way nothing is followed
    ("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{target}\n#EXT-X-ENDLIST\n", "not a video")])
def test_a_playlist_renamed_as_a_video_is_refused_not_followed(tmp_path, text, refusal):
    """A list that names other files would read anything on the host through a harmless-looking name."""
    from filmrestore.filmlib.errors import DecodeError
    from filmrestore.filmlib.io.open import open_clip
    from conftest import moving_frames, write_video
    target = write_video(tmp_path / "elsewhere.mp4", moving_frames(4))
    fake = tmp_path / "innocent.mp4"
    fake.write_text(text.format(target=target.name))  # relative: what ffmpeg's safe mode would follow
    with pytest.raises(DecodeError, match=refusal):
        open_clip(str(fake))


def test_luma_read_from_the_y_plane_equals_ffmpegs_gray_conversion(tmp_path):
    """Gray clips and analysis passes read the Y plane directly; it must be what swscale's gray output gives."""
    import av
    from conftest import moving_frames, write_video
    path = write_video(tmp_path / "g.mp4", moving_frames(12, 96, 128))
    with av.open(str(path)) as c:
        ref = np.stack([f.to_ndarray(format="gray") for f in c.decode(video=0)])
        c.seek(0)
    film = open_clip(str(path), color="grayscale")
    assert np.array_equal(film.read(0, 12)[..., 0], ref)
    small = film.read_luma_scaled(0, 12, 64)[..., 0].astype(int)
    with av.open(str(path)) as c:
        ref_small = np.stack([f.to_ndarray(format="gray", width=64, height=48, interpolation="AREA")
                              for f in c.decode(video=0)]).astype(int)
    assert small.shape == ref_small.shape and np.abs(small - ref_small).max() <= 2
