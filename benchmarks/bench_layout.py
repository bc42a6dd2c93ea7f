"""Speed of the layout compiler: build + write GDS + netlist extraction of one SVD layer.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_layout.py [--sizes 16 32 64] [--gf-netlist]

For each N, an N→N SVD layer (2 Clements meshes of N(N−1)/2 MZIs + N attenuators,
half of the phases pruned at random, removed MZIs where both are pruned) is built
(after a 4-mode warm-up that creates the slot cells every size shares), written to
GDS, and its recursive netlist extracted with
:func:`gf_prune.netlist.extract_netlist` (``--gf-netlist`` also times gdsfactory's own
``get_netlist(recursive=True)``, about 5× slower at N = 64). Target: N = 64 in ≤ 10 s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore", message="Unconnected ports")


def bench(n: int, gf_netlist: bool = False, seed: int = 0) -> dict[str, float]:
    from gf_prune.components import slot_states, svd_layer

    from gf_prune.layout import activate_pdk
    from gf_prune.mesh import topology
    from gf_prune.netlist import extract_netlist

    activate_pdk()
    rng = np.random.default_rng(seed)
    k = topology(n).n_mzis
    v = slot_states(rng.random(k) < 0.5, rng.random(k) < 0.5)
    u = slot_states(rng.random(k) < 0.5, rng.random(k) < 0.5)
    s = slot_states(rng.random(n) < 0.5, rng.random(n) < 0.5, "bar")
    t0 = time.perf_counter()
    c = svd_layer(n, n, v_states=v, s_states=s, u_states=u, layer=n)
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        c.write_gds(Path(d) / "layer.gds")
    t2 = time.perf_counter()
    net = extract_netlist(c)
    t3 = time.perf_counter()
    out = {
        "n": n,
        "mzis": 2 * k + n,
        "instances_top_mesh": len(net[next(k for k in net if k.startswith("mesh"))]["instances"]),
        "build_s": t1 - t0,
        "write_s": t2 - t1,
        "netlist_s": t3 - t2,
        "total_s": t3 - t0,
    }
    if gf_netlist:
        t4 = time.perf_counter()
        c.get_netlist(recursive=True)
        out["gf_netlist_s"] = time.perf_counter() - t4
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--gf-netlist", action="store_true", help="also time gdsfactory's get_netlist")
    args = ap.parse_args()
    t = time.perf_counter()
    bench(4)  # warm up: imports, PDK, and the slot cells (couplers, heaters, bends) all sizes share
    print(f"warm-up (imports + slot cells, once per process): {time.perf_counter() - t:.2f} s")
    print(f"{'N':>4} {'MZIs':>6} {'build s':>8} {'write s':>8} {'netlist s':>10} {'total s':>8}", end="")
    print(f" {'gf netlist s':>13}" if args.gf_netlist else "")
    for n in args.sizes:
        r = bench(n, args.gf_netlist)
        line = f"{n:>4} {r['mzis']:>6} {r['build_s']:>8.2f} {r['write_s']:>8.2f}"
        line += f" {r['netlist_s']:>10.2f} {r['total_s']:>8.2f}"
        print(line + (f" {r['gf_netlist_s']:>13.2f}" if args.gf_netlist else ""), flush=True)


if __name__ == "__main__":
    main()
