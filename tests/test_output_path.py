"""Where outputs land: ``run --output PATH`` writes exactly PATH; numbers are taken atomically; overwrite replaces
only our own files; leftovers of killed runs are cleaned up."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from filmrestore.cli import main as cli_main
from filmrestore.filmlib.clip import ArrayFilm
from filmrestore.filmlib.errors import EncodeError
from filmrestore.filmlib.io.open import open_clip
from filmrestore.filmlib.io.writer import save_film
from conftest import moving_frames, write_video


def probe(path: Path) -> tuple[str, str, int]:
    """(container format name, video codec, frame count) of a written file."""
    import av
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        return c.format.name, st.codec_context.name, sum(1 for _ in c.decode(st))


@pytest.fixture
def workflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FILMRESTORE_CACHE", str(tmp_path / "cache"))
    clip = write_video(tmp_path / "input" / "clip.mp4", moving_frames(8, 32, 48), Fraction(16))
    wf = {"1": {"class_type": "FilmLoadVideo", "inputs": {"video": str(clip), "first_frame": 0, "frame_count": 0,
                                                          "force_fps": 0.0, "color": "auto"}},
          "2": {"class_type": "FilmSaveVideo", "inputs": {"film": ["1", 0], "filename_prefix": "reel/restored",
                                                          "format": "h264-mp4", "crf": 18, "overwrite": False}}}
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(wf))
    return path


def listing(folder: Path) -> list[str]:
    """What ``folder`` holds besides the provenance sidecars (tests/test_provenance.py checks those)."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if not p.name.endswith(".provenance.json"))


def test_output_is_exactly_the_path_and_its_extension_picks_the_container(workflow, tmp_path):
    out = tmp_path / "res" / "film.mkv"
    assert cli_main(["run", str(workflow), "--output", str(out)]) == 0
    assert listing(tmp_path / "res") == ["film.mkv"]               # not film.mkv_00001.mp4
    assert probe(out) == ("matroska,webm", "h264", 8)              # H.264 (the workflow's format) in Matroska
    mov = tmp_path / "res" / "film.mov"
    assert cli_main(["run", str(workflow), "--output", str(mov), "--set", "2.format=prores_hq-mov"]) == 0
    assert probe(mov)[1] == "prores"


def test_a_format_the_container_cannot_hold_is_an_error_listing_those_that_fit(workflow, tmp_path, capsys):
    out = tmp_path / "film.mp4"
    assert cli_main(["run", str(workflow), "--output", str(out), "--set", "2.format=ffv1-mkv"]) == 2
    err = capsys.readouterr().err
    assert "cannot hold ffv1-mkv" in err and "formats that fit .mp4: h264-mp4, h265-mp4" in err
    assert not out.exists() and not (tmp_path / "output").exists()


def test_an_existing_path_is_refused_unless_overwrite(workflow, tmp_path, capsys):
    out = tmp_path / "film.mkv"
    out.write_bytes(b"an earlier master")
    assert cli_main(["run", str(workflow), "--output", str(out)]) == 2
    assert "already exists; add --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"an earlier master" and listing(tmp_path).count("film.mkv") == 1
    assert cli_main(["run", str(workflow), "--output", str(out), "--overwrite"]) == 0
    assert probe(out)[2] == 8 and not list(tmp_path.glob("film_*"))


def test_a_folder_means_inside_it_with_the_workflow_prefix_and_numbering(workflow, tmp_path):
    folder = tmp_path / "deliveries"
    assert cli_main(["run", str(workflow), "--output", f"{folder}/"]) == 0      # created: ends with /
    assert cli_main(["run", str(workflow), "--output", str(folder)]) == 0       # exists: a folder
    assert listing(folder) == ["restored_00001.mp4", "restored_00002.mp4"]
    assert not (tmp_path / "deliveries_00001.mp4").exists()


def test_overwrite_never_deletes_a_folder(tmp_path):
    film = ArrayFilm(moving_frames(3, 16, 16), Fraction(24))
    precious = tmp_path / "x.mp4"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(EncodeError, match="will not overwrite.*is a folder"):
        save_film(film, precious, overwrite=True)
    assert (precious / "notes.txt").read_text() == "keep me"
    seq = tmp_path / "scan"
    save_film(film, f"{seq}/", "png-sequence")
    (seq / "notes.txt").write_text("my grading notes")
    with pytest.raises(EncodeError, match="will not overwrite.*other files than frame"):
        save_film(ArrayFilm(moving_frames(5, 16, 16), Fraction(24)), f"{seq}/", "png-sequence", overwrite=True)
    assert len(list(seq.iterdir())) == 4 and (seq / "notes.txt").exists()


