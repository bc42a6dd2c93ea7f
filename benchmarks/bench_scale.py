"""How each stage's cost grows with the mesh size N (issue 17), against the physical floor.

For every N a network of signal widths N → N → 10 (two SVD layers, N-mode Clements meshes, 70 % of
the phases pruned at random) goes through every stage once, each N in a fresh process, on synthetic
unit-norm complex inputs (timing only; accuracy is not the point):

- ``train_step``: one full-batch epoch of :func:`gf_prune.train.fit` (forward + backward);
- ``prune_round``: magnitude scores, prune 10 % of the live phases, one fine-tuning epoch;
- ``layout``: :func:`gf_prune.layout.compile_network` (build, GDS, heaters.csv; no PNG, no geometry check);
- ``netlist``: read ``network.gds`` back and extract its netlist (:func:`gf_prune.netlist.load_netlist`);
- ``verify``: compile the circuit and check every mesh/layer at 1.55 µm (netlist already read);
- ``sweep``: the λ sweep (``--sweep-points`` wavelengths, 27 by default) on the compiled circuit;
- ``robust_100``: 100 Monte-Carlo trials with every imperfection on (phase error, 8-bit DAC, couplers,
  insertion loss, thermal crosstalk from the GDS heater positions), ``--samples`` test inputs;
- ``report``: ``report.html`` with its figures (:func:`gf_prune.report.write_report`).

With ``--verify-reference`` the earlier verification path is also timed in the same process, after
today's (so it finds the leaf models compiled): the GDS through ``gf.import_gds`` + ``extract_netlist``,
every cell factorised (``Verifier(feed_forward=False)``), the sweep one wavelength per solve; printed
as ratios (earlier / today) per stage.

Printed: a table of seconds per stage and N, the peak resident memory of each N's process
(``resource.getrusage``), and the growth exponent of each stage (least-squares slope of log t vs log N)
beside the physical floor: a mesh is O(N²) per vector (train, prune, robustness per trial), a layout
O(N²) cells (layout, netlist, verify, sweep, report).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_scale.py                    # N = 16 32 64
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_scale.py --sizes 16 32 64 128 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = ("train_step", "prune_round", "layout", "netlist", "verify", "sweep", "robust_100", "report")
FLOOR = {s: 2 for s in STAGES}


def _synthetic(n: int, samples: int, seed: int = 0):
    import numpy as np

    from gf_prune.data import split

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, n)) + 1j * rng.normal(size=(samples, n))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.arange(samples) % 10
    return split(f"synthetic-{n}", x.astype(np.complex128), y, test_size=0.5, seed=seed)


def _verify_reference(gds: Path, net, sweep_points: int) -> dict[str, float]:
    """The earlier verification path's stage times (netlist, verify, sweep) on the same GDS."""
    import numpy as np

    from gf_prune.netlist import _import_gds, extract_netlist
    from gf_prune.verify import Verifier

    t: dict[str, float] = {}
    s = time.perf_counter()
    recnet = extract_netlist(_import_gds(gds))
    t["netlist"] = time.perf_counter() - s
    s = time.perf_counter()
    v = Verifier(recnet, net, feed_forward=False)
    v.check()
    t["verify"] = time.perf_counter() - s
    s = time.perf_counter()
    v.sweep(np.linspace(1.50, 1.60, sweep_points))  # factorised: one wavelength per solve
    t["sweep"] = time.perf_counter() - s
    return t


