"""The model layer: spandrel checkpoints built here at random init, saved in every wrapper, loaded safely
through the registry and the nodes; refused pickles; downloads against a local server; tiling."""
from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from filmrestore.filmlib.clip import ArrayFilm
from filmrestore.model_loaders.checkpoint import UnsafeCheckpointError, convert, load_state_dict
from filmrestore.model_loaders.download import DownloadError, download
from filmrestore.model_loaders.folders import ModelNotFoundError, find_model
from filmrestore.model_loaders.registry import ModelInfo
from filmrestore.model_loaders.spandrel_models import image_model, load_descriptor
from filmrestore.model_loaders.tiling import tiled_forward
from filmrestore.nodes.restore_nodes import FilmDeblur, FilmUpscale
from conftest import moving_frames


def compact(scale: int = 2, seed: int = 0):
    from spandrel.architectures.Compact import Compact
    torch.manual_seed(seed)
    return Compact(num_in_ch=3, num_out_ch=3, num_feat=16, num_conv=4, upscale=scale).eval()


def rrdb(scale: int = 4):
    from spandrel.architectures.ESRGAN import ESRGAN
    torch.manual_seed(1)
    return ESRGAN(in_nc=3, out_nc=3, num_filters=16, num_blocks=1, scale=scale).eval()


def nafnet():
    from spandrel.architectures.NAFNet import NAFNet
    torch.manual_seed(2)
    return NAFNet(img_channel=3, width=8, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1]).eval()


def save(net, path: Path, wrapper: str) -> Path:
    sd = net.state_dict()
    if wrapper == "safetensors":
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    elif wrapper == "params_ema":
        torch.save({"params_ema": sd}, path)
    elif wrapper == "module":
        torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}}, path)
    else:
        torch.save(sd, path)
    return path


@pytest.mark.parametrize("build", [compact, rrdb, nafnet])
@pytest.mark.parametrize("wrapper", ["plain", "params_ema", "module", "safetensors"])
def test_checkpoints_load_in_every_wrapper_and_match_the_network(models_dir, build, wrapper):
    net = build()
    ext = ".safetensors" if wrapper == "safetensors" else ".pth"
    path = save(net, models_dir / f"net_{wrapper}{ext}", wrapper)
    model = image_model("upscale_models", path.name, device="cpu", tile=0)
    x = torch.rand(1, 3, 24, 32)
    with torch.no_grad():
        expected = net(x).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    ours = model(x.permute(0, 2, 3, 1).numpy())
    assert np.abs(ours - expected).max() < 1e-5


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(2), "payload": Evil()}, path)
    with pytest.raises(UnsafeCheckpointError, match="refused"):
        load_state_dict(path)
    assert not marker.exists()


def test_missing_model_names_file_folder_and_source(models_dir):
    with pytest.raises(ModelNotFoundError) as err:
        find_model("upscale_models", "RealESRGAN_x4plus.pth")
    msg = str(err.value)
    assert "RealESRGAN_x4plus.pth" in msg and str(models_dir) in msg and "models download realesrgan-x4plus" in msg


def test_convert_writes_a_safetensors_copy_that_loads_the_same(models_dir):
    path = save(compact(), models_dir / "c.pth", "params_ema")
    out = convert(path)
    assert out.suffix == ".safetensors"
    a, b = load_state_dict(path), load_state_dict(out)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_nested_multi_model_checkpoint_converts_and_picks_a_model(tmp_path):
    nets = {"modelR": compact(seed=1).state_dict(), "modelC": compact(seed=2).state_dict()}
    torch.save(nets, tmp_path / "two.pth.tar")
    out = convert(tmp_path / "two.pth.tar", tmp_path / "two.safetensors")
    for key in nets:
        sd = load_state_dict(out, key=key)
        assert all(torch.equal(sd[k], nets[key][k]) for k in sd)


class _Receptive:
    """A model with a known receptive field: 3 chained 3x3 box blurs (radius 3), then nearest 2x upsampling."""

    calls = 0
    fail_above = None

    def __call__(self, x):
        _Receptive.calls += 1
        if self.fail_above and x.shape[-1] * x.shape[-2] > self.fail_above:
            raise torch.OutOfMemoryError("fake out of memory")
        k = torch.ones(x.shape[1], 1, 3, 3) / 9
        for _ in range(3):
            x = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate"), k,
                                           groups=x.shape[1])
        return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")


def test_tiled_equals_untiled_when_the_receptive_field_fits_the_overlap():
    x = torch.rand(2, 3, 70, 95)
    model = _Receptive()
    whole = model(x)
    tiled = tiled_forward(model, x, 2, tile=32, overlap=8)
    assert torch.allclose(tiled, whole, atol=1e-6)


def test_out_of_memory_halves_the_tile_and_retries():
    x = torch.rand(1, 3, 64, 64)
    model = _Receptive()
    model.fail_above = 40 * 40
    whole = _Receptive()(x)
    out = tiled_forward(model, x, 2, tile=64, overlap=4, min_tile=8)
    assert torch.allclose(out, whole, atol=1e-6)