def test_overwrite_replaces_a_sequence_folder_of_only_our_frames(tmp_path):
    seq = tmp_path / "masters" / "scan"
    save_film(ArrayFilm(moving_frames(3, 16, 16), Fraction(24)), f"{seq}/", "png-sequence")
    five = moving_frames(5, 16, 16, seed=4)
    res = save_film(ArrayFilm(five, Fraction(24)), f"{seq}/", "png-sequence", overwrite=True)
    assert res.path == seq and np.array_equal(open_clip(seq).read(0, 5), five)
    assert sorted(p.name for p in seq.parent.iterdir()) == ["scan"]   # no numbered copy, no leftovers


class Gate(ArrayFilm):
    """Frames that are only handed out once both savers are encoding: both pick their names at the same time."""

    def __init__(self, frames: np.ndarray, barrier: threading.Barrier):
        super().__init__(frames, Fraction(24))
        self.barrier = barrier

    def _read(self, start: int, stop: int) -> np.ndarray:
        self.barrier.wait(timeout=20)
        return super()._read(start, stop)


@pytest.mark.parametrize("fmt", ["h264-mp4", "png-sequence"])
def test_concurrent_runs_with_one_prefix_keep_both_results(tmp_path, fmt):
    barrier = threading.Barrier(2)
    clips = [np.full((4, 16, 16, 3), v, np.uint8) for v in (40, 200)]
    results, errors = [], []

    def run(frames: np.ndarray) -> None:
        try:
            results.append(save_film(Gate(frames, barrier), tmp_path / "out" / "clip", fmt))
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in clips]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    paths = sorted(r.path for r in results)
    assert [p.name for p in paths] == [f"clip_00001{'.mp4' if fmt == 'h264-mp4' else ''}",
                                       f"clip_00002{'.mp4' if fmt == 'h264-mp4' else ''}"]
    means = sorted(round(float(open_clip(p).read(0, 4).mean()) / 40) for p in paths)
    assert means == [1, 5]                                 # both clips survive, neither replaced the other
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [p.name for p in paths]


def test_a_name_taken_while_encoding_gets_the_next_number(tmp_path, monkeypatch):
    from filmrestore.filmlib.io import output_path
    film = ArrayFilm(moving_frames(3, 16, 16), Fraction(24))
    first = save_film(film, tmp_path / "clip")
    monkeypatch.setattr(output_path, "_next_number", lambda t: 1)  # as if clip_00001 appeared after the scan
    second = save_film(film, tmp_path / "clip")
    assert first.path.name == "clip_00001.mp4" and second.path.name == "clip_00002.mp4"
    assert first.path.stat().st_ino != second.path.stat().st_ino


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_partial_outputs_of_a_killed_run_are_removed_by_the_next_save_there(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    gone, alive = dead_pid(), subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (folder / f".clip.partial-{gone}-0badf00d.mp4").write_bytes(b"half a video")
        (folder / f".clip_00003.mp4.partial-{gone}.mp4").write_bytes(b"the old naming")
        seq = folder / f".scan.partial-{gone}-0badf00d"
        seq.mkdir()
        (seq / "frame_000000.png").write_bytes(b"png")
        odd = folder / f".notes.partial-{gone}"
        odd.mkdir()
        (odd / "diary.txt").write_text("not ours")
        running = folder / f".clip.partial-{alive.pid}-12345678.mp4"
        running.write_bytes(b"another run is still writing this")
        (folder / ".keep").write_text("mine")
        save_film(ArrayFilm(moving_frames(3, 16, 16), Fraction(24)), folder / "clip")
        names = sorted(p.name for p in folder.iterdir())
        assert names == sorted([".keep", odd.name, running.name, "clip_00001.mp4"])
        assert (odd / "diary.txt").exists()
    finally:
        alive.kill()
        alive.wait()


def test_output_names_a_sequence_folder_exactly(workflow, tmp_path, capsys):
    out = tmp_path / "scans" / "reel1"
    argv = ["run", str(workflow), "--output", str(out), "--set", "2.format=png-sequence"]
    assert cli_main(argv) == 0
    assert listing(tmp_path / "scans") == ["reel1"] + [f"reel1/frame_{i:06d}.png" for i in range(8)]
    assert cli_main(argv) == 2 and "already exists" in capsys.readouterr().err
    assert cli_main(argv + ["--overwrite"]) == 0 and len(list(out.iterdir())) == 8
    assert cli_main(argv[:-2] + ["--set", "2.format=ffv1-mkv", "--output", f"{tmp_path}/reel.mp4"]) == 2
    assert "formats that fit .mp4" in capsys.readouterr().err
