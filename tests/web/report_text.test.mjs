// node --test tests/web/   (a node's report text laid out for the canvas)
import assert from "node:assert/strict";
import { test } from "node:test";

import { reportLines, wrapLines } from "../../web/js/report_text_logic.js";

test("the report lines come from ui.text; nothing without it", () => {
  assert.deepEqual(reportLines({ text: ["colour flicker 1.06\nbefore 3.2 (ratio 0.33)"] }),
                   ["colour flicker 1.06", "before 3.2 (ratio 0.33)"]);
  assert.deepEqual(reportLines({ images: [] }), []);
  assert.deepEqual(reportLines(null), []);
});

test("long lines wrap at spaces, words longer than the width are cut, and the count is bounded", () => {
  assert.deepEqual(wrapLines(["one two three four"], 9), ["one two", "three", "four"]);
  assert.deepEqual(wrapLines(["abcdefghijkl"], 8), ["abcdefgh", "ijkl"]);
  const many = wrapLines(Array.from({ length: 40 }, (_, i) => `line ${i}`), 20, 10);
  assert.equal(many.length, 10);
  assert.equal(many[9], "… (31 more lines)");
});
