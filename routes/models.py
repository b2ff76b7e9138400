"""``/filmrestore/models``: the registry's models, present or missing, and downloads started from the page.

A download runs the same code as ``python -m filmrestore models download NAME`` (``model_loaders.download``)
in a worker thread, into the model's folder (ComfyUI's ``models/<folder>`` inside ComfyUI). Only registry
names are accepted: the URL, folder and file name always come from the registry, never from the request.
One download per model at a time, at most :data:`MAX_CONCURRENT` at once (the others wait, queued).

- ``GET /filmrestore/models`` -> ``{"models": [entry, ...]}``
- ``POST /filmrestore/models/download`` ``{"name": NAME}`` -> 202 and the job (409 while it runs)
- ``GET /filmrestore/models/download/{name}`` -> the job: state, bytes, speed, sha256 result, message
Bad requests get a 4xx JSON ``{"error": message}``.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from ..model_loaders import registry
from ..model_loaders.download import ChecksumError, DownloadError, download, verify
from ..model_loaders.folders import folders
from ..model_loaders.registry import ModelInfo

log = logging.getLogger(__name__)

MAX_CONCURRENT = 2
ACTIVE = ("queued", "downloading", "verifying")
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789.-_")


class RequestError(Exception):
    """A request the routes refuse: ``status`` (4xx) and a message for the page."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def lookup(name: Any) -> ModelInfo:
    """The registry entry named ``name`` exactly (a registry name, not a path); else 400 or 404."""
    if not isinstance(name, str) or not name:
        raise RequestError(400, f"a model name is a string such as 'realesr-general-x4v3', got {name!r}")
    if not set(name.lower()) <= _NAME_CHARS or ".." in name:
        raise RequestError(400, f"{name!r} is not a model name (no paths: the file and its folder come from "
                                f"the registry); see GET /filmrestore/models")
    for info in registry.MODELS:
        if info.name == name:
            return info
    raise RequestError(404, f"unknown model {name!r}; known models: "
                            f"{', '.join(m.name for m in registry.MODELS)}")


def downloadable(info: ModelInfo) -> bool:
    """False for models published only on pages (Google Drive, Baidu) that must be fetched by hand."""
    return bool(info.urls) and "#" not in info.urls[0]


def _checksum_failure(exc: DownloadError) -> bool:
    return isinstance(exc, ChecksumError)  # download() has deleted the file


@dataclass
class Job:
    """One model's download: what the page polls."""

    name: str
    state: str = "queued"  # queued, downloading, verifying, done, failed
    done_bytes: int = 0
    total_bytes: int | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    sha256: str | None = None  # ok, size-ok, unchecked, mismatch (as `models verify`)
    path: str | None = None
    message: str = ""

    def as_json(self) -> dict[str, Any]:
        end = self.finished if self.finished is not None else time.monotonic()
        elapsed = max(1e-6, end - self.started)
        return {"name": self.name, "state": self.state, "done_bytes": self.done_bytes,
                "total_bytes": self.total_bytes, "bytes_per_s": round(self.done_bytes / elapsed),
                "elapsed_s": round(elapsed, 1), "sha256": self.sha256, "path": self.path, "message": self.message}


