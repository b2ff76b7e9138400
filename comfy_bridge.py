"""The one place that touches ComfyUI. Every function falls back to standalone behaviour when ComfyUI's
modules are absent (headless runner, tests), so nothing else in the pack imports ComfyUI.

Covers: folders (input, output, models; inside ComfyUI a prompt reads and writes only there), progress bars
with previews and Cancel, and device choice.
"""
from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from .filmlib import progress as stage_progress
from .filmlib.errors import InputError
from .filmlib.progress import Meter, RateLimiter, StageProgress

log = logging.getLogger(__name__)

_STANDALONE_ROOT = os.environ.get("FILMRESTORE_HOME", os.getcwd())


class PathRefused(InputError, PermissionError):
    """A path from a prompt points outside the folders it may read or write."""


def _comfy(module: str) -> Any | None:
    """A ComfyUI module if we run inside ComfyUI (already imported by the server), else None."""
    if "comfy" not in sys.modules and module != "folder_paths":
        return None
    if module == "folder_paths" and "folder_paths" not in sys.modules:
        return None
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def input_directory() -> Path:
    fp = _comfy("folder_paths")
    if fp is not None:
        return Path(fp.get_input_directory())
    return Path(os.environ.get("FILMRESTORE_INPUT", os.path.join(_STANDALONE_ROOT, "input")))


def output_directory() -> Path:
    fp = _comfy("folder_paths")
    if fp is not None:
        return Path(fp.get_output_directory())
    return Path(os.environ.get("FILMRESTORE_OUTPUT", os.path.join(_STANDALONE_ROOT, "output")))


def in_comfyui() -> bool:
    """True when ComfyUI's server loaded us: then paths from a prompt are confined to ComfyUI's folders."""
    return _comfy("folder_paths") is not None


def _inside(path: str, root: str) -> bool:
    """``path`` lies in ``root`` once both are resolved (symlinks followed, ``..`` removed)."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    try:
        return os.path.commonpath((real, base)) == base
    except ValueError:  # different drives on Windows
        return False


def _read_roots(fp: Any, annotated_output: bool) -> list[str]:
    roots = [fp.get_input_directory()]
    if hasattr(fp, "get_temp_directory"):
        roots.append(fp.get_temp_directory())
    if annotated_output:  # "name [output]": core LoadImage reads the output folder only when asked this way
        roots.append(fp.get_output_directory())
    return roots


def _split_annotation(name: str) -> tuple[str, str | None]:
    """ComfyUI's ``"file.mp4 [input]"`` / ``[output]`` / ``[temp]`` suffix: (name, annotation or None)."""
    for tag in ("input", "output", "temp"):
        if name.endswith(f" [{tag}]") or name.endswith(f"[{tag}]"):
            return name[: -len(f"[{tag}]")].rstrip(), tag
    return name, None


def _confined_input(fp: Any, name: str) -> str:
    """Inside ComfyUI: ``name`` in its input folder (or temp, or output when annotated ``[output]``); anything
    that resolves elsewhere is refused with one message whether or not it exists, as nothing outside may leak."""
    bare, tag = _split_annotation(name)
    base = {"output": fp.get_output_directory, "temp": getattr(fp, "get_temp_directory", None)}.get(
        tag or "", None)
    base_dir = base() if base is not None else fp.get_input_directory()
    path = os.path.join(base_dir, bare)
    # for a pattern the folder part is checked: wildcards there could reach any folder
    folder, leaf = os.path.split(path)
    pattern = any(c in leaf for c in "*?[%")
    checked = folder if pattern else path
    roots = _read_roots(fp, tag == "output")
    if any(c in folder for c in "*?[") or not any(_inside(checked, r) for r in roots):
        raise PathRefused(
            f"video {name!r} is outside ComfyUI's input folder; ComfyUI reads videos only from "
            f"{fp.get_input_directory()} (and its temp folder): upload the video, or copy or move it there")
    return path


# demuxers that open other files named inside the file (HLS/DASH playlists, ffconcat lists): a renamed playlist
# in the input folder could pull any file on the host into the frames
_PLAYLIST_MAGIC = (b"#EXTM3U", b"ffconcat", b"<?xml", b"<MPD")


