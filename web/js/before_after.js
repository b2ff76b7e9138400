// Before/after: on every node that takes a FILM and gives one, a "Before/after" button opens one frame of the
// node's last run, its input under its output with a divider to drag, and a scrubber over the frames.
// Frames come from the pack's routes (routes/frames.py) by prompt id and node id.
import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";
import {
  RunTracker, afterClip, clampIndex, executionId, filmInfoPath, fitSize, frameLabel, framePath, hasBeforeAfter, pickRun,
  requestWidth, runsPath, splitAt, stepIndex,
} from "./before_after_logic.js";

const runs = new RunTracker();
const BUTTON = "Before/after";

function el(tag, style = {}, props = {}) {
  const e = Object.assign(document.createElement(tag), props);
  Object.assign(e.style, style);
  return e;
}

async function fetchJson(path) {
  const r = await api.fetchApi(path);
  const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return body;
}

/** One frame as an object URL, with the index the server read (X-Film-Index). */
async function fetchFrame(path) {
  const r = await api.fetchApi(path);
  if (!r.ok) {
    const body = await r.json().catch(() => ({}));
    throw new Error(body.error || `HTTP ${r.status}`);
  }
  return { url: URL.createObjectURL(await r.blob()), index: r.headers.get("X-Film-Index") };
}

class BeforeAfterView {
  constructor(node) {
    this.node = node;
    this.split = 0.5;
    this.index = 0;
    this.generation = 0;
    this.urls = [];
    this.build();
  }

  build() {
    this.root = el("div", { position: "fixed", inset: "0", background: "rgba(0,0,0,0.85)", zIndex: 10000,
      display: "flex", flexDirection: "column", alignItems: "center", justifyContent: "center", gap: "8px",
      color: "#ddd", font: "13px sans-serif" }, { className: "filmrestore-before-after" });
    const title = el("div", {}, { textContent: `${this.node.title} (#${this.node.id}): input (left) | output (right)`,
      className: "filmrestore-title" });
    this.box = el("div", { position: "relative", background: "#111", cursor: "ew-resize", userSelect: "none" });
    this.before = el("img", { position: "absolute", inset: "0", width: "100%", height: "100%", objectFit: "contain" },
      { alt: "input frame", draggable: false });
    this.after = el("img", { position: "absolute", inset: "0", width: "100%", height: "100%", objectFit: "contain" },
      { alt: "output frame", draggable: false });
    this.divider = el("div", { position: "absolute", top: "0", bottom: "0", width: "2px", background: "#c8a060",
      pointerEvents: "none" });
    const tag = (text, side) => el("span", { position: "absolute", top: "4px", [side]: "6px", padding: "1px 5px",
      background: "rgba(0,0,0,0.6)", pointerEvents: "none" }, { textContent: text });
    this.box.append(this.before, this.after, this.divider, tag("input", "left"), tag("output", "right"));
    const bar = el("div", { display: "flex", gap: "8px", alignItems: "center", width: "min(90vw, 1200px)" });
    const prev = el("button", {}, { textContent: "◀", title: "previous frame" });
    const next = el("button", {}, { textContent: "▶", title: "next frame" });
    this.scrub = el("input", { flex: "1" }, { type: "range", min: 0, max: 0, step: 1, value: 0 });
    this.scrub.className = "filmrestore-scrub";
    this.label = el("span", { minWidth: "16em" }, { className: "filmrestore-frame-label" });
    const close = el("button", {}, { textContent: "Close" });
    bar.append(prev, this.scrub, next, this.label, close);
    this.message = el("div", { color: "#e88", minHeight: "1.2em" }, { className: "filmrestore-message" });
    this.root.append(title, this.box, bar, this.message);

    const drag = (e) => this.setSplit(splitAt(e.clientX, this.box.getBoundingClientRect().left, this.box.clientWidth));
    this.box.addEventListener("pointerdown", (e) => { this.box.setPointerCapture?.(e.pointerId); drag(e); });
    this.box.addEventListener("pointermove", (e) => { if (e.buttons) drag(e); });
    this.scrub.addEventListener("input", () => this.show(Number(this.scrub.value)));
    prev.addEventListener("click", () => this.show(stepIndex(this.index, -1, this.count)));
    next.addEventListener("click", () => this.show(stepIndex(this.index, 1, this.count)));
    close.addEventListener("click", () => this.close());
    this.onKey = (e) => {
      if (e.key === "Escape") this.close();
      else if (e.key === "ArrowLeft") this.show(stepIndex(this.index, -1, this.count));
      else if (e.key === "ArrowRight") this.show(stepIndex(this.index, 1, this.count));
      else return;
      e.stopPropagation();
    };
    document.addEventListener("keydown", this.onKey, true);
    document.body.append(this.root);
    this.setSplit(0.5);
  }

