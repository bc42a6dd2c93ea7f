"""Core figures of gf_prune, each printed as a ratio against a baseline run in the same process.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_core.py            # all three sections
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_core.py step       # one section: accuracy|step|decompose

(a) accuracy   dense test accuracy of the default PhotonicMLP (16-16-16-10, Clements, bar) on digits-FFT16
               beside a same-size real-valued MLP (16-16-16-10, ReLU) fed |x| (the 16 moduli of the complex
               features; it discards their phase) and a 32-16-16-10 MLP fed [Re x, Im x] (all the information;
               the stronger baseline). Same data, split, optimiser (Adam, cosine schedule, 300 full-batch
               epochs), seed. Target: photonic within 2 points of the stronger one.
(b) step       one forward+backward step (loss on the full digits training batch, gradients of every
               parameter) of the default network: phase-parametrised (column matrices + product tree) vs the
               same network with unconstrained complex weight matrices (the floor) vs the same phases applied
               one 2×2 at a time (`mesh_unitary_torch_naive`). Also a single 64×64 layer on the same batch size.
               Targets: ≤ 5× the floor, ≥ 20× faster than one-at-a-time.
(c) decompose  Clements decomposition (`gf_prune.mesh.decompose`) at N = 64, 128, 256 vs the PyPI package
               `interferometer` (`square_decomposition`) when it is importable (a reference, not a dependency).
               Target: N = 256 in ≤ 1 s and faster than the reference.

Speed figures are wall-clock on this machine's CPU (torch float64/complex128, one thread): (b) median and min
of interleaved runs, so that load from other processes hits every candidate alike; (c) min of 5 runs for
gf_prune, one run of the reference. They are not asserted anywhere. On a shared machine absolute times scale
with the load average printed in (c); the ratios much less.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from gf_prune.data import Dataset, load_digits_fft16
from gf_prune.mesh import decompose, mesh_unitary, mesh_unitary_torch_naive
from gf_prune.model import PhotonicMLP, SVDLayer, modulus_softplus
from gf_prune.physics import attenuator_port, mzi_transfer_torch
from gf_prune.train import TrainConfig, accuracy, fit


def timeit(fn: Callable[[], object], repeat: int, warmup: int = 2, budget_s: float = 20.0) -> float:
    """Median wall time of ``fn`` (s) over ``repeat`` runs (fewer if they exceed ``budget_s``)."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s and len(times) >= 3:
            break
    return statistics.median(times)


