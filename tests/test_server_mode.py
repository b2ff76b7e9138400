"""Nothing outside in, nothing outside out, nothing too big: inside ComfyUI (a stand-in ``folder_paths``) a prompt
reads only ComfyUI's input/temp folders and writes only its output folder, after symlinks; headless any path the
user names is fine but a workflow's ``..`` stays inside the output folder; frames too large to upscale, encode
or decode are refused before any work, with the size, the memory and what to do."""
from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
import types
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from filmrestore.cli import main as cli_main
from filmrestore.comfy_bridge import PathRefused
from filmrestore.filmlib.clip import ClipInfo, Film
from filmrestore.filmlib.errors import DecodeError, EncodeError, InputError
from filmrestore.filmlib.io import limits
from filmrestore.filmlib import upscale as upscale_mod
from filmrestore.nodes.io_nodes import FilmLoadVideo, FilmSaveVideo
from filmrestore.nodes.restore_nodes import FilmUpscale
from conftest import moving_frames, write_video


def tree_digest(root: Path) -> str:
    """A hash of every path, link target and file content under ``root``: equal before and after = untouched."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_symlink():
            h.update(os.readlink(p).encode())
        elif p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def png_header(path: Path, width: int, height: int) -> Path:
    """A tiny PNG file whose header claims ``width`` x ``height`` (the pixel data is a stub)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    """ComfyUI-like folders plus a 'secret' folder elsewhere on the host, with a video and a PNG in each."""
    import cv2
    roots = {k: tmp_path / "comfy" / k for k in ("input", "output", "temp")}
    for p in roots.values():
        p.mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.mkdir()
    write_video(secret / "clip.mp4", moving_frames(4, 32, 32))
    cv2.imwrite(str(secret / "secret.png"), np.full((8, 8, 3), 200, np.uint8))
    write_video(roots["input"] / "clip.mp4", moving_frames(4, 32, 32))
    (roots["input"] / "frames").mkdir()
    for i in range(3):
        cv2.imwrite(str(roots["input"] / "frames" / f"f_{i:03d}.png"), np.full((8, 8, 3), 50 * i, np.uint8))
    write_video(roots["output"] / "earlier.mp4", moving_frames(4, 32, 32))
    return {**roots, "secret": secret, "root": tmp_path}


@pytest.fixture
def comfy(world, monkeypatch):
    """A stand-in for ComfyUI's folder_paths module, as the server has it imported."""
    fp = types.ModuleType("folder_paths")
    fp.get_input_directory = lambda: str(world["input"])
    fp.get_output_directory = lambda: str(world["output"])
    fp.get_temp_directory = lambda: str(world["temp"])
    fp.folder_names_and_paths = {}
    fp.models_dir = str(world["root"] / "comfy" / "models")

    def get_folder_paths(name):
        raise KeyError(name)
    fp.get_folder_paths = get_folder_paths
    monkeypatch.setitem(sys.modules, "folder_paths", fp)
    return world


def load(video: str) -> Film:
    return FilmLoadVideo().load(video, 0, 0, 0.0, "auto")[0]


# every way a prompt has tried to reach a file outside the input folder
OUTSIDE_READS = [
    ("parent", "../../secret/secret.png"),
    ("parent-missing", "../../secret/nothere.png"),
    ("absolute", "{secret}/clip.mp4"),
    ("absolute-missing", "{secret}/nothere.mp4"),
    ("climb-from-sub", "frames/../../../secret/clip.mp4"),
    ("glob-outside", "../../secret/*.png"),
    ("glob-in-folder-part", "*/../../../secret/secret.png"),
    ("printf-outside", "../../secret/%06d.png"),
    ("annotated-temp", "../../secret/clip.mp4 [temp]"),
    ("annotated-output", "../../secret/clip.mp4 [output]"),
    ("etc", "/etc/passwd"),
]


