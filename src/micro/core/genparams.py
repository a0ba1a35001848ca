"""Parameter models of the scene generators: what a population's `params` may hold.

A light module (pydantic only) that the catalog consults at load, so a misspelt key in a
specimen's `params` is an error naming the file, the entry and the field instead of a
default used in silence — without the catalog importing the renderers. The generators
(`micro.core.microscope.generators`) read their parameters through the same models
(`Ctx.params()`), so each default is written once, here.

`GENERATORS` names every scene generator; `micro.core.microscope.registry.generator` refuses
a name that is not listed (the two cannot drift apart). A generator with a model in `PARAMS`
accepts exactly that model's fields; every listed generator has one (a test checks it).

Generators that read their parameters one at a time (`Ctx.p(name)`) get the value
validated by their model, or the model's default when the population does not set it;
`Ctx.p` refuses a name the model does not list, so a model cannot silently miss a key its
generator reads. A default of None means the generator computes one (its description
says how).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

GENERATORS = frozenset({
    "adipose", "alveoli", "amoeba", "bacteria", "beads", "cardiac-muscle", "cartilage",
    "cells", "compound-eye", "crystals", "cultured-cells", "diatom", "diatom-surface",
    "dicot-stem", "dna", "euglena", "granite", "hyaline-cartilage", "kidney", "leukocyte",
    "liver", "micrometer", "monocot-stem", "neurons", "osteon", "paramecium", "plant-cells",
    "platelet", "pollen", "pollen-surface", "rbc", "root-tip", "septa", "skeletal-muscle",
    "skin", "smooth-muscle", "spinal-cord", "starch", "stub", "tem-cells", "tissue",
    "usaf-1951", "vessels", "villi", "volvox",
})
"""Every scene generator's name (the renderers register their functions under these)."""


class GeneratorParams(BaseModel):
    """Base of every generator's parameters: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=type[GeneratorParams])
PARAMS: dict[str, type[GeneratorParams]] = {}


def params_for(*names: str) -> Callable[[P], P]:
    """Register a model as the parameters of the generators `names`."""

    def register(model: P) -> P:
        for name in names:
            if name not in GENERATORS:
                raise ValueError(f"no scene generator {name!r} (micro.core.genparams)")
            PARAMS[name] = model
        return model

    return register


def validate(generator: str, params: Mapping[str, Any]) -> GeneratorParams | None:
    """The generator's parameters as its model (None: it has no model yet). Raises
    pydantic's ValidationError on an unknown key or a value of the wrong type."""
    model = PARAMS.get(generator)
    return None if model is None else model.model_validate(dict(params))


def problems(generator: str, params: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """(field, message, allowed) of every problem in `params`; empty when they are fine."""
    model = PARAMS.get(generator)
    if model is None:
        return []
    try:
        model.model_validate(dict(params))
    except ValidationError as exc:
        out: list[tuple[str, str, Any]] = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                out.append((field, f"unknown parameter of generator {generator!r}",
                            sorted(model.model_fields)))
            else:
                out.append((field, err["msg"], (err.get("ctx") or {}).get("expected")))
        return out
    return []


Um = float
"""A length in micrometres."""
Fraction = float
Share = Annotated[float, Field(ge=0, le=1)]
"""A probability or share, 0..1."""
Amount = Annotated[float, Field(ge=0)]
"""Relative amount of material (scales the structure's optical quantities)."""
Range = Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=2, max_length=2)]
"""[low, high] in µm."""
Point = Annotated[list[float], Field(min_length=2, max_length=2)]
"""[x, y] on the slide, µm."""


# --------------------------------------------------------------------------- calibration

@params_for("beads")
class BeadsParams(GeneratorParams):
    """Sub-resolution beads: a random field, a grid of singles and a ladder of pairs."""

    keep_clear_um: Um = Field(12.0, ge=0, description="Random beads keep this far from "
                              "the ladder's line.")
    amount: float = Field(1.0, gt=0, description="Dye per bead (relative).")
    ladder_min_um: Um = Field(0.05, gt=0, description="Smallest pair separation.")
    ladder_max_um: Um = Field(2.0, gt=0, description="Largest pair separation.")
    ladder_step_um: Um = Field(0.01, gt=0, description="Separation step along the ladder.")
    ladder_pitch_um: Um = Field(6.0, gt=0, description="Distance between pairs.")
    ladder_x0_um: Um = Field(0.0, description="x of the first pair (and of the grid).")
    ladder_y_um: Um = Field(0.0, description="y of the ladder's line.")
    grid_pitch_um: Um = Field(10.0, gt=0, description="Pitch of the grid of single beads.")
    grid_n: int = Field(21, ge=0, le=1000, description="Singles per grid side.")
    grid_y0_um: Um = Field(20.0, description="y of the grid's first row.")


