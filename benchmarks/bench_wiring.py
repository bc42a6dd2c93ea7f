"""Speed of the layout stage with heater wiring (pads + routes + connectivity check).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_wiring.py [PHASES_NPZ] [--skip-64] [--gdsfactory-router]

1. The default pruned network (``phases.npz`` of ``gf-prune run --out DIR``; default
   ``/tmp/pads_run/phases.npz``): ``compile_network`` as the pipeline's layout stage calls it, with
   ``route=True`` and ``route=False`` in the same process (target: ≤ 30 s with routing).
2. One 64×64 SVD layer with random phases, each heater live with probability 0.15 (target: ≤ 60 s
   with routing).

``--gdsfactory-router`` also times the wiring of the default chip drawn with gdsfactory's
``route_single`` (``router="gdsfactory"``) against the default klayout paths, same plan.

Prints the stage times, the wiring's own times (route + write, GDS read-back check) and the pad
figures. Figures are wall-clock on a shared machine: compare the ratios measured in one process.
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from gf_prune.layout import activate_pdk, compile_network
from gf_prune.mesh import topology
from gf_prune.phases import LayerPhases, MeshPhases, NetworkPhases, SigmaPhases

warnings.filterwarnings("ignore", message="Unconnected ports")


def random_layer(n: int = 64, p_live: float = 0.15, seed: int = 0) -> NetworkPhases:
    """One n×n SVD layer, every phase live with probability ``p_live`` (pruned phases are 0)."""
    rng = np.random.default_rng(seed)

    def phases(k: int, hi: float) -> tuple[np.ndarray, np.ndarray]:
        live = rng.random(k) < p_live
        return np.where(live, rng.uniform(0, hi, k), 0.0), live

    def mesh() -> MeshPhases:
        k = topology(n).n_mzis
        (t, tl), (p, pl) = phases(k, 2 * np.pi), phases(k, 2 * np.pi)
        return MeshPhases(n, "clements", t, p, tl, pl)

    (st, stl), (sp, spl) = phases(n, np.pi), phases(n, 2 * np.pi)
    return NetworkPhases([LayerPhases(n, n, mesh(), SigmaPhases(st, sp, stl, spl), mesh())])


def run(net: NetworkPhases, label: str, png: bool = True) -> None:
    live = sum(1 for r in net.heater_rows() if not r["pruned"])
    total = len(net.heater_rows())
    times: dict[bool, float] = {}
    figs: dict = {}
    for route in (True, False):  # the routed build first (cold cell cache): the second is favoured
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            out = compile_network(net, Path(d), png=png, route=route)
            times[route] = time.perf_counter() - t0
            figs = out if route else figs
    w = figs.get("wiring", {})
    print(f"[{label}] live heaters {live}/{total} ({100 * live / total:.1f} %)")
    print(f"[{label}] layout stage: {times[True]:.1f} s with routing (cold), {times[False]:.1f} s without (warm)")
    if not w.get("ok"):
        print(f"[{label}] wiring FAILED: {w.get('error') or w.get('check', {}).get('problems')}")
        return
    t = w["timings_s"]
    print(
        f"[{label}] wiring: route+write {t['route_write']:.2f} s, read-back check {t.get('check', 0):.2f} s "
        f"({w['check']['n_problems']} problems); pads within the core's x range: {w['pads_within_core_x']}"
    )
    print(
        f"[{label}] pads {figs['pads']} ({w['pads_signal']} signal, {w['pads_ground']} ground, ≤ "
        f"{w['heaters_per_ground_max']} heaters / ground, worst return {w['ground_current_mA_max']:.1f} mA), "
        f"dense would need {figs['pads_dense']}; pitch {w['pad_pitch_um']:g} µm, {w['pad_rows_per_edge']} row(s)/edge, "
        f"route width {w['route_width_um']:g} µm; die {figs['die_mm'][0]:.2f} × {figs['die_mm'][1]:.2f} mm; "
        f"standard die: {figs['standard_die'].get('split')}"
    )


def compare_routers(net: NetworkPhases) -> None:
    """Wiring alone (route + write + check) with both routers on one built chip."""
    from gf_prune.layout import build_network
    from gf_prune.wiring import write_wired

    chip = build_network(net, compact=True)
    for router in ("paths", "gdsfactory"):
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            w = write_wired(net, chip, Path(d), router=router)["wiring"]
            dt = time.perf_counter() - t0
        print(
            f"[routers] {router}: {dt:.2f} s (route+write {w['timings_s']['route_write']:.2f} s), "
            f"{w['routes']}, check {w['check']['n_problems']} problems"
        )


def main() -> None:
    activate_pdk()
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    path = Path(args[0] if args else "/tmp/pads_run/phases.npz")
    if path.is_file():
        run(NetworkPhases.load(path), "default pruned")
        if "--gdsfactory-router" in sys.argv:
            compare_routers(NetworkPhases.load(path))
    else:
        print(f"no {path}: run `gf-prune run --out DIR` first and pass DIR/phases.npz")
    if "--skip-64" not in sys.argv:
        run(random_layer(), "64x64 layer", png=True)


if __name__ == "__main__":
    main()
