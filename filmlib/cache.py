"""The chunk cache: computed frame chunks kept in memory (LRU) and on disk (LRU), both with byte budgets.

Disk entries are safetensors files written to a temporary name and renamed into place. Each records its key,
shape and dtype, and a CRC-32 over those and the payload, so a truncated, edited or swapped file is detected
(warned, deleted, recomputed) instead of used. Keys are content signatures, so entries survive restarts:
re-running a graph reuses every chunk whose stage, parameters and inputs are unchanged, and an interrupted run
resumes where it stopped.

The cache only ever touches what it wrote: a folder it uses holds a marker file (``MARKER``), entries are named
``<key[:2]>/<key>.safetensors``, and a non-empty folder without the marker is refused, never cleared. The cache
is an optimisation: when the disk level cannot be used (full disk, read-only, a file in the way) it warns once
and the run goes on without it.

Configuration: ``FILMRESTORE_CACHE`` (folder), ``FILMRESTORE_CACHE_RAM`` and ``FILMRESTORE_CACHE_DISK``
(budgets such as ``512M`` or ``20G``; ``0`` disables that level).
"""
from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
import zlib
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import CacheError
from .io.output_path import pid_alive

log = logging.getLogger(__name__)

DEFAULT_RAM_BYTES = 1 << 30          # 1 GiB: comfortable on an 8 GiB laptop
DEFAULT_DISK_BYTES = 20 << 30        # 20 GiB: about 40 minutes of 720p gray per stage
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
MARKER = "FILMRESTORE_CACHE.txt"
_MARKER_TEXT = ("This folder is a filmrestore chunk cache. `python -m filmrestore cache clear` deletes the\n"
                "<xx>/<key>.safetensors chunk files in it and nothing else. Delete this file and the cache\n"
                "will refuse to use or clear the folder.\n")
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TMP = re.compile(r"\.(?P<key>[A-Za-z0-9][A-Za-z0-9_.-]*)\.safetensors\.(?P<pid>\d+)\.\d+\.tmp$")
ENTRY_FORMAT = "filmrestore-chunk-2"


def parse_bytes(text: str | int, name: str = "byte size") -> int:
    """``"512M"`` -> 536870912. Accepts plain integers and K/M/G/T suffixes (optionally followed by B).

    ``name`` (a flag or variable such as ``--cache-disk``) is named in the error message.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        value: float = text
    else:
        s = str(text).strip().upper().removesuffix("IB").removesuffix("B") if str(text).strip() else ""
        num, unit = s, ""
        if s and s[-1] in _UNITS:
            num, unit = s[:-1], s[-1]
        try:
            value = float(num) * _UNITS[unit]
        except ValueError:
            raise CacheError(f"{name}: cannot read the byte size {text!r}: use a number with an optional K, M, G "
                             f"or T suffix, e.g. 512M or 20G") from None
    if not math.isfinite(value):
        raise CacheError(f"{name}: {text!r} is not a finite byte size; use e.g. 512M or 20G (0 turns it off)")
    if value < 0:
        raise CacheError(f"{name}: a byte budget cannot be negative, got {text!r}; use 0 to turn it off")
    return int(value)


def user_cache_base() -> Path:
    """``$XDG_CACHE_HOME/filmrestore`` or ``~/.cache/filmrestore``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "filmrestore"


def default_cache_dir() -> Path:
    env = os.environ.get("FILMRESTORE_CACHE")
    return Path(env).expanduser() if env else user_cache_base() / "chunks"


