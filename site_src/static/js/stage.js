// The lab's stage, handled like an instrument: the image follows the pointer while dragging
// (the shown image is translated at once; the new render fills the edges when it lands), the
// wheel and a pinch step through the objectives about the pointer, a slide overview
// (minimap) shows where the field of view is on the whole slide and goes where it is
// clicked, and the view can go full screen. lab.js owns the request state and the keyboard;
// it calls `landed` whenever a render is shown.

const MIN_DRAG_PX = 3;
const WHEEL_STEP = 100; // accumulated deltaY (pixels) for one objective step
const WHEEL_PAUSE_MS = 250; // one step per gesture burst, not one per wheel event
const MAP_PX = 160; // overview width in CSS pixels

/** A 2-D similarity transform on screen pixels: p' = s·p + (e, f). */
function compose(outer, inner) {
  return { s: outer.s * inner.s, e: outer.s * inner.e + outer.e, f: outer.s * inner.f + outer.f };
}
const IDENTITY = { s: 1, e: 0, f: 0 };

function zoomAbout(s, ox, oy) {
  return { s, e: ox * (1 - s), f: oy * (1 - s) };
}

export class Stage {
  /**
   * canvas: the live view; frame: its container; map: the overview canvas;
   * hooks: { params() → current canonical params, pixelUm() → µm per image pixel,
   *          objectives() → sorted magnifications, slide() → {w, h} in µm,
   *          go(changes) → load the view with these parameters changed,
   *          overview() → promise of {bitmap, field: {x, y, w, h} µm} or null }.
   */
  constructor(canvas, map, hooks) {
    this.canvas = canvas;
    this.map = map;
    this.hooks = hooks;
    this.pending = IDENTITY; // moves sent to the API whose render has not landed yet
    this.live = IDENTITY; // the gesture in progress
    this.pointers = new Map();
    this.gesture = null;
    this.wheel = { acc: 0, last: 0 };
    this.mosaic = document.createElement("canvas");
    this.mosaicKey = "";
    this.wire();
  }

  apply() {
    const t = compose(this.live, this.pending);
    const moved = t.s !== 1 || t.e !== 0 || t.f !== 0;
    this.canvas.style.transform = moved ? `matrix(${t.s}, 0, 0, ${t.s}, ${t.e}, ${t.f})` : "";
    this.canvas.classList.toggle("moved", moved);
  }

  /** A render for the current request is on the canvas: drop every pending transform. */
  landed(view) {
    this.pending = IDENTITY;
    this.apply();
    this.paintMap(view);
  }

  /** The request failed or was refused: show the image where it was. */
  abandoned() {
    this.pending = IDENTITY;
    this.apply();
    this.paintMap(null);
  }

  /** CSS pixels of the canvas → image pixels. */
  scale() {
    return this.canvas.width / this.canvas.getBoundingClientRect().width;
  }

  local(ev) {
    const r = this.canvas.parentElement.getBoundingClientRect();
    return { x: ev.clientX - r.left, y: ev.clientY - r.top };
  }

  wire() {
    const c = this.canvas;
    c.addEventListener("pointerdown", (ev) => {
      if (ev.pointerType === "mouse" && ev.button !== 0) return;
      c.setPointerCapture(ev.pointerId);
      this.pointers.set(ev.pointerId, this.local(ev));
      this.startGesture();
    });
    c.addEventListener("pointermove", (ev) => {
      if (!this.pointers.has(ev.pointerId)) return;
      this.pointers.set(ev.pointerId, this.local(ev));
      this.moveGesture();
    });
    const end = (ev) => {
      if (!this.pointers.has(ev.pointerId)) return;
      this.pointers.set(ev.pointerId, this.local(ev));
      this.finishGesture(ev.type === "pointercancel");
      this.pointers.delete(ev.pointerId);
      this.startGesture();
    };
    c.addEventListener("pointerup", end);
    c.addEventListener("pointercancel", end);
    c.addEventListener("wheel", (ev) => this.onWheel(ev), { passive: false });
    this.map.addEventListener("click", (ev) => this.onMapClick(ev));
  }

  /** (Re)start from the pointers now down: one is a drag, two are a pinch. */
  startGesture() {
    const pts = [...this.pointers.values()];
    if (!pts.length) {
      this.gesture = null;
      this.canvas.classList.remove("dragging");
      return;
    }
    this.canvas.classList.add("dragging");
    if (pts.length === 1) this.gesture = { kind: "drag", x: pts[0].x, y: pts[0].y };
    else {
      const [a, b] = pts;
      this.gesture = { kind: "pinch", d: Math.hypot(a.x - b.x, a.y - b.y) || 1, mx: (a.x + b.x) / 2, my: (a.y + b.y) / 2 };
    }
    this.live = IDENTITY;
  }