@pytest.mark.parametrize("case,name", OUTSIDE_READS, ids=[c for c, _ in OUTSIDE_READS])
def test_server_refuses_reads_outside_the_input_folder(comfy, case, name):
    name = name.format(secret=comfy["secret"])
    before = tree_digest(comfy["root"])
    message = FilmLoadVideo.VALIDATE_INPUTS(name)
    assert isinstance(message, str) and "outside ComfyUI's input folder" in message and repr(name) in message
    # the same words whether the file exists or not: a prompt learns nothing about the host
    assert message.replace(repr(name), "NAME") == FilmLoadVideo.VALIDATE_INPUTS("/nope").replace("'/nope'", "NAME")
    with pytest.raises(PathRefused):
        load(name)
    assert FilmLoadVideo.IS_CHANGED(name) == name  # no stat of the outside file either
    assert tree_digest(comfy["root"]) == before


def test_server_refuses_symlinks_out_of_the_input_folder(comfy):
    inp = comfy["input"]
    (inp / "link.mp4").symlink_to(comfy["secret"] / "clip.mp4")
    (inp / "linkdir").symlink_to(comfy["secret"])
    (inp / "mixed").mkdir()
    (inp / "mixed" / "f_000.png").write_bytes((inp / "frames" / "f_000.png").read_bytes())
    (inp / "mixed" / "f_001.png").symlink_to(comfy["secret"] / "secret.png")
    for name in ("link.mp4", "linkdir/clip.mp4", "linkdir/*.png"):
        assert "outside ComfyUI's input folder" in FilmLoadVideo.VALIDATE_INPUTS(name)
        with pytest.raises(PathRefused):
            load(name)
    with pytest.raises(PathRefused, match="f_001.png"):  # the folder is inside, one frame links out
        load("mixed/")


def test_server_refuses_a_playlist_posing_as_a_video(comfy):
    (comfy["input"] / "list.mp4").write_text(f"#EXTM3U\n#EXTINF:1,\nfile://{comfy['secret']}/clip.mp4\n")
    with pytest.raises(PathRefused, match="playlist"):
        load("list.mp4")


def test_server_reads_inside_its_folders(comfy):
    assert FilmLoadVideo.VALIDATE_INPUTS("clip.mp4") is True
    assert load("clip.mp4").info.frame_count == 4
    assert load("frames/").info.frame_count == 3
    assert load("frames/f_*.png").info.frame_count == 3
    assert load("earlier.mp4 [output]").info.frame_count == 4   # as core LoadImage's annotation
    assert load(str(comfy["input"] / "clip.mp4")).info.frame_count == 4  # absolute, but inside
    message = FilmLoadVideo.VALIDATE_INPUTS("missing.mp4")
    assert "missing.mp4" in message and str(comfy["input"]) in message and os.getcwd() not in message


OUTSIDE_WRITES = [("climb", "../../../x/evil"), ("climb-sub", "FilmRestore/../../evil"),
                  ("absolute", "{secret}/evil"), ("absolute-file", "{secret}/evil.mp4"),
                  ("sequence-folder", "../evil_frames/"), ("link", "link/evil")]


@pytest.mark.parametrize("case,prefix", OUTSIDE_WRITES, ids=[c for c, _ in OUTSIDE_WRITES])
def test_server_refuses_writes_outside_the_output_folder(comfy, case, prefix):
    (comfy["output"] / "link").symlink_to(comfy["secret"])
    prefix = prefix.format(secret=comfy["secret"])
    film = load("clip.mp4")
    before = tree_digest(comfy["root"])
    message = FilmSaveVideo.VALIDATE_INPUTS(prefix)
    assert isinstance(message, str) and "outside ComfyUI's output folder" in message and repr(prefix) in message
    with pytest.raises(PathRefused):
        FilmSaveVideo().save(film, prefix, "ffv1-mkv", 18, False)
    assert tree_digest(comfy["root"]) == before


