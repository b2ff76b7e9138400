// ComfyUI-FilmRestore: the text a node reports after a run (ui.text), laid out for drawing on the node.

/** The report lines of an "executed" message's output ({text: [..]}), or [] when there is none. */
export function reportLines(output) {
  const text = output?.text;
  if (!Array.isArray(text) || text.length === 0) return [];
  return text.map(String).join("\n").split(/\r?\n/).map((l) => l.trimEnd()).filter((l, i, a) => l || i < a.length - 1);
}

/** Lines wrapped to `maxChars` characters at spaces (a word longer than the width is cut), at most `maxLines`. */
export function wrapLines(lines, maxChars, maxLines = 24) {
  const width = Math.max(8, Math.floor(maxChars));
  const out = [];
  for (const line of lines) {
    let rest = line;
    while (rest.length > width) {
      let cut = rest.lastIndexOf(" ", width);
      if (cut <= 0) cut = width;
      out.push(rest.slice(0, cut));
      rest = rest.slice(cut).trimStart();
    }
    out.push(rest);
  }
  if (out.length > maxLines) return [...out.slice(0, maxLines - 1), `… (${out.length - maxLines + 1} more lines)`];
  return out;
}