def check_inside_input(paths: list[str]) -> None:
    """Inside ComfyUI: every file about to be opened (a video, or each frame of a sequence) must resolve inside
    the allowed folders (a symlink in the input folder may point anywhere), and a video may not be a playlist
    of other files. Outside ComfyUI nothing is checked."""
    fp = _comfy("folder_paths")
    if fp is None:
        return
    roots = _read_roots(fp, True)
    for p in paths:
        if not any(_inside(p, r) for r in roots):
            raise PathRefused(f"{os.path.basename(p)!r} links outside ComfyUI's input folder "
                              f"{fp.get_input_directory()}; ComfyUI reads only files inside it: copy the file there")
    if len(paths) == 1 and os.path.isfile(paths[0]):
        with open(paths[0], "rb") as f:
            head = f.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
        if head.startswith(_PLAYLIST_MAGIC):
            raise PathRefused(f"{os.path.basename(paths[0])!r} is a playlist or a list of other files, not a "
                              f"video; ComfyUI reads only files inside its input folder: use the video itself")


def resolve_input_path(name: str) -> str:
    """Where a video name points. Inside ComfyUI: in its input (or temp) folder, else :class:`PathRefused`.
    Headless: an absolute path, a file or folder in the input folder, else the name as given (relative to
    the current folder); patterns resolve the same way by the folder they name."""
    fp = _comfy("folder_paths")
    if fp is not None:
        return _confined_input(fp, name)
    name = os.path.expanduser(name)
    if os.path.isabs(name):
        return name
    in_input = input_directory() / name
    if in_input.exists():
        return str(in_input)
    if os.path.exists(name):
        return name
    # a pattern, or a file not there yet: the input folder wins when the folder it names exists only there
    if in_input.parent.is_dir() and not Path(name).parent.is_dir():
        return str(in_input)
    return name


def input_search_places(name: str) -> list[str]:
    """The folders a relative video name is looked for in, for "not found" messages."""
    if in_comfyui() or os.path.isabs(os.path.expanduser(name)):
        return [str(input_directory())]
    return [str(input_directory()), os.getcwd()]


def resolve_output_prefix(prefix: str) -> str:
    """An absolute save target for ``prefix``, confined to the output folder (symlinks followed).

    Inside ComfyUI every prefix must stay inside its output folder, as core SaveImage requires. Headless, an
    absolute path is the user's own choice (``--output``, ``--set``) and is kept; a relative one, as a
    workflow carries, may not climb out with ``..``. A trailing ``/`` (a sequence folder) is kept.
    """
    out = str(output_directory())
    expanded = prefix if in_comfyui() else os.path.expanduser(prefix)
    if not in_comfyui() and os.path.isabs(expanded):
        return expanded
    joined = os.path.join(out, expanded)
    if not _inside(joined, out):
        where = "ComfyUI's output folder" if in_comfyui() else "the output folder"
        todo = ("use a name inside it such as FilmRestore/restored" if in_comfyui() else
                "name the place with --output (or an absolute path) to write elsewhere")
        raise PathRefused(f"filename_prefix {prefix!r} points outside {where} {out}; a workflow may only "
                          f"write inside it: {todo}")
    real = os.path.realpath(joined)
    return real + os.sep if prefix.endswith(("/", os.sep)) and not real.endswith(os.sep) else real


# ---- progress: per node frames done, fps and time left, in ComfyUI's page or a tqdm bar headless ----

PROGRESS_MESSAGE = "filmrestore.progress"  # our socket message (fps, time left), shown on the node by web/js
SEND_EVERY_S = 0.5  # per node: a ten-minute clip sends a few messages a second, not one per chunk
PREVIEW_EVERY_S = 2.0  # previews are JPEGs: at most one every 2 s for the whole prompt
PREVIEW_SIZE = 512

Progress = Callable[[int, int, Optional[np.ndarray]], None]


def _server_instance() -> Any | None:
    """ComfyUI's PromptServer instance, or None outside ComfyUI."""
    server = _comfy("server")
    return getattr(getattr(server, "PromptServer", None), "instance", None) if server is not None else None


def _preview(frame: np.ndarray) -> tuple[str, Any, int]:
    """A frame ``(H, W, C)`` uint8/uint16 as ComfyUI's preview tuple (format, PIL image, max size)."""
    from PIL import Image
    from .filmlib.frames import convert_depth
    f = convert_depth(frame, np.uint8)
    return "JPEG", Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f), PREVIEW_SIZE