def case(n: int, samples: int, sweep_points: int, threads: int, reference: bool = False) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from gf_prune import prune as P
    from gf_prune.imperfections import Imperfections
    from gf_prune.layout import compile_network
    from gf_prune.model import PhotonicMLP
    from gf_prune.montecarlo import monte_carlo_accuracy
    from gf_prune.netlist import load_netlist
    from gf_prune.report import write_report
    from gf_prune.robustness import (
        fill_missing_positions,
        grid_heater_positions,
        heater_keys,
        heater_positions_from_gds,
    )
    from gf_prune.train import TrainConfig, fit
    from gf_prune.verify import Verifier

    t: dict[str, float] = {}
    data = _synthetic(n, samples)
    model = PhotonicMLP((n, n, 10), seed=0)
    fit(model, data, TrainConfig(epochs=1))  # warm-up (first-call costs)
    s = time.perf_counter()
    fit(model, data, TrainConfig(epochs=1))
    t["train_step"] = time.perf_counter() - s

    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _, _, _, _, m in model.phase_items():
            m.copy_(torch.rand(m.shape, generator=g) > 0.7)
    model.apply_masks()
    s = time.perf_counter()
    scores = P.phase_scores(model, "magnitude")
    live = sum(int(m.sum()) for _, _, _, _, m in model.phase_items())
    P.prune_lowest(model, scores, max(1, live // 10), "global", False)
    fit(model, data, TrainConfig(epochs=1))
    t["prune_round"] = time.perf_counter() - s

    net = model.to_phases()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        net.save(out / "phases.npz")
        s = time.perf_counter()
        compile_network(net, out, png=False, check=False)
        t["layout"] = time.perf_counter() - s

        s = time.perf_counter()
        recnet = load_netlist(out / "network.gds")
        t["netlist"] = time.perf_counter() - s

        s = time.perf_counter()
        v = Verifier(recnet, net)
        res = v.check()
        t["verify"] = time.perf_counter() - s

        s = time.perf_counter()
        v.sweep(np.linspace(1.50, 1.60, sweep_points))
        t["sweep"] = time.perf_counter() - s
        before = _verify_reference(out / "network.gds", net, sweep_points) if reference else None

        imp = Imperfections(sigma_ps=0.01, bits=8, sigma_bs=0.02, loss_db=0.25, crosstalk=0.01)
        s = time.perf_counter()
        grid = grid_heater_positions(model)
        groups = [(layer, mesh, kind) for layer, mesh, _, _, kind in heater_keys(model)]
        pos, _ = fill_missing_positions(heater_positions_from_gds(out / "network.gds", model), grid, groups)
        monte_carlo_accuracy(model, data.X_test, data.y_test, imp, trials=100, positions_um=pos)
        t["robust_100"] = time.perf_counter() - s

        s = time.perf_counter()
        html = write_report(out, {"accuracy": {"dense": None, "pruned": None}, "timings_s": dict(t)})
        t["report"] = time.perf_counter() - s
        report_bytes = html.stat().st_size
    return {
        "n": n,
        "heaters": len(heater_keys(model)),
        "verify_max_rel_error": res.max_rel_error,
        "report_bytes": report_bytes,
        "times_s": t,
        "verify_before_s": before,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _slope(ns: list[int], ts: list[float]) -> float:
    import numpy as np

    return float(np.polyfit(np.log(ns), np.log(ts), 1)[0]) if len(ns) >= 2 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--samples", type=int, default=720, help="synthetic samples (half train, half test)")
    ap.add_argument("--sweep-points", type=int, default=27)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--verify-reference", action="store_true", help="also time the earlier verification path")
    ap.add_argument("--case", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case is not None:
        print(json.dumps(case(args.case, args.samples, args.sweep_points, args.threads, args.verify_reference)))
        return
    rows = []
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--case", str(n), "--samples", str(args.samples)]
        cmd += ["--sweep-points", str(args.sweep_points), "--threads", str(args.threads)]
        cmd += ["--verify-reference"] if args.verify_reference else []
        s = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"N = {n}: failed\n{proc.stderr[-3000:]}", file=sys.stderr)
            break
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"N = {n}: done in {time.perf_counter() - s:.0f} s", file=sys.stderr, flush=True)
    if not rows:
        sys.exit(1)
    ns = [r["n"] for r in rows]
    print(f"signal widths N → N → 10, 70 % of phases pruned, {args.samples // 2} test inputs, {args.threads} threads")
    print(f"{'stage':<12}" + "".join(f"{'N=' + str(n):>10}" for n in ns) + f"{'exponent':>10}{'floor':>7}")
    for st in STAGES:
        ts = [r["times_s"][st] for r in rows]
        print(f"{st:<12}" + "".join(f"{x:>10.2f}" for x in ts) + f"{_slope(ns, ts):>10.2f}{FLOOR[st]:>7}")
    print(f"{'heaters':<12}" + "".join(f"{r['heaters']:>10}" for r in rows))
    print(f"{'peak MB':<12}" + "".join(f"{r['peak_rss_mb']:>10.0f}" for r in rows))
    print(f"{'report MB':<12}" + "".join(f"{r['report_bytes'] / 2**20:>10.2f}" for r in rows))
    print(f"{'verify err':<12}" + "".join(f"{r['verify_max_rel_error']:>10.1e}" for r in rows))
    if all(r.get("verify_before_s") for r in rows):
        print("the earlier verification path, same process (s), and earlier / today:")
        for st in ("netlist", "verify", "sweep"):
            before = [r["verify_before_s"][st] for r in rows]
            print(f"{st + ' before':<12}" + "".join(f"{x:>10.2f}" for x in before) + f"{_slope(ns, before):>10.2f}")
            ratios = [b / r["times_s"][st] for b, r in zip(before, rows, strict=True)]
            print(f"{st + ' ratio':<12}" + "".join(f"{x:>10.1f}" for x in ratios))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
