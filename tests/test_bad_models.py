"""Damaged, foreign and missing model files: each names the file, says what is wrong with it and how to get it
again; nothing in the models or output folder is touched. ``models verify`` checks the published size."""
from __future__ import annotations

import json
import os
import sys
import types
from fractions import Fraction
from pathlib import Path

import pytest
import torch

from filmrestore.cli import main as cli_main
from filmrestore.filmlib.clip import ArrayFilm
from filmrestore.model_loaders.checkpoint import DamagedCheckpointError, UnsafeCheckpointError, load_state_dict
from filmrestore.model_loaders.download import DownloadError, download, verify
from filmrestore.model_loaders.folders import ModelNotFoundError, find_model
from filmrestore.model_loaders.registry import ModelInfo
from filmrestore.nodes.restore_nodes import FilmDeblur, FilmUpscale
from conftest import moving_frames, write_video
from test_server_mode import tree_digest


def _state_dict() -> dict[str, torch.Tensor]:
    from spandrel.architectures.Compact import Compact
    torch.manual_seed(0)
    return Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=2).state_dict()


def _zip_pth(path: Path) -> bytes:
    torch.save(_state_dict(), path)
    return path.read_bytes()


def _legacy_pth(path: Path) -> bytes:
    torch.save(_state_dict(), path, _use_new_zipfile_serialization=False)
    return path.read_bytes()


def _safetensors(path: Path) -> bytes:
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in _state_dict().items()}, str(path))
    return path.read_bytes()


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def _random(n: int) -> bytes:
    data = bytearray(os.urandom(n))
    data[0] = 0x17  # not a zip, pickle or text signature
    data[1:8] = b"\xff" * 7  # as safetensors: a header length far beyond the file
    return bytes(data)


# name, how to make its bytes (given a scratch path), error type, words the message must have
CASES = [
    ("empty.pth", lambda p: b"", DamagedCheckpointError, "is empty"),
    ("cut.pth", lambda p: _zip_pth(p)[:2000], DamagedCheckpointError, "cut short"),
    ("cut-legacy.pth", lambda p: _legacy_pth(p)[:1500], DamagedCheckpointError, "ends early"),
    ("random.pth", lambda p: _random(4000), DamagedCheckpointError, "not a PyTorch checkpoint"),
    ("page.pth", lambda p: b"<!DOCTYPE html><html>404 Not Found</html>", DamagedCheckpointError, "is text"),
    ("empty.safetensors", lambda p: b"", DamagedCheckpointError, "is empty"),
    ("cut.safetensors", lambda p: _safetensors(p)[:1200], DamagedCheckpointError, "cut short"),
    ("random.safetensors", lambda p: _random(4000), DamagedCheckpointError, "no valid safetensors header"),
    ("zip-pickle.safetensors", lambda p: _zip_pth(p), DamagedCheckpointError, "rename it to .pth"),
    ("legacy-pickle.safetensors", lambda p: _legacy_pth(p), DamagedCheckpointError, "rename it to .pth"),
    ("evil.pth", lambda p: (torch.save({"w": _Evil()}, p), p.read_bytes())[1], UnsafeCheckpointError,
     "code that would run"),
]


def _place(models_dir: Path, name: str, make) -> Path:
    scratch = models_dir.parent / f".scratch-{name}"
    data = make(scratch)
    scratch.unlink(missing_ok=True)
    path = models_dir / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("name,make,error,words", CASES, ids=[c[0] for c in CASES])
def test_bad_checkpoint_is_named_and_explained(models_dir, name, make, error, words):
    path = _place(models_dir, name, make)
    before = tree_digest(models_dir.parent)
    with pytest.raises(error) as err:
        load_state_dict(path)
    text = str(err.value)
    assert name in text and words in text
    if error is DamagedCheckpointError:
        assert "damaged or not a checkpoint" in text or "not a safetensors file" in text
        assert "again" in text
    film = ArrayFilm(moving_frames(2, 16, 16), Fraction(24))
    with pytest.raises(error):  # the same through the node, before any frame is computed
        FilmUpscale().upscale(film, "model", 2.0, 0, name, 1.0, 0, "cpu", "auto")
    assert tree_digest(models_dir.parent) == before  # nothing deleted, renamed or written


def test_cut_short_known_model_names_the_published_size_and_the_download(models_dir):
    path = _place(models_dir, "RealESRGAN_x4plus.pth", lambda p: _zip_pth(p)[:3000])
    with pytest.raises(DamagedCheckpointError) as err:
        load_state_dict(path)
    text = str(err.value)
    assert "3000 bytes of the published 67040989" in text
    assert "python -m filmrestore models download realesrgan-x4plus" in text


def test_missing_model_says_where_it_looked_and_how_to_download(models_dir):
    assert FilmUpscale.VALIDATE_INPUTS("lanczos", "RealESRGAN_x4plus.pth") is True  # not used: not needed
    for node in (FilmUpscale, FilmDeblur):
        text = node.VALIDATE_INPUTS("model", "RealESRGAN_x4plus.pth")
        assert str(models_dir) in text and "models download realesrgan-x4plus" in text
    text = FilmDeblur.VALIDATE_INPUTS("model", "NAFNet-GoPro-width64.pth")
    assert "by hand" in text and "megvii-research/NAFNet" in text
    assert "not one of" in FilmUpscale.VALIDATE_INPUTS("magic", "none")


