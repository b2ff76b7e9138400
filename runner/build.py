"""Building UI-format workflows (what ComfyUI's Save writes) from a short node list: used to write the example
workflows and by tests, so the files stay loadable by ComfyUI's front end."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from .workflow import widget_names


def ui_workflow(nodes: Sequence[Mapping[str, Any]], node_classes: Mapping[str, Any]) -> dict[str, Any]:
    """``nodes``: dicts with ``id``, ``type``, optional ``widgets`` {name: value} and ``links`` {input: (id, slot)}.

    Widgets not given take their defaults; returns the UI JSON (version 0.4) with nodes laid out left to right.
    """
    out_nodes, links = [], []
    by_id = {n["id"]: n for n in nodes}
    outputs_links: dict[tuple[int, int], list[int]] = {}
    for n in nodes:
        for name, (src, slot) in (n.get("links") or {}).items():
            lid = len(links) + 1
            links.append([lid, src, slot, n["id"], name, None])
            outputs_links.setdefault((src, slot), []).append(lid)
    for col, n in enumerate(nodes):
        cls = node_classes[n["type"]]
        types = cls.INPUT_TYPES()
        widgets = widget_names(cls)
        given = n.get("widgets") or {}
        values = []
        for name, spec in widgets:
            opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            default = opts.get("default", spec[0][0] if isinstance(spec[0], (list, tuple)) and spec[0] else None)
            values.append(given.get(name, default))
            if opts.get("video_upload") or opts.get("image_upload"):
                values.append("image")  # the front end stores its upload button's value here
            if opts.get("control_after_generate"):
                values.append("fixed")
        inputs = []
        sockets = [(name, spec) for sec in ("required", "optional") for name, spec in (types.get(sec) or {}).items()
                   if not (isinstance(spec[0], (list, tuple)) or spec[0] in ("INT", "FLOAT", "STRING", "BOOLEAN"))]
        for name, spec in sockets:
            link = next((l for l in links if l[3] == n["id"] and l[4] == name), None)
            entry = {"name": name, "type": spec[0], "link": link[0] if link else None}
            inputs.append(entry)
        for name, _ in widgets:  # a widget driven by a link becomes an input with a widget marker
            link = next((l for l in links if l[3] == n["id"] and l[4] == name), None)
            if link:
                inputs.append({"name": name, "type": "*", "link": link[0], "widget": {"name": name}})
        outputs = [{"name": rn, "type": rt, "links": outputs_links.get((n["id"], k)), "slot_index": k}
                   for k, (rt, rn) in enumerate(zip(cls.RETURN_TYPES, getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)))]
        out_nodes.append({"id": n["id"], "type": n["type"], "pos": [40 + 380 * col, 120 + 40 * (col % 2)],
                          "size": [340, 80 + 26 * (len(values) + len(inputs))], "flags": {}, "order": col,
                          "mode": n.get("mode", 0), "inputs": inputs, "outputs": outputs,
                          "properties": {"Node name for S&R": n["type"]}, "widgets_values": values,
                          **({"title": n["title"]} if "title" in n else {})})
    for l in links:  # the UI format addresses target inputs by slot index
        target = next(o for o in out_nodes if o["id"] == l[3])
        l[4] = next(i for i, e in enumerate(target["inputs"]) if e["name"] == l[4])
        src_cls = node_classes[by_id[l[1]]["type"]]
        l[5] = src_cls.RETURN_TYPES[l[2]]
    return {"last_node_id": max(n["id"] for n in nodes), "last_link_id": len(links), "nodes": out_nodes,
            "links": links, "groups": [], "config": {}, "extra": {"ds": {"scale": 1, "offset": [0, 0]}},
            "version": 0.4}