  moveGesture() {
    const g = this.gesture;
    if (!g) return;
    const pts = [...this.pointers.values()];
    if (g.kind === "drag") {
      this.live = { s: 1, e: pts[0].x - g.x, f: pts[0].y - g.y };
    } else if (pts.length >= 2) {
      const [a, b] = pts;
      const s = Math.hypot(a.x - b.x, a.y - b.y) / g.d;
      const mx = (a.x + b.x) / 2;
      const my = (a.y + b.y) / 2;
      this.live = compose({ s: 1, e: mx - g.mx, f: my - g.my }, zoomAbout(s, g.mx, g.my));
    }
    this.apply(); // the transform is set in the event handler: painted in the next frame
  }

  finishGesture(cancelled) {
    const g = this.gesture;
    const live = this.live;
    this.live = IDENTITY;
    this.gesture = null;
    if (!g || cancelled) {
      this.apply();
      return;
    }
    if (g.kind === "drag") {
      if (Math.abs(live.e) + Math.abs(live.f) < MIN_DRAG_PX) {
        this.apply();
        return;
      }
      this.pending = compose(live, this.pending);
      this.apply();
      const k = this.scale() * this.hooks.pixelUm();
      const p = this.hooks.params();
      this.hooks.go({ x_um: p.x_um - live.e * k, y_um: p.y_um - live.f * k });
    } else {
      const mags = this.hooks.objectives();
      const p = this.hooks.params();
      const target = p.objective * live.s;
      let best = p.objective;
      for (const m of mags) if (Math.abs(Math.log(m / target)) < Math.abs(Math.log(best / target))) best = m;
      if (best === p.objective) {
        this.apply();
        return;
      }
      // the specimen point under the first midpoint ends under the last one
      this.zoomTo(best, { x: g.mx, y: g.my }, { x: live.s * g.mx + live.e, y: live.s * g.my + live.f }, live);
    }
  }

  /** Change objective so that the specimen point now at `from` (CSS px in the frame) is
   * shown at `to`; `shown` is the transform that previews it until the render lands. */
  zoomTo(mag, from, to = from, shown = null) {
    const p = this.hooks.params();
    const ratio = mag / p.objective;
    const rect = this.canvas.getBoundingClientRect();
    const k = this.scale() * this.hooks.pixelUm(); // µm per CSS pixel now
    const cx = rect.width / 2;
    const cy = rect.height / 2;
    // point = centre + (from − c)·k = centre' + (to − c)·k/ratio
    const x = p.x_um + (from.x - cx) * k - (to.x - cx) * (k / ratio);
    const y = p.y_um + (from.y - cy) * k - (to.y - cy) * (k / ratio);
    const preview = shown || compose({ s: 1, e: to.x - from.x, f: to.y - from.y }, zoomAbout(ratio, from.x, from.y));
    this.pending = compose(preview, this.pending);
    this.apply();
    this.hooks.go({ objective: mag, x_um: x, y_um: y });
  }

  onWheel(ev) {
    ev.preventDefault();
    const unit = ev.deltaMode === 1 ? 40 : ev.deltaMode === 2 ? 800 : 1;
    const now = performance.now();
    if (now - this.wheel.last < WHEEL_PAUSE_MS) return;
    this.wheel.acc += ev.deltaY * unit;
    if (Math.abs(this.wheel.acc) < WHEEL_STEP) return;
    const up = this.wheel.acc < 0;
    this.wheel = { acc: 0, last: now };
    const mags = this.hooks.objectives();
    const i = mags.indexOf(this.hooks.params().objective);
    const j = Math.max(0, Math.min(mags.length - 1, i + (up ? 1 : -1)));
    if (j === i) return;
    this.zoomTo(mags[j], this.local(ev));
  }

  // ------------------------------------------------------------------ slide overview

  mapGeometry() {
    const slide = this.hooks.slide();
    const w = MAP_PX;
    const h = Math.max(40, Math.round((MAP_PX * slide.h) / slide.w));
    return { slide, w, h, kx: w / slide.w, ky: h / slide.h };
  }

