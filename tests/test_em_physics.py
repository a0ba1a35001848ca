"""Laws of the electron, probe and stereo microscopes (issue 16): SEM edge brightening and
detector-side shadowing on a known step, the TEM contrast-transfer function's first zero,
AFM tip dilation, the stereo microscope's depth of field, and DNA on mica as worm-like
chains."""

from __future__ import annotations

import math

import numpy as np
import pytest

from micro.core.catalog import Catalog
from micro.core.microscope import sem, tem
from micro.core.microscope import stereo as st
from micro.core.microscope.electron import tip_dilate
from micro.core.microscope.pipeline import _coefficients, simulate
from micro.core.render import render
from micro.core.requests import canonicalize_microscope

# --------------------------------------------------------------------------- SEM


def _plateau(px: float = 0.05, n: int = 400, height: float = 3.0) -> np.ndarray:
    """A square mesa 5 µm wide, `height` µm tall, with 0.5 µm wide sloping walls."""
    c = np.arange(n) - n / 2 + 0.5
    ramp = np.clip((50 - np.abs(c)) / 10, 0.0, 1.0)
    return (height * np.minimum(ramp[:, None], ramp[None, :])).astype(np.float32)


def _regions(sig: np.ndarray) -> dict[str, float]:
    """Mean signal of the parts of the mesa (walls at rows/columns 150–160 and 240–250)."""
    cols = slice(180, 220)
    return {
        "top_face": float(sig[190:210, 190:210].mean()),
        "ground_far": float(sig[360:390, cols].mean()),
        "ground_detector_side": float(sig[60:100, cols].mean()),
        "ground_behind": float(sig[262:300, cols].mean()),
        "wall_towards": float(sig[151:159, cols].mean()),
        "wall_away": float(sig[241:249, cols].mean()),
        "wall_left": float(sig[cols, 151:159].mean()),
        "wall_right": float(sig[cols, 241:249].mean()),
    }


def test_sem_edges_bright_and_shadow_away_from_the_everhart_thornley_detector() -> None:
    h = _plateau()
    r = _regions(sem.topography(h, np.ones_like(h), 0.05, 15.0, "everhart-thornley"))
    # tilted walls emit more (δ ∝ sec θ) than the flat top and the flat ground
    assert r["wall_left"] > 1.5 * r["top_face"], r
    assert r["wall_right"] > 1.5 * r["ground_far"], r
    # the detector is towards the top of the image: the wall facing it is brighter, the
    # ground behind the mesa lies in its shadow, the ground in front of it does not
    assert r["wall_towards"] > 1.3 * r["wall_away"], r
    assert r["ground_behind"] < 0.85 * r["ground_far"], r
    assert r["ground_detector_side"] == pytest.approx(r["ground_far"], rel=0.05), r
    # flat faces at the same tilt give the same yield, whatever their height
    assert r["top_face"] == pytest.approx(r["ground_far"], rel=0.1), r


def test_sem_in_lens_detector_sees_every_side_alike() -> None:
    h = _plateau()
    r = _regions(sem.topography(h, np.ones_like(h), 0.05, 15.0, "in-lens"))
    assert r["wall_towards"] == pytest.approx(r["wall_away"], rel=0.02), r
    assert r["wall_left"] == pytest.approx(r["wall_right"], rel=0.02), r
    assert r["ground_behind"] == pytest.approx(r["ground_far"], rel=0.05), r
    assert r["wall_left"] > 1.5 * r["top_face"], r


def test_sem_edge_glow_widens_with_beam_energy() -> None:
    """The bright band inside a convex edge follows the electron range (Kanaya–Okayama,
    R ∝ E^1.67): wider at 30 kV than at 5 kV."""
    h = _plateau()
    widths = {}
    for kv in (5.0, 30.0):
        sig = sem.topography(h, np.ones_like(h), 0.05, kv, "in-lens")
        centre = float(sig[200, 200])
        row = sig[200, 160:200]  # from the top of the left wall to the centre
        widths[kv] = int((row > 1.05 * centre).sum())
    assert widths[30.0] > widths[5.0] + 3, widths
    assert sem.ko_range_um(30.0) / sem.ko_range_um(5.0) == pytest.approx(6.0**1.67, rel=1e-9)


