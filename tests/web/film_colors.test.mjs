// node --test tests/web/   (the pack's front-end logic, without a browser or ComfyUI)
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { TYPE_COLORS, colorTables, fillTypeColors } from "../../web/js/film_colors.js";

test("fills FILM where a palette left it empty or missing, in both tables", () => {
  const byType = { FILM: "", IMAGE: "#64B5F6" };        // what a palette load leaves: "" = default colour
  class Canvas { static link_type_colors = { IMAGE: "#64B5F6" }; }
  const canvas = Object.assign(new Canvas(), { default_connection_color_byType: byType });
  const set = fillTypeColors(colorTables(canvas));
  assert.deepEqual(set, ["table0.FILM", "table1.FILM"]);
  assert.equal(byType.FILM, TYPE_COLORS.FILM);
  assert.equal(Canvas.link_type_colors.FILM, TYPE_COLORS.FILM);
  assert.equal(byType.IMAGE, "#64B5F6");                 // other types untouched
});

test("keeps a colour the user's palette gives FILM, and is idempotent", () => {
  const table = { FILM: "#ff0000" };
  assert.deepEqual(fillTypeColors([table]), []);
  assert.equal(table.FILM, "#ff0000");
  const empty = {};
  fillTypeColors([empty]);
  assert.deepEqual(fillTypeColors([empty]), []);
});

test("a canvas that is not there yet (or lacks the tables) is not an error", () => {
  assert.deepEqual(fillTypeColors(colorTables(undefined)), []);
  assert.deepEqual(fillTypeColors(colorTables({})), []);
});

test("the extension imports the frontend's app.js by a path that resolves where ComfyUI serves it", () => {
  // ComfyUI serves web/ at /extensions/<pack>/; the frontend's modules are at /scripts/
  const src = readFileSync(new URL("../../web/js/filmrestore.js", import.meta.url), "utf8");
  const spec = src.match(/from\s+"([^"]*scripts\/app\.js)"/)[1];
  const served = new URL(spec, "http://host/extensions/ComfyUI-FilmRestore/js/filmrestore.js");
  assert.equal(served.pathname, "/scripts/app.js");
});
