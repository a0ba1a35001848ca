"""Cells are not clip-art: the laws of real populations (REALISM.md principles 1–5, 7).

Sizes, counts and shapes are measured on the scene the generators build (`scene.labels`)
and colours on decoded renders; the numbers they must meet are the published ranges, not
whatever the code produced."""

from __future__ import annotations

import io
from itertools import pairwise

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from skimage.measure import regionprops
from views import recommended_request

from micro.core.catalog import Catalog, default_catalog
from micro.core.microscope.blobs import BANK, Texture, draw_cells, lognormal, outline
from micro.core.microscope.lattice import Window
from micro.core.microscope.pipeline import simulate
from micro.core.microscope.raster import Canvas
from micro.core.microscope.scene import _build
from micro.core.render import render


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return default_catalog()


def _scene(catalog: Catalog, specimen: str, cx: float, cy: float, px: float, size: int):
    spec = catalog.specimens[specimen]
    return _build(spec, Window(cx, cy, px, size, size), catalog.structures)


_request = recommended_request


def _render(catalog: Catalog, specimen: str, **params: object):
    req = _request(catalog, specimen, **params)
    s, scene, _sig, _det = simulate(req, catalog)
    labels = {k: np.asarray(s.crop(v)) for k, v in scene.labels.items()}
    img = np.asarray(Image.open(io.BytesIO(render(req).image)).convert("RGB"), dtype=float)
    return s, labels, img


def _components(label: np.ndarray, frac: float = 0.05) -> list:
    comp, _ = ndimage.label(label > frac * float(label.max()))
    out = []
    for r in regionprops(comp):
        y0, x0, y1, x1 = r.bbox
        if y0 == 0 or x0 == 0 or y1 == comp.shape[0] or x1 == comp.shape[1]:
            continue
        out.append(r)
    return out


# --------------------------------------------------------------------------- red cells

def test_red_cell_diameters_follow_the_real_distribution(catalog: Catalog) -> None:
    """Mean 7.5 ± 0.5 µm, CV 5–10 % (haematology reference: MCV ~90 fL ⇒ ~7.5 µm discs,
    RDW 11.5–14.5 % of volume ⇒ ~5–10 % of diameter), measured on isolated red cells of
    the monolayer in several 100×-like windows."""
    d: list[float] = []
    for cx, cy in ((0.0, 0.0), (600.0, -400.0), (-700.0, 900.0), (300.0, 1500.0)):
        sc = _scene(catalog, "blood-smear", cx, cy, 0.1, 768)
        for r in _components(sc.labels["rbc"], 0.05):
            if r.solidity < 0.95 or r.area * 0.01 > 60:  # touching / flattened pairs
                continue
            d.append(r.equivalent_diameter_area * 0.1)
    d_arr = np.asarray(d)
    assert d_arr.size > 60, d_arr.size
    mean, cv = float(d_arr.mean()), float(d_arr.std() / d_arr.mean())
    assert 7.0 <= mean <= 8.0, mean
    assert 0.05 <= cv <= 0.10, cv