def test_server_writes_inside_the_output_folder(comfy):
    film = load("clip.mp4")
    assert FilmSaveVideo.VALIDATE_INPUTS("FilmRestore/ok") is True
    res = FilmSaveVideo().save(film, "FilmRestore/ok", "ffv1-mkv", 18, False)
    out = Path(res["result"][0])
    assert out.parent == comfy["output"] / "FilmRestore" and out.is_file()
    res = FilmSaveVideo().save(film, str(comfy["output"] / "abs.mkv"), "ffv1-mkv", 18, False)
    assert Path(res["result"][0]) == comfy["output"] / "abs.mkv"


# headless: the user's own paths are fine, a workflow's ".." is not

def test_headless_reads_any_path_the_user_gives(world, tmp_path):
    assert FilmLoadVideo.VALIDATE_INPUTS(str(world["secret"] / "clip.mp4")) is True
    assert load(str(world["secret"] / "clip.mp4")).info.frame_count == 4
    message = FilmLoadVideo.VALIDATE_INPUTS("missing.mp4")
    assert "'missing.mp4'" in message and str(tmp_path / "input") in message and os.getcwd() in message
    with pytest.raises(DecodeError, match="looked in"):
        load("missing.mp4")


def workflow(tmp_path: Path, video: str, prefix: str, extra: dict | None = None) -> Path:
    prompt = {
        "1": {"class_type": "FilmLoadVideo", "inputs": {"video": video, "first_frame": 0, "frame_count": 0,
                                                        "force_fps": 0.0, "color": "auto"}},
        "3": {"class_type": "FilmSaveVideo", "inputs": {"film": ["1", 0], "filename_prefix": prefix,
                                                        "format": "ffv1-mkv", "crf": 18, "overwrite": False}},
        **(extra or {}),
    }
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(prompt))
    return path


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    code = cli_main(args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_headless_workflow_prefix_cannot_climb_out_of_the_output_folder(world, tmp_path, capsys):
    write_video(tmp_path / "input" / "clip.mp4", moving_frames(4, 32, 32))
    wf = workflow(tmp_path, "clip.mp4", "../../../x/evil")
    before = tree_digest(tmp_path)
    code, text = run_cli(["run", str(wf)], capsys)
    assert code == 2 and "'../../../x/evil'" in text and "--output" in text and "Traceback" not in text
    assert tree_digest(tmp_path) == before
    # the user names the place: written exactly there
    target = world["secret"] / "mine.mkv"
    code, text = run_cli(["run", str(wf), "--output", str(target)], capsys)
    assert code == 0 and target.is_file(), text
    code, text = run_cli(["run", str(wf), "--set", f"3.filename_prefix={world['secret'] / 'set'}"], capsys)
    assert code == 0 and (world["secret"] / "set_00001.mkv").is_file(), text


# frames too large for the memory, the encoder or the decoder: refused before the work starts

class HugeFilm(Film):
    """Claims a huge frame size; reading it would be the bug the checks prevent."""

    def __init__(self, width: int, height: int, channels: int = 3, frames: int = 2):
        self.info = ClipInfo(width, height, channels, 8, frames, Fraction(24))
        self.signature = f"huge-{width}x{height}"

    def _read(self, start: int, stop: int) -> np.ndarray:
        raise AssertionError("frames were read: the size check came too late")


def test_upscale_that_cannot_be_allocated_is_refused_with_a_factor_that_fits(monkeypatch):
    monkeypatch.setattr(upscale_mod, "available_memory", lambda: 16 << 30)
    node = FilmUpscale()
    with pytest.raises(InputError) as err:
        node.upscale(HugeFilm(8000, 8000), "lanczos", 4.0, 0, "none", 1.0, 512, "cpu", "auto")
    text = str(err.value)
    assert "8000x8000" in text and "32000x32000" in text and "16.0 GiB" in text and "GiB of memory" in text
    factor = float(text.split("a factor up to ")[1].split()[0])
    assert 1.0 < factor < 4.0
    node.upscale(HugeFilm(8000, 8000), "lanczos", factor, 0, "none", 1.0, 512, "cpu", "auto")  # that one fits
    with pytest.raises(InputError, match="factor up to"):
        node.upscale(HugeFilm(8000, 8000), "lanczos", factor + 0.1, 0, "none", 1.0, 512, "cpu", "auto")


def test_frame_the_encoder_cannot_open_is_refused_before_writing(tmp_path):
    pytest.importorskip("av")
    before = tree_digest(tmp_path)
    with pytest.raises(EncodeError) as err:
        FilmSaveVideo().save(HugeFilm(16000, 16000), "big/ffv1", "ffv1-mkv", 18, False)
    text = str(err.value)
    assert "16000x16000" in text and "MiB each" in text and "tiff16-sequence" in text
    w = int(text.split("opens is about ")[1].split("x")[0])
    assert 8192 <= w < 16000
    limits.check_encodable(ClipInfo(w, w, 3, 8, 1, Fraction(24)), __import__(
        "filmrestore.filmlib.io.writer", fromlist=["FORMATS"]).FORMATS["ffv1-mkv"])  # the size it names opens
    assert tree_digest(tmp_path) == before


def test_image_header_claiming_40000x40000_is_refused_before_decoding(tmp_path, capsys):
    folder = tmp_path / "input" / "scans"
    folder.mkdir()
    for i in range(2):
        png_header(folder / f"scan_{i:04d}.png", 40000, 40000)
    with pytest.raises(DecodeError) as err:
        load("scans/")
    text = str(err.value)
    assert "40000x40000" in text and "GiB" in text and "scale the scans down" in text
    wf = workflow(tmp_path, "scans/", "out")
    before = tree_digest(tmp_path / "output") if (tmp_path / "output").exists() else ""
    code, out = run_cli(["run", str(wf)], capsys)
    assert code == 1 and "40000x40000" in out and "Traceback" not in out
    assert (tree_digest(tmp_path / "output") if (tmp_path / "output").exists() else "") == before


def test_image_header_over_the_free_memory_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "available_memory", lambda: 1 << 30)
    path = png_header(tmp_path / "big.png", 20000, 20000)
    with pytest.raises(DecodeError, match=r"20000x20000.*only 1.0 GiB is available"):
        limits.check_image_header(str(path))
    limits.check_image_header(str(png_header(tmp_path / "ok.png", 2000, 2000)))