def interleaved(fns: dict[str, Callable[[], object]], repeat: int, warmup: int = 2) -> dict[str, tuple[float, float]]:
    """(median, min) wall time of each fn, timed in alternating rounds so that load on a shared
    machine hits every candidate alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: (statistics.median(v), min(v)) for k, v in times.items()}


def header(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


# ----------------------------------------------------------------------------- (a) accuracy


class RealMLP(nn.Module):
    """Real-valued MLP with ReLU and LogSoftmax, bias included (a standard baseline)."""

    def __init__(self, sizes: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            if i:
                layers.append(nn.ReLU())
            layers.append(nn.Linear(a, b, dtype=torch.float64))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.net(x), dim=-1)


def bench_accuracy(epochs: int) -> None:
    header(f"(a) dense test accuracy on digits-FFT16 (450 test samples, {epochs} full-batch Adam epochs)")
    data = load_digits_fft16()
    cfg = TrainConfig(epochs=epochs)
    t0 = time.perf_counter()
    photonic = PhotonicMLP()
    res = fit(photonic, data, cfg)
    t_ph = time.perf_counter() - t0
    test_ph = accuracy(photonic, data.X_test, data.y_test)
    print(f"PhotonicMLP 16-16-16-10 (1374 phases)   test {test_ph:.4f}  train {res.train_acc:.4f}  ({t_ph:.1f} s)")

    def real_data(f: Callable[[torch.Tensor], torch.Tensor]) -> Dataset:
        return Dataset.from_tensors(
            data.name, f(data.X_train), data.y_train, f(data.X_test), data.y_test, f(data.X_val), data.y_val
        )

    feats = {
        "|x|     16-16-16-10": ((16, 16, 16, 10), lambda z: z.abs()),
        "[Re,Im] 32-16-16-10": ((32, 16, 16, 10), lambda z: torch.cat([z.real, z.imag], -1)),
    }
    accs = {}
    for name, (sizes, f) in feats.items():
        torch.manual_seed(0)
        mlp = RealMLP(sizes)
        n_par = sum(p.numel() for p in mlp.parameters())
        rd = real_data(f)
        r = fit(mlp, rd, cfg)
        accs[name] = accuracy(mlp, rd.X_test, rd.y_test)
        print(f"real MLP {name} ({n_par} params)   test {accs[name]:.4f}  train {r.train_acc:.4f}")
    best_name = max(accs, key=accs.get)
    for name, acc in accs.items():
        gap = 100 * (test_ph - acc)
        verdict = ("MET" if gap >= -2.0 else "MISSED") + (" (stronger baseline)" if name == best_name else "")
        print(f"photonic − real MLP {name} = {gap:+.2f} points (target ≥ −2) → {verdict}")


# ----------------------------------------------------------------------------- (b) training step


class ComplexMLP(nn.Module):
    """The floor: the same network with unconstrained complex weight matrices (no meshes)."""

    def __init__(self, sizes: tuple[int, ...]) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.weights = nn.ParameterList(
            nn.Parameter(torch.randn(b, a, dtype=torch.complex128, generator=g) / math.sqrt(a))
            for a, b in itertools.pairwise(sizes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for i, w in enumerate(self.weights):
            if i:
                h = modulus_softplus(h).to(torch.complex128)
            h = h @ w.T
        return torch.log_softmax(h.abs() ** 2, dim=-1)


def naive_layer_matrix(layer: SVDLayer) -> torch.Tensor:
    """SVDLayer.matrix() with both meshes applied one 2×2 at a time."""
    zs = layer.zero_state
    v = mesh_unitary_torch_naive(layer.topo_V, layer.phase("V", "theta"), layer.phase("V", "phi"), zs)
    u = mesh_unitary_torch_naive(layer.topo_U, layer.phase("U", "theta"), layer.phase("U", "phi"), zs)
    t = mzi_transfer_torch(layer.phase("S", "theta"), layer.phase("S", "phi"), zs)
    o, i = attenuator_port(zs)
    sigma = t[2 * o + i] * layer.gain
    k = layer.k
    return (u[:, :k] * sigma) @ v[:k, :]


class NaivePhotonicMLP(nn.Module):
    """Forward of a PhotonicMLP whose meshes are applied one MZI at a time (shares its parameters)."""

    def __init__(self, model: PhotonicMLP) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.to(torch.complex128)
        for i, layer in enumerate(self.model.layers):
            if i:
                h = modulus_softplus(h).to(torch.complex128)
            h = h @ naive_layer_matrix(layer).T
        return torch.log_softmax(h.abs() ** 2, dim=-1)


def step_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    params = [p for p in model.parameters() if p.requires_grad]

    def step() -> None:
        for p in params:
            p.grad = None
        nn.functional.nll_loss(model(x), y).backward()

    return step


def bench_step_case(label: str, sizes: tuple[int, ...], x: torch.Tensor, y: torch.Tensor, repeat: int) -> None:
    photonic = PhotonicMLP(sizes)
    naive = NaivePhotonicMLP(photonic)
    with torch.no_grad():  # the naive path computes the same thing
        err = (naive(x[:8]) - photonic(x[:8])).abs().max().item()
    fast = interleaved({"floor": step_fn(ComplexMLP(sizes), x, y), "phase": step_fn(photonic, x, y)}, repeat)
    slow = interleaved({"naive": step_fn(naive, x, y), "phase": step_fn(photonic, x, y)}, 3, warmup=1)
    (t_floor, m_floor), (t_phase, m_phase) = fast["floor"], fast["phase"]
    t_naive, m_naive = slow["naive"]
    t_phase2, m_phase2 = slow["phase"]
    print(f"{label}: batch {len(x)}, {sum(p.numel() for *_, p, _ in photonic.phase_items())} phases")
    print("  (median / min over interleaved runs; ratios of medians, min-ratios in brackets)")
    print(f"  complex weights (floor)      {1e3 * t_floor:9.2f} / {1e3 * m_floor:8.2f} ms")
    print(
        f"  phases, product tree         {1e3 * t_phase:9.2f} / {1e3 * m_phase:8.2f} ms"
        f"   = {t_phase / t_floor:5.2f}× floor [{m_phase / m_floor:5.2f}×]  (target ≤ 5×)"
    )
    print(
        f"  phases, one 2×2 at a time    {1e3 * t_naive:9.2f} / {1e3 * m_naive:8.2f} ms"
        f"   = {t_naive / t_phase2:5.1f}× slower than the tree [{m_naive / m_phase2:5.1f}×]  (target ≥ 20×)"
        f"   [max |Δ log p| = {err:.1e}]"
    )


def bench_step(repeat: int) -> None:
    header("(b) one forward+backward training step (float64/complex128, CPU)")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    data = load_digits_fft16()
    bench_step_case(
        "default 16-16-16-10 on the digits training batch", (16, 16, 16, 10), data.X_train, data.y_train, repeat
    )
    g = torch.Generator().manual_seed(1)
    n = len(data.y_train)
    x64 = torch.randn(n, 64, dtype=torch.complex128, generator=g)
    y64 = torch.randint(0, 64, (n,), generator=g)
    bench_step_case("single 64×64 layer (64 classes, random data)", (64, 64), x64, y64, max(5, repeat // 4))


# ----------------------------------------------------------------------------- (c) decomposition


def bench_decompose(sizes: list[int], ref_max_n: int) -> None:
    header("(c) Clements decomposition time (one Haar-random unitary per N; gf_prune: min of 5 runs)")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (the figures scale with it)")
    from scipy.stats import unitary_group

    try:
        import interferometer as itf
    except ImportError:
        itf = None
        print("reference `interferometer` not importable: ours only (pip install interferometer to compare)")
    ref_times: dict[int, float] = {}
    for n in sizes:
        u = unitary_group.rvs(n, random_state=n)
        times, cpu = [], []
        for _ in range(5):
            t0, c0 = time.perf_counter(), time.process_time()
            topo, th, ph, sc = decompose(u, "clements")
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        t_ours, t_med, t_cpu = min(times), statistics.median(times), min(cpu)
        err = np.linalg.norm(mesh_unitary(topo, th, ph, sc) - u) / math.sqrt(n)
        line = (
            f"N = {n:4d}: gf_prune {t_ours:7.3f} s (median {t_med:6.3f}, CPU {t_cpu:6.3f})"
            f"  (‖U − U(phases)‖_F/√N = {err:.1e})"
        )
        if itf is not None and n <= ref_max_n:
            t_ref = timeit(lambda u=u: itf.square_decomposition(u), repeat=1, warmup=0)
            ref_times[n] = t_ref
            line += f"   interferometer {t_ref:8.3f} s  → gf_prune {t_ref / t_ours:6.1f}× faster"
        elif itf is not None and len(ref_times) >= 2:
            (n1, t1), (n2, t2) = sorted(ref_times.items())[-2:]
            k = math.log(t2 / t1) / math.log(n2 / n1)
            est = t2 * (n / n2) ** k
            line += f"   interferometer not run (≈ {est:.0f} s extrapolated as N^{k:.1f}; --ref-max-n {n} to run it)"
        verdict = ""
        if n == 256:
            ok = {True: "MET", False: "MISSED"}
            verdict = f"  [target ≤ 1 s: wall {ok[t_ours <= 1.0]}, CPU {ok[t_cpu <= 1.0]}]"
        print(line + verdict, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sections", nargs="*", default=["accuracy", "step", "decompose"])
    ap.add_argument("--epochs", type=int, default=TrainConfig().epochs)
    ap.add_argument("--repeat", type=int, default=40)
    ap.add_argument("--ref-max-n", type=int, default=128, help="largest N the reference decomposes (it is O(N^5))")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    for s in args.sections:
        if s == "accuracy":
            bench_accuracy(args.epochs)
        elif s == "step":
            bench_step(args.repeat)
        elif s == "decompose":
            bench_decompose([64, 128, 256], args.ref_max_n)
        else:
            ap.error(f"unknown section {s!r} (accuracy, step, decompose)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
