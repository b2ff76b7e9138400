// node --test tests/web/   (the models panel's data, without a browser or ComfyUI)
import assert from "node:assert/strict";
import { test } from "node:test";

import { formatBytes, fractionDone, isActive, modelRows, statusText, summary } from "../../web/js/models_logic.js";

// the shape GET /filmrestore/models returns (routes/models.py model_entry)
const entry = (over) => ({
  name: "realesr-general-x4v3", filename: "realesr-general-x4v3.pth", purpose: "upscale", architecture: "x",
  folder: "upscale_models", target: "/c/models/upscale_models", present: false, path: null, file_size: null,
  size: 4885111, checksum: "sha256", license: "BSD-3-Clause", non_commercial: false, source: "https://x/y.pth",
  downloadable: true, notes: "", download: null, ...over,
});

test("bytes in decimal units", () => {
  assert.equal(formatBytes(812), "812 B");
  assert.equal(formatBytes(4885111), "4.9 MB");
  assert.equal(formatBytes(245_000_000), "245 MB");
  assert.equal(formatBytes(1_234_000_000), "1.2 GB");
  assert.equal(formatBytes(null), "");
});

test("download status lines: progress with speed and time left, then the checksum result", () => {
  const running = { state: "downloading", done_bytes: 1_000_000, total_bytes: 4_000_000, bytes_per_s: 500_000 };
  assert.equal(statusText(running), "downloading 1.0 MB / 4.0 MB (25%) · 500 kB/s · 0:06 left");
  assert.equal(statusText({ ...running, total_bytes: null }), "downloading 1.0 MB");
  assert.equal(statusText({ state: "queued" }), "queued (other downloads running)");
  assert.equal(statusText({ state: "verifying" }), "checking sha256…");
  assert.equal(statusText({ state: "done", sha256: "ok" }), "done · sha256 ok");
  assert.equal(statusText({ state: "done", sha256: "unchecked" }), "done · unchecked (no published checksum)");
  assert.equal(statusText({ state: "failed", sha256: "mismatch", message: "x" }), "failed: checksum mismatch: file deleted");
  assert.equal(statusText({ state: "failed", sha256: null, message: "HTTP 404 from u" }), "failed: HTTP 404 from u");
  assert.equal(statusText({ state: "idle" }), "");
  assert.equal(statusText(null), "");
  assert.equal(fractionDone(running), 0.25);
  assert.equal(fractionDone({ state: "done" }), 1);
  assert.equal(fractionDone({ state: "queued" }), null);
  assert.ok(isActive(running) && isActive({ state: "verifying" }) && !isActive({ state: "done" }));
});

test("rows: grouped by purpose, present/missing, non-commercial flagged, button only where it can work", () => {
  const models = [
    entry({}),
    entry({ name: "present-one", present: true, path: "/c/models/upscale_models/p.pth", file_size: 1000 }),
    entry({ name: "deepremaster", purpose: "remaster", license: "CC BY-NC-SA 4.0", non_commercial: true }),
    entry({ name: "nafnet", purpose: "deblur", downloadable: false, source: "https://github.com/n#models" }),
    entry({ name: "busy", download: { state: "downloading", done_bytes: 5, total_bytes: 10, bytes_per_s: 5 } }),
  ];
  const groups = modelRows(models);
  assert.deepEqual(groups.map((g) => g.purpose), ["upscale", "remaster", "deblur"]);
  const rows = Object.fromEntries(groups.flatMap((g) => g.rows).map((r) => [r.name, r]));
  assert.equal(rows["realesr-general-x4v3"].badge, "missing");
  assert.equal(rows["realesr-general-x4v3"].button, "Download");
  assert.equal(rows["realesr-general-x4v3"].where, "/c/models/upscale_models");
  assert.equal(rows["realesr-general-x4v3"].size, "4.9 MB");
  assert.equal(rows["present-one"].badge, "present");
  assert.equal(rows["present-one"].button, null);
  assert.equal(rows["present-one"].where, "/c/models/upscale_models/p.pth");
  assert.equal(rows.deepremaster.license, "CC BY-NC-SA 4.0 · non-commercial");
  assert.ok(rows.deepremaster.nonCommercial);
  assert.equal(rows.nafnet.button, null);
  assert.equal(rows.nafnet.byHand, "by hand from https://github.com/n#models");
  assert.equal(rows.busy.button, "downloading…");
  assert.ok(rows.busy.busy);
  assert.equal(rows.busy.fraction, 0.5);
  assert.equal(summary(models), "1 of 5 present");
  assert.deepEqual(modelRows(undefined), []);
});
