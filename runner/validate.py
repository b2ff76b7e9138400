"""Validating an API prompt against node classes before anything runs; every error is collected."""
from __future__ import annotations

import inspect
from typing import Any, Mapping

from .workflow import combo_choices, finite, input_kind, is_widget


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


def types_match(produced: str, expected: str) -> bool:
    """ComfyUI's rule: equal, a ``*`` wildcard, or overlapping comma-separated unions."""
    if "*" in (produced, expected) or produced == expected:
        return True
    return bool(set(produced.split(",")) & set(expected.split(",")))


def _short(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items())


def _range(opts: Mapping[str, Any]) -> str:
    lo, hi = opts.get("min"), opts.get("max")
    return f" between {lo} and {hi}" if lo is not None and hi is not None else ""


def _check_widget(nid: str, name: str, spec: tuple, value: Any) -> str | None:
    kind, opts = spec[0], (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {})
    where = f"node {nid} input '{name}'"
    if isinstance(kind, (list, tuple)) or kind == "COMBO":
        choices = combo_choices(spec)
        if value not in choices:
            shown = ", ".join(repr(v) for v in choices[:12]) + (" ..." if len(choices) > 12 else "")
            return f"{where}: {value!r} is not one of the choices [{shown}]"
        return None
    if kind == "INT":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                return f"{where}: expected an integer{_range(opts)}, got {value!r}"
    elif kind == "FLOAT":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{where}: expected a number{_range(opts)}, got {value!r}"
        if not finite(value):
            return f"{where}: {value!r} is not a usable number; give a finite value{_range(opts)}"
    elif kind == "BOOLEAN":
        if not isinstance(value, bool):
            return f"{where}: expected true or false, got {value!r}"
    elif kind == "STRING":
        if not isinstance(value, str):
            return f"{where}: expected a string, got {value!r}"
        return None
    if kind in ("INT", "FLOAT"):
        lo, hi = opts.get("min"), opts.get("max")
        if lo is not None and value < lo:
            return f"{where}: {value} is below the minimum {lo}"
        if hi is not None and value > hi:
            return f"{where}: {value} is above the maximum {hi}"
    return None


def find_cycles(prompt: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    """Cycles of node ids through links (each reported once)."""
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(nid: str, stack: list[str]) -> None:
        state[nid] = 1
        stack.append(nid)
        for value in prompt[nid]["inputs"].values():
            if _is_link(value) and value[0] in prompt:
                up = value[0]
                if state.get(up) == 1:
                    cycles.append(stack[stack.index(up):] + [up])
                elif up not in state:
                    visit(up, stack)
        stack.pop()
        state[nid] = 2

    for nid in prompt:
        if nid not in state:
            visit(nid, [])
    return cycles


def validate_prompt(prompt: Mapping[str, Mapping[str, Any]], node_classes: Mapping[str, Any]) -> list[str]:
    """Every problem of ``prompt``: unknown types, missing inputs, link type mismatches, bad values, cycles."""
    errors: list[str] = []
    known = sorted(node_classes)
    for nid, node in prompt.items():
        ctype = node["class_type"]
        cls = node_classes.get(ctype)
        if cls is None:
            errors.append(f"node {nid}: unknown node type {ctype!r}; known types: {', '.join(known)}")
            continue
        types = cls.INPUT_TYPES()
        validate_fn = getattr(cls, "VALIDATE_INPUTS", None)
        custom = set(inspect.signature(validate_fn).parameters) if validate_fn else set()
        constants: dict[str, Any] = {}
        for section in ("required", "optional"):
            for name, spec in (types.get(section) or {}).items():
                if name not in node["inputs"]:
                    if section == "required":
                        errors.append(f"node {nid} ({ctype}): required input '{name}' is missing")
                    continue
                value = node["inputs"][name]
                if _is_link(value):
                    src_id, slot = value
                    src = prompt.get(src_id)
                    if src is None:
                        errors.append(f"node {nid} input '{name}': linked to node {src_id}, which does not exist")
                        continue
                    src_cls = node_classes.get(src["class_type"])
                    if src_cls is None:
                        continue  # reported as an unknown type
                    outs = src_cls.RETURN_TYPES
                    if not 0 <= slot < len(outs):
                        errors.append(f"node {nid} input '{name}': node {src_id} ({src['class_type']}) has no "
                                      f"output slot {slot} (it has {len(outs)})")
                        continue
                    expected = spec[0] if not isinstance(spec[0], (list, tuple)) else "COMBO"
                    if not types_match(outs[slot], expected):
                        errors.append(f"node {nid} input '{name}': expects {expected} but is linked to a "
                                      f"{outs[slot]} output of node {src_id} ({src['class_type']})")
                    continue
                if not is_widget(spec):
                    hint = (f"; node ids are strings in links: write [\"{value[0]}\", {value[1]}]"
                            if isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value)
                            else "")
                    errors.append(f"node {nid} input '{name}': expects a link from a {spec[0]} output, "
                                  f"got the value {value!r}{hint}")
                    continue
                if name in custom:  # the node checks this value itself (ComfyUI's VALIDATE_INPUTS rule) ...
                    choices = combo_choices(spec) if is_widget(spec) and input_kind(spec) == "COMBO" else []
                    if choices and all(isinstance(c, str) for c in choices) and not isinstance(value, str):
                        # ... but it can only check a value of the right type
                        errors.append(f"node {nid} input '{name}': expected a name (a string), got {value!r}")
                    else:
                        constants[name] = value
                    continue
                constants[name] = value
                problem = _check_widget(nid, name, spec, value)
                if problem:
                    errors.append(problem)
        if validate_fn and custom and custom <= set(constants):
            args = {k: constants[k] for k in custom}
            try:
                result = validate_fn(**args)
            except (TypeError, ValueError, OSError) as exc:  # a value of the wrong type reached the node's check
                result = f"cannot check {_short(args)}: {type(exc).__name__}: {exc}; give a valid value"
            if result is not True:
                errors.append(f"node {nid} ({ctype}): {result}")
    for cycle in find_cycles({k: v for k, v in prompt.items() if k in prompt}):
        errors.append(f"nodes {' -> '.join(cycle)} form a cycle; a workflow must be acyclic")
    if not any(getattr(node_classes.get(n["class_type"]), "OUTPUT_NODE", False) for n in prompt.values()):
        errors.append("the workflow has no output node (such as FilmSaveVideo); nothing would be produced")
    return errors
