"""Where an output lands: taking the final name without replacing anything (so concurrent runs never share a
number), replacing only what is ours when asked, and cleaning up what a killed run left behind.

A finished output is moved from its hidden ``.NAME.partial-PID-TOKEN`` name with a hard link (or an exclusive
``mkdir`` for sequence folders), which fails when the name is taken: the next number is tried instead.
"""
from __future__ import annotations

import errno
import logging
import os
import re
import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import EncodeError

log = logging.getLogger(__name__)

FRAME_NAME = re.compile(r"frame_\d{6,}\.(png|tif)$")   # the only files a sequence folder of ours holds
_LEFTOVER = re.compile(r"^\..+\.(partial|replaced)-(?P<pid>\d+)(-[0-9a-f]{8})?(\.[A-Za-z0-9]+)?$")


@dataclass(frozen=True)
class OutputTarget:
    """Where a save goes: ``stem`` + ``suffix`` exactly when ``exact`` (numbered if taken and not overwriting),
    else ``stem_00001`` + ``suffix`` with the next free number."""

    stem: Path
    suffix: str       # ".mp4", ".mkv"... for files, "" for sequence folders
    container: str    # "mp4", "mov", "mkv" or "sequence"
    exact: bool

    @property
    def path(self) -> Path:
        return self.stem.with_name(self.stem.name + self.suffix)

    def numbered(self, n: int) -> Path:
        return self.stem.with_name(f"{self.stem.name}_{n:05d}{self.suffix}")


def is_our_sequence(folder: Path) -> bool:
    """True when ``folder`` is a real folder that holds nothing but frame files named as we write them."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    return all(p.is_file() and not p.is_symlink() and FRAME_NAME.match(p.name) for p in folder.iterdir())


def check_overwrite(t: OutputTarget, overwrite: bool) -> None:
    """Refuse, before anything is encoded, an overwrite that would replace something that is not ours."""
    path = t.path
    if not (t.exact and overwrite and os.path.lexists(path)):
        return
    if t.container == "sequence" and not is_our_sequence(path):
        what = "a file" if path.is_file() else "a folder that holds other files than frame_NNNNNN images"
        raise EncodeError(f"will not overwrite {path}: it is {what}; overwrite only replaces an image sequence "
                          f"written by FilmSaveVideo. Move it away or choose another name")
    if t.container != "sequence" and (path.is_dir() or not path.is_file()):
        raise EncodeError(f"will not overwrite {path}: it is a folder, not a video file; overwrite only replaces "
                          f"a file. Move it away or choose another name")


def make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and its parents; returns those it created (outermost first), to remove on failure."""
    created = [p for p in [*reversed(folder.parents), folder] if not os.path.lexists(p)]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), folder)
        raise EncodeError(f"cannot save into {folder}: {blocker} is a file, not a folder; choose another "
                          f"output path") from None
    except OSError as exc:
        raise EncodeError(write_problem(exc, folder)) from exc
    return created


def remove_empty(folders: list[Path]) -> None:
    """Remove the folders a failed save created, innermost first, as long as they are still empty."""
    for p in reversed(folders):
        try:
            p.rmdir()
        except OSError:
            return


def write_problem(exc: OSError, where: str | os.PathLike) -> str:
    """A message for a failed write, saying what to do (full disk, read-only folder...)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"the disk is full (no space left on the device) while writing {where}; free some space or save "
                f"to another disk. Nothing was saved")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (f"cannot write {where}: {exc.strerror or exc} (a read-only folder or no permission); choose an "
                f"output folder you can write to")
    return f"cannot write {where}: {exc.strerror or exc}"


@contextmanager
def writing(where: str | os.PathLike) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise EncodeError(write_problem(exc, where)) from exc


def pid_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # no cheap, safe liveness test: never touch another process's files
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def remove_ours(path: Path) -> None:
    """Delete a leftover of ours: a file, or a folder of our frame files (anything else is left alone)."""
    if path.is_dir() and not path.is_symlink():
        if not is_our_sequence(path):
            log.warning("left %s alone: it holds files that are not frames written by FilmSaveVideo", path)
            return
        for p in path.iterdir():
            p.unlink(missing_ok=True)
        path.rmdir()
    else:
        path.unlink(missing_ok=True)


def clean_leftovers(folder: Path) -> list[Path]:
    """Delete the ``.*.partial-PID`` outputs (and ``.replaced-PID`` folders) in ``folder`` whose process is gone
    (killed with ``kill -9``, or the machine went down); returns what was removed."""
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for p in entries:
        m = _LEFTOVER.match(p.name)
        if not m or int(m["pid"]) == os.getpid() or pid_alive(int(m["pid"])):
            continue
        try:
            remove_ours(p)
        except OSError as exc:
            log.warning("could not remove the leftover partial output %s: %s", p, exc)
            continue
        log.warning("removed %s, a partial output left by an interrupted run (process %s)", p, m["pid"])
        removed.append(p)
    return removed


def _take(tmp: Path, path: Path, sequence: bool) -> bool:
    """Move ``tmp`` to ``path`` unless ``path`` exists (False then); never replaces anything."""
    if sequence:
        try:
            os.mkdir(path)        # exclusive: a second run gets FileExistsError and takes the next number
        except FileExistsError:
            return False
        try:
            os.rename(tmp, path)  # onto our own empty folder: allowed and atomic on POSIX
        except OSError:
            os.rmdir(path)
            raise
        return True
    try:
        os.link(tmp, path)        # fails if the name exists, so two runs never share it
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
            raise
        # no hard links on this file system: reserve the name exclusively, then move the file onto it
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            return False
        os.replace(tmp, path)
        return True
    os.unlink(tmp)
    return True


def _replace(tmp: Path, path: Path, sequence: bool) -> None:
    if not sequence:
        if path.is_dir():
            raise EncodeError(f"will not overwrite {path}: it is a folder, not a video file")
        os.replace(tmp, path)
        return
    if not is_our_sequence(path):
        raise EncodeError(f"will not overwrite {path}: it holds files that are not frames written by FilmSaveVideo")
    trash = path.with_name(f".{path.name}.replaced-{os.getpid()}-{secrets.token_hex(4)}")
    os.rename(path, trash)
    try:
        os.rename(tmp, path)
    except OSError:
        os.rename(trash, path)
        raise
    remove_ours(trash)


def _next_number(t: OutputTarget) -> int:
    pattern = re.compile(re.escape(t.stem.name) + r"_(\d{5,})" + re.escape(t.suffix) + "$")
    folder = t.stem.parent
    names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    return max((int(m.group(1)) for n in names if (m := pattern.match(n))), default=0) + 1


def place_output(tmp: Path, t: OutputTarget, overwrite: bool) -> Path:
    """Put the finished ``tmp`` at its final name and return that name (see :class:`OutputTarget`)."""
    sequence = t.container == "sequence"
    if t.exact:
        if overwrite and os.path.lexists(t.path):
            _replace(tmp, t.path, sequence)
            return t.path
        if _take(tmp, t.path, sequence):
            return t.path
    n = _next_number(t)
    while not _take(tmp, t.numbered(n), sequence):
        n += 1
    return t.numbered(n)
