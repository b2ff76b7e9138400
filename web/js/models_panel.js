// ComfyUI-FilmRestore: a "Film models" sidebar tab listing the registry's models (present or missing, licence,
// non-commercial flagged) with a download button, its progress and the checksum result.
// Uses app.extensionManager.registerSidebarTab (frontends 1.27 and 1.58); without it, a command opens the
// same panel in a floating box.
import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";
import { modelRows, summary } from "./models_logic.js";

const POLL_MS = 700;
const CSS = `
.filmrestore-models { padding: 8px 10px; font-size: 13px; overflow-y: auto; height: 100%; box-sizing: border-box; }
.filmrestore-models h3 { margin: 10px 0 4px; font-size: 12px; text-transform: uppercase; opacity: .7; }
.filmrestore-models .fr-row { border-bottom: 1px solid var(--border-color, #444); padding: 6px 0; }
.filmrestore-models .fr-head { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
.filmrestore-models .fr-name { font-weight: 600; }
.filmrestore-models .fr-badge { border-radius: 3px; padding: 0 5px; font-size: 11px; }
.filmrestore-models .fr-present { background: #2e6b34; color: #fff; }
.filmrestore-models .fr-missing { background: #6b4a2e; color: #fff; }
.filmrestore-models .fr-nc { color: #e0a040; font-weight: 600; }
.filmrestore-models .fr-small { font-size: 11px; opacity: .75; word-break: break-all; }
.filmrestore-models .fr-bar { height: 4px; background: var(--border-color, #444); margin-top: 4px; }
.filmrestore-models .fr-bar > div { height: 100%; background: #c8a060; }
.filmrestore-models button { margin-left: auto; cursor: pointer; }
.filmrestore-models .fr-error { color: #e05050; }
.filmrestore-float { position: fixed; right: 20px; top: 60px; width: 420px; height: 70vh; z-index: 2000;
  background: var(--comfy-menu-bg, #222); color: var(--fg-color, #ddd); border: 1px solid #555; }
`;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c != null && c !== "") node.append(c);
  return node;
}

async function getJson(path, options) {
  const res = await api.fetchApi(path, options);
  const body = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
  if (!res.ok) throw new Error(body.error ?? `${res.status} ${res.statusText}`);
  return body;
}

/** Mounts the panel in `root`; returns a function that stops it (its polling). */
function mountPanel(root) {
  if (!document.getElementById("filmrestore-models-css")) {
    document.head.append(el("style", { id: "filmrestore-models-css" }, CSS));
  }
  const box = el("div", { class: "filmrestore-models" });
  root.replaceChildren(box);
  let timer = null;
  let stopped = false;
  let error = "";

  async function refresh() {
    if (stopped) return;
    let models = [];
    try {
      models = (await getJson("/filmrestore/models")).models;
      error = "";
    } catch (e) {
      error = `could not list the models: ${e.message}`;
    }
    draw(models);
    clearTimeout(timer);
    if (!stopped && models.some((m) => m.download && ["queued", "downloading", "verifying"].includes(m.download.state))) {
      timer = setTimeout(refresh, POLL_MS);
    }
  }

  async function start(name) {
    try {
      await getJson("/filmrestore/models/download", { method: "POST", body: JSON.stringify({ name }),
        headers: { "Content-Type": "application/json" } });
      error = "";
    } catch (e) {
      error = `${name}: ${e.message}`;
    }
    refresh();
  }

  function draw(models) {
    const parts = [el("div", { class: "fr-small" }, `Film models: ${summary(models)}. Every stage also works without weights.`)];
    if (error) parts.push(el("div", { class: "fr-error" }, error));
    for (const group of modelRows(models)) {
      parts.push(el("h3", {}, group.purpose));
      for (const r of group.rows) {
        const head = el("div", { class: "fr-head" },
          el("span", { class: "fr-name" }, r.name),
          el("span", { class: `fr-badge fr-${r.badge}` }, r.badge),
          el("span", { class: r.nonCommercial ? "fr-nc" : "fr-small" }, r.license),
          r.size ? el("span", { class: "fr-small" }, r.size) : null,
          r.button ? el("button", { "data-model": r.name, ...(r.busy ? { disabled: "" } : {}),
            onclick: () => start(r.name) }, r.button) : null);
        const row = el("div", { class: "fr-row", "data-model": r.name }, head,
          el("div", { class: "fr-small" }, `${r.filename} → ${r.where}`),
          r.byHand ? el("div", { class: "fr-small" }, r.byHand) : null,
          r.status ? el("div", { class: r.status.startsWith("failed") ? "fr-error" : "fr-small", "data-status": "" },
            r.status) : null);
        if (r.fraction != null && r.fraction < 1) {
          row.append(el("div", { class: "fr-bar" }, el("div", { style: `width:${(100 * r.fraction).toFixed(1)}%` })));
        }
        parts.push(row);
      }
    }
    box.replaceChildren(...parts);
  }

  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function floatingPanel() {
  const existing = document.querySelector(".filmrestore-float");
  if (existing) {
    existing._stop?.();
    existing.remove();
    return;
  }
  const close = el("button", { style: "float:right", onclick: () => floatingPanel() }, "×");
  const body = el("div", { style: "height: calc(100% - 28px)" });
  const frame = el("div", { class: "filmrestore-float" }, close, body);
  document.body.append(frame);
  frame._stop = mountPanel(body);
}

let stopTab = null;
const tab = {
  id: "filmrestore-models",
  icon: "pi pi-video",
  title: "Film models",
  tooltip: "FilmRestore models: present or missing, licence, download",
  type: "custom",
  render: (container) => {
    stopTab?.();
    stopTab = mountPanel(container);
  },
  destroy: () => {
    stopTab?.();
    stopTab = null;
  },
};

app.registerExtension({
  name: "FilmRestore.Models",
  commands: [{ id: "FilmRestore.Models.Show", label: "FilmRestore: models", function: () => floatingPanel() }],
  async setup() {
    const manager = app.extensionManager;
    const sidebar = manager?.sidebarTab?.registerSidebarTab ? manager.sidebarTab : manager;
    if (typeof sidebar?.registerSidebarTab === "function") sidebar.registerSidebarTab(tab);
  },
});
