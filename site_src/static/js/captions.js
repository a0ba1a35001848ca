// Captions: what a render shows, in words (the canvas label, the status line, notebook
// entries). Settings that do not act in a mode (focus for the AFM tip, NA for electrons) are
// not named.
import { fmtPlain } from "./canon.js";

const MODE_TEXT = {
  brightfield: "bright-field (transmitted light; the stain absorbs)",
  darkfield: "dark-field (only light scattered by the specimen; edges bright on black)",
  "phase-contrast": "phase contrast (optical path differences shown as brightness)",
  dic: "DIC (gradients of optical path shown as relief)",
  polarized: "polarised light (birefringent structures bright between crossed polars)",
  fluorescence: "widefield fluorescence (labelled structures emit; out-of-focus haze included)",
  confocal: "confocal (one optical section; out-of-focus light rejected by the pinhole)",
  "two-photon": "two-photon (an optical section excited only at the focus)",
  "light-sheet": "light-sheet (only a thin illuminated plane emits)",
  tirf: "TIRF (only the first ~100 nm above the glass is excited)",
  sted: "STED (fluorescence below the diffraction limit)",
  sim: "structured illumination (about twice the widefield resolution)",
  stereo: "stereo (low-power reflected light)",
  sem: "SEM (surface topography from secondary electrons)",
  tem: "TEM (electrons through a thin section; dense structures dark)",
  afm: "AFM height map (the tip traces the surface)",
};
const ELECTRON_OR_PROBE = new Set(["sem", "tem", "afm"]);
const SEM_DETECTOR_TEXT = {
  se: MODE_TEXT.sem,
  bse: "SEM (backscattered electrons: heavier elements brighter, topography weaker)",
};

function modeText(r) {
  if (r.mode === "sem") return SEM_DETECTOR_TEXT[r.detector] || MODE_TEXT.sem;
  return MODE_TEXT[r.mode] || r.mode;
}

/** The lab's caption of a canonical microscope request's params. */
export function labCaption(r, catalog, spec) {
  const inst = catalog.instruments[r.instrument];
  const o = inst.objectives.find((x) => x.magnification === r.objective);
  const wd = r.mode === "sem" ? `, working distance ${fmtPlain(r.wd_mm)} mm` : "";
  const optics = ELECTRON_OR_PROBE.has(r.mode) ? `${fmtPlain(r.objective)}×${wd}`
    : `${fmtPlain(r.objective)}× objective (NA ${o.na})${r.view === "eyepiece" ? ", through the eyepiece" : ""}`;
  const focus = spec.probe_modes.includes(r.mode) ? "" : `, focus ${fmtPlain(r.focus_um)} µm`;
  return `${catalog.specimens[r.specimen].name}, ${catalog.stains[r.stain].name}: ${modeText(r)}, `
    + `${optics}${focus}, stage ${fmtPlain(r.x_um)}, ${fmtPlain(r.y_um)} µm`
    + `${r.source === "library" ? " — AI illustration, not a micrograph" : ""}`;
}

/** The title over the lab's live view. */
export function labTitle(r, spec) {
  const focus = spec.probe_modes.includes(r.mode) ? "" : `, focus ${fmtPlain(r.focus_um)} µm`;
  return `Live view: ${fmtPlain(r.objective)}×, ${r.mode}${focus}`;
}

const MODALITY = { xray: "X-ray", ct: "CT", mri: "MRI", ultrasound: "Ultrasound", pet: "PET", spect: "SPECT" };

function shows(c) {
  const p = c.params;
  if (c.modality === "ct" && p.view === "sinogram") return "CT sinogram (the projections, before reconstruction)";
  if (c.modality === "mri" && p.view === "kspace") return "MRI k-space (the raw spatial frequencies, before the Fourier transform)";
  if (c.modality === "ultrasound") return "ultrasound B-mode image";
  return `${MODALITY[c.modality] || c.modality} image`;
}

/** The imaging suite's caption of a canonical imaging request. */
export function imagingCaption(c, catalog) {
  const p = c.params;
  const inst = catalog.instruments[p.instrument];
  const ph = catalog.phantoms[p.phantom];
  let extra = "";
  if (c.modality === "xray") extra = `, ${p.kvp} kVp, ${p.mas} mAs, grid ${p.grid}`;
  if (c.modality === "ct") extra = `, ${p.kvp} kVp, ${p.mas} mAs, window ${p.window} / level ${p.level} HU`;
  if (c.modality === "mri") extra = `, ${p.sequence}, TR ${p.tr_ms} ms, TE ${p.te_ms} ms${p.sequence === "inversion-recovery" ? `, TI ${p.ti_ms} ms` : ""}${p.coil === "array" ? ", receive coils not normalised" : ""}`;
  if (c.modality === "ultrasound") extra = `, ${p.frequency_mhz} MHz, depth ${p.depth_cm} cm, focus ${p.focus_cm} cm`;
  if (c.modality === "pet" || c.modality === "spect") extra = `, injected activity ${p.dose_mbq} MBq, ${p.scan_min} min, ${String(p.recon).toUpperCase()} reconstruction`;
  const artefact = p.artifact && p.artifact !== "none" ? `, with a simulated ${p.artifact} artefact` : "";
  const s = shows(c);
  return `${s.charAt(0).toUpperCase()}${s.slice(1)}: ${ph.name}${p.variant !== "default" ? ` (${p.variant})` : ""}, ${inst.name}${extra}${artefact}`;
}

/** The title over the imaging suite's live image. */
export function imagingTitle(c) {
  const s = shows(c);
  return `Live image: ${s.charAt(0).toUpperCase()}${s.slice(1)}`;
}
