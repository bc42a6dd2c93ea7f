"""Clements vs butterfly (PSNN-style) meshes: the issue-15 comparison table.

Part 1 — digits-FFT16, 16→16→16→10, no bias mode, seeds 0 1 2: for each mesh kind train dense, prune
(a SHORT config by default: magnitude_iterative with ``--dense-epochs`` and ``--finetune-epochs``,
not the default LTH recipe), lay the pruned network out (pruned MZIs removed) and verify it in SAX.
Reports U/V phases, MZIs, crossings, dense/pruned test accuracy, static power, chip area and the
verification error.

Part 2 — scaling at 64 modes (one 64×64 SVD layer, random phases, no training): MZIs, phases,
crossings, layer area, one training step (batch 64, Adam) and layout + SAX verify time.

Run (one core)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_butterfly.py --seeds 0 1 2
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_butterfly.py --part 2

Figures are measurements, not pass/fail tests (see README, "Butterfly meshes").
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
import torch

from gf_prune.data import load_digits_fft16
from gf_prune.layout import build_network
from gf_prune.model import PhotonicMLP, SVDLayer
from gf_prune.phases import NetworkPhases
from gf_prune.prune import run_pruning
from gf_prune.verify import verify

KINDS = ("clements", "butterfly")


def run_digits(kind: str, seed: int, dense_epochs: int, finetune_epochs: int) -> dict[str, Any]:
    torch.manual_seed(seed)
    data = load_digits_fft16(seed)
    model = PhotonicMLP((16, 16, 16, 10), mesh_kind=kind, seed=seed, init="zero", init_std=0.5)
    cfg = {
        "method": "magnitude_iterative",
        "dense_epochs": dense_epochs,
        "finetune_epochs": finetune_epochs,
        "max_loss": 0.05,
        "seed": seed,
    }
    t0 = time.perf_counter()
    res = run_pruning(model, data, cfg)
    t_prune = time.perf_counter() - t0
    s = res.summary()
    net = res.model.to_phases()
    t0 = time.perf_counter()
    chip = build_network(net, "remove")
    vr = verify(chip, net)
    t_lv = time.perf_counter() - t0
    bb = chip.dbbox()
    return {
        "kind": kind,
        "seed": seed,
        "phases_uv": s["phases"]["total_uv"],
        "pruned_uv": s["phases"]["pruned_uv"],
        "mzis": sum(lp.V.topo.n_mzis + lp.U.topo.n_mzis + lp.S.k for lp in net.layers),
        "removed": int(sum(lp.V.removable.sum() + lp.U.removable.sum() for lp in net.layers)),
        "crossings": sum(lp.V.topo.n_crossings + lp.U.topo.n_crossings for lp in net.layers),
        "dense": s["accuracy"]["dense"],
        "pruned": s["accuracy"]["pruned"],
        "power_dense_mw": s["power_mw"]["dense"],
        "power_pruned_mw": s["power_mw"]["pruned"],
        "area_mm2": float(bb.width() * bb.height()) * 1e-6,
        "verify": vr.max_rel_error,
        "prune_s": t_prune,
        "layout_verify_s": t_lv,
    }


def _ms(vals: list[float], fmt: str) -> str:
    if len(vals) == 1:
        return fmt.format(vals[0])
    return f"{fmt.format(statistics.mean(vals))} ± {fmt.format((max(vals) - min(vals)) / 2)}"


def part1(seeds: list[int], dense_epochs: int, finetune_epochs: int) -> None:
    rows = [run_digits(k, s, dense_epochs, finetune_epochs) for k in KINDS for s in seeds]
    print(
        "| mesh | U/V phases | pruned U/V | MZIs (mesh+Σ) | removed | crossings | dense % | pruned % "
        "| power dense → pruned (W) | area mm² | verify err | prune s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for k in KINDS:
        r = [x for x in rows if x["kind"] == k]

        def col(key: str, r: list[dict[str, Any]] = r) -> list[float]:
            return [float(x[key]) for x in r]

        print(
            f"| {k} | {r[0]['phases_uv']} | {_ms(col('pruned_uv'), '{:.0f}')} | {r[0]['mzis']} "
            f"| {_ms(col('removed'), '{:.0f}')} | {r[0]['crossings']} "
            f"| {_ms([100 * v for v in col('dense')], '{:.1f}')} "
            f"| {_ms([100 * v for v in col('pruned')], '{:.1f}')} "
            f"| {_ms([v / 1e3 for v in col('power_dense_mw')], '{:.2f}')} → "
            f"{_ms([v / 1e3 for v in col('power_pruned_mw')], '{:.2f}')} "
            f"| {_ms(col('area_mm2'), '{:.1f}')} | {max(col('verify')):.1e} | {_ms(col('prune_s'), '{:.0f}')} |"
        )
    for x in rows:
        print(x)


def train_step_ms(kind: str, n: int = 64, reps: int = 10) -> tuple[float, float]:
    layer = SVDLayer(n, n, kind, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(layer.parameters(), 1e-3)
    x = torch.randn(64, n, dtype=torch.complex128, generator=torch.Generator().manual_seed(1))
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        opt.zero_grad()
        (layer(x).abs() ** 2).sum().backward()
        opt.step()
        ts.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(ts[2:])), 1e3 * min(ts)


def part2(n: int = 64) -> None:
    print(
        f"| mesh ({n} modes) | MZIs/mesh | phases (U+V) | crossings/mesh | layer area mm² | train step ms "
        "(median, min) | layout s | verify s | verify err |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for kind in KINDS:
        med, mn = train_step_ms(kind, n)
        layer = SVDLayer(n, n, kind, generator=torch.Generator().manual_seed(0))
        net = NetworkPhases([layer.to_phases()], "bar", kind)
        t0 = time.perf_counter()
        chip = build_network(net, "remove")
        t1 = time.perf_counter()
        vr = verify(chip, net)
        t2 = time.perf_counter()
        bb = chip.dbbox()
        topo = layer.topo_U
        print(
            f"| {kind} | {topo.n_mzis} | {4 * topo.n_mzis} | {topo.n_crossings} "
            f"| {bb.width() * bb.height() * 1e-6:.1f} "
            f"| {med:.1f}, {mn:.1f} | {t1 - t0:.1f} | {t2 - t1:.1f} | {vr.max_rel_error:.1e} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--part", type=int, choices=(0, 1, 2), default=0, help="0 = both")
    ap.add_argument("--dense-epochs", type=int, default=150)
    ap.add_argument("--finetune-epochs", type=int, default=30)
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.part in (0, 1):
        part1(a.seeds, a.dense_epochs, a.finetune_epochs)
    if a.part in (0, 2):
        part2()


if __name__ == "__main__":
    main()