@params_for("usaf-1951")
class UsafParams(GeneratorParams):
    """The USAF 1951 resolution target."""

    group_min: int = Field(-2, ge=-2, le=9, description="Coarsest group drawn.")
    group_max: int = Field(7, ge=-2, le=9, description="Finest group drawn.")


@params_for("micrometer")
class MicrometerParams(GeneratorParams):
    """A stage micrometer: 1 mm in 10 µm divisions by default."""

    division_um: Um = Field(10.0, gt=0, description="Spacing of the rulings.")
    divisions: int = Field(100, ge=1, le=10_000, description="Number of divisions.")
    line_width_um: Um = Field(1.5, gt=0, description="Width of a ruling.")
    line_length_um: Um = Field(30.0, gt=0, description="Length of a short ruling.")
    base_y_um: Um = Field(0.0, description="y of the base line the rulings stand on.")


# --------------------------------------------------------------------------- tissues

@params_for("adipose", "cartilage")
class NoParams(GeneratorParams):
    """A generator without parameters: its population's `params` must be empty."""


@params_for("alveoli")
class AlveoliParams(GeneratorParams):
    septum_um: Um = Field(5.0, gt=0, description="Mean thickness of an alveolar septum.")


@params_for("spinal-cord")
class SpinalCordParams(GeneratorParams):
    cord_um: Um = Field(4000.0, gt=0, description="Height of the cord's cross-section.")


@params_for("kidney")
class KidneyParams(GeneratorParams):
    tubule_um: Um = Field(50.0, gt=0, description="Mean tubule diameter: the profiles' "
                          "spacing; proximal profiles span 1.0–1.3×, distal 0.75–0.95× it.")
    proximal: Fraction = Field(0.75, ge=0, le=1, description="Share of proximal tubules.")


@params_for("skin")
class SkinParams(GeneratorParams):
    surface_um: Um = Field(-150.0, description="y of the skin's surface.")
    corneum_um: Um = Field(60.0, ge=0, description="Thickness of the stratum corneum.")
    depth_um: Um = Field(2000.0, gt=0, description="Depth of the section below the surface.")


@params_for("villi")
class VilliParams(GeneratorParams):
    pitch_um: Um = Field(190.0, gt=0, description="Spacing of the villi.")
    base_um: Um = Field(150.0, description="y of the villi's base.")
    height_um: Um = Field(600.0, gt=0, description="Height of a villus.")
    width_um: Um = Field(110.0, gt=0, description="Width of a villus.")
    crypt_um: Um = Field(260.0, ge=0, description="Depth of the crypts.")


@params_for("liver")
class LiverParams(GeneratorParams):
    lobule_um: Um = Field(900.0, gt=0, description="Lobule diameter.")
    pitch_um: Um = Field(27.0, gt=0, description="Spacing of hepatocyte plates.")
    tract_um: Um = Field(90.0, gt=0, description="Portal tract size.")
    septa: Fraction = Field(0.0, ge=0, le=1, description="Fibrous septa (0 none, 1 "
                            "cirrhotic).")
    septum_um: Um = Field(40.0, gt=0, description="Septum width.")
    disorder: Fraction = Field(0.0, ge=0, le=1, description="Disorder of the lobules.")


# --------------------------------------------------------------------------- botany

@params_for("starch")
class StarchParams(GeneratorParams):
    presence: Fraction = Field(1.0, ge=0, le=1, description="Share of lattice sites with a "
                               "grain.")
    rings: int = Field(5, ge=0, le=50, description="Growth rings per grain.")


@params_for("pollen")
class PollenParams(GeneratorParams):
    kind: Literal["echinate", "tricolpate", "saccate"] = Field(
        "echinate", description="Spiny (sunflower), three furrows, or a body with two air "
        "bladders (pine).")
    spines: int = Field(28, ge=0, le=500, description="Spines of an echinate grain.")
    presence: Fraction = Field(1.0, ge=0, le=1, description="Share of lattice sites with a "
                               "grain.")


