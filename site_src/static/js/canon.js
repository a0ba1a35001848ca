// The canonical key space in the browser: the same rules as micro.core.requests, driven by
// quantization.json (the parameter specs) and catalog.json (ids and defaults). A test runs
// this module under Node on many random requests and compares every path with Python's.

export class CanonError extends Error {
  constructor(message, field, allowed) {
    super(field ? `${field}: ${message}` : message);
    this.field = field ?? null;
    this.allowed = allowed ?? null;
  }
}

const ID_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
const D = "\\d(?:_?\\d)*";
const FLOAT_RE = new RegExp(`^[+-]?(?:(?:${D}\\.?(?:${D})?|\\.${D})(?:[eE][+-]?${D})?|inf(?:inity)?|nan)$`, "i");

function missing(v) {
  return v === undefined || v === null || v === "";
}

function pyStr(v) {
  if (v === null || v === undefined) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  return String(v);
}

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(x) {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** A finite number from a number or a decimal string (Python float() syntax). */
export function toNumber(raw, field) {
  let value;
  if (typeof raw === "number") {
    value = raw;
  } else if (typeof raw === "string") {
    const text = raw.trim();
    if (!text || text.length > 32) throw new CanonError("must be a number", field, "a finite number");
    if (!FLOAT_RE.test(text)) throw new CanonError(`'${text.slice(0, 32)}' is not a number`, field, "a finite number");
    const low = text.toLowerCase().replace(/^[+-]/, "");
    if (low === "nan" || low.startsWith("inf")) value = NaN;
    else value = Number(text.replace(/_/g, ""));
  } else {
    throw new CanonError("must be a number", field, "a finite number");
  }
  if (!Number.isFinite(value)) throw new CanonError("must be finite", field, "a finite number");
  return value;
}

/** Short text of a number, as Python's params.fmt_plain. */
export function fmtPlain(value) {
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
  let text = value.toFixed(4);
  text = text.replace(/0+$/, "").replace(/\.$/, "");
  return text;
}

function scaleOf(p) {
  return 10 ** p.decimals;
}

export function units(p, value) {
  return Math.floor(value / p.step + 0.5);
}

export function fromUnits(p, k) {
  const scale = scaleOf(p);
  const stepUnits = Math.round(p.step * scale);
  if (p.decimals === 0) return k * stepUnits;
  return (k * stepUnits) / scale;
}

/** Canonical text of a quantized value, built from its integer (Python Number.text). */
export function numberText(p, value) {
  const scale = scaleOf(p);
  let n = units(p, value) * Math.round(p.step * scale);
  const sign = n < 0 ? "-" : "";
  n = Math.abs(n);
  const whole = Math.floor(n / scale);
  const frac = n - whole * scale;
  if (p.decimals === 0 || frac === 0) return whole || frac ? `${sign}${whole}` : "0";
  const fracText = String(frac).padStart(p.decimals, "0").replace(/0+$/, "");
  return `${sign}${whole}.${fracText}`;
}

export function quantize(p, raw) {
  const value = toNumber(raw, p.name);
  if (value < p.lo || value > p.hi) {
    throw new CanonError(`${fmtPlain(value)} is out of range`, p.name,
      `${fmtPlain(p.lo)} to ${fmtPlain(p.hi)} ${p.unit}, step ${fmtPlain(p.step)}`.trim());
  }
  return fromUnits(p, units(p, value));
}

export function checkChoice(p, raw) {
  if (raw === true || raw === false) raw = raw ? "on" : "off";
  const value = pyStr(raw).trim().toLowerCase();
  if (!p.choices.includes(value)) {
    throw new CanonError(`unknown value '${pyStr(raw).slice(0, 40)}'`, p.name, p.choices);
  }
  return value;
}

function paramValue(p, raw) {
  return p.kind === "number" ? quantize(p, raw) : checkChoice(p, raw);
}

function paramText(p, v) {
  return p.tag + (p.kind === "number" ? numberText(p, v) : String(v));
}

function checkId(raw, field, allowed) {
  if (missing(raw)) throw new CanonError("is required", field, allowed);
  const value = pyStr(raw);
  if (!ID_RE.test(value) || !allowed.includes(value)) {
    throw new CanonError(`unknown id '${value.slice(0, 40)}'`, field, allowed);
  }
  return value;
}

function rejectUnknown(params, known) {
  for (const k of Object.keys(params)) {
    if (!known.includes(k)) throw new CanonError("unknown parameter", k.slice(0, 40), [...known].sort());
  }
}

function has(obj, key) {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

function sortedKeys(obj) {
  return Object.keys(obj).sort();
}

// --------------------------------------------------------------------------- microscope

export function microscopeIds(catalog) {
  return sortedKeys(catalog.instruments).filter((k) => catalog.instruments[k].kind === "microscope");
}

/**
 * Canonical microscope request: {params, path}. params uses the Python names; throws
 * CanonError naming the field, like canonicalize_microscope.
 */
export function canonicalizeMicroscope(params, ctx) {
  const { spec, catalog } = ctx;
  const mp = spec.microscope;
  const keys = ["instrument", "objective", "specimen", "stain", "mode", "format", ...mp.map((p) => p.name)];
  rejectUnknown(params, keys);
  const iid = checkId(params.instrument, "instrument", microscopeIds(catalog));
  const inst = catalog.instruments[iid];
  const sid = checkId(params.specimen, "specimen", sortedKeys(catalog.specimens));
  const specimen = catalog.specimens[sid];

  const mags = inst.objectives.map((o) => o.magnification);
  let objective;
  if (missing(params.objective)) {
    objective = inst.default_objective;
  } else {
    const value = toNumber(params.objective, "objective");
    const match = mags.filter((m) => Math.abs(m - value) <= 1e-6 * Math.max(1.0, m));
    if (!match.length) {
      throw new CanonError(`no ${fmtPlain(value)}× objective on ${iid}`, "objective", mags.map(fmtPlain));
    }
    objective = match[0];
  }

  let stain = params.stain;
  if (missing(stain)) stain = specimen.default_stain;
  if (!(typeof stain === "string" && has(catalog.stains, stain))) {
    checkId(stain, "stain", sortedKeys(catalog.stains));
  }
  if (!specimen.stains.includes(stain)) {
    throw new CanonError(`stain '${stain}' is not used on ${sid}`, "stain", specimen.stains);
  }

  let mode = params.mode;
  if (missing(mode)) mode = inst.default_mode;
  if (!catalog.modes.includes(mode)) {
    throw new CanonError(`unknown mode '${pyStr(mode).slice(0, 40)}'`, "mode", catalog.modes);
  }
  if (!inst.modes.includes(mode)) throw new CanonError(`${iid} has no ${mode} mode`, "mode", inst.modes);

  let fmt = params.format;
  fmt = missing(fmt) ? "jpg" : pyStr(fmt).toLowerCase();
  if (fmt === "jpeg") fmt = "jpg";
  if (!spec.formats.includes(fmt)) throw new CanonError(`unknown format '${fmt.slice(0, 20)}'`, "format", spec.formats);

  const values = {};
  for (const p of mp) {
    let raw = params[p.name];
    if (missing(raw)) {
      if (p.name === "view") raw = inst.camera ? "camera" : "eyepiece";
      else raw = p.default;
    }
    values[p.name] = paramValue(p, raw);
  }
  if (values.view === "camera" && !inst.camera) throw new CanonError(`${iid} has no camera`, "view", ["eyepiece"]);
  if (values.view === "eyepiece" && !inst.eyepiece) throw new CanonError(`${iid} has no eyepiece`, "view", ["camera"]);
  for (const [axis, extent] of [["x_um", specimen.slide_width_um], ["y_um", specimen.slide_height_um]]) {
    const half = extent / 2;
    if (Math.abs(values[axis]) > half + 1e-9) {
      throw new CanonError(`${fmtPlain(values[axis])} µm is off the slide`, axis, `-${fmtPlain(half)} to ${fmtPlain(half)} µm`);
    }
  }
  if (values.source === "library" && !spec.library_modes.includes(mode)) {
    throw new CanonError(`an AI illustration cannot be viewed in ${mode}`, "mode",
      spec.library_modes.filter((m) => inst.modes.includes(m)));
  }
  if (!spec.transmitted_modes.includes(mode)) values.aperture = mp.find((p) => p.name === "aperture").default;
  const oil = mp.find((p) => p.name === "oil");
  if (oil && inst.objectives.find((o) => o.magnification === objective).immersion !== "oil") values.oil = oil.default;
  if (values.view === "eyepiece") values.exposure_ms = 0.0;
  if (spec.probe_modes.includes(mode)) {
    for (const name of ["focus_um", "light_pct", "exposure_ms"]) values[name] = mp.find((p) => p.name === name).default;
  }
  // SEM only: the detector choice and the working distance act on nothing else.
  if (!spec.sem_modes.includes(mode)) {
    for (const name of ["detector", "wd_mm"]) values[name] = mp.find((p) => p.name === name).default;
  }

  const rest = mp.map((p) => paramText(p, values[p.name])).join("_");
  const path = `r/${ctx.version}/m/${iid}/${fmtPlain(objective)}/${sid}/${stain}/${mode}/${rest}.${fmt}`;
  const out = { instrument: iid, objective, specimen: sid, stain, mode, format: fmt, ...values };
  out.size = Number(out.size);
  return { kind: "microscope", params: out, path };
}

// --------------------------------------------------------------------------- imaging

function imagingDefaults(inst) {
  const s = inst.spec;
  const m = inst.modality;
  if (m === "xray") return { kvp: s.default_kvp, mas: 0, grid: s.grid_ratio > 0 ? "on" : "off" }; // 0 = AEC
  if (m === "ct") return { kvp: s.default_kvp, mas: s.default_mas };
  if (m === "ultrasound") {
    const depth = Math.min(s.max_depth_cm, s.probe !== "linear" ? 16.0 : 5.0);
    return { frequency_mhz: s.default_frequency_mhz, depth_cm: depth, focus_cm: roundHalfEven(depth * 0.5 * 2) / 2 };
  }
  if (m === "pet") return { dose_mbq: s.default_dose_mbq, post_fwhm_mm: 5 };
  if (m === "spect") return { dose_mbq: s.default_dose_mbq, scan_min: 20, post_fwhm_mm: 8 };
  return {};
}

function instrumentBounds(inst, name, value) {
  const s = inst.spec;
  const m = inst.modality;
  let rng = null;
  if (name === "kvp" && m === "xray") rng = s.kvp_range;
  else if (name === "kvp" && m === "ct") {
    if (!s.kvp_options.includes(value)) {
      throw new CanonError(`${fmtPlain(value)} kVp is not offered by ${inst.id}`, "kvp", s.kvp_options.map(fmtPlain));
    }
  } else if (name === "mas" && (m === "xray" || m === "ct") && !(m === "xray" && value === 0)) rng = s.mas_range;
  else if (name === "frequency_mhz" && m === "ultrasound") rng = s.frequency_mhz_range;
  else if (name === "depth_cm" && m === "ultrasound") rng = [1.0, s.max_depth_cm];
  else if (name === "dose_mbq" && (m === "pet" || m === "spect")) rng = s.dose_mbq_range;
  if (rng && !(rng[0] - 1e-9 <= value && value <= rng[1] + 1e-9)) {
    throw new CanonError(`${fmtPlain(value)} is out of range for ${inst.id}`, name, `${fmtPlain(rng[0])} to ${fmtPlain(rng[1])}`);
  }
}

export function imagingIds(catalog, spec) {
  return sortedKeys(catalog.instruments).filter((k) => {
    const i = catalog.instruments[k];
    return i.kind === "imaging" && has(spec.imaging, i.modality);
  });
}

/** Canonical imaging request: {params, path, modality}; like canonicalize_imaging. */
export function canonicalizeImaging(input, ctx) {
  const { spec, catalog } = ctx;
  const params = { ...input };
  const preset = params.preset;
  delete params.preset;
  const catalogued = has(catalog.instruments, params.instrument) ? catalog.instruments[params.instrument] : null;
  if (catalogued && catalogued.kind === "imaging" && !spec.imaging[catalogued.modality]) {
    throw new CanonError(`${catalogued.id} is in the catalog for reference only: MICRO does not simulate ${catalogued.modality} images yet`,
      "instrument", imagingIds(catalog, spec));
  }
  const iid = checkId(params.instrument, "instrument", imagingIds(catalog, spec));
  const inst = catalog.instruments[iid];
  const modality = inst.modality;
  const specs = spec.imaging[modality];
  const known = ["instrument", "phantom", "variant", "format", "modality",
    ...spec.imaging_common.map((p) => p.name), ...specs.map((p) => p.name)];
  rejectUnknown(params, [...new Set(known)]);
  if (!missing(params.modality) && params.modality !== modality) {
    throw new CanonError(`${iid} is a ${modality} instrument`, "modality", [modality]);
  }
  if (!missing(preset)) {
    const presets = { ct: spec.ct_presets, mri: spec.mri_presets }[modality] || {};
    if (typeof preset !== "string" || !has(presets, preset)) {
      throw new CanonError(`unknown preset '${pyStr(preset).slice(0, 40)}'`, "preset", sortedKeys(presets));
    }
    const values = presets[preset];
    const names = modality === "ct" ? ["window", "level"] : ["sequence", "tr_ms", "te_ms", "ti_ms", "flip_deg"];
    names.forEach((k, i) => {
      if (!has(params, k)) params[k] = values[i];
    });
  }
  const phantoms = sortedKeys(catalog.phantoms).filter((p) => catalog.phantoms[p].modalities.includes(modality));
  const pid = checkId(params.phantom, "phantom", phantoms);
  const phantom = catalog.phantoms[pid];
  const variants = ["default", ...phantom.variants];
  const variant = params.variant || "default";
  if (!variants.includes(variant)) {
    throw new CanonError(`unknown variant '${pyStr(variant).slice(0, 40)}'`, "variant", variants);
  }
  let fmt = params.format || "png";
  fmt = fmt === "jpeg" ? "jpg" : pyStr(fmt).toLowerCase();
  if (!spec.formats.includes(fmt)) throw new CanonError(`unknown format '${fmt.slice(0, 20)}'`, "format", spec.formats);
  const sizeP = spec.imaging_common[0];
  const size = Number(checkChoice(sizeP, params.size || sizeP.default));

  const defaults = { ...imagingDefaults(inst), ...((phantom.defaults || {})[modality] || {}) };
  const s = {};
  for (const p of specs) {
    let raw = params[p.name];
    if (missing(raw)) raw = has(defaults, p.name) ? defaults[p.name] : p.default;
    const value = paramValue(p, raw);
    if (p.kind === "number") instrumentBounds(inst, p.name, value);
    s[p.name] = value;
  }
  if (modality === "mri") {
    if (s.sequence !== "inversion-recovery") s.ti_ms = 0;
    else if (s.ti_ms <= 0) throw new CanonError("inversion recovery needs an inversion time", "ti_ms", "1 to 5000 ms");
    if (s.sequence !== "gradient-echo") s.flip_deg = 90;
    if (s.te_ms >= s.tr_ms) throw new CanonError("TE must be shorter than TR", "te_ms", `1 to ${fmtPlain(s.tr_ms - 1)} ms`);
  }
  if (modality === "pet" || modality === "spect") {
    if (s.recon === "fbp") {
      s.iterations = 4;
      s.subsets = 8;
    } else if (s.recon === "mlem") s.subsets = 1;
  }
  if (has(s, "slice_mm")) {
    const [lo, hi] = phantom.slice_range_mm || [0, 0];
    if (!phantom.anatomy) s.slice_mm = 0; // a 2-D test object: one slice
    else if (!(lo - 1e-9 <= s.slice_mm && s.slice_mm <= hi + 1e-9)) {
      throw new CanonError(`${fmtPlain(s.slice_mm)} mm is outside ${pid}`, "slice_mm", `${fmtPlain(lo)} to ${fmtPlain(hi)} mm`);
    }
  }
  if (modality === "ultrasound" && s.focus_cm > s.depth_cm) {
    throw new CanonError("focus is deeper than the image", "focus_cm", `0.5 to ${fmtPlain(s.depth_cm)} cm`);
  }
  const rest = [`s${size}`, ...specs.map((p) => paramText(p, s[p.name]))].join("_");
  const path = `r/${ctx.version}/i/${modality}/${iid}/${pid}/${variant}/${rest}.${fmt}`;
  return { kind: "imaging", modality, params: { instrument: iid, phantom: pid, variant, size, format: fmt, ...s }, path };
}

/** The request a canonical path names (the inverse of path building), or null. */
export function parsePath(path) {
  const parts = path.replace(/^\/+/, "").split("/");
  if (parts[0] !== "r" || parts.length < 3) return null;
  const last = parts[parts.length - 1];
  const dot = last.lastIndexOf(".");
  if (dot < 0) return null;
  const rest = last.slice(0, dot).split("_");
  if (parts[2] === "m" && parts.length === 9) {
    const [, version, , instrument, objective, specimen, stain, mode] = parts;
    return { kind: "microscope", version, instrument, objective: Number(objective), specimen, stain, mode, rest, path };
  }
  if (parts[2] === "i" && parts.length === 8) {
    const [, version, , modality, instrument, phantom, variant] = parts;
    return { kind: "imaging", version, modality, instrument, phantom, variant, rest, path };
  }
  return null;
}
