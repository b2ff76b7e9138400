// Progress text for FilmRestore nodes: plain functions, no ComfyUI import, so `node --test` can check them.
// The server sends "filmrestore.progress" {prompt_id, node, stage, value, max, fps, eta} a few times a second.

/** Seconds as "0:07", "12:05" or "1:02:03"; "" when unknown (null, negative or not finite). */
export function formatDuration(seconds) {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return "";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/** Frames per second, two significant figures below 10: "0.42 fps", "7.5 fps", "48 fps"; "" when unknown. */
export function formatFps(fps) {
  if (fps == null || !Number.isFinite(fps) || fps < 0) return "";
  const digits = fps >= 10 ? 0 : fps >= 1 ? 1 : 2;
  return `${fps.toFixed(digits)} fps`;
}

/** The line a node shows: "sharpen 40/80 · 50 fps · 0:01 left", or "sharpen 80/80 done · 50 fps". */
export function progressText(msg) {
  if (!msg || !Number.isFinite(msg.value) || !Number.isFinite(msg.max)) return "";
  const parts = [`${msg.stage ? msg.stage + " " : ""}${msg.value}/${msg.max}${msg.value >= msg.max ? " done" : ""}`];
  const fps = formatFps(msg.fps);
  if (fps) parts.push(fps);
  if (msg.value < msg.max) {
    const left = formatDuration(msg.eta);
    parts.push(left ? `${left} left` : "…");
  }
  return parts.join(" · ");
}

/**
 * The latest progress per node of the running prompt. A message of another prompt than the one started last
 * replaces the board (a queued prompt began); `clear(promptId)` starts a prompt with an empty board;
 * `halt("cancelled")` marks the unfinished lines when a run stops early.
 */
export class ProgressBoard {
  constructor() {
    this.promptId = null;
    this.byNode = new Map();
    this._last = {};
  }

  clear(promptId = null) {
    this.promptId = promptId;
    this.byNode.clear();
    this._last = {};
  }

  /** Take one message; returns true when the board changed (the canvas needs a redraw). */
  apply(msg) {
    if (!msg || msg.node == null) return false;
    if (msg.prompt_id && msg.prompt_id !== this.promptId) this.clear(msg.prompt_id);
    const text = progressText(msg);
    const key = String(msg.node);
    if (this.byNode.get(key) === text) return false;
    this.byNode.set(key, text);
    this._last[key] = msg;
    return true;
  }

  /** The run stopped (`why`: "cancelled", "failed"): unfinished lines say so instead of a time left. */
  halt(why) {
    let changed = false;
    for (const [key, msg] of Object.entries(this._last)) {
      if (!this.byNode.has(key) || msg.value >= msg.max) continue;
      this.byNode.set(key, `${msg.stage ? msg.stage + " " : ""}${msg.value}/${msg.max} · ${why}`);
      changed = true;
    }
    return changed;
  }

  /**
   * The text for a node: by its id in the root graph, or inside a subgraph by the last part of the
   * execution id ComfyUI sends ("12:5" is node 5 of the subgraph that node 12 holds).
   */
  textFor(nodeId, inSubgraph = false) {
    const id = String(nodeId);
    if (!inSubgraph) return this.byNode.get(id) ?? "";
    for (const [key, text] of this.byNode) {
      if (key.endsWith(`:${id}`)) return text;
    }
    return "";
  }
}
