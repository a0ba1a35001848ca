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

from micro.core.catalog import Catalog
from micro.core.microscope import scene as scene_mod
from micro.core.microscope.generators import muscle
from micro.core.microscope.pipeline import simulate
from micro.core.render import render
from micro.core.requests import canonicalize_microscope


def _request(catalog: Catalog, specimen: str, **params: object):
    spec = catalog.specimens[specimen]
    base = {"instrument": spec.recommended.instrument, "specimen": specimen,
            "objective": spec.recommended.objective, "mode": spec.recommended.modes[0],
            "stain": spec.default_stain, "size": 512, "format": "png", "scale_bar": "off"}
    base.update(params)
    return canonicalize_microscope(base, catalog)


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
    monkeypatch.setattr(scene_mod, "_CACHE", type(scene_mod._CACHE)())
    ratios = {o: _skeletal_ratio(catalog, o) for o in (4, 10)}
    assert max(ratios.values()) > 1.0, ratios
