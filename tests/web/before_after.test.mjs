// node --test tests/web/   (before/after logic, without a browser or ComfyUI)
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  MAX_WIDTH, RunTracker, afterClip, clampIndex, executionId, filmInfoPath, fitSize, formatTimecode, frameLabel, framePath,
  hasBeforeAfter, pickRun, requestWidth, runsPath, splitAt, stepIndex,
} from "../../web/js/before_after_logic.js";

const params = (path) => Object.fromEntries(new URL(path, "http://h").searchParams);

test("the button goes on nodes that take a FILM and give one, not on loaders, savers or converters", () => {
  const deblur = { input: { required: { film: ["FILM", {}], strength: ["FLOAT", {}] } }, output: ["FILM"] };
  const select = { input: { required: { film: ["FILM", {}], scenes: ["SCENES", {}] } }, output: ["FILM", "SCENES"] };
  const save = { input: { required: { film: ["FILM", {}] }, optional: { compare: ["FILM", {}] } }, output: [] };
  const load = { input: { required: { video: [["a.mp4"], {}] } }, output: ["FILM", "INT", "FLOAT"] };
  const toImages = { input: { required: { film: ["FILM", {}] } }, output: ["IMAGE"] };
  const fromImages = { input: { required: { images: ["IMAGE", {}] } }, output: ["FILM"] };
  const optionalOnly = { input: { optional: { film: ["FILM", {}] } }, output: ["FILM"] };
  assert.deepEqual([deblur, select, save, load, toImages, fromImages, optionalOnly, undefined].map(hasBeforeAfter),
    [true, true, false, false, false, false, true, false]);
});

test("frame indices stay inside the clip; steps stop at the ends", () => {
  assert.deepEqual([-5, 0, 3.4, 3.6, 29, 30, 1e9, NaN, "7"].map((i) => clampIndex(i, 30)),
    [0, 0, 3, 4, 29, 29, 29, 0, 7]);
  assert.equal(clampIndex(5, 0), 0);
  assert.equal(stepIndex(0, -1, 30), 0);
  assert.equal(stepIndex(28, 1, 30), 29);
  assert.equal(stepIndex(29, 1, 30), 29);
  assert.equal(stepIndex(40, -1, 30), 28);
});

test("URLs carry ids only, the side's slot, alignment to output frames, and a width the server accepts", () => {
  assert.deepEqual(params(framePath({ prompt: "p-1", node: 7, side: "input", index: 99, count: 30,
    alignToOutput: true, maxWidth: 99999 })),
  { prompt: "p-1", node: "7", side: "input", index: "29", align: "output", max_width: String(MAX_WIDTH) });
  assert.deepEqual(params(framePath({ node: "4:2", side: "output", index: 3, slot: "mask", maxWidth: 3 })),
    { prompt: "latest", node: "4:2", side: "output", index: "3", output: "mask", max_width: "16" });
  // alignment is an input-side request only
  assert.equal(params(framePath({ node: 1, side: "output", index: 0, alignToOutput: true })).align, undefined);
  assert.ok(framePath({ node: 1, side: "output", index: 0 }).startsWith("/filmrestore/frame?"));
  assert.deepEqual(params(filmInfoPath(undefined, 12)), { prompt: "latest", node: "12" });
  assert.deepEqual(params(framePath({ node: "a&b=c", side: "output", index: 0 })).node, "a&b=c");  // escaped
});

test("slider: the divider follows the pointer inside the box, and the after picture shows right of it", () => {
  assert.equal(splitAt(150, 100, 200), 0.25);
  assert.equal(splitAt(50, 100, 200), 0);
  assert.equal(splitAt(400, 100, 200), 1);
  assert.equal(splitAt(10, 0, 0), 0.5);
  assert.equal(afterClip(0.25), "inset(0 0 0 25.00%)");
  assert.equal(afterClip(2), "inset(0 0 0 100.00%)");
  assert.equal(afterClip(-1), "inset(0 0 0 0.00%)");
});

