// node --test tests/web/   (progress text on FilmRestore nodes, without a browser or ComfyUI)
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { ProgressBoard, formatDuration, formatFps, progressText } from "../../web/js/progress_logic.js";

test("durations read as m:ss or h:mm:ss, unknown as nothing", () => {
  assert.equal(formatDuration(0), "0:00");
  assert.equal(formatDuration(7.4), "0:07");
  assert.equal(formatDuration(59.6), "1:00");
  assert.equal(formatDuration(725), "12:05");
  assert.equal(formatDuration(3723), "1:02:03");
  for (const bad of [null, undefined, -1, NaN, Infinity]) assert.equal(formatDuration(bad), "");
});

test("fps keeps two significant figures below 10", () => {
  assert.equal(formatFps(0.4234), "0.42 fps");
  assert.equal(formatFps(7.46), "7.5 fps");
  assert.equal(formatFps(48.4), "48 fps");
  assert.equal(formatFps(null), "");
});

test("the node line: stage, frames, fps and time left; done without a time left", () => {
  // what the server sends: 40 of 80 frames at 50 fps leaves 0.8 s
  const msg = { prompt_id: "p1", node: "4", stage: "sharpen", value: 40, max: 80, fps: 50, eta: 0.8 };
  assert.equal(progressText(msg), "sharpen 40/80 · 50 fps · 0:01 left");
  assert.equal(progressText({ ...msg, value: 80, eta: 0 }), "sharpen 80/80 done · 50 fps");
  assert.equal(progressText({ ...msg, fps: null, eta: null }), "sharpen 40/80 · …");  // before two chunks
  assert.equal(progressText({ ...msg, stage: "" }), "40/80 · 50 fps · 0:01 left");
  assert.equal(progressText({ node: "4" }), "");
});

test("the board keeps the latest line per node and empties when another prompt starts", () => {
  const board = new ProgressBoard();
  board.clear("p1");
  assert.equal(board.apply({ prompt_id: "p1", node: "3", stage: "denoise", value: 8, max: 80, fps: null, eta: null }), true);
  assert.equal(board.apply({ prompt_id: "p1", node: 4, stage: "sharpen", value: 8, max: 80, fps: null, eta: null }), true);
  assert.equal(board.apply({ prompt_id: "p1", node: "3", stage: "denoise", value: 8, max: 80, fps: null, eta: null }), false);
  assert.equal(board.textFor(3), "denoise 8/80 · …");
  assert.equal(board.textFor("4"), "sharpen 8/80 · …");
  assert.equal(board.textFor("9"), "");
  board.apply({ prompt_id: "p2", node: "9", stage: "saving", value: 1, max: 2, fps: 2, eta: 0.5 });
  assert.equal(board.textFor("3"), "");                      // the new prompt's board
  assert.equal(board.textFor("9"), "saving 1/2 · 2.0 fps · 0:01 left");
  board.apply({ prompt_id: "p2", node: "12:5", stage: "remaster", value: 1, max: 2, fps: 1, eta: 1 });
  assert.equal(board.textFor("5", true), "remaster 1/2 · 1.0 fps · 0:01 left");   // inside subgraph 12
  assert.equal(board.textFor("5", false), "");
  assert.equal(board.apply(null), false);
});

test("a cancelled run says so on the nodes that had not finished", () => {
  const board = new ProgressBoard();
  board.apply({ prompt_id: "p1", node: "4", stage: "upscale", value: 66, max: 96, fps: 4.4, eta: 6.9 });
  board.apply({ prompt_id: "p1", node: "3", stage: "deblur", value: 96, max: 96, fps: 4.5, eta: 0 });
  assert.equal(board.halt("cancelled"), true);
  assert.equal(board.textFor("4"), "upscale 66/96 · cancelled");
  assert.equal(board.textFor("3"), "deblur 96/96 done · 4.5 fps");       // finished lines stay
  board.clear("p2");
  assert.equal(board.halt("cancelled"), false);
});

test("the extension listens for the server's message name and only touches FilmRestore nodes", () => {
  const js = readFileSync(new URL("../../web/js/progress.js", import.meta.url), "utf8");
  const py = readFileSync(new URL("../../comfy_bridge.py", import.meta.url), "utf8");
  const name = py.match(/PROGRESS_MESSAGE = "([^"]+)"/)[1];
  assert.ok(js.includes(`addEventListener("${name}"`), `progress.js must listen for ${name}`);
  assert.match(js, /startsWith\("FilmRestore"\)/);
});
