// The scan viewer of the imaging suite, as OHIF and Weasis users expect it: the image's raw
// values (HU, MR signal, kBq/mL) are fetched once as float32 .npy at the same canonical stem
// as the PNG, and windowed in the browser through a lookup table, so window/level, colour
// maps and PET/CT fusion repaint at once with no request. Zoom and pan, a probe under the
// pointer, elliptical ROIs (mean, SD, area) and distances in mm; the wheel scrolls slices
// when the request has a slice position (`slice_mm`), and zooms otherwise.
import { canonicalizeImaging, fmtPlain } from "./canon.js";
import { fetchRaw, fmtMm, fmtValue, fusionTable, lut } from "./rawimage.js";

const RAW_MODALITIES = ["ct", "mri", "pet", "spect"];
/** URL keys of the viewer's own state (not part of the render request). */
export const SCAN_KEYS = ["ww", "wl", "cmap", "fuse"];
const UNITS = { ct: "HU", mri: "a.u. (PD = 1 fully relaxed)", pet: "kBq/mL", spect: "kBq/mL" };
const CT_WINDOWS = [["brain", "Brain", [80, 40]], ["soft", "Soft tissue", [400, 40]],
  ["lung", "Lung", [1500, -600]], ["bone", "Bone", [2000, 400]]];
const FUSION_PARTNER = { ct: "pet-ct", mri: "pet-mr" }; // the PET of a hybrid scanner
const MAX_ZOOM = 16;
const MIN_ZOOM = 0.5;

// ------------------------------------------------------------------ the viewer

export class ScanView {
  /**
   * pane: the live Pane; hooks: { data, change(params) → load the request with these
   * parameters changed, saved() → the viewer state changed (update the URL) }.
   */
  constructor(pane, hooks) {
    this.pane = pane;
    this.canvas = pane.canvas;
    this.hooks = hooks;
    this.$ = (id) => document.getElementById(id);
    this.raw = null; // {w, h, data, stats, path (the PNG it belongs to), modality, unit, pxMm}
    this.fused = null; // {data (on the raw's grid), lo, hi, unit, label}
    this.win = null; // {w, l} in raw units
    this.cmap = "grey";
    this.fuse = false;
    this.opacity = 0.5;
    this.tool = "pan";
    this.view = { s: 1, tx: 0, ty: 0 };
    this.measures = [];
    this.draft = null;
    this.pointers = new Map();
    this.gesture = null;
    this.restored = null;
    this.modality = null;
    this.token = 0;
    this.frame = 0;
    this.base = document.createElement("canvas");
    pane.painter = () => this.paintIfMine();
    this.wire();
  }

  // ---------------------------------------------------------------- state

  /** The viewer's URL state (only what differs from the defaults). */
  query() {
    const q = {};
    if (!this.active()) return this.restored || q;
    const d = this.defaultWindow();
    if (this.win && (this.win.w !== d.w || this.win.l !== d.l)) {
      q.ww = fmtPlain(Number(this.win.w.toPrecision(5)));
      q.wl = fmtPlain(Number(this.win.l.toPrecision(5)));
    }
    if (this.cmap !== this.defaultCmap()) q.cmap = this.cmap;
    if (this.fuse) q.fuse = "1";
    return q;
  }

  /** Viewer state from a link, applied when the raw values arrive. */
  restore(params) {
    const q = {};
    for (const k of SCAN_KEYS) if (params.has(k)) q[k] = params.get(k);
    this.restored = q;
  }

  active() {
    return Boolean(this.raw && this.pane.view && this.pane.view.path === this.raw.path);
  }

  defaultCmap() {
    return this.modality === "pet" || this.modality === "spect" ? "hot" : "grey";
  }

  defaultWindow() {
    const r = this.raw;
    if (r.modality === "ct" && r.request.window) return { w: r.request.window, l: r.request.level };
    const lo = r.modality === "mri" ? r.stats[0.5] : 0;
    const hi = r.stats[99.5];
    return { w: Math.max(hi - lo, 1e-6), l: (hi + lo) / 2 };
  }

