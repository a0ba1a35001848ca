// The info panel: the physical numbers of a render, with units and short explanations.

const KNOWN = {
  total_magnification: ["Total magnification", "×", "Objective × eyepiece (or × camera adapter). Past about 1000 × NA it adds no detail: empty magnification."],
  objective_magnification: ["Objective", "×", "The objective's own lateral magnification."],
  na: ["Numerical aperture", "", "NA = n·sin θ: how wide a cone of light the objective collects. It sets resolution and brightness."],
  wavelength_nm: ["Wavelength", "nm", "Shorter wavelengths resolve finer detail (resolution ∝ λ/NA)."],
  resolution_um: ["Resolution", "µm", "The smallest separation at which two points still appear as two (Rayleigh: 0.61 λ/NA; with the condenser: 1.22 λ/(NA_obj + NA_cond))."],
  fwhm_um: ["PSF width (FWHM)", "µm", "Full width at half maximum of the image of a point (0.51 λ/NA)."],
  fov_um: ["Field of view", "µm", "The width of specimen you see: field number ÷ objective magnification by eye, sensor width ÷ magnification on a camera."],
  pixel_size_um: ["Pixel size at the specimen", "µm", "One image pixel covers this much specimen. Nyquist: it should be at most half the resolution."],
  dof_um: ["Depth of field", "µm", "How thick a slice is sharp at once: λn/NA² + n·e/(M·NA). High-NA objectives have a shallow depth of field."],
  sampling: ["Sampling", "", "Compares the pixel size with the resolution: undersampled loses detail, far oversampled is empty magnification."],
  condenser_na: ["Condenser NA", "", "Opening the condenser raises resolution; closing it raises contrast and depth of field."],
  exposure_ms: ["Exposure", "ms", "How long the camera collects light; longer is less noisy until pixels saturate."],
  snr: ["Signal-to-noise ratio", "", "Signal over noise: photon (Poisson) noise, dark current and read noise."],
  provenance: ["Provenance", "", "procedural: computed from the specimen model; ai-illustration: an AI-drawn illustration put through the same optics — not a micrograph."],
  dose_mgy: ["Dose", "mGy", "Absorbed dose. In CT noise falls as 1/√mAs, so halving the noise costs four times the dose."],
  ctdi_vol_mgy: ["CTDIvol", "mGy", "The scanner's standard dose index for this acquisition."],
  voxel_mm: ["Voxel size", "mm", "The size of one image element; smaller voxels show finer detail but are noisier."],
  noise_hu: ["Noise", "HU", "Standard deviation of CT numbers in a uniform region."],
};

// Identity of the view (shown elsewhere on the page), not physics.
const HIDDEN = new Set(["path", "kind", "instrument", "specimen", "stain", "mode", "view", "source", "version",
  "phantom", "modality", "variant", "raw_unit", "seed", "format", "size"]);

const UNIT_SUFFIX = [["_um", "µm"], ["_nm", "nm"], ["_mm", "mm"], ["_cm", "cm"], ["_ms", "ms"], ["_s", "s"], ["_mhz", "MHz"], ["_hz", "Hz"],
  ["_kev", "keV"], ["_kvp", "kVp"], ["_mas", "mAs"], ["_mgy", "mGy"], ["_msv", "mSv"], ["_mbq", "MBq"], ["_hu", "HU"], ["_db", "dB"], ["_pct", "%"], ["_deg", "°"], ["_t", "T"]];

function unitOf(key) {
  for (const [suf, unit] of UNIT_SUFFIX) if (key.endsWith(suf)) return unit;
  return "";
}

function humanize(key) {
  let k = key;
  for (const [suf] of UNIT_SUFFIX) if (k.endsWith(suf)) { k = k.slice(0, -suf.length); break; }
  const t = k.replace(/_/g, " ");
  return t.charAt(0).toUpperCase() + t.slice(1);
}

export function fmt(value) {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return String(value);
    if (value === 0) return "0";
    const a = Math.abs(value);
    if (a >= 1e5 || a < 1e-3) return value.toExponential(2);
    return String(Number(value.toPrecision(3)));
  }
  if (Array.isArray(value)) return value.map(fmt).join(" × ");
  return String(value);
}

function scalar(v) {
  return typeof v === "number" || typeof v === "string" || typeof v === "boolean"
    || (Array.isArray(v) && v.length <= 3 && v.every((x) => typeof x === "number"));
}

/** Fill a <dl> with the info of a render; known keys first, with their explanations. Without
 * info (`why` says what failed) it says so: it never shows another view's figures. */
export function renderInfo(dl, info, why = "") {
  dl.replaceChildren();
  if (!info) {
    const dt = document.createElement("dt");
    dt.textContent = "No figures";
    const dd = document.createElement("dd");
    dd.textContent = `The figures of this image could not be loaded${why ? ` (${why})` : ""}; reload to try again.`;
    dl.append(dt, dd);
    return;
  }
  const keys = [...Object.keys(KNOWN).filter((k) => k in info), ...Object.keys(info).filter((k) => !(k in KNOWN)).sort()];
  for (const key of keys) {
    const value = info[key];
    if (!scalar(value) || HIDDEN.has(key)) continue;
    const [label, unit, help] = KNOWN[key] || [humanize(key), unitOf(key), null];
    const dt = document.createElement("dt");
    dt.textContent = label;
    dt.dataset.key = key;
    const dd = document.createElement("dd");
    const val = document.createElement("span");
    val.textContent = `${fmt(value)}${unit && typeof value !== "string" ? ` ${unit}` : ""}`;
    if (key === "sampling") {
      const ok = /nyquist|adequate|ok|good/i.test(String(value));
      val.className = ok ? "verdict-ok" : "verdict-warn";
    }
    dd.append(val);
    if (help) {
      const d = document.createElement("details");
      const s = document.createElement("summary");
      s.textContent = "why";
      d.append(s, document.createTextNode(` ${help}`));
      dd.append(d);
    }
    dl.append(dt, dd);
  }
}