@params_for("dicot-stem")
class DicotStemParams(GeneratorParams):
    bundles: int = Field(16, ge=1, le=200, description="Vascular bundles in the ring.")
    ring_frac: Fraction = Field(0.74, gt=0, lt=1, description="Radius of the bundle ring "
                                "over the stem's.")


@params_for("monocot-stem")
class MonocotStemParams(GeneratorParams):
    rind_um: Um = Field(60.0, ge=0, description="Thickness of the rind.")
    bundle_spacing_um: Um = Field(230.0, gt=0, description="Spacing of the scattered "
                                  "bundles.")


# --------------------------------------------------------------------------- fibres, vessels

@params_for("septa")
class SeptaParams(GeneratorParams):
    wavy: float = Field(0.5, ge=0, description="Waviness of the septa.")
    width_um: Um = Field(25.0, gt=0, description="Mean septum width.")
    nucleus_spacing_um: Um = Field(14.0, gt=0, description="Spacing of fibroblast nuclei.")


@params_for("vessels")
class VesselsParams(GeneratorParams):
    presence: Fraction = Field(1.0, ge=0, le=1, description="Share of lattice sites with a "
                               "vessel.")
    within_tissue: bool = Field(False, description="Only where the section has tissue.")
    wall_um: Um = Field(4.0, gt=0, description="Vessel wall thickness.")
    rbc_fill: Fraction = Field(0.4, ge=0, le=1, description="How full of red cells a lumen "
                               "is.")


# --------------------------------------------------------------------------- minerals

@params_for("granite")
class GraniteParams(GeneratorParams):
    grain_um: Um = Field(400.0, gt=0, description="Mean mineral grain size.")
    fractions: list[float] = Field(
        default_factory=lambda: [0.32, 0.28, 0.2, 0.1, 0.07, 0.03],
        description="Modal fractions of the minerals, in the generator's order.")
    undulose_deg: float = Field(18.0, ge=0, description="Undulose extinction of quartz.")
    cleavage_um: Um = Field(5.0, gt=0, description="Spacing of cleavage traces.")
    twin_um: Um = Field(12.0, gt=0, description="Width of albite twin lamellae.")


@params_for("crystals")
class CrystalsParams(GeneratorParams):
    needles: int = Field(24, ge=0, le=1000, description="Needles per crystal cluster.")
    presence: Fraction = Field(1.0, ge=0, le=1, description="Share of lattice sites with a "
                               "cluster.")
    width_um: Um = Field(3.0, gt=0, description="Needle width.")


# --------------------------------------------------------------------------- cultures, TEM

class AnchorParams(GeneratorParams):
    """Parameters of a generator that places structures at fixed stage positions too
    (`micro.core.microscope.generators.blood.anchored`)."""

    anchor: list[float] = Field(default_factory=list, description="Stage positions (µm) "
                                "that always hold one structure: x, y pairs in one list.")

    @field_validator("anchor")
    @classmethod
    def _pairs(cls, value: list[float]) -> list[float]:
        if len(value) % 2:
            raise ValueError("anchor must hold x, y pairs (an even number of values)")
        return value


@params_for("cultured-cells")
class CulturedCellsParams(AnchorParams):
    fibres: int = Field(22, ge=0, le=1000, description="Actin stress fibres per cell.")
    mito_tubules: int = Field(44, ge=0, le=1000, description="Mitochondrial tubules per "
                              "cell.")
    presence: Fraction = Field(1.0, ge=0, le=1, description="Share of lattice sites with a "
                               "cell.")
    actin_z_um: Um = Field(0.1, description="Depth of the actin layer.")
    mito_z_um: Um = Field(1.2, description="Depth of the mitochondria.")
    nucleus_z_um: Um = Field(3.0, description="Depth of the nucleus.")


@params_for("neurons")
class NeuronsParams(AnchorParams):
    dendrite_um: Um = Field(120.0, gt=0, description="Dendrite length.")
    axon_um: Um = Field(600.0, gt=0, description="Axon length.")
    presence: Fraction = Field(1.0, ge=0, le=1, description="Share of lattice sites with a "
                               "neuron.")


