"""Cost of the prune stage against the number of training samples, with a fixed round count.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_prune_scaling.py [--sizes 750 1500 3000]

Data: ``make_classification(n_samples=4000, n_features=40, n_informative=20, n_redundant=10, n_classes=10,
random_state=0)``, the last 1000 samples the test set; the first n of the rest are the user's training file
(the validation split is carved from them). Each size runs the pipeline's prune stage (the default recipe for
feature rows) with ``max_rounds`` LTH rounds and ``max_steps`` continuation steps fixed, in a fresh process each,
one thread. Printed: wall seconds per size and the fitted exponent of time ∝ n^k (target: k ≤ 1).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = """
import sys, time, torch
torch.set_num_threads(1)
from gf_prune.config import RunConfig, validate
from gf_prune.pipeline import get_data, stage_prune, stage_train
from pathlib import Path
src, out, rounds, steps = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
cfg = validate(RunConfig, {"data": {"source": src},
                           "prune": {"max_rounds": rounds, "max_steps": steps, "max_loss": 1.0}})
data = get_data(cfg)
stage_train(out, cfg, data)
t = time.perf_counter()
stage_prune(out, cfg, data)
print(data.n_train, time.perf_counter() - t)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", type=int, default=[750, 1500, 3000])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=2)
    args = ap.parse_args()
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=4000, n_features=40, n_informative=20, n_redundant=10, n_classes=10, random_state=0
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            src = Path(tmp) / f"synthetic_{n}.npz"
            np.savez(src, X=x[:n], y=y[:n], X_test=x[3000:], y_test=y[3000:])
            out = Path(tmp) / f"out_{n}"
            out.mkdir()
            t0 = time.perf_counter()
            r = subprocess.run(
                [sys.executable, "-c", CHILD, str(src), str(out), str(args.rounds), str(args.steps)],
                capture_output=True,
                text=True,
                check=True,
            )
            n_train, secs = r.stdout.split()[-2:]
            rows.append((n, int(n_train), float(secs)))
            print(
                f"n = {n:5d} (train split {n_train}): prune stage {float(secs):7.1f} s "
                f"(process {time.perf_counter() - t0:.1f} s)",
                flush=True,
            )
    n_tr = np.log([r[1] for r in rows])
    secs = np.log([r[2] for r in rows])
    k = float(np.polyfit(n_tr, secs, 1)[0])
    print(f"fitted exponent: time ∝ n_train^{k:.2f} (target ≤ 1) → {'MET' if k <= 1.0 else 'MISSED'}")


if __name__ == "__main__":
    main()
