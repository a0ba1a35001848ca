"""Architecture of muscle, bone, cartilage, plant and rock slides, measured from the scene's
structure labels (and, for aliasing and polarized light, from the decoded renders).

Sources for the laws checked: skeletal-muscle nuclei lie under the sarcolemma, cardiac
nuclei in the cell's centre (Ross & Pawlina, Histology, 8th ed., ch. 11); osteons are
200–300 µm across (ibid. ch. 8); an onion root-tip meristem has a mitotic index of
5–10 % (REALISM.md principle 5); a birefringent ring whose slow axis is tangential
transmits ∝ sin²(2φ) between crossed polars, a 4-fold (Maltese-cross) pattern.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from views import recommended_request

from micro.core import memory
from micro.core.catalog import Catalog
from micro.core.microscope import scene as scene_mod
from micro.core.microscope.generators import muscle
from micro.core.microscope.pipeline import simulate
from micro.core.render import render

_request = recommended_request


def _labels(catalog: Catalog, specimen: str, **params: object):
    req = _request(catalog, specimen, **params)
    s, scene, _sig, _det = simulate(req, catalog)
    return s, {k: np.asarray(s.crop(v)) for k, v in scene.labels.items()}


def _grey(catalog: Catalog, specimen: str, **params: object) -> np.ndarray:
    data = render(_request(catalog, specimen, **params)).image
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.float64)


# --------------------------------------------------------------------------- muscle nuclei

def _nucleus_offsets(fibre: np.ndarray, nuclei: np.ndarray, angle: float,
                     max_width_px: float) -> list[float]:
    """For each nucleus (connected component of its label), walk from its centroid across
    the fibre (perpendicular to the fibre axis at `angle`) to the fibre's edge on both
    sides: |d₊ − d₋| / (d₊ + d₋) is 0 for a central nucleus and near 1 for one at the edge.
    Nuclei whose fibre is wider than `max_width_px` (fused neighbours, a branch point) or
    runs out of the image are skipped."""
    inside = fibre > 0.5
    comp, n = ndimage.label(nuclei > 0.3 * float(nuclei.max()))
    centres = ndimage.center_of_mass(nuclei, comp, range(1, n + 1))
    ny, nx = np.cos(angle), -np.sin(angle)  # across the fibre, image frame (y down)
    h, w = inside.shape
    out = []
    for cy, cx in centres:
        dist = []
        for sign in (1.0, -1.0):
            t = 0.0
            while True:
                t += 0.5
                y, x = int(np.round(cy + sign * t * ny)), int(np.round(cx + sign * t * nx))
                if not (0 <= y < h and 0 <= x < w) or t > max_width_px:
                    t = np.nan
                    break
                if not inside[y, x]:
                    break
            dist.append(t)
        d1, d2 = dist
        if np.isnan(d1) or np.isnan(d2) or d1 + d2 > max_width_px:
            continue
        out.append(abs(d1 - d2) / (d1 + d2))
    return out


@pytest.mark.parametrize(("specimen", "peripheral"), [("skeletal-muscle", True),
                                                       ("cardiac-muscle", False)])
def test_muscle_nuclei_peripheral_or_central(catalog: Catalog, specimen: str,
                                             peripheral: bool) -> None:
    spec = catalog.specimens[specimen]
    pop = spec.populations[0]
    angle = np.deg2rad(float(pop.params["angle_deg"]))
    offsets: list[float] = []
    for x in (0.0, 700.0, -900.0):
        s, lab = _labels(catalog, specimen, objective=40, mode="brightfield", x_um=x)
        offsets += _nucleus_offsets(lab[f"{pop.label}-fibre"], lab[f"{pop.label}-nucleus"],
                                    angle, 1.5 * pop.size_um[1] / s.px_um)
    assert len(offsets) >= 15, len(offsets)
    med = float(np.median(offsets))
    if peripheral:
        assert med >= 0.75, med  # the nucleus touches one side of its fibre
    else:
        assert med <= 0.25, med  # the nucleus sits on the fibre's axis


# --------------------------------------------------------------------------- no moiré

ALIAS_FLOOR = 0.004
"""Largest allowed modulation (amplitude / mean intensity) of a spurious grating at an
aliased striation frequency below 0.25 cycles/pixel — a moiré, periods of 4 pixels and
more. Human contrast sensitivity peaks at a threshold Michelson contrast of about
0.3–0.5 % for gratings of a few cycles per degree (Campbell & Robson, J Physiol 197:551,
1968), so a moiré below 0.4 % cannot be seen. Aliases landing at 0.25–0.5 cycles/pixel
(periods of 2–4 pixels, ≥ 8 cycles/degree on a screen seen at ~32 pixels/degree) sit where
the threshold is three to four times higher, and are held to `ALIAS_FLOOR_FINE`. The
striations point-sampled without band-limiting reach several per cent (see
`test_aliasing_measure_detects_moire`)."""
ALIAS_FLOOR_FINE = 0.012


def _alias_ratio(img: np.ndarray, px_um: float, angle: float, sarc_um: float) -> float:
    """Largest modulation (amplitude / mean), in units of its floor, of the image at the aliased positions of the
    striation harmonics 1–3 that lie beyond the sampling Nyquist frequency. A sinusoid of
    amplitude A puts N·A²/4·Σw² of Hann-windowed power around each of its two peaks: the
    5 × 5 bins there, less the image's mean power per bin at that radius (its broadband
    texture), give A."""
    g = img - img.mean()
    h, w = g.shape
    win = np.outer(np.hanning(h), np.hanning(w))
    P = np.abs(np.fft.fftshift(np.fft.fft2(g * win))) ** 2
    norm = g.size * float((win ** 2).sum())
    fy = np.fft.fftshift(np.fft.fftfreq(h))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(w))[None, :]
    radius = np.hypot(fx, fy)
    worst = 0.0
    for k in (1, 2, 3):
        f = np.array([np.cos(angle), np.sin(angle)]) * k / sarc_um * px_um  # cycles/px
        if np.all(np.abs(f) < 0.5):
            continue  # sampled properly: real striations, not an alias
        a = (f + 0.5) % 1.0 - 0.5
        ra = float(np.hypot(*a))
        if ra < 3.0 / min(h, w):
            continue  # aliased onto DC: a mean shift, indistinguishable from stain uptake
        iy = int(np.round(a[1] * h)) + h // 2
        ix = int(np.round(a[0] * w)) + w // 2
        ring = np.abs(radius - ra) < 3.0 / min(h, w)
        ring[iy - 4:iy + 5, ix - 4:ix + 5] = False
        ring[h - iy - 4:h - iy + 5, w - ix - 4:w - ix + 5] = False
        peak = float(P[iy - 2:iy + 3, ix - 2:ix + 3].sum()) - 25.0 * float(P[ring].mean())
        amp = 2.0 * np.sqrt(max(peak, 0.0) / norm)
        floor = ALIAS_FLOOR if ra < 0.25 else ALIAS_FLOOR_FINE
        worst = max(worst, amp / float(img.mean()) / floor)
    return worst


def _skeletal_ratio(catalog: Catalog, objective: float) -> float:
    spec = catalog.specimens["skeletal-muscle"]
    pop = spec.populations[0]
    req = _request(catalog, "skeletal-muscle", objective=objective, mode="brightfield",
                   x_um=300.0, y_um=-200.0, oil="on" if objective >= 60 else "off")
    s, *_ = simulate(req, catalog)
    img = _grey(catalog, "skeletal-muscle", objective=objective, mode="brightfield",
                x_um=300.0, y_um=-200.0, oil="on" if objective >= 60 else "off")
    return _alias_ratio(img, s.px_um, np.deg2rad(float(pop.params["angle_deg"])),
                        float(pop.params["sarcomere_um"]))


def test_striations_never_alias(catalog: Catalog) -> None:
    inst = catalog.instruments[catalog.specimens["skeletal-muscle"].recommended.instrument]
    ratios = {o.magnification: _skeletal_ratio(catalog, o.magnification)
              for o in inst.objectives}  # type: ignore[union-attr]
    assert all(r < 1.0 for r in ratios.values()), ratios


def _naive_bands(U, sarc_um, duty, px_um, angle, phase=0.0, max_harmonics=9):
    f = np.mod(U / sarc_um + phase, 1.0)
    return (np.abs(f - 0.5) < duty / 2).astype(np.float32)


def test_aliasing_measure_detects_moire(catalog: Catalog,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same measure on striations point-sampled without band-limiting finds the moiré
    (so the test above can fail)."""
    monkeypatch.setattr(muscle, "sarcomere_bands", _naive_bands)
    memory.clear(scene_mod.SCENES)  # scenes are built again with the naive bands...
    try:
        ratios = {o: _skeletal_ratio(catalog, o) for o in (4, 10)}
    finally:
        memory.clear(scene_mod.SCENES)  # ...and not kept for the tests that follow
    assert max(ratios.values()) > 1.0, ratios