def test_model_output_too_big_for_the_gpu_is_refused_before_running(monkeypatch):
    import torch
    from filmrestore.model_loaders.spandrel_models import ImageModel
    model = object.__new__(ImageModel)  # the fields check_fits reads, without a GPU to load onto
    model.device, model.batch, model.scale, model.in_channels = torch.device("cuda"), 4, 4, 3
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (8 << 30, 24 << 30))
    with pytest.raises(InputError) as err:
        model.check_fits(8000, 8000, 1)
    text = str(err.value)
    assert "32000x32000" in text and "8.0 GiB free of 24.0 GiB" in text and "device cpu" in text
    model.check_fits(1920, 1080, 1)  # 1 frame of 7680x4320 fits in 8 GiB


def test_server_input_folder_that_is_itself_a_symlink_still_works(comfy, monkeypatch):
    linked = comfy["root"] / "input-link"
    linked.symlink_to(comfy["input"])  # e.g. ComfyUI/input pointing at a footage drive
    monkeypatch.setattr(sys.modules["folder_paths"], "get_input_directory", lambda: str(linked))
    assert FilmLoadVideo.VALIDATE_INPUTS("clip.mp4") is True
    assert load("frames/").info.frame_count == 3
    assert "outside" in FilmLoadVideo.VALIDATE_INPUTS("../secret/clip.mp4")
