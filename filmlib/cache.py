"""The chunk cache: computed frame chunks kept in memory (LRU) and on disk (LRU), both with byte budgets.

Disk entries are safetensors files written to a temporary name and renamed into place, with a CRC-32 of the
payload in their metadata, so a truncated or corrupt file is detected (and deleted, then recomputed) instead
of used. Keys are content signatures, so entries survive restarts: re-running a graph reuses every chunk
whose stage, parameters and inputs are unchanged, and an interrupted run resumes where it stopped.

Configuration: ``FILMRESTORE_CACHE`` (folder), ``FILMRESTORE_CACHE_RAM`` and ``FILMRESTORE_CACHE_DISK``
(budgets such as ``512M`` or ``20G``; ``0`` disables that level).
"""
from __future__ import annotations

import logging
import os
import threading
import time
import zlib
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import CacheError

log = logging.getLogger(__name__)

DEFAULT_RAM_BYTES = 1 << 30          # 1 GiB: comfortable on an 8 GiB laptop
DEFAULT_DISK_BYTES = 20 << 30        # 20 GiB: about 40 minutes of 720p gray per stage
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_bytes(text: str | int) -> int:
    """``"512M"`` -> 536870912. Accepts plain integers and K/M/G/T suffixes (optionally followed by B)."""
    if isinstance(text, int):
        return text
    s = str(text).strip().upper().removesuffix("IB").removesuffix("B") if str(text).strip() else ""
    num, unit = s, ""
    if s and s[-1] in _UNITS:
        num, unit = s[:-1], s[-1]
    try:
        value = float(num)
    except ValueError:
        raise CacheError(f"cannot read the byte size {text!r}: use a number with an optional K, M, G or T "
                         f"suffix, e.g. 512M or 20G") from None
    if value < 0:
        raise CacheError(f"a byte budget cannot be negative, got {text!r}")
    return int(value * _UNITS[unit])