@params_for("tem-cells")
class TemCellsParams(GeneratorParams):
    cell_um: Um = Field(12.0, gt=0, description="Cell diameter.")
    nucleus_frac: Fraction = Field(0.32, gt=0, lt=1, description="Nucleus radius over the "
                                   "cell's.")
    mito_spacing_um: Um = Field(1.6, gt=0, description="Spacing of mitochondria.")
    rer_spacing_um: Um = Field(2.2, gt=0, description="Spacing of rough ER stacks.")


# --------------------------------------------------------------------------- plants, muscle
# (bounds not yet stated)

@params_for("root-tip")
class RootTipParams(GeneratorParams):
    cell_um: float = 18.0
    width_um: float = 450.0
    tip_um: float = 350.0
    cap_um: float = 150.0
    meristem_um: float = 900.0
    nucleus_amount: float = 1.0


@params_for("plant-cells")
class PlantCellsParams(GeneratorParams):
    cell_um: float = 22.0
    aspect: float = 3.5
    angle_deg: float = 10.0
    jitter: float = 0.35
    wall_um: float = 1.5
    wall_amount: float = 1.0
    cytoplasm_amount: float = 0.5
    nucleus_prob: float = 0.9
    nucleus_um: float = 15.0
    nucleus_amount: float = 0.8


@params_for("skeletal-muscle")
class SkeletalMuscleParams(GeneratorParams):
    angle_deg: float = 15.0
    perimysium_prob: float = 0.12
    endomysium_um: float = 1.5
    chatter: float = 0.0
    fold_prob: float = 0.15
    sarcomere_um: float = 2.4
    a_band_duty: float = 0.64
    nucleus_spacing_um: float = 24.0


@params_for("cardiac-muscle")
class CardiacMuscleParams(GeneratorParams):
    angle_deg: float = -12.0
    gap_um: float = 2.0
    cell_um: float = 85.0
    chatter: float = 0.05
    fold_prob: float = 0.15
    sarcomere_um: float = 2.2


@params_for("smooth-muscle")
class SmoothMuscleParams(GeneratorParams):
    fascicle_um: float = 260.0
    septum_um: float = 5.0
    angle_deg: float = 20.0
    cross_prob: float = 0.3
    cell_um: float = 110.0
    chatter: float = 0.1
    fold_prob: float = 0.1


# --------------------------------------------------------------------------- generic tissue

@params_for("tissue")
class TissueParams(GeneratorParams):
    """A tissue of cells in a Voronoi layout (`generators/tissue.py` says what each does)."""

    cell_um: Um = Field(20.0, gt=0, description="Cell diameter.")
    aspect: float = Field(1.0, gt=0, description="Elongation of the cells.")
    angle_deg: float = Field(0.0, description="Direction of the elongation.")
    jitter: Fraction = Field(0.85, ge=0, le=1, description="Irregularity of the layout.")
    lumen_frac: Fraction = Field(0.0, ge=0, le=1, description="Cells left empty or filled "
                                 "with part 'lumen'.")
    wall_um: Um = Field(0.8, ge=0, description="Wall or membrane thickness.")
    region_um: Um = Field(0.0, ge=0, description="Scale of patches without tissue (0: none).")
    region_frac: Fraction = Field(0.3, ge=0, le=1, description="Share of those patches.")
    texture_um: Um = Field(0.0, ge=0, description="Granular texture scale (0: none).")
    body_amount: float = Field(1.0, ge=0, description="Cytoplasm amount.")
    inclusion_amount: float = Field(0.3, ge=0, description="Glycogen, lipid or pigment "
                                    "within the cytoplasm (part 'inclusion').")
    wall_amount: float = Field(1.0, ge=0, description="Wall amount.")
    lumen_amount: float = Field(1.0, ge=0, description="Lumen contents amount.")
    nucleus_um: Um | None = Field(None, gt=0, description="Nucleus diameter (default: 0.3 "
                                  "of the cell).")
    nucleus_prob: Fraction = Field(0.9, ge=0, le=1, description="Share of cells with a "
                                   "nucleus in the section.")
    nucleus_amount: float = Field(1.0, ge=0, description="Nucleus amount.")


# --------------------------------------------------------------------------- cells, microbes

