"""`micro gallery`: the review contact sheets decode, hold one tile per view, and choose a second
objective that shows the other scale."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from micro.cli import main
from micro.cli.gallery import LABEL_PX, second_objective
from micro.core.catalog import Catalog
from micro.core.models import MicroscopeInstrument

SIZE = 256


def _tiles(path: Path, count: int, columns: int) -> list[np.ndarray]:
    """Decode a sheet, check its dimensions for `count` tiles, return the tiles' image parts."""
    sheet = np.asarray(Image.open(io.BytesIO(path.read_bytes())).convert("RGB"))
    cols = min(columns, count)
    rows = -(-count // cols)
    assert sheet.shape == (rows * (SIZE + LABEL_PX), cols * SIZE, 3)
    return [sheet[(k // cols) * (SIZE + LABEL_PX) + LABEL_PX:(k // cols + 1) * (SIZE + LABEL_PX),
                  (k % cols) * SIZE:(k % cols + 1) * SIZE] for k in range(count)]


def test_gallery_two_specimens_one_phantom(tmp_path: Path, catalog: Catalog) -> None:
    out = tmp_path / "g.png"
    res = CliRunner().invoke(main, ["gallery", "-o", str(out), "--specimen", "usaf-1951",
                                    "--specimen", "stage-micrometer", "--phantom", "line-pairs",
                                    "--columns", "3"])
    assert res.exit_code == 0, res.output
    # two objectives per specimen
    tiles = _tiles(out, 4, 3)
    for t in tiles:  # a rendered target, not an empty tile: dark bars on bright glass
        assert t.std() > 5
    assert not np.array_equal(tiles[0], tiles[1])  # the two objectives differ
    # one tile per modality the phantom can be imaged with
    n_scans = len(catalog.phantoms["line-pairs"].modalities)
    scans = _tiles(tmp_path / "g-scans.png", n_scans, 3)
    for t in scans:
        assert t.std() > 5
    # neither selected specimen has fluorescence or polarized views
    assert not (tmp_path / "g-modes.png").exists()
    assert str(tmp_path / "g-scans.png") in res.output


def test_gallery_objective_override_is_one_tile(tmp_path: Path) -> None:
    out = tmp_path / "one.png"
    res = CliRunner().invoke(main, ["gallery", "-o", str(out), "--specimen", "usaf-1951",
                                    "--objective", "4"])
    assert res.exit_code == 0, res.output
    assert len(_tiles(out, 1, 6)) == 1
    assert not (tmp_path / "one-scans.png").exists()


def test_gallery_unknown_phantom_names_the_field(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["gallery", "-o", str(tmp_path / "x.png"),
                                    "--phantom", "nope"])
    assert res.exit_code != 0
    assert "phantom" in res.output and "brain" in res.output


@pytest.mark.parametrize(("instrument", "recommended", "mode", "expected"), [
    ("student-compound", 40.0, "brightfield", 10.0),   # 40× → the 10× overview
    ("student-compound", 4.0, "brightfield", 40.0),    # 4× → 40× detail
    ("student-compound", 100.0, "brightfield", 10.0),  # oil → overview
    ("research-upright", 10.0, "polarized", 40.0),     # 10× → 40×, not 63×
    ("sem-tungsten", 500.0, "sem", 2000.0),            # the first SEM step ≥ 4× up
    ("tem-120kv", 5000.0, "tem", 30000.0),             # 10 000× is only 2× up: 30 000×
    ("afm", 200000.0, "afm", 50000.0),                 # top of the range: ≥ 4× down
])
def test_second_objective_shows_the_other_scale(catalog: Catalog, instrument: str,
                                                recommended: float, mode: str,
                                                expected: float) -> None:
    inst = catalog.instruments[instrument]
    assert isinstance(inst, MicroscopeInstrument)
    assert second_objective(inst, recommended, mode) == expected


def test_gallery_modes_sheet_holds_the_polarized_view(tmp_path: Path) -> None:
    """Compact bone has one extra view (polarized light): the modes sheet holds one tile,
    darker on average than the brightfield tile (crossed polars extinguish the background)."""
    out = tmp_path / "bone.png"
    res = CliRunner().invoke(main, ["gallery", "-o", str(out), "--specimen", "compact-bone"])
    assert res.exit_code == 0, res.output
    bright = _tiles(out, 2, 6)[0]
    (pol,) = _tiles(tmp_path / "bone-modes.png", 1, 6)
    assert pol.std() > 5
    assert pol.mean() < bright.mean() - 10, (pol.mean(), bright.mean())
