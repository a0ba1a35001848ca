// The canonical key space in the browser: a small interpreter of the request rules that
// Python generates from its models and the catalog (micro.core.rules, served as
// quantization.json: parameter specs, catalog tables, steps and rules). micro.core.canon runs
// the same steps; a test runs this module under Node on thousands of random requests and
// compares every path and every offending field with Python's.

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

/** Absent: undefined, null or "" (or, for `falsy` steps, any false value). */
function missing(v, falsy = false) {
  return falsy ? !v : v === undefined || v === null || v === "";
}

function pyStr(v) {
  if (v === null || v === undefined) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  return String(v);
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

function paramText(p, v) {
  return p.tag + (p.kind === "number" ? numberText(p, v) : String(v));
}

function has(obj, key) {
  return obj !== null && typeof obj === "object" && Object.prototype.hasOwnProperty.call(obj, key);
}

function sortedKeys(obj) {
  return Object.keys(obj).sort();
}

function keysOf(coll) {
  return Array.isArray(coll) ? [...coll] : Object.keys(coll);
}

function contains(coll, v) {
  return Array.isArray(coll) ? coll.includes(v) : typeof v === "string" && has(coll, v);
}

// --------------------------------------------------------------------------- the interpreter

const SLOT = /\{([\w.]+)([+-]\d+)?(?::(\w+))?\}/g;
const TOL = 1e-9;
const same = (a, b) => (a ?? null) === (b ?? null);
const TESTS = {
  eq: (a, b) => same(a, b),
  ne: (a, b) => !same(a, b),
  in: (a, b) => b.includes(a),
  not_in: (a, b) => !b.includes(a),
  gt: (a, b) => a > b,
  ge: (a, b) => a >= b,
  le: (a, b) => a <= b,
  outside: (a, b) => a < b[0] - TOL || a > b[1] + TOL,
};

/** A value in a message: plain number, quoted (`q`, `q40`), id (cut with …), or text. */
function show(value, how) {
  if (how === "plain") return fmtPlain(value);
  const text = pyStr(value);
  if (how === "id") return `'${text.length <= 40 ? text : `${text.slice(0, 40)}…`}'`;
  if (how && how[0] === "q") return `'${how.length > 1 ? text.slice(0, Number(how.slice(1))) : text}'`;
  return text;
}

/** One request being canonicalized: the raw parameters, the values and entries so far. */
class State {
  constructor(params, spec) {
    this.raw = { ...params };
    this.scope = {};
    this.spec = spec;
  }

  lookup(path) {
    const [head, ...rest] = (path.includes("{") ? this.fill(path) : path).split(".");
    let obj = has(this.scope, head) ? this.scope[head] : this.spec[head];
    for (const key of rest) {
      if (obj === null || typeof obj !== "object") return null;
      obj = obj[key];
    }
    return obj ?? null;
  }

  /** An operand: {ref: path} looked up, a list item by item, else the literal. */
  value(x) {
    if (Array.isArray(x)) return x.map((v) => this.value(v));
    return has(x, "ref") ? this.lookup(x.ref) : x;
  }

  among(x) {
    return typeof x === "string" ? this.lookup(x) : this.value(x);
  }

  fill(template) {
    return template.replace(SLOT, (_, name, off, how) => {
      const v = this.lookup(name);
      return show(off ? v + Number(off) : v, how);
    });
  }

  fail(field, message, allowed) {
    throw new CanonError(this.fill(message), field, typeof allowed === "string" ? this.fill(allowed) : allowed);
  }
}

function opPop(step, st) {
  st.scope[step.field] = has(st.raw, step.field) ? st.raw[step.field] : null;
  delete st.raw[step.field];
}

function opKnown(step, st) {
  const known = new Set([...step.keys, ...step.params.flatMap((ref) => st.lookup(ref).map((p) => p.name))]);
  for (const k of Object.keys(st.raw)) {
    if (!known.has(k)) throw new CanonError("unknown parameter", k.slice(0, 40), [...known].sort());
  }
}

function opId(step, st) {
  const { field, refuse } = step;
  const among = st.lookup(step.among);
  const raw = st.raw[field];
  if (missing(raw)) throw new CanonError("is required", field, keysOf(among));
  const value = (st.scope[field] = pyStr(raw));
  const table = refuse ? st.lookup(refuse.among) : null;
  if (has(table, value)) {
    st.scope[step.bind] = table[value];
    st.fail(field, refuse.message, keysOf(among));
  }
  if (!ID_RE.test(value) || !contains(among, value)) st.fail(field, `unknown id {${field}:id}`, keysOf(among));
  st.scope[step.bind] = st.lookup(step.table ?? step.among)[value];
}

function opMatch(step, st) {
  const { field, key } = step;
  const items = st.lookup(step.among);
  const raw = st.raw[field];
  let hit;
  if (missing(raw)) {
    const wanted = st.value(step.default);
    hit = items.find((i) => i[key] === wanted) ?? { [key]: wanted };
  } else {
    const number = (st.scope.value = toNumber(raw, field));
    hit = items.find((i) => Math.abs(i[key] - number) <= 1e-6 * Math.max(1.0, i[key]));
    if (!hit) st.fail(field, step.message, st.value(step.allowed));
  }
  st.scope[field] = hit[key];
  st.scope[step.bind] = hit;
}

function normalize(value, how) {
  if (how === "lower") return pyStr(value).toLowerCase();
  return typeof value === "string" && has(how, value) ? how[value] : value;
}

function opPick(step, st) {
  const raw = st.raw[step.field];
  let value = missing(raw, step.falsy) ? st.value(step.default) : raw;
  for (const how of step.normalize ?? []) value = normalize(value, how);
  st.scope[step.field] = value;
  const among = st.among(step.among);
  if (!contains(among, value)) st.fail(step.field, step.message, keysOf(among));
}

function opPreset(step, st) {
  const name = st.scope[step.field];
  if (missing(name)) return;
  const table = st.lookup(step.among) ?? { keys: [], values: {} };
  const presets = table.values;
  if (!(typeof name === "string" && has(presets, name))) st.fail(step.field, step.message, sortedKeys(presets));
  table.keys.forEach((k, i) => {
    if (!has(st.raw, k)) st.raw[k] = presets[name][i];
  });
}

function opParams(step, st) {
  const defaults = (step.defaults ?? []).map((ref) => st.lookup(ref) ?? {});
  const checks = (step.checks ? st.lookup(step.checks) : null) ?? {};
  for (const p of st.lookup(step.params)) {
    let raw = st.raw[p.name];
    if (missing(raw, step.falsy)) {
      const d = defaults.find((x) => has(x, p.name));
      raw = d ? d[p.name] : p.default;
    }
    st.scope[p.name] = p.kind === "number" ? quantize(p, raw) : checkChoice(p, raw);
    applyRules(checks[p.name] ?? [], st);
  }
}

/** Each rule whose `when` holds sets its values or throws its error. */
function applyRules(rules, st) {
  for (const rule of rules) {
    if (!Object.entries(rule.when).every(([ref, test]) => holds(st.lookup(ref), test, st))) continue;
    if (has(rule, "set")) {
      for (const [k, v] of Object.entries(rule.set)) st.scope[k] = st.value(v);
    } else {
      st.fail(rule.error.field, rule.error.message, st.value(rule.error.allowed));
    }
  }
}

function holds(value, test, st) {
  return Object.entries(test).every(([op, arg]) => TESTS[op](value, st.value(arg)));
}

const OPS = {
  pop: opPop, known: opKnown, id: opId, match: opMatch, pick: opPick, preset: opPreset,
  params: opParams, rules: (step, st) => applyRules(step.rules, st),
};

/** The canonical values of a `kind` request ("microscope" or "imaging"); throws CanonError. */
export function run(kind, params, spec) {
  const st = new State(params, spec);
  for (const step of spec.requests[kind]) OPS[step.op](step, st);
  return st.scope;
}

// --------------------------------------------------------------------------- requests

export function microscopeIds(catalog) {
  return sortedKeys(catalog.instruments).filter((k) => catalog.instruments[k].kind === "microscope");
}

export function imagingIds(catalog, spec) {
  return sortedKeys(catalog.instruments).filter((k) => {
    const i = catalog.instruments[k];
    return i.kind === "imaging" && has(spec.imaging, i.modality);
  });
}

/**
 * Canonical microscope request: {params, path}. params uses the Python names; throws
 * CanonError naming the field, like canonicalize_microscope.
 */
export function canonicalizeMicroscope(params, ctx) {
  const mp = ctx.spec.microscope;
  const v = run("microscope", params, ctx.spec);
  const names = ["instrument", "objective", "specimen", "stain", "mode", "format", ...mp.map((p) => p.name)];
  const out = Object.fromEntries(names.map((k) => [k, v[k]]));
  out.size = Number(out.size);
  const rest = mp.map((p) => paramText(p, v[p.name])).join("_");
  const path = `r/${ctx.version}/m/${v.instrument}/${fmtPlain(v.objective)}/${v.specimen}/${v.stain}/${v.mode}/${rest}.${v.format}`;
  return { kind: "microscope", params: out, path };
}

/** Canonical imaging request: {params, path, modality}; like canonicalize_imaging. */
export function canonicalizeImaging(input, ctx) {
  const v = run("imaging", input, ctx.spec);
  const specs = ctx.spec.imaging[v.modality];
  const size = Number(v.size);
  const rest = [`s${size}`, ...specs.map((p) => paramText(p, v[p.name]))].join("_");
  const path = `r/${ctx.version}/i/${v.modality}/${v.instrument}/${v.phantom}/${v.variant}/${rest}.${v.format}`;
  const settings = Object.fromEntries(specs.map((p) => [p.name, v[p.name]]));
  const out = { instrument: v.instrument, phantom: v.phantom, variant: v.variant, size, format: v.format, ...settings };
  return { kind: "imaging", modality: v.modality, params: out, path };
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
