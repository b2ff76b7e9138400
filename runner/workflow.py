"""Reading ComfyUI workflow JSON in both formats into one shape: the API prompt ``{id: {class_type, inputs}}``.

The UI format (what ComfyUI's Save writes: ``nodes``, ``links``, ``widgets_values`` in widget order) is
converted as ComfyUI's front end does it: widgets in input order (skipping the front end's extra
control/upload values), links resolved through Reroute nodes, PrimitiveNode values inlined, Note nodes
ignored, muted nodes dropped and bypassed nodes passed through.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from ..filmlib.errors import WorkflowError

WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
IGNORED_TYPES = ("Note", "MarkdownNote")
_FILLER = ("fixed", "increment", "decrement", "randomize", "image", "video", "upload")
MODE_MUTED, MODE_BYPASS = 2, 4


def is_widget(spec: tuple) -> bool:
    """True when an INPUT_TYPES entry is a widget (a value typed in the node), not a link socket."""
    kind = spec[0]
    return isinstance(kind, (list, tuple)) or kind in WIDGET_TYPES


def widget_names(cls: Any) -> list[tuple[str, tuple]]:
    """(name, spec) of a node class's widget inputs in the order the front end lays them out."""
    types = cls.INPUT_TYPES()
    out = []
    for section in ("required", "optional"):
        for name, spec in (types.get(section) or {}).items():
            if is_widget(spec):
                out.append((name, spec))
    return out


def read_workflow(path: str | Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise WorkflowError([f"workflow file not found: {str(path)!r}"]) from None
    except json.JSONDecodeError as exc:
        raise WorkflowError([f"{str(path)!r} is not valid JSON ({exc})"]) from None
    if not isinstance(data, dict):
        raise WorkflowError([f"{str(path)!r} holds a {type(data).__name__}, not a ComfyUI workflow object"])
    return data


def is_ui_format(data: Mapping[str, Any]) -> bool:
    return isinstance(data.get("nodes"), list)


def _links(data: Mapping[str, Any]) -> dict[int, tuple[int, int, int, int, str]]:
    out = {}
    for link in data.get("links") or []:
        if isinstance(link, dict):
            out[int(link["id"])] = (int(link["origin_id"]), int(link["origin_slot"]), int(link["target_id"]),
                                    int(link["target_slot"]), str(link.get("type", "*")))
        else:
            lid, src, sslot, dst, dslot, typ = link[:6]
            out[int(lid)] = (int(src), int(sslot), int(dst), int(dslot), str(typ))
    return out


def ui_to_api(data: Mapping[str, Any], node_classes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Convert a UI-format workflow to an API prompt; raise WorkflowError listing everything unsupported."""
    errors: list[str] = []
    if (data.get("definitions") or {}).get("subgraphs"):
        errors.append("the workflow contains subgraphs (group nodes), which the headless runner does not run; "
                      "unpack them in ComfyUI (right click > Unpack Subgraph) and save again")
    nodes = {int(n["id"]): n for n in data["nodes"]}
    links = _links(data)

    def resolve(link_id: int, seen: frozenset = frozenset()) -> Any:
        """The API value for a link: [node_id, slot], a constant from a PrimitiveNode, or None if cut."""
        if link_id not in links or link_id in seen:
            return None
        src, slot, _, _, typ = links[link_id]
        node = nodes.get(src)
        if node is None:
            return None
        mode = node.get("mode", 0)
        if node["type"] == "Reroute":
            up = (node.get("inputs") or [{}])[0].get("link")
            return resolve(up, seen | {link_id}) if up is not None else None
        if node["type"] == "PrimitiveNode":
            values = node.get("widgets_values") or [None]
            return {"__constant__": values[0]}
        if mode == MODE_MUTED:
            return None
        if mode == MODE_BYPASS:
            # ComfyUI passes a bypassed node's matching input straight through
            ins = node.get("inputs") or []
            candidates = [i for i in ins if i.get("link") is not None and (i.get("type") == typ or typ == "*")]
            same_slot = [i for i in candidates if ins.index(i) == slot]
            pick = (same_slot or candidates or [None])[0]
            return resolve(pick["link"], seen | {link_id}) if pick else None
        return [str(src), slot]

    prompt: dict[str, dict[str, Any]] = {}
    for nid, node in nodes.items():
        typ = node.get("type")
        mode = node.get("mode", 0)
        if typ in IGNORED_TYPES or typ in ("Reroute", "PrimitiveNode") or mode in (MODE_MUTED, MODE_BYPASS):
            continue
        cls = node_classes.get(typ)
        if cls is None:
            prompt[str(nid)] = {"class_type": typ, "inputs": {}}  # validation reports the unknown type
            continue
        inputs: dict[str, Any] = {}
        values = node.get("widgets_values")
        widgets = widget_names(cls)
        if isinstance(values, dict):
            inputs.update({k: v for k, v in values.items() if k in dict(widgets)})
        elif isinstance(values, list):
            pos = 0
            for name, spec in widgets:
                while pos < len(values) and isinstance(values[pos], str) and values[pos] in _FILLER \
                        and spec[0] in ("INT", "FLOAT", "BOOLEAN"):
                    pos += 1
                if pos >= len(values):
                    break
                inputs[name] = values[pos]
                pos += 1
        for inp in node.get("inputs") or []:
            if inp.get("link") is None:
                continue
            value = resolve(int(inp["link"]))
            name = inp.get("widget", {}).get("name") if isinstance(inp.get("widget"), dict) else None
            name = name or inp["name"]
            if isinstance(value, dict) and "__constant__" in value:
                inputs[name] = value["__constant__"]
            elif value is not None:
                inputs[name] = value
            else:
                inputs.pop(name, None) if name not in dict(widgets) else None
        prompt[str(nid)] = {"class_type": typ, "inputs": inputs, "_meta": {"title": node.get("title", typ)}}
    if errors:
        raise WorkflowError(errors)
    return prompt


def to_api(data: Mapping[str, Any], node_classes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Either format in, API prompt out (a copy; the input is not modified)."""
    if is_ui_format(data):
        return ui_to_api(data, node_classes)
    prompt = data.get("prompt") if isinstance(data.get("prompt"), dict) and "class_type" not in data else data
    out: dict[str, dict[str, Any]] = {}
    bad = []
    for nid, node in prompt.items():
        if not isinstance(node, dict) or "class_type" not in node:
            bad.append(f"node {nid}: has no class_type; this is neither an API-format prompt nor a UI workflow")
            continue
        out[str(nid)] = {"class_type": node["class_type"], "inputs": dict(node.get("inputs") or {})}
    if bad:
        raise WorkflowError(bad)
    return out