# --------------------------------------------------------------------------- compact bone

def _canals(lab: dict[str, np.ndarray]) -> list[tuple[float, float]]:
    """Centroids of the Haversian canals that lie wholly inside the image."""
    comp, n = ndimage.label(lab["bone-canal"] > 0.5)
    out = []
    for i, sl in enumerate(ndimage.find_objects(comp), start=1):
        if sl is None:
            continue
        ys, xs = sl
        if ys.start == 0 or xs.start == 0 or ys.stop == comp.shape[0] or \
                xs.stop == comp.shape[1]:
            continue
        out.append(ndimage.center_of_mass(comp == i))
    return out


def _osteon_radius(osteon: np.ndarray, canal: np.ndarray, cy: float, cx: float,
                   px_um: float) -> float | None:
    """Radius (µm) of the osteon around a canal: the longest of 72 rays that run from the
    canal's centre through the canal and the osteon (inside its cement line) to where the
    osteon ends. A younger neighbour cuts some rays short, never all; a ray leaving the
    image disqualifies the osteon."""
    h, w = osteon.shape
    best = 0.0
    for phi in np.linspace(0, 2 * np.pi, 72, endpoint=False):
        t = 0.0
        while True:
            t += 0.5
            y, x = int(np.round(cy + t * np.sin(phi))), int(np.round(cx + t * np.cos(phi)))
            if not (0 <= y < h and 0 <= x < w):
                return None
            # the label falls to 0 over 2 px at each cement line
            if canal[y, x] <= 0.5 and osteon[y, x] <= 0.99:
                break
        best = max(best, t)
    return (best + 2.0) * px_um  # the label stops 2 px inside the cement line


