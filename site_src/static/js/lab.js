// The lab: a virtual microscope. State lives in the URL and in localStorage; every change is
// canonicalized exactly as the server does and loaded from the site or the render API.
import { CanonError, canonicalizeMicroscope, fmtPlain, fromUnits, microscopeIds, units } from "./canon.js";
import { loadSite, paramsFromPath } from "./data.js";
import { fmt, renderInfo } from "./info.js";
import { renderNotebook, wireNotebook } from "./notebook.js";
import { addEntry, isFavourite, lastView, toggleFavourite } from "./store.js";
import { Stage, wireFullscreen } from "./stage.js";
import { LoadError, NoApiError, Pane, loadView, prefetch } from "./viewer.js";
import { fillSelect, notice } from "./dom.js";
import { completeLab, resolveLink, showLinkProblems } from "./links.js";
import { labCaption, labTitle } from "./captions.js";

const $ = (id) => document.getElementById(id);
const STATE_KEYS = ["instrument", "objective", "specimen", "stain", "mode", "focus_um", "x_um", "y_um", "light_pct", "aperture", "oil", "detector", "wd_mm", "view", "scale_bar", "source"];
const FINE_DIVISIONS = 10;

let data;
let req; // the canonical request now shown (or being loaded)
let display = { b: 0, c: 1 };
let compare = null; // path in pane B
let paneA;
let paneB;
let stage;
let nearestPath = null;

function status(text, error = false) {
  const s = $("status");
  s.textContent = text;
  s.classList.toggle("error", error);
}

function focusParam() {
  return data.spec.microscope.find((p) => p.name === "focus_um");
}

/** Coarse step: the objective's depth of field, from the build (site.json). */
function coarseStep(r) {
  const t = data.site.focus_steps[r.instrument]?.[fmtPlain(r.objective)];
  return (t && (t[r.view] || Object.values(t)[0])) || 1;
}

function fineStep(r) {
  const p = focusParam();
  return fromUnits(p, Math.max(1, units(p, coarseStep(r) / FINE_DIVISIONS)));
}

function queryOf(params) {
  const q = new URLSearchParams();
  for (const k of STATE_KEYS) {
    if (params[k] === undefined || params[k] === null) continue;
    q.set(k, typeof params[k] === "number" ? fmtPlain(params[k]) : String(params[k]));
  }
  if (display.b !== 0) q.set("db", String(display.b));
  if (display.c !== 1) q.set("dc", String(display.c));
  if (compare) q.set("compare", compare);
  return q.toString();
}

function canonical(params) {
  const p = {};
  for (const k of STATE_KEYS) if (params[k] !== undefined && params[k] !== null) p[k] = params[k];
  return canonicalizeMicroscope(p, data.ctx);
}

function describe(r) {
  return labCaption(r, data.catalog, data.spec);
}

