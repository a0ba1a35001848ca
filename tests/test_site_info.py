"""Words and units of the info panel: every key any render's info carries (every microscope
family and every imaging modality, rendered here) has a human label and the right unit in
site_src/static/js/info.js (loaded under Node), or is deliberately hidden; the text the panel
shows for each value is well formed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from micro.core.catalog import default_catalog
from micro.core.params import IMAGING_PARAMS
from micro.core.render import render_imaging, render_microscope
from micro.core.result import json_safe

INFO_JS = Path(__file__).resolve().parents[1] / "site_src" / "static" / "js" / "info.js"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

RUNNER = """
import { readFileSync } from "node:fs";
import { FIELDS, HIDDEN, valueText } from "./info.mjs";
const items = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = items.map(([key, value]) => {
  const f = FIELDS[key];
  return { key, hidden: HIDDEN.has(key), known: Boolean(f), label: f ? f[0] : null,
           unit: f ? f[1] : null, help: f ? f[2] : null, text: f ? valueText(key, value) : null };
});
process.stdout.write(JSON.stringify(out));
"""

UNITS = {"", "×", "nm", "µm", "mm", "cm", "mm³", "mm Al", "ms", "s", "min", "MHz", "Hz",
         "Hz/px", "frames/s", "keV", "kVp", "mAs", "mGy", "MBq", "kBq/mL", "cps/MBq", "cm⁻¹",
         "HU", "dB", "%", "°", "T", "px", "e⁻", "e⁻ rms", "ADU/e⁻", "counts",
         "kV", "mrad"}
"""Every unit the panel may print, written as a physicist would (no raw-key fragments)."""

RAW_UNIT_WORDS = {"um", "mm3", "pct", "mgy", "kev", "mbq", "hz", "px", "db", "deg", "kvp", "mas",
                  "mhz", "cps", "adu", "fps", "hu", "kbq", "ml"}
"""Unit tokens of key names as they would read in a humanized key ("Bandwidth hz px")."""

COMPOUND = {"cps_per_mbq": "cps/MBq", "per_cm": "cm⁻¹", "kbq_ml": "kBq/mL", "hz_px": "Hz/px",
            "mm_al": "mm Al", "adu_per_e": "ADU/e⁻"}
TOKEN = {"um": "µm", "nm": "nm", "mm": "mm", "cm": "cm", "mm3": "mm³", "ms": "ms", "s": "s",
         "min": "min", "mhz": "MHz", "hz": "Hz", "fps": "frames/s", "kev": "keV",
         "kvp": "kVp", "mas": "mAs", "mgy": "mGy", "mbq": "MBq", "hu": "HU", "db": "dB",
         "pct": "%", "fraction": "%", "deg": "°", "t": "T", "px": "px", "e": "e⁻",
         "magnification": "×"}


def expected_unit(key: str) -> str | None:
    """The unit a key's name promises (its last unit token), or None if it names none."""
    for frag, unit in COMPOUND.items():
        if key == frag or key.endswith("_" + frag) or f"_{frag}_" in key:
            return unit
    units = [TOKEN[t] for t in key.split("_")[1:] if t in TOKEN]
    if key in TOKEN:
        units.append(TOKEN[key])
    return units[-1] if units else None


MICROSCOPE_FAMILIES = ("fluorescence", "phase-contrast", "confocal", "afm", "sem", "tem")


def rendered_infos() -> list[tuple[str, dict[str, Any]]]:
    """One render of each microscope family (the slide that recommends it, else any slide the
    first instrument with the mode can show) and of each imaging modality."""
    cat = default_catalog()
    out = [("brightfield", render_microscope(instrument="student-compound",
                                             specimen="cheek-cells", size=256).info),
           ("eyepiece", render_microscope(instrument="student-compound", specimen="cheek-cells",
                                          view="eyepiece", size=256).info)]
    for mode in MICROSCOPE_FAMILIES:
        iid = next(i for i in cat.microscope_ids() if mode in cat.instruments[i].modes)
        rec = [s for s in sorted(cat.specimens)
               if mode in cat.specimens[s].recommended.modes]
        sid = rec[0] if rec else sorted(cat.specimens)[0]
        inst = cat.specimens[sid].recommended.instrument if rec else iid
        out.append((mode, render_microscope(instrument=inst, specimen=sid, mode=mode,
                                            size=256).info))
    for modality in IMAGING_PARAMS:
        iid = cat.imaging_ids(modality)[0]
        ph = next(p for p in sorted(cat.phantoms) if modality in cat.phantoms[p].modalities)
        out.append((modality, render_imaging(instrument=iid, phantom=ph, size=256).info))
    return out