test("the view keeps the frame's aspect and asks for no more pixels than shown, in the frame or allowed", () => {
  assert.deepEqual(fitSize(1920, 1080, 1000, 1000), { width: 1000, height: 562 });
  assert.deepEqual(fitSize(360, 264, 1440, 750), { width: 1022, height: 750 });
  assert.deepEqual(fitSize(100, 50, 1000, 1000, 2), { width: 200, height: 100 });
  assert.deepEqual(fitSize(0, 50, 1000, 1000), { width: 0, height: 0 });
  assert.equal(requestWidth(1000, 1920, 2), 1920);
  assert.equal(requestWidth(700, 1920, 1), 700);
  assert.equal(requestWidth(4000, 8192, 2), MAX_WIDTH);
  assert.equal(requestWidth(5, 1920, 1), 16);
});

test("labels: timecodes as Scenes.timecode writes them, the input frame when it differs", () => {
  assert.equal(formatTimecode(0), "00:00:00.000");
  assert.equal(formatTimecode(16 / 24), "00:00:00.667");
  assert.equal(formatTimecode(3725.5), "01:02:05.500");
  assert.equal(frameLabel(3, 16, "19", 24), "frame 3 / 16 · input frame 19 · 00:00:00.125");
  assert.equal(frameLabel(3, 16, "3", 0), "frame 3 / 16");
});

test("the tracker knows each node's last run; a node served from cache keeps its earlier one", () => {
  const t = new RunTracker();
  assert.equal(t.lastRun(5), "latest");
  t.start("p1");
  t.executing("5");            // frontend 1.27.10 / 1.58.1 pass the node id alone
  t.executing("6");
  t.executing(null);           // end of the prompt
  t.start("p2");
  t.executing({ node: "6", display_node: "6", prompt_id: "p2" });   // an `executed` event's detail
  assert.equal(t.lastRun(5), "p1");
  assert.equal(t.lastRun("6"), "p2");
  assert.deepEqual(t.ranIn("p1"), ["5"]);
});

test("the extensions import the frontend's app.js and api.js by paths that resolve where ComfyUI serves them", () => {
  for (const file of ["before_after.js", "scene_gallery.js"]) {
    const src = readFileSync(new URL(`../../web/js/${file}`, import.meta.url), "utf8");
    for (const mod of ["app", "api"]) {
      const spec = src.match(new RegExp(`from\\s+"([^"]*scripts/${mod}\\.js)"`))[1];
      const served = new URL(spec, `http://host/extensions/ComfyUI-FilmRestore/js/${file}`);
      assert.equal(served.pathname, `/scripts/${mod}.js`);
    }
    assert.match(src, /serialize = false/);  // our widgets never enter saved widgets_values or the prompt
  }
});

test("the run to show: the one the page saw, else the newest of a node of the same type, else none", () => {
  const body = { runs: [{ prompt: "p3", class_type: "FilmDeblur" }, { prompt: "p2", class_type: "FilmStabilize" },
    { prompt: "p1", class_type: "FilmStabilize" }] };
  assert.equal(pickRun(body, "p1", "FilmStabilize"), "p1");
  assert.equal(pickRun(body, "latest", "FilmStabilize"), "p2");      // p3 was another workflow's node 7
  assert.equal(pickRun(body, "gone", "FilmStabilize"), "p2");
  assert.equal(pickRun(body, "latest", "FilmUpscale"), null);
  assert.equal(pickRun({ runs: [] }, "latest", "FilmStabilize"), null);
  assert.equal(pickRun(null, "latest"), null);
  assert.deepEqual(params(runsPath("4:2")), { node: "4:2" });
});

test("a node inside a subgraph is asked for by the id ComfyUI ran it under", () => {
  const inner = { id: 2 }, deeper = { id: 7 };
  const sub2 = { nodes: [deeper] };
  const sub = { nodes: [{ id: 1 }, inner, { id: 3, subgraph: sub2 }] };
  const top = { id: 5 };
  const root = { nodes: [top, { id: 4, subgraph: sub }] };
  assert.equal(executionId(top, root), "5");
  assert.equal(executionId(inner, root), "4:2");
  assert.equal(executionId(deeper, root), "4:3:7");
  assert.equal(executionId({ id: 9 }, root), "9");     // not in the graph (yet): its own id
});
