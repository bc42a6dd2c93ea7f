"""SAX verification speed: gf_prune's compiled netlist solver vs flat ``sax.circuit`` (klu).

For each mesh size N a Clements mesh is laid out with ``gf_prune.components.mesh``
(every MZI with both heaters, random phases) and its recursive netlist extracted
(not timed: that is the layout's job). Timed, compile included, in a fresh process
per case (no JIT cache carried over):

- ours: ``CompiledCircuit(netlist)`` + first ``evaluate`` (and a re-evaluation with
  new phases, no recompiling);
- flat: ``sax.circuit(flat_netlist, backend="klu")`` + its first call (N ≤ 16 by
  default; ``--flat 32`` adds N = 32, which may take minutes).

Also the default 16-16-16-10 chip (random, 30 % of the phases live): ``verify`` from
the netlist, compile included. Printed as a table; nothing is asserted.

``--scale N …`` (issue 17): verification from the GDS file at scale, today's path against the
earlier one **in the same process**. A chip N → N → 10 (70 % of the phases pruned at random,
compacted, as ``gf-prune run`` lays it out) is written to ``network.gds`` (not timed); then, each
path in turn, timed stage by stage after the imports:

- ``netlist``: the GDS read back — now :func:`gf_prune.netlist.read_gds_netlist` (klayout.db);
  before, ``gf.import_gds`` + :func:`~gf_prune.netlist.extract_netlist`;
- ``compile``: :class:`~gf_prune.verify.Verifier` (circuit, blocks, heater phases) — now with the
  substituted cells (:mod:`gf_prune.cascade`), before ``CompiledCircuit(feed_forward=False)``;
- ``check``: ``Verifier.check()`` at 1.55 µm (the first evaluation: XLA compiles the leaf models;
  the new path runs first, so the earlier one finds them compiled — the ratio is conservative);
- ``sweep``: ``Verifier.sweep()`` (the default 27 wavelengths; before: one wavelength per solve).

Printed per N: seconds per stage for both paths, the ratio of the totals, max |ΔS| between the two
engines' chip S-matrices (1.55 µm and the sweep), the verification error, and the process's peak
resident memory. ``--layer 128`` adds a single 128-mode SVD layer through layout + verify + sweep.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_verify.py            # 8, 16 (+flat), 64, 128, chip
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_verify.py --sizes 8 --flat 8
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_verify.py --sizes --no-chip --scale 16 32 64 128 --layer 128
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time


def _mesh_netlist(n: int):
    from gf_prune.components.mesh import mesh

    from gf_prune.layout import activate_pdk
    from gf_prune.netlist import extract_netlist

    activate_pdk()
    return extract_netlist(mesh(n, layer=0, mesh_name="U"))


def case_mesh(n: int, flat: bool) -> dict:
    import numpy as np

    from gf_prune.mesh import mesh_unitary, topology
    from gf_prune.verify import CompiledCircuit, slot_tag

    t = time.perf_counter()
    recnet = _mesh_netlist(n)
    out = {"n": n, "layout_and_netlist_s": time.perf_counter() - t}
    topo = topology(n)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    cc = CompiledCircuit(recnet)
    t1 = time.perf_counter()
    th, ph = rng.uniform(0, 2 * np.pi, (2, topo.n_mzis))
    k = [topo.index(*slot_tag(s[0])[2:]) for s in cc.slots]
    vals = np.where([s[-1] == "theta" for s in cc.slots], th[k], ph[k])
    s = cc.evaluate(vals)
    t2 = time.perf_counter()
    s2 = cc.evaluate(rng.uniform(0, 2 * np.pi, len(cc.slots)))
    t3 = time.perf_counter()
    pos = {p: i for i, p in enumerate(cc.ports)}
    u = s[np.ix_([pos[f"out{r}"] for r in range(n)], [pos[f"in{r}"] for r in range(n)])]
    m = mesh_unitary(topo, th, ph)
    alpha = np.angle(np.vdot(m, u))
    out.update(
        instances=sum(len(g.names) * cc.cell(name).count for name in cc._order for g in cc.cell(name).groups if g.leaf),
        ours_compile_s=t1 - t0,
        ours_total_s=t2 - t0,
        ours_reeval_s=t3 - t2,
        rel_error=float(np.linalg.norm(u - np.exp(1j * alpha) * m) / np.linalg.norm(m)),
    )
    del s2
    if flat:
        import sax

        from gf_prune.sax_models import models

        t0 = time.perf_counter()
        circ, _ = sax.circuit(cc.flat_netlist(vals), models=models(), backend="klu", return_type="SDense")
        sf, pm = circ(wl=1.55)
        sf = np.asarray(sf)
        t1 = time.perf_counter()
        idx = [pm[p] for p in cc.ports]
        out.update(flat_total_s=t1 - t0, flat_max_abs_diff=float(np.max(np.abs(sf[np.ix_(idx, idx)] - s))))
    return out


def case_chip() -> dict:
    import numpy as np

    from gf_prune.layout import activate_pdk, build_network
    from gf_prune.mesh import topology
    from gf_prune.netlist import extract_netlist
    from gf_prune.phases import LayerPhases, MeshPhases, NetworkPhases, SigmaPhases
    from gf_prune.verify import verify

    rng = np.random.default_rng(0)

    def mp(n: int) -> MeshPhases:
        k = topology(n).n_mzis
        return MeshPhases(n, "clements", *rng.uniform(0, 2 * np.pi, (2, k)), rng.random(k) < 0.3, rng.random(k) < 0.3)

    sizes = (16, 16, 16, 10)
    layers = []
    for a, b in itertools.pairwise(sizes):
        k = min(a, b)
        s = SigmaPhases(rng.uniform(0, np.pi, k), rng.uniform(0, 2 * np.pi, k), np.ones(k, bool), rng.random(k) < 0.3)
        layers.append(LayerPhases(a, b, mp(a), s, mp(b)))
    net = NetworkPhases(layers)
    activate_pdk()
    t = time.perf_counter()
    recnet = extract_netlist(build_network(net))
    t0 = time.perf_counter()
    res = verify(recnet, net)
    t1 = time.perf_counter()
    res_sweep = verify(recnet, net, sweep=True)
    return {
        "chip": "16-16-16-10",
        "layout_and_netlist_s": t0 - t,
        "verify_total_s": t1 - t0,
        "timings_s": res.timings_s,
        "max_rel_error": res.max_rel_error,
        "passed": res.passed,
        "sweep_s": res_sweep.timings_s.get("sweep"),
        "sweep_points": len(res_sweep.sweep["wavelength_um"]),
    }


def _pruned_network(sizes: tuple[int, ...], seed: int = 0):
    """The bench_scale network: PhotonicMLP phases, 70 % of them pruned at random."""
    import torch

    from gf_prune.model import PhotonicMLP

    model = PhotonicMLP(sizes, seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, _, _, _, m in model.phase_items():
            m.copy_(torch.rand(m.shape, generator=g) > 0.7)
    model.apply_masks()
    return model.to_phases()


def _verify_path(gds, net, new: bool) -> tuple[dict, object, object]:
    """Stage timings of one verification path from the GDS file; (timings, Verifier, sweep S-matrices)."""
    from gf_prune.netlist import _import_gds, extract_netlist, read_gds_netlist
    from gf_prune.verify import Verifier

    t: dict[str, float] = {}
    s = time.perf_counter()
    recnet = read_gds_netlist(gds) if new else extract_netlist(_import_gds(gds))
    t["netlist"] = time.perf_counter() - s
    s = time.perf_counter()
    v = Verifier(recnet, net, feed_forward=new)
    t["compile"] = time.perf_counter() - s
    s = time.perf_counter()
    res = v.check()
    t["check"] = time.perf_counter() - s
    s = time.perf_counter()
    sweep = v.sweep()
    t["sweep"] = time.perf_counter() - s
    t["total"] = sum(t.values())
    wls = sweep["wavelength_um"]
    return {"times_s": t, "max_rel_error": res.max_rel_error, "sweep_points": len(wls)}, v, wls


def case_scale(sizes: tuple[int, ...]) -> dict:
    import resource
    import tempfile
    from pathlib import Path

    import numpy as np

    from gf_prune.layout import compile_network

    net = _pruned_network(sizes)
    out: dict = {"sizes": list(sizes)}
    with tempfile.TemporaryDirectory() as tmp:
        s = time.perf_counter()
        compile_network(net, tmp, png=False, check=False)
        out["layout_s"] = time.perf_counter() - s
        gds = Path(tmp) / "network.gds"
        new, v_new, wls = _verify_path(gds, net, new=True)
        peak_new = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        old, v_old, _ = _verify_path(gds, net, new=False)
        out.update(new=new, old=old, peak_rss_mb_new=peak_new)
        s_new, s_old = v_new.cc.evaluate(v_new.phases), v_old.cc.evaluate(v_old.phases)
        sw_new = v_new.cc.evaluate_sweep(v_new.phases, wls)
        sw_old = v_old.cc.evaluate_sweep(v_old.phases, wls, chunk=v_new.cc.sweep_chunk)
        out["max_abs_diff"] = float(np.max(np.abs(s_new - s_old)))
        out["max_abs_diff_sweep"] = float(np.max(np.abs(sw_new - sw_old)))  # same λ batches: same leaf values
        out["sweep_chunk"] = v_new.cc.sweep_chunk
        out["heaters"] = len(v_new.cc.slots)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _print_scale(rows: list[dict]) -> None:
    stages = ("netlist", "compile", "check", "sweep", "total")
    print("verification from network.gds, today's path vs the earlier one in the same process (seconds)")
    head = f"{'chip':<12}{'layout':>8}" + "".join(f"{st:>16}" for st in stages) + f"{'ratio':>7}"
    print(head + f"{'max|ΔS|':>10}{'Δ sweep':>10}{'rel err':>9}{'peak MB':>9}")
    for r in rows:
        if "error" in r:
            print(f"{r.get('label', '?'):<12} {r['error']}")
            continue
        label = "-".join(map(str, r["sizes"]))
        cells = "".join(f"{r['new']['times_s'][st]:>7.2f} / {r['old']['times_s'][st]:>6.2f}" for st in stages)
        ratio = r["old"]["times_s"]["total"] / r["new"]["times_s"]["total"]
        print(
            f"{label:<12}{r['layout_s']:>8.2f}{cells}{ratio:>7.1f}{r['max_abs_diff']:>10.1e}"
            f"{r['max_abs_diff_sweep']:>10.1e}{r['new']['max_rel_error']:>9.1e}{r['peak_rss_mb_new']:>9.0f}"
        )
    print(
        "cells: now / before. now = read_gds_netlist + substituted circuit + batched sweep; before = "
        "gf.import_gds + extract_netlist + factorised solves, one λ per solve. peak MB: after the new path."
    )


def _run(args: list[str], timeout: float) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    try:
        p = subprocess.run(
            [sys.executable, __file__, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {"error": p.stderr.strip().splitlines()[-1:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="*", default=[8, 16, 64, 128])
    ap.add_argument("--flat", type=int, nargs="*", default=[8, 16], help="sizes also timed with flat sax.circuit")
    ap.add_argument("--no-chip", action="store_true")
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--scale", type=int, nargs="*", default=[], help="chips N-N-10 verified from the GDS, both paths")
    ap.add_argument("--layer", type=int, nargs="*", default=[], help="single N-mode SVD layers, layout + verify")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.case:  # worker
        if a.case.startswith("scale"):
            sizes = tuple(int(x) for x in a.case.removeprefix("scale").split("-"))
            r = case_scale(sizes)
        else:
            r = case_chip() if a.case == "chip" else case_mesh(int(a.case), int(a.case) in a.flat)
        print(json.dumps(r))
        return
    if a.scale or a.layer:
        chips = [f"{n}-{n}-10" for n in a.scale] + [f"{n}-{n}" for n in a.layer]
        rows = []
        for c in chips:
            r = _run(["--case", f"scale{c}"], a.timeout)
            rows.append({"label": c, **r})
            print(f"{c}: done", file=sys.stderr, flush=True)
        _print_scale(rows)
    head = ("N", "leaf inst", "ours s", "re-eval s", "flat klu s", "ratio", "max|Δ|", "rel err")
    print("{:>5} {:>9} {:>8} {:>9} {:>10} {:>7} {:>9} {:>9}".format(*head))
    for n in a.sizes:
        r = _run(["--case", str(n), "--flat", *map(str, a.flat)], a.timeout)
        if "error" in r:
            print(f"{n:>5} {r['error']}")
            continue
        flat = r.get("flat_total_s")
        ratio = f"{flat / r['ours_total_s']:7.1f}" if flat else f"{'-':>7}"
        flat_s = f"{flat:10.2f}" if flat else f"{'-':>10}"
        diff = f"{r['flat_max_abs_diff']:9.1e}" if flat else f"{'-':>9}"
        print(
            f"{n:>5} {r['instances']:>9} {r['ours_total_s']:8.2f} {r['ours_reeval_s']:9.3f} {flat_s} {ratio} "
            f"{diff} {r['rel_error']:9.1e}",
            flush=True,
        )
    if not a.no_chip:
        r = _run(["--case", "chip"], a.timeout)
        if "error" in r:
            print("chip", r["error"])
        else:
            print(
                f"chip 16-16-16-10: verify {r['verify_total_s']:.2f} s (compile {r['timings_s']['compile']:.2f} s, "
                f"evaluate {r['timings_s']['evaluate']:.2f} s), max_rel_error {r['max_rel_error']:.1e}, "
                f"passed {r['passed']}; {r['sweep_points']}-point λ sweep {r['sweep_s']:.2f} s"
            )
    print("ours = CompiledCircuit + first evaluate (compile included); flat = sax.circuit(klu) + first call.")


if __name__ == "__main__":
    main()
