"""What a PA skull film and the lumbar spine are read for, decoded from labels, the frontal
projection and the films.

* Skull (PA): the orbits are sockets darker than the bony margins round them; the maxillary
  and frontal sinuses and the nasal cavity are air, the septum bone; the vault is brightest
  at its edge (the beam runs tangentially through the tables there) and the brain between is
  an even grey; each mandibular ramus rises from the angle to the condyle, the sigmoid notch
  parting the coronoid process from the condylar neck.
* Lumbar vertebra: the body's axial section is rounded (neither a box nor a diamond), wider
  than deep, kidney-bean shaped (its back dented by the canal), a cortical rim round
  cancellous bone; the neural arch closes a bony ring round the canal; on the frontal
  projection each pedicle is a ring (more cortical bone along its edges than through its
  middle).
"""

from __future__ import annotations

from functools import cache
from io import BytesIO

import numpy as np
from PIL import Image
from scipy import ndimage

import micro
from micro.core.catalog import default_catalog
from micro.core.imaging.anatomy import (
    CANAL_R,
    CANAL_Y,
    MANDIBLE_ANGLE_Z,
    ORBIT_CENTRE,
    ORBIT_HALF,
    TMJ,
    VB_HEIGHT,
    Anatomy,
    anatomy,
    frontal_paths,
)

CAT = default_catalog()
LEVEL_MM = 35.0  # one lumbar motion segment (body and disc)


def _anatomy(pid: str) -> Anatomy:
    ph = CAT.phantoms[pid]
    assert ph.anatomy is not None
    return anatomy(ph.anatomy, tuple(t.id for t in ph.tissues), ph.seed)


@cache
def _film(pid: str, n: int) -> np.ndarray:
    r = micro.render_imaging(catalog=CAT, instrument="digital-radiography", phantom=pid,
                             size=n, format="png")
    return np.asarray(Image.open(BytesIO(r.image)).convert("L"), dtype=np.float64) / 255.0


def _label(an: Anatomy, x: float, y: float, z: float) -> str:
    lab = an.labels(np.array([x], float), np.array([y], float), np.array([z], float))
    return an.tissues[int(lab[0])]


def _pixel(n: int, fov: float, x: float, z: float) -> tuple[int, int]:
    """(row, column) of the patient point (x, z) on an n-pixel frontal image."""
    px = fov / n
    return int(n / 2 - z / px), int(n / 2 + x / px)


# --------------------------------------------------------------------------- the skull

def test_orbits_are_dark_sockets_with_bright_margins() -> None:
    """On the PA film each orbit's centre is darker, by at least 0.1 of the grey scale, than
    its roof margin above, its lateral margin and the medial wall beside the nose."""
    n, fov = 256, 240.0
    img = _film("brain", n)
    cx, cz = ORBIT_CENTRE
    hw, hh = ORBIT_HALF
    for sx in (-1.0, 1.0):
        r, c = _pixel(n, fov, sx * cx, cz + 4.0)  # above the petrous ridges
        centre = img[r - 3:r + 4, c - 4:c + 5].mean()
        rt, _ = _pixel(n, fov, 0.0, cz + hh + 3.0)
        _, cl = _pixel(n, fov, sx * (cx + hw + 3.0), 0.0)
        _, cm = _pixel(n, fov, sx * (cx - hw - 3.0), 0.0)
        margins = {"roof": img[rt - 1:rt + 2, c - 6:c + 7].mean(),
                   "lateral": img[r - 4:r + 5, cl - 1:cl + 2].mean(),
                   "medial": img[r - 4:r + 5, cm - 1:cm + 2].mean()}
        for name, v in margins.items():
            assert v > centre + 0.1, (sx, name, v, centre)


def test_orbits_hold_soft_tissue_and_the_sinuses_air() -> None:
    an = _anatomy("brain")
    cx, cz = ORBIT_CENTRE
    for sx in (-1.0, 1.0):
        assert _label(an, sx * cx, 45.0, cz) in ("fat", "csf")  # orbital fat, the globe
        assert _label(an, sx * 30.0, 46.0, -72.0) == "air"  # maxillary sinus
        assert _label(an, sx * 6.0, 76.0, -20.0) == "air"  # frontal sinus
        assert _label(an, sx * 5.0, 50.0, -72.0) == "air"  # nasal cavity
    assert _label(an, 0.0, 50.0, -72.0) == "cortical-bone"  # the septum between
    # on the projection the maxillary sinuses are columns of air (cm) under the orbits
    paths = frontal_paths(an)
    air = paths[an.tissues.index("air")]
    body = paths.sum(axis=0) - air
    for sx in (-1.0, 1.0):
        r, c = _pixel(an.projection_px, an.fov_mm, sx * 30.0, -72.0)
        assert air[r, c] > 2.0 and body[r, c] > 5.0, (air[r, c], body[r, c])