function syncControls(r) {
  const c = data.catalog;
  const inst = c.instruments[r.instrument];
  const spec = c.specimens[r.specimen];
  fillSelect($("instrument"), microscopeIds(c).map((id) => [id, c.instruments[id].name]), r.instrument);
  fillSelect($("specimen"), Object.keys(c.specimens).sort().map((id) => [id, c.specimens[id].name]), r.specimen);
  fillSelect($("stain"), spec.stains.map((id) => [id, c.stains[id]?.name || id]), r.stain);
  fillSelect($("mode"), inst.modes.map((m) => [m, m]), r.mode);
  $("source").value = r.source;
  // the AI-illustration source only where the library has a picture of this slide and stain
  const illustrated = (spec.illustrated_stains || []).includes(r.stain)
    && data.spec.library_modes.includes(r.mode);
  const libraryOption = $("source").querySelector('option[value="library"]');
  libraryOption.disabled = !illustrated && r.source !== "library";
  libraryOption.textContent = illustrated ? "AI illustration through the same optics"
    : "AI illustration (none in the library for this slide, stain and mode)";

  const nose = $("nosepiece");
  nose.replaceChildren();
  for (const o of inst.objectives) {
    const b = document.createElement("button");
    b.type = "button";
    b.setAttribute("role", "radio");
    const on = o.magnification === r.objective;
    b.setAttribute("aria-checked", String(on));
    b.tabIndex = on ? 0 : -1;
    b.dataset.mag = fmtPlain(o.magnification);
    b.textContent = `${fmtPlain(o.magnification)}×`;
    b.title = `${fmtPlain(o.magnification)}× / NA ${o.na} ${o.immersion}`;
    b.setAttribute("aria-label", `${fmtPlain(o.magnification)}× objective, NA ${o.na}, ${o.immersion}`);
    if (o.color_ring) b.classList.add(`ring-${o.color_ring.replace(/\s+/g, "-")}`);
    nose.append(b);
  }

  const step = coarseStep(r);
  const fine = fineStep(r);
  const coarseIdx = Math.round(r.focus_um / step);
  const fineIdx = Math.max(-FINE_DIVISIONS, Math.min(FINE_DIVISIONS, Math.round((r.focus_um - coarseIdx * step) / fine)));
  $("coarse").value = String(coarseIdx);
  $("fine").value = String(fineIdx);
  $("coarse-out").textContent = `${fmt(step)} µm / step`;
  $("fine-out").textContent = `${fmt(fine)} µm / step`;
  $("focus-out").textContent = `${fmtPlain(r.focus_um)} µm`;

  $("light").value = String(r.light_pct);
  $("light-out").textContent = `${r.light_pct} %`;
  const probe = data.spec.probe_modes.includes(r.mode);  // the tip follows the surface
  for (const id of ["coarse", "fine", "light"]) $(id).disabled = probe;
  if (probe) $("focus-out").textContent = "none: the AFM tip touches the surface";
  const transmitted = data.spec.transmitted_modes.includes(r.mode);
  $("aperture").disabled = !transmitted;
  $("aperture").value = String(r.aperture);
  const o = inst.objectives.find((x) => x.magnification === r.objective);
  $("aperture-out").textContent = `${r.aperture} × NA`;
  $("aperture-note").textContent = transmitted
    ? `Condenser NA ≈ ${fmt(r.aperture * o.na)} (objective NA ${o.na}).`
    : "The condenser aperture acts in transmitted-light modes only.";
  // SEM: detector and working distance (the catalog gives α = o.na at 10 mm; α ∝ 1 / WD)
  const sem = data.spec.sem_modes.includes(r.mode);
  $("sem-controls").hidden = !sem;
  for (const radio of document.querySelectorAll('input[name="detector"]')) {
    radio.checked = radio.value === r.detector;
    radio.disabled = !sem;
  }
  $("wd").disabled = !sem;
  $("wd").value = String(r.wd_mm);
  $("wd-out").textContent = `${fmtPlain(r.wd_mm)} mm`;
  $("wd-note").textContent = sem
    ? `Beam convergence α ≈ ${fmt((o.na * 10 / r.wd_mm) * 1000)} mrad: doubling the working distance halves α and doubles the depth of field.`
    : "";
  for (const radio of document.querySelectorAll('input[name="view"]')) {
    radio.checked = radio.value === r.view;
    radio.disabled = radio.value === "camera" ? !inst.camera : !inst.eyepiece;
  }
  $("scalebar").checked = r.scale_bar === "on";
  const oilObjective = o.immersion === "oil";
  $("oil").disabled = !oilObjective || r.oil === undefined;
  $("oil").checked = r.oil !== "off";
  $("oil-note").textContent = oilObjective
    ? (r.oil === "off" ? "An oil objective used dry loses resolution and light." : "Oil (n = 1.515) matches the glass, so the full NA reaches the objective.")
    : "Only oil-immersion objectives use oil.";
  $("brightness").value = String(display.b);
  $("contrast").value = String(display.c);
  $("brightness-out").textContent = fmt(display.b);
  $("contrast-out").textContent = `${fmt(display.c)}×`;
  $("stage-out").textContent = `x ${fmtPlain(r.x_um)} µm, y ${fmtPlain(r.y_um)} µm`;
  const fav = isFavourite(queryOf(r));
  $("fav").setAttribute("aria-pressed", String(fav));
  $("fav").textContent = fav ? "★ Favourite" : "☆ Favourite";
}

function neighbours(r, apiWorks) {
  const step = coarseStep(r);
  const out = [];
  for (const i of [1, -1, 2, -2, 3, -3]) {
    try {
      out.push(canonical({ ...r, focus_um: r.focus_um + i * step }).path);
    } catch (e) {
      /* outside the focus range */
    }
  }
  // Pre-rendered neighbours always; on-demand ones only once the API has answered.
  return out.filter((p) => data.paths.has(p)).concat(apiWorks ? out.slice(0, 2).filter((p) => !data.paths.has(p)) : []);
}

