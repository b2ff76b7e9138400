"""The models routes on a real aiohttp server: a registry entry pointed at a local HTTP server (no internet)
downloads into its registry folder with the sha256 checked (good and bad), unknown names are 404, names that
are paths or requests that carry a URL are refused, and one model downloads once at a time."""
from __future__ import annotations

import asyncio
import hashlib
import http.server
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from filmrestore.model_loaders import download as download_mod
from filmrestore.model_loaders import registry
from filmrestore.routes import models as models_routes
from conftest import with_pack_routes

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB: a few progress updates


class _Slow(http.server.SimpleHTTPRequestHandler):
    """Serves the fake model file in small blocks with a pause, so a second request meets a running job."""

    pause = 0.0

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path != "/fake.pth":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        for i in range(0, len(PAYLOAD), 1 << 18):
            self.wfile.write(PAYLOAD[i:i + (1 << 18)])
            time.sleep(self.pause)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server: str):
    """Two registry entries served locally (sha256 right / wrong) plus a by-hand one; models in tmp."""
    monkeypatch.setenv("FILMRESTORE_MODELS", str(tmp_path / "models"))
    base = registry.MODELS[0]
    good = replace(base, name="fake-good", filename="fake_good.pth", urls=(f"{http_server}/fake.pth",),
                   sha256=hashlib.sha256(PAYLOAD).hexdigest(), size=len(PAYLOAD))
    bad = replace(good, name="fake-bad", filename="fake_bad.pth", sha256="0" * 64, size=None)
    nc = replace(good, name="fake-nc", filename="fake_nc.pth", sha256=None, size=None, license="CC BY-NC-SA 4.0",
                 non_commercial=True)
    hand = next(m for m in registry.MODELS if "#" in m.urls[0])
    monkeypatch.setattr(registry, "MODELS", (good, bad, nc, hand))
    return tmp_path / "models" / base.folder


def call(fn) -> Any:
    """Run ``fn(client)`` against an app holding the pack's routes, as ComfyUI's server would."""
    return with_pack_routes(fn)


async def wait_done(client: TestClient, name: str, timeout: float = 20.0) -> dict:
    end = time.monotonic() + timeout
    seen = []
    while time.monotonic() < end:
        job = await (await client.get(f"/filmrestore/models/download/{name}")).json()
        seen.append(job)
        if job["state"] in ("done", "failed"):
            job["seen"] = seen
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} did not finish: {seen[-1]}")


def test_list_shows_presence_licence_and_where_files_go(fake_registry: Path) -> None:
    fake_registry.mkdir(parents=True)
    (fake_registry / "fake_nc.pth").write_bytes(b"x" * 10)

    async def go(client: TestClient) -> dict:
        return await (await client.get("/filmrestore/models")).json()
    rows = {m["name"]: m for m in call(go)["models"]}
    assert list(rows) == ["fake-good", "fake-bad", "fake-nc", registry.MODELS[3].name]
    assert rows["fake-nc"]["present"] and rows["fake-nc"]["file_size"] == 10
    assert rows["fake-nc"]["non_commercial"] and rows["fake-nc"]["license"] == "CC BY-NC-SA 4.0"
    assert not rows["fake-good"]["present"] and rows["fake-good"]["checksum"] == "sha256"
    assert rows["fake-good"]["target"] == str(fake_registry)
    hand = rows[registry.MODELS[3].name]
    assert not hand["downloadable"] and hand["checksum"] is None


