// Raw image values in the browser: .npy parsing (float32, little-endian), data ranges and
// percentiles, a small cache of fetched arrays, and the colour tables (grey, inverted grey,
// hot iron, grey + hot fusion) that turn windowed values into pixels.
import { locate } from "./data.js";

const RAW_CACHE = 6;

// ------------------------------------------------------------------ raw arrays

/** A .npy file (v1–v3, little-endian float32, C order, 2-D) → {w, h, data: Float32Array}. */
export function parseNpy(buffer) {
  const u8 = new Uint8Array(buffer);
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  if (u8.length < 12 || magic.some((b, i) => u8[i] !== b)) throw new Error("not a .npy file");
  const major = u8[6];
  const view = new DataView(buffer);
  const start = major === 1 ? 10 : 12;
  const hlen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const header = new TextDecoder("latin1").decode(u8.subarray(start, start + hlen));
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] || "").split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  if (descr !== "<f4") throw new Error(`.npy dtype ${descr} (expected little-endian float32 '<f4')`);
  if (fortran !== "False") throw new Error(".npy in Fortran order (expected C order)");
  if (shape.length !== 2 || !shape.every((n) => Number.isInteger(n) && n > 0)) throw new Error(`.npy shape (${shape}) is not 2-D`);
  const [h, w] = shape;
  const offset = start + hlen;
  if (buffer.byteLength < offset + 4 * w * h) throw new Error(".npy file is truncated");
  const data = offset % 4 === 0 ? new Float32Array(buffer, offset, w * h) : new Float32Array(buffer.slice(offset, offset + 4 * w * h));
  return { w, h, data };
}

/** min, max and percentiles (0–100) of an array, from a 4096-bin histogram. */
export function rangeOf(data, percents) {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const bins = 4096;
  const hist = new Uint32Array(bins);
  const k = hi > lo ? (bins - 1) / (hi - lo) : 0;
  for (let i = 0; i < data.length; i++) hist[((data[i] - lo) * k) | 0]++;
  const out = { min: lo, max: hi };
  for (const p of percents) {
    const target = (p / 100) * data.length;
    let acc = 0;
    let b = 0;
    while (b < bins - 1 && acc + hist[b] < target) acc += hist[b++];
    out[p] = lo + (k ? b / k : 0);
  }
  return out;
}

const rawCache = new Map();

/** The raw array at a canonical .npy path (from the site or the render API), cached. */
export async function fetchRaw(data, path) {
  if (rawCache.has(path)) return rawCache.get(path);
  const where = locate(data, path);
  if (!where) throw new Error("this site has no render API to compute raw values");
  const promise = fetch(where.url).then(async (r) => {
    if (!r.ok) throw new Error(`raw values: HTTP ${r.status}`);
    const raw = parseNpy(await r.arrayBuffer());
    raw.stats = rangeOf(raw.data, [0.5, 50, 99.5]);
    return raw;
  });
  rawCache.set(path, promise);
  promise.catch(() => rawCache.delete(path));
  while (rawCache.size > RAW_CACHE) rawCache.delete(rawCache.keys().next().value);
  return promise;
}

// ------------------------------------------------------------------ colour

function rgba(r, g, b) {
  return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0; // little-endian ImageData word
}

const clamp8 = (x) => Math.max(0, Math.min(255, Math.round(x)));

/** 256 RGB triples for a colour map: grey, inverted grey or hot iron (PET). */
function colours(name) {
  const out = [];
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    if (name === "hot") out.push([clamp8(765 * t), clamp8(765 * t - 255), clamp8(765 * t - 510)]);
    else if (name === "inverse") out.push([255 - i, 255 - i, 255 - i]);
    else out.push([i, i, i]);
  }
  return out;
}

const tables = new Map(); // colour tables by name (and PET opacity): built once each

export function lut(name) {
  if (!tables.has(name)) tables.set(name, Uint32Array.from(colours(name), ([r, g, b]) => rgba(r, g, b)));
  return tables.get(name);
}

/** 256 × 256 table: base index × PET index → blended colour (PET fades in above its floor). */
export function fusionTable(baseName, opacity) {
  const key = `${baseName}+hot@${opacity}`;
  if (tables.has(key)) return tables.get(key);
  const base = colours(baseName);
  const hot = colours("hot");
  const table = new Uint32Array(65536);
  for (let g = 0; g < 256; g++) {
    for (let p = 0; p < 256; p++) {
      const a = opacity * Math.min(1, p / 24);
      const [r0, g0, b0] = base[g];
      const [r1, g1, b1] = hot[p];
      table[(g << 8) | p] = rgba(clamp8(r0 + a * (r1 - r0)), clamp8(g0 + a * (g1 - g0)), clamp8(b0 + a * (b1 - b0)));
    }
  }
  tables.set(key, table);
  return table;
}

export function fmtValue(v, modality) {
  if (!Number.isFinite(v)) return "—";
  if (modality === "ct") return String(Math.round(v));
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
}

export function fmtMm(v) {
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1);
}
