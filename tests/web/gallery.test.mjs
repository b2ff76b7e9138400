// node --test tests/web/   (shot gallery logic, without a browser or ComfyUI)
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  connectedNodes, formatIndices, formatLength, keptShots, parseIndices, textFor, toggleShot,
} from "../../web/js/gallery_logic.js";

test("indices are read as FilmSelectScenes reads them (filmlib/select.py parse_indices)", () => {
  // the same cases as Python: ranges, ';', negatives from the end, duplicates, spaces
  assert.deepEqual(parseIndices("0, 2, 5-7", 10), { indices: [0, 2, 5, 6, 7], error: null });
  assert.deepEqual(parseIndices("3;1 ; 1", 5).indices, [1, 3]);
  assert.deepEqual(parseIndices("-1", 5).indices, [4]);
  assert.deepEqual(parseIndices("-3--1", 5).indices, [2, 3, 4]);
  assert.deepEqual(parseIndices(" 2 - 3 ", 5).indices, [2, 3]);
  assert.deepEqual(parseIndices("", 5).indices, []);
  assert.match(parseIndices("1, x", 5).error, /cannot read shot indices "1, x"/);
  assert.match(parseIndices("7", 5).error, /shot index 7 is out of range: there are 5 shots/);
});

test("indices are written short, and read back to the same shots", () => {
  assert.equal(formatIndices([7, 0, 2, 5, 6, 6]), "0, 2, 5-7");
  assert.equal(formatIndices([1, 2]), "1, 2");
  assert.equal(formatIndices([]), "");
  for (const list of [[0], [0, 1, 2, 3], [1, 3, 4, 5, 9], [2, 4, 6]]) {
    assert.deepEqual(parseIndices(formatIndices(list), 10).indices, list);
  }
});

test("which shots a FilmSelectScenes keeps, for each mode (keep with nothing listed keeps all)", () => {
  assert.deepEqual(keptShots("", "keep", 3).kept, [true, true, true]);
  assert.deepEqual(keptShots("1", "keep", 3).kept, [false, true, false]);
  assert.deepEqual(keptShots("1", "drop", 3).kept, [true, false, true]);
  assert.deepEqual(keptShots("", "drop", 3).kept, [true, true, true]);
  assert.ok(keptShots("9", "keep", 3).error);
  assert.equal(textFor([true, true, true], "keep"), "");
  assert.equal(textFor([true, false, true], "keep"), "0, 2");
  assert.equal(textFor([true, false, true], "drop"), "1");
});

test("a click keeps a dropped shot or drops a kept one, in either mode", () => {
  // keep mode, nothing listed (all kept): clicking shot 2 drops it
  assert.deepEqual(toggleShot("", "keep", 2, 6),
    { text: "0, 1, 3-5", kept: [true, true, false, true, true, true], error: null });
  assert.equal(toggleShot("0, 1, 3-5", "keep", 2, 6).text, "");   // and back: every shot kept again
  assert.equal(toggleShot("1", "keep", 4, 6).text, "1, 4");
  assert.equal(toggleShot("", "drop", 0, 4).text, "0");
  assert.equal(toggleShot("0", "drop", 0, 4).text, "");
  assert.equal(toggleShot("-1", "drop", 1, 4).text, "1, 3");          // a negative index is resolved first
});

test("a click that would leave no shot, or on text the node would refuse, changes nothing and says why", () => {
  assert.deepEqual(toggleShot("1", "keep", 1, 3), { text: "1", kept: [false, true, false],
    error: "at least one shot must stay selected" });
  assert.equal(toggleShot("0, 1", "drop", 2, 3).error, "at least one shot must stay selected");
  assert.match(toggleShot("a-b", "keep", 0, 3).error, /cannot read/);
  assert.equal(toggleShot("a-b", "keep", 0, 3).text, "a-b");
  assert.match(toggleShot("", "keep", 5, 3).error, /no shot 5/);
});

test("shot lengths in frames and seconds", () => {
  assert.equal(formatLength(16, 24), "16 f · 0.67 s");
  assert.equal(formatLength(16, 0), "16 f");
});

test("the FilmSelectScenes fed by the detector's SCENES output is found through the graph's links", () => {
  const select = { id: 4, type: "FilmSelectScenes" };
  const other = { id: 5, type: "FilmStabilize" };
  const nodes = { 4: select, 5: other };
  const detect = { id: 3, outputs: [{ links: [10, 11] }, { links: [12] }] };
  const asMap = { links: new Map([[10, { target_id: 5 }], [11, { target_id: 4 }], [12, { target_id: 4 }]]),
    getNodeById: (id) => nodes[id] };
  const asObject = { ...asMap, links: { 10: { target_id: 5 }, 11: { target_id: 4 } } };   // older litegraph
  assert.deepEqual(connectedNodes(asMap, detect, 0), [select]);
  assert.deepEqual(connectedNodes(asObject, detect, 0), [select]);
  assert.deepEqual(connectedNodes(asMap, detect, 0, "FilmStabilize"), [other]);
  assert.deepEqual(connectedNodes(asMap, { outputs: [{ links: null }] }, 0), []);
});