def _checksum(key: str, arr: np.ndarray) -> str:
    """CRC-32 over the key, shape, dtype and payload: a swapped or edited entry fails it."""
    head = f"{key}\n{','.join(map(str, arr.shape))}\n{arr.dtype.str}\n".encode()
    return str(zlib.crc32(memoryview(np.ascontiguousarray(arr)).cast("B"), zlib.crc32(head)))


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
        self.ram_bytes = parse_bytes(*((ram_bytes, "cache memory budget") if ram_bytes is not None else
                                       (os.environ.get("FILMRESTORE_CACHE_RAM", DEFAULT_RAM_BYTES),
                                        "FILMRESTORE_CACHE_RAM")))
        self.disk_bytes = parse_bytes(*((disk_bytes, "cache disk budget") if disk_bytes is not None else
                                        (os.environ.get("FILMRESTORE_CACHE_DISK", DEFAULT_DISK_BYTES),
                                         "FILMRESTORE_CACHE_DISK")))
        self.stats = CacheStats()
        self._mem: OrderedDict[str, np.ndarray] = OrderedDict()
        self._mem_used = 0
        self._disk_used: int | None = None  # measured lazily on the first write
        self._disk_off: str | None = None   # why the disk level is off for this process, once warned
        self._checked = False
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

    # -- the folder ---------------------------------------------------------------------------------
    def _where(self) -> str:
        return f"the chunk cache folder {str(self.folder)!r} (FILMRESTORE_CACHE or --cache-dir)"

    def foreign_reason(self) -> str | None:
        """Why the folder is not ours to use (None when it is a cache, or absent, or empty)."""
        if (self.folder / MARKER).is_file():
            return None
        if self.folder.exists() and not self.folder.is_dir():
            return f"{self._where()} is a file, not a folder"
        try:
            first = next(iter(sorted(self.folder.iterdir())), None) if self.folder.is_dir() else None
        except OSError as exc:
            return f"{self._where()} cannot be read ({exc.strerror or exc})"
        if first is None or self._old_cache():
            return None
        return (f"{self._where()} is not empty and is not a filmrestore cache (it has no {MARKER} marker and "
                f"holds e.g. {first.name!r}); nothing in it is used or deleted. Point FILMRESTORE_CACHE at an "
                f"empty or new folder")

    def _old_cache(self) -> bool:
        """A folder written by a version of the cache that had no marker: only ``xx/<key>.safetensors``."""
        try:
            for sub in self.folder.iterdir():
                if len(sub.name) != 2 or not sub.is_dir() or sub.is_symlink():
                    return False
                for p in sub.iterdir():
                    key = p.name.removesuffix(".safetensors")
                    if not ((key != p.name and key[:2] == sub.name and _KEY.match(key)) or _TMP.match(p.name)):
                        return False
        except OSError:
            return False
        return True

    def _ensure_folder(self) -> bool:
        """Create or adopt the folder on first disk use; False (warned once) when the disk level is off."""
        if self._disk_off is not None:
            return False
        if self._checked:
            return True
        with self._lock:
            reason = self.foreign_reason()
            if reason is None:
                try:
                    self.folder.mkdir(parents=True, exist_ok=True)
                    if not (self.folder / MARKER).is_file():
                        (self.folder / MARKER).write_text(_MARKER_TEXT)
                except OSError as exc:
                    reason = f"{self._where()} cannot be created ({exc.strerror or exc})"
            if reason is not None:
                self._turn_off(reason)
                return False
            self._checked = True
            self._remove_stale_tmp()
            return True

    def _turn_off(self, reason: str) -> None:
        if self._disk_off is None:
            self._disk_off = reason
            log.warning("%s; going on without the disk cache for this run (chunks are kept in memory only)",
                        reason)

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"cache key {key!r} has characters other than letters, digits and _.-")
        return self.folder / key[:2] / f"{key}.safetensors"

    # -- disk level ---------------------------------------------------------------------------------
    def _disk_get(self, key: str) -> np.ndarray | None:
        if not self._ensure_folder():
            return None
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            from safetensors import safe_open
            with safe_open(str(path), framework="numpy") as f:
                meta = f.metadata() or {}
                arr = f.get_tensor("frames")
            problem = _check_entry(key, arr, meta)
        except OSError as exc:  # cannot read it (permissions, I/O error): not corrupt, so leave it be
            self._turn_off(f"cannot read {path} in {self._where()} ({exc.strerror or exc})")
            return None
        except Exception as exc:  # safetensors raises several types for a damaged file; all mean corrupt
            problem = f"unreadable ({type(exc).__name__}: {exc})"
        if problem:
            self.stats.corrupt += 1
            log.warning("cache entry %s is corrupt (%s); it is deleted and will be recomputed", path, problem)
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                self._turn_off(f"cannot delete the corrupt entry {path} ({exc.strerror or exc})")
            return None
        try:
            os.utime(path)  # mark as recently used for LRU eviction
        except OSError:
            pass  # a read-only cache still serves hits; only its LRU order goes stale
        return arr

    def _disk_put(self, key: str, arr: np.ndarray) -> None:
        if self.disk_bytes <= 0 or arr.nbytes > self.disk_bytes or not self._ensure_folder():
            return
        from safetensors.numpy import save_file
        path = self._path(key)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        data = np.ascontiguousarray(arr)
        meta = {"format": ENTRY_FORMAT, "key": key, "shape": ",".join(map(str, data.shape)),
                "dtype": data.dtype.str, "crc32": _checksum(key, data)}
        try:
            path.parent.mkdir(exist_ok=True)
            save_file({"frames": data}, str(tmp), metadata=meta)
            os.replace(tmp, path)
            size = path.stat().st_size
        except OSError as exc:
            self._turn_off(f"cannot write to {self._where()}: {exc.strerror or exc}")
            return
        finally:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass  # the folder went read-only under us: _turn_off has said so
        with self._lock:
            try:
                self._disk_used = self._measure_disk() if self._disk_used is None else self._disk_used + size
                if self._disk_used > self.disk_bytes:
                    self._evict_disk()
            except OSError as exc:
                self._turn_off(f"cannot list {self._where()} ({exc.strerror or exc})")

    def _entries(self) -> list[tuple[float, int, Path]]:
        """(mtime, size, path) of the entries this cache wrote; nothing else is ever listed."""
        out: list[tuple[float, int, Path]] = []
        if not (self.folder / MARKER).is_file():
            return out
        for sub in self.folder.iterdir():
            if len(sub.name) != 2 or not sub.is_dir() or sub.is_symlink():
                continue
            for p in sub.iterdir():
                key = p.name.removesuffix(".safetensors")
                if key == p.name or key[:2] != sub.name or not _KEY.match(key):
                    continue
                try:
                    st = p.lstat()
                except FileNotFoundError:
                    continue
                if p.is_file() and not p.is_symlink():
                    out.append((st.st_mtime, st.st_size, p))
        return out

    def _remove_stale_tmp(self, everything: bool = False) -> int:
        """Delete temporary entries left by killed processes (all of ours when ``everything``)."""
        freed = 0
        try:
            subs = [s for s in self.folder.iterdir() if len(s.name) == 2 and s.is_dir() and not s.is_symlink()]
            for sub in subs:
                for p in sub.iterdir():
                    m = _TMP.match(p.name)
                    if m and (everything or not pid_alive(int(m["pid"]))) and int(m["pid"]) != os.getpid():
                        freed += p.lstat().st_size
                        p.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not tidy %s: %s", self._where(), exc.strerror or exc)
        return freed

    def _measure_disk(self) -> int:
        return sum(size for _, size, _ in self._entries())

    def _evict_disk(self) -> None:
        entries = sorted(self._entries())
        total = sum(size for _, size, _ in entries)
        target = int(self.disk_bytes * 0.9)  # evict a little more, so we do not rescan on every write
        for _, size, path in entries:
            if total <= target:
                break
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                self._turn_off(f"cannot evict {path} from {self._where()} ({exc.strerror or exc})")
                break
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
        """Store a chunk in memory and, when ``disk``, atomically on disk (skipped, warned once, on failure)."""
        if disk:
            self._disk_put(key, arr)
        self._mem_put(key, arr)

    def clear_memory(self) -> None:
        with self._lock:
            self._mem.clear()
            self._mem_used = 0

    def planned_clear(self) -> tuple[int, int]:
        """(entries, bytes) that :meth:`clear` would delete; raises CacheError for a folder that is not ours."""
        reason = self.foreign_reason()
        if reason is not None:
            raise CacheError(f"refusing to clear: {reason}")
        entries = self._entries()
        return len(entries), sum(s for _, s, _ in entries)

    def clear(self) -> int:
        """Delete every entry in memory and every entry file this cache wrote on disk (nothing else); returns
        bytes freed on disk. Raises CacheError for a non-empty folder that is not a filmrestore cache."""
        self.planned_clear()
        self.clear_memory()
        freed = 0
        for _, size, path in self._entries():
            path.unlink(missing_ok=True)
            freed += size
        if self.folder.is_dir():
            freed += self._remove_stale_tmp(everything=True)
            for sub in self.folder.iterdir():
                if len(sub.name) == 2 and sub.is_dir() and not sub.is_symlink() and not any(sub.iterdir()):
                    sub.rmdir()
        self._disk_used = 0
        return freed

    def info(self) -> dict:
        """Folder, budgets and current usage (``disk_problem``: why the folder is not used, or None)."""
        entries = self._entries()
        return {"folder": str(self.folder), "disk_entries": len(entries),
                "disk_bytes": sum(s for _, s, _ in entries), "disk_budget": self.disk_bytes,
                "memory_entries": len(self._mem), "memory_bytes": self._mem_used,
                "memory_budget": self.ram_bytes, "oldest_entry_age_s":
                    (time.time() - min(m for m, _, _ in entries)) if entries else None,
                "disk_problem": self._disk_off or self.foreign_reason()}


def _check_entry(key: str, arr: np.ndarray, meta: dict[str, str]) -> str | None:
    """What is wrong with a loaded entry, or None: it must be the entry for ``key``, intact."""
    if meta.get("format") != ENTRY_FORMAT:  # entries of the marker-less version lack key and shape
        return f"not written by this version of the cache (format {meta.get('format')!r})"
    if meta.get("key") != key:
        return f"it holds the entry for key {meta.get('key')!r}, not {key!r}"
    if meta.get("shape") != ",".join(map(str, arr.shape)) or meta.get("dtype") != arr.dtype.str:
        return (f"recorded shape {meta.get('shape')} {meta.get('dtype')} but holds "
                f"{','.join(map(str, arr.shape))} {arr.dtype.str}")
    if meta.get("crc32") != _checksum(key, arr):
        return "checksum mismatch"
    return None


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