async function go(params, { push = false } = {}) {
  let c;
  try {
    c = canonical(params);
  } catch (e) {
    if (e instanceof CanonError) {
      status(`Cannot show that view — ${e.message}${e.allowed ? ` (allowed: ${[].concat(e.allowed).join(", ")})` : ""}`, true);
      if (req) syncControls(req.params);
      stage?.abandoned();
      return;
    }
    throw e;
  }
  req = c;
  const r = c.params;
  syncControls(r);
  const query = queryOf(r);
  const url = `${location.pathname}?${query}`;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
  lastView.set("lab", query);
  const label = describe(r);
  paneA.canvas.setAttribute("aria-label", `${label} (loading)`);
  status("Loading…");
  notice("");
  try {
    const view = await paneA.show(data, c.path);
    if (!view) return;
    stage.landed(view);
    paneA.canvas.setAttribute("aria-label", label);
    $("title-a").textContent = labTitle(r, data.spec);
    renderInfo($("info"), view.info, view.infoError);
    $("info-source").textContent = view.info ? "Figures of the image shown, from its own render." : "";
    status(`${view.source === "static" ? "Pre-rendered view" : "Rendered on demand by the API"}: ${label}.`);
    prefetch(data, neighbours(r, view.source === "api"));
  } catch (e) {
    if (req !== c) return;
    stage.abandoned();
    if (e instanceof NoApiError || e instanceof LoadError) {
      nearestPath = e.nearest;
      status(e instanceof NoApiError ? "Not pre-rendered." : `Could not load this view: ${e.message}`, true);
      notice(e instanceof NoApiError
        ? "This view was not pre-rendered and this site has no render API configured (built with --api-url none)."
          + (e.nearest ? " You can look at the nearest pre-rendered view instead." : "")
        : (e.nearest ? "You can look at the nearest pre-rendered view instead." : ""));
      $("nearest").hidden = !e.nearest;
    } else {
      status(`Could not show this view: ${e.message}`, true);
    }
  }
}

function current() {
  return { ...req.params };
}

function setFocus() {
  const r = current();
  const step = coarseStep(r);
  const fine = fineStep(r);
  r.focus_um = Number($("coarse").value) * step + Number($("fine").value) * fine;
  go(r);
}

/** Stage positions stay on the slide. */
function onSlide(r) {
  const spec = data.catalog.specimens[r.specimen];
  const hw = spec.slide_width_um / 2;
  const hh = spec.slide_height_um / 2;
  return { ...r, x_um: Math.max(-hw, Math.min(hw, r.x_um)), y_um: Math.max(-hh, Math.min(hh, r.y_um)) };
}

function moveStage(dxUm, dyUm) {
  const r = current();
  go(onSlide({ ...r, x_um: r.x_um + dxUm, y_um: r.y_um + dyUm }));
}

function pixelUm() {
  const info = paneA.view?.info;
  if (info && typeof info.pixel_size_um === "number") return info.pixel_size_um;
  if (info && typeof info.fov_um === "number") return info.fov_um / paneA.canvas.width;
  if (info && Array.isArray(info.fov_um)) return info.fov_um[0] / paneA.canvas.width;
  return 1;
}

