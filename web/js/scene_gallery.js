// Shot gallery: FilmSceneDetect shows its last run's shots (keyframe, timecodes, length) in the node; a click keeps
// or drops a shot in the FilmSelectScenes its SCENES output feeds, by rewriting that node's `indices` text.
import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";
import { RunTracker, executionId, pickRun, runsPath } from "./before_after_logic.js";
import { connectedNodes, formatLength, keptShots, toggleShot } from "./gallery_logic.js";

const runs = new RunTracker();
const DETECT = "FilmSceneDetect";
const HINT = "Run the workflow to see its shots here.";

function el(tag, style = {}, props = {}) {
  const e = Object.assign(document.createElement(tag), props);
  Object.assign(e.style, style);
  return e;
}

function widget(node, name) {
  return node?.widgets?.find((w) => w.name === name);
}

class Gallery {
  constructor(node) {
    this.node = node;
    this.root = el("div", { display: "flex", flexDirection: "column", gap: "4px", font: "11px sans-serif",
      color: "#ccc", overflow: "hidden", height: "100%" }, { className: "filmrestore-gallery" });
    this.status = el("div", { minHeight: "1.3em" }, { textContent: HINT });
    this.grid = el("div", { display: "flex", flexWrap: "wrap", gap: "4px", overflowY: "auto", flex: "1" });
    this.root.append(this.status, this.grid);
    this.root.addEventListener("pointerenter", () => this.restyle());
  }

  /** The FilmSelectScenes this detector feeds, and its indices / mode widgets. */
  target() {
    const select = connectedNodes(this.node.graph ?? app.graph, this.node, 0)[0];
    return select ? { select, indices: widget(select, "indices"), mode: widget(select, "mode") } : null;
  }

  /** The id ComfyUI runs this node under ("4:2" inside a subgraph). */
  get nid() {
    return executionId(this.node, app.graph);
  }

  /** Show the shots of the node's run in `wanted` (or its newest run); a failure is shown, not thrown. */
  async load(wanted = runs.lastRun(this.nid)) {
    try {
      await this.fetchShots(wanted);
    } catch (err) {  // e.g. the server went away: shown in the node, not left as an unhandled rejection
      this.status.textContent = `shots unavailable: ${err.message}`;
    }
  }

  async fetchShots(wanted) {
    // which run: asking /runs first answers 200 even before any run, so a fresh page logs no 404
    const known = await api.fetchApi(runsPath(this.nid)).then((r) => (r.ok ? r.json() : null));
    const prompt = pickRun(known, wanted, DETECT);
    if (!prompt) {
      this.status.textContent = HINT;
      return;
    }
    const r = await api.fetchApi(`/filmrestore/scenes?${new URLSearchParams({ prompt, node: this.nid })}`);
    const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
    if (!r.ok) {
      this.status.textContent = body.error || `HTTP ${r.status}`;
      return;
    }
    this.data = body;
    this.render();
  }

  /** Cards for the shots of the last answer (thumbnails load once), then their kept / dropped look. */
  render() {
    const { shots, fps } = this.data;
    this.cards = shots.map((s) => {
      const card = el("div", { width: "100px", background: "#222", padding: "2px" }, { className: "filmrestore-shot",
        title: `shot ${s.index}: frames ${s.start}-${s.end - 1}, keyframe ${s.keyframe}` });
      card.dataset.shot = String(s.index);
      const img = el("img", { width: "100%", display: "block" }, { src: api.apiURL(s.keyframe_url), loading: "lazy",
        alt: `shot ${s.index}` });
      const caption = el("div", { whiteSpace: "nowrap", overflow: "hidden", textOverflow: "ellipsis" },
        { textContent: `#${s.index} ${s.start_tc}` });
      const length = el("div", { color: "#999" }, { textContent: formatLength(s.length, fps) });
      card.append(img, caption, length);
      card.addEventListener("click", () => this.toggle(s.index));
      return card;
    });
    this.grid.replaceChildren(...this.cards);
    this.restyle();
  }

  /** Show which shots the connected FilmSelectScenes keeps now (its text may have been typed meanwhile). */
  restyle() {
    if (!this.data || !this.cards) return;
    const { shots, count, truncated } = this.data;
    const t = this.target();
    const state = t ? keptShots(t.indices?.value ?? "", t.mode?.value ?? "keep", count) : null;
    this.status.textContent = `${count} shots${truncated ? ` (first ${shots.length} shown)` : ""}` +
      (t ? ` · click to keep or drop (→ #${t.select.id} indices "${t.indices?.value ?? ""}")` :
        " · connect Film: Select Shots to choose shots") + (state?.error ? ` · ${state.error}` : "");
    this.cards.forEach((card, i) => {
      const kept = state ? state.kept[i] : true;
      card.dataset.kept = String(kept);
      Object.assign(card.style, { cursor: t ? "pointer" : "default", opacity: kept ? "1" : "0.35",
        outline: kept && t ? "2px solid #c8a060" : "1px solid #444" });
    });
  }

  toggle(index) {
    const t = this.target();
    if (!t?.indices) {
      this.status.textContent = "connect Film: Select Shots to the scenes output to choose shots";
      return;
    }
    const res = toggleShot(t.indices.value ?? "", t.mode?.value ?? "keep", index, this.data.count);
    if (res.error) {
      this.status.textContent = res.error;
      return;
    }
    t.indices.value = res.text;
    t.indices.callback?.(res.text, app.canvas, t.select);
    app.graph.setDirtyCanvas?.(true, true);
    this.restyle();
  }
}

const galleries = new Set();  // node ids are given when a node joins a graph: read g.node.id when needed

app.registerExtension({
  name: "FilmRestore.SceneGallery",
  async setup() {
    api.addEventListener("execution_start", (e) => runs.start(e.detail?.prompt_id));
    api.addEventListener("executing", (e) => runs.executing(e.detail));
    const refresh = (e) => {
      const ran = new Set(runs.ranIn(e.detail?.prompt_id));
      for (const g of galleries) {
        if (g.node.graph && ran.has(g.nid)) g.load(e.detail.prompt_id);
        else g.restyle();  // served from ComfyUI's cache: same shots, but the graph may have changed
      }
    };
    for (const event of ["execution_success", "execution_error", "execution_interrupted"]) {
      api.addEventListener(event, refresh);
    }
  },
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData?.name !== DETECT) return;
    const created = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const r = created?.apply(this, arguments);
      const gallery = new Gallery(this);
      const w = this.addDOMWidget("shots", "filmrestore_gallery", gallery.root, {
        serialize: false, hideOnZoom: false, getMinHeight: () => 150, getMaxHeight: () => 600,
      });
      w.serialize = false;  // not in widgets_values (saved files) nor in the prompt
      galleries.add(gallery);
      const removed = this.onRemoved;
      this.onRemoved = function () {
        galleries.delete(gallery);
        return removed?.apply(this, arguments);
      };
      return r;
    };
  },
  // after a page load or a workflow opened: show the node's latest run, if the server still has one
  async afterConfigureGraph() {
    for (const g of [...galleries]) {
      if (!g.node.graph) galleries.delete(g);
      else g.load("latest");
    }
  },
});