  /** The slice-position parameter of this modality, if the request has one. */
  sliceParam(c) {
    const specs = this.hooks.data.spec.imaging[c.modality] || [];
    return specs.find((p) => p.name === "slice_mm" && p.kind === "number" && !/thick/i.test(p.doc || "")) || null;
  }

  // ---------------------------------------------------------------- loading

  /** A new image is on the canvas (PNG); fetch its raw values and take over the drawing. */
  async show(c, view) {
    const token = ++this.token;
    this.request = c;
    const tools = this.$("scan-tools");
    const usable = RAW_MODALITIES.includes(c.modality) && (c.params.view === undefined || c.params.view === "image");
    if (!usable) {
      this.hide();
      return;
    }
    const modalityChanged = this.modality !== c.modality;
    this.modality = c.modality;
    let raw;
    try {
      raw = await fetchRaw(this.hooks.data, canonicalizeImaging({ ...c.params, format: "npy" }, this.hooks.data.ctx).path);
    } catch (e) {
      if (token !== this.token) return;
      this.hide(`Raw values unavailable (${e.message}): the image is shown as rendered, without windowing or measurements.`);
      return;
    }
    if (token !== this.token) return;
    const info = view.info || {};
    const fov = typeof info.fov_mm === "number" ? info.fov_mm
      : (c.params.fov_mm || this.hooks.data.catalog.phantoms[c.params.phantom].fov_mm);
    const geometryChanged = !this.raw || this.raw.w !== raw.w || this.raw.h !== raw.h
      || this.raw.phantom !== c.params.phantom || modalityChanged;
    const previousDefault = this.raw && !modalityChanged ? this.defaultWindow() : null;
    this.raw = { ...raw, path: view.path, modality: c.modality, unit: UNITS[c.modality], pxMm: fov / raw.w,
      phantom: c.params.phantom, request: c.params };
    if (geometryChanged) {
      this.view = { s: 1, tx: 0, ty: 0 };
      this.measures = [];
    }
    const restored = this.restored;
    this.restored = null;
    const d = this.defaultWindow();
    if (restored && Number.isFinite(Number(restored.ww)) && Number(restored.ww) > 0 && restored.wl !== undefined && Number.isFinite(Number(restored.wl))) {
      this.win = { w: Number(restored.ww), l: Number(restored.wl) };
    } else if (!this.win || modalityChanged || !previousDefault
      || (c.modality === "ct" && (previousDefault.w !== d.w || previousDefault.l !== d.l))) {
      this.win = d; // a new modality, or the request's own CT window changed
    } else if (c.modality !== "ct" && this.win.w === previousDefault.w && this.win.l === previousDefault.l) {
      this.win = d; // still on the automatic window: follow the new data
    }
    if (restored && ["grey", "inverse", "hot"].includes(restored.cmap)) this.cmap = restored.cmap;
    else if (modalityChanged) this.cmap = this.defaultCmap();
    if (restored) this.fuse = restored.fuse === "1";
    if (modalityChanged && !restored) this.fuse = false;
    this.syncTools();
    tools.hidden = false;
    for (const el of tools.querySelectorAll(".row, #scan-measures, #scan-help")) el.hidden = false;
    this.canvas.classList.add("scan");
    this.canvas.dataset.scan = "raw";
    this.$("scan-readout").textContent = `Raw values loaded (${this.raw.unit}): window/level, probe and measurements work in the browser.`;
    this.$("display-fieldset").hidden = true;
    for (const m of this.measures) this.measure(m);
    this.rewindow();
    await this.loadFusion(token);
    if (token !== this.token) return;
    this.rewindow();
    this.renderMeasures();
  }

  hide(message = "") {
    this.raw = null;
    this.fused = null;
    this.$("scan-tools").hidden = !message;
    for (const el of this.$("scan-tools").querySelectorAll(".row, #scan-measures, #scan-help")) el.hidden = Boolean(message);
    this.$("scan-readout").textContent = message;
    this.$("display-fieldset").hidden = false;
    this.canvas.classList.remove("scan");
    delete this.canvas.dataset.scan;
    this.pane.draw();
  }