function wireStage() {
  const canvas = paneA.canvas;
  // pointer, wheel, pinch and the overview: stage.js
  stage = new Stage(canvas, $("overview"), {
    params: () => req?.params,
    pixelUm,
    objectives: () => data.catalog.instruments[req.params.instrument].objectives.map((o) => o.magnification).sort((a, b) => a - b),
    slide: () => {
      const spec = data.catalog.specimens[req.params.specimen];
      return { w: spec.slide_width_um, h: spec.slide_height_um };
    },
    go: (changes, opts = {}) => go(onSlide({ ...current(), ...changes }), { push: "objective" in changes, ...opts }),
    overview: async () => {
      // the lowest-power field at the stage position, small and without a scale bar
      const r = req.params;
      const low = Math.min(...data.catalog.instruments[r.instrument].objectives.map((o) => o.magnification));
      const p = {};
      for (const k of STATE_KEYS) if (r[k] !== undefined && r[k] !== null) p[k] = r[k];
      const c = canonicalizeMicroscope({ ...p, objective: low, focus_um: 0, size: "256", scale_bar: "off" }, data.ctx);
      const view = await loadView(data, c.path);
      const info = view.info || {};
      const w = Array.isArray(info.fov_um) ? info.fov_um[0] : (info.pixel_size_um || 0) * view.bitmap.width;
      if (!w) return null;
      return { bitmap: view.bitmap, field: { x: r.x_um, y: r.y_um, w, h: (w * view.bitmap.height) / view.bitmap.width } };
    },
  });
  wireFullscreen($("fullscreen"), $("pane-a"));
  canvas.addEventListener("keydown", (ev) => {
    const quarter = pixelUm() * canvas.width / 4;
    const moves = { ArrowLeft: [-quarter, 0], ArrowRight: [quarter, 0], ArrowUp: [0, -quarter], ArrowDown: [0, quarter] };
    if (moves[ev.key]) {
      ev.preventDefault();
      moveStage(...moves[ev.key]);
    } else if (ev.key === "PageUp" || ev.key === "PageDown") {
      ev.preventDefault();
      $("coarse").value = String(Number($("coarse").value) + (ev.key === "PageUp" ? 1 : -1));
      setFocus();
    } else if (ev.key === "+" || ev.key === "=" || ev.key === "-") {
      ev.preventDefault();
      $("fine").value = String(Number($("fine").value) + (ev.key === "-" ? -1 : 1));
      setFocus();
    }
  });
}

function wireControls() {
  $("controls").addEventListener("submit", (ev) => ev.preventDefault());
  $("instrument").addEventListener("change", () => {
    const inst = data.catalog.instruments[$("instrument").value];
    const r = current();
    go({ ...r, instrument: inst.id, objective: inst.default_objective, mode: inst.default_mode, view: null, aperture: null }, { push: true });
  });
  $("specimen").addEventListener("change", () => {
    const s = data.catalog.specimens[$("specimen").value];
    go({ instrument: s.recommended.instrument, objective: s.recommended.objective, specimen: s.id, mode: s.recommended.modes[0],
      light_pct: req.params.light_pct, scale_bar: req.params.scale_bar }, { push: true });
  });
  $("stain").addEventListener("change", () => go({ ...current(), stain: $("stain").value }, { push: true }));
  $("mode").addEventListener("change", () => go({ ...current(), mode: $("mode").value }, { push: true }));
  $("source").addEventListener("change", () => go({ ...current(), source: $("source").value }));
  $("nosepiece").addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-mag]");
    if (b) go({ ...current(), objective: Number(b.dataset.mag) }, { push: true });
  });
  $("nosepiece").addEventListener("keydown", (ev) => {
    if (!["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"].includes(ev.key)) return;
    ev.preventDefault();
    const objs = data.catalog.instruments[req.params.instrument].objectives.map((o) => o.magnification);
    const i = objs.indexOf(req.params.objective);
    const j = Math.max(0, Math.min(objs.length - 1, i + (ev.key === "ArrowRight" || ev.key === "ArrowDown" ? 1 : -1)));
    go({ ...current(), objective: objs[j] }).then(() => $("nosepiece").querySelector('[aria-checked="true"]')?.focus());
  });
  $("coarse").addEventListener("change", setFocus);
  $("fine").addEventListener("change", setFocus);
  $("light").addEventListener("input", () => { $("light-out").textContent = `${$("light").value} %`; });
  $("light").addEventListener("change", () => go({ ...current(), light_pct: Number($("light").value) }));
  $("aperture").addEventListener("input", () => { $("aperture-out").textContent = `${$("aperture").value} × NA`; });
  $("aperture").addEventListener("change", () => go({ ...current(), aperture: Number($("aperture").value) }));
  for (const radio of document.querySelectorAll('input[name="view"]')) {
    radio.addEventListener("change", () => go({ ...current(), view: radio.value }));
  }
  $("oil").addEventListener("change", () => go({ ...current(), oil: $("oil").checked ? "on" : "off" }));
  for (const radio of document.querySelectorAll('input[name="detector"]')) {
    radio.addEventListener("change", () => go({ ...current(), detector: radio.value }));
  }
  $("wd").addEventListener("input", () => { $("wd-out").textContent = `${$("wd").value} mm`; });
  $("wd").addEventListener("change", () => go({ ...current(), wd_mm: Number($("wd").value) }));
  $("scalebar").addEventListener("change", () => go({ ...current(), scale_bar: $("scalebar").checked ? "on" : "off" }));
  const onDisplay = () => {
    display = { b: Number($("brightness").value), c: Number($("contrast").value) };
    $("brightness-out").textContent = fmt(display.b);
    $("contrast-out").textContent = `${fmt(display.c)}×`;
    paneA.setDisplay(display.b, display.c);
    paneB.setDisplay(display.b, display.c);
  };
  $("brightness").addEventListener("input", onDisplay);
  $("contrast").addEventListener("input", onDisplay);
  const saveDisplay = () => history.replaceState(null, "", `${location.pathname}?${queryOf(req.params)}`);
  $("brightness").addEventListener("change", saveDisplay);
  $("contrast").addEventListener("change", saveDisplay);
  $("centre").addEventListener("click", () => go({ ...current(), x_um: 0, y_um: 0 }));
  $("nearest").addEventListener("click", () => {
    if (nearestPath) go(paramsFromPath(data, nearestPath), { push: true });
  });
  $("compare").addEventListener("click", () => showCompare(compare ? null : req.path));
  $("save").addEventListener("click", () => {
    addEntry({ kind: "lab", query: queryOf(req.params), path: req.path, label: describe(req.params) });
    renderNotebook(data.root, "lab", status);
    status("Saved to the lab notebook.");
  });
  $("fav").addEventListener("click", () => {
    const on = toggleFavourite({ kind: "lab", query: queryOf(req.params), label: describe(req.params) });
    syncControls(req.params);
    renderNotebook(data.root, "lab", status);
    status(on ? "Added to favourites." : "Removed from favourites.");
  });
  $("copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(location.href);
      status("Link copied: it restores exactly this view.");
    } catch (e) {
      status(`Copy this link: ${location.href}`);
    }
  });
  window.addEventListener("popstate", () => start());
}

