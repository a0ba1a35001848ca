"""Organ architecture, checked from the structure labels the generators expose (not from
pixels alone): glomeruli sit apart inside Bowman's space, villi rise above the crypts,
hepatocyte cords run radially to central veins, adipocyte nuclei lie on the rim, the grey
matter of the spinal cord is one butterfly, and the architecture is a function of slide
position only (the same tissue in overlapping windows, area-true at low power)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from micro.core.catalog import Catalog
from micro.core.microscope.lattice import Window
from micro.core.microscope.scene import _build


def _labels(catalog: Catalog, specimen: str, window: Window) -> dict[str, np.ndarray]:
    return _build(catalog.specimens[specimen], window, catalog.structures).labels


def _mask(lab: dict[str, np.ndarray], name: str, frac: float = 0.5) -> np.ndarray:
    m = lab[name]
    return m > frac * float(m.max())


# --------------------------------------------------------------------------- kidney

@pytest.mark.parametrize("x", [0.0, 2500.0])
def test_glomeruli_apart_and_inside_bowman_space(catalog: Catalog, x: float) -> None:
    px = 2.0
    w = Window(x, 0.0, px, 800, 600)  # 1.6 × 1.2 mm
    lab = _labels(catalog, "kidney-cortex", w)
    tuft = lab["glomerulus"] > 0.5
    space = lab["bowman-space"] > 0.5
    capsule = lab["bowman-capsule"] > 0.05
    tubule = (lab["proximal-tubule"] > 0.05) | (lab["distal-tubule"] > 0.05)
    corpuscle = ndimage.binary_fill_holes(tuft | space | capsule)
    comp, n = ndimage.label(corpuscle)
    assert n >= 4, n
    area_mm2 = w.width_um * w.height_um / 1e6
    assert 2.0 <= n / area_mm2 <= 14.0, n / area_mm2  # real cortical density
    for k in range(1, n + 1):
        c = comp == k
        ys, xs = np.nonzero(c)
        if ys.min() == 0 or xs.min() == 0 or ys.max() == c.shape[0] - 1 or \
                xs.max() == c.shape[1] - 1:
            continue
        d = 2 * np.sqrt(c.sum() / np.pi) * px
        assert 150.0 <= d <= 265.0, d  # capsule included
        _, tufts = ndimage.label(tuft & c)
        assert tufts == 1, tufts  # one tuft per capsule: corpuscles never merge
    # every tuft is surrounded by urinary space (the vascular pole may touch the capsule)
    tcomp, nt = ndimage.label(tuft)
    for k in range(1, nt + 1):
        t = tcomp == k
        ring = ndimage.binary_dilation(t, iterations=2) & ~t
        if ring[0].any() or ring[-1].any() or ring[:, 0].any() or ring[:, -1].any():
            continue
        assert (ring & space).sum() / ring.sum() > 0.6
        assert (ring & tubule).sum() / ring.sum() < 0.02


def test_glomerulus_is_lobulated_capillary_loops(catalog: Catalog) -> None:
    """At 40× pixels the tuft at the start position is lobules of open capillary loops
    (3–8 µm lumina) around a mesangium free of lumina, notched by clefts of urinary space;
    the macula densa lies against the capsule; proximal tubules have small lumina, distal
    ones wide lumina."""
    from skimage.morphology import convex_hull_image

    px = 0.5
    w = Window(-200.0, -200.0, px, 800, 800)
    lab = _labels(catalog, "kidney-cortex", w)
    tuft = lab["glomerulus"] > 0.5
    comp, n = ndimage.label(tuft)
    g = comp == int(np.argmax(ndimage.sum(tuft, comp, range(1, n + 1)))) + 1
    lumen = (lab["capillary-lumen"] > 0.5) & g
    lc, nl = ndimage.label(lumen)
    d = 2 * np.sqrt(ndimage.sum(lumen, lc, range(1, nl + 1)) / np.pi) * px
    assert nl >= 60 and 3.0 <= np.median(d) <= 8.0, (nl, np.median(d))
    mes = (lab["mesangium"] > 0.5) & g
    assert 0.03 < mes.sum() / g.sum() < 0.3
    assert (mes & lumen).sum() == 0
    hull = convex_hull_image(g)
    notch, nn = ndimage.label(hull & ~g)
    depth = ndimage.maximum(ndimage.distance_transform_edt(hull), notch, range(1, nn + 1))
    assert (np.asarray(depth) * px >= 8.0).sum() >= 4  # clefts between the lobules
    md = lab["macula-densa"] > 0.3
    capsule = lab["bowman-capsule"] > 0.05
    assert md.sum() > 50
    assert np.median(ndimage.distance_transform_edt(~capsule)[md] * px) < 30.0
    frac = {}
    for name in ("proximal-tubule", "distal-tubule"):
        m = lab[name] > 0.5
        cc, nc = ndimage.label(m)
        f = []
        for k in range(1, nc + 1):
            c = cc == k
            ys, xs = np.nonzero(c)
            if ys.min() == 0 or xs.min() == 0 or ys.max() == c.shape[0] - 1 or \
                    xs.max() == c.shape[1] - 1:
                continue
            filled = ndimage.binary_fill_holes(c)
            f.append((filled.sum() - c.sum()) / filled.sum())
        frac[name] = float(np.mean(f))
    assert frac["proximal-tubule"] < 0.12 < frac["distal-tubule"], frac


# --------------------------------------------------------------------------- intestine

def test_villi_lie_above_crypts(catalog: Catalog) -> None:
    w = Window(0.0, 300.0, 2.0, 900, 700)
    lab = _labels(catalog, "small-intestine", w)
    villus, crypt = _mask(lab, "villus", 0.3), _mask(lab, "crypt", 0.3)
    assert villus.sum() > 1000 and crypt.sum() > 1000
    yv = np.nonzero(villus)[0]
    yc = np.nonzero(crypt)[0]
    # lumen up: the villi occupy the rows above the crypt layer
    assert np.percentile(yv, 90) <= np.percentile(yc, 10) + 5, (np.percentile(yv, 90),
                                                                np.percentile(yc, 10))
    mm = _mask(lab, "muscularis-mucosae", 0.3)
    ext = _mask(lab, "muscularis-externa", 0.3)
    assert np.median(np.nonzero(mm)[0]) > np.median(yc)
    assert np.median(np.nonzero(ext)[0]) > np.median(np.nonzero(mm)[0])


# --------------------------------------------------------------------------- lung

def test_alveoli_are_varied_sacs_with_thin_cellular_septa(catalog: Catalog) -> None:
    """Alveoli vary in size (section diameters ~100–250 µm); septa are a few micrometres
    thick; alveolar ducts show as septa ending free; type II pneumocytes sit on the septa."""
    from skimage.morphology import skeletonize

    px = 2.0
    w = Window(-1500.0, 600.0, px, 800, 700)
    lab = _labels(catalog, "lung", w)
    air = lab["airspace"] > 0.5
    sep = lab["alveolar-septum"] > 0.3
    comp, n = ndimage.label(air)
    d = []
    for k in range(1, n + 1):
        c = comp == k
        ys, xs = np.nonzero(c)
        if ys.min() == 0 or xs.min() == 0 or ys.max() == c.shape[0] - 1 or \
                xs.max() == c.shape[1] - 1:
            continue
        d.append(2 * np.sqrt(c.sum() / np.pi) * px)
    d = np.array(d)
    assert len(d) >= 20, len(d)
    assert 90.0 <= np.median(d) <= 260.0, np.median(d)
    assert np.std(d) / np.mean(d) > 0.2
    sk = skeletonize(sep)
    thick = 2 * ndimage.distance_transform_edt(sep)[sk] * px
    assert 3.0 <= np.median(thick) <= 12.0, np.median(thick)
    nb = ndimage.convolve(sk.astype(int), np.ones((3, 3), int), mode="constant") - 1
    ends = (sk & (nb == 1)).sum() / (w.width_um * w.height_um / 1e6)
    assert ends >= 15.0, ends  # free septal tips along the alveolar ducts
    t2 = lab["type-ii-pneumocyte"] > 0.3
    comp2, n2 = ndimage.label(t2)
    assert n2 >= 100, n2
    near = ndimage.distance_transform_edt(~sep) * px <= 6.0
    on = ndimage.maximum(near, comp2, range(1, n2 + 1))
    assert np.mean(on) > 0.95


def test_villi_vary_and_the_wall_has_all_its_layers(catalog: Catalog) -> None:
    """Villi differ in height and lean (some cut free of the wall, some grazed); each core
    carries a lacteal; below the crypts: submucosa, inner circular and outer longitudinal
    muscle, serosa, in that order; goblet cells in the epithelium."""
    px = 2.0
    w = Window(0.0, 150.0, px, 1800, 1050)  # centred: 3.6 × 2.1 mm, lumen to serosa
    lab = _labels(catalog, "small-intestine", w)
    villus = lab["villus"] > 0.5
    comp, n = ndimage.label(villus)
    height, lean = [], []
    for k, sl in enumerate(ndimage.find_objects(comp), start=1):
        c = comp[sl] == k
        if c.sum() * px * px < 20000:  # a villus cut across, free in the lumen
            continue
        ys, xs = np.nonzero(c)
        P = np.column_stack([xs, ys]) * px
        _, vec = np.linalg.eigh(np.cov((P - P.mean(axis=0)).T))
        lean.append(np.degrees(np.arctan2(vec[0, 1], vec[1, 1])))
        height.append((sl[0].stop - sl[0].start) * px)
    lean = (np.array(lean) + 90) % 180 - 90
    height = np.array(height)
    assert len(height) >= 15
    assert np.std(height) / np.mean(height) > 0.2, height
    assert np.std(lean) > 6.0 and lean.min() < -5 and lean.max() > 5, lean
    assert n > len(height)  # and some small profiles: villi cut across or obliquely
    lacteal = lab["lacteal"] > 0.5
    assert lacteal.sum() > 2000 and (lacteal & ~villus).sum() == 0
    depth = {}
    for name in ("crypt", "submucosa", "circular-muscle", "longitudinal-muscle", "serosa"):
        m = _mask(lab, name, 0.5)
        assert m.sum() > 500, name
        depth[name] = float(np.median(np.nonzero(m)[0]))
    order = list(depth.values())
    assert order == sorted(order), depth
    goblets = ndimage.label(lab["goblet"] > 0.3)[1]
    assert goblets / (w.width_um / 1000) >= 20, goblets


# --------------------------------------------------------------------------- liver

def test_hepatocyte_cords_converge_on_central_veins(catalog: Catalog) -> None:
    px = 1.0
    w = Window(0.0, 0.0, px, 600, 600)
    lab = _labels(catalog, "liver-he", w)
    vein = _mask(lab, "central-vein")
    comp, n = ndimage.label(vein)
    assert n >= 1
    sizes = ndimage.sum(vein, comp, range(1, n + 1))
    k = int(np.argmax(sizes)) + 1
    cy, cx = ndimage.center_of_mass(comp == k)
    sin = ndimage.gaussian_filter(lab["sinusoid"].astype(np.float64), 2.0)
    gy, gx = np.gradient(sin)
    jxx = ndimage.gaussian_filter(gx * gx, 6.0)
    jyy = ndimage.gaussian_filter(gy * gy, 6.0)
    jxy = ndimage.gaussian_filter(gx * gy, 6.0)
    # dominant orientation of the sinusoid pattern = across the gradient
    theta = 0.5 * np.arctan2(2 * jxy, jxx - jyy) + np.pi / 2
    coher = np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2) / (jxx + jyy + 1e-12)
    yy, xx = np.mgrid[0:600, 0:600]
    r = np.hypot(yy - cy, xx - cx) * px
    sel = (r > 80) & (r < 260) & (coher > 0.3) & ~ndimage.binary_dilation(
        _mask(lab, "portal-tract", 0.2), iterations=20)
    assert sel.sum() > 5000
    radial = np.arctan2(yy - cy, xx - cx)
    align = np.abs(np.cos(theta - radial))[sel]
    assert float(np.mean(align)) > 0.85, float(np.mean(align))  # random: 0.64


def test_liver_has_portal_triads_at_lobule_corners(catalog: Catalog) -> None:
    w = Window(0.0, 0.0, 3.0, 700, 600)
    lab = _labels(catalog, "liver-he", w)
    tracts, nt = ndimage.label(_mask(lab, "portal-tract", 0.5))
    veins, nv = ndimage.label(_mask(lab, "central-vein", 0.5))
    assert nt >= 2 and nv >= 1
    duct = _mask(lab, "bile-duct", 0.3)
    with_duct = {int(v) for v in np.unique(tracts[duct]) if v}
    assert len(with_duct) >= nt - 1  # every (uncut) tract carries a bile duct
    # tracts lie away from veins: at the corners, about a lobule radius from the centre
    vc = np.array(ndimage.center_of_mass(veins > 0, veins, range(1, nv + 1)))
    tc = np.array(ndimage.center_of_mass(tracts > 0, tracts, range(1, nt + 1)))
    d = np.hypot(*(tc[:, None, :] - vc[None, :, :]).transpose(2, 0, 1)).min(axis=1) * 3.0
    assert np.all(d > 300.0), d


def test_cirrhosis_is_nodules_wrapped_in_septa(catalog: Catalog) -> None:
    """Cirrhosis (Robbins, ch. 18): the whole parenchyma is regenerative nodules, 0.5–3 mm,
    each completely surrounded by fibrous septa, with no central veins left inside them."""
    px = 8.0
    diam = []
    for x0 in (0.0, 4000.0):
        w = Window(x0, 0.0, px, 1000, 800)  # 8 × 6.4 mm
        lab = _labels(catalog, "liver-fibrosis", w)
        assert float(lab["central-vein"].max()) == 0.0
        nodule = lab["nodule"] > 0.5
        septum = lab["septum"] > 0.25
        assert 0.15 < septum.mean() < 0.5, septum.mean()
        comp, n = ndimage.label(nodule)
        for k in range(1, n + 1):
            c = comp == k
            ys, xs = np.nonzero(c)
            if ys.min() == 0 or xs.min() == 0 or ys.max() == c.shape[0] - 1 or \
                    xs.max() == c.shape[1] - 1:
                continue
            d = 2 * np.sqrt(c.sum() / np.pi) * px / 1000.0  # mm
            if d < 0.1:  # hepatocyte islands entrapped in a septum
                continue
            ring = ndimage.binary_dilation(c, iterations=2) & ~c
            assert (ring & septum).sum() / ring.sum() > 0.97, (x0, ys.mean(), xs.mean())
            diam.append(d)
    diam = np.array(diam)
    assert len(diam) >= 40, len(diam)
    assert 0.5 <= np.median(diam) <= 1.2, np.median(diam)
    assert diam.max() >= 1.4 and np.percentile(diam, 90) >= 0.9, np.sort(diam)
    assert np.mean((diam >= 0.25) & (diam <= 3.2)) >= 0.85  # a few fragments are smaller
    assert np.std(diam) / np.mean(diam) > 0.2  # sizes vary, unlike lobules


def test_cirrhotic_nodules_hold_irregular_thin_plates(catalog: Catalog) -> None:
    """Inside a regenerative nodule the hepatocyte plates are irregular, anastomosing and
    one or two cells thick, with no central vein to converge on (Robbins, ch. 18): they do
    not run parallel across the nodule. From the labels: the sinusoids' local orientation
    (structure tensor, weighted by its strength) has no dominant direction in any nodule —
    the histogram's peak is under 3x its mean (parallel plates give 6–11) — and no
    hepatocyte lies more than about a cell from a sinusoid (plates of at most two cells)."""
    ratios = []
    for x0, y0 in ((0.0, 0.0), (3000.0, 1000.0)):
        lab = _labels(catalog, "liver-fibrosis", Window(x0, y0, 1.0, 700, 700))
        sin = _mask(lab, "sinusoid")
        sm = ndimage.gaussian_filter(sin.astype(np.float64), 2.0)
        gy, gx = np.gradient(sm)
        jxx = ndimage.gaussian_filter(gx * gx, 6.0)
        jyy = ndimage.gaussian_filter(gy * gy, 6.0)
        jxy = ndimage.gaussian_filter(gx * gy, 6.0)
        theta = (0.5 * np.arctan2(2 * jxy, jxx - jyy)) % np.pi
        strength = np.hypot(jxx - jyy, 2 * jxy)
        inner = ndimage.binary_erosion(lab["nodule"] > 0.5, iterations=15)
        comp, n = ndimage.label(inner)
        for k in range(1, n + 1):
            c = comp == k
            if c.sum() < 20000:  # too little of the nodule in the window to judge
                continue
            h, _ = np.histogram(theta[c], bins=12, range=(0, np.pi), weights=strength[c])
            ratios.append(h.max() / h.mean())
        deep = ndimage.binary_erosion(lab["nodule"] > 0.5, iterations=30)
        dist = ndimage.distance_transform_edt(~sin)[deep]  # µm (1 µm pixels)
        assert deep.sum() > 50000
        assert np.percentile(dist, 95) < 18.0, np.percentile(dist, 95)
        assert dist.max() < 32.0, dist.max()
    assert len(ratios) >= 3, ratios
    assert max(ratios) < 3.0, ratios


# --------------------------------------------------------------------------- adipose

def test_adipocyte_nuclei_sit_on_the_rim(catalog: Catalog) -> None:
    px = 0.5
    w = Window(0.0, 0.0, px, 900, 900)
    lab = _labels(catalog, "adipose", w)
    rim = _mask(lab, "fat-rim", 0.3)
    nuc = _mask(lab, "fat-nucleus", 0.3)
    comp, n = ndimage.label(nuc)
    assert n >= 3, n
    depth = ndimage.distance_transform_edt(~rim) * px  # µm from the nearest rim
    for k in range(1, n + 1):
        c = comp == k
        # a lens at most 3 µm thick, plus the rim's half-width and a pixel
        assert depth[c].max() <= 5.0, depth[c].max()
        ys, xs = np.nonzero(c)
        if len(ys) > 10:  # elongated along the rim
            cov = np.cov(np.vstack([xs, ys]))
            ev = np.sort(np.linalg.eigvalsh(cov))
            assert ev[1] > 2.5 * ev[0], ev
    fat = _mask(lab, "fat", 0.5)
    deep = ndimage.distance_transform_edt(fat) * px
    assert deep.max() > 30.0  # the droplets themselves are large and empty of nuclei
    assert not (nuc & (deep > 5.0)).any()


def _wall_bows(cell: np.ndarray, px: float, min_um: float) -> np.ndarray:
    """For each wall between two cells (the pixel edges where their labels meet) at least
    `min_um` long and clear of the window's border: how far (µm) it strays from the chord
    between its two ends (the junctions)."""
    h, w = cell.shape
    edges: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for a, b, dy, dx in ((cell[:, :-1], cell[:, 1:], 0.0, 0.5),
                         (cell[:-1, :], cell[1:, :], 0.5, 0.0)):
        j, i = np.nonzero(a != b)
        lo = np.minimum(a[j, i], b[j, i]).tolist()
        hi = np.maximum(a[j, i], b[j, i]).tolist()
        for key, y, x in zip(zip(lo, hi, strict=True), (j + dy).tolist(), (i + dx).tolist(),
                             strict=True):
            edges.setdefault(key, []).append((x, y))
    bows = []
    for e in edges.values():
        p = np.array(e)
        if len(p) * px < min_um or p.min() < 3 or p[:, 0].max() > w - 3 or p[:, 1].max() > h - 3:
            continue
        a = p[np.argmax(((p - p.mean(0)) ** 2).sum(1))]  # one end, then the other
        b = p[np.argmax(((p - a) ** 2).sum(1))]
        t = (b - a) / np.hypot(*(b - a))
        bows.append(np.abs((p[:, 0] - a[0]) * t[1] - (p[:, 1] - a[1]) * t[0]).max() * px)
    return np.array(bows)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_adipocyte_walls_bow_and_cells_vary_in_size(catalog: Catalog, seed: int) -> None:
    """Fat cells are not Voronoi polygons: neighbours of unequal pressure bow the wall
    between them, and the cells' areas vary (CV about 0.25–0.3 in real white fat)."""
    from micro.core.microscope.generators.adipose import fat_cells

    size = float(np.mean([p.size_um for p in catalog.specimens["adipose"].populations
                          if p.generator == "adipose"]))
    px, n = 1.0, 800
    x = (np.arange(n) + 0.5) * px
    X, Y = np.broadcast_to(x, (n, n)), np.broadcast_to(x[:, None], (n, n))
    cell = np.unique(fat_cells(X, Y, seed, size)[4], return_inverse=True)[1].reshape(n, n)
    bows = _wall_bows(cell, px, 30.0)
    assert len(bows) >= 60, len(bows)
    # a straight wall strays from its chord by the pixels' staircase alone (< 1 px)
    assert (bows > 2.0).mean() >= 0.55, np.percentile(bows, [25, 50, 75])
    assert np.median(bows) < 0.15 * size  # bowed, not crumpled
    border = np.unique(np.r_[cell[0], cell[-1], cell[:, 0], cell[:, -1]])
    area = np.bincount(cell.ravel())
    area = np.delete(area, border)
    area = area[area > 0] * px * px
    assert len(area) >= 30, len(area)
    cv = area.std() / area.mean()
    assert 0.2 <= cv <= 0.45, cv
    d = 2 * np.sqrt(area / np.pi)  # equivalent diameters within the textbook 50–150 µm
    assert 50.0 <= np.median(d) <= 150.0, np.median(d)