  /** Paint the overview: every field seen on this slide, and the field of view now. */
  paintMap(view) {
    const p = this.hooks.params();
    if (!p) return;
    const g = this.mapGeometry();
    const dpr = Math.min(2, window.devicePixelRatio || 1);
    const key = [p.instrument, p.specimen, p.stain, p.mode, p.source, g.w, g.h].join("/");
    if (key !== this.mosaicKey) {
      this.mosaicKey = key;
      this.mosaic.width = Math.round(g.w * dpr);
      this.mosaic.height = Math.round(g.h * dpr);
      const m = this.mosaic.getContext("2d");
      m.clearRect(0, 0, this.mosaic.width, this.mosaic.height);
      this.seed(key);
    }
    const fovW = this.canvas.width * this.hooks.pixelUm();
    const fovH = this.canvas.height * this.hooks.pixelUm();
    const box = {
      x: (p.x_um - fovW / 2 + g.slide.w / 2) * g.kx, y: (p.y_um - fovH / 2 + g.slide.h / 2) * g.ky,
      w: fovW * g.kx, h: fovH * g.ky,
    };
    if (view && view.bitmap) this.tile(view.bitmap, box, dpr);
    const map = this.map;
    if (map.width !== this.mosaic.width) map.width = this.mosaic.width;
    if (map.height !== this.mosaic.height) map.height = this.mosaic.height;
    map.style.width = `${g.w}px`;
    map.style.height = `${g.h}px`;
    const ctx = map.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#d9dcd6"; // bare glass
    ctx.fillRect(0, 0, map.width, map.height);
    ctx.drawImage(this.mosaic, 0, 0);
    ctx.scale(dpr, dpr);
    ctx.beginPath();
    if (box.w >= 6) ctx.rect(box.x, box.y, box.w, box.h);
    else { // too small to draw to scale: a cross-hair on the spot
      const cx = box.x + box.w / 2;
      const cy = box.y + box.h / 2;
      ctx.moveTo(cx - 7, cy); ctx.lineTo(cx + 7, cy);
      ctx.moveTo(cx, cy - 7); ctx.lineTo(cx, cy + 7);
    }
    ctx.lineWidth = 3.5;
    ctx.strokeStyle = "rgba(0, 0, 0, 0.75)";
    ctx.stroke();
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#ffd400";
    ctx.stroke();
    const um = (v) => (Math.abs(v) >= 1000 ? `${(v / 1000).toFixed(2)} mm` : `${Math.round(v)} µm`);
    map.setAttribute("aria-label", `Slide overview, ${um(g.slide.w)} × ${um(g.slide.h)}: the field of view `
      + `(${um(fovW)} wide) is at x ${um(p.x_um)}, y ${um(p.y_um)} from the centre. Click to move the stage there.`);
  }

  tile(bitmap, box, dpr) {
    this.mosaic.getContext("2d").drawImage(bitmap, box.x * dpr, box.y * dpr, Math.max(box.w * dpr, 1), Math.max(box.h * dpr, 1));
  }

  /** Start a slide's overview with its lowest-power field at the stage position. */
  async seed(key) {
    const overview = await this.hooks.overview().catch(() => null);
    if (!overview || key !== this.mosaicKey) return;
    const g = this.mapGeometry();
    const dpr = this.mosaic.width / g.w;
    const { x, y, w, h } = overview.field;
    const m = this.mosaic.getContext("2d");
    m.globalCompositeOperation = "destination-over"; // beneath the fields seen at higher power
    this.tile(overview.bitmap, { x: (x - w / 2 + g.slide.w / 2) * g.kx, y: (y - h / 2 + g.slide.h / 2) * g.ky, w: w * g.kx, h: h * g.ky }, dpr);
    m.globalCompositeOperation = "source-over";
    this.paintMap(null);
  }

  onMapClick(ev) {
    const g = this.mapGeometry();
    const r = this.map.getBoundingClientRect();
    const m = this.map;
    const x = ((ev.clientX - r.left - m.clientLeft) / m.clientWidth) * g.slide.w - g.slide.w / 2;
    const y = ((ev.clientY - r.top - m.clientTop) / m.clientHeight) * g.slide.h - g.slide.h / 2;
    this.hooks.go({ x_um: x, y_um: y }, { push: true });
  }
}

/** Full screen for the live pane; the button's state follows the document's. */
export function wireFullscreen(button, target) {
  if (!document.fullscreenEnabled) {
    button.hidden = true;
    return;
  }
  button.addEventListener("click", () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else target.requestFullscreen().catch(() => {});
  });
  document.addEventListener("fullscreenchange", () => {
    const on = document.fullscreenElement === target;
    button.setAttribute("aria-pressed", String(on));
    button.textContent = on ? "Exit full screen" : "Full screen";
  });
}
