"""Stage 2a — from structure classes and a stain to physical quantities per depth layer.

Each structure class contributes, per unit amount: optical density over (R, G, B) (its own
pigment plus every dye the stain puts on it — Beer–Lambert ODs add), optical path difference
against the mounting medium (µm), scattering, autofluorescence, fluorophore concentration per
dye, mass-thickness for electrons, and height for surface modes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from micro.core.microscope.scene import Layer
from micro.core.models import Dye, Specimen, Stain, StructureClass

BASE = ("od_r", "od_g", "od_b", "opd", "scatter", "autofl", "mass", "height", "se", "cover",
        "z", "density")
ORGANIC_Z = 6.5
"""Mean atomic number (mass-weighted) of dried biological matter, C–H–O–N: what a structure
with mass but no `mean_atomic_number` of its own backscatters as (SEM)."""
N_WATER = 1.333
N_DRY = 1.58
"""Refractive index of dry protein and nucleic acid: water plus the specific refraction
increment (≈ 0.185 ml/g, Barer & Joseph 1954) times the dry matter's density (≈ 1.35 g/ml)."""
CLEARED_CATEGORIES = ("histology", "pathology")
MICROTOME_MAX_UM = 20.0
"""Tissue sections of these categories cut no thicker than this are paraffin sections (a
microtome cuts them at 3–10 µm): dewaxed, dehydrated through alcohols, cleared in xylene and
mounted in a resin, so the water in every structure is replaced by the mountant. A ground
section of undecalcified bone (50–100 µm) is not: its mineral keeps scattering."""
EXTRACTED = ("lipid",)
"""Classes the alcohols and xylene of paraffin processing dissolve: in a cleared section they
hold mountant (the empty fat cells of an H&E section)."""


def is_cleared_section(specimen: Specimen) -> bool:
    """Whether the specimen is a cleared paraffin section (see MICROTOME_MAX_UM)."""
    return (specimen.category in CLEARED_CATEGORIES
            and specimen.thickness_um <= MICROTOME_MAX_UM)


def mounted_index(n: float, medium_n: float) -> float:
    """Refractive index of a hydrated structure (index `n` in water) once its water is
    replaced by a mountant of index `medium_n` (Gladstone–Dale: indices mix by volume). Its
    water fraction is w = (N_DRY − n)/(N_DRY − N_WATER), so n' = n + w·(medium_n − N_WATER).
    Cytoplasm (1.36 in water) becomes 1.522 in a 1.515 resin: a mounted section is all but
    invisible unstained — what clearing is for."""
    w = min(max((N_DRY - n) / (N_DRY - N_WATER), 0.0), 1.0)
    return n + w * (medium_n - N_WATER)


@dataclass(frozen=True)
class Coefficients:
    names: tuple[str, ...]
    """Quantity names: BASE, then one 'fl:<dye>' per fluorophore of the stain."""
    table: dict[str, np.ndarray]
    """Structure class → coefficient per quantity (len(names),)."""
    background: np.ndarray
    """Coefficients of dye lying where no structure is (negative stains)."""
    everywhere: np.ndarray
    """Coefficients of a film over everything (SEM coatings)."""
    fluorophores: tuple[Dye, ...]