def test_vault_is_brightest_at_its_edge_and_the_brain_even() -> None:
    """Across the vault above the orbits the film's brightest pixels lie within 15 px of
    the head's edge on both sides (tangential path through the tables), clearly above the
    brain between, which is an even grey (no central glow)."""
    n, fov = 256, 240.0
    img = _film("brain", n)
    for z in (30.0, 10.0):
        r, _ = _pixel(n, fov, 0.0, z)
        row = img[r]
        head = np.nonzero(row > 0.05)[0]
        left, right = head[0], head[-1]
        mid = row[n // 2 - 30:n // 2 + 30]
        for edge in (row[left:left + 15], row[right - 14:right + 1]):
            assert edge.max() > mid.mean() + 0.08, (z, edge.max(), mid.mean())
        assert mid.std() < 0.05, (z, mid.std())


def test_mandibular_ramus_rises_to_the_condyle_with_a_sigmoid_notch() -> None:
    an = _anatomy("brain")
    bone = [an.tissues.index("cortical-bone"), an.tissues.index("cancellous-bone")]
    y = np.arange(-17.5, 30.0, 0.5)  # (behind: the mastoid and the occipital bone)
    for sx in (-1.0, 1.0):
        x = sx * np.arange(45.0, 54.0, 0.5)
        for z in np.arange(MANDIBLE_ANGLE_Z + 2.0, -86.0, 4.0):  # the ramus proper
            lab = an.labels(x[:, None], y[None, :], np.array([[z]]))
            assert np.isin(lab, bone).any(axis=0).sum() * 0.5 > 18.0, (sx, z)
        # above it the notch: two separate bony runs along y (coronoid, condylar neck)
        lab = an.labels(x[:, None], y[None, :], np.array([[-76.0]]))
        runs, k = ndimage.label(np.isin(lab, bone).any(axis=0))
        assert k == 2, (sx, k)
        gap = y[runs == 0]
        assert ((gap > y[runs == 1].max()) & (gap < y[runs == 2].min())).sum() * 0.5 > 5.0
        assert _label(an, sx * TMJ[0], TMJ[1], TMJ[2]) == "cortical-bone"  # the condyle


# --------------------------------------------------------------------------- the spine

def _body_section(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The vertebral body of level k in an axial section above its pedicles (bone mask of
    the component round the body's centre, its labels, x, y; 0.25 mm pixels)."""
    an = _anatomy("abdomen")
    z = -12.0 + LEVEL_MM * (k + 0.65)
    s = 0.25
    x = np.arange(-40.0, 40.0, s) + s / 2
    y = np.arange(-90.0, -10.0, s) + s / 2
    lab = an.labels(x[None, :], y[:, None], np.array([[z]]))
    bone = np.isin(lab, [an.tissues.index("cortical-bone"),
                         an.tissues.index("cancellous-bone")])
    comp, _ = ndimage.label(bone)
    body = comp == comp[np.searchsorted(y, -45.0), np.searchsorted(x, 0.0)]
    return body, lab, x, y


def test_vertebral_body_section_is_a_rounded_bean_with_a_cortical_rim() -> None:
    an = _anatomy("abdomen")
    for k in (-2, 0, 1):
        body, lab, x, y = _body_section(k)
        rows = np.nonzero(body.any(axis=1))[0]
        cols = np.nonzero(body.any(axis=0))[0]
        w, d = cols.size * 0.25, rows.size * 0.25
        frac = body.sum() / (rows.size * cols.size)
        assert 0.72 < frac < 0.9, frac  # rounded: a box would be 1, a diamond 0.5
        assert 38.0 < w < 52.0 and 1.1 < w / d < 1.5, (w, d)

        def back(xx: float, body: np.ndarray = body, y: np.ndarray = y,
                 x: np.ndarray = x) -> float:
            return float(y[np.nonzero(body[:, np.searchsorted(x, xx)])[0][0]])

        # kidney-bean: the back of the body is dented forward in the midline by the canal
        assert back(0.0) > max(back(-12.0), back(12.0)) + 1.5
        # a cortical rim round cancellous bone
        edge = body & ~ndimage.binary_erosion(body)
        cortical = an.tissues.index("cortical-bone")
        assert (lab[edge] == cortical).mean() > 0.95
        core = ndimage.binary_erosion(body, iterations=12)
        assert (lab[core] == an.tissues.index("cancellous-bone")).mean() > 0.95


def test_neural_arch_closes_a_bony_ring_round_the_canal() -> None:
    """At the pedicles' height, every ray from the canal's centre meets bone (body, pedicle
    or lamina) within 6 mm of the canal's wall, and the canal itself is CSF."""
    an = _anatomy("abdomen")
    bone = [an.tissues.index("cortical-bone"), an.tissues.index("cancellous-bone")]
    for k in (0, 1):
        z = -12.0 + LEVEL_MM * (k + 0.38)
        ang = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        r = np.arange(0.0, CANAL_R + 6.0, 0.25)
        x = r[None, :] * np.cos(ang)[:, None]
        y = CANAL_Y + r[None, :] * np.sin(ang)[:, None]
        lab = an.labels(x, y, np.full_like(x, z))
        assert (lab[:, r < CANAL_R - 0.5] == an.tissues.index("csf")).all()
        hit = np.isin(lab, bone).any(axis=1)
        assert hit.all(), np.degrees(ang[~hit])


def test_pedicles_project_as_rings_on_the_frontal_film() -> None:
    """Along the row through a pedicle's centre, the projected cortical bone is greater at
    both its edges than through its middle (the 'eyes' of an AP lumbar film)."""
    an = _anatomy("abdomen")
    paths = frontal_paths(an)
    cort = paths[an.tissues.index("cortical-bone")]
    n = an.projection_px
    px = an.fov_mm / n
    xc = (np.arange(n) + 0.5 - n / 2) * px
    for k in (0, 1):
        z = -12.0 + LEVEL_MM * (k + 0.38)
        assert 0.0 < (z + 12.0) % LEVEL_MM < VB_HEIGHT  # projected over its body
        r, _ = _pixel(n, an.fov_mm, 0.0, z)
        for sx in (-1.0, 1.0):
            ax = sx * xc
            mid = int(np.argmin(np.abs(ax - 13.0)))
            inner = cort[r, (ax > 5.0) & (ax < 11.5)].max()
            outer = cort[r, (ax > 14.5) & (ax < 21.0)].max()
            assert min(inner, outer) > cort[r, mid] + 0.5, (k, sx, inner, outer, cort[r, mid])
