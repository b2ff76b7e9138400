// ComfyUI-FilmRestore front-end extension: colours FILM links and sockets so clips stand out in a graph.
import { app } from "../../scripts/app.js";

app.registerExtension({
  name: "FilmRestore.FilmType",
  async setup() {
    const colors = app.canvas?.default_connection_color_byType;
    if (colors) colors.FILM = "#c8a060";  // the warm amber of a projector lamp
    if (window.LGraphCanvas?.link_type_colors) window.LGraphCanvas.link_type_colors.FILM = "#c8a060";
  },
});