def _workflow(tmp_path: Path, model: str) -> Path:
    write_video(tmp_path / "input" / "clip.mp4", moving_frames(3, 16, 16))
    prompt = {
        "1": {"class_type": "FilmLoadVideo", "inputs": {"video": "clip.mp4", "first_frame": 0, "frame_count": 0,
                                                        "force_fps": 0.0, "color": "auto"}},
        "2": {"class_type": "FilmUpscale", "inputs": {"film": ["1", 0], "method": "model", "factor": 2.0,
                                                      "target_height": 0, "model_name": model,
                                                      "denoise_strength": 1.0, "tile": 0, "device": "cpu",
                                                      "precision": "auto"}},
        "3": {"class_type": "FilmSaveVideo", "inputs": {"film": ["2", 0], "filename_prefix": "up",
                                                        "format": "ffv1-mkv", "crf": 18, "overwrite": False}},
    }
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(prompt))
    return path


@pytest.mark.parametrize("model,code,words", [
    ("RealESRGAN_x4plus.pth", 2, "models download realesrgan-x4plus"),   # not there
    ("cut.safetensors", 1, "cut short"),                                 # there, damaged
    ("random.pth", 1, "not a PyTorch checkpoint"),
])
def test_cli_run_with_a_bad_model_exits_cleanly(models_dir, tmp_path, capsys, model, code, words):
    if model != "RealESRGAN_x4plus.pth":
        _place(models_dir, model, dict((c[0], c[1]) for c in CASES)[model])
    wf = _workflow(tmp_path, model)
    models_before, output_before = tree_digest(tmp_path / "models"), tree_digest(tmp_path / "output")
    assert cli_main(["run", str(wf)]) == code
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert model in text and words in text and "Traceback" not in text
    if code == 2:
        assert str(models_dir) in text
    assert tree_digest(tmp_path / "models") == models_before and tree_digest(tmp_path / "output") == output_before


def test_models_verify_checks_the_published_size(models_dir, capsys):
    (models_dir / "RealESRGAN_x4plus.pth").write_bytes(b"\0" * 1000)  # a download cut at 1000 bytes
    assert cli_main(["models", "verify"]) == 1
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("realesrgan-x4plus "))
    assert "mismatch" in line
    info = ModelInfo("m", "m.pth", "upscale", "upscale_models", "spandrel", ("unused",), "MIT", size=1000)
    assert verify(info, models_dir / "RealESRGAN_x4plus.pth") == "size-ok"
    assert verify(ModelInfo("m", "m.pth", "upscale", "upscale_models", "spandrel", ("unused",), "MIT", size=999),
                  models_dir / "RealESRGAN_x4plus.pth") == "mismatch"
    assert verify(ModelInfo("m", "m.pth", "upscale", "upscale_models", "spandrel", ("unused",), "MIT"),
                  models_dir / "RealESRGAN_x4plus.pth") == "unchecked"


def test_download_of_the_wrong_size_is_deleted_when_no_sha256_is_published(tmp_path):
    from test_models import LocalServer
    payload = os.urandom(1 << 16)
    info = ModelInfo("m", "m.pth", "upscale", "upscale_models", "spandrel", ("unused",), "MIT",
                     size=len(payload) + 1)
    with LocalServer(payload) as srv:
        with pytest.raises(DownloadError, match=r"got 65536 bytes, but the published file has 65537"):
            download(info, tmp_path / "dl", url=srv.url("m.pth"))
    assert list((tmp_path / "dl").iterdir()) == []


def test_server_model_names_cannot_leave_the_model_folders(tmp_path, monkeypatch):
    folder = tmp_path / "comfy" / "models" / "upscale_models"
    folder.mkdir(parents=True)
    secret = tmp_path / "secret.pth"
    torch.save(_state_dict(), secret)
    (folder / "link.pth").symlink_to(secret)
    fp = types.ModuleType("folder_paths")
    fp.get_input_directory = lambda: str(tmp_path / "input")
    fp.get_output_directory = lambda: str(tmp_path / "out")
    fp.get_folder_paths = lambda name: [str(folder)] if name == "upscale_models" else []
    monkeypatch.setitem(sys.modules, "folder_paths", fp)
    for name in (str(secret), "../../../secret.pth", "../secret.pth"):
        with pytest.raises(ModelNotFoundError, match=str(folder)):
            find_model("upscale_models", name)
        assert isinstance(FilmUpscale.VALIDATE_INPUTS("model", name), str)
    assert find_model("upscale_models", "link.pth") == folder / "link.pth"  # placed there: followed, as ComfyUI does
    torch.save(_state_dict(), folder / "ok.pth")
    assert find_model("upscale_models", "ok.pth") == folder / "ok.pth"
    assert find_model("upscale_models", "sub/../ok.pth") == folder / "ok.pth"
