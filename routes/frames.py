"""``/filmrestore/frame``, ``/film_info``, ``/runs``, ``/scenes``, ``/keyframe``: a node's last run for the web views.

A request names a run only by ids (prompt id, node id, slot name, frame or shot number): the films come from the
registry the node wrappers fill (``nodes/recording.py``), never from a path in the request, so nothing outside
what the prompt itself read can be served. Frames are read through the film's chunk cache (a cached chunk is a
copy; an uncached one computes only that chunk), off the event loop, one request at a time.
"""
from __future__ import annotations

import asyncio
import bisect
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Mapping
from urllib.parse import urlencode

import numpy as np

from ..filmlib.clip import Film, Stage
from ..filmlib.errors import FilmRestoreError, InputError
from ..filmlib.film_registry import LATEST, NodeRecord, RecordNotFound, default_registry
from ..filmlib.frames import convert_depth
from ..filmlib.scenes import Scenes

MAX_WIDTH = 4096         # widest picture served (a 4K frame's width; bigger frames are scaled down)
MIN_WIDTH = 16
THUMB_WIDTH = 320        # keyframe thumbnails unless asked otherwise
MAX_SHOTS = 2000         # shots listed by /scenes (the rest are counted, not listed)
JPEG_QUALITY = 90
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")     # ComfyUI prompt ids are UUIDs; node ids "12" or "4:2" in subgraphs
_SLOT = re.compile(r"^[A-Za-z0-9_ .-]{1,64}$")

_executor: ThreadPoolExecutor | None = None


class BadRequest(InputError):
    """A query parameter is missing or out of range (answered 400)."""


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:  # created on first use: importing the pack starts no thread
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="filmrestore-frames")
    return _executor


# -- query parameters -------------------------------------------------------------------------------------------

def _text(query: Mapping[str, str], name: str, pattern: re.Pattern, default: str | None = None) -> str:
    value = query.get(name, default)
    if value is None or value == "":
        raise BadRequest(f"missing query parameter {name!r}")
    if not pattern.match(value):
        raise BadRequest(f"{name}={value[:80]!r} is not a valid {name} (letters, digits, '_', '-', ':', '.')")
    return value


def _int(query: Mapping[str, str], name: str, default: int | None, lo: int, hi: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        if default is None:
            raise BadRequest(f"missing query parameter {name!r}")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name}={raw[:40]!r} is not a whole number") from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name}={value} is out of range: it must be {lo}..{hi}")
    return value


def _record(query: Mapping[str, str]) -> NodeRecord:
    prompt = _text(query, "prompt", _ID, LATEST)
    node = _text(query, "node", _ID)
    return default_registry().get(prompt, node)


def _film(rec: NodeRecord, side: str, name: str | None) -> tuple[str, Film]:
    films = rec.side(side)
    if not films:
        raise RecordNotFound(f"node {rec.node_id} ({rec.class_type}) has no FILM {side} in its last run")
    if name is None:
        name = next(iter(films))
    if name not in films:
        raise RecordNotFound(f"node {rec.node_id} ({rec.class_type}) has no FILM {side} {name!r}; it has "
                             f"{', '.join(films)}")
    return name, films[name]


# -- frames -----------------------------------------------------------------------------------------------------

def _nearest_by_time(film: Film, t: Any) -> int:
    info = film.info
    if info.timestamps is not None:
        i = bisect.bisect_left(info.timestamps, t)
        if i > 0 and (i == len(info.timestamps) or t - info.timestamps[i - 1] <= info.timestamps[i] - t):
            i -= 1
        return min(max(i, 0), info.frame_count - 1)
    return min(max(int(round(t * info.fps)), 0), info.frame_count - 1)


def aligned_index(output: Film, source: Film, k: int) -> int:
    """The frame of ``source`` that output frame ``k`` was made from: followed through the stages between them
    (a shot selection maps by its ranges, a stage of equal length frame for frame, a rate change by time)."""
    film, index = output, k
    while film is not source and isinstance(film, Stage):
        inner = film.source
        if hasattr(film, "source_index"):
            index = int(film.source_index(index))
        elif film.info.frame_count != inner.info.frame_count:
            index = _nearest_by_time(inner, film.info.time_of(index))
        film = inner
    if film is source:
        return index
    return _nearest_by_time(source, output.info.time_of(k))  # not derived through .source: match by time


