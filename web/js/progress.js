// ComfyUI-FilmRestore: frames done, fps and time left as a small line above each FilmRestore node while it
// computes (also while FilmSaveVideo pulls frames through it, long after the node itself ran).
import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";
import { ProgressBoard } from "./progress_logic.js";

const board = new ProgressBoard();
const redraw = () => app.graph?.setDirtyCanvas(true, false);

// registered at import: the frontend reports a socket message nobody listens for as an error
api.addEventListener("filmrestore.progress", ({ detail }) => {
  if (board.apply(detail)) redraw();
});
api.addEventListener("execution_start", ({ detail }) => {
  board.clear(detail?.prompt_id ?? null);
  redraw();
});
api.addEventListener("execution_interrupted", () => board.halt("cancelled") && redraw());
api.addEventListener("execution_error", () => board.halt("failed") && redraw());

function drawLine(ctx, node, text) {
  const title = globalThis.LiteGraph?.NODE_TITLE_HEIGHT ?? 30;
  ctx.save();
  ctx.font = "12px sans-serif";
  const w = ctx.measureText(text).width + 10;
  const y = -title - 20;
  ctx.fillStyle = "rgba(20, 16, 10, 0.85)";
  ctx.beginPath();
  ctx.roundRect ? ctx.roundRect(0, y, w, 18, 4) : ctx.rect(0, y, w, 18);
  ctx.fill();
  ctx.fillStyle = "#c8a060";  // the FILM link colour
  ctx.textBaseline = "middle";
  ctx.fillText(text, 5, y + 9);
  ctx.restore();
}

app.registerExtension({
  name: "FilmRestore.Progress",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!String(nodeData?.category ?? "").startsWith("FilmRestore")) return;
    const draw = nodeType.prototype.onDrawForeground;
    nodeType.prototype.onDrawForeground = function (ctx, ...rest) {
      const result = draw?.apply(this, [ctx, ...rest]);
      const inSubgraph = this.graph != null && app.graph != null && this.graph !== app.graph;
      const text = board.textFor(this.id, inSubgraph);
      if (text && !this.flags?.collapsed) drawLine(ctx, this, text);
      return result;
    };
  },
});
