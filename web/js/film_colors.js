// FILM link and socket colours: plain functions, no ComfyUI import, so `node --test` can check them.

/** FILM links in the warm amber of a projector lamp. */
export const TYPE_COLORS = Object.freeze({ FILM: "#c8a060" });

/**
 * Give each type in `colors` its colour in every table that lacks one (missing or "", which is how a colour
 * palette marks "use the default link colour"); a colour set by a user's palette is kept.
 * @param {Array<Record<string, string> | null | undefined>} tables e.g. the canvas's
 *   default_connection_color_byType and LGraphCanvas.link_type_colors
 * @param {Record<string, string>} colors type name -> CSS colour
 * @returns {string[]} the "table#index.TYPE" entries that were set
 */
export function fillTypeColors(tables, colors = TYPE_COLORS) {
  const set = [];
  tables.forEach((table, i) => {
    if (!table || typeof table !== "object") return;
    for (const [type, color] of Object.entries(colors)) {
      if (!table[type]) {
        table[type] = color;
        set.push(`table${i}.${type}`);
      }
    }
  });
  return set;
}

/** The colour tables of a litegraph canvas: its per-type connection colours and its class's link colours. */
export function colorTables(canvas) {
  return [canvas?.default_connection_color_byType, canvas?.constructor?.link_type_colors];
}
