"""Layout + SAX verification of one pruned network with each PDK (``layout.pdk``), in one process.

Lays ``PHASES`` (default: a ``gf-prune run`` folder's ``phases.npz``) out with the generic PDK and with
cspdk (and any module path given), verifies each GDS read back from the file, and prints per PDK: chip
size and area, heaters, physical columns, π delays, geometry checks, max relative error and the times
of layout (build + GDS + checks) and verification (netlist read-back, compile, evaluate). Repeats
``--repeat`` times, alternating PDKs, and reports the median; the PDK switch clears gdsfactory's cell
cache (:func:`gf_prune.pdk.pdk_cells`), so every round builds every cell again.

Run (one core)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_pdk.py /tmp/pdk_run/phases.npz --repeat 3

Figures are measurements, not pass/fail tests.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from gf_prune.layout import compile_network
from gf_prune.pdk import pdk_cells
from gf_prune.phases import NetworkPhases
from gf_prune.verify import verify


def one(net: NetworkPhases, pdk: str, out: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    fig = compile_network(net, out, pdk=pdk, png=False)
    t1 = time.perf_counter()
    res = verify(out / "network.gds", net, cell_models=pdk_cells(pdk).cell_models())
    t2 = time.perf_counter()
    return {
        "size_um": f"{fig['width_um']:.0f} × {fig['height_um']:.0f}",
        "area_mm2": fig["area_mm2"]["compacted"],
        "heaters": fig["heaters"]["pruned"],
        "columns": fig["columns_total"]["physical"],
        "pi_delays": fig["pi_delays"],
        "geometry_ok": fig["geometry"]["ok"],
        "max_rel_error": res.max_rel_error,
        "layout_s": t1 - t0,
        "verify_s": t2 - t1,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("phases", type=Path)
    ap.add_argument("--pdks", nargs="+", default=["generic", "cspdk"])
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message="Unconnected ports")
    net = NetworkPhases.load(args.phases)
    runs: dict[str, list[dict[str, Any]]] = {p: [] for p in args.pdks}
    with tempfile.TemporaryDirectory(prefix="bench_pdk_") as tmp:
        for r in range(args.repeat):
            for pdk in args.pdks:
                runs[pdk].append(one(net, pdk, Path(tmp) / f"{pdk}_{r}"))
    base = statistics.median(x["layout_s"] + x["verify_s"] for x in runs[args.pdks[0]])
    for pdk, rs in runs.items():
        first = rs[0]
        lay = statistics.median(x["layout_s"] for x in rs)
        ver = statistics.median(x["verify_s"] for x in rs)
        total = statistics.median(x["layout_s"] + x["verify_s"] for x in rs)
        print(
            f"{pdk:>8}: {first['size_um']} µm, {first['area_mm2']:.2f} mm², {first['heaters']} heaters, "
            f"{first['columns']} columns, {first['pi_delays']} π delays, geometry ok {first['geometry_ok']}, "
            f"max rel. error {max(x['max_rel_error'] for x in rs):.2e}; layout {lay:.2f} s, verify {ver:.2f} s "
            f"(median of {len(rs)}; total {total / base:.2f}× {args.pdks[0]})"
        )


if __name__ == "__main__":
    main()