@pytest.fixture(scope="module")
def described(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """{render name: the panel's description of each of its info keys}."""
    infos = rendered_infos()
    items = [(name, k, json_safe(v)) for name, info in infos for k, v in info.items()]
    tmp = tmp_path_factory.mktemp("info")
    (tmp / "items.json").write_text(json.dumps([[k, v] for _, k, v in items]))
    shutil.copy(INFO_JS, tmp / "info.mjs")
    (tmp / "runner.mjs").write_text(RUNNER)
    proc = subprocess.run([str(NODE), str(tmp / "runner.mjs"), str(tmp / "items.json")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    out: dict[str, list[dict[str, Any]]] = {}
    for (name, _, value), d in zip(items, got, strict=True):
        out.setdefault(name, []).append({**d, "value": value})
    return out


def test_every_info_key_has_a_label_or_is_hidden(described: dict[str, list[dict[str, Any]]]
                                                 ) -> None:
    assert set(described) == {"brightfield", "eyepiece", *MICROSCOPE_FAMILIES, *IMAGING_PARAMS}
    raw = sorted({(name, d["key"]) for name, ds in described.items() for d in ds
                  if not d["known"] and not d["hidden"]})
    assert not raw, f"info keys with no label in info.js: {raw}"
    for ds in described.values():
        for d in ds:
            if not d["known"]:
                continue
            label = d["label"]
            assert "_" not in label and label.strip() == label and label, d
            assert label[0].isupper() or label.startswith("f-"), d
            raw_units = set(label.split()) & RAW_UNIT_WORDS
            assert not raw_units, f"{d['key']}: raw unit fragments {raw_units} in {label!r}"
            assert d["help"], f"{d['key']}: no explanation"


def test_units_are_the_right_ones_and_well_formed(described: dict[str, list[dict[str, Any]]]
                                                  ) -> None:
    units = {d["key"]: d["unit"] for ds in described.values() for d in ds if d["known"]}
    for key, unit in units.items():
        assert unit in UNITS, f"{key}: unit {unit!r}"
        want = expected_unit(key)
        if want is not None:
            assert unit == want or unit.startswith(want + " "), f"{key}: {unit!r}, not {want!r}"
    # the ones students trip over
    assert units["mu_water_per_cm"] == "cm⁻¹"
    assert units["sensitivity_cps_per_mbq"] == "cps/MBq"
    assert units["kvp"] == "kVp" and units["mas"] == "mAs"
    assert units["bandwidth_hz_px"] == "Hz/px"
    for modality in ("pet", "spect"):
        labels = {d["key"]: d["label"] for d in described[modality] if d["known"]}
        assert labels["dose_mbq"] == "Injected activity"
        assert not [v for v in labels.values() if "dose" in v.lower()], labels


def test_the_panel_text_of_every_value_is_well_formed(
        described: dict[str, list[dict[str, Any]]]) -> None:
    for name, ds in described.items():
        for d in ds:
            if not d["known"] or d["value"] is None:
                continue
            text = d["text"]
            assert text and not re.search(r"undefined|NaN|\[object|null", text), (name, d)
            numeric = isinstance(d["value"], (int, float, list)) or (
                isinstance(d["value"], dict) and d["key"] != "objective")
            if d["unit"] and numeric and not isinstance(d["value"], bool):
                assert text.endswith(d["unit"]), (name, d["key"], text)
    ct = {d["key"]: d["text"] for d in described["ct"]}
    assert re.fullmatch(r"air -?\d+(\.\d+)? · .+ HU", ct["tissue_hu"]), ct["tissue_hu"]
    bf = {d["key"]: d["text"] for d in described["brightfield"]}
    assert re.fullmatch(r"10× / NA 0\.25, air, \w+", bf["objective"]), bf["objective"]
    assert bf["stage_um"] == "x 0 µm, y 0 µm"


def test_the_quiz_hash_is_sha256(tmp_path: Path) -> None:
    """site_src/static/js/sha256.js (quiz checks without SubtleCrypto) agrees with hashlib on
    texts around every padding boundary and on non-ASCII text."""
    import hashlib
    import random

    rng = random.Random(7)
    texts = ["", "abc", "µm → cm⁻¹ · ✓", *("x" * n for n in (55, 56, 63, 64, 65, 119, 120))]
    texts += ["".join(rng.choice("ab:019éλ") for _ in range(rng.randrange(200)))
              for _ in range(40)]
    shutil.copy(INFO_JS.with_name("sha256.js"), tmp_path / "sha256.mjs")
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    (tmp_path / "run.mjs").write_text(
        'import { readFileSync } from "node:fs";\n'
        'import { sha256Hex } from "./sha256.mjs";\n'
        'const t = JSON.parse(readFileSync(process.argv[2], "utf8"));\n'
        "process.stdout.write(JSON.stringify(t.map(sha256Hex)));\n")
    proc = subprocess.run([str(NODE), str(tmp_path / "run.mjs"), str(tmp_path / "texts.json")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [hashlib.sha256(t.encode()).hexdigest() for t in texts]
