// The info panel: the physical numbers of a render, each with a human label, its unit and a
// short explanation. FIELDS names every key a render's info can carry (a test renders every
// modality and fails on a key that is neither here nor in HIDDEN).

// key: [label, unit, help, {scale, format}]; unit "" = a pure number or a word.
export const FIELDS = {
  // ---- microscope optics
  total_magnification: ["Total magnification", "×", "Objective × eyepiece (or × camera adapter). Past about 1000 × NA it adds no detail: empty magnification."],
  sensor_magnification: ["Magnification onto the sensor", "×", "Objective × tube lens × camera adapter: how large the specimen is drawn on the camera chip."],
  objective: ["Objective", "", "The objective's own magnification, numerical aperture, immersion and correction class.", { format: "objective" }],
  na: ["Numerical aperture", "", "NA = n·sin θ: how wide a cone of light the objective collects. It sets resolution and brightness."],
  wavelength_nm: ["Wavelength", "nm", "Shorter wavelengths resolve finer detail (resolution ∝ λ/NA)."],
  resolution_um: ["Resolution", "µm", "The smallest separation at which two points still appear as two (Rayleigh: 0.61 λ/NA; with the condenser: 1.22 λ/(NA_obj + NA_cond))."],
  fwhm_um: ["PSF width (FWHM)", "µm", "Full width at half maximum of the image of a point (0.51 λ/NA)."],
  fov_um: ["Field of view", "µm", "The width of specimen you see: field number ÷ objective magnification by eye, sensor width ÷ magnification on a camera."],
  pixel_size_um: ["Pixel size at the specimen", "µm", "One image pixel covers this much specimen. Nyquist: it should be at most half the resolution."],
  dof_um: ["Depth of field", "µm", "How thick a slice is sharp at once: λn/NA² + n·e/(M·NA). High-NA objectives have a shallow depth of field."],
  sampling: ["Sampling", "", "Compares the pixel size with the resolution: undersampled loses detail, far oversampled is empty magnification."],
  condenser_na: ["Condenser NA", "", "Opening the condenser raises resolution; closing it raises contrast and depth of field."],
  focus_um: ["Focal plane", "µm", "Height of the plane in focus above the slide's reference plane."],
  stage_um: ["Stage position", "µm", "Where the slide centre is under the objective (x, y).", { format: "xy" }],
  image_px: ["Image size", "px", "Width × height of the image in pixels."],
  exposure_ms: ["Exposure", "ms", "How long the camera collects light; longer is less noisy until pixels saturate."],
  saturated_fraction: ["Saturated pixels", "%", "Pixels that reached the sensor's full well: their detail is lost.", { scale: 100 }],
  snr: ["Signal-to-noise ratio", "", "Signal over noise: photon (Poisson) noise, dark current and read noise."],
  full_well_e: ["Full-well capacity", "e⁻", "How many photoelectrons a sensor pixel holds before it saturates."],
  gain_adu_per_e: ["Camera gain", "ADU/e⁻", "Grey levels per photoelectron."],
  read_noise_e: ["Read noise", "e⁻ rms", "Noise added when a pixel is read out, whatever the light."],
  scale_bar_um: ["Scale bar", "µm", "The length of the bar burnt into the image."],
  channels: ["Channels", "", "What each image channel records.", { format: "words" }],
  raw_unit: ["Raw values in", "", "The unit of the quantitative image before it was mapped to grey levels."],
  provenance: ["Provenance", "", "procedural: computed from the specimen model; ai-illustration: an AI-drawn illustration put through the same optics — not a micrograph."],
  // ---- scanning electron microscope
  detector: ["Detector", "", "Secondary electrons (a few eV, from the top nanometres) show the surface's relief; backscattered beam electrons (keV, from deep in the interaction volume) show its composition: heavier atoms are brighter."],
  beam_kv: ["Accelerating voltage", "kV", "The beam's energy: higher kV goes deeper and spreads wider in the specimen (electron range ∝ E^1.67)."],
  working_distance_mm: ["Working distance", "mm", "From the objective lens to the specimen: a longer distance narrows the beam's cone, deepening the depth of field, and changes what the detectors collect."],
  convergence_mrad: ["Beam convergence semi-angle", "mrad", "α = aperture radius ÷ working distance; depth of field ≈ resolution ÷ α."],
  collection_relative: ["Detector collection", "×", "Electrons the detector collects at this working distance, relative to 10 mm: fewer electrons, a noisier image."],
  electron_range_um: ["Electron range (organic matter)", "µm", "How deep the beam's electrons travel in dried tissue before stopping (Kanaya–Okayama): it sets the edge glow and the blur of the backscatter image."],
  // ---- every scanner
  fov_mm: ["Field of view", "mm", "The width of the patient (phantom) the image covers."],
  pixel_mm: ["Pixel size", "mm", "One image pixel covers this much of the patient."],
  slice_mm: ["Slice position", "mm", "Where along the body axis the slice lies (0 = the phantom's centre)."],
  thickness_mm: ["Slice thickness", "mm", "Thicker slices collect more signal but blur structures along the slice (partial volume)."],
  voxel_mm: ["Voxel size", "mm", "The size of one image element (x × y × slice); smaller voxels show finer detail but are noisier."],
  voxel_mm3: ["Voxel volume", "mm³", "Signal grows with the voxel volume: halving it costs signal-to-noise."],
  scan_time_s: ["Scan time", "s", "How long the acquisition takes; longer scans risk motion."],
  noise_sigma: ["Noise (σ)", "", "Standard deviation of the noise relative to the full signal (1 = the brightest possible)."],
  // ---- X-ray and CT
  kvp: ["Tube voltage", "kVp", "The peak voltage across the X-ray tube: it sets the highest photon energy and how penetrating the beam is."],
  exposure: ["Exposure control", "", "automatic (AEC): a detector behind the patient ends the exposure when enough photons have arrived; manual: the mAs you set."],
  mas: ["Tube current × time", "mAs", "The number of photons: noise falls as 1/√mAs while the dose rises in proportion."],
  anode: ["Anode", "", "The target metal: tungsten for general radiography, molybdenum or rhodium for mammography."],
  filtration_mm_al: ["Filtration", "mm Al", "Metal in the beam that removes soft photons which would only add skin dose."],
  effective_energy_kev: ["Effective photon energy", "keV", "The single energy that is attenuated like the whole spectrum."],
  effective_energy_model: ["Energy model", "", "How the effective energy follows from the tube voltage and filtration."],
  entrance_air_kerma_mgy: ["Entrance air kerma", "mGy", "Energy released per kilogram of air where the beam enters the patient: the radiography dose indicator."],
  grid: ["Anti-scatter grid", "", "Lead strips that stop scattered photons: more contrast, at the cost of more dose."],
  scatter_fraction: ["Scatter fraction", "%", "The share of detected photons that were scattered in the patient: they fog the image.", { scale: 100 }],
  detector_pixel_mm: ["Detector pixel", "mm", "The size of one detector element."],
  photons_per_pixel: ["Photons per pixel", "", "Photons reaching one detector pixel without the patient: quantum noise ∝ 1/√N."],
  frame_rate_fps: ["Frame rate", "frames/s", "Images per second in fluoroscopy; more frames, more dose."],
  contrast: ["Subject contrast by tissue", "", "How much less (1 − transmitted/background) each tissue lets through than the air next to the patient."],
  tissue_transmission: ["Transmission by tissue", "%", "The fraction of the beam that crosses the patient through each tissue.", { scale: 100 }],
  views: ["Projections", "", "Projection angles over 180°: too few give streaks."],
  detector_bins: ["Detector channels", "", "Detector elements across the fan: they sample each projection."],
  filter: ["Reconstruction filter", "", "The ramp filter of filtered back-projection, rolled off (Shepp-Logan, cosine, Hamming, Hann) to trade sharpness for noise."],
  artifact: ["Simulated artefact", "", "An artefact added on purpose, to learn to recognise it."],
  geometry: ["Geometry", "", "How the projections are acquired and reconstructed."],
  mu_water_per_cm: ["Attenuation of water (μ)", "cm⁻¹", "The linear attenuation coefficient of water at the effective energy: CT numbers are relative to it."],
  photons_per_ray: ["Photons per ray", "", "Photons entering the patient along one detector ray: CT noise ∝ 1/√N."],
  noise_sigma_hu: ["Noise (σ, predicted)", "HU", "The standard deviation of CT numbers in a uniform region predicted from the photon count."],
  noise_sigma_hu_measured: ["Noise (σ, measured)", "HU", "The standard deviation of CT numbers measured in a uniform region of this image."],
  noise_hu: ["Noise (σ)", "HU", "Standard deviation of CT numbers in a uniform region."],
  ctdi_vol_mgy: ["CTDIvol", "mGy", "The scanner's standard dose index for this acquisition; it rises in proportion to mAs."],
  dose_mgy: ["Absorbed dose", "mGy", "Energy absorbed per kilogram of tissue."],
  tissue_hu_expected: ["CT number by tissue (expected)", "HU", "Hounsfield units from each tissue's attenuation at the effective energy: water 0, air −1000."],
  tissue_hu: ["CT number by tissue (measured)", "HU", "Mean Hounsfield units measured in each tissue of this image."],
  window: ["Window width", "HU", "The range of CT numbers spread from black to white."],
  level: ["Window level", "HU", "The CT number shown as mid-grey."],
  // ---- MRI
  field_strength_t: ["Field strength", "T", "The main magnetic field: more polarisation and signal, longer T1, more chemical shift."],
  sequence: ["Pulse sequence", "", "Spin echo, gradient echo or inversion recovery: how the signal is produced."],
  tr_ms: ["Repetition time (TR)", "ms", "Time between excitations: a short TR weights the image by T1."],
  te_ms: ["Echo time (TE)", "ms", "Time from excitation to echo: a long TE weights the image by T2."],
  ti_ms: ["Inversion time (TI)", "ms", "Time from inversion to excitation: at TI ≈ 0.69 T1 a tissue's signal is nulled."],
  flip_deg: ["Flip angle", "°", "How far the excitation tips the magnetisation."],
  matrix: ["Acquisition matrix", "", "Phase × frequency encoding steps."],
  nex: ["Averages (NEX)", "", "Number of excitations averaged: SNR ∝ √NEX, time ∝ NEX."],
  bandwidth_hz_px: ["Receiver bandwidth", "Hz/px", "Frequency range per pixel: a wider band is less noisy per unit time but noisier per image, with less chemical shift."],
  coil: ["Receive coil", "", "normalized: the coil array's sensitivity divided out, as scanners do by default (uniform signal, more noise in the centre); array: uncorrected, brighter near the coils (receive-coil shading)."],
  fat_shift_px: ["Fat–water shift", "px", "How far fat is displaced from water along the frequency direction (chemical shift)."],
  tissue_signal_expected: ["Signal by tissue (expected)", "", "Each tissue's signal from the Bloch equations, relative to fully relaxed proton density (1)."],
  tissue_signal: ["Signal by tissue (measured)", "", "Mean signal measured in each tissue of this image, relative to fully relaxed proton density (1)."],
  // ---- PET and SPECT
  isotope: ["Radionuclide", "", "The tracer's radioactive label."],
  photon_energy_kev: ["Photon energy", "keV", "511 keV annihilation photons for PET; the nuclide's gamma line for SPECT."],
  dose_mbq: ["Injected activity", "MBq", "The activity given to the patient: more counts and less noise, more radiation."],
  scan_min: ["Acquisition time", "min", "How long counts are collected."],
  recon: ["Reconstruction", "", "FBP, MLEM or OSEM (ordered subsets: faster MLEM)."],
  iterations: ["Iterations", "", "More iterations sharpen the image and amplify noise."],
  subsets: ["Subsets", "", "OSEM splits the projections into subsets: iterations × subsets ≈ MLEM iterations."],
  recon_matrix: ["Reconstruction matrix", "", "Pixels across the reconstructed image."],
  detector_fwhm_mm: ["Detector resolution (FWHM)", "mm", "The blur of a point source by the detector (and collimator)."],
  post_fwhm_mm: ["Post-filter (FWHM)", "mm", "A Gaussian smoothing applied after reconstruction: less noise, less detail."],
  sensitivity_cps_per_mbq: ["Sensitivity", "cps/MBq", "Counts per second detected per MBq in the field of view."],
  total_counts: ["Total counts", "counts", "Events in the image: noise ∝ 1/√counts."],
  mean_decay_factor: ["Mean decay factor", "", "The fraction of the activity left, averaged over the scan."],
  activity_in_slice_mbq: ["Activity in the slice", "MBq", "The part of the injected activity inside the imaged slice."],
  tissue_kbq_ml: ["Activity concentration by tissue", "kBq/mL", "Mean reconstructed activity concentration in each tissue."],
  noise_cv_pct: ["Noise (coefficient of variation)", "%", "Standard deviation ÷ local mean of the reconstruction’s pixels well inside a uniform region, slow trends removed: it grows with iterations and falls as 1/√counts."],
  uniform_region: ["Noise measured in", "", "The uniform tissue the noise figures come from."],
  // ---- ultrasound
  probe: ["Probe", "", "Linear, curvilinear or phased array: the shape of the image and its depth."],
  frequency_mhz: ["Frequency", "MHz", "Higher frequencies resolve finer detail but are absorbed sooner (less penetration)."],
  wavelength_mm: ["Wavelength", "mm", "λ = c / f with c = 1540 m/s in soft tissue."],
  depth_cm: ["Depth", "cm", "How deep the image reaches; deeper images have lower frame rates."],
  focus_cm: ["Focal depth", "cm", "The depth where the transmitted beam is narrowest."],
  gain_db: ["Gain", "dB", "Overall amplification of the echoes."],
  dynamic_range_db: ["Dynamic range", "dB", "The range of echo strengths spread from black to white."],
  tgc: ["Time-gain compensation", "×", "Amplification growing with depth, as a fraction of the expected tissue attenuation."],
  aperture_mm: ["Array length", "mm", "The width of the whole row of transducer elements (the image width of a linear probe)."],
  active_aperture_mm: ["Active aperture", "mm", "The group of elements that fires and listens for one scan line."],
  f_number: ["f-number", "", "Focal depth ÷ active aperture: a lower f-number focuses more tightly."],
  axial_resolution_mm: ["Axial resolution", "mm", "Along the beam: half the spatial pulse length."],
  lateral_resolution_mm_at_focus: ["Lateral resolution at focus", "mm", "Across the beam at the focus: about λ × f-number."],
  penetration_cm: ["Penetration depth", "cm", "Where the echoes of soft tissue sink into the noise (attenuation ≈ 0.5 dB/cm/MHz)."],
  frame_rate_hz: ["Frame rate", "Hz", "Images per second: each line waits for the echo from the full depth."],
  tissue_echo_db: ["Echo level by tissue", "dB", "Backscatter of each tissue relative to liver."],
};