def test_osteons_are_200_to_300_um(catalog: Catalog) -> None:
    diameters = []
    px = 1.0
    for x, y in ((0.0, 0.0), (1500.0, -800.0), (-1200.0, 1300.0)):
        s, lab = _labels(catalog, "compact-bone", objective=10, mode="brightfield", x_um=x,
                         y_um=y)
        px = s.px_um
        for cy, cx in _canals(lab):
            r = _osteon_radius(lab["bone-osteon"], lab["bone-canal"], cy, cx, s.px_um)
            if r is not None:
                diameters.append(2 * r)
    assert len(diameters) >= 8, diameters
    tol = 2.0 * px  # sampling of the rays and the canal's centroid
    assert all(200 - tol <= d <= 300 + tol for d in diameters), sorted(diameters)
    assert 220 <= float(np.median(diameters)) <= 280


def test_bone_shows_maltese_cross_between_crossed_polars(catalog: Catalog) -> None:
    """Around each Haversian canal the transmitted intensity follows sin²(2φ): its 4-fold
    Fourier component is strong (a pure sin²(2φ) gives |c₄|/c₀ = ½) with its minima on the
    polarizer axes (arg c₄ = π), while the 1- and 2-fold components stay small."""
    kw = {"objective": 10, "stain": "none", "x_um": 0.0, "y_um": 0.0}
    s, lab = _labels(catalog, "compact-bone", mode="brightfield", **kw)
    img = _grey(catalog, "compact-bone", mode="polarized", **kw)
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w]
    found = []
    for cy, cx in _canals(lab):
        r = np.hypot(yy - cy, xx - cx) * s.px_um
        phi = np.arctan2(yy - cy, xx - cx)
        same = ndimage.label(lab["bone-osteon"] > 0.5)[0]
        own = same[int(np.round(cy + 30 / s.px_um)) % h, int(cx)]  # the osteon 30 µm below
        ring = (r > 35.0) & (r < 90.0) & (same == own) & (own > 0)
        if ring.sum() < 400:
            continue
        bins = np.floor((phi[ring] + np.pi) / (2 * np.pi) * 36).astype(int) % 36
        prof = np.bincount(bins, img[ring], 36) / np.maximum(np.bincount(bins, None, 36), 1)
        if (np.bincount(bins, None, 36) == 0).sum() > 6:
            continue  # too much of the ring is cut off by a younger osteon
        ang = (np.arange(36) + 0.5) / 36 * 2 * np.pi - np.pi
        c = [np.sum(prof * np.exp(-1j * k * ang)) for k in range(5)]
        found.append((abs(c[4]) / abs(c[0]), np.angle(c[4]), abs(c[1]) / abs(c[0]),
                      abs(c[2]) / abs(c[0])))
    assert len(found) >= 3, found
    c4, arg4, c1, c2 = (np.array(v) for v in zip(*found, strict=True))
    assert np.median(c4) >= 0.2, c4  # ideal ½, less the display gamma and extinction floor
    assert np.all(np.abs(np.abs(arg4) - np.pi) < 0.35), arg4
    assert np.median(c1) < 0.1 and np.median(c2) < 0.15, (c1, c2)