def test_download_lands_in_the_registry_folder_with_sha256_checked(fake_registry: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _Slow.pause = 0.03
    monkeypatch.setattr(download_mod, "CHUNK", 1 << 16)  # progress per 64 KiB read, not per MiB

    async def go(client: TestClient) -> tuple:
        r = await client.post("/filmrestore/models/download", json={"name": "fake-good"})
        again = await client.post("/filmrestore/models/download", json={"name": "fake-good"})
        return r.status, await r.json(), again.status, await again.json(), await wait_done(client, "fake-good")
    status, first, again_status, again, job = call(go)
    assert status == 202 and first["state"] in ("queued", "downloading")
    assert again_status == 409 and "already downloading" in again["error"]   # one download per model
    assert job["state"] == "done" and job["sha256"] == "ok", job
    assert (fake_registry / "fake_good.pth").read_bytes() == PAYLOAD
    assert job["path"] == str(fake_registry / "fake_good.pth")
    assert any(0 < s["done_bytes"] < len(PAYLOAD) for s in job["seen"])     # progress visible while it runs
    assert not list(fake_registry.glob(".*.part"))


def test_wrong_sha256_fails_and_deletes_the_file(fake_registry: Path) -> None:
    _Slow.pause = 0.0

    async def go(client: TestClient) -> dict:
        await client.post("/filmrestore/models/download", json={"name": "fake-bad"})
        return await wait_done(client, "fake-bad")
    job = call(go)
    assert job["state"] == "failed" and job["sha256"] == "mismatch"
    assert "does not match" in job["message"]
    assert not (fake_registry / "fake_bad.pth").exists() and not list(fake_registry.glob(".*"))


def test_unpublished_checksum_is_reported_unchecked_and_non_commercial(fake_registry: Path) -> None:
    _Slow.pause = 0.0

    async def go(client: TestClient) -> dict:
        await client.post("/filmrestore/models/download", json={"name": "fake-nc"})
        return await wait_done(client, "fake-nc")
    job = call(go)
    assert job["state"] == "done" and job["sha256"] == "unchecked"
    assert "non-commercial" in job["message"]


@pytest.mark.parametrize("name, status", [
    ("no-such-model", 404), ("../../etc/passwd", 400), ("..", 400), ("/etc/passwd", 400),
    ("fake_good.pth/../../x", 400), ("fake_good.pth", 404), ("", 400), (7, 400)])
def test_bad_names_are_refused_with_a_message(fake_registry: Path, name: Any, status: int) -> None:
    async def go(client: TestClient) -> tuple:
        r = await client.post("/filmrestore/models/download", json={"name": name})
        return r.status, await r.json()
    got, body = call(go)
    assert got == status and body["error"]
    assert not fake_registry.exists()  # nothing was written anywhere


def test_a_url_or_folder_in_the_request_is_refused(fake_registry: Path, http_server: str) -> None:
    async def go(client: TestClient) -> list:
        out = []
        for body in ({"name": "fake-good", "url": f"{http_server}/fake.pth"}, {"name": "fake-good", "folder": "/tmp"},
                     ["fake-good"]):
            r = await client.post("/filmrestore/models/download", json=body)
            out.append((r.status, (await r.json())["error"]))
        r = await client.post("/filmrestore/models/download", data=b"not json")
        out.append((r.status, (await r.json())["error"]))
        r = await client.get("/filmrestore/models/download/..%2F..%2Fetc")
        out.append((r.status, (await r.json())["error"] if r.status < 500 else ""))
        return out
    results = call(go)
    assert [s for s, _ in results] == [400, 400, 400, 400, 400], results
    assert "never from the request" in results[0][1]
    assert not fake_registry.exists()


def test_a_by_hand_model_says_where_to_get_it(fake_registry: Path) -> None:
    hand = registry.MODELS[3]

    async def go(client: TestClient) -> tuple:
        r = await client.post("/filmrestore/models/download", json={"name": hand.name})
        s = await client.get(f"/filmrestore/models/download/{hand.name}")
        return r.status, await r.json(), await s.json()
    status, body, idle = call(go)
    assert status == 400 and hand.urls[0] in body["error"] and hand.filename in body["error"]
    assert idle == {"name": hand.name, "state": "idle"}


def test_downloads_run_at_most_max_concurrent_at_once(fake_registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    running, peak, lock = [0], [0], threading.Lock()

    def slow_download(info, folder, progress):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        raise models_routes.DownloadError("test: no network")
    monkeypatch.setattr(models_routes, "download", slow_download)
    jobs = models_routes.Downloads(max_concurrent=2)
    for info in registry.MODELS[:3]:
        jobs.start(info)
    assert [jobs.get(m.name).state for m in registry.MODELS[:3]].count("queued") >= 1
    deadline = time.monotonic() + 5
    while any(jobs.get(m.name).state != "failed" for m in registry.MODELS[:3]) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert peak[0] == 2
    assert all(jobs.get(m.name).message == "test: no network" for m in registry.MODELS[:3])
