"""Explicit model downloads: resume, progress, sha256 check, atomic rename. Nodes never call this."""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from ..filmlib.errors import FilmRestoreError
from .folders import folders
from .registry import ModelInfo

CHUNK = 1 << 20


class DownloadError(FilmRestoreError):
    """A download failed or produced a file with the wrong checksum."""


class ChecksumError(DownloadError):
    """The downloaded file's size or sha256 differs from the published one (the file was deleted)."""


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def download(info: ModelInfo, folder: Path | None = None, url: str | None = None,
             progress: Callable[[int, int | None], None] | None = None, timeout: float = 60.0) -> Path:
    """Fetch ``info`` into its models folder; a partial ``.part`` file is resumed with an HTTP Range request."""
    folder = folder or folders(info.folder)[0]
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / info.filename
    if target.exists():
        return target
    part = folder / f".{info.filename}.part"
    urls = [url] if url else list(info.urls)
    last: Exception | None = None
    for u in urls:
        try:
            _fetch(u, part, progress, timeout)
            break
        except (urllib.error.URLError, OSError, DownloadError) as exc:
            last = exc
    else:
        raise DownloadError(f"could not download {info.name} from {', '.join(urls)} ({last}); the partial file "
                            f"{part} is kept and the next attempt resumes it")
    if info.size is not None and part.stat().st_size != info.size:
        got = part.stat().st_size
        part.unlink(missing_ok=True)
        raise ChecksumError(f"{info.filename}: got {got} bytes, but the published file has {info.size}; the file "
                            f"was deleted. Try again, or report a changed upstream file")
    if info.sha256:
        digest = sha256_of(part)
        if digest != info.sha256:
            part.unlink(missing_ok=True)
            raise ChecksumError(f"{info.filename}: sha256 {digest} does not match the published {info.sha256}; "
                                f"the file was deleted. Try again, or report a changed upstream file")
    os.replace(part, target)
    return target


def _fetch(url: str, part: Path, progress: Callable[[int, int | None], None] | None, timeout: float) -> None:
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # already complete
            return
        raise DownloadError(f"HTTP {exc.code} from {url}") from exc
    with resp:
        resumed = resp.status == 206
        if have and not resumed:
            have = 0  # the server ignored the range: start over
        length = resp.headers.get("Content-Length")
        total = (int(length) + have) if length is not None else None
        with open(part, "ab" if resumed else "wb") as f:
            done = have
            while True:
                block = resp.read(CHUNK)
                if not block:
                    break
                f.write(block)
                done += len(block)
                if progress:
                    progress(done, total)
        if total is not None and done < total:
            raise DownloadError(f"connection closed after {done} of {total} bytes from {url}")


def verify(info: ModelInfo, path: Path) -> str:
    """For a present file: "ok" (sha256 matches), "size-ok" (no published sha256, the published size
    matches), "mismatch" (wrong size or sha256) or "unchecked" (neither is published)."""
    if info.size is not None and path.stat().st_size != info.size:
        return "mismatch"  # a cut-short download shows here without hashing it
    if info.sha256:
        return "ok" if sha256_of(path) == info.sha256 else "mismatch"
    return "size-ok" if info.size is not None else "unchecked"