def encode_frame(frame: np.ndarray, max_width: int, fmt: str = "jpeg") -> bytes:
    """One ``(H, W, C)`` uint8/uint16 frame as JPEG or PNG bytes, scaled to at most ``max_width`` px wide."""
    import cv2
    img = convert_depth(frame, np.uint8)
    h, w = img.shape[:2]
    if w > max_width:
        size = (max_width, max(1, int(round(h * max_width / w))))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    if img.ndim == 3 and img.shape[-1] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    elif img.ndim == 3:
        img = img[..., 0]
    ok, data = (cv2.imencode(".png", img) if fmt == "png" else
                cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]))
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {w}x{h} frame as {fmt}")
    return data.tobytes()


def frame_image(query: Mapping[str, str]) -> tuple[bytes, dict[str, str]]:
    """The picture ``/filmrestore/frame`` answers, and its X-Film-* headers."""
    rec = _record(query)
    side = query.get("side", "output")
    if side not in ("input", "output"):
        raise BadRequest(f"side={side[:20]!r}: use 'input' or 'output'")
    name = query.get(side)
    name, film = _film(rec, side, _text(query, side, _SLOT) if name else None)
    fmt = query.get("format", "jpeg")
    if fmt not in ("jpeg", "png"):
        raise BadRequest(f"format={fmt[:20]!r}: use 'jpeg' or 'png'")
    max_width = _int(query, "max_width", MAX_WIDTH, MIN_WIDTH, MAX_WIDTH)
    if query.get("align") == "output" and side == "input":
        _, out = _film(rec, "output", _text(query, "output", _SLOT) if query.get("output") else None)
        k = _int(query, "index", None, 0, len(out) - 1)
        index = aligned_index(out, film, k)
    else:
        index = _int(query, "index", None, 0, len(film) - 1)
    data = encode_frame(film.read(index, index + 1)[0], max_width, fmt)
    return data, {"Content-Type": f"image/{fmt}", "X-Film-Index": str(index), "X-Film-Frames": str(len(film)),
                  "X-Film-Prompt": rec.prompt_id, "X-Film-Slot": name}


# -- facts ------------------------------------------------------------------------------------------------------

def _facts(film: Film) -> dict[str, Any]:
    info = film.info
    return {"frames": info.frame_count, "fps": float(info.fps), "fps_exact": f"{info.fps.numerator}/"
            f"{info.fps.denominator}", "width": info.width, "height": info.height, "channels": info.channels,
            "bit_depth": info.bit_depth, "duration": float(info.duration), "variable_rate": info.timestamps is not None}


def film_info(query: Mapping[str, str]) -> dict[str, Any]:
    """What ``/filmrestore/film_info`` answers: the node's FILMs of its last run and their facts."""
    rec = _record(query)
    return {"prompt": rec.prompt_id, "node": rec.node_id, "class_type": rec.class_type,
            "inputs": {n: _facts(f) for n, f in rec.inputs.items()},
            "outputs": {n: _facts(f) for n, f in rec.outputs.items()},
            "scenes": list(rec.scenes), "latest_prompt": default_registry().latest_prompt}


def runs_info(query: Mapping[str, str]) -> dict[str, Any]:
    """What ``/filmrestore/runs`` answers (always 200): the recorded prompts and, with ``node``, that node's runs
    newest first, so a view can ask whether there is anything to show without provoking a 404."""
    registry = default_registry()
    out: dict[str, Any] = {"latest_prompt": registry.latest_prompt, "prompts": registry.prompts()}
    if query.get("node"):
        node = _text(query, "node", _ID)
        out["node"] = node
        out["runs"] = [{"prompt": r.prompt_id, "class_type": r.class_type, "inputs": list(r.inputs),
                        "outputs": list(r.outputs), "scenes": list(r.scenes)} for r in registry.runs_of(node)]
    return out


def _scenes(rec: NodeRecord, name: str | None) -> tuple[str, Scenes]:
    if not rec.scenes:
        raise RecordNotFound(f"node {rec.node_id} ({rec.class_type}) gave no SCENES in its last run")
    name = name or next(iter(rec.scenes))
    if name not in rec.scenes:
        raise RecordNotFound(f"node {rec.node_id} has no SCENES output {name!r}; it has {', '.join(rec.scenes)}")
    return name, rec.scenes[name]


