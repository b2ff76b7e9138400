"""Nothing lost, nobody in: every bad input and every fault of the machine, through the command line.

Each case runs ``python -m filmrestore`` in-process and checks the exit status, that no traceback is printed,
that the message names the offending value, and (by hashing the folder before and after) that nothing was
written, replaced or deleted beyond what the case allows. Signals run in a subprocess.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from filmrestore.cli import main as cli_main
from conftest import moving_frames, write_audio_only, write_video


def snapshot(root: Path, skip: tuple[str, ...] = ("cache",)) -> dict[str, str]:
    """sha256 of every file (and a marker for every folder) under ``root``, except the ``skip`` folders."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if rel.split("/")[0] in skip:
            continue
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
    return out


def save_node(fmt: str = "ffv1-mkv", prefix: str = "res") -> dict:
    return {"class_type": "FilmSaveVideo", "inputs": {"film": ["2", 0], "filename_prefix": prefix, "format": fmt,
                                                      "crf": 18, "overwrite": False}}


def prompt(video: str, fmt: str = "ffv1-mkv") -> dict:
    return {
        "1": {"class_type": "FilmLoadVideo", "inputs": {"video": video, "first_frame": 0, "frame_count": 0,
                                                        "force_fps": 0.0, "color": "auto"}},
        "2": {"class_type": "FilmDegrade", "inputs": {"film": ["1", 0], "seed": 3, "grayscale": True, "blur": 1.0,
                                                      "weave": 1.0, "flicker": 0.05, "grain": 0.02, "scratches": 1,
                                                      "dust": 2.0, "vignette": 0.2}},
        "3": save_node(fmt),
    }


@dataclass
class Env:
    root: Path
    clip: Path
    wf: Path
    out: Path

    def workflow(self, name: str, data: object) -> str:
        path = self.root / name
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return str(path)

    def file(self, name: str, data: bytes) -> str:
        path = self.root / "input" / name
        path.write_bytes(data)
        return str(path)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("FILMRESTORE_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    clip = write_video(tmp_path / "input" / "clip.mp4", moving_frames(12, 32, 48), Fraction(16))
    wf = tmp_path / "wf.json"
    wf.write_text(json.dumps(prompt(str(clip))))
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "earlier.mkv").write_bytes(b"an earlier master, never to be touched")
    return Env(tmp_path, clip, wf, tmp_path / "output")


# -- making bad inputs -----------------------------------------------------------------------------------------

