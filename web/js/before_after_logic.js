// Before/after view: plain functions (no ComfyUI import), so `node --test` checks them without a browser.

/** The widest picture the server sends (routes/frames.py MAX_WIDTH). */
export const MAX_WIDTH = 4096;

/** Does a node definition (an /object_info entry) take a FILM and give one: the nodes with a before/after. */
export function hasBeforeAfter(nodeData) {
  const sections = [nodeData?.input?.required, nodeData?.input?.optional];
  const isFilm = (spec) => Array.isArray(spec) && spec[0] === "FILM";
  const takesFilm = sections.some((s) => s && Object.values(s).some(isFilm));
  const givesFilm = Array.isArray(nodeData?.output) && nodeData.output.includes("FILM");
  return takesFilm && givesFilm;
}

/** A frame index kept inside a clip of `count` frames: an integer in 0..count-1 (0 for an empty clip or NaN). */
export function clampIndex(index, count) {
  const n = Math.floor(Number(count));
  const i = Math.round(Number(index));
  if (!Number.isFinite(n) || n <= 0 || !Number.isFinite(i)) return 0;
  return Math.min(Math.max(i, 0), n - 1);
}

/** `index` moved by `delta` frames, kept inside the clip. */
export function stepIndex(index, delta, count) {
  return clampIndex(clampIndex(index, count) + delta, count);
}

function query(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  return `${path}?${q.toString()}`;
}

/** The server path of a node's recorded runs (always answered 200, so asking never logs an error). */
export function runsPath(node) {
  return query("/filmrestore/runs", { node });
}

/**
 * Which recorded run to show for a node: `wanted` (a prompt id the tracker saw it run in) if the server has it,
 * else the newest run of a node of this type (a node id of another workflow is another node); null if none.
 * @param {{runs?: Array<{prompt: string, class_type: string}>}} body the /filmrestore/runs answer
 */
export function pickRun(body, wanted, classType) {
  const runs = (body?.runs ?? []).filter((r) => !classType || r.class_type === classType);
  const exact = runs.find((r) => r.prompt === wanted);
  return (exact ?? runs[0])?.prompt ?? null;
}

/** The server path of a node's film facts (frame counts, sizes, which inputs and outputs it has). */
export function filmInfoPath(prompt, node) {
  return query("/filmrestore/film_info", { prompt: prompt || "latest", node });
}

/**
 * The server path of one frame of a node's last run.
 * @param {{prompt?: string, node: string|number, side: "input"|"output", index: number, count?: number,
 *   maxWidth?: number, alignToOutput?: boolean, slot?: string, format?: string}} o `alignToOutput`: `index`
 *   counts output frames and the server picks the input frame that output frame was made from.
 */
export function framePath(o) {
  const width = o.maxWidth ? Math.min(Math.max(Math.round(o.maxWidth), 16), MAX_WIDTH) : undefined;
  const index = o.count === undefined ? Math.max(0, Math.round(o.index)) : clampIndex(o.index, o.count);
  return query("/filmrestore/frame", {
    prompt: o.prompt || "latest", node: o.node, side: o.side, index,
    [o.side]: o.slot, align: o.alignToOutput && o.side === "input" ? "output" : undefined,
    max_width: width, format: o.format,
  });
}

/** Where the divider stands, 0 (left edge) .. 1 (right edge), for a pointer at `clientX` over a box. */
export function splitAt(clientX, boxLeft, boxWidth) {
  if (!(boxWidth > 0)) return 0.5;
  return Math.min(Math.max((clientX - boxLeft) / boxWidth, 0), 1);
}

/** CSS clip-path for the "after" picture laid over the "before": it shows right of the divider only. */
export function afterClip(split) {
  const pct = Math.min(Math.max(Number(split) || 0, 0), 1) * 100;
  return `inset(0 0 0 ${pct.toFixed(2)}%)`;
}

/** Largest (w, h) with the picture's aspect that fits in (maxW, maxH), never enlarged past `limit`x. */
export function fitSize(width, height, maxW, maxH, limit = 4) {
  if (!(width > 0 && height > 0 && maxW > 0 && maxH > 0)) return { width: 0, height: 0 };
  const s = Math.min(maxW / width, maxH / height, limit);
  return { width: Math.max(1, Math.floor(width * s)), height: Math.max(1, Math.floor(height * s)) };
}

/** How wide a frame to ask for: the shown width in device pixels, not more than the frame has nor MAX_WIDTH. */
export function requestWidth(shownWidth, frameWidth, pixelRatio = 1) {
  const want = Math.ceil(shownWidth * (pixelRatio || 1));
  return Math.max(16, Math.min(want, frameWidth || want, MAX_WIDTH));
}

/** The scrubber's label: "frame 4 / 30 · input frame 19 · 00:00:00.167". */
export function frameLabel(index, count, inputIndex, fps) {
  const parts = [`frame ${index} / ${count}`];
  const shown = inputIndex !== undefined && inputIndex !== null && Number(inputIndex) !== index;
  if (shown) parts.push(`input frame ${inputIndex}`);
  if (fps > 0) parts.push(formatTimecode(index / fps));
  return parts.join(" · ");
}

/** HH:MM:SS.mmm of a time in seconds (as the Python side's Scenes.timecode writes it). */
export function formatTimecode(seconds) {
  const ms = Math.max(0, Math.round(Number(seconds) * 1000)) || 0;
  const pad = (v, n = 2) => String(v).padStart(n, "0");
  const [h, m, s] = [Math.floor(ms / 3600000), Math.floor(ms / 60000) % 60, Math.floor(ms / 1000) % 60];
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(ms % 1000, 3)}`;
}

/**
 * Which prompt each node last ran in, from the frontend's api events: `execution_start` names the prompt,
 * `executing` names the node (frontend 1.27 passes the node id alone), `executed` both. A node ComfyUI served
 * from its cache keeps the prompt it last ran in.
 */
export class RunTracker {
  constructor() {
    this.current = null;
    this.byNode = new Map();
  }

  start(promptId) {
    this.current = promptId ?? null;
  }

  executing(detail) {
    const node = detail && typeof detail === "object" ? (detail.display_node ?? detail.node) : detail;
    const prompt = detail && typeof detail === "object" && detail.prompt_id ? detail.prompt_id : this.current;
    if (node === null || node === undefined || !prompt) return;
    this.byNode.set(String(node), prompt);
  }

  /** The prompt id of the node's last run, or "latest" (the server then looks for the node's newest run). */
  lastRun(nodeId) {
    return this.byNode.get(String(nodeId)) ?? "latest";
  }

  /** Node ids that ran in `promptId`. */
  ranIn(promptId) {
    return [...this.byNode].filter(([, p]) => p === promptId).map(([n]) => n);
  }
}

/**
 * The id ComfyUI runs a node under: its id at the top level, "4:2" for node 2 inside the subgraph of node 4
 * (the first instance, when a subgraph is used twice). Falls back to the node's own id.
 */
export function executionId(node, rootGraph) {
  const walk = (graph, path, depth) => {
    for (const n of graph?.nodes ?? graph?._nodes ?? []) {
      if (n === node) return [...path, n.id].join(":");
      if (n.subgraph && depth < 16) {
        const found = walk(n.subgraph, [...path, n.id], depth + 1);
        if (found) return found;
      }
    }
    return null;
  };
  return walk(rootGraph, [], 0) ?? String(node?.id);
}