  /** The PET of the same phantom on this grid, when fusion is on. */
  async loadFusion(token) {
    const partner = this.fusionRequest();
    this.$("scan-fuse-box").hidden = !partner;
    this.$("scan-opacity-box").hidden = !partner || !this.fuse;
    if (!partner || !this.fuse) {
      this.fused = null;
      return;
    }
    if (this.fused && this.fused.path === partner.path && this.fused.target === this.raw.path) return;
    this.$("scan-readout").textContent = `Loading the PET of this phantom (${partner.params.instrument})…`;
    let pet;
    try {
      pet = await fetchRaw(this.hooks.data, partner.path);
    } catch (e) {
      if (token !== this.token) return;
      this.fuse = false;
      this.$("scan-fuse").checked = false;
      this.$("scan-readout").textContent = `The PET for fusion could not be loaded: ${e.message}`;
      return;
    }
    if (token !== this.token) return;
    const r = this.raw;
    const petFov = this.hooks.data.catalog.phantoms[partner.params.phantom].fov_mm;
    const petPx = petFov / pet.w;
    // nearest PET pixel for each pixel of this image, matched in mm about the centre
    const data = new Float32Array(r.w * r.h);
    const cols = new Int32Array(r.w);
    for (let x = 0; x < r.w; x++) cols[x] = Math.floor(((x + 0.5 - r.w / 2) * r.pxMm) / petPx + pet.w / 2);
    for (let y = 0; y < r.h; y++) {
      const py = Math.floor(((y + 0.5 - r.h / 2) * r.pxMm) / petPx + pet.h / 2);
      if (py < 0 || py >= pet.h) continue;
      for (let x = 0; x < r.w; x++) {
        const px = cols[x];
        if (px >= 0 && px < pet.w) data[y * r.w + x] = pet.data[py * pet.w + px];
      }
    }
    const hi = pet.stats[99.5];
    this.fused = { data, lo: 0.25 * hi, hi, path: partner.path, target: r.path, unit: UNITS.pet,
      label: this.hooks.data.catalog.instruments[partner.params.instrument].name };
    this.$("scan-readout").textContent = `PET from the ${this.fused.label} overlaid (hot iron).`;
  }

  fusionRequest() {
    const r = this.raw;
    const cat = this.hooks.data.catalog;
    const want = FUSION_PARTNER[r.modality];
    if (!want || !cat.phantoms[r.phantom].modalities.includes("pet")) return null;
    const pets = Object.keys(cat.instruments).filter((id) => cat.instruments[id].modality === "pet").sort();
    const instrument = pets.includes(want) ? want : pets[0];
    if (!instrument) return null;
    try {
      return canonicalizeImaging({ instrument, phantom: r.phantom, size: String(r.w), format: "npy" }, this.hooks.data.ctx);
    } catch (e) {
      return null;
    }
  }

  // ---------------------------------------------------------------- painting

  paintIfMine() {
    if (!this.active()) return false;
    this.paint();
    return true;
  }

  /** Recompute the windowed image from the raw values (the LUT pass), then paint. */
  rewindow() {
    const t0 = performance.now();
    const r = this.raw;
    if (!r) return;
    if (this.base.width !== r.w) this.base.width = r.w;
    if (this.base.height !== r.h) this.base.height = r.h;
    const bctx = this.base.getContext("2d");
    if (!this.image || this.image.width !== r.w || this.image.height !== r.h) this.image = bctx.createImageData(r.w, r.h);
    const out = new Uint32Array(this.image.data.buffer);
    const lo = this.win.l - this.win.w / 2;
    const k = 255 / this.win.w;
    const src = r.data;
    const n = src.length;
    if (this.fused) {
      const table = fusionTable(this.cmap === "hot" ? "grey" : this.cmap, this.opacity);
      const f = this.fused.data;
      const flo = this.fused.lo;
      const fk = 255 / (this.fused.hi - this.fused.lo);
      for (let i = 0; i < n; i++) {
        let g = (src[i] - lo) * k;
        g = g <= 0 ? 0 : g >= 255 ? 255 : g | 0;
        let p = (f[i] - flo) * fk;
        p = p <= 0 ? 0 : p >= 255 ? 255 : p | 0;
        out[i] = table[(g << 8) | p];
      }
    } else {
      const table = lut(this.cmap);
      for (let i = 0; i < n; i++) {
        const g = (src[i] - lo) * k;
        out[i] = table[g <= 0 ? 0 : g >= 255 ? 255 : g | 0];
      }
    }
    bctx.putImageData(this.image, 0, 0);
    this.paint();
    // the repaint's own time, for benchmarks (tests/bench_viewer.py)
    this.canvas.dataset.paintMs = (performance.now() - t0).toFixed(2);
  }