# --------------------------------------------------------------------------- root tip

def test_root_tip_mitotic_index_is_5_to_10_percent(catalog: Catalog) -> None:
    """Over six 40× fields of the meristem (~1,800 cells) the dividing cells — one label
    blob each, per phase — make up 5–10 % of all cells, with prophase (the longest phase)
    the commonest and the short anaphase far rarer."""
    counts = dict.fromkeys(("interphase", "prophase", "metaphase", "anaphase", "telophase"), 0)
    for x in (-235.0, 235.0):  # 40× fields are 450 × 310 µm: these do not overlap
        for y in (-430.0, -110.0, 210.0):
            _s, lab = _labels(catalog, "onion-root-tip", objective=40, x_um=x, y_um=y)
            for phase in counts:
                m = lab.get(f"meristem-{phase}")
                if m is not None and m.max() > 0:
                    counts[phase] += ndimage.label(m > 0.5 * float(m.max()))[1]
    total = sum(counts.values())
    dividing = total - counts["interphase"]
    assert total > 1200, counts
    assert 0.05 <= dividing / total <= 0.10, (dividing / total, counts)
    assert counts["prophase"] == max(v for k, v in counts.items() if k != "interphase"), counts
    assert counts["anaphase"] < counts["prophase"] / 3, counts


def test_root_tip_cells_are_in_files_not_on_a_grid(catalog: Catalog) -> None:
    """Meristem cells stand in files whose transverse walls do not line up with the
    neighbouring files' and whose cells vary in length: the nuclei's positions along the
    root show no strong period (a rigid grid puts them in rows one cell length apart)."""
    s, lab = _labels(catalog, "onion-root-tip", objective=40, x_um=0.0, y_um=-110.0)
    m = lab["meristem-interphase"]
    comp, n = ndimage.label(m > 0.5 * float(m.max()))
    assert n > 150, n
    y = np.array(ndimage.center_of_mass(m > 0, comp, range(1, n + 1)))[:, 0] * s.px_um
    h, _ = np.histogram(y, bins=np.arange(y.min(), y.max(), 1.0))
    power = np.abs(np.fft.rfft(h - h.mean())) ** 2
    period = len(h) / np.maximum(np.arange(len(power)), 1e-9)
    band = (period > 12) & (period < 40)  # around the 20 µm cell length
    ratio = float(power[band].max() / power[1:].mean())
    assert ratio < 10.0, ratio  # a rigid grid scores ~50


# --------------------------------------------------------------------------- stems

def _bundle_radii(catalog: Catalog, specimen: str) -> np.ndarray:
    """Distances (µm) from the stem's centre of the vascular bundles seen at 4× (one label
    component each), from the scene's labels."""
    s, lab = _labels(catalog, specimen, objective=4)
    comp, n = ndimage.label(lab["stem-bundle"] > 0.5)
    cy, cx = (np.array(c) for c in zip(*ndimage.center_of_mass(comp > 0, comp,
                                                                range(1, n + 1)),
                                        strict=True))
    h, w = comp.shape
    return np.hypot((cx + 0.5 - w / 2), (cy + 0.5 - h / 2)) * s.px_um


def test_dicot_bundles_form_a_ring_monocot_bundles_are_scattered(catalog: Catalog) -> None:
    ring = _bundle_radii(catalog, "dicot-stem")
    scattered = _bundle_radii(catalog, "monocot-stem")
    assert ring.size >= 8 and scattered.size >= 30, (ring.size, scattered.size)
    # a ring: every bundle at nearly the same radius; scattered: from centre to rind
    assert np.std(ring) / np.mean(ring) < 0.12, ring
    assert np.std(scattered) / np.mean(scattered) > 0.3, scattered
    assert scattered.min() < 0.3 * scattered.max()