class ProgressSender:
    """Sends a node's progress to ComfyUI's page: :data:`PROGRESS_MESSAGE` (frames done, frames per second,
    seconds left; web/js/progress.js shows it on the node) and, for the node running now, ComfyUI's own
    ProgressBar (its bar, previews, Cancel check); a node that already ran gets previews only. Cancel is
    checked on every call, messages are rate limited per node (the last frame always goes out), previews for
    all nodes together."""

    def __init__(self, server: Any, utils: Any, mm: Any | None, clock: Callable[[], float] = time.monotonic):
        self.server, self.utils, self.mm = server, utils, mm
        self._sends = RateLimiter(SEND_EVERY_S, clock)
        self._previews = RateLimiter(PREVIEW_EVERY_S, clock)

    def _now(self) -> tuple[Any, Any]:
        """(prompt_id, node_id) ComfyUI executes now; stages compute in the saver's prefetch thread, where
        ComfyUI's context is unset: the server's last prompt and node then."""
        ctx = executing_context()
        if ctx is not None:
            return ctx
        return getattr(self.server, "last_prompt_id", None), getattr(self.server, "last_node_id", None)

    def send(self, node: str | None, label: str, done: int, total: int, fps: float | None, eta: float | None,
             frame: np.ndarray | None = None) -> bool:
        """Report ``done`` of ``total`` frames of ``node``; True when a message went out."""
        if self.mm is not None:
            self.mm.throw_exception_if_processing_interrupted()  # Cancel stops the run between chunks
        if not self._sends.ready(node, force=done >= total):
            return False
        prompt_id, running = self._now()
        preview = _preview(frame) if frame is not None and self._previews.ready() else None
        sid = getattr(self.server, "client_id", None)
        if node is None or str(node) == str(running):
            self.utils.ProgressBar(total, node_id=node).update_absolute(done, total, preview)
        elif preview is not None:
            # a node that already ran (its stage computes for the saver now) gets no ComfyUI progress: its
            # ProgressBar would mark it running again (both pages then show it executing after the prompt
            # ended) and a bare "progress" message is shown as the running node's percentage (1.58 "Current
            # node: Save Video 69%" with the upscaler's 66/96); our message below carries its progress
            self._preview_for(node, prompt_id, preview, sid)
        self.server.send_sync(PROGRESS_MESSAGE, {
            "prompt_id": prompt_id, "node": node, "stage": label, "value": done, "max": total,
            "fps": None if fps is None else round(fps, 2), "eta": None if eta is None else round(eta, 1),
        }, sid)
        return True

    def _preview_for(self, node: str, prompt_id: Any, preview: tuple, sid: Any) -> None:
        """A preview shown on ``node`` (ComfyUI's preview-with-metadata message), for pages that read it;
        older pages would show it on the running node instead, so they get none."""
        protocol, flags = _comfy("protocol"), _comfy("comfy_api.feature_flags")
        kind = getattr(getattr(protocol, "BinaryEventTypes", None), "PREVIEW_IMAGE_WITH_METADATA", None)
        if kind is None or flags is None or not flags.supports_feature(
                getattr(self.server, "sockets_metadata", {}), sid, "supports_preview_metadata"):
            return
        meta = {"node_id": node, "prompt_id": prompt_id, "display_node_id": node, "parent_node_id": None,
                "real_node_id": node}
        self.server.send_sync(kind, (preview, meta), sid)

    def stage(self, event: StageProgress) -> None:
        """The sink for :mod:`filmlib.progress`: a stage's chunk, reported for the node that built it."""
        _, node = event.owner
        if str(node) == str(self._now()[1]):
            # a stage the running node built for itself (a saver's comparison, a report's mask): the node's own
            # progress_reporter already tells how far it is; only Cancel is checked
            if self.mm is not None:
                self.mm.throw_exception_if_processing_interrupted()
            return
        self.send(node, event.stage, event.done, event.total, event.fps, event.eta, event.frame)


def install_stage_progress(clock: Callable[[], float] = time.monotonic) -> bool:
    """Inside ComfyUI: every Stage remembers the node that built it and reports its chunks as that node's
    progress (while a saver pulls the whole chain). False (and nothing installed) outside ComfyUI."""
    server, utils = _server_instance(), _comfy("comfy.utils")
    if server is None or utils is None:
        return False
    sender = ProgressSender(server, utils, _comfy("comfy.model_management"), clock)
    stage_progress.install(executing_context, sender.stage, clock)
    return True


