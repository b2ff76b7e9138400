// ComfyUI-FilmRestore: a node's report (e.g. Film: Colour Flicker) drawn under its widgets after a run. Drawn on
// the canvas rather than added as a widget, so it is never saved in the workflow's widgets_values.
import { app } from "../../../scripts/app.js";
import { reportLines, wrapLines } from "./report_text_logic.js";

const LINE = 14;

app.registerExtension({
  name: "FilmRestore.ReportText",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!String(nodeData?.category ?? "").startsWith("FilmRestore")) return;
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (output) {
      onExecuted?.apply(this, arguments);
      const lines = reportLines(output);
      if (!lines.length) return;
      this.filmReport = wrapLines(lines, (this.size[0] - 16) / 6.5);
      const need = (this.filmReportTop ?? this.size[1]) + this.filmReport.length * LINE + 10;
      this.filmReportTop ??= this.size[1];
      if (this.size[1] < need) this.setSize([this.size[0], need]);
      app.graph?.setDirtyCanvas(true, false);
    };
    const onDraw = nodeType.prototype.onDrawForeground;
    nodeType.prototype.onDrawForeground = function (ctx) {
      onDraw?.apply(this, arguments);
      if (!this.filmReport?.length || this.flags?.collapsed) return;
      ctx.save();
      ctx.font = "11px monospace";
      ctx.fillStyle = "#c8a060";  // the FILM link colour
      const top = this.size[1] - this.filmReport.length * LINE - 4;
      this.filmReport.forEach((line, i) => ctx.fillText(line, 8, top + i * LINE + 10));
      ctx.restore();
    };
  },
});
