"""Loading and saving: round trips keep frames, rates, timestamps, audio and bit depth; bad input is refused."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from filmrestore.filmlib.clip import ArrayFilm
from filmrestore.filmlib.errors import DecodeError, EncodeError
from filmrestore.filmlib.io.open import open_clip
from filmrestore.filmlib.io.writer import save_film
from conftest import moving_frames, stream_durations, write_audio_only, write_video


def psnr(a: np.ndarray, b: np.ndarray, maxv: float = 255.0) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(maxv ** 2 / max(mse, 1e-12))


def test_video_roundtrip_keeps_count_rate_and_content(tmp_path):
    frames = moving_frames(30, 64, 80)
    src = write_video(tmp_path / "in.mp4", frames, Fraction(24000, 1001))
    film = open_clip(src)
    assert film.info.frame_count == 30 and film.info.fps == Fraction(24000, 1001)
    assert film.info.channels == 3 and film.info.timestamps is None
    assert psnr(film.read(0, 30), frames) > 30
    out = save_film(film, tmp_path / "out.mp4")
    back = open_clip(out.path)
    assert back.info.frame_count == 30 and back.info.fps == Fraction(24000, 1001)
    assert psnr(back.read(0, 30), frames) > 29


def test_random_access_matches_sequential_reading(tmp_path):
    frames = moving_frames(120, 32, 48)
    src = write_video(tmp_path / "in.mp4", frames)
    film = open_clip(src)
    whole = film.read(0, 120)
    for a, b in [(100, 103), (3, 4), (60, 90), (0, 2), (119, 120), (50, 51)]:
        assert np.array_equal(film.read(a, b), whole[a:b])
    trimmed = open_clip(src, first_frame=50, frame_count=10)
    assert trimmed.info.frame_count == 10 and np.array_equal(trimmed.read(0, 10), whole[50:60])


def test_variable_frame_rate_timestamps_survive_a_round_trip(tmp_path):
    frames = moving_frames(12, 32, 48)
    tb = Fraction(1, 1000)
    pts = [0, 40, 80, 150, 200, 240, 330, 370, 410, 450, 520, 560]
    src = write_video(tmp_path / "vfr.mkv", frames, Fraction(25), pts=pts, time_base=tb)
    film = open_clip(src)
    assert film.info.timestamps == tuple(Fraction(p, 1000) for p in pts)
    out = save_film(film, tmp_path / "vfr_out.mkv", "ffv1-mkv")
    assert open_clip(out.path).info.timestamps == film.info.timestamps


def test_gray_content_is_detected_and_carried_as_one_channel(tmp_path):
    frames = np.repeat(moving_frames(10, 32, 48, channels=1), 3, axis=-1)
    film = open_clip(write_video(tmp_path / "gray.mp4", frames))
    assert film.info.channels == 1
    assert open_clip(tmp_path / "gray.mp4", color="color").info.channels == 3
    color = open_clip(write_video(tmp_path / "col.mp4", moving_frames(10, 32, 48)))
    assert color.info.channels == 3 and open_clip(tmp_path / "col.mp4", color="grayscale").info.channels == 1


@pytest.mark.parametrize("fmt", ["ffv1-mkv", "tiff16-sequence", "png-sequence"])
@pytest.mark.parametrize("channels", [1, 3])
def test_sixteen_bit_survives_load_and_save(tmp_path, fmt, channels):
    frames = moving_frames(6, 24, 40, channels=channels, dtype=np.uint16)
    frames[0, 0, 0] = 1  # a value no 8-bit path can keep
    out = save_film(ArrayFilm(frames, Fraction(24)), tmp_path / "master", fmt)
    back = open_clip(out.path)
    assert back.info.bit_depth == 16 and back.info.channels == channels
    assert np.array_equal(back.read(0, 6), frames)


def test_prores_keeps_ten_bits(tmp_path):
    frames = moving_frames(4, 32, 48, dtype=np.uint16)
    out = save_film(ArrayFilm(frames, Fraction(24)), tmp_path / "edit", "prores_hq-mov")
    back = open_clip(out.path)
    assert back.info.bit_depth == 16
    err = np.abs(back.read(0, 4).astype(np.int64) - frames).mean()
    assert err < 65535 * 0.015  # 10-bit 4:2:2 of saturated colour: about 1% error


def test_audio_is_copied_and_stays_in_sync(tmp_path):
    frames = moving_frames(48, 32, 48)
    src = write_video(tmp_path / "av.mp4", frames, Fraction(24), audio_seconds=2.0)
    film = open_clip(src)
    assert film.info.audio is not None and film.info.audio.codec == "aac"
    out = save_film(film, tmp_path / "out.mp4")
    assert out.audio == "copied"
    d = stream_durations(out.path)
    assert abs(d["audio"] - 2.0) < 0.05 and abs(d["video"] + 1 / 24 - 2.0) < 0.05


def test_trimmed_clip_gets_exactly_its_part_of_the_audio(tmp_path):
    src = write_video(tmp_path / "av.mkv", moving_frames(48, 32, 48), Fraction(24), audio_seconds=2.0)
    film = open_clip(src, first_frame=12, frame_count=24)  # 0.5 s .. 1.5 s
    out = save_film(film, tmp_path / "part.mkv", "ffv1-mkv")
    assert out.audio == "re-encoded"
    d = stream_durations(out.path)
    assert abs(d["audio"] - 1.0) < 0.03


def test_existing_output_is_never_overwritten_unless_asked(tmp_path):
    film = ArrayFilm(moving_frames(3, 16, 16), Fraction(24))
    a = save_film(film, tmp_path / "o" / "clip")
    b = save_film(film, tmp_path / "o" / "clip")
    assert a.path.name == "clip_00001.mp4" and b.path.name == "clip_00002.mp4"
    exact = save_film(film, tmp_path / "x.mp4")
    again = save_film(film, tmp_path / "x.mp4")
    assert exact.path.name == "x.mp4" and again.path.name == "x_00001.mp4"
    before = exact.path.stat().st_mtime_ns
    replaced = save_film(film, tmp_path / "x.mp4", overwrite=True)
    assert replaced.path == exact.path and exact.path.stat().st_mtime_ns >= before


def _no_files_written(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DecodeError, match="not found"):
        open_clip(tmp_path / "nope.mp4")


def test_not_a_video_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("these are not frames")
    with pytest.raises(DecodeError, match="not a video|cannot open"):
        open_clip(bad)


def test_zero_frames_is_a_clear_error(tmp_path):
    empty = write_video(tmp_path / "empty.mkv", np.zeros((0, 16, 16, 3), np.uint8), audio_seconds=0.5,
                        audio_codec="flac")
    with pytest.raises(DecodeError, match="zero video frames"):
        open_clip(empty)


def test_audio_only_file_is_a_clear_error(tmp_path):
    path = write_audio_only(tmp_path / "speech.mka")
    with pytest.raises(DecodeError, match="no video stream"):
        open_clip(path)


@pytest.mark.parametrize("container", ["mkv", "mp4"])
def test_truncated_file_is_a_clear_error_and_writes_nothing(tmp_path, container):
    src = write_video(tmp_path / f"cut.{container}", moving_frames(96, 64, 80), Fraction(24))
    data = src.read_bytes()
    src.write_bytes(data[: len(data) * 2 // 3])
    out_dir = tmp_path / "out"
    with pytest.raises(DecodeError, match="truncated|damaged"):
        save_film(open_clip(src), out_dir / "clip")
    assert _no_files_written(out_dir)


def test_odd_dimensions_for_yuv420_are_refused_before_writing(tmp_path):
    film = ArrayFilm(moving_frames(3, 17, 31), Fraction(24))
    with pytest.raises(EncodeError, match="even width and height.*ffv1-mkv"):
        save_film(film, tmp_path / "out" / "clip", "h264-mp4")
    assert _no_files_written(tmp_path / "out")
    assert save_film(film, tmp_path / "out" / "clip", "ffv1-mkv").frames == 3


def test_failed_encode_leaves_no_partial_file(tmp_path):
    class Broken(ArrayFilm):
        def _read(self, start, stop):
            if start > 0:
                raise RuntimeError("disk on fire")
            return super()._read(start, stop)
    film = Broken(moving_frames(200, 64, 64), Fraction(24))
    with pytest.raises(RuntimeError, match="disk on fire"):
        save_film(film, tmp_path / "out" / "clip")
    assert _no_files_written(tmp_path / "out")


def test_image_sequence_patterns(tmp_path):
    import cv2
    frames = moving_frames(5, 20, 30)
    folder = tmp_path / "scan"
    folder.mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"reel1_{i + 1:04d}.png"), f[..., ::-1])
    for spec in (folder, folder / "reel1_*.png", folder / "reel1_%04d.png"):
        film = open_clip(spec, force_fps=18)
        assert film.info.frame_count == 5 and film.info.fps == 18
        assert np.array_equal(film.read(0, 5), frames)


def test_dpx_sequence_reads_through_ffmpeg(tmp_path):
    import av
    frames = moving_frames(3, 16, 24, dtype=np.uint16)
    folder = tmp_path / "dpx"
    folder.mkdir()
    for i, f in enumerate(frames):
        with av.open(str(folder / f"f{i:03d}.dpx"), "w", format="image2") as c:
            s = c.add_stream("dpx", rate=24)
            s.width, s.height, s.pix_fmt = 24, 16, "rgb48le"
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb48le")):
                c.mux(p)
            for p in s.encode(None):
                c.mux(p)
    film = open_clip(folder)
    assert film.info.bit_depth == 16 and film.info.frame_count == 3
    assert np.abs(film.read(0, 3).astype(np.int64) - frames).max() <= 64  # DPX stores 10 or 16 bits