def user_cache_base() -> Path:
    """``$XDG_CACHE_HOME/filmrestore`` or ``~/.cache/filmrestore``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "filmrestore"


def default_cache_dir() -> Path:
    env = os.environ.get("FILMRESTORE_CACHE")
    return Path(env).expanduser() if env else user_cache_base() / "chunks"


@dataclass
class CacheStats:
    """What happened since the process started: frames computed per stage, hits and misses."""

    computed: Counter = field(default_factory=Counter)
    memory_hits: int = 0
    disk_hits: int = 0
    misses: int = 0
    corrupt: int = 0

    def count(self, stage: str, frames: int) -> None:
        self.computed[stage] += frames

    def reset(self) -> None:
        self.computed.clear()
        self.memory_hits = self.disk_hits = self.misses = self.corrupt = 0


class ChunkCache:
    """Two-level LRU cache of frame chunks keyed by content signature."""

    def __init__(self, folder: str | os.PathLike | None = None, ram_bytes: int | str | None = None,
                 disk_bytes: int | str | None = None):
        self.folder = Path(folder) if folder is not None else default_cache_dir()
        self.ram_bytes = parse_bytes(ram_bytes if ram_bytes is not None
                                     else os.environ.get("FILMRESTORE_CACHE_RAM", DEFAULT_RAM_BYTES))
        self.disk_bytes = parse_bytes(disk_bytes if disk_bytes is not None
                                      else os.environ.get("FILMRESTORE_CACHE_DISK", DEFAULT_DISK_BYTES))
        self.stats = CacheStats()
        self._mem: OrderedDict[str, np.ndarray] = OrderedDict()
        self._mem_used = 0
        self._disk_used: int | None = None  # measured lazily on the first write
        self._lock = threading.RLock()

    # -- memory level -------------------------------------------------------------------------------
    def _mem_get(self, key: str) -> np.ndarray | None:
        with self._lock:
            arr = self._mem.get(key)
            if arr is not None:
                self._mem.move_to_end(key)
            return arr

    def _mem_put(self, key: str, arr: np.ndarray) -> None:
        if arr.nbytes > self.ram_bytes:
            return
        with self._lock:
            old = self._mem.pop(key, None)
            if old is not None:
                self._mem_used -= old.nbytes
            arr = arr.copy() if arr.flags.writeable else arr
            arr.setflags(write=False)
            self._mem[key] = arr
            self._mem_used += arr.nbytes
            while self._mem_used > self.ram_bytes and self._mem:
                _, dropped = self._mem.popitem(last=False)
                self._mem_used -= dropped.nbytes

    # -- disk level ---------------------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.safetensors"

    def _disk_get(self, key: str) -> np.ndarray | None:
        path = self._path(key)
        if not path.exists():
            return None
        try:
            from safetensors import safe_open
            with safe_open(str(path), framework="numpy") as f:
                meta = f.metadata() or {}
                arr = f.get_tensor("frames")
            if meta.get("crc32") != str(zlib.crc32(memoryview(np.ascontiguousarray(arr)).cast("B"))):
                raise ValueError("checksum mismatch")
        except Exception as exc:  # a truncated or corrupt entry: drop it and recompute, never use it
            self.stats.corrupt += 1
            log.warning("cache entry %s is corrupt (%s); it will be recomputed", path, exc)
            path.unlink(missing_ok=True)
            return None
        try:
            os.utime(path)  # mark as recently used for LRU eviction
        except OSError:
            pass
        return arr

    def _disk_put(self, key: str, arr: np.ndarray) -> None:
        if self.disk_bytes <= 0 or arr.nbytes > self.disk_bytes:
            return
        from safetensors.numpy import save_file
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        data = np.ascontiguousarray(arr)
        try:
            save_file({"frames": data}, str(tmp),
                      metadata={"crc32": str(zlib.crc32(memoryview(data).cast("B")))})
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        with self._lock:
            if self._disk_used is None:
                self._disk_used = self._measure_disk()
            else:
                self._disk_used += path.stat().st_size
            if self._disk_used > self.disk_bytes:
                self._evict_disk()

    def _entries(self) -> list[tuple[float, int, Path]]:
        out = []
        if not self.folder.exists():
            return out
        for p in self.folder.glob("*/*.safetensors"):
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            out.append((st.st_mtime, st.st_size, p))
        return out

    def _measure_disk(self) -> int:
        return sum(size for _, size, _ in self._entries())

    def _evict_disk(self) -> None:
        entries = sorted(self._entries())
        total = sum(size for _, size, _ in entries)
        target = int(self.disk_bytes * 0.9)  # evict a little more, so we do not rescan on every write
        for _, size, path in entries:
            if total <= target:
                break
            path.unlink(missing_ok=True)
            total -= size
        self._disk_used = total

    # -- public -------------------------------------------------------------------------------------
    def get(self, key: str, disk: bool = True) -> np.ndarray | None:
        """The cached chunk for ``key`` (read-only array) or None."""
        arr = self._mem_get(key)
        if arr is not None:
            self.stats.memory_hits += 1
            return arr
        if disk:
            arr = self._disk_get(key)
            if arr is not None:
                self.stats.disk_hits += 1
                self._mem_put(key, arr)
                return self._mem_get(key) if self._mem_get(key) is not None else arr
        self.stats.misses += 1
        return None

    def put(self, key: str, arr: np.ndarray, disk: bool = True) -> None:
        """Store a chunk in memory and, when ``disk``, atomically on disk."""
        if disk:
            self._disk_put(key, arr)
        self._mem_put(key, arr)

    def clear_memory(self) -> None:
        with self._lock:
            self._mem.clear()
            self._mem_used = 0

    def clear(self) -> int:
        """Delete every entry in memory and on disk; returns bytes freed on disk."""
        self.clear_memory()
        freed = 0
        for _, size, path in self._entries():
            path.unlink(missing_ok=True)
            freed += size
        for tmp in self.folder.glob("*/.*.tmp") if self.folder.exists() else []:
            tmp.unlink(missing_ok=True)
        self._disk_used = 0
        return freed

    def info(self) -> dict:
        """Folder, budgets and current usage."""
        entries = self._entries()
        return {"folder": str(self.folder), "disk_entries": len(entries),
                "disk_bytes": sum(s for _, s, _ in entries), "disk_budget": self.disk_bytes,
                "memory_entries": len(self._mem), "memory_bytes": self._mem_used,
                "memory_budget": self.ram_bytes, "oldest_entry_age_s":
                    (time.time() - min(m for m, _, _ in entries)) if entries else None}


_default: ChunkCache | None = None


def default_cache() -> ChunkCache:
    """The process-wide cache, created from the environment on first use."""
    global _default
    if _default is None:
        _default = ChunkCache()
    return _default


def configure_cache(folder: str | os.PathLike | None = None, ram_bytes: int | str | None = None,
                    disk_bytes: int | str | None = None) -> ChunkCache:
    """Replace the process-wide cache (CLI flags and tests)."""
    global _default
    _default = ChunkCache(folder, ram_bytes, disk_bytes)
    return _default
