"""DeOldify generators: official fidelity (artistic and video, three sizes incl. the odd-size path, raw output and
the end-to-end chroma merge) through the user's loading path, in every file layout the official checkpoints
come in; strict key checking; the unsafe-pickle refusal; the post-processing's resize path."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from filmrestore.filmlib.errors import InputError
from filmrestore.model_loaders.checkpoint import UnsafeCheckpointError
from filmrestore.model_loaders.deoldify import (IMAGENET_MEAN, IMAGENET_STD, deoldify_normalize,
                                                deoldify_postprocess, load_deoldify)
from conftest import SHARED
from standin_models import recipe_state_dict, shared_tools

FIDELITY = SHARED / "fixtures" / "fidelity"
SIZES = (64, 80, 96)  # 80 = 5 x 16: the encoder's 1/32 map rounds up and the decoder nearest-resizes to the skip


def _weights(name: str):
    """(meta, state dict) of the fidelity recipe for ``name``, made once per session (sha256 checked)."""
    if shared_tools() is None:
        pytest.skip(f"fidelity fixtures not found at {SHARED} (they come with the project's shared/ folder)")
    return recipe_state_dict(name)


def _fastai_wrapper(sd: dict) -> dict:
    """fastai ``Learner.save(with_opt=True)``: the model and an Adam state; the slice stands for the
    ``builtins.slice`` that the published files' pickles reference."""
    opt = {"state": {0: {"step": torch.tensor(10.0), "exp_avg": torch.zeros(3)}},
           "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.99), "eps": 1e-5, "weight_decay": 1e-3,
                             "amsgrad": False, "params": [0], "layer_groups": slice(0, 3, None)}]}
    return {"model": sd, "opt": opt}


@pytest.fixture(scope="module")
def artistic(tmp_path_factory):
    """The artistic recipe weights as a bare zip .pth, as fastai's {'model', 'opt'} in torch's legacy (2019)
    format, and as .safetensors."""
    from safetensors.torch import save_file
    meta, sd = _weights("deoldify_artistic")
    d = tmp_path_factory.mktemp("deoldify_artistic")
    files = {"bare": d / "ColorizeArtistic_gen.pth", "fastai": d / "fastai" / "ColorizeArtistic_gen.pth",
             "safetensors": d / "ColorizeArtistic_gen.safetensors"}
    files["fastai"].parent.mkdir()
    torch.save(sd, files["bare"])
    torch.save(_fastai_wrapper(sd), files["fastai"], _use_new_zipfile_serialization=False)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(files["safetensors"]))
    return {"meta": meta, "sd": sd, "files": files, "dir": d}


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """The video recipe weights (218 M parameters: generated once) as the bare ColorizeVideo_gen.pth."""
    meta, sd = _weights("deoldify_video")
    path = tmp_path_factory.mktemp("deoldify_video") / "ColorizeVideo_gen.pth"
    torch.save(sd, path)
    del sd
    return {"meta": meta, "path": path}


def _compare(net, name: str, meta: dict, sizes: tuple[int, ...] = SIZES) -> dict[str, tuple[float, float]]:
    """max_abs and rel_l2 of the expected arrays at ``sizes``; asserts meta's tolerance on each."""
    inp, exp = np.load(FIDELITY / name / "inputs.npz"), np.load(FIDELITY / name / "expected.npz")
    tol = meta["tolerance"]["default"]
    figures = {}
    for s in sizes:
        with torch.no_grad():
            raw = net(torch.from_numpy(inp[f"x_{s}x{s}"]))
        e2e = deoldify_postprocess(raw, torch.from_numpy(inp[f"orig_rgb_{s}x{s}"]))
        for key, ours in ((f"raw_{s}x{s}", raw), (f"e2e_{s}x{s}", e2e)):
            assert ours.dtype == torch.float32 and tuple(ours.shape) == exp[key].shape, key
            err = ours.numpy().astype(np.float64) - exp[key]
            figures[key] = (float(np.abs(err).max()), float(np.linalg.norm(err) / np.linalg.norm(exp[key])))
    bad = {k: v for k, v in figures.items() if v[0] > tol["max_abs"] or v[1] > tol["rel_l2"]}
    assert not bad, f"outside {tol}: {bad}"
    return figures


# -- fidelity to the official networks ---------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["bare", "fastai", "safetensors"])
def test_artistic_matches_official(artistic, layout):
    net = load_deoldify(artistic["files"][layout])
    assert net.arch == "artistic" and not net.training
    assert all(p.dtype == torch.float32 for p in net.parameters())
    # every size for the bare file; the other layouts only have to give the same network (80: the odd path)
    _compare(net, "deoldify_artistic", artistic["meta"], SIZES if layout == "bare" else (80,))


def test_video_matches_official(video):
    net = load_deoldify(video["path"])
    assert net.arch == "video" and not net.training
    _compare(net, "deoldify_video", video["meta"])