def test_sem_uncoated_insulator_charges_and_streaks_along_the_scan() -> None:
    cover = np.zeros((200, 200), dtype=np.float32)
    cover[90:110, 40:60] = 1.0
    q = sem.charging(cover, 0.5)
    assert q[100, 50] > 0.1  # on the insulator
    assert q[100, 80] > 5 * q[100, 20]  # trails after it along the scan line (left → right)
    assert q[100, 80] > 5 * q[140, 80]  # not across the lines


def test_sem_renders_pollen_with_the_stub_around(catalog: Catalog) -> None:
    req = canonicalize_microscope({"instrument": "sem-tungsten", "specimen": "pollen-sem",
                                   "objective": 500, "size": 256}, catalog)
    s, scene, sig, _ = simulate(req, catalog)
    grains = np.asarray(s.crop(scene.labels["pollen"])) > 0.5
    assert 0.05 < grains.mean() < 0.6  # grains on a visible stub
    v = sig.values[0]
    # the stub is not black: coated and lit, mid-grey like the grain faces
    assert np.median(v[~grains]) > 0.3 * np.median(v[grains])


# --------------------------------------------------------------------------- SEM: backscatter


@pytest.mark.parametrize(("z", "measured"), [(6, 0.06), (13, 0.15), (29, 0.30), (47, 0.40),
                                             (79, 0.50)])
def test_bse_coefficient_follows_the_measured_values(z: int, measured: float) -> None:
    """η at normal incidence for C, Al, Cu, Ag, Au (Heinrich 1966, as tabulated by
    Goldstein et al., ch. 3), within 0.03, from Reuter's fit."""
    assert sem.eta(z) == pytest.approx(measured, abs=0.03)