def _ordered(value: list[float]) -> list[float]:
    if value[0] > value[1]:
        raise ValueError("a [low, high] range must not decrease")
    return value


@params_for("cells")
class CellsParams(GeneratorParams):
    """Cells in a smear or a culture (`generators/cells.py`)."""

    granules: int = Field(0, ge=0, le=1000, description="Granules per cell (part 'granule').")
    granule_um: Um = Field(0.5, gt=0, description="Granule diameter.")
    granule_amount: Amount = 1.0
    organelles: int = Field(0, ge=0, le=1000, description="Organelles per cell (part "
                            "'organelle').")
    organelle_um: Range = Field(default_factory=lambda: [2.0, 0.5],
                                description="Organelle length and width.")
    organelle_amount: Amount = 1.0
    organelle_spread: Share = Field(0.85, description="How far from the centre organelles "
                                    "lie, over the cell's radius.")
    jitter: Share = Field(1.0, description="Irregularity of the lattice the cells sit on.")
    presence: Share = Field(1.0, description="Share of lattice sites with a cell.")
    cv: float = Field(0.12, ge=0, le=1, description="Coefficient of variation of the "
                      "diameter.")
    aspect: float = Field(1.15, gt=0, le=20, description="Largest elongation of a cell.")
    irregularity: float = Field(0.05, ge=0, le=1, description="Waviness of the outline.")
    sides: Annotated[list[Annotated[int, Field(ge=3, le=40)]],
                     Field(min_length=2, max_length=2)] | None = Field(
        None, description="Polygonal outline with this [min, max] number of sides "
        "(squames); none: a smooth outline.")
    uptake_spread: float = Field(0.15, ge=0, le=1, description="Cell-to-cell spread of "
                                 "stain uptake.")
    profile: Literal["flat", "dome", "lens", "biconcave", "rim", "cortex"] = Field(
        "lens", description="Thickness profile of the cell body.")
    texture_um: Um = Field(0.8, gt=0, description="Scale of the cytoplasm's texture.")
    texture: float = Field(0.15, ge=0, le=1, description="Strength of the texture.")
    body_amount: Amount = 1.0
    membrane_amount: Amount = 0.5
    folds: int = Field(0, ge=0, le=20, description="Folds per cell (squames).")
    bud_prob: Share = Field(0.0, description="Share of cells with a bud (yeast).")
    scars: int = Field(0, ge=0, le=50, description="Bud scars per budding cell.")
    nucleus_frac: float = Field(0.2, gt=0, le=1, description="Nucleus diameter over the "
                                "cell's.")
    nucleus_offset: Share = Field(0.15, description="Off-centre shift of the nucleus.")
    nucleus_aspect: float = Field(1.1, gt=0, le=10, description="Elongation of the nucleus.")
    nucleus_amount: Amount = 1.0
    nucleolus: bool = Field(True, description="Draw a nucleolus (part 'nucleolus').")
    adherent: int = Field(0, ge=0, le=1000, description="Bacteria stuck to each cell (clue "
                          "cells; part 'adherent').")
    capsule_um: Annotated[list[Annotated[float, Field(gt=0, le=50)]],
                          Field(min_length=2, max_length=2)] | None = Field(
        None, description="[min, max] capsule thickness, log-uniform per cell (part "
        "'capsule'; buds get 0.6 of their mother's); none: no capsule.")
    grains_per_100um2: float = Field(0.0, ge=0, le=1000, description="Negative-stain grains "
                                     "per 100 µm² of film outside every cell and capsule "
                                     "(part 'grain').")


@params_for("bacteria")
class BacteriaParams(GeneratorParams):
    """Bacteria: rods or cocci, single, in pairs, chains, clusters, palisades or cords."""

    shape: Literal["rod", "coccus"] = "rod"
    arrangement: Literal["single", "pairs", "chains", "clusters", "palisade", "cords"] = (
        "single")
    members: int = Field(8, ge=1, le=100, description="Cells per chain, cluster, palisade "
                         "or cord.")
    presence: Share = Field(1.0, description="Share of lattice sites with a group.")
    width_um: Um = Field(0.8, gt=0, description="Width of a rod.")
    bend: float = Field(0.25, ge=0, le=3.2, description="Bending of a chain (radians per "
                        "cell).")
    curvature: float = Field(0.0, ge=0, le=3.2, description="Angle between the two halves "
                             "of a rod (vibrios), radians.")
    divide_frac: Share = Field(0.12, description="Share of rods caught dividing.")
    beaded: bool = Field(False, description="Stain in beads (acid-fast bacilli).")
    spore_frac: Share = Field(0.0, description="Share of cells with an endospore.")
    spore_pos: Literal["central", "subterminal", "terminal"] = "central"
    spore_amount: Amount = Field(1.0, description="Amount of an endospore (part 'spore').")
    body_amount: Amount = 1.0


