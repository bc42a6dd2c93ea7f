"""Cost of the optical I/O (gratings, routes, ports.csv, loss budget) in the layout stage.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_io.py RUN_DIR/phases.npz [--repeat 2]

Compiles the network of ``phases.npz`` (e.g. of a default ``gf-prune run``) with ``io=False`` and
``io=True`` alternately, each in a fresh process (cold cell caches, as in a run) and a fresh folder,
then runs the SAX check on the I/O chip (reusing the netlist the loss budget read back). Prints one
JSON line per compile and a summary: median layout-stage time with and without I/O, the I/O step's
own split (routing, loss budget), chip sizes, the worst path of the loss budget.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_ONE = """
import json, sys, time, warnings
warnings.filterwarnings("ignore", message="Unconnected ports")
from gf_prune.layout import compile_network
from gf_prune.phases import NetworkPhases
net = NetworkPhases.load(sys.argv[1])
t0 = time.perf_counter()
fig = compile_network(net, sys.argv[2], io=sys.argv[3] == "1")
fig["layout_s"] = time.perf_counter() - t0
print(json.dumps(fig))
"""


def _compile(phases: Path, out: Path, io: bool) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _ONE, str(phases), str(out), "1" if io else "0"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("phases", type=Path)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    from gf_prune.phases import NetworkPhases
    from gf_prune.verify import verify

    times: dict[bool, list[float]] = {False: [], True: []}
    last: dict[bool, dict] = {}
    with tempfile.TemporaryDirectory() as d:
        for i in range(args.repeat):
            for io in (False, True):
                out = Path(d) / f"{int(io)}_{i}"
                fig = _compile(args.phases, out, io)
                times[io].append(fig["layout_s"])
                last[io] = fig
                print(json.dumps({"io": io, "run": i, "layout_s": round(fig["layout_s"], 3), **fig["timings_s"]}))
        net = NetworkPhases.load(args.phases)
        t0 = time.perf_counter()
        res = verify(out / "network.gds", net, netlist_cache=True)
        t_verify = time.perf_counter() - t0
    io_fig, lb = last[True]["io"], last[True]["loss_budget_db"]
    summary = {
        "layout_s_without_io": statistics.median(times[False]),
        "layout_s_with_io": statistics.median(times[True]),
        "io_route_s": io_fig["timings_s"]["route"],
        "io_loss_budget_s": io_fig["timings_s"]["loss_budget"],
        "verify_s_with_io": t_verify,
        "verify_max_rel_error": res.max_rel_error,
        "geometry_ok": last[True]["geometry"]["ok"],
        "core_um": [last[True]["width_um"], last[True]["height_um"]],
        "top_um": io_fig["top_um"],
        "fibers": io_fig["ports"],
        "worst_path": lb["worst"],
        "loopback_dB": lb["loopback"]["dB"],
        "figures_assumed": lb["assumed"],
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