def test_legacy_spectral_norm_file_matches(artistic, tmp_path):
    """torch<1.0.1 spectral norm stored the normalised ``weight`` instead of ``weight_v``: same network."""
    sd = dict(artistic["sd"])
    for k in [k for k in sd if k.endswith(".weight_orig")]:
        p = k[: -len("_orig")]
        w = sd[k]
        sigma = torch.dot(sd[p + "_u"], torch.mv(w.reshape(w.shape[0], -1), sd[p + "_v"]))
        sd[p] = w / sigma
        del sd[p + "_v"]
    torch.save(sd, tmp_path / "ColorizeArtistic_gen.pth")
    _compare(load_deoldify(tmp_path / "ColorizeArtistic_gen.pth"), "deoldify_artistic", artistic["meta"], (80,))


# -- files that are not (whole) DeOldify generators --------------------------------------------------------

def test_missing_key_is_named(artistic, tmp_path):
    sd = dict(artistic["sd"])
    del sd["layers.5.conv2.3.gamma"], sd["layers.0.4.0.conv1.weight"]
    torch.save(sd, tmp_path / "ColorizeArtistic_gen.pth")
    with pytest.raises(InputError, match=r"artistic.*2 missing.*layers\.(0\.4\.0\.conv1\.weight|5\.conv2\.3"
                                         r"\.gamma).*ColorizeArtistic_gen\.pth from github\.com/jantic/DeOldify"):
        load_deoldify(tmp_path / "ColorizeArtistic_gen.pth")


def test_wrong_shape_is_named(artistic, tmp_path):
    sd = dict(artistic["sd"])
    sd["layers.11.0.weight_orig"] = torch.zeros(3, 300, 1, 1)  # the output conv of a narrower decoder
    torch.save(sd, tmp_path / "ColorizeArtistic_gen.pth")
    with pytest.raises(InputError, match=r"1 wrong shape \['layers\.11\.0\.weight_orig \(3, 300, 1, 1\) "
                                         r"\(expected \(3, 303, 1, 1\)\)'\]"):
        load_deoldify(tmp_path / "ColorizeArtistic_gen.pth")


def test_other_model_is_refused(tmp_path):
    torch.save({"block0.conv0.0.0.weight": torch.zeros(8, 7, 3, 3)}, tmp_path / "flownet.pth")
    with pytest.raises(InputError, match="not a DeOldify generator.*block0.conv0"):
        load_deoldify(tmp_path / "flownet.pth")


def test_code_in_a_fastai_wrapper_is_refused(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    wrapper = _fastai_wrapper({"layers.1.weight": torch.zeros(3)})
    wrapper["opt"]["hook"] = Evil()
    torch.save(wrapper, tmp_path / "ColorizeArtistic_gen.pth", _use_new_zipfile_serialization=False)
    with pytest.raises(UnsafeCheckpointError, match="refused"):
        load_deoldify(tmp_path / "ColorizeArtistic_gen.pth")
    assert not marker.exists()


# -- pre- and post-processing ------------------------------------------------------------------------------

def test_normalize_replicates_gray():
    gray = torch.rand(2, 1, 8, 8)
    x = deoldify_normalize(gray)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    assert x.shape == (2, 3, 8, 8) and torch.allclose(x * std + mean, gray.expand(-1, 3, -1, -1), atol=1e-6)
    with pytest.raises(InputError, match=r"\(B, 1 or 3, H, W\), got \(8, 8\)"):
        deoldify_normalize(torch.zeros(8, 8))


def test_postprocess_keeps_original_luma_and_resizes_chroma():
    """A flat sky-blue model output at render size over a full-size gray original: the result has the
    original's luma plus that blue's chroma everywhere (cv2 YUV constants)."""
    blue = torch.tensor([0.35, 0.55, 0.80], dtype=torch.float64)
    mean, std = torch.tensor(IMAGENET_MEAN, dtype=torch.float64), torch.tensor(IMAGENET_STD, dtype=torch.float64)
    raw = ((blue - mean) / std).view(1, 3, 1, 1).expand(1, 3, 16, 16).float()
    y = torch.linspace(0.3, 0.6, 40).view(1, 1, 1, 40).expand(1, 1, 24, 40)
    out = deoldify_postprocess(raw, y.expand(-1, 3, -1, -1))
    assert out.shape == (1, 3, 24, 40) and out.dtype == torch.float32
    yb = 0.299 * blue[0] + 0.587 * blue[1] + 0.114 * blue[2]
    u, v = 0.492 * (blue[2] - yb), 0.877 * (blue[0] - yb)
    want = torch.cat([y + 1.140 * v, y - 0.395 * u - 0.581 * v, y + 2.032 * u], dim=1).clamp(0, 1)
    assert torch.allclose(out, want.float(), atol=1e-5)
    assert float((out[:, 2] - out[:, 0]).min()) > 0.3  # blue, not the gray input
    with pytest.raises(InputError, match="same B"):
        deoldify_postprocess(raw, torch.zeros(2, 3, 24, 40))
