// The imaging suite: CT, MRI, X-ray, ultrasound, PET and SPECT on phantoms. Controls are
// generated from the quantization spec; state lives in the URL and in localStorage.
import { CanonError, canonicalizeImaging, fmtPlain, imagingIds } from "./canon.js";
import { loadSite, paramsFromPath } from "./data.js";
import { fmt, renderInfo } from "./info.js";
import { renderNotebook, wireNotebook } from "./notebook.js";
import { addEntry, lastView } from "./store.js";
import { SCAN_KEYS, ScanView } from "./scanview.js";
import { LoadError, NoApiError, Pane } from "./viewer.js";
import { fillSelect, notice, option } from "./dom.js";
import { completeImaging, resolveLink, showLinkProblems } from "./links.js";
import { imagingCaption, imagingTitle } from "./captions.js";

const $ = (id) => document.getElementById(id);
let data;
let req;
let display = { b: 0, c: 1 };
let compare = null;
let paneA;
let paneB;
let scan;
let nearestPath = null;

function status(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

function specs(modality) {
  return data.spec.imaging[modality];
}

function queryOf(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (k === "format" || k === "size") continue;
    q.set(k, typeof v === "number" ? fmtPlain(v) : String(v));
  }
  if (display.b !== 0) q.set("db", String(display.b));
  if (display.c !== 1) q.set("dc", String(display.c));
  for (const [k, v] of Object.entries(scan ? scan.query() : {})) q.set(k, v);
  if (compare) q.set("compare", compare);
  return q.toString();
}

function describe(c) {
  return imagingCaption(c, data.catalog);
}

function presetsFor(modality) {
  return { ct: data.spec.ct_presets, mri: data.spec.mri_presets }[modality] || {};
}

function matchingPreset(c) {
  const presets = presetsFor(c.modality);
  for (const [name, v] of Object.entries(presets)) {
    if (c.modality === "ct" && c.params.window === v[0] && c.params.level === v[1]) return name;
    if (c.modality === "mri" && c.params.sequence === v[0] && c.params.tr_ms === v[1] && c.params.te_ms === v[2]
      && c.params.ti_ms === v[3] && c.params.flip_deg === v[4]) return name;
  }
  return "";
}

