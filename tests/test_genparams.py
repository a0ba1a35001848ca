"""Generator parameters as models: a misspelt or mistyped key in a specimen's `params` fails
at catalog load, naming file, entry and field; the catalog does so without the renderers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from micro.core import genparams
from micro.core.catalog import Catalog, default_data_dir
from micro.core.errors import CatalogError, CatalogErrors


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(default_data_dir(), dst, ignore=shutil.ignore_patterns("images", "schema"))
    return dst


def _edit_params(root: Path, specimen: str, generator: str, change: dict[str, object],
                 drop: str | None = None) -> int:
    """Change the params of `specimen`'s first `generator` population; its index."""
    path = root / "specimens" / f"{specimen}.json"
    data = json.loads(path.read_text())
    i = next(k for k, p in enumerate(data["populations"]) if p["generator"] == generator)
    params = data["populations"][i].setdefault("params", {})
    if drop is not None:
        params.pop(drop)
    params.update(change)
    path.write_text(json.dumps(data))
    return i


def _errors(root: Path) -> list[CatalogError]:
    with pytest.raises(CatalogErrors) as exc:
        Catalog.load(root)
    return exc.value.errors


def test_misspelt_param_names_file_entry_and_field(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    i = _edit_params(root, "kidney-cortex", "kidney", {"tubul_um": 80.0}, drop="tubule_um")
    errs = _errors(root)
    assert len(errs) == 1, [e.one_line() for e in errs]
    err = errs[0]
    assert err.file == "data/specimens/kidney-cortex.json"
    assert err.entry == "kidney-cortex"
    assert err.field == f"populations.{i}.params.tubul_um"
    assert "unknown parameter" in err.message and "tubule_um" in err.allowed
    assert "kidney-cortex" in err.one_line() and "tubul_um" in err.one_line()


def test_mistyped_or_out_of_range_param_is_named(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    i = _edit_params(root, "usaf-1951", "usaf-1951", {"group_max": "seven"})
    j = _edit_params(root, "liver-fibrosis", "liver", {"septa": 1.5})
    fields = {(e.entry, e.field) for e in _errors(root)}
    assert fields == {("usaf-1951", f"populations.{i}.params.group_max"),
                      ("liver-fibrosis", f"populations.{j}.params.septa")}


def test_generator_without_parameters_refuses_any(tmp_path: Path) -> None:
    assert genparams.problems("adipose", {}) == []
    (field, message, allowed), = genparams.problems("adipose", {"size": 3.0})
    assert field == "size" and "unknown parameter" in message and allowed == []


def test_every_registered_generator_is_listed_and_models_name_real_generators() -> None:
    from micro.core.microscope.scene import GENERATORS

    assert set(GENERATORS) == genparams.GENERATORS
    assert set(genparams.PARAMS) <= genparams.GENERATORS
    with pytest.raises(ValueError, match="no scene generator"):
        genparams.params_for("no-such-generator")(genparams.NoParams)


def test_models_hold_the_defaults_the_generators_use() -> None:
    from micro.core.microscope.generators.calibration import bead_pairs, micrometer_lines

    pairs = bead_pairs({})  # defaults: 0.05…2.0 µm in 0.01 µm steps, 6 µm apart
    assert len(pairs) == 196 and pairs[0][2] == pytest.approx(0.05)
    assert pairs[-1][2] == pytest.approx(2.0) and pairs[1][0] - pairs[0][0] == 6.0
    lines = micrometer_lines({"divisions": 10})
    assert len(lines) == 11 and lines[1][0] - lines[0][0] == pytest.approx(10.0)


def test_catalog_checks_params_without_importing_the_renderers() -> None:
    code = ("import sys; from micro.core.catalog import Catalog; Catalog.load(); "
            "print(sorted(m for m in sys.modules if m.startswith('micro.core.microscope')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", out


def test_shared_anchor_parameter_is_checked_for_pairs(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    i = _edit_params(root, "gfp-neurons", "neurons", {"anchor": [0.0, 0.0, 5.0]})
    err, = _errors(root)
    assert (err.entry, err.field) == ("gfp-neurons", f"populations.{i}.params.anchor")
    assert "pairs" in err.message


def test_every_registered_generator_has_a_parameter_model() -> None:
    from micro.core.microscope.scene import GENERATORS

    assert sorted(set(GENERATORS) - set(genparams.PARAMS)) == []
    assert set(genparams.PARAMS) == genparams.GENERATORS


@pytest.mark.parametrize(("specimen", "generator", "good", "bad", "value"), [
    ("blood-smear", "leukocyte", "granule_um", "granul_um", 0.6),
    ("gram-mixed", "bacteria", "arrangement", "arangement", "chains"),
    ("blood-smear", "rbc", "cv", "cv_", 0.07),
])
def test_misspelt_key_of_a_ctx_p_generator_fails_at_load(
        tmp_path: Path, specimen: str, generator: str, good: str, bad: str,
        value: object) -> None:
    """Generators that read params one by one (`Ctx.p`) have models too: the misspelt key
    is an error naming file, entry and field, not a default used in silence."""
    root = _copy(tmp_path)
    i = _edit_params(root, specimen, generator, {bad: value})
    err, = _errors(root)
    assert err.file == f"data/specimens/{specimen}.json" and err.entry == specimen
    assert err.field == f"populations.{i}.params.{bad}"
    assert "unknown parameter" in err.message and good in err.allowed


def test_a_value_outside_its_choices_names_them(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    i = _edit_params(root, "blood-smear", "leukocyte", {"kind": "neutrophill"})
    err, = _errors(root)
    assert err.field == f"populations.{i}.params.kind"
    assert "neutrophil" in str(err.allowed) and "lymphocyte" in str(err.allowed)


def test_ctx_p_reads_through_the_model() -> None:
    """`Ctx.p` returns the population's value validated (coerced) by the model, the
    model's default when the key is absent, and refuses a key the model lacks."""
    from micro.core.microscope.lattice import Window
    from micro.core.microscope.registry import make_ctx

    spec = Catalog.load().specimens["blood-smear"]
    pop = next(p for p in spec.populations if p.generator == "leukocyte")
    pop = pop.model_copy(update={"params": {"granules": 12.0, "kind": "eosinophil"}})
    ctx = make_ctx(spec, pop, Window(0.0, 0.0, 1.0, 8, 8))
    assert ctx.p("granules") == 12 and isinstance(ctx.p("granules"), int)
    assert ctx.p("kind") == "eosinophil"
    # absent: the leukocyte model's default (0.8), not another generator's (rbc: 1.0)
    assert ctx.p("body_amount") == 0.8
    assert ctx.p("granule_um") == 0.5
    assert ctx.p("anchor") == [] and ctx.p("anchor") is not ctx.p("anchor")  # fresh list
    with pytest.raises(KeyError, match="does not list"):
        ctx.p("granule_size_um")


def test_generators_leave_defaults_to_their_models() -> None:
    """Every default is written once, in the model: no generator passes one to `Ctx.p`."""
    import ast

    import micro.core.microscope.generators as gens

    found = []
    for path in sorted(Path(gens.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "p" and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "ctx" and len(node.args) + len(node.keywords) > 1):
                found.append(f"{path.name}:{node.lineno}")
    assert not found, f"ctx.p with a call-site default: {found}"
