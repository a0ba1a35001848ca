"""Imaging benchmark: CT sinogram + FBP against scikit-image, and 512² render times.

`run()` prints, in one process:
  * CT 256² / 180 views, modified Shepp-Logan: our exact sinogram + FBP (ramp) against
    scikit-image `radon` + `iradon` (ramp) of the same phantom — both times, the ratio and both
    RMSEs against the partial-volume phantom;
  * the median time of a 512² render for every modality (cold first render shown apart).
scikit-image is a development dependency; it is imported here, never by the core.

`python -m benchmarks.imaging --help`: run one part, or the per-phantom table for some
phantoms only (`--table --phantom derenzo --phantom breast`).
"""

from __future__ import annotations

import argparse
import statistics
import time

# micro first: it sets one BLAS thread per process before NumPy loads, as the server, the
# build and `make bench` run; with NumPy first, BLAS threads spin after any matrix product
# and add their CPU time to the render's (a mammogram's one small product once doubled it)
import micro

# isort: split
import numpy as np


def _ct_versus_skimage(repeats: int = 5) -> None:
    from skimage.transform import iradon, radon

    from micro.core.catalog import default_catalog
    from micro.core.imaging import fbp
    from micro.core.imaging.phantom import Additive, Solid, additive, chords, fractions

    n = 256
    cat = default_catalog()
    add = additive(cat.phantoms["shepp-logan"])
    px = add.fov_mm / n
    shifted = Additive(add.phantom_id, "bench", add.tissues, add.background,
                       tuple(Solid(s.kind, s.x0 + px / 2, s.y0 - px / 2, s.a, s.b, s.phi,
                                   s.weights) for s in add.solids), add.fov_mm)
    truth = np.array(fractions(shifted, n)[1], dtype=np.float64)
    theta = np.arange(180) * np.pi / 180
    yy, xx = np.mgrid[:n, :n]
    outside = (xx - n // 2) ** 2 + (yy - n // 2) ** 2 > (n // 2) ** 2

    def ours() -> np.ndarray:
        sino = chords(add, theta, (np.arange(n) - n // 2) * px)[1]
        img = fbp.fbp(sino, px, n, add.fov_mm, "ramp", s0=-(n // 2) * px,
                      center_mm=(px / 2, -px / 2))
        img[outside] = 0
        return img

    def theirs() -> np.ndarray:
        sino = radon(truth, theta=np.degrees(theta), circle=True)
        return iradon(sino, theta=np.degrees(theta), filter_name="ramp", circle=True)

    results = {}
    for name, fn in (("micro", ours), ("scikit-image", theirs)):
        fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            img = fn()
            times.append(time.perf_counter() - t0)
        results[name] = (statistics.median(times), float(np.sqrt(np.mean((img - truth) ** 2))))
    (t_ours, e_ours), (t_sk, e_sk) = results["micro"], results["scikit-image"]
    print("CT 256² / 180 views, modified Shepp-Logan, ramp filter (median of "
          f"{repeats})")
    print(f"  micro  exact sinogram + FBP : {t_ours * 1e3:7.1f} ms   RMSE {e_ours:.4f}")
    print(f"  scikit-image radon + iradon: {t_sk * 1e3:7.1f} ms   RMSE {e_sk:.4f}")
    print(f"  speed-up {t_sk / t_ours:.1f}×  (floor 5×), RMSE "
          f"{'no worse' if e_ours <= e_sk else 'WORSE'} than scikit-image")


CASES = (
    ("xray", "digital-radiography", "abdomen", "mas"),
    ("ct", "ct-64-slice", "abdomen", "mas"),
    ("mri", "mri-1-5t", "brain", "nex"),
    ("ultrasound", "ultrasound-curvilinear", "abdomen", "gain_db"),
    ("pet", "pet-ct", "brain", "scan_min"),
    ("spect", "spect-gamma-camera", "brain", "scan_min"),
)
SWEEP = {"mas": (40, 60, 80, 100, 120, 140, 160, 180, 200, 220, 240),
         "nex": (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11),
         "gain_db": (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
         "scan_min": (5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)}


def _render_times() -> None:
    from micro.core.catalog import default_catalog

    cat = default_catalog()
    print("512² renders (PNG), median over 10 renders that differ in one setting "
          "(so each has new noise), after one cold render:")
    for modality, inst, phantom, knob in CASES:
        values = SWEEP[knob]
        t0 = time.perf_counter()
        micro.render_imaging(catalog=cat, instrument=inst, phantom=phantom, size=512,
                             **{knob: values[0]})
        cold = time.perf_counter() - t0
        times = []
        for v in values[1:]:
            t0 = time.perf_counter()
            micro.render_imaging(catalog=cat, instrument=inst, phantom=phantom, size=512,
                                 **{knob: v})
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        flag = "" if med <= 0.060 else "  (over the 60 ms floor)"
        print(f"  {modality:10s} {inst:24s} {phantom:10s} median {med * 1e3:6.1f} ms"
              f"   cold {cold * 1e3:7.1f} ms{flag}")


INSTRUMENTS = {"ct": "ct-64-slice", "xray": "digital-radiography", "mri": "mri-1-5t",
               "ultrasound": "ultrasound-curvilinear", "pet": "pet-ct",
               "spect": "spect-gamma-camera"}
KNOB = {"ct": "mas", "xray": "kvp", "mri": "nex", "ultrasound": "gain_db", "pet": "scan_min",
        "spect": "scan_min"}
KNOB_VALUES = {"mas": (150, 160, 170, 180), "kvp": (70, 72, 74, 76), "nex": (2, 3, 4, 5),
               "gain_db": (3, 4, 5, 6), "scan_min": (9, 11, 12, 13)}


def _cold_all(phantoms: tuple[str, ...] | None = None) -> list[tuple[str, str, float, float]]:
    """Cold and warm 512² render of every phantom × modality at its defaults. Cold: the
    whole memory registry cleared first (as a fresh process, with the catalog loaded and the
    modules imported); warm: the median of the next three renders, each with one setting
    changed (new noise, same phantom). Breast radiography uses the mammography unit. Times are
    CPU seconds (process_time), which the other jobs on a shared machine do not inflate."""
    from micro.core import memory
    from micro.core.catalog import default_catalog

    cat = default_catalog()
    rows = []
    # import every renderer (and warm NumPy/SciPy's own first-call costs) before timing: a
    # CT render, then the other renderers' modules (the first emission render otherwise
    # paid ~50 ms importing scipy.sparse)
    micro.render_imaging(catalog=cat, instrument="ct-64-slice", phantom="water-cylinder",
                         size=256)
    from micro.core.imaging.render import _renderer

    for modality in INSTRUMENTS:
        _renderer(modality)
    for pid in sorted(cat.phantoms) if phantoms is None else phantoms:
        for modality in cat.phantoms[pid].modalities:
            inst = INSTRUMENTS[modality]
            if pid == "breast" and modality == "xray":
                inst = "mammography"
            knob = KNOB[modality]
            a, *rest = KNOB_VALUES[knob]
            if modality == "xray" and inst == "mammography":
                a, *rest = 26, 27, 28, 29
            memory.clear()
            t0 = time.process_time()
            micro.render_imaging(catalog=cat, instrument=inst, phantom=pid, size=512,
                                 **{knob: a})
            cold = time.process_time() - t0
            times = []
            for b in rest:
                t0 = time.process_time()
                micro.render_imaging(catalog=cat, instrument=inst, phantom=pid, size=512,
                                     **{knob: b})
                times.append(time.process_time() - t0)
            warm = statistics.median(times)
            rows.append((pid, modality, cold, warm))
            flag = ("" if cold <= 0.400 else "  COLD over 400 ms") + (
                "" if warm <= 0.060 else "  WARM over 60 ms")
            print(f"  {pid:16s} {modality:10s} {inst:24s} cold {cold * 1e3:7.1f} ms   "
                  f"warm {warm * 1e3:6.1f} ms{flag}", flush=True)
    return rows


def run() -> None:
    _ct_versus_skimage()
    _render_times()
    print("Every phantom × modality at its defaults, 512², CPU time:")
    _cold_all()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.imaging", description=(
        "Imaging benchmark. Without options: everything (CT against scikit-image, the "
        "render sweep, then the cold and warm 512² render of every phantom × modality)."))
    ap.add_argument("--table", action="store_true",
                    help="only the cold/warm table of every phantom × modality (CPU ms)")
    ap.add_argument("--phantom", action="append", metavar="ID",
                    help="with --table: this phantom only (repeatable)")
    ap.add_argument("--skimage", action="store_true", help="only CT against scikit-image")
    ap.add_argument("--sweep", action="store_true", help="only the 512² render sweep")
    args = ap.parse_args(argv)
    if not (args.table or args.skimage or args.sweep):
        run()
        return
    if args.skimage:
        _ct_versus_skimage()
    if args.sweep:
        _render_times()
    if args.table:
        print("Every phantom × modality at its defaults, 512², CPU time:")
        _cold_all(tuple(args.phantom) if args.phantom else None)


if __name__ == "__main__":
    main()
