"""Reading ComfyUI workflow JSON in both formats into one shape: the API prompt ``{id: {class_type, inputs}}``.

The UI format (what ComfyUI's Save writes: ``nodes``, ``links``, ``widgets_values``) is converted as ComfyUI's
front end does it (checked against frontend 1.27.10 and 1.58.1): links resolved through Reroute nodes,
PrimitiveNode values inlined, Note nodes ignored, muted nodes dropped and bypassed nodes passed through.
``widgets_values`` is read by :func:`widget_layout`, the front end's own order; files written by older front
ends (or by older versions of our example builder) are accepted when only one reading of them fits.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..filmlib.errors import WorkflowError

WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
IGNORED_TYPES = ("Note", "MarkdownNote")
CONTROL_VALUES = ("fixed", "increment", "decrement", "randomize", "increment-wrap")
UPLOAD_FLAGS = ("image_upload", "video_upload", "animated_image_upload")
UPLOAD_VALUE = "image"  # the value of the front end's upload button, whatever the media
MODE_MUTED, MODE_BYPASS = 2, 4
MAX_WORKFLOW_BYTES = 64 * 2**20


def _opts(spec: tuple) -> dict[str, Any]:
    return spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}


def input_kind(spec: tuple) -> str:
    """INT, FLOAT, STRING, BOOLEAN, COMBO (both combo styles) or a socket type such as FILM."""
    return "COMBO" if isinstance(spec[0], (list, tuple)) else str(spec[0])


def combo_choices(spec: tuple) -> list[Any]:
    """The choices of a COMBO input, in both the list style and the ``("COMBO", {"options": [...]})`` style."""
    return list(spec[0]) if isinstance(spec[0], (list, tuple)) else list(_opts(spec).get("options") or [])


def is_widget(spec: tuple) -> bool:
    """True when an INPUT_TYPES entry is a widget (a value typed in the node), not a link socket."""
    return input_kind(spec) in WIDGET_TYPES and not _opts(spec).get("forceInput")


def widget_names(cls: Any) -> list[tuple[str, tuple]]:
    """(name, spec) of a node class's widget inputs in the order the front end lays them out."""
    types = cls.INPUT_TYPES()
    return [(name, spec) for section in ("required", "optional")
            for name, spec in (types.get(section) or {}).items() if is_widget(spec)]


def widget_default(spec: tuple) -> Any:
    """The value the front end gives a new widget: the default, else the first choice, 0, False or ''."""
    opts, kind = _opts(spec), input_kind(spec)
    if "default" in opts:
        return opts["default"]
    if kind == "COMBO":
        return (combo_choices(spec) or [""])[0]
    return {"INT": 0, "FLOAT": 0.0, "BOOLEAN": False}.get(kind, "")


@dataclass(frozen=True)
class Slot:
    """One entry of ``widgets_values``: a widget's value or one of the front end's extra values after it."""
    kind: str          # "widget", "control" (control_after_generate), "filter" (combo control filter), "upload"
    name: str
    spec: tuple = ()


def has_control(name: str, spec: tuple) -> bool:
    """Whether the front end adds a ``control_after_generate`` combo after this widget (INT inputs named seed or
    noise_seed get one unless the node says ``control_after_generate: False``)."""
    flag = _opts(spec).get("control_after_generate")
    if input_kind(spec) == "INT" and flag is None:
        return name in ("seed", "noise_seed")
    return bool(flag) and input_kind(spec) in ("INT", "FLOAT", "COMBO")


def upload_input(cls: Any) -> str | None:
    """The required combo that gets the front end's upload button (the first with image/video_upload)."""
    for name, spec in (cls.INPUT_TYPES().get("required") or {}).items():
        if input_kind(spec) == "COMBO" and any(_opts(spec).get(f) is True for f in UPLOAD_FLAGS):
            return name
    return None