def _keyframe_film(rec: NodeRecord, scenes: Scenes) -> Film:
    """The film the shots describe: an input (FilmSceneDetect's clip) or output of the same length."""
    for film in (*rec.inputs.values(), *rec.outputs.values()):
        if film.info.frame_count == scenes.frame_count:
            return film
    raise RecordNotFound(f"node {rec.node_id} has no FILM of {scenes.frame_count} frames to take keyframes from")


def scenes_info(query: Mapping[str, str]) -> dict[str, Any]:
    """What ``/filmrestore/scenes`` answers: each shot with timecodes, length and its keyframe thumbnail's URL."""
    rec = _record(query)
    name, scenes = _scenes(rec, _text(query, "scenes", _SLOT) if query.get("scenes") else None)
    width = _int(query, "max_width", THUMB_WIDTH, MIN_WIDTH, MAX_WIDTH)
    shots = []
    for i, s in enumerate(scenes.shots[:MAX_SHOTS]):
        url = "/filmrestore/keyframe?" + urlencode({"prompt": rec.prompt_id, "node": rec.node_id, "scenes": name,
                                                    "shot": i, "max_width": width})
        shots.append({"index": i, "start": s.start, "end": s.end, "length": len(s), "keyframe": s.keyframe,
                      "start_tc": scenes.timecode(s.start), "end_tc": scenes.timecode(s.end),
                      "seconds": float(len(s) / scenes.fps), "keyframe_url": url})
    return {"prompt": rec.prompt_id, "node": rec.node_id, "class_type": rec.class_type, "scenes": name,
            "fps": float(scenes.fps), "frame_count": scenes.frame_count, "count": len(scenes.shots),
            "truncated": len(scenes.shots) > MAX_SHOTS, "shots": shots}


def keyframe_image(query: Mapping[str, str]) -> tuple[bytes, dict[str, str]]:
    """The thumbnail ``/filmrestore/keyframe`` answers: one shot's keyframe."""
    rec = _record(query)
    _, scenes = _scenes(rec, _text(query, "scenes", _SLOT) if query.get("scenes") else None)
    shot = scenes.shots[_int(query, "shot", None, 0, len(scenes.shots) - 1)]
    width = _int(query, "max_width", THUMB_WIDTH, MIN_WIDTH, MAX_WIDTH)
    film = _keyframe_film(rec, scenes)
    data = encode_frame(film.read(shot.keyframe, shot.keyframe + 1)[0], width)
    return data, {"Content-Type": "image/jpeg", "X-Film-Index": str(shot.keyframe), "X-Film-Prompt": rec.prompt_id}


# -- aiohttp ----------------------------------------------------------------------------------------------------

def _status(exc: Exception) -> int:
    if isinstance(exc, RecordNotFound):
        return 404
    if isinstance(exc, InputError):
        return 400
    return 422  # a FilmRestoreError while reading (e.g. the source file changed or vanished since the run)


def _handler(work: Callable[[Mapping[str, str]], Any], image: bool) -> Callable:
    from aiohttp import web

    async def handle(request: "web.Request") -> "web.StreamResponse":
        query = {k: v for k, v in request.query.items()}
        try:
            result = await asyncio.get_running_loop().run_in_executor(_pool(), work, query)
        except FilmRestoreError as exc:  # bad ids or parameters: a message, no traceback
            return web.json_response({"error": str(exc)}, status=_status(exc))
        cache = "no-store" if query.get("prompt", LATEST) == LATEST else "private, max-age=600"
        if not image:
            return web.json_response(result, headers={"Cache-Control": "no-store"})
        data, headers = result
        kind = headers.pop("Content-Type")
        return web.Response(body=data, content_type=kind, headers={**headers, "Cache-Control": cache})
    return handle


def add_routes(routes: Any) -> None:
    """Add the frame routes to an ``aiohttp.web.RouteTableDef`` (ComfyUI's ``PromptServer.instance.routes``)."""
    routes.get("/filmrestore/frame")(_handler(frame_image, image=True))
    routes.get("/filmrestore/film_info")(_handler(film_info, image=False))
    routes.get("/filmrestore/runs")(_handler(runs_info, image=False))
    routes.get("/filmrestore/scenes")(_handler(scenes_info, image=False))
    routes.get("/filmrestore/keyframe")(_handler(keyframe_image, image=True))