def test_bse_signal_increases_with_atomic_number_on_a_flat_multi_material_specimen() -> None:
    """Four flat strips: carbon, silica, copper, gold. The BSE image orders them by Z, each
    strip's signal in the ratio of Reuter's η (away from the boundaries' halo)."""
    px, n = 0.05, 400
    zs = (6.0, 10.5, 29.0, 79.0)
    z = np.repeat(np.array(zs, dtype=np.float32), n // 4)[None, :].repeat(n, axis=0)
    eta0 = sem.eta(z).astype(np.float32)
    sig = sem.backscatter(np.zeros_like(z), z, eta0, px, sem.ko_range_um(5.0))
    means = [float(sig[:, i * 100 + 40:i * 100 + 60].mean()) for i in range(4)]
    assert means == sorted(means) and means[0] < 0.5 * means[-1], means
    for m, zz in zip(means, zs, strict=True):
        assert m / means[0] == pytest.approx(sem.eta(zz) / sem.eta(6.0), rel=0.05), means


def test_bse_coated_half_is_brighter_most_at_low_kv_and_the_interaction_volume_blurs_it(
) -> None:
    """An organic specimen (Z̄ 6.5), its left half under 15 nm of gold: the coated half
    backscatters more, by far more at 5 kV (the film holds a larger part of the short
    range) than at 30 kV; the boundary spreads with the Kanaya–Okayama range."""
    px, n = 0.05, 400
    z = np.full((n, n), 6.5, dtype=np.float32)
    ratio, width = {}, {}
    for kv in (5.0, 30.0):
        eta0 = np.full_like(z, sem.eta(6.5))
        eta0[:, : n // 2] = sem.film_eta(6.5, 79.0, 19.3, 0.015, kv)
        sig = sem.backscatter(np.zeros_like(z), z, eta0, px, sem.ko_range_um(kv))
        row = sig[n // 2]
        ratio[kv] = float(row[20:40].mean() / row[-40:-20].mean())
        lo, hi = float(row[-40:-20].mean()), float(row[20:40].mean())
        mid = (row - lo) / (hi - lo)
        width[kv] = int(((mid > 0.1) & (mid < 0.9)).sum())
    assert ratio[5.0] > 2.0, ratio  # gold's η 0.49 against tissue's 0.07
    assert 1.05 < ratio[30.0] < ratio[5.0], ratio
    assert width[30.0] > width[5.0], width


def test_topography_is_weaker_in_backscatter_than_in_secondary_electrons() -> None:
    """On one material, the steep walls of a mesa outshine its flat top by far in the SE
    image (δ ∝ sec θ, edge effect) but only slightly with the BSE detector above it."""
    h = _plateau()
    z = np.full_like(h, 6.5)
    se = _regions(sem.topography(h, np.ones_like(h), 0.05, 15.0, "in-lens"))
    bse = _regions(sem.backscatter(h, z, np.full_like(h, sem.eta(6.5)), 0.05,
                                   sem.ko_range_um(15.0)))
    se_contrast = se["wall_left"] / se["top_face"] - 1
    bse_contrast = bse["wall_left"] / bse["top_face"] - 1
    assert bse_contrast < 0.25 * se_contrast, (se, bse)
    # and the symmetric detector shows no side shadow
    assert bse["wall_towards"] == pytest.approx(bse["wall_away"], rel=0.02), bse


def test_bse_shows_silica_frustules_brighter_than_the_carbon_tab_unless_coated(
        catalog: Catalog) -> None:
    """Uncoated diatoms: silica (Z̄ 10.5) backscatters about twice as much as the carbon
    tab (Z 6); under a gold coat the atomic-number contrast is masked by the film."""
    ratios = {}
    for stain in ("none", "gold-coating"):
        req = canonicalize_microscope({"instrument": "benchtop-sem", "objective": 1000,
                                       "specimen": "diatom-frustule-sem", "stain": stain,
                                       "detector": "bse", "size": 256}, catalog)
        s, scene, sig, _ = simulate(req, catalog)
        valve = np.asarray(s.crop(scene.labels["centric"])) > 0.5
        v = sig.values[0]
        ratios[stain] = float(np.median(v[valve]) / np.median(v[~valve]))
        assert sig.channels == ("BSE",)
    assert ratios["none"] > 1.4, ratios
    assert ratios["gold-coating"] < ratios["none"] - 0.2, ratios


# --------------------------------------------------------------------------- SEM: working distance


def _half_sharp_defocus(catalog: Catalog, wd: float) -> float:
    """Defocus (µm) at which the image's gradient energy has fallen to half its in-focus
    value, interpolated on a 2 µm grid."""
    scene = None
    dz = np.arange(0.0, 90.0, 2.0)
    e = []
    for z in dz:
        req = canonicalize_microscope({"instrument": "sem-tungsten", "objective": 2000,
                                       "specimen": "diatom-frustule-sem", "size": 256,
                                       "wd_mm": wd, "focus_um": float(z)}, catalog)
        _s, scene, sig, _ = simulate(req, catalog, scene)
        g = np.diff(sig.values[0], axis=1)
        e.append(float((g * g).mean()))
    rel = np.array(e) / e[0]
    i = int(np.argmax(rel < 0.5))
    assert i > 0, rel
    return float(np.interp(0.5, [rel[i], rel[i - 1]], [dz[i], dz[i - 1]]))


def test_sem_depth_of_field_doubles_when_the_working_distance_doubles(
        catalog: Catalog) -> None:
    """α = aperture radius / WD: at 20 mm the beam converges half as steeply as at 10 mm,
    so the defocus that blurs the image equally is twice as large, and the reported depth
    of field (resolution / α) doubles."""
    d10, d20 = _half_sharp_defocus(catalog, 10.0), _half_sharp_defocus(catalog, 20.0)
    assert d20 / d10 == pytest.approx(2.0, rel=0.10), (d10, d20)
    info = {wd: render(canonicalize_microscope(
        {"instrument": "sem-tungsten", "specimen": "diatom-frustule-sem", "size": 256,
         "wd_mm": wd}, catalog)).info for wd in (10.0, 20.0)}
    assert info[20.0]["dof_um"] / info[10.0]["dof_um"] == pytest.approx(2.0, rel=0.01)
    assert info[20.0]["convergence_mrad"] == pytest.approx(2.5, rel=1e-6)


def test_sem_everhart_thornley_shadows_shorten_at_long_working_distance() -> None:
    """The side detector sits at the height of the pole piece: at a long working distance
    it looks down more steeply (atan(WD / 12 mm)), so the shadow behind relief is shorter
    and fainter; at a short one the pole piece screens its field and it collects less."""
    h = _plateau()
    behind = {}
    for wd in (5.0, 30.0):
        sig = sem.topography(h, np.ones_like(h), 0.05, 15.0, "everhart-thornley", wd)
        r = _regions(sig)
        behind[wd] = r["ground_behind"] / r["ground_far"]
    assert behind[5.0] < behind[30.0] - 0.05, behind
    assert sem.collection("everhart-thornley", 5.0) < 1.0 < sem.collection(
        "everhart-thornley", 30.0)
    assert sem.collection("in-lens", 5.0) > 1.0 > sem.collection("in-lens", 30.0)
    # a flat annulus above the specimen subtends less at a longer distance
    assert sem.collection("backscatter", 20.0) < 0.5


# --------------------------------------------------------------------------- TEM


def _wavelength_nm(kv: float) -> float:
    h, m, e, c = 6.62607015e-34, 9.1093837015e-31, 1.602176634e-19, 299792458.0
    v = kv * 1e3
    return h / math.sqrt(2 * m * e * v * (1 + e * v / (2 * m * c * c))) * 1e9


def test_electron_wavelengths_match_the_catalog(catalog: Catalog) -> None:
    for iid in ("tem-120kv", "tem-200kv", "cryo-em"):
        light = catalog.instruments[iid].light  # type: ignore[union-attr]
        assert tem.electron_wavelength_nm(light.accelerating_voltage_kv) == pytest.approx(
            light.wavelength_nm, rel=2e-3)


@pytest.mark.parametrize(("instrument", "objective", "focus_um"), [
    ("tem-120kv", 250000, -1.0),
    ("tem-200kv", 200000, -0.6),
])
def test_tem_first_ctf_zero_where_the_formula_puts_it(catalog: Catalog, instrument: str,
                                                      objective: float,
                                                      focus_um: float) -> None:
    """Thon rings: the power spectrum of an underfocused image of the amorphous section has
    its first minimum where sin χ = 0, χ(k) = π λ Δf k² − ½ π Cs λ³ k⁴ = π, with the
    relativistic λ of the instrument's voltage, Cs from its point resolution
    (d = 0.66 Cs^¼ λ^¾) and Δf the underfocus; within 5 %."""
    inst = catalog.instruments[instrument]
    kv = inst.light.accelerating_voltage_kv  # type: ignore[union-attr]
    res = inst.objective(objective).resolution_nm  # type: ignore[union-attr]
    lam = _wavelength_nm(kv)
    cs = (res / (0.66 * lam**0.75)) ** 4
    df = -focus_um * 1000.0
    x = (lam * df - math.sqrt((lam * df) ** 2 - 2 * cs * lam**3)) / (cs * lam**3)
    k0 = math.sqrt(x)
    req = canonicalize_microscope({"instrument": instrument, "objective": objective,
                                   "specimen": "tem-cell-ultrastructure", "size": 512,
                                   "focus_um": focus_um}, catalog)
    s, _scene, sig, _ = simulate(req, catalog)
    img = sig.values[0].astype(np.float64)
    img = img - img.mean()
    ps = np.abs(np.fft.fft2(img * np.outer(np.hanning(img.shape[0]),
                                           np.hanning(img.shape[1])))) ** 2
    px_nm = s.px_um * 1000.0
    ky = np.fft.fftfreq(img.shape[0], d=px_nm)
    kx = np.fft.fftfreq(img.shape[1], d=px_nm)
    k = np.hypot(ky[:, None], kx[None, :])
    dk = 1.0 / (img.shape[1] * px_nm)
    # the window holds the first zero only: the next (χ = 2π) lies at ≈ √2 k0
    bins = np.arange(0.7 * k0, 1.25 * k0, dk)
    idx = np.digitize(k.ravel(), bins)
    prof = np.array([ps.ravel()[idx == i].mean() for i in range(1, len(bins))])
    centres = 0.5 * (bins[1:] + bins[:-1])
    found = centres[int(np.argmin(prof))]
    assert found == pytest.approx(k0, rel=0.05), (found, k0)
    assert found == pytest.approx(tem.first_zero_per_nm(lam, df, cs), rel=0.05)


def test_tem_defocus_draws_fresnel_fringes_at_an_edge() -> None:
    """A phase step seen underfocus: intensity overshoots next to the edge (a bright
    Fresnel fringe), while in focus the pure phase object shows (almost) no contrast."""
    n, px = 256, 1.0
    lam = tem.electron_wavelength_nm(120.0)
    cs = tem.cs_nm(0.38, lam)
    psi = np.ones((n, n), dtype=np.complex64)
    psi[:, n // 2:] *= np.exp(1j * 0.5)
    out = {}
    for df in (0.0, 2000.0):
        T = tem.transfer(n, n, px, lam, df, cs, 10.0)
        wave = np.fft.ifft2(np.fft.fft2(psi) * T)
        out[df] = (np.abs(wave) ** 2)[n // 4]
    assert np.ptp(out[0.0][n // 2 - 40:n // 2 + 40]) < 0.05
    assert np.ptp(out[2000.0][n // 2 - 40:n // 2 + 40]) > 0.2


# --------------------------------------------------------------------------- AFM


@pytest.mark.parametrize(("width_nm", "height_nm", "radius_nm"), [
    (10.0, 2.0, 8.0), (4.0, 2.0, 8.0), (20.0, 5.0, 12.0),
])
def test_afm_apparent_width_is_true_width_plus_tip_dilation(width_nm: float,
                                                            height_nm: float,
                                                            radius_nm: float) -> None:
    """A ridge of width w and height h < R scanned by a spherical tip of radius R images
    w + 2√(2Rh − h²) wide at its base and keeps its true height."""
    px = 0.5
    n = 400
    x = (np.arange(n) - n / 2 + 0.5) * px
    profile = np.where(np.abs(x) <= width_nm / 2, height_nm, 0.0)
    surface = np.tile(profile, (16, 1)).astype(np.float32)
    seen = tip_dilate(surface, px, radius_nm)[8]
    apparent = (seen > 0.01 * height_nm).sum() * px
    expected = width_nm + 2 * math.sqrt(2 * radius_nm * height_nm - height_nm**2)
    assert apparent == pytest.approx(expected, abs=2 * px)
    assert seen.max() == pytest.approx(height_nm, abs=1e-6)


def test_dna_on_mica_is_two_nanometres_high_and_tip_broadened(catalog: Catalog) -> None:
    req = canonicalize_microscope({"instrument": "afm", "specimen": "dna-afm",
                                   "objective": 200000, "size": 512}, catalog)
    s, scene, sig, _ = simulate(req, catalog)
    strand = np.asarray(s.crop(scene.labels["plasmid"])) > 0.5  # the molecule at (0, 0)
    assert strand.any()
    h = sig.values[0]
    assert float(np.median(h[strand])) == pytest.approx(2.0, abs=0.2)  # 2 nm B-DNA
    # apparent width ≫ 2 nm: the tip (8 nm) broadens the strand to ~2√(2Rh) ≈ 11 nm
    wide = (h > 0.5).sum() / max(strand.sum(), 1)
    assert wide > 3.0


def test_dna_chains_have_the_persistence_length_of_dna() -> None:
    """Linear worm-like chains in 2-D: ⟨cos Δθ(s)⟩ = exp(−s / 2Lp) along the contour, for
    Lp = 50 nm (Hagerman 1988), within 10 % over 2000 chains."""
    from micro.core.microscope.generators.surfaces import wlc_chains
    from micro.core.microscope.lattice import uniforms

    lp, L, m = 0.05, 0.9, 64
    n = 2000
    u = uniforms(1234, np.arange(n), np.zeros(n, dtype=np.int64), 8 + m)
    _, _, sx, sy = wlc_chains(u, L, m, lp, circular=False)
    th = np.arctan2(sy, sx)
    seg = L / m
    for k in (4, 8, 16):  # 56, 112, 225 nm apart along the chain
        c = float(np.cos(th[:, k:] - th[:, :-k]).mean())
        assert c == pytest.approx(math.exp(-k * seg / (2 * lp)), rel=0.1), (k, c)


def test_dna_at_low_magnification_is_its_statistical_image(catalog: Catalog) -> None:
    """A brightfield 10× view of 2 million plasmids per mm² renders as a density field:
    the total strand area matches density × area × presence × contour × 2 nm within 5 %."""
    req = canonicalize_microscope({"instrument": "student-compound", "specimen": "dna-afm",
                                   "objective": 10, "size": 256}, catalog)
    s, scene, _sig, _ = simulate(req, catalog)
    pop = catalog.specimens["dna-afm"].populations[0]
    lab = scene.labels["plasmid"]
    area_um2 = lab.size * s.px_um**2
    expected = (pop.density_per_mm2 * 1e-6 * area_um2 * float(pop.params["presence"])
                * float(pop.params["contour_um"]) * 0.002)
    assert float(lab.sum()) * s.px_um**2 == pytest.approx(expected, rel=0.05)


# --------------------------------------------------------------------------- stereo


def _sharpness(img: np.ndarray, mask: np.ndarray) -> float:
    from scipy import ndimage

    g = ndimage.gaussian_laplace(img.mean(axis=2), 1.0)
    return float((g[mask] ** 2).mean())


def test_stereo_sharpness_follows_the_depth_of_field(catalog: Catalog) -> None:
    """The facets of the fly's eye at the autofocus height stay sharp within a fraction of
    the depth of field and blur several depths of field away."""
    import io

    from PIL import Image

    base = {"instrument": "stereo-zoom", "specimen": "compound-eye-sem", "stain": "none",
            "objective": 5.5, "size": 512, "format": "png", "scale_bar": "off"}
    req = canonicalize_microscope(base, catalog)
    s, scene, sig, _ = simulate(req, catalog)
    res = render(req)
    dof = res.info["dof_um"]
    _img, height, z_ref = st._surface(scene, s, _coefficients(catalog, req.stain,
                                                              req.specimen))
    band = np.abs(np.asarray(s.crop(height)) - z_ref) < 0.1 * dof
    assert band.sum() > 500

    def sharp(focus: float) -> float:
        r = render(canonicalize_microscope({**base, "focus_um": focus}, catalog))
        img = np.asarray(Image.open(io.BytesIO(r.image)).convert("RGB"), dtype=np.float64)
        return _sharpness(img, band)

    s0 = sharp(0.0)
    assert sharp(round(dof / 4 / 0.05) * 0.05) > 0.75 * s0
    assert sharp(round(4 * dof / 0.05) * 0.05) < 0.5 * s0
    del sig