def coefficients(stain: Stain, structures: Mapping[str, StructureClass],
                 medium_n: float, section_um: float, cleared: bool = False) -> Coefficients:
    """Per-class coefficients; path lengths are cut to the section thickness `section_um`
    (a 5 µm section holds 5 µm of a 12 µm cell; a 70 nm TEM section holds 70 nm). In a
    `cleared` section the structures' refractive indices are those with their water replaced
    by the mountant (`mounted_index`), and their scattering, which goes as the square of the
    index contrast with their surroundings (Rayleigh–Gans), falls with it: cytoplasm scatters
    ~7 % of what it does in water. (Refraction and scattering take light from every colour
    alike: left at their hydrated values they added a grey absorbance at every edge, which is
    not an H&E colour — rgb2hed read it as DAB.)"""
    fluor = tuple(d for d in stain.dyes if d.emission_nm is not None)
    names = BASE + tuple(f"fl:{d.id}" for d in fluor)
    col = {n: i for i, n in enumerate(names)}
    dyes = {d.id: d for d in stain.dyes}

    def add_dye(vec: np.ndarray, dye: Dye, amount: float, thickness: float) -> None:
        if dye.od_rgb is not None:
            vec[0:3] += amount * np.asarray(dye.od_rgb)
        if dye.emission_nm is not None:
            vec[col[f"fl:{dye.id}"]] += amount
        if dye.electron_density is not None:
            vec[col["mass"]] += amount * dye.electron_density * thickness

    table = {}
    for cid, p in structures.items():
        path = min(p.thickness_um, section_um)
        v = np.zeros(len(names))
        v[0:3] = p.intrinsic_od_rgb
        n = p.refractive_index
        scattering = p.scattering
        if cleared and cid in EXTRACTED:
            n, scattering = medium_n, 0.0
            v[0:3] = 0.0
        elif cleared and n > N_WATER:
            mounted = mounted_index(n, medium_n)
            fall = ((mounted - medium_n) / (n - N_WATER)) ** 2
            scattering *= fall
            # an unpigmented structure's grey 'absorbance' is light it scatters out of the
            # objective: it falls with the scattering (a pigment's colour stays)
            grey = min(p.intrinsic_od_rgb)
            v[0:3] -= grey * (1.0 - fall)
            n = mounted
        v[col["opd"]] = (n - medium_n) * path
        v[col["scatter"]] = scattering
        v[col["autofl"]] = p.autofluorescence
        v[col["mass"]] = p.electron_density * path
        v[col["height"]] = p.height_um or p.thickness_um
        v[col["se"]] = p.secondary_electron_yield
        v[col["cover"]] = 1.0
        # Z̄ and density (g/cm³ ≈ mass-thickness per µm) for SEM backscatter; the relief
        # class carries no material (electron_density 0), so no Z̄ either
        v[col["z"]] = (p.mean_atomic_number if p.mean_atomic_number is not None
                       else ORGANIC_Z if p.electron_density > 0 else 0.0)
        v[col["density"]] = p.electron_density
        for a in stain.affinities:
            if a.structure == cid:
                add_dye(v, dyes[a.dye], a.amount, path)
        table[cid] = v
    background = np.zeros(len(names))
    everywhere = np.zeros(len(names))
    for a in stain.background:
        target = everywhere if stain.type == "coating" else background
        add_dye(target, dyes[a.dye], a.amount, 0.02)
    return Coefficients(names, table, background, everywhere, fluor)


def layer_quantities(layer: Layer, coef: Coefficients, want: tuple[str, ...]) -> np.ndarray:
    """(len(want), H, W) float32: the requested quantities of one layer."""
    idx = [coef.names.index(w) for w in want]
    classes = list(layer.amounts)
    if not classes:
        h, w = layer.shape
        out = np.zeros((len(idx), h, w), dtype=np.float32)
        bg = coef.background[idx]
        return out + bg[:, None, None].astype(np.float32)
    h, w = layer.shape
    flat = (layer.stack if layer.stack is not None
            else np.stack([layer.amounts[c].ravel() for c in classes]))  # (C, H·W)
    mat = np.stack([coef.table[c][idx] for c in classes]).astype(np.float32)  # (C, K)
    # Σ_c mat[c, k]·flat[c] class by class, in float32, in this one order: einsum's own loop
    # (not BLAS, whose sum order and kernels change with its thread count and so would change
    # the last bits of a render between a 1-thread build worker and a 2-thread API process)
    out = np.einsum("ck,cn->kn", mat, flat, optimize=False).reshape(len(idx), h, w)
    bg = coef.background[idx]
    if np.any(bg):
        coverage = np.clip(flat.sum(axis=0).reshape(h, w), 0.0, 1.0)
        out += bg[:, None, None].astype(np.float32) * (1.0 - coverage)[None]
    return out