def widget_layout(cls: Any, upload: str | None = "end", controls: bool = True) -> list[Slot]:
    """The slots of ``widgets_values`` for ``cls``. The front end's rule (``upload="end"``): widgets in input
    order, required then optional; a control value (and for a combo a filter string) right after each widget that
    has one; the upload button's value last, after every widget. ``upload`` may also be ``None`` (no upload value),
    ``"after"`` (right after its combo) or ``"required"`` (after the required widgets); ``controls=False`` drops
    the control values: the layouts of files written by hand or by older front ends."""
    required = set(cls.INPUT_TYPES().get("required") or {})
    media = upload_input(cls) if upload else None
    slots: list[Slot] = []
    widgets = widget_names(cls)
    for i, (name, spec) in enumerate(widgets):
        slots.append(Slot("widget", name, spec))
        if controls and has_control(name, spec):
            slots.append(Slot("control", name))
            if input_kind(spec) == "COMBO":
                slots.append(Slot("filter", name))
        last_required = name in required and (i + 1 == len(widgets) or widgets[i + 1][0] not in required)
        if media and ((upload == "after" and name == media) or (upload == "required" and last_required)):
            slots.append(Slot("upload", media))
    if media and upload == "end":
        slots.append(Slot("upload", media))
    return slots


LAYOUTS = (("as the current front end saves it", {}),
           ("with the upload value right after its file list (older FilmRestore examples)", {"upload": "after"}),
           ("with the upload value after the required widgets (older front ends)", {"upload": "required"}),
           ("without the upload button's value", {"upload": None}),
           ("without control_after_generate values", {"controls": False}))


def _fits(slot: Slot, value: Any, media: str | None) -> bool:
    """Whether ``value`` can be the value of ``slot`` (types only: ranges are validation's job)."""
    if slot.kind == "control":
        return value in CONTROL_VALUES
    if slot.kind == "filter":
        return isinstance(value, str)
    if slot.kind == "upload":
        return value == UPLOAD_VALUE
    kind = input_kind(slot.spec)
    if kind == "INT":
        integral = isinstance(value, int) or isinstance(value, float) and value.is_integer()
        return integral and not isinstance(value, bool)
    if kind == "FLOAT":
        return not isinstance(value, bool) and isinstance(value, (int, float))
    if kind == "BOOLEAN":
        return isinstance(value, bool)
    if kind == "STRING":
        return isinstance(value, str)
    choices = combo_choices(slot.spec)
    if slot.name == media or not [c for c in choices if c != ""]:
        return isinstance(value, str)  # a file list: differs between machines (the runner takes any path)
    return value in choices


def _short(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items())


def widget_values(where: str, node: Mapping[str, Any], cls: Any, errors: list[str]) -> dict[str, Any]:
    """The widget inputs of a UI node by name, every widget filled (missing ones take their defaults, as in the
    front end). Problems are appended to ``errors``."""
    widgets = dict(widget_names(cls))
    out = {name: widget_default(spec) for name, spec in widgets.items()}
    values = node.get("widgets_values")
    if values is None:
        return out
    if isinstance(values, dict):  # some front ends and V3 nodes store widgets by name
        out.update({k: v for k, v in values.items() if k in widgets})
        return out
    if not isinstance(values, list):
        errors.append(f"{where}: widgets_values is a {type(values).__name__} ({str(values)[:60]!r}); it must be a "
                      f"list of the widget values ({', '.join(widgets)}) or an object by name")
        return out
    media = upload_input(cls)
    readings: list[tuple[str, dict[str, Any]]] = []
    seen: list[list[Slot]] = []
    for label, how in LAYOUTS:
        slots = widget_layout(cls, **how)
        if slots in seen:
            continue
        seen.append(slots)
        if len(slots) == len(values) and all(_fits(s, v, media) for s, v in zip(slots, values)):
            reading = {s.name: v for s, v in zip(slots, values) if s.kind == "widget"}
            if all(reading != r for _, r in readings):
                readings.append((label, reading))
    if len(readings) > 1:
        ways = "; or ".join(f"{label}: {_short(r)}" for label, r in readings)
        errors.append(f"{where}: widgets_values {values!r} can be read more than one way ({ways}); open the "
                      f"workflow in ComfyUI, check the values and save it again")
        return out
    if readings:
        out.update(readings[0][1])
        return out
    slots = widget_layout(cls)
    if len(values) > len(slots):
        names = ", ".join(s.name if s.kind == "widget" else f"<{s.kind} of {s.name}>" for s in slots)
        errors.append(f"{where}: widgets_values has {len(values)} values {values!r} but {node.get('type')} has "
                      f"{len(slots)} ({names}); it was saved with another version of the node: open it in "
                      f"ComfyUI, check the values and save it again")
        return out
    # the front end's own reading: values in order, the rest keep their defaults; validation judges the values
    out.update({s.name: v for s, v in zip(slots, values) if s.kind == "widget"})
    return out


