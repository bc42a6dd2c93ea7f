"""Speed of the vectorised Monte-Carlo: 1000 trials over the default test set at one noise setting.

Baselines, both over the same test set and the same noise setting:
- ``loop``: a Python loop over trials, each trial perturbs a copy of the model's phases and runs the
  model's own forward (what most research code does);
- ``loop_t1``: a Python loop calling gf_prune.robustness one trial at a time (same code, no batching).
Loops are run on ``--loop-trials`` trials and scaled to ``--trials`` (stated in the output).

Usage::

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_robustness.py --threads 2
"""

from __future__ import annotations

import argparse
import copy
import math
import time

import numpy as np
import torch

from gf_prune import robustness as R
from gf_prune.data import load_digits_fft16
from gf_prune.model import PhotonicMLP
from gf_prune.train import TrainConfig, accuracy, fit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--loop-trials", type=int, default=100)
    ap.add_argument("--sigma-ps", type=float, default=0.01, help="phase error std in units of π")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=300, help="training epochs of the dense model")
    ap.add_argument("--load", default=None, help="state_dict of a trained default PhotonicMLP (skips training)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    data = load_digits_fft16()
    model = PhotonicMLP(seed=0)
    t = time.perf_counter()
    if args.load:
        model.load_state_dict(torch.load(args.load))
    else:
        fit(model, data, TrainConfig(epochs=args.epochs))
    print(
        f"{'loaded' if args.load else 'trained'} dense 16-16-16-10 in {time.perf_counter() - t:.1f} s, clean test "
        f"accuracy {accuracy(model, data.X_test, data.y_test):.4f} on {len(data.y_test)} samples"
    )
    imp = R.Imperfections(sigma_ps=args.sigma_ps)

    R.monte_carlo_accuracy(model, data.X_test, data.y_test, imp, trials=8)  # warm-up
    t = time.perf_counter()
    acc = R.monte_carlo_accuracy(model, data.X_test, data.y_test, imp, trials=args.trials, seed=0)
    t_vec = time.perf_counter() - t
    s = R.summarize(acc)
    print(
        f"vectorised: {args.trials} trials, σ_PS = {args.sigma_ps}π: {t_vec:.2f} s "
        f"(mean {s['mean']:.4f}, p5 {s['p5']:.4f}, p95 {s['p95']:.4f})"
    )

    # baseline 1: perturb a model copy per trial, model forward
    n = args.loop_trials
    draws = R._draw(len(R.heater_keys(model)), n, 0)
    noisy = copy.deepcopy(model)
    params = [(p, m) for _, _, _, p, m in noisy.phase_items()]
    base = [p.detach().clone() for p, _ in params]
    t = time.perf_counter()
    acc_loop = []
    with torch.no_grad():
        for k in range(n):
            off = 0
            for (p, m), b in zip(params, base, strict=True):
                z = draws.z_ps[k, off : off + p.numel()]
                p.copy_(torch.where(m, b + args.sigma_ps * math.pi * z, b))
                off += p.numel()
            acc_loop.append(accuracy(noisy, data.X_test, data.y_test))
    t_loop = (time.perf_counter() - t) * args.trials / n
    same = float(np.max(np.abs(np.array(acc_loop) - acc[:n]))) if args.trials >= n else float("nan")

    # baseline 2: the same library, one trial per call
    t = time.perf_counter()
    for k in range(n):
        d = R._Draws(draws.z_ps[k : k + 1], draws.z_bs[k : k + 1], draws.z_il[k : k + 1])
        mats = R.perturbed_matrices(model, imp, draws=d)
        (R._forward_fields(mats, data.X_test).abs() ** 2).argmax(-1)
    t_t1 = (time.perf_counter() - t) * args.trials / n

    print(
        f"python loop over trials (model forward): {t_loop:.2f} s for {args.trials} "
        f"(measured on {n}, scaled)  → speed-up {t_loop / t_vec:.1f}×; max |Δ accuracy| vs vectorised {same:.1e}"
    )
    print(
        f"python loop over trials (library, T=1):  {t_t1:.2f} s for {args.trials} "
        f"(measured on {n}, scaled)  → speed-up {t_t1 / t_vec:.1f}×"
    )
    print(f"threads {torch.get_num_threads()}; target ≤ 30 s: {'PASS' if t_vec <= 30 else 'FAIL'}")


if __name__ == "__main__":
    main()