// Identity of the view (shown in the caption and the controls) and plumbing, not physics.
export const HIDDEN = new Set(["path", "kind", "instrument", "specimen", "stain", "mode", "view", "source", "version",
  "phantom", "modality", "variant", "seed", "format", "size", "size_px", "instrument_name", "phantom_name", "frame"]);

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

function scaled(v, scale) {
  return typeof v === "number" && scale ? v * scale : v;
}

/** The text of a value with its unit, as the panel shows it. */
export function valueText(key, value) {
  const [, unit, , opt = {}] = FIELDS[key] || ["", ""];
  const u = unit ? ` ${unit}` : "";
  if (opt.format === "objective" && value && typeof value === "object") {
    return `${fmt(value.magnification)}× / NA ${fmt(value.na)}, ${value.immersion}, ${value.correction}`;
  }
  if (opt.format === "xy" && Array.isArray(value)) return `x ${fmt(value[0])}${u}, y ${fmt(value[1])}${u}`;
  if (opt.format === "words" && Array.isArray(value)) return value.join(", ");
  if (value && typeof value === "object" && !Array.isArray(value)) {  // a table by tissue
    return Object.entries(value).filter(([, v]) => typeof v === "number")
      .map(([name, v]) => `${name.replace(/-/g, " ")} ${fmt(scaled(v, opt.scale))}`).join(" · ") + u;
  }
  if (typeof value === "string") return value;
  return `${fmt(scaled(value, opt.scale))}${u}`;
}

function shown(key, value) {
  if (HIDDEN.has(key) || value === null || value === undefined) return false;
  if (typeof value === "object" && !Array.isArray(value)) return Object.values(value).some((v) => typeof v === "number") || key === "objective";
  return true;
}

/** Fill a <dl> with the info of a render, in FIELDS order, with their explanations. Without
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
  // Known keys in table order; a key the table does not know yet is still shown, by name.
  const keys = [...Object.keys(FIELDS).filter((k) => k in info), ...Object.keys(info).filter((k) => !(k in FIELDS)).sort()];
  for (const key of keys) {
    const value = info[key];
    if (!shown(key, value)) continue;
    const [label, , help] = FIELDS[key] || [key.replace(/_/g, " "), "", null];
    const dt = document.createElement("dt");
    dt.textContent = label;
    dt.dataset.key = key;
    const dd = document.createElement("dd");
    const val = document.createElement("span");
    val.textContent = valueText(key, value);
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
