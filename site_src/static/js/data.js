// Site data (site.json, catalog.json, quantization.json, manifest.json), where an image lives
// (static file or render API) and the nearest pre-rendered view.
import { parsePath } from "./canon.js";

async function getJson(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

export async function loadSite(root) {
  const [site, catalog, spec, manifest] = await Promise.all(
    ["site.json", "catalog.json", "quantization.json", "manifest.json"].map((f) => getJson(root + f)));
  const data = { root, site, catalog, spec, manifest, paths: new Set(manifest.paths), parsed: null };
  data.ctx = { spec, catalog, version: catalog.version };
  return data;
}

/** The render API's base URL, or null when the site was built with --api-url none. */
export function apiBase(data) {
  const api = (data.site.api_url || "").trim();
  if (api === "none") return null;
  if (!api) return data.root;
  return api.endsWith("/") ? api : `${api}/`;
}

/** Where to load a canonical path from: {url, source: "static"|"api"} or null (no API). */
export function locate(data, path) {
  if (data.paths.has(path)) return { url: data.root + path, source: "static" };
  const api = apiBase(data);
  if (api === null) return null;
  return { url: api + path, source: "api" };
}

function specFor(data, p) {
  if (p.kind === "microscope") return data.spec.microscope;
  return [...data.spec.imaging_common, ...data.spec.imaging[p.modality]];
}

/** Parameters named by a canonical path (tags stripped), as the canonicalizer takes them. */
export function paramsFromPath(data, path) {
  const p = typeof path === "string" ? parsePath(path) : path;
  if (!p) return null;
  const specs = specFor(data, p);
  if (!specs || specs.length !== p.rest.length) return null;
  const out = p.kind === "microscope"
    ? { instrument: p.instrument, objective: p.objective, specimen: p.specimen, stain: p.stain, mode: p.mode }
    : { instrument: p.instrument, phantom: p.phantom, variant: p.variant };
  specs.forEach((s, i) => {
    out[s.name] = p.rest[i].slice(s.tag.length);
  });
  return out;
}

function parsedManifest(data) {
  if (!data.parsed) data.parsed = data.manifest.paths.map((x) => parsePath(x)).filter(Boolean);
  return data.parsed;
}

/** The pre-rendered path closest to `path` (same kind), by ids first, then by settings. */
export function nearest(data, path) {
  const t = parsePath(path);
  if (!t) return null;
  const specs = specFor(data, t);
  let best = null;
  let bestScore = Infinity;
  for (const c of parsedManifest(data)) {
    if (c.kind !== t.kind) continue;
    let score = 0;
    if (t.kind === "microscope") {
      if (c.instrument !== t.instrument) score += 1e6;
      if (c.specimen !== t.specimen) score += 1e5;
      if (c.objective !== t.objective) score += 1e4 * (1 + Math.abs(Math.log(c.objective / t.objective)));
      if (c.stain !== t.stain) score += 1e3;
      if (c.mode !== t.mode) score += 1e3;
    } else {
      if (c.modality !== t.modality) score += 1e6;
      if (c.phantom !== t.phantom) score += 1e5;
      if (c.instrument !== t.instrument) score += 1e4;
      if (c.variant !== t.variant) score += 1e3;
    }
    if (c.rest.length !== t.rest.length) continue;
    specs.forEach((s, i) => {
      const a = c.rest[i];
      const b = t.rest[i];
      if (a === b) return;
      if (s.kind === "number") {
        const x = Number(a.slice(s.tag.length));
        const y = Number(b.slice(s.tag.length));
        score += 10 * Math.abs(x - y) / Math.max(s.step, s.hi - s.lo);
      } else score += 5;
    });
    if (score < bestScore) {
      bestScore = score;
      best = c.path;
    }
  }
  return best;
}