def test_smooth_muscle_nuclei_are_cigars_and_some_are_cut_across(catalog: Catalog) -> None:
    """Longitudinal smooth-muscle nuclei are elongated (≥ 3.5 : 1), 8–30 µm long and fullest
    in the middle — a cigar, not a bar of constant width; cross-cut fascicles show round
    nuclei 2–5 µm across (Ross & Pawlina, ch. 11)."""
    s, lab = _labels(catalog, "smooth-muscle")
    nuc = lab["smooth-nucleus"] > 0.5
    comp, n = ndimage.label(nuc)
    long_, taper, round_ = [], [], []
    for k, sl in enumerate(ndimage.find_objects(comp), start=1):
        c = comp[sl] == k
        ys, xs = np.nonzero(c)
        if len(ys) < 6:
            continue
        P = np.column_stack([xs, ys]).astype(float) * s.px_um
        P -= P.mean(axis=0)
        ev, vec = np.linalg.eigh(np.cov(P.T))
        a = P @ vec[:, 1]  # along the major axis
        b = P @ vec[:, 0]
        length = a.max() - a.min()
        width = b.max() - b.min()
        if length > 3.5 * width:
            long_.append(length)
            mid = np.abs(a) < 0.15 * length
            end = np.abs(a) > 0.33 * length
            if mid.sum() >= 3 and end.sum() >= 3:
                taper.append(np.ptp(b[mid]) / max(np.ptp(b[end]), s.px_um))
        elif length < 1.6 * width:
            round_.append(2 * np.sqrt(len(ys) / np.pi) * s.px_um)
    assert len(long_) >= 30 and 8.0 <= np.median(long_) <= 30.0, (len(long_),
                                                                   np.median(long_))
    assert np.median(taper) > 1.3, np.median(taper)  # a bar gives 1.0
    assert len(round_) >= 10 and 2.0 <= np.median(round_) <= 5.0, (len(round_),
                                                                    np.median(round_))


# --------------------------------------------------------------------------- parcentricity

@pytest.mark.parametrize(("specimen", "x", "y"), [("cardiac-muscle", 210.0, -140.0),
                                                  ("compact-bone", -450.0, 380.0),
                                                  ("smooth-muscle", 130.0, 90.0)])