  setSplit(split) {
    this.split = split;
    this.after.style.clipPath = afterClip(split);
    this.divider.style.left = `calc(${(split * 100).toFixed(2)}% - 1px)`;
  }

  async open() {
    try {
      this.nid = executionId(this.node, app.graph);   // "4:2" inside a subgraph, as ComfyUI ran it
      this.prompt = pickRun(await fetchJson(runsPath(this.nid)), runs.lastRun(this.nid),
        this.node.comfyClass ?? this.node.type);
      if (!this.prompt) {
        this.message.textContent = `Run the workflow first: ${this.node.title} has no recorded run on the server.`;
        return;
      }
      this.info = await fetchJson(filmInfoPath(this.prompt, this.nid));
    } catch (err) {
      this.message.textContent = `${err.message}`;
      return;
    }
    this.prompt = this.info.prompt;
    const out = Object.values(this.info.outputs)[0];
    if (!out || !Object.keys(this.info.inputs).length) {
      this.message.textContent = `node ${this.nid} has no FILM input and output in its last run`;
      return;
    }
    this.out = out;
    this.count = out.frames;
    this.scrub.max = String(Math.max(0, this.count - 1));
    const size = fitSize(out.width, out.height, window.innerWidth * 0.9, window.innerHeight * 0.75);
    Object.assign(this.box.style, { width: `${size.width}px`, height: `${size.height}px` });
    this.width = requestWidth(size.width, out.width, window.devicePixelRatio);
    await this.show(0);
  }

  async show(index) {
    if (!this.out) return;  // nothing to show (no run yet): the message says so
    this.index = clampIndex(index, this.count);
    this.scrub.value = String(this.index);
    const gen = ++this.generation;
    const common = { prompt: this.prompt, node: this.nid, index: this.index, count: this.count,
      maxWidth: this.width };
    this.label.textContent = frameLabel(this.index, this.count, undefined, this.out.fps);
    try {
      const [before, after] = await Promise.all([
        fetchFrame(framePath({ ...common, side: "input", alignToOutput: true })),
        fetchFrame(framePath({ ...common, side: "output" })),
      ]);
      this.urls.push(before.url, after.url);
      if (gen !== this.generation || !this.root.isConnected) return;  // a newer frame was asked for meanwhile
      this.before.src = before.url;
      this.after.src = after.url;
      this.label.textContent = frameLabel(this.index, this.count, before.index, this.out.fps);
      this.message.textContent = "";
      this.release([before.url, after.url]);
    } catch (err) {
      if (gen === this.generation) this.message.textContent = err.message;
    }
  }

  release(keep) {
    for (const u of this.urls) if (!keep.includes(u)) URL.revokeObjectURL(u);
    this.urls = [...keep];
  }

  close() {
    document.removeEventListener("keydown", this.onKey, true);
    this.root.remove();
    this.release([]);
  }
}

/** Open the before/after view of `node` (what its button does). */
export async function openBeforeAfter(node) {
  const view = new BeforeAfterView(node);
  await view.open();
  return view;
}

app.registerExtension({
  name: "FilmRestore.BeforeAfter",
  async setup() {
    api.addEventListener("execution_start", (e) => runs.start(e.detail?.prompt_id));
    api.addEventListener("executing", (e) => runs.executing(e.detail));
    api.addEventListener("executed", (e) => runs.executing(e.detail));
  },
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!hasBeforeAfter(nodeData)) return;
    const created = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const r = created?.apply(this, arguments);
      const w = this.addWidget("button", BUTTON, null, () => openBeforeAfter(this), { serialize: false });
      w.serialize = false;  // not in widgets_values (saved files) nor in the prompt
      return r;
    };
  },
});
