"""Building UI-format workflows (what ComfyUI's Save writes) from a short node list: used to write the example
workflows and by tests, so the files load in ComfyUI's front end exactly as if it had saved them."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from .workflow import CONTROL_VALUES, UPLOAD_VALUE, is_widget, widget_default, widget_layout

COLUMN, ROW = 380, 40   # layout: one column per node, left to right, alternate nodes a little lower


def _extra_value(kind: str) -> Any:
    """The value the front end stores for a non-widget slot of a new node."""
    return {"control": CONTROL_VALUES[0], "filter": "", "upload": UPLOAD_VALUE}[kind]


def ui_node(n: Mapping[str, Any], cls: Any, col: int, links: list[list[Any]],
            outputs_links: Mapping[tuple[int, int], list[int]]) -> dict[str, Any]:
    """One node: ``widgets_values`` in the front end's layout (its control values ``fixed`` so a workflow runs
    the same twice; the upload button's value last); inputs like the front end's, sockets first, then one
    input per widget."""
    given = dict(n.get("widgets") or {})
    controls = dict(n.get("controls") or {})   # e.g. {"seed": "randomize"}
    values = []
    for slot in widget_layout(cls):
        if slot.kind == "widget":
            values.append(given.pop(slot.name) if slot.name in given else widget_default(slot.spec))
        else:
            values.append(controls.get(slot.name, _extra_value(slot.kind)) if slot.kind == "control"
                          else _extra_value(slot.kind))
    if given:
        raise KeyError(f"node {n['id']} ({n['type']}): no widget named {', '.join(given)}")
    types = cls.INPUT_TYPES()
    specs = [(name, spec) for sec in ("required", "optional") for name, spec in (types.get(sec) or {}).items()]

    def link_to(name: str) -> int | None:
        return next((l[0] for l in links if l[3] == n["id"] and l[4] == name), None)

    inputs = [{"name": name, "type": spec[0], "link": link_to(name)} for name, spec in specs if not is_widget(spec)]
    inputs += [{"name": name, "type": "COMBO" if isinstance(spec[0], (list, tuple)) else spec[0],
                "widget": {"name": name}, "link": link_to(name)} for name, spec in specs if is_widget(spec)]
    names = getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)
    outputs = [{"name": rn, "type": rt, "links": outputs_links.get((n["id"], k), []), "slot_index": k}
               for k, (rt, rn) in enumerate(zip(cls.RETURN_TYPES, names))]
    return {"id": n["id"], "type": n["type"], "pos": [100 + COLUMN * col, 200 + ROW * (col % 2)],
            "size": [340, 80 + 26 * (len(values) + len(outputs))], "flags": {}, "order": col,
            "mode": n.get("mode", 0), "inputs": inputs, "outputs": outputs,
            "properties": {"Node name for S&R": n["type"]}, "widgets_values": values,
            **({"title": n["title"]} if "title" in n else {})}


def ui_workflow(nodes: Sequence[Mapping[str, Any]], node_classes: Mapping[str, Any]) -> dict[str, Any]:
    """``nodes``: dicts with ``id``, ``type``, optional ``widgets`` {name: value}, ``links`` {input: (id, slot)},
    ``mode``, ``title`` and ``controls`` {widget: control_after_generate value}.

    Widgets not given take their defaults; returns the UI JSON (version 0.4) with nodes laid out left to right.
    """
    links: list[list[Any]] = []
    outputs_links: dict[tuple[int, int], list[int]] = {}
    by_id = {n["id"]: n for n in nodes}
    for n in nodes:
        for name, (src, slot) in (n.get("links") or {}).items():
            lid = len(links) + 1
            links.append([lid, src, slot, n["id"], name, node_classes[by_id[src]["type"]].RETURN_TYPES[slot]])
            outputs_links.setdefault((src, slot), []).append(lid)
    out_nodes = [ui_node(n, node_classes[n["type"]], col, links, outputs_links) for col, n in enumerate(nodes)]
    for link in links:  # the UI format addresses target inputs by slot index
        target = next(o for o in out_nodes if o["id"] == link[3])
        slots = [i for i, e in enumerate(target["inputs"]) if e["name"] == link[4]]
        if not slots:
            raise KeyError(f"node {link[3]} ({target['type']}): no input named {link[4]!r} to link; its inputs: "
                           f"{', '.join(e['name'] for e in target['inputs'])}")
        link[4] = slots[0]
    return {"last_node_id": max(n["id"] for n in nodes), "last_link_id": len(links), "nodes": out_nodes,
            "links": links, "groups": [], "config": {}, "extra": {"ds": {"scale": 1, "offset": [0, 0]}},
            "version": 0.4}