def truncated(e: Env) -> str:
    data = write_video(e.root / "input" / "long.mkv", moving_frames(96, 64, 80), Fraction(24)).read_bytes()
    return e.file("cut.mkv", data[: len(data) * 2 // 3])


def audio_only(e: Env) -> str:
    return str(write_audio_only(e.root / "input" / "speech.mka"))


def zero_frames(e: Env) -> str:
    return str(write_video(e.root / "input" / "empty.mkv", np.zeros((0, 16, 16, 3), np.uint8), audio_seconds=0.5,
                           audio_codec="flac"))


def odd_size(e: Env) -> str:
    return str(write_video(e.root / "input" / "odd.mkv", moving_frames(4, 17, 31, channels=1), codec="ffv1"))


def evil_pickle(e: Env) -> str:
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {e.root / 'pwned'}",))
    return e.file("evil.pth", pickle.dumps({"state_dict": Payload()}))


def cyclic(e: Env) -> str:
    p = prompt(str(e.clip))
    p["4"] = dict(p["2"], inputs=dict(p["2"]["inputs"], film=["5", 0]))
    p["5"] = dict(p["2"], inputs=dict(p["2"]["inputs"], film=["4", 0]))
    return e.workflow("cyclic.json", p)


def mistyped(e: Env) -> str:
    p = prompt(str(e.clip))
    p["3"]["inputs"]["film"] = ["1", 1]           # an INT into a FILM input
    p["2"]["inputs"]["blur"] = "lots"
    return e.workflow("mistyped.json", p)


def run(e: Env, *extra: str, wf: str | None = None) -> list[str]:
    return ["run", wf or str(e.wf), *extra]


# -- faults of the machine ---------------------------------------------------------------------------------------

def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def disk_full_after(n: int) -> Callable:
    """A frame-file writer that fills the disk after ``n`` frames (the folder stays, as on a real full disk)."""
    from filmrestore.filmlib.io import writer
    real, calls = writer.write_frame_file, []

    def write(path, data):
        calls.append(path)
        if len(calls) > n:
            enospc()
        real(path, data)
    return write


def full_disk_png(e: Env, mp: pytest.MonkeyPatch) -> None:
    from filmrestore.filmlib.io import writer
    mp.setattr(writer, "write_frame_file", disk_full_after(3))


def full_disk_video(e: Env, mp: pytest.MonkeyPatch) -> None:
    from filmrestore.filmlib.io import writer
    real, calls = writer._to_av_frame, []

    def frame(arr):
        calls.append(1)
        if len(calls) > 5:
            enospc()
        return real(arr)
    mp.setattr(writer, "_to_av_frame", frame)


def read_only_for_video(e: Env, mp: pytest.MonkeyPatch) -> None:
    """As root, chmod cannot make a folder read-only: FFmpeg's open is refused the way it would be."""
    import av
    real = av.open

    def open_(path, mode="r", **kw):
        if mode == "w":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path, mode, **kw)
    mp.setattr(av, "open", open_)


def cache_disk_full(e: Env, mp: pytest.MonkeyPatch) -> None:
    import safetensors.numpy
    mp.setattr(safetensors.numpy, "save_file", enospc)


def cache_is_a_file(e: Env, mp: pytest.MonkeyPatch) -> None:
    (e.root / "cachefile").write_text("this is not a folder")
    mp.setenv("FILMRESTORE_CACHE", str(e.root / "cachefile"))


def cache_is_a_model_folder(e: Env, mp: pytest.MonkeyPatch) -> None:
    models = e.root / "models"
    (models / "ab").mkdir(parents=True)
    (models / "RealESRGAN_x4plus.safetensors").write_bytes(b"weights" * 2000)
    (models / "ab" / "abcd.safetensors").write_bytes(b"weights" * 2000)
    mp.setenv("FILMRESTORE_CACHE", str(models))


def overwrite_a_folder(e: Env, mp: pytest.MonkeyPatch) -> None:
    (e.out / "keep.mkv").mkdir()
    (e.out / "keep.mkv" / "grading notes.txt").write_text("three weeks of work")


def a_file_as_parent(e: Env, mp: pytest.MonkeyPatch) -> None:
    (e.root / "notes.txt").write_text("a file")


def bad_budget_env(e: Env, mp: pytest.MonkeyPatch) -> None:
    mp.setenv("FILMRESTORE_CACHE_DISK", "twenty gigs")


def a_sample_file(e: Env, mp: pytest.MonkeyPatch) -> None:
    (e.root / "sample.mp4").write_bytes(b"someone's video")


@dataclass
class Case:
    name: str
    argv: Callable[[Env], list[str]]
    rc: int
    says: tuple[str, ...]                  # the message names the value and the way out
    setup: Callable[[Env, pytest.MonkeyPatch], None] | None = None
    fault: bool = False                     # a fault of the machine (else a bad input)
    writes: tuple[str, ...] = ()            # what may appear: survived faults produce their output
    checks: Callable[[Env], None] | None = field(default=None)


def no_pwned(e: Env) -> None:
    assert not (e.root / "pwned").exists(), "the pickle ran code"


def models_untouched(e: Env) -> None:
    assert (e.root / "models" / "ab" / "abcd.safetensors").read_bytes() == b"weights" * 2000


def frames_of_res(e: Env) -> None:
    from filmrestore.filmlib.io.open import open_clip
    assert open_clip(e.out / "res.mkv").info.frame_count == 12


CASES = [
    # bad inputs already handled well: they stay so
    Case("zero-byte video", lambda e: run(e, "--input", e.file("zero.mp4", b"")), 1, ("zero.mp4", "not a video")),
    Case("truncated video", lambda e: run(e, "--input", truncated(e)), 1, ("cut.mkv", "truncated")),
    Case("audio-only file", lambda e: run(e, "--input", audio_only(e)), 1, ("speech.mka", "no video stream")),
    Case("zero-frame video", lambda e: run(e, "--input", zero_frames(e)), 1, ("empty.mkv", "zero video frames")),
    Case("text named .mp4", lambda e: run(e, "--input", e.file("notes.mp4", b"these are not frames")), 1,
         ("notes.mp4", "not a video")),
    Case("missing video", lambda e: run(e, "--input", "nothing.mp4"), 2, ("nothing.mp4", "not found")),
    Case("odd size for yuv420", lambda e: run(e, "--input", odd_size(e), "--set", "3.format=h264-mp4"), 1,
         ("even width and height", "31x17", "ffv1-mkv")),
    Case("malformed workflow", lambda e: run(e, wf=e.workflow("bad.json", '{"1": {"class_type": ')), 2,
         ("bad.json", "not valid JSON")),
    Case("workflow is a list", lambda e: run(e, wf=e.workflow("list.json", [1, 2])), 2, ("list.json", "list")),
    Case("cyclic workflow", lambda e: run(e, wf=cyclic(e)), 2, ("4 -> 5 -> 4", "cycle")),
    Case("mistyped workflow", lambda e: run(e, wf=mistyped(e)), 2,
         ("expects FILM but is linked to a INT", "'lots'")),
    Case("pickle that runs code", lambda e: ["models", "convert", evil_pickle(e)], 1, ("evil.pth",),
         checks=no_pwned),
    # --set (point 7)
    Case("--set typo", lambda e: run(e, "--set", "3.crff=30"), 2, ("'crff'", "did you mean 'crf'", "format")),
    Case("--set errors all at once", lambda e: run(e, "--set", "3.crff=30", "--set", "9.blur=1", "--set", "2.blur=99",
                                                   "--set", "nodot"), 2,
         ("'crff'", "no node '9'", "99 is above the maximum", "'nodot'", "4 errors")),
    # --output (issue 8.3 and point 8)
    Case("--output under a file", lambda e: run(e, "--output", "notes.txt/res.mkv"), 2,
         ("notes.txt", "is a file, not a folder"), setup=a_file_as_parent),
    Case("--output container mismatch", lambda e: run(e, "--output", "res.mp4"), 2,
         ("res.mp4", "cannot hold ffv1-mkv", "formats that fit .mp4: h264-mp4, h265-mp4")),
    Case("--output exists", lambda e: run(e, "--output", "output/earlier.mkv"), 2,
         ("earlier.mkv", "already exists", "--overwrite")),
    Case("--output without extension", lambda e: run(e, "--output", "res"), 2, ("'res'", "no file extension")),
    Case("--output names a folder, --overwrite", lambda e: run(e, "--output", "output/keep.mkv", "--overwrite"), 0,
         ("keep.mkv/res_00001.mkv",), setup=overwrite_a_folder, writes=("output/keep.mkv/res_00001.mkv",)),
    Case("overwrite=true names a folder", lambda e: run(e, "--set", f"3.filename_prefix={e.out / 'keep.mkv'}",
                                                        "--set", "3.overwrite=true"), 1,
         ("keep.mkv", "will not overwrite"), setup=overwrite_a_folder),
    # budgets (point 9)
    Case("--cache-disk abc", lambda e: ["--cache-disk", "abc", *run(e)], 1, ("--cache-disk", "'abc'")),
    Case("negative --cache-disk", lambda e: ["--cache-disk=-1G", *run(e)], 1, ("--cache-disk", "'-1G'", "negative")),
    Case("--cache-ram inf", lambda e: ["--cache-ram", "inf", *run(e)], 1, ("--cache-ram", "'inf'")),
    Case("FILMRESTORE_CACHE_DISK bad", lambda e: run(e), 1, ("FILMRESTORE_CACHE_DISK", "'twenty gigs'"),
         setup=bad_budget_env),
    Case("cache clear on a model folder", lambda e: ["cache", "clear"], 1,
         ("refusing to clear", "not a filmrestore cache", "FILMRESTORE_CACHE"), setup=cache_is_a_model_folder,
         checks=models_untouched),
    Case("sample onto a file", lambda e: ["sample", "sample.mp4"], 1, ("sample.mp4", "is a file"),
         setup=a_sample_file),
    # faults of the machine (point 8, 9)
    Case("full disk, PNG sequence", lambda e: run(e, "--output", "output/frames/", "--set", "3.format=png-sequence"),
         1, ("disk is full", "output/frames"), setup=full_disk_png, fault=True),
    Case("full disk, video", lambda e: run(e, "--output", "output/res.mkv"), 1,
         ("disk is full", "res.mkv"), setup=full_disk_video, fault=True),
    Case("sample into a read-only folder", lambda e: ["sample", "input/sample"], 1,
         ("read-only folder or no permission", "old_film.mp4"), setup=read_only_for_video, fault=True,
         writes=("input/sample",)),
    Case("cache disk full", lambda e: run(e, "--output", "output/res.mkv"), 0,
         ("No space left", "FILMRESTORE_CACHE", "without the disk cache"), setup=cache_disk_full, fault=True,
         writes=("output/res.mkv",), checks=frames_of_res),
    Case("cache path is a file", lambda e: run(e, "--output", "output/res.mkv"), 0,
         ("cachefile", "is a file", "FILMRESTORE_CACHE"), setup=cache_is_a_file, fault=True,
         writes=("output/res.mkv",), checks=frames_of_res),
    Case("cache is a model folder", lambda e: run(e, "--output", "output/res.mkv"), 0,
         ("not a filmrestore cache", "RealESRGAN_x4plus.safetensors"), setup=cache_is_a_model_folder, fault=True,
         writes=("output/res.mkv",), checks=lambda e: (models_untouched(e), frames_of_res(e))),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_cleanly(case: Case, env: Env, monkeypatch, capsys, caplog):
    argv = case.argv(env)                                   # make the bad file first: it is part of "before"
    if case.setup:
        case.setup(env, monkeypatch)
    before = snapshot(env.root)
    rc = cli_main(argv)
    cap = capsys.readouterr()
    text = cap.out + cap.err + caplog.text
    assert rc == case.rc, text
    assert "Traceback" not in text
    for needle in case.says:
        assert needle in text, f"{needle!r} not in:\n{text}"
    after = snapshot(env.root)
    # an output's provenance sidecar (<output>.provenance.json) comes with it
    allowed = lambda rel: any(rel in (w, w + ".provenance.json") or rel.startswith(w + "/")   # noqa: E731
                              for w in case.writes)
    assert {k: v for k, v in after.items() if not allowed(k)} == {k: v for k, v in before.items() if not allowed(k)}
    for w in case.writes:
        if case.rc == 0:
            assert w in after, f"{w} was not written"
    if case.checks:
        case.checks(env)


def test_swapped_cache_chunks_give_the_right_frames(env, monkeypatch, capsys):
    """A fault survived: two cache entries swapped between runs are found out and recomputed."""
    import filmrestore.filmlib.clip as clip
    from filmrestore.filmlib.io.open import open_clip
    monkeypatch.setattr(clip, "CHUNK_BYTES", 4 * 32 * 48)
    assert cli_main(run(env, "--output", "output/a.mkv")) == 0
    files = sorted((env.root / "cache").glob("*/*.safetensors"))
    assert len(files) >= 2
    a, b = files[0].read_bytes(), files[1].read_bytes()
    files[0].write_bytes(b)
    files[1].write_bytes(a)
    assert cli_main(run(env, "--output", "output/b.mkv")) == 0
    assert np.array_equal(open_clip(env.out / "a.mkv").read(0, 12), open_clip(env.out / "b.mkv").read(0, 12))


# -- signals: a subprocess, slowed down so the signal lands mid-encode --------------------------------------------

SLOW_CLI = """
import sys, time
import filmrestore.filmlib.clip as clip
import filmrestore.filmlib.io.writer as writer
clip.CHUNK_BYTES = 4 * 32 * 48               # 4-frame chunks of the gray degraded clip: a kill lands between them
real, delay = writer._to_av_frame, float(sys.argv[1])
def slow(arr):
    time.sleep(delay)
    return real(arr)
writer._to_av_frame = slow
from filmrestore.cli import main
raise SystemExit(main(sys.argv[2:]))
"""


def start_slow(env: Env, delay: float, *argv: str) -> subprocess.Popen:
    script = env.root / "slow_cli.py"
    script.write_text(SLOW_CLI)
    # a test run started in the background (`make test &`) hands its children SIGINT ignored, and Python keeps an
    # ignored SIGINT ignored: give the child the default a user's terminal gives it
    return subprocess.Popen([sys.executable, str(script), str(delay), *argv], cwd=env.root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for_partial(folder: Path, proc: subprocess.Popen, timeout: float = 60) -> Path:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = [p for p in folder.iterdir() if ".partial-" in p.name] if folder.exists() else []
        if found:
            time.sleep(0.3)   # a few frames into the encode
            return found[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("no partial output appeared")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_ends_like_ctrl_c(env, sig):
    long_clip = write_video(env.root / "input" / "long.mp4", moving_frames(48, 32, 48), Fraction(16))
    before = snapshot(env.root)
    proc = start_slow(env, 0.1, "run", str(env.wf), "--input", str(long_clip), "--output", "output/res.mkv")
    wait_for_partial(env.out, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == (143 if sig == signal.SIGTERM else 130), err
    assert "Traceback" not in err and ("terminated (SIGTERM)" if sig == signal.SIGTERM else "interrupted") in err
    assert "partial output was removed" in err
    assert snapshot(env.root) == {k: v for k, v in before.items()} | {"slow_cli.py": snapshot(env.root)["slow_cli.py"]}


def test_kill_9_leaves_a_partial_that_the_next_run_removes_and_resumes_from_the_cache(env):
    long_clip = write_video(env.root / "input" / "long.mp4", moving_frames(48, 32, 48), Fraction(16))
    argv = ("run", str(env.wf), "--input", str(long_clip), "--output", "output/res.mkv")
    proc = start_slow(env, 0.1, *argv)
    partial = wait_for_partial(env.out, proc)
    time.sleep(0.5)
    proc.kill()
    proc.wait()
    assert partial.exists()                                 # what kill -9 leaves behind
    cached = {p: p.stat().st_ino for p in (env.root / "cache").glob("*/*.safetensors")}
    assert cached, "nothing was cached before the kill"
    again = start_slow(env, 0.0, *argv)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert not partial.exists() and "Traceback" not in err
    assert sorted(p.name for p in env.out.iterdir()) == ["earlier.mkv", "res.mkv", "res.mkv.provenance.json"]
    assert all(p.stat().st_ino == ino for p, ino in cached.items())   # chunks reused, not recomputed
    from filmrestore.filmlib.io.open import open_clip
    assert open_clip(env.out / "res.mkv").info.frame_count == 48