def read_workflow(path: str | Path) -> dict[str, Any]:
    """The JSON object in ``path``; WorkflowError (no traceback) for a missing, unreadable or non-JSON file."""
    p = Path(path)
    shown = repr(str(path))
    try:
        if p.is_dir():
            raise WorkflowError([f"workflow {shown} is a folder, not a file; give the path of a workflow .json "
                                 f"file in it"])
        if not p.exists():
            raise WorkflowError([f"workflow file not found: {shown}; check the path"])
        size = p.stat().st_size
        if size > MAX_WORKFLOW_BYTES:
            raise WorkflowError([f"workflow {shown} is {size / 2**20:.0f} MiB; a ComfyUI workflow is a small JSON "
                                 f"file (at most {MAX_WORKFLOW_BYTES // 2**20} MiB here): is this the right file?"])
        raw = p.read_bytes()
    except OSError as exc:
        raise WorkflowError([f"workflow {shown} cannot be read ({exc.strerror or exc}); check its "
                             f"permissions"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise WorkflowError([f"workflow {shown} is not a text file (byte {exc.start} is {raw[exc.start]:#04x}, not "
                             f"UTF-8); give a ComfyUI workflow .json (a PNG's embedded workflow: open the PNG in "
                             f"ComfyUI and use Export)"]) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkflowError([f"workflow {shown} is not valid JSON: {exc.msg} at line {exc.lineno} column "
                             f"{exc.colno}; fix the file or export it again from ComfyUI"]) from None
    except RecursionError:
        raise WorkflowError([f"workflow {shown} nests brackets too deeply to be a ComfyUI workflow; is this the "
                             f"right file?"]) from None
    if not isinstance(data, dict):
        raise WorkflowError([f"workflow {shown} holds a JSON {type(data).__name__}, not a ComfyUI workflow object "
                             f"(UI format: {{\"nodes\": [...], \"links\": [...]}}; API format: "
                             f"{{\"1\": {{\"class_type\": ..., \"inputs\": {{...}}}}}})"])
    return data


def is_ui_format(data: Mapping[str, Any]) -> bool:
    return isinstance(data.get("nodes"), list)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _links(data: Mapping[str, Any], errors: list[str]) -> dict[int, tuple[int, int, int, int, str]]:
    """Link id -> (origin id, origin slot, target id, target slot, type), from arrays or objects."""
    out = {}
    links = data.get("links") or []
    if not isinstance(links, list):
        errors.append(f"'links' is a {type(links).__name__}, not a list of links")
        return out
    for i, link in enumerate(links):
        if isinstance(link, dict):
            fields = [link.get(k) for k in ("id", "origin_id", "origin_slot", "target_id", "target_slot")]
            typ = link.get("type", "*")
        elif isinstance(link, list) and len(link) == 6:
            fields, typ = list(link[:5]), link[5]
        else:
            errors.append(f"link #{i} is {link!r}; a link is [id, origin_node, origin_slot, target_node, "
                          f"target_slot, type] (6 items) or an object with those keys")
            continue
        ints = [_int(f) for f in fields]
        if None in ints:
            errors.append(f"link #{i} is {link!r}; its id, node ids and slots must be integers")
            continue
        out[ints[0]] = (ints[1], ints[2], ints[3], ints[4], str(typ))
    return out


def _nodes(data: Mapping[str, Any], errors: list[str]) -> dict[int, Mapping[str, Any]]:
    nodes: dict[int, Mapping[str, Any]] = {}
    for i, node in enumerate(data["nodes"]):
        nid = _int(node.get("id")) if isinstance(node, dict) else None
        if not isinstance(node, dict) or not isinstance(node.get("type"), str) or nid is None:
            shown = json.dumps(node, default=str)[:120]
            errors.append(f"nodes[{i}] is {shown}; every node needs an integer 'id' and a 'type' (save the "
                          f"workflow again from ComfyUI)")
        elif nid in nodes:
            errors.append(f"nodes[{i}]: node id {nid} is used twice; ids must be unique")
        else:
            nodes[nid] = node
    return nodes


def ui_to_api(data: Mapping[str, Any], node_classes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Convert a UI-format workflow to an API prompt; raise WorkflowError listing everything wrong."""
    errors: list[str] = []
    if (data.get("definitions") or {}).get("subgraphs"):
        errors.append("the workflow contains subgraphs (group nodes), which the headless runner does not run; "
                      "unpack them in ComfyUI (right click > Unpack Subgraph) and save again")
    nodes = _nodes(data, errors)
    links = _links(data, errors)

    def resolve(where: str, link_id: int, seen: frozenset = frozenset()) -> Any:
        """The API value for a link: [node_id, slot], a constant from a PrimitiveNode, or None if cut."""
        if link_id in seen:
            errors.append(f"{where}: links {sorted(seen)} form a loop through Reroute/bypassed nodes")
            return None
        if link_id not in links:
            errors.append(f"{where}: uses link {link_id}, which is not in the workflow's links; reconnect it")
            return None
        src, slot, _, _, typ = links[link_id]
        node = nodes.get(src)
        if node is None:
            errors.append(f"{where}: link {link_id} comes from node {src}, which is not in the workflow; "
                          f"reconnect the input")
            return None
        if node["type"] == "Reroute":
            up = ((node.get("inputs") or [{}])[0] or {}).get("link")
            return resolve(where, up, seen | {link_id}) if up is not None else None
        if node["type"] == "PrimitiveNode":
            values = node.get("widgets_values") or [None]
            return {"__constant__": values[0] if isinstance(values, list) else None}
        mode = node.get("mode", 0)
        if mode == MODE_MUTED:
            return None
        if mode == MODE_BYPASS:  # ComfyUI passes a bypassed node's matching input straight through
            ins = [i for i in node.get("inputs") or [] if isinstance(i, dict)]
            candidates = [i for i in ins if i.get("link") is not None and (i.get("type") == typ or typ == "*")]
            same_slot = [i for i in candidates if ins.index(i) == slot]
            pick = (same_slot or candidates or [None])[0]
            return resolve(where, pick["link"], seen | {link_id}) if pick else None
        return [str(src), slot]

    prompt: dict[str, dict[str, Any]] = {}
    for nid, node in nodes.items():
        typ = node["type"]
        if typ in IGNORED_TYPES or typ in ("Reroute", "PrimitiveNode") or node.get("mode", 0) in (MODE_MUTED,
                                                                                                  MODE_BYPASS):
            continue
        cls = node_classes.get(typ)
        if cls is None:
            prompt[str(nid)] = {"class_type": typ, "inputs": {}}  # validation reports the unknown type
            continue
        where = f"node {nid} ({typ})"
        inputs = widget_values(where, node, cls, errors)
        node_inputs = node.get("inputs") or []
        for inp in node_inputs if isinstance(node_inputs, list) else []:
            if not isinstance(inp, dict) or inp.get("link") is None:
                continue
            widget = inp.get("widget")
            name = (widget.get("name") if isinstance(widget, dict) else None) or inp.get("name")
            if _int(inp["link"]) is None or not isinstance(name, str):
                errors.append(f"{where}: input {json.dumps(inp, default=str)[:100]} needs a 'name' and an "
                              f"integer 'link'")
                continue
            value = resolve(f"{where} input '{name}'", inp["link"])
            if isinstance(value, dict) and "__constant__" in value:
                inputs[name] = value["__constant__"]
            elif value is not None:
                inputs[name] = value
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
            bad.append(f"node {nid}: {json.dumps(node, default=str)[:80]} has no class_type; this is neither an "
                       f"API-format prompt ({{\"class_type\": ..., \"inputs\": {{...}}}}) nor a UI workflow")
            continue
        inputs = node.get("inputs", {})
        if not isinstance(node["class_type"], str):
            bad.append(f"node {nid}: class_type {node['class_type']!r} is not a node type name")
        elif not isinstance(inputs, dict):
            bad.append(f"node {nid} ({node['class_type']}): \"inputs\" is {json.dumps(inputs, default=str)[:80]}; "
                       f"it must be an object of input name to value, e.g. {{\"crf\": 18}}")
        else:
            out[str(nid)] = {"class_type": node["class_type"], "inputs": dict(inputs)}
    if bad:
        raise WorkflowError(bad)
    return out


def finite(value: Any) -> bool:
    """False for NaN and infinities (JSON allows them; no widget does)."""
    return not isinstance(value, float) or math.isfinite(value)