  /** Coalesce repaints to one per animation frame. */
  schedule(rewindow = false) {
    this.needRewindow = this.needRewindow || rewindow;
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      const again = this.needRewindow;
      this.needRewindow = false;
      if (again) this.rewindow();
      else this.paint();
    });
  }

  paint() {
    const r = this.raw;
    const c = this.canvas;
    if (c.width !== r.w) c.width = r.w;
    if (c.height !== r.h) c.height = r.h;
    const ctx = this.pane.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, c.width, c.height);
    const { s, tx, ty } = this.view;
    ctx.setTransform(s, 0, 0, s, tx, ty);
    ctx.imageSmoothingEnabled = s < 2;
    ctx.drawImage(this.base, 0, 0);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    this.paintOverlay(ctx);
  }

  paintOverlay(ctx) {
    const all = this.draft ? [...this.measures, this.draft] : this.measures;
    ctx.lineWidth = 1.5;
    ctx.font = "13px system-ui, sans-serif";
    all.forEach((m, i) => {
      const a = this.toCanvas(m.a);
      const b = this.toCanvas(m.b);
      ctx.strokeStyle = m.kind === "roi" ? "#ffd400" : "#3ee8ff";
      ctx.beginPath();
      if (m.kind === "roi") {
        ctx.ellipse((a.x + b.x) / 2, (a.y + b.y) / 2, Math.abs(b.x - a.x) / 2, Math.abs(b.y - a.y) / 2, 0, 0, 2 * Math.PI);
      } else {
        ctx.moveTo(a.x, a.y);
        ctx.lineTo(b.x, b.y);
      }
      ctx.stroke();
      const text = m === this.draft ? this.summary(m) : `${i + 1}`;
      if (!text) return;
      const x = Math.max(a.x, b.x) + 4;
      const y = Math.min(a.y, b.y) + 12;
      ctx.fillStyle = "rgba(0,0,0,0.6)";
      ctx.fillRect(x - 2, y - 12, ctx.measureText(text).width + 4, 16);
      ctx.fillStyle = ctx.strokeStyle;
      ctx.fillText(text, x, y);
    });
  }

  // ---------------------------------------------------------------- geometry

  /** Client coordinates → canvas pixels. */
  canvasPoint(ev) {
    const rect = this.canvas.getBoundingClientRect();
    return { x: ((ev.clientX - rect.left) * this.canvas.width) / rect.width, y: ((ev.clientY - rect.top) * this.canvas.height) / rect.height };
  }

  toImage(p) {
    return { x: (p.x - this.view.tx) / this.view.s, y: (p.y - this.view.ty) / this.view.s };
  }

  toCanvas(p) {
    return { x: p.x * this.view.s + this.view.tx, y: p.y * this.view.s + this.view.ty };
  }

  zoomAt(p, factor) {
    const s = Math.max(MIN_ZOOM, Math.min(MAX_ZOOM, this.view.s * factor));
    const f = s / this.view.s;
    this.view = { s, tx: p.x - (p.x - this.view.tx) * f, ty: p.y - (p.y - this.view.ty) * f };
    this.schedule();
  }

  // ---------------------------------------------------------------- measurements

  measure(m) {
    const r = this.raw;
    const px = r.pxMm;
    if (m.kind === "distance") {
      m.mm = Math.hypot(m.b.x - m.a.x, m.b.y - m.a.y) * px;
      return m;
    }
    const cx = (m.a.x + m.b.x) / 2;
    const cy = (m.a.y + m.b.y) / 2;
    const rx = Math.abs(m.b.x - m.a.x) / 2;
    const ry = Math.abs(m.b.y - m.a.y) / 2;
    let n = 0;
    let sum = 0;
    let sum2 = 0;
    if (rx >= 0.5 && ry >= 0.5) {
      const y0 = Math.max(0, Math.floor(cy - ry));
      const y1 = Math.min(r.h - 1, Math.ceil(cy + ry));
      for (let y = y0; y <= y1; y++) {
        const dy = (y + 0.5 - cy) / ry;
        if (dy * dy > 1) continue;
        const half = rx * Math.sqrt(1 - dy * dy);
        const x0 = Math.max(0, Math.ceil(cx - half - 0.5));
        const x1 = Math.min(r.w - 1, Math.floor(cx + half - 0.5));
        for (let x = x0; x <= x1; x++) {
          const v = r.data[y * r.w + x];
          n++;
          sum += v;
          sum2 += v * v;
        }
      }
    }
    m.n = n;
    m.mean = n ? sum / n : NaN;
    m.sd = n > 1 ? Math.sqrt(Math.max(0, (sum2 - (sum * sum) / n) / (n - 1))) : NaN;
    m.areaMm2 = n * px * px;
    return m;
  }

  summary(m) {
    if (m.kind === "distance") return m.mm === undefined ? "" : `${fmtMm(m.mm)} mm`;
    if (!m.n) return "";
    const u = this.raw.unit;
    const area = m.areaMm2 >= 100 ? `${(m.areaMm2 / 100).toFixed(2)} cm²` : `${m.areaMm2.toFixed(1)} mm²`;
    return `mean ${fmtValue(m.mean, this.raw.modality)} ${u}, SD ${fmtValue(m.sd, this.raw.modality === "ct" ? "ct" : "x")} ${u}, area ${area}`;
  }

  renderMeasures() {
    const list = this.$("scan-measures");
    list.replaceChildren(...this.measures.map((m, i) => {
      const li = document.createElement("li");
      li.dataset.kind = m.kind;
      if (m.kind === "distance") li.dataset.mm = String(m.mm);
      else Object.assign(li.dataset, { mean: String(m.mean), sd: String(m.sd), area: String(m.areaMm2), n: String(m.n) });
      li.textContent = `${i + 1}. ${m.kind === "roi" ? "ROI" : "Distance"}: ${this.summary(m)}`;
      return li;
    }));
  }

  // ---------------------------------------------------------------- input

  probe(ev) {
    if (!this.active()) return;
    const p = this.toImage(this.canvasPoint(ev));
    const r = this.raw;
    const x = Math.floor(p.x);
    const y = Math.floor(p.y);
    const out = this.$("scan-readout");
    if (x < 0 || y < 0 || x >= r.w || y >= r.h) {
      out.textContent = "Outside the image.";
      return;
    }
    const i = y * r.w + x;
    const pos = `x ${fmtMm((x + 0.5 - r.w / 2) * r.pxMm)} mm, y ${fmtMm((y + 0.5 - r.h / 2) * r.pxMm)} mm`;
    const what = r.modality === "ct" ? "" : r.modality === "mri" ? "signal " : "activity ";
    let text = `${pos}: ${what}${fmtValue(r.data[i], r.modality)} ${r.unit}`;
    if (this.fused) text += ` · PET ${fmtValue(this.fused.data[i], "pet")} ${this.fused.unit}`;
    out.textContent = text;
    out.dataset.value = String(r.data[i]);
  }

  setWindow(w, l) {
    this.win = { w: Math.max(w, 1e-6), l };
    this.syncWindowInputs();
    this.schedule(true);
  }

  startGesture(ev) {
    const pts = [...this.pointers.values()];
    if (pts.length >= 2) {
      const [a, b] = pts;
      this.gesture = { kind: "pinch", d: Math.hypot(a.x - b.x, a.y - b.y) || 1, m: { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 }, view: { ...this.view } };
      this.draft = null;
      return;
    }
    if (!pts.length) {
      this.gesture = null;
      return;
    }
    const p = pts[0];
    let kind = this.tool;
    if (ev.pointerType === "mouse") {
      if (ev.button === 2) kind = "window";
      else if (ev.button === 1) kind = "pan";
      else if (ev.button !== 0) return;
    }
    this.gesture = { kind, start: p, view: { ...this.view }, win: { ...this.win } };
    if (kind === "roi" || kind === "distance") {
      const a = this.toImage(p);
      this.draft = { kind, a, b: a };
    }
  }

  moveGesture() {
    const g = this.gesture;
    if (!g) return;
    const pts = [...this.pointers.values()];
    if (g.kind === "pinch") {
      if (pts.length < 2) return;
      const [a, b] = pts;
      const f = Math.hypot(a.x - b.x, a.y - b.y) / g.d;
      const m = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
      const s = Math.max(MIN_ZOOM, Math.min(MAX_ZOOM, g.view.s * f));
      const k = s / g.view.s;
      this.view = { s, tx: m.x - (g.m.x - g.view.tx) * k, ty: m.y - (g.m.y - g.view.ty) * k };
      this.schedule();
      return;
    }
    const p = pts[0];
    const dx = p.x - g.start.x;
    const dy = p.y - g.start.y;
    if (g.kind === "pan") {
      this.view = { ...g.view, tx: g.view.tx + dx, ty: g.view.ty + dy };
      this.schedule();
    } else if (g.kind === "window") {
      // right: wider; down: higher level — the step scales with the window itself
      this.setWindow(g.win.w * Math.exp(dx / 150), g.win.l + (dy * g.win.w) / 256);
    } else if (this.draft) {
      this.draft.b = this.toImage(p);
      this.measure(this.draft);
      this.schedule();
    }
  }

  finishGesture() {
    const g = this.gesture;
    this.gesture = null;
    if (!g) return;
    if (this.draft) {
      const d = this.draft;
      this.draft = null;
      const size = Math.hypot(d.b.x - d.a.x, d.b.y - d.a.y) * this.view.s;
      if (size >= 3) {
        this.measures.push(this.measure(d));
        this.renderMeasures();
      }
      this.schedule();
    }
    if (g.kind === "window") this.hooks.saved();
  }

  wire() {
    const c = this.canvas;
    c.addEventListener("contextmenu", (ev) => {
      if (this.active()) ev.preventDefault();
    });
    c.addEventListener("pointerdown", (ev) => {
      if (!this.active()) return;
      ev.preventDefault();
      c.setPointerCapture(ev.pointerId);
      this.pointers.set(ev.pointerId, this.canvasPoint(ev));
      this.startGesture(ev);
    });
    c.addEventListener("pointermove", (ev) => {
      if (!this.active()) return;
      if (this.pointers.has(ev.pointerId)) {
        this.pointers.set(ev.pointerId, this.canvasPoint(ev));
        this.moveGesture();
      }
      if (this.pointers.size <= 1) this.probe(ev);
    });
    const end = (ev) => {
      if (!this.pointers.has(ev.pointerId)) return;
      this.pointers.delete(ev.pointerId);
      if (this.gesture?.kind === "pinch" && this.pointers.size) return; // lift both fingers to end
      this.finishGesture();
    };
    c.addEventListener("pointerup", end);
    c.addEventListener("pointercancel", end);
    c.addEventListener("dblclick", () => {
      if (!this.active()) return;
      this.view = { s: 1, tx: 0, ty: 0 };
      this.schedule();
    });
    let wheelAcc = 0;
    c.addEventListener("wheel", (ev) => {
      if (!this.active()) return;
      ev.preventDefault();
      const unit = ev.deltaMode === 1 ? 40 : ev.deltaMode === 2 ? 800 : 1;
      const slice = this.sliceParam(this.request);
      if (slice && !ev.ctrlKey) {
        wheelAcc += ev.deltaY * unit;
        if (Math.abs(wheelAcc) < 50) return;
        const dir = Math.sign(wheelAcc);
        wheelAcc = 0;
        const now = Number(this.request.params[slice.name]);
        const next = Math.max(slice.lo, Math.min(slice.hi, now + dir * slice.step));
        if (next !== now) this.hooks.change({ [slice.name]: next });
        return;
      }
      this.zoomAt(this.canvasPoint(ev), Math.exp((-ev.deltaY * unit) / 300));
    }, { passive: false });
    c.addEventListener("keydown", (ev) => {
      if (!this.active()) return;
      const mid = { x: c.width / 2, y: c.height / 2 };
      if (ev.key === "+" || ev.key === "=") this.zoomAt(mid, 1.25);
      else if (ev.key === "-") this.zoomAt(mid, 0.8);
      else if (ev.key === "0") {
        this.view = { s: 1, tx: 0, ty: 0 };
        this.schedule();
      } else return;
      ev.preventDefault();
    });
    this.$("scan-tools").addEventListener("click", (ev) => {
      const b = ev.target.closest("button");
      if (!b || !this.active()) return;
      if (b.dataset.tool) {
        this.tool = b.dataset.tool;
        this.syncTools();
      } else if (b.dataset.window) {
        const [w, l] = JSON.parse(b.dataset.window);
        this.setWindow(w, l);
        this.hooks.saved();
      } else if (b.id === "scan-reset") {
        this.view = { s: 1, tx: 0, ty: 0 };
        this.schedule();
      } else if (b.id === "scan-clear") {
        this.measures = [];
        this.renderMeasures();
        this.schedule();
      }
    });
    const onWindowInput = () => {
      const w = Number(this.$("scan-ww").value);
      const l = Number(this.$("scan-wl").value);
      if (Number.isFinite(w) && w > 0 && Number.isFinite(l)) {
        this.win = { w, l };
        this.schedule(true);
        this.hooks.saved();
      }
    };
    this.$("scan-ww").addEventListener("change", onWindowInput);
    this.$("scan-wl").addEventListener("change", onWindowInput);
    this.$("scan-cmap").addEventListener("change", () => {
      this.cmap = this.$("scan-cmap").value;
      this.schedule(true);
      this.hooks.saved();
    });
    this.$("scan-fuse").addEventListener("change", async () => {
      this.fuse = this.$("scan-fuse").checked;
      this.$("scan-opacity-box").hidden = !this.fuse;
      const token = this.token;
      await this.loadFusion(token);
      if (token !== this.token) return;
      if (!this.fuse) this.fused = null;
      this.schedule(true);
      this.hooks.saved();
    });
    this.$("scan-opacity").addEventListener("input", () => {
      this.opacity = Number(this.$("scan-opacity").value);
      this.schedule(true);
    });
  }

  syncWindowInputs() {
    const digits = this.raw.modality === "ct" ? 0 : 3;
    const round = (v) => (digits ? Number(v.toPrecision(4)) : Math.round(v));
    this.$("scan-ww").value = String(round(this.win.w));
    this.$("scan-wl").value = String(round(this.win.l));
  }

  syncTools() {
    const r = this.raw;
    for (const b of this.$("scan-tools").querySelectorAll("button[data-tool]")) b.setAttribute("aria-pressed", String(b.dataset.tool === this.tool));
    this.canvas.dataset.tool = this.tool;
    this.$("scan-unit").textContent = r.unit;
    this.syncWindowInputs();
    const presets = this.$("scan-presets");
    let items;
    if (r.modality === "ct") {
      const spec = this.hooks.data.spec.ct_presets || {};
      items = CT_WINDOWS.map(([key, name, v]) => [name, spec[key] || v]);
    } else {
      const s = r.stats;
      const lo = r.modality === "mri" ? s[0.5] : 0;
      items = [["Full range", [s.max - s.min, (s.max + s.min) / 2]], ["Auto (0.5–99.5 %)", [s[99.5] - lo, (s[99.5] + lo) / 2]]];
      if (r.modality !== "mri") items.push(["Hot spots (top half)", [s.max / 2, (3 * s.max) / 4]]);
    }
    presets.replaceChildren(...items.map(([name, [w, l]]) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "small";
      b.dataset.window = JSON.stringify([w, l]);
      b.textContent = name;
      b.title = `Window ${fmtValue(w, r.modality)} / level ${fmtValue(l, r.modality)} ${r.unit}`;
      return b;
    }));
    this.$("scan-cmap").value = this.cmap;
    this.$("scan-fuse").checked = this.fuse;
    this.$("scan-opacity").value = String(this.opacity);
    const slice = this.sliceParam(this.request);
    this.$("scan-help").dataset.slices = slice ? "yes" : "no";
  }
}