function syncControls(c) {
  const cat = data.catalog;
  const p = c.params;
  fillSelect($("instrument"), imagingIds(cat, data.spec).map((id) => [id, `${cat.instruments[id].name} (${cat.instruments[id].modality.toUpperCase()})`]), p.instrument);
  const phantoms = Object.keys(cat.phantoms).sort().filter((id) => cat.phantoms[id].modalities.includes(c.modality));
  fillSelect($("phantom"), phantoms.map((id) => [id, cat.phantoms[id].name]), p.phantom);
  fillSelect($("variant"), ["default", ...cat.phantoms[p.phantom].variants].map((v) => [v, v]), p.variant);
  const presets = Object.keys(presetsFor(c.modality));
  fillSelect($("preset"), [["", presets.length ? "Custom" : "No presets"], ...presets.map((k) => [k, k])], matchingPreset(c));
  $("preset").disabled = !presets.length;

  const box = $("params");
  box.replaceChildren();
  for (const s of specs(c.modality)) {
    const id = `p-${s.name}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = `${s.doc.replace(/\.$/, "")}${s.unit ? ` (${s.unit})` : ""}`;
    let input;
    if (s.kind === "number") {
      input = document.createElement("input");
      input.type = "number";
      input.min = String(s.lo);
      input.max = String(s.hi);
      input.step = String(s.step);
      input.value = fmtPlain(p[s.name]);
    } else {
      input = document.createElement("select");
      input.replaceChildren(...s.choices.map((v) => option(v, v)));
      input.value = p[s.name];
    }
    input.id = id;
    input.name = s.name;
    input.dataset.param = s.name;
    box.append(label, input);
  }
  $("brightness").value = String(display.b);
  $("contrast").value = String(display.c);
  $("brightness-out").textContent = fmt(display.b);
  $("contrast-out").textContent = `${fmt(display.c)}×`;
}

async function go(params, { push = false } = {}) {
  let c;
  try {
    c = canonicalizeImaging(params, data.ctx);
  } catch (e) {
    if (e instanceof CanonError) {
      status(`Cannot show that image — ${e.message}${e.allowed ? ` (allowed: ${[].concat(e.allowed).join(", ")})` : ""}`, true);
      if (req) syncControls(req);
      return;
    }
    throw e;
  }
  req = c;
  syncControls(c);
  const query = queryOf(c.params);
  if (push) history.pushState(null, "", `${location.pathname}?${query}`);
  else history.replaceState(null, "", `${location.pathname}?${query}`);
  lastView.set("imaging", query);
  const label = describe(c);
  status("Loading…");
  notice("");
  try {
    const view = await paneA.show(data, c.path);
    if (!view) return;
    scan.show(c, view);
    paneA.canvas.setAttribute("aria-label", label);
    $("title-a").textContent = imagingTitle(c);
    renderInfo($("info"), view.info, view.infoError);
    $("info-source").textContent = view.info ? "Figures of the image shown, from its own render." : "";
    status(`${view.source === "static" ? "Pre-rendered image" : "Rendered on demand by the API"}: ${label}.`);
  } catch (e) {
    if (req !== c) return;
    scan.hide();
    if (e instanceof NoApiError || e instanceof LoadError) {
      nearestPath = e.nearest;
      status(e instanceof NoApiError ? "Not pre-rendered." : `Could not load this image: ${e.message}`, true);
      notice(e instanceof NoApiError
        ? "This image was not pre-rendered and this site has no render API configured (built with --api-url none)."
        : (e.nearest ? "You can look at the nearest pre-rendered image instead." : ""));
      $("nearest").hidden = !e.nearest;
    } else {
      status(`Could not show this image: ${e.message}`, true);
    }
  }
}

/** The settings to carry to another phantom: its own defaults (window, MRI field of view)
 * replace the old phantom's, and the slice moves into the new phantom's range. */
function phantomSwitch(pid) {
  const p = { ...current(), phantom: pid, variant: "default" };
  const old = data.catalog.phantoms[req.params.phantom];
  const next = data.catalog.phantoms[pid];
  for (const k of Object.keys((old.defaults || {})[req.modality] || {})) delete p[k];
  for (const k of Object.keys((next.defaults || {})[req.modality] || {})) delete p[k];
  if (p.slice_mm !== undefined) {
    const [lo, hi] = next.slice_range_mm || [0, 0];
    p.slice_mm = Math.min(Math.max(p.slice_mm, lo), hi);
  }
  return p;
}

function current() {
  const p = { ...req.params };
  delete p.format;
  delete p.size;
  return p;
}

async function showCompare(path) {
  compare = path;
  $("pane-b").hidden = !path;
  $("panes").classList.toggle("two", Boolean(path));
  $("compare").textContent = path ? "Stop comparing" : "Compare side by side";
  $("compare").setAttribute("aria-pressed", String(Boolean(path)));
  if (req) history.replaceState(null, "", `${location.pathname}?${queryOf(req.params)}`);
  if (!path) return;
  try {
    const c = canonicalizeImaging(paramsFromPath(data, path), data.ctx);
    paneB.canvas.setAttribute("aria-label", `Compared: ${describe(c)}`);
    await paneB.show(data, c.path);
  } catch (e) {
    status(`Could not show the compared image: ${e.message}`, true);
  }
}

function wire() {
  $("controls").addEventListener("submit", (ev) => ev.preventDefault());
  $("instrument").addEventListener("change", () => {
    const inst = data.catalog.instruments[$("instrument").value];
    const ok = data.catalog.phantoms[req.params.phantom]?.modalities.includes(inst.modality);
    const phantom = ok ? req.params.phantom : Object.keys(data.catalog.phantoms).sort().find((id) => data.catalog.phantoms[id].modalities.includes(inst.modality));
    go({ instrument: inst.id, phantom }, { push: true });
  });
  $("phantom").addEventListener("change", () => go(phantomSwitch($("phantom").value), { push: true }));
  $("variant").addEventListener("change", () => go({ ...current(), variant: $("variant").value }));
  $("preset").addEventListener("change", () => {
    const name = $("preset").value;
    if (!name) return;
    const v = presetsFor(req.modality)[name];
    const names = req.modality === "ct" ? ["window", "level"] : ["sequence", "tr_ms", "te_ms", "ti_ms", "flip_deg"];
    const p = current();
    names.forEach((k, i) => { p[k] = v[i]; });
    go(p, { push: true });
  });
  $("params").addEventListener("change", (ev) => {
    const name = ev.target.dataset.param;
    if (name) go({ ...current(), [name]: ev.target.value });
  });
  const onDisplay = () => {
    display = { b: Number($("brightness").value), c: Number($("contrast").value) };
    $("brightness-out").textContent = fmt(display.b);
    $("contrast-out").textContent = `${fmt(display.c)}×`;
    paneA.setDisplay(display.b, display.c);
    paneB.setDisplay(display.b, display.c);
  };
  $("brightness").addEventListener("input", onDisplay);
  $("contrast").addEventListener("input", onDisplay);
  $("nearest").addEventListener("click", () => {
    if (nearestPath) go(paramsFromPath(data, nearestPath), { push: true });
  });
  $("compare").addEventListener("click", () => showCompare(compare ? null : req.path));
  $("save").addEventListener("click", () => {
    addEntry({ kind: "imaging", query: queryOf(req.params), path: req.path, label: describe(req) });
    renderNotebook(data.root, "imaging", status);
    status("Saved to the notebook.");
  });
  $("copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(location.href);
      status("Link copied: it restores exactly this image.");
    } catch (e) {
      status(`Copy this link: ${location.href}`);
    }
  });
  window.addEventListener("popstate", () => start());
}

let wired = false;

export async function start() {
  const root = document.body.dataset.root;
  if (!data) {
    try {
      data = await loadSite(root);
    } catch (e) {
      status(`The imaging suite could not load its data: ${e.message}`, true);
      return;
    }
  }
  if (!data.site.imaging_default) {
    status("This build has no phantoms.", true);
    return;
  }
  if (!paneA) {
    paneA = new Pane($("view-a"), $("spin-a"), null);
    paneB = new Pane($("view-b"), null, null);
    scan = new ScanView(paneA, {
      data,
      change: (changes) => go({ ...current(), ...changes }),
      saved: () => history.replaceState(null, "", `${location.pathname}?${queryOf(req.params)}`),
    });
  }
  if (!wired) {
    wire();
    wireNotebook(root, "imaging", status);
    wired = true;
  }
  const q = new URLSearchParams(location.search.length > 1 ? location.search : (lastView.get("imaging") || ""));
  const p = {};
  for (const [k, v] of q) if (!["db", "dc", "compare", ...SCAN_KEYS].includes(k)) p[k] = v;
  scan.restore(q);
  display = { b: Number(q.get("db") || 0) || 0, c: Number(q.get("dc") || 1) || 1 };
  paneA.setDisplay(display.b, display.c);
  paneB.setDisplay(display.b, display.c);
  const fallback = { ...data.site.imaging_default };
  delete fallback.format;
  delete fallback.size;
  const link = resolveLink(p, (x) => completeImaging(x, data), (x) => canonicalizeImaging(x, data.ctx));
  showLinkProblems(link.problems, link.params ? "The rest of it is shown, with those settings at the scanner's defaults."
    : "Showing the default image instead.");
  await go(link.params || fallback);
  const cmp = q.get("compare");
  await showCompare(cmp && /^r\/[\w.-]+\/i\//.test(cmp) ? cmp : null);
}
