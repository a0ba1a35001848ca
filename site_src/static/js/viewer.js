// One view pane: loads a canonical path (static file or render API), keeps the decoded
// bitmap and draws it on a canvas with brightness and contrast applied in the browser.
import { locate, nearest } from "./data.js";

export class NoApiError extends Error {
  constructor(path, nearestPath) {
    super("This view was not pre-rendered and the site has no render API configured.");
    this.path = path;
    this.nearest = nearestPath;
  }
}

export class LoadError extends Error {
  constructor(message, status, path, nearestPath, field) {
    super(message);
    this.status = status;
    this.path = path;
    this.nearest = nearestPath;
    this.field = field;
  }
}

const cache = new Map();
const CACHE_MAX = 40;

function remember(path, promise) {
  cache.set(path, promise);
  promise.catch(() => cache.delete(path));
  while (cache.size > CACHE_MAX) cache.delete(cache.keys().next().value);
  return promise;
}

/** The info document of an image: the same canonical stem, `.json` (format-independent). */
export function infoPathOf(path) {
  return path.replace(/\.[a-z0-9]+$/, ".json");
}

/** The image's own info, from where the image came from (site or render API), never another
 * view's: {info, infoError}, infoError saying why there are no figures. */
async function fetchInfo(where) {
  let r;
  try {
    r = await fetch(infoPathOf(where.url));
  } catch (e) {
    return { info: null, infoError: "the server did not answer" };
  }
  if (!r.ok) return { info: null, infoError: `HTTP ${r.status}` };
  try {
    return { info: await r.json(), infoError: null };
  } catch (e) {
    return { info: null, infoError: "the answer was not JSON" };
  }
}

async function fetchView(data, path) {
  const where = locate(data, path);
  if (!where) throw new NoApiError(path, nearest(data, path));
  let response;
  try {
    response = await fetch(where.url);
  } catch (e) {
    throw new LoadError(`The render API at ${where.url.split("/r/")[0] || "this site"} did not answer.`, 0, path, nearest(data, path));
  }
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    let field = null;
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("json")) {
      try {
        const body = await response.json();
        field = body.field || null;
        message = body.field ? `${body.field}: ${body.error}` : body.error || message;
        if (body.allowed) message += ` (allowed: ${Array.isArray(body.allowed) ? body.allowed.join(", ") : body.allowed})`;
      } catch (e) {
        /* keep the status text */
      }
    } else if (response.status === 404 && where.source === "api") {
      message = "This view was not pre-rendered and no render API answered here (a plain static host).";
    }
    throw new LoadError(message, response.status, path, nearest(data, path), field);
  }
  // The render (and with it its info) is stored by now: fetch the info while decoding.
  const infoPromise = fetchInfo(where);
  const blob = await response.blob();
  const bitmap = await createImageBitmap(blob);
  const { info, infoError } = await infoPromise;
  return { path, bitmap, info, infoError, source: where.source, cache: response.headers.get("X-Micro-Cache") };
}

/** Load (or reuse) a view: {path, bitmap, info, infoError, source}. A view whose info could
 * not be had is not kept, so the next visit asks again. */
export function loadView(data, path) {
  if (cache.has(path)) return cache.get(path);
  const p = remember(path, fetchView(data, path));
  p.then((v) => { if (!v.info && cache.get(path) === p) cache.delete(path); }, () => {});
  return p;
}

/** Warm the cache for paths the user is likely to ask for next. */
export function prefetch(data, paths) {
  for (const p of paths) {
    if (!cache.has(p) && locate(data, p)) loadView(data, p).catch(() => {});
  }
}

export class Pane {
  constructor(canvas, spinner, aiBadge) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.spinner = spinner;
    this.aiBadge = aiBadge;
    this.view = null;
    this.brightness = 0;
    this.contrast = 1;
    this.token = 0;
  }

  /** Show a path; resolves to the loaded view, or null when a newer request replaced it. */
  async show(data, path) {
    const token = ++this.token;
    if (this.spinner) this.spinner.hidden = false;
    this.canvas.setAttribute("aria-busy", "true");
    try {
      const view = await loadView(data, path);
      if (token !== this.token) return null;
      this.setView(view);
      return view;
    } finally {
      if (token === this.token) {
        if (this.spinner) this.spinner.hidden = true;
        this.canvas.removeAttribute("aria-busy");
      }
    }
  }

  setView(view) {
    this.view = view;
    this.canvas.dataset.path = view.path;
    this.canvas.dataset.source = view.source;
    const ai = view.info?.provenance === "ai-illustration" || /_library\.[a-z]+$/.test(view.path);
    if (this.aiBadge) this.aiBadge.hidden = !ai;
    this.draw();
  }

  setDisplay(brightness, contrast) {
    this.brightness = brightness;
    this.contrast = contrast;
    this.draw();
  }

  draw() {
    const v = this.view;
    if (!v) return;
    if (this.painter && this.painter()) return; // a tool that draws from raw values (scanview.js)
    const { width, height } = v.bitmap;
    if (this.canvas.width !== width) this.canvas.width = width;
    if (this.canvas.height !== height) this.canvas.height = height;
    this.ctx.drawImage(v.bitmap, 0, 0);
    const b = this.brightness;
    const c = this.contrast;
    if (b === 0 && c === 1) return;
    const img = this.ctx.getImageData(0, 0, width, height);
    const px = img.data;
    const lut = new Uint8ClampedArray(256);
    for (let i = 0; i < 256; i++) lut[i] = Math.round(((i / 255 - 0.5) * c + 0.5 + b) * 255);
    for (let i = 0; i < px.length; i += 4) {
      px[i] = lut[px[i]];
      px[i + 1] = lut[px[i + 1]];
      px[i + 2] = lut[px[i + 2]];
    }
    this.ctx.putImageData(img, 0, 0);
  }
}
