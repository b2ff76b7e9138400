"""What each node of the last few prompts took and gave: its FILM inputs and outputs and its SCENES outputs, so a
viewer (the before/after slider, the shot gallery) can read frames of a node's last run by (prompt id, node id).

Films are lazy handles: holding one keeps its recipe, not its frames (frames come through the chunk cache when
read). The registry is bounded: the newest ``max_prompts`` prompts, at most ``max_nodes`` nodes each.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Mapping

from .clip import Film
from .errors import InputError
from .scenes import Scenes

LATEST = "latest"


class RecordNotFound(InputError, LookupError):
    """No recorded run for a prompt / node (never run, run too long ago, or a cached node)."""


@dataclass(frozen=True)
class NodeRecord:
    """One node's run: its FILM inputs and outputs by slot name, and its SCENES outputs."""

    prompt_id: str
    node_id: str
    class_type: str
    inputs: Mapping[str, Film]
    outputs: Mapping[str, Film]
    scenes: Mapping[str, Scenes] = field(default_factory=dict)
    when: float = field(default_factory=time.time)

    def side(self, side: str) -> Mapping[str, Film]:
        if side == "input":
            return self.inputs
        if side == "output":
            return self.outputs
        raise InputError(f"side must be 'input' or 'output', got {side!r}")


def _by_name(films: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in films.items()}


class FilmRegistry:
    """Thread-safe, bounded map (prompt id, node id) -> :class:`NodeRecord` (the executor writes, the server reads)."""

    def __init__(self, max_prompts: int = 8, max_nodes: int = 512):
        if max_prompts < 1 or max_nodes < 1:
            raise ValueError(f"max_prompts and max_nodes must be >= 1, got {max_prompts}, {max_nodes}")
        self.max_prompts, self.max_nodes = max_prompts, max_nodes
        self._prompts: OrderedDict[str, dict[str, NodeRecord]] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, prompt_id: str, node_id: str, class_type: str, inputs: Mapping[str, Film],
               outputs: Mapping[str, Film], scenes: Mapping[str, Scenes] | None = None) -> NodeRecord:
        """Keep one node's FILMs and SCENES under (prompt_id, node_id); the oldest prompt goes beyond the bound."""
        rec = NodeRecord(str(prompt_id), str(node_id), class_type, _by_name(inputs), _by_name(outputs),
                         _by_name(scenes or {}))
        with self._lock:
            nodes = self._prompts.get(rec.prompt_id)
            if nodes is None:
                nodes = self._prompts[rec.prompt_id] = {}
            self._prompts.move_to_end(rec.prompt_id)
            nodes.pop(rec.node_id, None)
            nodes[rec.node_id] = rec
            while len(nodes) > self.max_nodes:
                nodes.pop(next(iter(nodes)))
            while len(self._prompts) > self.max_prompts:
                self._prompts.popitem(last=False)
        return rec

    @property
    def latest_prompt(self) -> str | None:
        """The prompt id that recorded last, or None."""
        with self._lock:
            return next(reversed(self._prompts), None)

    def prompts(self) -> list[str]:
        """Recorded prompt ids, oldest first."""
        with self._lock:
            return list(self._prompts)

    def get(self, prompt_id: str, node_id: str) -> NodeRecord:
        """The record of ``node_id`` in ``prompt_id``; ``prompt_id == "latest"`` means the newest prompt in which
        this node ran (a node ComfyUI served from its cache did not run: its record is that of an older prompt)."""
        with self._lock:
            if prompt_id == LATEST:
                for pid in reversed(self._prompts):
                    rec = self._prompts[pid].get(node_id)
                    if rec is not None:
                        return rec
                raise RecordNotFound(f"node {node_id} has no recorded run among the last {len(self._prompts)} "
                                     f"prompts: run the workflow (with this node) and try again")
            nodes = self._prompts.get(prompt_id)
            if nodes is None:
                raise RecordNotFound(f"prompt {prompt_id!r} is not among the last {self.max_prompts} recorded "
                                     f"prompts: run the workflow again")
            rec = nodes.get(node_id)
            if rec is None:
                raise RecordNotFound(f"node {node_id} did not run in prompt {prompt_id!r} (it has no FILM, or it "
                                     f"was cached): ask for prompt 'latest', or run the workflow again")
            return rec

    def runs_of(self, node_id: str) -> list[NodeRecord]:
        """The recorded runs of ``node_id``, newest first (empty when it has none)."""
        with self._lock:
            return [n[node_id] for n in reversed(self._prompts.values()) if node_id in n]

    def clear(self) -> None:
        with self._lock:
            self._prompts.clear()


_registry = FilmRegistry()


def default_registry() -> FilmRegistry:
    """The process-wide registry the node wrappers write and the routes read."""
    return _registry
