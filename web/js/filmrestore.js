// ComfyUI-FilmRestore front-end extension: colours FILM links and sockets so clips stand out.
// Served at /extensions/<pack>/js/filmrestore.js: the frontend's scripts are three folders up.
import { app } from "../../../scripts/app.js";
import { colorTables, fillTypeColors } from "./film_colors.js";

app.registerExtension({
  name: "FilmRestore.FilmType",
  async setup() {
    fillTypeColors(colorTables(app.canvas));
  },
  // a colour palette (re)loaded with the settings resets every known type to ""; fill ours in again
  async afterConfigureGraph() {
    fillTypeColors(colorTables(app.canvas));
  },
});
