// The models panel's data: plain functions, no ComfyUI import, so `node --test` can check them.
// Input: GET /filmrestore/models {models: [...]} and GET /filmrestore/models/download/NAME (a job).

import { formatDuration } from "./progress_logic.js";

/** Bytes as "812 B", "4.7 MB", "245 MB", "1.2 GB" (decimal units, as download sites give sizes). */
export function formatBytes(n) {
  if (n == null || !Number.isFinite(n) || n < 0) return "";
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

const CHECKSUM_TEXT = {
  ok: "sha256 ok",
  "size-ok": "size ok (no published sha256)",
  unchecked: "unchecked (no published checksum)",
  mismatch: "checksum mismatch: file deleted",
};

/** One line for a download job: "downloading 1.2 MB / 4.9 MB (24%) · 2.0 MB/s · 0:02 left", "done · sha256 ok". */
export function statusText(job) {
  if (!job || job.state === "idle") return "";
  if (job.state === "queued") return "queued (other downloads running)";
  if (job.state === "downloading") {
    const done = formatBytes(job.done_bytes);
    if (!job.total_bytes) return `downloading ${done}`;
    const pct = Math.floor((100 * job.done_bytes) / job.total_bytes);
    const parts = [`downloading ${done} / ${formatBytes(job.total_bytes)} (${pct}%)`];
    if (job.bytes_per_s > 0) {
      parts.push(`${formatBytes(job.bytes_per_s)}/s`);
      parts.push(`${formatDuration((job.total_bytes - job.done_bytes) / job.bytes_per_s)} left`);
    }
    return parts.join(" · ");
  }
  if (job.state === "verifying") return "checking sha256…";
  if (job.state === "done") return `done · ${CHECKSUM_TEXT[job.sha256] ?? "saved"}`;
  if (job.state === "failed") {
    return job.sha256 === "mismatch" ? `failed: ${CHECKSUM_TEXT.mismatch}` : `failed: ${job.message || "unknown error"}`;
  }
  return job.state;
}

/** The fraction done of a job for a progress bar (0..1), or null when unknown. */
export function fractionDone(job) {
  if (!job) return null;
  if (job.state === "done") return 1;
  if (job.state !== "downloading" || !job.total_bytes) return null;
  return Math.min(1, job.done_bytes / job.total_bytes);
}

/** True while the panel must keep polling this job. */
export function isActive(job) {
  return !!job && ["queued", "downloading", "verifying"].includes(job.state);
}

/**
 * The rows the panel draws, grouped by purpose in the registry's order: each with its status badge,
 * licence (non-commercial flagged), whether the download button shows and what it says.
 */
export function modelRows(models) {
  const groups = new Map();
  for (const m of models ?? []) {
    const job = m.download ?? null;
    const row = {
      name: m.name,
      filename: m.filename,
      purpose: m.purpose,
      present: !!m.present,
      badge: m.present ? "present" : "missing",
      license: m.non_commercial ? `${m.license} · non-commercial` : m.license,
      nonCommercial: !!m.non_commercial,
      where: m.present ? m.path : m.target,
      size: formatBytes(m.present ? m.file_size : m.size),
      button: m.present ? null : m.downloadable ? (isActive(job) ? "downloading…" : "Download") : null,
      busy: isActive(job),
      byHand: !m.present && !m.downloadable ? `by hand from ${m.source}` : "",
      status: statusText(job),
      fraction: fractionDone(job),
      notes: m.notes ?? "",
    };
    if (!groups.has(row.purpose)) groups.set(row.purpose, []);
    groups.get(row.purpose).push(row);
  }
  return [...groups].map(([purpose, rows]) => ({ purpose, rows }));
}

/** "3 of 17 present" for the panel's header. */
export function summary(models) {
  const list = models ?? [];
  return `${list.filter((m) => m.present).length} of ${list.length} present`;
}