def test_adipose_lobules_are_divided_by_thin_septa(catalog: Catalog) -> None:
    """Septa of connective tissue run along the cell walls between lobules: a thin network
    (a few µm thick) over a small part of the section, carrying flat fibroblast nuclei."""
    px = 1.0
    w = Window(0.0, 0.0, px, 1400, 1400)
    lab = _labels(catalog, "adipose", w)
    septum = lab["septum"] > 0.5
    frac = septum.mean()
    assert 0.01 <= frac <= 0.1, frac
    half = ndimage.distance_transform_edt(septum) * px
    assert 1.0 <= np.percentile(half[half > 0], 95) <= 6.0
    # a network of long septa (bridged across the small spaces where three cells meet),
    # not a scatter of thick walls: most of it in pieces spanning several cells
    comp, n = ndimage.label(ndimage.binary_dilation(septum, iterations=4))
    span = [max(s.stop - s.start for s in sl) * px for sl in ndimage.find_objects(comp)]
    long = np.isin(comp, 1 + np.flatnonzero(np.array(span) > 300.0)) & septum
    assert long.sum() >= 0.7 * septum.sum(), (long.sum(), septum.sum(), n)


# --------------------------------------------------------------------------- spinal cord

def test_grey_matter_is_one_connected_butterfly(catalog: Catalog) -> None:
    px = 8.0
    w = Window(0.0, 0.0, px, 700, 600)  # 5.6 × 4.8 mm: the whole cord
    lab = _labels(catalog, "spinal-cord", w)
    grey = _mask(lab, "grey-matter", 0.5)
    white = _mask(lab, "white-matter", 0.5)
    _, n = ndimage.label(grey)
    assert n == 1, n
    cy, cx = 300, 350
    yy, xx = np.mgrid[0:600, 0:700]
    dx, dy = (xx - cx) * px, (yy - cy) * px
    R = 2000.0
    for sx in (-1, 1):  # four horns: dorsal (−y) and ventral (+y), left and right
        assert (grey & (sx * dx > 0.3 * R) & (dy < -0.4 * R)).sum() * px * px > 0.05e6
        assert (grey & (sx * dx > 0.3 * R) & (dy > 0.2 * R)).sum() * px * px > 0.15e6
    assert grey[cy, cx - 3:cx + 4].any() or _mask(lab, "central-canal", 0.3)[cy, cx]
    # white matter all round: the grey never reaches the surface
    cordm = ndimage.binary_fill_holes(grey | white)
    edge = cordm & ~ndimage.binary_erosion(cordm, iterations=3)
    assert not (edge & grey).any()
    # ventral horns are broader than dorsal ones and hold the motor neurons
    motor = _mask(lab, "motor-neuron", 0.3)
    mcomp, nm = ndimage.label(motor)
    assert nm >= 6
    ys = np.array([c[0] for c in ndimage.center_of_mass(motor, mcomp, range(1, nm + 1))])
    assert np.all(ys > cy)


