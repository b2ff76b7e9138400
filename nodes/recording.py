"""Recording each node's FILMs of a run for the ``/filmrestore/`` routes (before/after slider, shot gallery).

:func:`instrument` wraps every node class's FUNCTION: the wrapped method runs unchanged (same name, arguments,
result and exceptions) and afterwards its FILM inputs, FILM outputs and SCENES outputs are kept in
:func:`filmlib.film_registry.default_registry` under the (prompt id, node id) that ComfyUI (or the headless
runner) is executing. Nothing is recorded outside a prompt.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Mapping

from .. import comfy_bridge as bridge
from ..filmlib.clip import Film
from ..filmlib.film_registry import FilmRegistry, default_registry
from ..filmlib.scenes import Scenes

_MARK = "__filmrestore_recorded__"


def _output_names(cls: type) -> list[str]:
    types = list(getattr(cls, "RETURN_TYPES", ()))
    names = list(getattr(cls, "RETURN_NAMES", ()) or [])
    return [names[i] if i < len(names) else str(t).lower() for i, t in enumerate(types)]


def _results(out: Any) -> tuple:
    """The output values of a node's return (a tuple, or ComfyUI's ``{"ui": ..., "result": (...)}``)."""
    if isinstance(out, dict):
        out = out.get("result") or ()
    return tuple(out) if isinstance(out, (tuple, list)) else ()


def record_run(registry: FilmRegistry, cls: type, kwargs: Mapping[str, Any], out: Any) -> None:
    """Keep the FILM/SCENES values of one call of ``cls``'s FUNCTION, if a prompt is executing."""
    context = bridge.executing_context()
    if context is None:
        return
    inputs = {k: v for k, v in kwargs.items() if isinstance(v, Film)}
    values = _results(out)
    names = _output_names(cls)
    outputs = {n: v for n, v in zip(names, values) if isinstance(v, Film)}
    scenes = {n: v for n, v in zip(names, values) if isinstance(v, Scenes)}
    if inputs or outputs or scenes:
        registry.record(context[0], context[1], cls.__name__, inputs, outputs, scenes)


def _wrap(method: Callable[..., Any], registry: FilmRegistry) -> Callable[..., Any]:
    params = inspect.signature(method).parameters

    def named(args: tuple, kwargs: dict) -> dict:
        # ComfyUI passes inputs by keyword; positional ones (direct calls) are named by the signature
        if not args[1:]:
            return kwargs
        names = [p for p in params][1:]
        return {**dict(zip(names, args[1:])), **kwargs}

    if inspect.iscoroutinefunction(method):
        @functools.wraps(method)
        async def wrapped_async(*args: Any, **kwargs: Any) -> Any:
            out = await method(*args, **kwargs)
            record_run(registry, type(args[0]), named(args, kwargs), out)
            return out
        setattr(wrapped_async, _MARK, True)
        return wrapped_async

    @functools.wraps(method)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        out = method(*args, **kwargs)
        record_run(registry, type(args[0]), named(args, kwargs), out)
        return out
    setattr(wrapped, _MARK, True)
    return wrapped


def instrument(mappings: Mapping[str, Any], registry: FilmRegistry | None = None) -> None:
    """Record each node's input and output FILMs by (prompt id, node id) for the /filmrestore/ routes.

    Idempotent; classes without a FUNCTION method are left alone."""
    registry = registry or default_registry()
    for cls in mappings.values():
        name = getattr(cls, "FUNCTION", None)
        if not isinstance(name, str):
            continue
        raw = inspect.getattr_static(cls, name, None)
        method = getattr(cls, name, None)
        # an inherited method already wrapped stays wrapped once; static/class methods get no instance to name
        if not inspect.isfunction(method) or getattr(method, _MARK, False) or \
                isinstance(raw, (staticmethod, classmethod)):
            continue
        setattr(cls, name, _wrap(method, registry))
