"""Executing an API prompt with ComfyUI's caching semantics: a node whose inputs (and IS_CHANGED) are unchanged
since the last run of this :class:`Runner` is not run again; only ancestors of output nodes run."""
from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

from .. import comfy_bridge as bridge
from ..filmlib.errors import FilmRestoreError, WorkflowError
from .validate import _is_link, validate_prompt

log = logging.getLogger(__name__)


class ExecutionError(FilmRestoreError):
    """A node failed while running; the message names the node."""


@dataclass
class RunResult:
    ui: dict[str, Any] = field(default_factory=dict)          # node id -> ui dict (saved files)
    outputs: dict[str, tuple] = field(default_factory=dict)   # node id -> outputs
    executed: list[str] = field(default_factory=list)         # node ids that ran (not cached)
    seconds: float = 0.0
    prompt_id: str = ""                                        # as ComfyUI's: names this run in /filmrestore/ routes


def _order(prompt: Mapping[str, Mapping[str, Any]], targets: list[str]) -> list[str]:
    order: list[str] = []
    seen: set[str] = set()

    def visit(nid: str) -> None:
        if nid in seen:
            return
        seen.add(nid)
        for value in prompt[nid]["inputs"].values():
            if _is_link(value):
                visit(value[0])
        order.append(nid)

    for t in targets:
        visit(t)
    return order


class Runner:
    """Runs prompts; keeps node outputs between runs like ComfyUI's executor cache."""

    def __init__(self, node_classes: Mapping[str, Any]):
        self.node_classes = node_classes
        self._cache: dict[str, tuple[str, tuple, Any]] = {}   # node id -> (key, outputs, ui)
        self._instances: dict[tuple[str, str], Any] = {}

    def _key(self, nid: str, prompt: Mapping[str, Any], keys: dict[str, str]) -> str:
        node = prompt[nid]
        cls = self.node_classes[node["class_type"]]
        parts: dict[str, Any] = {"class": node["class_type"]}
        for name, value in sorted(node["inputs"].items()):
            parts[name] = ["link", keys[value[0]], value[1]] if _is_link(value) else value
        changed = getattr(cls, "IS_CHANGED", None)
        if changed is not None:
            constants = {k: v for k, v in node["inputs"].items() if not _is_link(v)}
            try:
                parts["__is_changed__"] = str(changed(**constants))
            except TypeError:
                parts["__is_changed__"] = "unknown"
        return json.dumps(parts, sort_keys=True, default=str)

    def run(self, prompt: Mapping[str, Any], extra_pnginfo: Mapping[str, Any] | None = None) -> RunResult:
        errors = validate_prompt(prompt, self.node_classes)
        if errors:
            raise WorkflowError(errors)
        start = time.perf_counter()
        targets = [nid for nid, n in prompt.items() if getattr(self.node_classes[n["class_type"]], "OUTPUT_NODE", False)]
        result = RunResult(prompt_id=uuid.uuid4().hex)
        prompt_id = result.prompt_id
        keys: dict[str, str] = {}
        values: dict[str, tuple] = {}
        for nid in _order(prompt, targets):
            node = prompt[nid]
            ctype = node["class_type"]
            keys[nid] = key = self._key(nid, prompt, keys)
            cached = self._cache.get(nid)
            if cached is not None and cached[0] == key:
                values[nid] = cached[1]
                if cached[2]:
                    result.ui[nid] = cached[2]
                continue
            cls = self.node_classes[ctype]
            inst = self._instances.setdefault((nid, ctype), cls())
            kwargs = {name: (values[v[0]][v[1]] if _is_link(v) else v) for name, v in node["inputs"].items()}
            hidden = (cls.INPUT_TYPES().get("hidden") or {})
            for name, what in hidden.items():
                if what == "PROMPT":
                    kwargs[name] = dict(prompt)
                elif what == "EXTRA_PNGINFO":
                    kwargs[name] = dict(extra_pnginfo or {})
                elif what == "UNIQUE_ID":
                    kwargs[name] = nid
            known = set((cls.INPUT_TYPES().get("required") or {})) | set(cls.INPUT_TYPES().get("optional") or {}) \
                | set(hidden)
            kwargs = {k: v for k, v in kwargs.items() if k in known}
            t0 = time.perf_counter()
            bridge.set_headless_context((prompt_id, nid))
            try:
                out = getattr(inst, cls.FUNCTION)(**kwargs)
            except FilmRestoreError as exc:
                raise ExecutionError(f"node {nid} ({ctype}) failed: {exc}") from exc
            except (ValueError, TypeError, OSError, RuntimeError, IndexError) as exc:
                raise ExecutionError(f"node {nid} ({ctype}) failed: {type(exc).__name__}: {exc}") from exc
            finally:
                bridge.set_headless_context(None)
            ui = None
            if isinstance(out, dict):
                ui = out.get("ui")
                out = tuple(out.get("result") or ())
            values[nid] = tuple(out)
            self._cache[nid] = (key, values[nid], ui)
            if ui:
                result.ui[nid] = ui
            result.executed.append(nid)
            log.info("node %s (%s) ran in %.2f s", nid, ctype, time.perf_counter() - t0)
        result.outputs = values
        result.seconds = time.perf_counter() - start
        return result


def object_info(node_classes: Mapping[str, Any], display_names: Mapping[str, str]) -> dict[str, Any]:
    """Node definitions in the shape of ComfyUI's ``/object_info``."""
    info = {}
    for name, cls in node_classes.items():
        types = cls.INPUT_TYPES()
        outs = list(cls.RETURN_TYPES)
        info[name] = {
            "input": {k: v for k, v in types.items() if k in ("required", "optional", "hidden")},
            "input_order": {k: list(v) for k, v in types.items() if k in ("required", "optional", "hidden")},
            "output": outs,
            "output_is_list": list(getattr(cls, "OUTPUT_IS_LIST", [False] * len(outs))),
            "output_name": list(getattr(cls, "RETURN_NAMES", outs)),
            "output_tooltips": list(getattr(cls, "OUTPUT_TOOLTIPS", [])),
            "name": name,
            "display_name": display_names.get(name, name),
            "description": getattr(cls, "DESCRIPTION", ""),
            "python_module": "custom_nodes.ComfyUI-FilmRestore",
            "category": cls.CATEGORY,
            "output_node": bool(getattr(cls, "OUTPUT_NODE", False)),
        }
    return info
