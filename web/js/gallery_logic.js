// Shot gallery: plain functions (no ComfyUI import), so `node --test` checks them without a browser.
// The `indices` text is FilmSelectScenes' (filmlib/select.py parse_indices): "0, 2, 5-7", ";" also separates,
// negative numbers count from the end; in mode "keep" an empty text keeps every shot.

/**
 * Read an indices text as parse_indices does: sorted unique shot numbers, or an error naming the bad part.
 * @returns {{indices: number[], error: string|null}}
 */
export function parseIndices(text, count) {
  const out = new Set();
  for (const raw of String(text ?? "").replaceAll(";", ",").split(",")) {
    const part = raw.trim();
    if (!part) continue;
    const m = part.match(/^(-?\d+)\s*(?:-\s*(-?\d+))?$/);
    if (!m) {
      return { indices: [], error: `cannot read shot indices "${text}": use numbers and ranges like "0, 2, 5-7"` };
    }
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let i = lo; i <= hi; i++) {
      const j = i < 0 ? i + count : i;
      if (!(j >= 0 && j < count)) {
        return { indices: [], error: `shot index ${i} is out of range: there are ${count} shots` };
      }
      out.add(j);
    }
  }
  return { indices: [...out].sort((a, b) => a - b), error: null };
}

/** Shot numbers as the shortest indices text: [0, 2, 5, 6, 7] -> "0, 2, 5-7". */
export function formatIndices(indices) {
  const sorted = [...new Set(indices.map(Number))].filter(Number.isInteger).sort((a, b) => a - b);
  const parts = [];
  for (let k = 0; k < sorted.length; ) {
    let e = k;
    while (e + 1 < sorted.length && sorted[e + 1] === sorted[e] + 1) e++;
    if (e - k >= 2) parts.push(`${sorted[k]}-${sorted[e]}`);
    else for (let i = k; i <= e; i++) parts.push(String(sorted[i]));
    k = e + 1;
  }
  return parts.join(", ");
}

/** Which shots end up in FilmSelectScenes' output for this text and mode: a boolean per shot. */
export function keptShots(text, mode, count) {
  const { indices, error } = parseIndices(text, count);
  if (error) return { kept: new Array(count).fill(false), error };
  const listed = new Set(indices);
  if (mode === "drop") return { kept: Array.from({ length: count }, (_, i) => !listed.has(i)), error: null };
  if (!String(text ?? "").trim()) return { kept: new Array(count).fill(true), error: null };
  return { kept: Array.from({ length: count }, (_, i) => listed.has(i)), error: null };
}

/** The indices text that gives exactly `kept` in `mode` (keep with every shot kept: "" as the node's default). */
export function textFor(kept, mode) {
  const chosen = kept.flatMap((k, i) => (k ? [i] : []));
  if (mode === "drop") return formatIndices(kept.flatMap((k, i) => (k ? [] : [i])));
  return chosen.length === kept.length ? "" : formatIndices(chosen);
}

/**
 * Click on shot `index`: keep it if it was dropped, drop it if it was kept; the new indices text.
 * A click that would leave no shot (FilmSelectScenes refuses that) changes nothing and says why.
 * @returns {{text: string, kept: boolean[], error: string|null}}
 */
export function toggleShot(text, mode, index, count) {
  const state = keptShots(text, mode, count);
  if (state.error) return { text, kept: state.kept, error: state.error };
  if (!(index >= 0 && index < count)) return { text, kept: state.kept, error: `no shot ${index}: there are ${count}` };
  const kept = [...state.kept];
  kept[index] = !kept[index];
  if (!kept.some(Boolean)) return { text, kept: state.kept, error: "at least one shot must stay selected" };
  return { text: textFor(kept, mode), kept, error: null };
}

/** "16 f · 0.67 s" for a shot of `frames` frames at `fps`. */
export function formatLength(frames, fps) {
  const seconds = fps > 0 ? ` · ${(frames / fps).toFixed(2)} s` : "";
  return `${frames} f${seconds}`;
}

function linkById(graph, id) {
  const links = graph?.links;
  if (!links) return undefined;
  return typeof links.get === "function" ? links.get(id) : links[id];
}

/** The nodes fed by output `slot` of `node` whose type is `type` (e.g. the FilmSelectScenes a detector feeds). */
export function connectedNodes(graph, node, slot = 0, type = "FilmSelectScenes") {
  const ids = node?.outputs?.[slot]?.links ?? [];
  const found = [];
  for (const id of ids) {
    const link = linkById(graph, id);
    const target = link && graph.getNodeById?.(link.target_id);
    if (target && (target.type === type || target.comfyClass === type) && !found.includes(target)) found.push(target);
  }
  return found;
}
