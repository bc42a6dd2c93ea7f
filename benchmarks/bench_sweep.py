"""Sweep speed-up: 4 trials that differ only by seed (nothing shared), one torch/BLAS thread each,
on 2 Ray workers vs the same 4 one after another (each a plain `gf-prune run`); then check that every
trial's figures equal its configuration run alone. Not a timed test: it prints the figures.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_sweep.py --out bench_sweep_out [--epochs 150]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

BASE = """
train:
  epochs: {epochs}
prune:
  method: lth
  max_rounds: {rounds}
  lth_continue: false
  max_loss: 1.0
layout:
  enabled: {layout}
robustness:
  enabled: false
"""
KEYS = ["accuracy.dense", "accuracy.pruned", "accuracy.val_pruned", "phases.pruned_uv", "power_mw.pruned"]


def cli(*args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "gf_prune.cli", *args], check=True, env=env, stdout=subprocess.DEVNULL)


def get(d: dict, dotted: str):
    for p in dotted.split("."):
        d = d[p]
    return d


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("bench_sweep_out"))
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--layout", action="store_true", help="also lay out and verify each trial")
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    base = BASE.format(epochs=args.epochs, rounds=args.rounds, layout=str(args.layout).lower())
    seeds = [0, 1, 2, 3]
    sweep_cfg = args.out / "sweep.yaml"
    sweep_cfg.write_text(base + f"sweep:\n  seeds: {seeds}\n")

    t0 = time.perf_counter()
    cli("sweep", str(sweep_cfg), "--out", str(args.out / "sweep"), "--workers", "2")
    t_sweep = time.perf_counter() - t0

    t0 = time.perf_counter()
    for s in seeds:
        cfg = args.out / f"seed{s}.yaml"
        cfg.write_text(base + f"seed: {s}\n")
        cli("run", "--out", str(args.out / f"alone{s}"), "--config", str(cfg))
    t_serial = time.perf_counter() - t0

    same = True
    for s in seeds:
        (trial,) = [p for p in (args.out / "sweep" / "trials").iterdir() if p.name.startswith(f"seed={s}-")]
        a = json.loads((trial / "report.json").read_text())
        b = json.loads((args.out / f"alone{s}" / "report.json").read_text())
        for k in KEYS:
            if get(a, k) != get(b, k):
                same = False
                print(f"seed {s}: {k} differs: sweep {get(a, k)} vs alone {get(b, k)}")
    print(
        f"4 trials (seeds {seeds}), 1 thread each: sweep on 2 workers {t_sweep:.1f} s, "
        f"one after another {t_serial:.1f} s, speed-up {t_serial / t_sweep:.2f}x"
    )
    print(f"figures identical to `gf-prune run` alone ({', '.join(KEYS)}): {same}")


if __name__ == "__main__":
    main()