def _outlines(lab: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Each isolated cell's radius around its centroid at 64 angles, relative to its mean,
    and its rms departure from an ellipse (orders 0 and 2 removed, pixel staircase above
    order 15 too)."""
    comp, _ = ndimage.label(lab > 0.05 * float(lab.max()))
    sigs, dev = [], []
    for r in regionprops(comp):
        y0, x0, y1, x1 = r.bbox
        if y0 == 0 or x0 == 0 or y1 == comp.shape[0] or x1 == comp.shape[1]:
            continue
        if r.solidity < 0.95:
            continue
        cy, cx = r.centroid
        ys, xs = np.nonzero(r.image)
        px, py = xs + x0 - cx, ys + y0 - cy
        k = (np.arctan2(py, px) % (2 * np.pi) / (2 * np.pi) * 64).astype(int) % 64
        rr = np.zeros(64)
        np.maximum.at(rr, k, np.hypot(px, py))
        rr /= rr.mean()
        sigs.append(rr)
        f = np.fft.rfft(rr)
        f[[0, 2]] = 0
        f[16:] = 0
        dev.append(float(np.sqrt(np.mean(np.fft.irfft(f, 64) ** 2))))
    return np.asarray(sigs), dev


def _closest_pair(S: np.ndarray) -> float:
    best = np.inf
    for s in range(S.shape[1]):
        rms = np.sqrt(((S[:, None, :] - np.roll(S, s, axis=1)[None, :, :]) ** 2).mean(axis=2))
        np.fill_diagonal(rms, np.inf)
        best = min(best, float(rms.min()))
    return best


def test_no_two_red_cells_share_an_outline(catalog: Catalog) -> None:
    """No two red cells of a field have the same outline under any rotation: their closest
    pair differs by more than twice what one outline drawn at two sub-pixel positions
    differs from itself (the measuring floor); and the outlines are not ellipses."""
    S_parts, dev = [], []
    for cx in (0.0, 300.0):
        sc = _scene(catalog, "blood-smear", cx, 0.0, 0.05, 1024)
        part, part_dev = _outlines(sc.labels["rbc"])
        S_parts.append(part)
        dev += part_dev
    S = np.concatenate(S_parts)
    assert len(S) > 20
    # the floor: the same cell twice, 0.37 and 0.81 px off the pixel grid
    canvas = Canvas(Window(0.0, 0.0, 0.05, 512, 256), [0.0], catalog.structures)
    c = outline(np.full((1, 10), 0.8), 0.03)
    draw_cells(canvas, "rbc", np.array([-6.0 + 0.0185, 6.0 + 0.0405]), np.array([0.0, 0.01]),
               np.full(2, 3.75), np.full(2, 3.7), np.zeros(2), np.repeat(c, 2, axis=0),
               profile="biconcave", label="twin")
    twin, _ = _outlines(canvas.labels["twin"].reshape(256, 512))
    assert len(twin) == 2
    floor = _closest_pair(twin)
    assert _closest_pair(S) > 2 * floor, (_closest_pair(S), floor)
    assert float(np.median(dev)) > 2 * floor, (np.median(dev), floor)


def test_white_to_red_ratio_is_real(catalog: Catalog) -> None:
    """Over 4 mm² of monolayer away from the teaching cells, red cells per white cell lie in
    the range of normal blood (RBC 4.2–5.9 × 10¹²/L over WBC 4–11 × 10⁹/L: 380–1480), and
    platelets are one per 10–40 red cells (150–400 × 10⁹/L)."""
    sc = _scene(catalog, "blood-smear", 0.0, 3000.0, 1.0, 2000)
    lab = sc.labels
    rbc = float(lab["rbc-centre"].sum())
    wbc = sum(float(v.sum()) for k, v in lab.items() if k.endswith("-centre")
              and k.split("-")[0] in ("neutrophil", "lymphocyte", "monocyte", "eosinophil",
                                      "basophil"))
    plt = float(lab["platelet-centre"].sum())
    assert rbc > 30_000, rbc
    assert wbc > 10, wbc
    assert 380 <= rbc / wbc <= 1480, (rbc, wbc)
    assert 10 <= rbc / plt <= 40, (rbc, plt)


def test_smear_thins_from_thick_end_to_feathered_edge(catalog: Catalog) -> None:
    """Red-cell coverage falls monotonically from the thick end through the monolayer to
    the feathered edge, and bare glass follows."""
    cover = []
    for x in (-4500.0, 0.0, 4500.0, 5800.0, 8000.0):
        sc = _scene(catalog, "blood-smear", x, 0.0, 0.5, 400)
        rbc = sc.labels.get("rbc", np.zeros((1, 1)))
        cover.append(float((rbc > 0.05).mean()))
    assert all(a > b for a, b in pairwise(cover[:-1])), cover
    assert cover[0] > 0.85 and 0.4 < cover[1] < 0.85 and cover[-1] < 0.01, cover


# --------------------------------------------------------------------------- white cells

def test_neutrophil_nuclei_have_several_lobes(catalog: Catalog) -> None:
    """The teaching neutrophil and others: 3–5 lobes (separate components of the nucleus
    label, the strands joining them are labelled apart)."""
    counts = []
    for cx, cy in ((0.0, 0.0), (0.0, 3000.0), (1500.0, -2000.0)):
        sc = _scene(catalog, "blood-smear", cx, cy, 0.1, 2000)
        if "neutrophil" not in sc.labels:
            continue
        body = sc.labels["neutrophil"]
        nuc = sc.labels["neutrophil-nucleus"]
        cells, n = ndimage.label(body > 0.05 * float(body.max()))
        nuc = ndimage.gaussian_filter(nuc, 3.0)  # 0.3 µm: the chromatin clumps merge
        lobes, _ = ndimage.label(nuc > 0.3 * float(nuc.max()))
        for i in range(1, n + 1):
            m = cells == i
            ys, xs = np.nonzero(m)
            if ys.min() == 0 or xs.min() == 0 or ys.max() == m.shape[0] - 1 or \
                    xs.max() == m.shape[1] - 1:
                continue
            ids = np.unique(lobes[m & (lobes > 0)])
            sizes = [int((lobes == j).sum()) for j in ids]
            counts.append(sum(s * 0.01 > 1.0 for s in sizes))  # lobes above 1 µm²
    assert len(counts) >= 2, counts
    assert all(3 <= c <= 5 for c in counts), counts


def test_nuclei_show_chromatin_texture(catalog: Catalog) -> None:
    """Inside lymphocyte and neutrophil nuclei at 100× oil, the fine-scale intensity
    variation (image minus its 1 µm blur) is at least three times that of bare glass,
    which carries only the camera's noise: a flat fill would match the glass."""
    s, lab, img = _render(catalog, "blood-smear", objective=100, oil="on", size=1024)
    grey = img.mean(axis=2)
    hp = grey - ndimage.gaussian_filter(grey, 1.0 / s.px_um)
    nuc = (lab["neutrophil-nucleus"] > 0.4 * lab["neutrophil-nucleus"].max()) | \
        (lab["lymphocyte-nucleus"] > 0.4 * lab["lymphocyte-nucleus"].max())
    nuc = ndimage.binary_erosion(nuc)
    everything = sum(v for k, v in lab.items() if not k.endswith("-centre"))
    glass = ~ndimage.binary_dilation(everything > 0, iterations=8)
    assert nuc.sum() > 200 and glass.sum() > 2000
    cv_nuc = float(hp[nuc].std() / grey[nuc].mean())
    cv_glass = float(hp[glass].std() / grey[glass].mean())
    assert cv_nuc > 3 * cv_glass, (cv_nuc, cv_glass)


# --------------------------------------------------------------------------- microbiology

def test_gram_positive_darker_than_gram_negative(catalog: Catalog) -> None:
    _, lab, img = _render(catalog, "gram-mixed")
    grey = img.mean(axis=2)
    pos = grey[lab["s-aureus"] > 0.5 * lab["s-aureus"].max()].mean()
    neg = grey[lab["e-coli"] > 0.5 * lab["e-coli"].max()].mean()
    assert pos < neg - 20, (pos, neg)


def test_endospores_are_green_in_pink_rods(catalog: Catalog) -> None:
    """Schaeffer–Fulton in the recommended 100× view: the spores (inside rods and free)
    read malachite green — G clearly above R on the decoded image — and the vegetative
    rods away from their spores read safranin pink-red, R clearly above G. The spore
    displaces the rod's cytoplasm, so no safranin lies under it."""
    _, lab, img = _render(catalog, "bacillus-endospores")
    inner, free, rod = lab["bacillus-spore"], lab["free-spore"], lab["bacillus"]
    near_spore = ndimage.binary_dilation(inner > 0.01, iterations=3)
    regions = {"spore": inner > 0.6 * inner.max(), "free": free > 0.6 * free.max(),
               "rod": (rod > 0.6 * rod.max()) & ~near_spore}
    mean = {k: img[m].mean(axis=0) for k, m in regions.items()}
    for k, m in regions.items():
        assert m.sum() > 50, (k, int(m.sum()))
    for k in ("spore", "free"):
        r, g, _ = mean[k]
        assert g > r + 25, (k, mean[k].round().tolist())
    r, g, _ = mean["rod"]
    assert r > g + 40, mean["rod"].round().tolist()
    # the rod's own amount where its spore sits is a thin sporangium, not the full cell
    centre = inner > 0.9 * inner.max()
    assert np.median(rod[centre]) < 0.35 * np.percentile(rod[rod > 0], 90)


@pytest.mark.parametrize("objective", [40, 100])
def test_india_ink_leaves_capsules_as_clear_halos(catalog: Catalog, objective: int) -> None:
    """Negative stain: the film of ink is dark grey-black (under 45 % of the halo's
    brightness) and granular (its grains are darker than the film between them); the
    capsule between cell and ink is a clear halo (near glass-white), no grain lies in it,
    and the capsules differ in thickness from cell to cell (1–10 µm, Zaragoza 2009)."""
    extra = {"oil": "on"} if objective == 100 else {}
    s, lab, img = _render(catalog, "cryptococcus-india-ink", objective=objective, **extra)
    grey = img.mean(axis=2)
    cap, grain = lab["cryptococcus-capsule"], lab["cryptococcus-grain"]
    cell = lab["cryptococcus"] + lab["cryptococcus-bud"]
    halo = (cap > 0.5) & ~ndimage.binary_dilation(cell > 0.01, iterations=2)
    film = ~ndimage.binary_dilation(cap > 0.01, iterations=3)
    assert halo.sum() > 500 and film.sum() > 5000
    h, f = float(np.median(grey[halo])), float(np.median(grey[film]))
    assert h > 215 and f < 0.45 * h, (h, f)
    r, g, b = img[film].mean(axis=0)
    assert max(r, g, b) - min(r, g, b) < 40  # grey-black, not a coloured dye
    assert float(grain[cap > 0.5].max(initial=0.0)) < 0.1 * float(grain.max())
    dots = grain > 0.5 * grain.max()
    between = film & ~ndimage.binary_dilation(grain > 0.01, iterations=1)
    assert dots.sum() > 100
    assert np.median(grey[dots]) < np.median(grey[between]) - 12
    # halo width from cell to ink edge, per cell: equivalent radii of capsule minus cell
    widths = []
    for rp in _components(np.minimum(cap, 1.0), 0.5):
        inner = float((cell[rp.slice][rp.image] > 0.5 * cell.max()).sum())
        widths.append((np.sqrt(rp.area) - np.sqrt(inner)) / np.sqrt(np.pi) * s.px_um)
    assert len(widths) >= 5
    assert 0.8 <= min(widths) and max(widths) <= 11 and max(widths) > 2 * min(widths), widths


# --------------------------------------------------------------------------- cultured cells

CULTURE_MODES = {"fluorescence": ("widefield-fluorescence", 40), "confocal": ("confocal-lsm", 63),
                 "two-photon": ("two-photon", 25), "light-sheet": ("lattice-light-sheet", 25),
                 "tirf": ("tirf", 100), "sted": ("sted-nanoscope", 100),
                 "sim": ("sim-superres", 100)}


@pytest.mark.parametrize("mode", sorted(CULTURE_MODES))
def test_cultured_cells_show_their_three_labels_in_every_mode(catalog: Catalog,
                                                               mode: str) -> None:
    """At the default focus every fluorescence mode shows the mitochondrial network red,
    the stress fibres green and the nuclei blue — each label brightest in its own channel
    where its structure lies, the field between cells dark, nothing clipped. TIRF's
    evanescent field (~0.1 µm) reaches only the ventral actin: the mitochondria and nuclei
    0.6 µm above it stay dark."""
    inst, obj = CULTURE_MODES[mode]
    s, lab, img = _render(catalog, "cultured-cells-fluorescence", instrument=inst, mode=mode,
                          objective=obj)
    mito, nuc = lab["cell-mitochondria"], lab["cell-nucleus"]
    fibre = lab["cell-actin"]
    actin = fibre + lab["cell-cortex"] + lab["cell-mesh"] + lab["cell-adhesion"]
    regions = {"mito": (mito > 0.3 * mito.max()) & (actin < 0.05 * actin.max()) & (nuc < 0.01),
               "actin": (fibre > 0.3 * fibre.max()) & (nuc < 0.01),
               "nucleus": nuc > 0.5 * nuc.max()}
    mean = {k: img[m].mean(axis=0) for k, m in regions.items()}
    assert all(m.sum() > 100 for m in regions.values())
    assert (img >= 254).mean() < 0.01
    far = ~ndimage.binary_dilation(lab["cell"] > 0.01, iterations=5)
    if far.sum() > 1000:
        assert img[far].mean() < 6
    r, g, _ = mean["actin"]
    assert g > 20 and g > 2 * r, mean["actin"]
    if mode == "tirf":
        assert mean["mito"][0] < 5 and mean["nucleus"][2] < 5
        return
    r, g, b = mean["mito"]
    assert r > 40 and r > 3 * max(g, b), mean["mito"]
    r, g, b = mean["nucleus"]
    assert b > 12 and b > 3 * r, mean["nucleus"]


# --------------------------------------------------------------------------- the machinery

def test_texture_bank_is_uniform_and_smooth() -> None:
    """Bank values are uniform on [0, 1] (a clump threshold q keeps 1 − q of the area) and
    correlated over a feature (neighbouring texels agree far better than distant ones)."""
    assert abs(float((BANK > 0.6).mean()) - 0.4) < 0.01
    near = np.corrcoef(BANK[:, :, :-1].ravel(), BANK[:, :, 1:].ravel())[0, 1]
    far = np.corrcoef(BANK[:, :, :-16].ravel(), BANK[:, :, 16:].ravel())[0, 1]
    assert near > 0.8 and abs(far) < 0.2, (near, far)


def test_drawn_amount_is_conserved_across_magnifications(catalog: Catalog) -> None:
    """A textured, irregular cell adds the same area × amount at 0.05 µm and 1 µm pixels
    (within 5 %): low power shows its average, not an aliased texture."""
    rng = np.random.default_rng(3)
    n = 30
    x, y = rng.uniform(-40, 40, n), rng.uniform(-40, 40, n)
    coeffs = outline(rng.uniform(size=(n, 10)), 0.08)
    tot = []
    for px in (0.05, 1.0):
        size = round(120 / px)
        canvas = Canvas(Window(0.0, 0.0, px, size, size), [0.0], catalog.structures)
        draw_cells(canvas, "nucleus", x, y, np.full(n, 3.0), np.full(n, 2.5),
                   rng.uniform(0, 3, n), coeffs, profile="lens",
                   texture=Texture(0.5, 0.5, 0.4, 0.5), tex_u=rng.uniform(size=(n, 3)))
        tot.append(float(canvas.amounts[(0, "nucleus")].sum()) * px * px)
    assert abs(tot[0] / tot[1] - 1.0) < 0.05, tot


def test_lognormal_sizes_have_the_asked_mean_and_spread() -> None:
    u = (np.arange(20000) + 0.5) / 20000
    d = lognormal(u, 7.5, 0.07, 6.0, 9.0)
    assert abs(d.mean() - 7.5) < 0.05 and abs(d.std() / d.mean() - 0.07) < 0.005
    assert d.min() >= 6.0 and d.max() <= 9.0


@pytest.mark.parametrize(("specimen", "px"), [("blood-smear", 0.3), ("blood-smear", 1.0),
                                              ("cheek-cells", 0.5),
                                              ("cryptococcus-india-ink", 0.3),
                                              ("cultured-cells-fluorescence", 0.3)])
def test_overlapping_windows_agree(catalog: Catalog, specimen: str, px: float) -> None:
    """Two windows that overlap show the same cells where they overlap (the packing, the
    contacts and the textures depend on the slide, never on the window)."""
    a = _scene(catalog, specimen, 0.0, 0.0, px, 300)
    shift = 137  # pixels
    b = _scene(catalog, specimen, shift * px, -61 * px, px, 300)
    for name, la in a.labels.items():
        if name.endswith("-centre") or name not in b.labels:
            continue
        lb = b.labels[name]
        pa = la[:300 - 61, shift:]  # window b lies 137 px right of a and 61 px above it
        pb = lb[61:, :300 - shift]
        scale = max(float(pa.max()), 1e-6)
        assert np.abs(pa - pb).max() <= 1e-3 * scale, name


def test_yeast_dead_fraction_is_real(catalog: Catalog) -> None:
    """A methylene-blue viability count of a healthy culture finds ~5–20 % dead cells."""
    sc = _scene(catalog, "budding-yeast", 0.0, 0.0, 1.0, 1500)
    live = float(sc.labels["yeast-centre"].sum())
    dead = float(sc.labels["dead-yeast-centre"].sum())
    assert live > 1000
    assert 0.05 <= dead / (live + dead) <= 0.20, (live, dead)


def test_squames_are_large_flat_and_unlike(catalog: Catalog) -> None:
    """Cheek squames: 40–70 µm across (equivalent diameter), angular (less convex than an
    ellipse: solidity below 0.985), and no two single cells of a field share an outline:
    their radius profiles differ by more than 2 % rms under any rotation (the pixel
    staircase of a 50 µm cell at 0.5 µm pixels is ~1 % of its radius)."""
    sc = _scene(catalog, "cheek-cells", 0.0, 0.0, 0.5, 1200)
    centres = sc.labels["squame-centre"]
    props = [r for r in _components(sc.labels["squame"], 0.05)  # single cells only
             if round(float(centres[r.slice][r.image].sum())) == 1]
    assert len(props) >= 3
    d = [r.equivalent_diameter_area * 0.5 for r in props]
    assert all(40 <= v <= 70 for v in d), d
    assert np.median([r.solidity for r in props]) < 0.985
    S, _ = _outlines(sc.labels["squame"])
    assert len(S) >= 3
    assert _closest_pair(S) > 0.02, _closest_pair(S)