# --------------------------------------------------------------------------- the slide

@pytest.mark.parametrize("specimen", ["liver-he", "kidney-cortex", "adipose", "spinal-cord",
                                      "liver-fibrosis", "lung", "small-intestine"])
def test_architecture_is_fixed_to_the_slide(catalog: Catalog, specimen: str) -> None:
    """Two overlapping windows show identical labels where they overlap."""
    px = 0.72
    a = _labels(catalog, specimen, Window(40.0, -20.0, px, 300, 200))
    b = _labels(catalog, specimen, Window(40.0 + 100 * px, -20.0 + 50 * px, px, 300, 200))
    for name in a:
        pa, pb = a[name][50:200, 100:300], b[name][0:150, 0:200]
        assert np.allclose(pa, pb, atol=1e-3 * max(1.0, float(pa.max()))), name


@pytest.mark.parametrize(("specimen", "label"), [("liver-he", "hepatocyte-nucleus"),
                                                 ("kidney-cortex", "tubule-nucleus")])
def test_low_power_keeps_area_means(catalog: Catalog, specimen: str, label: str) -> None:
    """Detail finer than a 4× pixel is replaced by its area mean, not sampled (aliased):
    the mean amount of a class over a region agrees between 4× and 40× pixels."""
    hi = _labels(catalog, specimen, Window(1000.0, 1000.0, 0.72, 1000, 1000))[label]
    lo = _labels(catalog, specimen, Window(1000.0, 1000.0, 7.2, 100, 100))[label]
    assert lo.mean() == pytest.approx(hi.mean(), rel=0.2)