class Downloads:
    """The running and finished downloads, one per model; a small thread pool bounds how many run at once."""

    def __init__(self, max_concurrent: int = MAX_CONCURRENT):
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="filmrestore-download")

    def get(self, name: str) -> Job | None:
        with self._lock:
            return self._jobs.get(name)

    def start(self, info: ModelInfo) -> Job:
        """Queue ``info``'s download; RequestError 409 while one runs, 400 for a by-hand model."""
        if not downloadable(info):
            raise RequestError(400, f"{info.name} cannot be downloaded from here: {info.notes or 'by hand'}; "
                                    f"get {info.filename} from {info.urls[0]} into {folders(info.folder)[0]}")
        with self._lock:
            job = self._jobs.get(info.name)
            if job is not None and job.state in ACTIVE:
                raise RequestError(409, f"{info.name} is already downloading ({job.state}): wait for it, "
                                        f"see GET /filmrestore/models/download/{info.name}")
            job = self._jobs[info.name] = Job(info.name)
        self._pool.submit(self._run, info, job)
        return job

    def _run(self, info: ModelInfo, job: Job) -> None:
        folder = folders(info.folder)[0]
        if Path(info.filename).name != info.filename:  # a registry entry must name a file, not a path
            self._fail(job, f"registry entry {info.name} names {info.filename!r}, not a file name")
            return
        job.state = "downloading"

        def progress(done: int, total: int | None) -> None:
            job.done_bytes, job.total_bytes = done, total
        try:
            path = download(info, folder=folder, progress=progress)
            job.state = "verifying"
            job.sha256, job.path = verify(info, path), str(path)
        except DownloadError as exc:
            job.sha256 = "mismatch" if _checksum_failure(exc) else None
            self._fail(job, str(exc))
            return
        except Exception as exc:  # a bug or an OS error: on the page and in the server log with its traceback
            log.exception("downloading %s failed", info.name)
            self._fail(job, f"{type(exc).__name__}: {exc}")
            return
        job.message = f"saved {path}" + (f" ({info.license}: non-commercial use only)" if info.non_commercial
                                          else "")
        job.finished, job.state = time.monotonic(), "done"

    @staticmethod
    def _fail(job: Job, message: str) -> None:
        job.message, job.finished, job.state = message, time.monotonic(), "failed"


def model_entry(info: ModelInfo, job: Job | None) -> dict[str, Any]:
    """What the models panel shows for one registry model (no hashing here: that is the download's job)."""
    searched = folders(info.folder)
    present = next((f / info.filename for f in searched if (f / info.filename).is_file()), None)
    return {
        "name": info.name, "filename": info.filename, "purpose": info.purpose, "architecture": info.architecture,
        "folder": info.folder, "target": str(searched[0]), "present": present is not None,
        "path": str(present) if present else None, "file_size": present.stat().st_size if present else None,
        "size": info.size, "checksum": "sha256" if info.sha256 else ("size" if info.size else None),
        "license": info.license, "non_commercial": info.non_commercial, "source": info.urls[0] if info.urls else "",
        "downloadable": downloadable(info), "notes": info.notes, "download": job.as_json() if job else None,
    }


def _error(exc: RequestError) -> web.Response:
    return web.json_response({"error": str(exc)}, status=exc.status)


def add_routes(routes: web.RouteTableDef, downloads: Downloads | None = None) -> Downloads:
    """Add the models routes to ``routes``; returns the download table they use (tests read it)."""
    jobs = downloads or Downloads()

    @routes.get("/filmrestore/models")
    async def list_models(request: web.Request) -> web.Response:
        return web.json_response({"models": [model_entry(m, jobs.get(m.name)) for m in registry.MODELS],
                                  "max_concurrent": MAX_CONCURRENT})

    @routes.post("/filmrestore/models/download")
    async def start_download(request: web.Request) -> web.Response:
        try:
            try:
                body = await request.json()
            except ValueError:
                raise RequestError(400, 'send JSON {"name": MODEL} (see GET /filmrestore/models)') from None
            if not isinstance(body, dict) or set(body) != {"name"}:
                got = sorted(body) if isinstance(body, dict) else type(body).__name__
                raise RequestError(400, f'send exactly {{"name": MODEL}}, got {got}: the URL and the folder '
                                        f'come from the registry, never from the request')
            job = jobs.start(lookup(body["name"]))
        except RequestError as exc:
            return _error(exc)
        return web.json_response(job.as_json(), status=202)

    @routes.get("/filmrestore/models/download/{name}")
    async def download_status(request: web.Request) -> web.Response:
        try:
            info = lookup(request.match_info["name"])
        except RequestError as exc:
            return _error(exc)
        job = jobs.get(info.name)
        return web.json_response(job.as_json() if job else {"name": info.name, "state": "idle"})

    return jobs
