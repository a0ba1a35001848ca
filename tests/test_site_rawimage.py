"""The browser's .npy reader and percentiles (site_src/static/js/rawimage.js), run in Node on
arrays NumPy wrote: the values the scan viewer windows must be exactly the rendered ones."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")
JS = Path(__file__).resolve().parents[1] / "site_src" / "static" / "js" / "rawimage.js"

RUNNER = """
import { readFileSync } from "node:fs";
import { parseNpy, rangeOf } from "%s";
const out = {};
for (const f of process.argv.slice(2)) {
  const b = readFileSync(f);
  try {
    const r = parseNpy(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    const s = rangeOf(r.data, [0.5, 50, 99.5]);
    out[f] = { w: r.w, h: r.h, first: Array.from(r.data.slice(0, 5)), sum: r.data.reduce((a, v) => a + v, 0), ...s };
  } catch (e) {
    out[f] = { error: e.message };
  }
}
console.log(JSON.stringify(out));
"""


def _run(tmp_path: Path, arrays: dict[str, np.ndarray], v3: set[str] | None = None) -> dict:
    files = []
    for name, a in arrays.items():
        f = tmp_path / f"{name}.npy"
        with f.open("wb") as fh:
            if v3 and name in v3:
                np.lib.format.write_array(fh, a, version=(3, 0), allow_pickle=False)
            else:
                np.save(fh, a, allow_pickle=False)
        files.append(str(f))
    (tmp_path / "run.mjs").write_text(RUNNER % JS.as_uri())
    proc = subprocess.run([NODE, str(tmp_path / "run.mjs"), *files], capture_output=True,
                          text=True, timeout=60, check=True)
    res = json.loads(proc.stdout)
    return {Path(k).stem: v for k, v in res.items()}


def test_reads_float32_npy_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    hu = (rng.normal(0, 20, (96, 128)) - 1000 * (rng.random((96, 128)) < 0.3)).astype(np.float32)
    out = _run(tmp_path, {"hu": hu, "v3": hu[:40]}, v3={"v3"})
    for name, a in (("hu", hu), ("v3", hu[:40])):
        r = out[name]
        assert (r["h"], r["w"]) == a.shape
        assert r["first"] == [float(v) for v in a.ravel()[:5]]  # float32 bit for bit
        assert r["sum"] == pytest.approx(float(a.astype(np.float64).sum()), rel=1e-5)
        assert r["min"] == float(a.min()) and r["max"] == float(a.max())
        # a histogram percentile is the lower edge of the bin (range / 4095 wide) that holds
        # the p-th fraction of the values
        width = (float(a.max()) - float(a.min())) / 4095
        for p in (0.5, 50, 99.5):
            v = r[str(p)]
            assert (a < v - 1e-3).mean() <= p / 100 <= (a < v + width + 1e-3).mean(), p


def test_refuses_what_it_cannot_window(tmp_path: Path) -> None:
    out = _run(tmp_path, {"f8": np.zeros((4, 4)), "cube": np.zeros((2, 3, 4), np.float32),
                          "fortran": np.asfortranarray(np.zeros((3, 5), np.float32))})
    assert "'<f8'" not in out["f8"]["error"] and "<f8" in out["f8"]["error"]
    assert "2-D" in out["cube"]["error"]
    assert "Fortran" in out["fortran"]["error"]