class PresenceParams(AnchorParams):
    """Free-swimming protists placed on the lattice (and at the anchors)."""

    presence: Share = Field(1.0, description="Share of lattice sites with an organism.")


@params_for("paramecium", "euglena", "amoeba")
class ProtistParams(PresenceParams):
    """Protists whose parts are drawn from size_um alone."""


@params_for("volvox")
class VolvoxParams(PresenceParams):
    cells: int = Field(900, ge=1, le=5000, description="Cells on the colony's surface.")
    cell_um: Um = Field(6.0, gt=0, description="Diameter of a cell.")


@params_for("diatom")
class DiatomParams(PresenceParams):
    shape: Literal["pennate", "centric"] = "pennate"
    stria_um: Um = Field(0.6, gt=0, description="Spacing of the striae.")
    plastids: int = Field(2, ge=0, le=50, description="Chloroplasts per cell.")
    frustule_amount: Amount = Field(0.8, description="Silica of the frustule.")


# --------------------------------------------------------------------------- blood

@params_for("rbc")
class RedCellParams(GeneratorParams):
    """Red cells of a blood film (`generators/blood.py`)."""

    mean_um: Um | None = Field(None, gt=0, description="Mean diameter (default: the middle "
                               "of size_um).")
    cv: float = Field(0.07, ge=0, le=1, description="Coefficient of variation of the "
                      "diameter.")
    packing: float = Field(0.9, gt=0, le=2, description="Closest approach over the diameter "
                           "in the monolayer.")
    smear_x_um: Annotated[list[float], Field(min_length=3, max_length=3)] | None = Field(
        None, description="[thick end, start of the feathered edge, edge] along x; none: "
        "a uniform monolayer. Platelets and white cells follow the same film.")
    presence: Share = 1.0
    body_amount: Amount = 1.0
    sickle_frac: Share = 0.0
    ring_frac: Share = Field(0.0, description="Share of cells with a malaria ring form.")
    double_frac: Share = Field(0.1, description="Share of infected cells with two rings.")
    trophozoite_frac: Share = 0.0
    gametocyte_frac: Share = 0.0
    gametocyte_at: list[float] | None = Field(
        None, description="Stage positions [x, y, ...] (µm) whose red cell holds a crescent "
        "gametocyte: a teaching example near the start of a film where they are rare.")

    @field_validator("gametocyte_at")
    @classmethod
    def _pairs(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and len(value) % 2:
            raise ValueError("gametocyte_at holds x, y pairs: an even number of values")
        return value

    @field_validator("smear_x_um")
    @classmethod
    def _increasing(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and not value[0] < value[1] < value[2]:
            raise ValueError("smear_x_um must increase: thick end < feather < edge")
        return value


@params_for("leukocyte")
class LeukocyteParams(AnchorParams):
    kind: Literal["neutrophil", "band", "eosinophil", "basophil", "monocyte",
                  "lymphocyte"] = "neutrophil"
    granules: int | None = Field(None, ge=0, le=1000, description="Granules per cell "
                                 "(default by kind: 90 neutrophil or band, 80 eosinophil, "
                                 "40 basophil, 0 otherwise).")
    granule_um: Um = Field(0.5, gt=0, description="Granule diameter.")
    granule_amount: Amount = 1.0
    body_amount: Amount = 0.8
    nucleus_amount: Amount = 1.0


@params_for("platelet")
class PlateletParams(GeneratorParams):
    presence: Share = 1.0
    body_amount: Amount = 0.8
    granule_amount: Amount = 1.0


# --------------------------------------------------------------------------- bone, cartilage

@params_for("osteon")
class OsteonParams(GeneratorParams):
    spacing_um: Um = Field(270.0, gt=0, description="Spacing of the osteon lattice.")
    canal_um: Range = Field(default_factory=lambda: [25.0, 55.0],
                            description="Range of Haversian canal diameters.")
    lamella_um: Um = Field(6.0, gt=0, description="Lamella thickness.")
    lacuna_spacing_um: Um = Field(28.0, gt=0, description="Spacing of the lacunae.")

    @field_validator("canal_um")
    @classmethod
    def _range(cls, value: list[float]) -> list[float]:
        return _ordered(value)


@params_for("hyaline-cartilage")
class HyalineCartilageParams(GeneratorParams):
    plate_um: Um = Field(1400.0, gt=0, description="Thickness of the cartilage plate.")
    perichondrium_um: Um = Field(45.0, ge=0, description="Thickness of the perichondrium.")
    curvature_per_mm: float = Field(0.15, ge=-10, le=10, description="Curvature of the "
                                    "plate, 1/mm.")
    offset_um: Um = Field(0.0, description="y of the plate's midline.")
    chatter: float = Field(0.08, ge=0, le=1, description="Knife chatter (section thickness "
                           "bands).")
    fold_prob: Share = Field(0.1, description="Chance of a section fold.")
    group_spacing_um: Um = Field(48.0, gt=0, description="Spacing of the isogenous groups.")
    presence: Share = Field(0.8, description="Share of lattice sites with a group.")


# --------------------------------------------------------------------------- surfaces (SEM, AFM)

@params_for("stub")
class StubParams(GeneratorParams):
    relief_um: Um = Field(0.8, ge=0, description="rms height of the carbon tab's relief.")
    scale_um: Um = Field(12.0, gt=0, description="Largest undulations of the relief.")


@params_for("compound-eye")
class CompoundEyeParams(GeneratorParams):
    facet_um: Um = Field(22.0, gt=0, description="Pitch of the corneal lenses.")
    lens_height_um: Um = Field(3.0, ge=0, description="Height of a lens dome.")


@params_for("diatom-surface")
class DiatomSurfaceParams(GeneratorParams):
    shape: Literal["centric", "pennate"] = "centric"
    stria_um: Um = Field(1.0, gt=0, description="Spacing of the rows of areolae.")
    areola_um: Um | None = Field(None, gt=0, description="Pore diameter (default: 0.45 of "
                                 "stria_um).")
    wall_um: Um = Field(0.8, gt=0, description="Valve thickness.")
    mantle_um: Um = Field(2.5, ge=0, description="Height of the rim.")
    presence: Share = 1.0
    anchor: Point | None = Field(None, description="A valve always lies here.")


@params_for("pollen-surface")
class PollenSurfaceParams(GeneratorParams):
    mix: Annotated[list[Annotated[float, Field(ge=0)]],
                   Field(min_length=3, max_length=3)] = Field(
        default_factory=lambda: [0.5, 0.2, 0.3],
        description="Shares of echinate, saccate and tricolpate grains.")
    echinate_um: Range = Field(default_factory=lambda: [25.0, 35.0])
    saccate_um: Range = Field(default_factory=lambda: [45.0, 65.0])
    tricolpate_um: Range = Field(default_factory=lambda: [20.0, 30.0])
    spine_um: Um = Field(3.5, ge=0, description="Spine length.")
    spine_spacing_um: Um = Field(5.5, gt=0, description="Spacing of the spines.")
    lumen_um: Um = Field(1.6, gt=0, description="Mesh of the reticulum.")
    anchor: Point | None = Field(None, description="A grain always lies here.")

    @field_validator("mix")
    @classmethod
    def _some(cls, value: list[float]) -> list[float]:
        if sum(value) <= 0:
            raise ValueError("mix needs at least one positive share")
        return value

    @field_validator("echinate_um", "saccate_um", "tricolpate_um")
    @classmethod
    def _ranges(cls, value: list[float]) -> list[float]:
        return _ordered(value)


@params_for("dna")
class DnaParams(GeneratorParams):
    contour_um: Um = Field(0.91, gt=0, description="Contour length of a molecule.")
    circular: bool = Field(True, description="Circular (plasmid) or linear.")
    persistence_nm: float = Field(50.0, gt=0, description="Persistence length.")
    presence: Share = 1.0
    anchor: Point | None = Field(None, description="A molecule always lies here.")