async function showCompare(path) {
  compare = path;
  $("pane-b").hidden = !path;
  $("panes").classList.toggle("two", Boolean(path));
  $("compare").textContent = path ? "Stop comparing" : "Compare side by side";
  $("compare").setAttribute("aria-pressed", String(Boolean(path)));
  if (req) history.replaceState(null, "", `${location.pathname}?${queryOf(req.params)}`);
  if (!path) return;
  const p = paramsFromPath(data, path);
  try {
    const c = canonical(p);
    paneB.canvas.setAttribute("aria-label", `Compared: ${describe(c.params)}`);
    $("title-b").textContent = `Compared: ${fmtPlain(c.params.objective)}×, focus ${fmtPlain(c.params.focus_um)} µm`;
    await paneB.show(data, c.path);
  } catch (e) {
    status(`Could not show the compared view: ${e.message}`, true);
  }
}

function initialParams() {
  const q = new URLSearchParams(location.search);
  const fromQuery = (qs) => {
    const p = {};
    for (const k of STATE_KEYS) if (qs.has(k)) p[k] = qs.get(k);
    return p;
  };
  let p = fromQuery(q);
  let source = q;
  if (!Object.keys(p).length) {
    const last = lastView.get("lab");
    if (last) {
      source = new URLSearchParams(last);
      p = fromQuery(source);
    }
  }
  if (!Object.keys(p).length) p = { ...data.site.lab_default };
  display = { b: Number(source.get("db") || 0) || 0, c: Number(source.get("dc") || 1) || 1 };
  const cmp = source.get("compare");
  return { params: p, compare: cmp && /^r\/[\w.-]+\/m\//.test(cmp) ? cmp : null };
}

let wired = false;

export async function start() {
  const root = document.body.dataset.root;
  if (!data) {
    try {
      data = await loadSite(root);
    } catch (e) {
      status(`The lab could not load its data: ${e.message}`, true);
      return;
    }
  }
  if (!data.site.lab_default) {
    status("This build has no specimens.", true);
    return;
  }
  if (!paneA) {
    paneA = new Pane($("view-a"), $("spin-a"), $("ai-a"));
    paneB = new Pane($("view-b"), null, $("ai-b"));
  }
  const init = initialParams();
  if (!wired) {
    wireControls();
    wireStage();
    wireNotebook(root, "lab", status);
    wired = true;
  }
  paneA.setDisplay(display.b, display.c);
  paneB.setDisplay(display.b, display.c);
  const link = resolveLink(init.params, (q) => completeLab(q, data), canonical);
  showLinkProblems(link.problems, link.params ? "The rest of it is shown, with those settings as the slide recommends."
    : "Showing the default view instead.");
  await go(link.params || { ...data.site.lab_default });
  await showCompare(init.compare);
}
