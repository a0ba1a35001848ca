// Deep links (lab.html?specimen=liver-he, imaging.html?instrument=mri-3t): a partial link is
// completed from the specimen's recommended settings (catalog.json) or the instrument's
// defaults; a link that names something impossible is shown without the fields that do not
// fit, and a message that stays until the user acts names each field and what it allows.
import { CanonError } from "./canon.js";

const missing = (v) => v === undefined || v === null || v === "";
const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

/** Lab parameters for a link: the specimen's recommended view, else the lab's default. */
export function completeLab(query, data) {
  const cat = data.catalog;
  const spec = has(cat.specimens, query.specimen) ? cat.specimens[query.specimen] : null;
  let base;
  if (spec) {
    const rec = spec.recommended;
    base = { instrument: rec.instrument, objective: rec.objective, specimen: spec.id, mode: rec.modes[0] };
  } else {
    base = { ...data.site.lab_default };
  }
  if (!missing(query.instrument) && query.instrument !== base.instrument) {
    // another microscope: its own objectives, modes and ports
    for (const k of ["objective", "mode", "view", "aperture", "oil"]) delete base[k];
  }
  return { ...base, ...query };
}

function imagersFor(data, modality) {
  const cat = data.catalog;
  return Object.keys(cat.instruments).sort().filter((id) => cat.instruments[id].kind === "imaging"
    && cat.instruments[id].modality === modality && has(data.spec.imaging, modality));
}

/** Imaging parameters for a link: the default image, or, for another scanner, that scanner's
 * defaults on a phantom it can image. */
export function completeImaging(query, data) {
  const cat = data.catalog;
  const def = { ...data.site.imaging_default };
  delete def.format;
  delete def.size;
  const phantom = has(cat.phantoms, query.phantom) ? cat.phantoms[query.phantom] : null;
  let iid = query.instrument;
  if (missing(iid)) {
    const defModality = cat.instruments[def.instrument].modality;
    let modality = missing(query.modality) ? defModality : query.modality;
    if (phantom && !phantom.modalities.includes(modality)) {
      modality = phantom.modalities.find((m) => imagersFor(data, m).length) || modality;
    }
    iid = modality === defModality ? def.instrument : imagersFor(data, modality)[0] || def.instrument;
  }
  if (iid === def.instrument) return { ...def, ...query, instrument: iid };
  const inst = has(cat.instruments, iid) ? cat.instruments[iid] : null;
  const base = { instrument: iid, phantom: def.phantom };
  if (inst && !cat.phantoms[def.phantom].modalities.includes(inst.modality)) {
    base.phantom = Object.keys(cat.phantoms).sort().find((p) => cat.phantoms[p].modalities.includes(inst.modality))
      || def.phantom;
  }
  return { ...base, ...query, instrument: iid };
}

function explain(e) {
  const allowed = e.allowed === null || e.allowed === undefined ? ""
    : ` (allowed: ${[].concat(e.allowed).join(", ")})`;
  return `${e.message}${allowed}`;
}

/**
 * The view a link shows: {params, problems}. Each field that makes the link impossible is
 * dropped in turn (and falls back to the recommended setting); params is null when the
 * link cannot be shown at all (the caller then shows its default).
 */
export function resolveLink(query, complete, canonicalize) {
  const q = { ...query };
  const problems = [];
  for (let i = 0; i <= Object.keys(query).length; i++) {
    let params;
    try {
      params = complete(q);
      canonicalize(params);
      return { params, problems };
    } catch (e) {
      if (!(e instanceof CanonError)) throw e;
      problems.push(explain(e));
      if (!e.field || !has(q, e.field)) break;
      delete q[e.field];
    }
  }
  return { params: null, problems };
}

/** Show (or clear) the link message; it stays until the user changes a control. */
export function showLinkProblems(problems, fallbackText) {
  const el = document.getElementById("link-error");
  if (!el) return;
  el.hidden = !problems.length;
  el.textContent = problems.length
    ? `This link cannot be shown as written — ${problems.join("; ")}. ${fallbackText}`
    : "";
  if (problems.length) {
    const form = document.getElementById("controls");
    if (!form) return;
    const clear = () => {
      el.hidden = true;
      el.textContent = "";
      form.removeEventListener("change", clear);
      form.removeEventListener("click", onClick);
    };
    const onClick = (ev) => { if (ev.target.closest("button")) clear(); };
    form.addEventListener("change", clear);
    form.addEventListener("click", onClick);
  }
}