def test_architecture_is_parcentric_40_100(catalog: Catalog, specimen: str, x: float,
                                           y: float) -> None:
    """The same fibres, osteons and fascicles at 40× and 100×: the 100× view, binned to
    40× pixels, correlates with the middle of the 40× view (as in test_specimens)."""
    lo = _grey(catalog, specimen, objective=40, x_um=x, y_um=y, mode="brightfield")
    hi_req = _request(catalog, specimen, objective=100, x_um=x, y_um=y, oil="on",
                      mode="brightfield")
    s_lo, *_ = simulate(_request(catalog, specimen, objective=40, x_um=x, y_um=y,
                                 mode="brightfield"), catalog)
    s_hi, *_ = simulate(hi_req, catalog)
    hi = np.asarray(Image.open(io.BytesIO(render(hi_req).image)).convert("L"), dtype=float)
    ratio = s_hi.px_um / s_lo.px_um
    h, w = round(hi.shape[0] * ratio), round(hi.shape[1] * ratio)
    cy, cx = lo.shape[0] // 2, lo.shape[1] // 2
    crop = lo[cy - h // 2:cy - h // 2 + h, cx - w // 2:cx - w // 2 + w]
    small = np.asarray(Image.fromarray(hi.astype(np.float32)).resize((w, h), Image.BOX))
    p, q = crop - crop.mean(), small - small.mean()
    ncc = float((p * q).sum() / np.sqrt((p * p).sum() * (q * q).sum()))
    assert ncc >= 0.5, ncc


# --------------------------------------------------------------------------- onion

def test_onion_epidermis_cells_are_200_400_by_50_80_um(catalog: Catalog) -> None:
    """Cells between the walls (the wall label inverted), measured by their major and minor
    axes: long bricks of the sizes PHYSICS.md gives."""
    from skimage.measure import regionprops

    s, lab = _labels(catalog, "onion-epidermis", objective=10)
    wall = lab["epidermis-wall"]
    comp, _n = ndimage.label(wall < 0.2 * float(wall.max()))
    major, minor = [], []
    for r in regionprops(comp):
        y0, x0, y1, x1 = r.bbox
        if y0 == 0 or x0 == 0 or y1 == comp.shape[0] or x1 == comp.shape[1]:
            continue
        major.append(r.axis_major_length * s.px_um)
        minor.append(r.axis_minor_length * s.px_um)
    assert len(major) >= 10, len(major)
    assert 200 <= float(np.median(major)) <= 400, sorted(major)
    assert 50 <= float(np.median(minor)) <= 80, sorted(minor)


# --------------------------------------------------------------------------- elodea

def test_elodea_chloroplasts_line_the_walls_around_a_clear_vacuole(catalog: Catalog) -> None:
    """In a focal plane through an Elodea leaf cell the chloroplasts lie in the thin
    cytoplasm the central vacuole presses against the walls: their pixels sit, in the
    median, within 40 % of the cell's half-width of a wall, and the cells' middles (over
    70 % of the half-width from every wall) are mostly clear vacuole."""
    s, lab = _labels(catalog, "elodea-leaf", objective=40)
    wall = lab["leaf-wall"] > 0.5
    chl = lab["leaf-chloroplast"] > 0.3
    assert wall.any() and chl.any()
    dist = ndimage.distance_transform_edt(~wall) * s.px_um
    comp, n = ndimage.label(~wall)
    assert n > 10, n
    half = ndimage.maximum(dist, comp, np.arange(1, n + 1))  # each cell's half-width (µm)
    half_px = np.zeros(n + 1)
    half_px[1:] = half
    h = half_px[comp]
    cells = (comp > 0) & (h > 6.0)  # whole cells, not slivers cut by the field's edge
    rel = dist[chl & cells] / h[chl & cells]
    assert rel.size > 500, rel.size
    assert float(np.median(rel)) < 0.4, float(np.median(rel))
    middle = cells & (dist > 0.7 * h)
    assert float(chl[middle].mean()) < 0.1, float(chl[middle].mean())
    ring = cells & (dist < 0.4 * h) & ~wall
    assert float(chl[ring].mean()) > 3 * float(chl[middle].mean())


def test_root_tip_cells_vary_in_size(catalog: Catalog) -> None:
    """Meristem cells, segmented between their walls in a 40× field, vary in area (cells
    grow from one division to the next and files differ in width): a coefficient of
    variation above 0.15 (a grid of identical boxes scores under 0.05)."""
    s, lab = _labels(catalog, "onion-root-tip", objective=40, x_um=0.0, y_um=-110.0)
    comp, n = ndimage.label(lab["meristem-wall"] < 0.2)
    area = ndimage.sum(np.ones(comp.shape), comp, np.arange(1, n + 1)) * s.px_um ** 2
    edge = np.unique(np.concatenate([comp[0], comp[-1], comp[:, 0], comp[:, -1]]))
    whole = np.setdiff1d(np.arange(1, n + 1), edge) - 1
    a = area[whole]
    a = a[a > 30.0]  # not wall-corner specks
    assert a.size > 100, a.size
    cv = float(a.std() / a.mean())
    assert cv > 0.15, cv
    assert 150.0 < float(np.median(a)) < 600.0, float(np.median(a))  # 15–25 µm boxes


def test_root_tip_anaphase_is_two_groups_apart_along_the_file(catalog: Catalog) -> None:
    """Each anaphase figure's chromosomes form two groups separated along the root (the
    file axis, image y): the band 1 µm either side of the figure's equator is nearly empty
    and the groups' centroids lie over 5 µm apart along y, further than the figure's
    spread across the file."""
    seen = 0
    for x, y in ((0.0, -110.0), (-235.0, -430.0), (235.0, 210.0)):
        s, lab = _labels(catalog, "onion-root-tip", objective=40, x_um=x, y_um=y)
        blob, chrom = lab["meristem-anaphase"], lab["meristem-anaphase-chromosomes"]
        comp, n = ndimage.label(ndimage.binary_dilation(blob > 0.5 * float(blob.max()),
                                                        iterations=4))
        for i in range(1, n + 1):
            yy, xx = np.nonzero(comp == i)
            w = chrom[yy, xx].astype(np.float64)
            if w.sum() == 0 or yy.min() == 0 or yy.max() == comp.shape[0] - 1:
                continue
            dy = (yy - (yy * w).sum() / w.sum()) * s.px_um
            dx = (xx - (xx * w).sum() / w.sum()) * s.px_um
            up, dn = dy > 0, dy < 0
            gap = (dy[up] * w[up]).sum() / w[up].sum() - (dy[dn] * w[dn]).sum() / w[dn].sum()
            spread = np.sqrt((dx ** 2 * w).sum() / w.sum())
            assert w[np.abs(dy) < 1.0].sum() / w.sum() < 0.05
            assert gap > 5.0 and gap > 2 * spread, (gap, spread)
            seen += 1
    assert seen >= 4, seen