def test_upscale_node_with_a_model_file_and_with_a_loaded_model(models_dir):
    save(compact(scale=2), models_dir / "c2.pth", "plain")
    film = ArrayFilm(moving_frames(3, 24, 32, channels=1), Fraction(24))
    (out,) = FilmUpscale().upscale(film, "model", 2.0, 0, "c2.pth", 1.0, 0, "cpu", "auto")
    assert (out.info.width, out.info.height, out.info.channels) == (64, 48, 1)
    desc = load_descriptor(models_dir / "c2.pth")
    (out2,) = FilmUpscale().upscale(film, "model", 2.0, 0, "none", 1.0, 0, "cpu", "auto", upscale_model=desc)
    assert np.array_equal(out.read(0, 3), out2.read(0, 3))
    (tall,) = FilmUpscale().upscale(film, "model", 1.0, 36, "c2.pth", 1.0, 0, "cpu", "auto")
    assert (tall.info.width, tall.info.height) == (48, 36)   # the 2x model overshoots: area-filtered down


def test_deblur_node_with_a_restoration_model(models_dir):
    save(nafnet(), models_dir / "naf.safetensors", "safetensors")
    film = ArrayFilm(moving_frames(2, 32, 32), Fraction(24))
    (out,) = FilmDeblur().deblur(film, "model", 1.0, 0.0, 10, "naf.safetensors", 0, "cpu", "auto")
    assert out.read(0, 2).shape == (2, 32, 32, 3)
    save(compact(scale=2), models_dir / "c2.pth", "plain")
    with pytest.raises(Exception, match="1x restoration model"):
        FilmDeblur().deblur(film, "model", 1.0, 0.0, 10, "c2.pth", 0, "cpu", "auto")


def test_general_x4v3_denoise_strength_blends_with_its_wdn_twin(models_dir):
    save(compact(scale=4, seed=3), models_dir / "realesr-general-x4v3.pth", "params")
    save(compact(scale=4, seed=4), models_dir / "realesr-general-wdn-x4v3.pth", "params")
    frames = np.random.default_rng(0).random((1, 16, 16, 3)).astype(np.float32)
    full = image_model("upscale_models", "realesr-general-x4v3.pth", device="cpu", tile=0)(frames)
    half = image_model("upscale_models", "realesr-general-x4v3.pth", device="cpu", tile=0, denoise_strength=0.5)(frames)
    assert np.abs(full - half).max() > 1e-3


# -- downloads against a local server ---------------------------------------------------------------------
class LocalServer:
    """An aiohttp server on 127.0.0.1 serving bytes with Range support; can cut a response short."""

    def __init__(self, payload: bytes, cut_after: int | None = None):
        self.payload, self.cut_after, self.ranges = payload, cut_after, []

    async def handler(self, request):
        from aiohttp import web
        rng = request.headers.get("Range")
        self.ranges.append(rng)
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        body = self.payload[start:]
        resp = web.StreamResponse(status=206 if rng else 200)
        resp.content_length = len(body)
        await resp.prepare(request)
        if self.cut_after is not None and start == 0:
            await resp.write(body[: self.cut_after])
            request.transport.close()  # the connection drops mid-file
            return resp
        await resp.write(body)
        return resp

    def __enter__(self):
        from aiohttp import web
        self.loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_get("/{name}", self.handler)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


def _info(payload: bytes, sha: str | None = None) -> ModelInfo:
    return ModelInfo("test-model", "test.pth", "upscale", "upscale_models", "spandrel", ("unused",), "MIT",
                     sha256=sha or hashlib.sha256(payload).hexdigest(), size=len(payload))


def test_download_checks_sha256_and_renames_atomically(tmp_path):
    payload = os.urandom(3 << 20)
    with LocalServer(payload) as srv:
        path = download(_info(payload), tmp_path / "dl", url=srv.url("test.pth"))
    assert path.read_bytes() == payload and [p.name for p in (tmp_path / "dl").iterdir()] == ["test.pth"]


def test_download_with_a_wrong_checksum_is_deleted_and_reported(tmp_path):
    payload = os.urandom(1 << 20)
    with LocalServer(payload) as srv:
        with pytest.raises(DownloadError, match="does not match"):
            download(_info(payload, sha="0" * 64), tmp_path / "dl", url=srv.url("test.pth"))
    assert list((tmp_path / "dl").iterdir()) == []


def test_interrupted_download_resumes_with_a_range_request(tmp_path):
    payload = os.urandom(3 << 20)
    folder = tmp_path / "dl"
    with LocalServer(payload, cut_after=1 << 20) as srv:
        with pytest.raises(DownloadError):
            download(_info(payload), folder, url=srv.url("test.pth"), timeout=10)
        part = folder / ".test.pth.part"
        have = part.stat().st_size
        assert 0 < have < len(payload)
        path = download(_info(payload), folder, url=srv.url("test.pth"), timeout=10)
        assert srv.ranges[-1] == f"bytes={have}-"
    assert path.read_bytes() == payload