def progress_reporter(total: int, desc: str = "frames", clock: Callable[[], float] = time.monotonic) -> Progress:
    """A progress callback ``(done, total, preview_frame)`` for the node running now: inside ComfyUI its
    progress bar, a preview now and then, fps and time left (rate limited; Cancel raises through ComfyUI's
    interrupt on every call), a tqdm bar otherwise."""
    utils, server = _comfy("comfy.utils"), _server_instance()
    if utils is not None and server is not None:
        ctx = executing_context()
        node = ctx[1] if ctx is not None else None
        sender = ProgressSender(server, utils, _comfy("comfy.model_management"), clock)
        meter = Meter(total, clock)

        def report(done: int, total_: int, frame: np.ndarray | None = None) -> None:
            if total_ != meter.total:
                meter.total = total_
            meter.add(done - meter.done)
            sender.send(node, desc, done, total_, meter.fps, meter.eta, frame)
        return report
    from tqdm import tqdm
    bar = tqdm(total=total, unit="frame", desc=desc, leave=False, disable=os.environ.get("FILMRESTORE_QUIET") == "1")

    def report_cli(done: int, total_: int, frame: np.ndarray | None = None) -> None:
        bar.update(done - bar.n)
        if done >= total_:
            bar.close()
    return report_cli


def comfy_device() -> Any | None:
    """ComfyUI's torch device for models, or None outside ComfyUI."""
    mm = _comfy("comfy.model_management")
    return mm.get_torch_device() if mm is not None else None


def register_model_folder(name: str, extensions: set[str]) -> None:
    """Register ``models/<name>`` with ComfyUI's folder_paths so users put weights where they expect."""
    fp = _comfy("folder_paths")
    if fp is None:
        return
    if name not in fp.folder_names_and_paths:
        fp.folder_names_and_paths[name] = ([os.path.join(fp.models_dir, name)], set(extensions))


def model_folders(name: str) -> list[Path]:
    """Folders ComfyUI searches for ``name`` models, or [] outside ComfyUI."""
    fp = _comfy("folder_paths")
    if fp is None:
        return []
    try:
        return [Path(p) for p in fp.get_folder_paths(name)]
    except KeyError:
        return []


def executing_context() -> tuple[str, str] | None:
    """(prompt_id, node_id) of the node ComfyUI is executing now, or None outside ComfyUI / between nodes.
    The headless runner sets the same through :func:`set_headless_context`."""
    utils = _comfy("comfy_execution.utils")
    if utils is not None and hasattr(utils, "get_executing_context"):
        ctx = utils.get_executing_context()
        if ctx is not None:
            return str(ctx.prompt_id), str(ctx.node_id)
    return _HEADLESS_CONTEXT


_HEADLESS_CONTEXT: tuple[str, str] | None = None


def set_headless_context(context: tuple[str, str] | None) -> None:
    """The headless runner's (prompt_id, node_id) of the node it runs now (None when done)."""
    global _HEADLESS_CONTEXT
    _HEADLESS_CONTEXT = context


def register_routes() -> bool:
    """Add the pack's HTTP routes (``/filmrestore/...``, see ``routes/``) to ComfyUI's server; False outside
    ComfyUI. Called once when ComfyUI imports the pack."""
    server = _comfy("server")
    instance = getattr(getattr(server, "PromptServer", None), "instance", None) if server is not None else None
    if instance is None:
        return False
    from .routes import setup
    setup(instance.routes)
    install_stage_progress()
    return True


def metadata_disabled() -> bool:
    """True when ComfyUI runs with ``--disable-metadata``: savers then leave the workflow out of the files."""
    args = getattr(_comfy("comfy.cli_args"), "args", None)
    return bool(getattr(args, "disable_metadata", False))


def save_preview_image(image: np.ndarray, stem: str) -> dict[str, str] | None:
    """Write an (H, W, 3) uint8 picture to ComfyUI's temp folder for a node's ``ui.images`` (shown in the node);
    None outside ComfyUI (the image is an output of the node there too)."""
    fp = _comfy("folder_paths")
    if fp is None or not hasattr(fp, "get_temp_directory"):
        return None
    from PIL import Image
    import uuid
    folder = Path(fp.get_temp_directory()) / "filmrestore"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{stem}_{uuid.uuid4().hex[:10]}.png"
    Image.fromarray(np.ascontiguousarray(image)).save(folder / name)
    return {"filename": name, "subfolder": "filmrestore", "type": "temp"}
