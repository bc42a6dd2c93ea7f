"""Dense accuracy on several offline datasets: PhotonicMLP (bias on/off) vs an unconstrained complex network vs a
real MLP, all trained with the pipeline's recipe and early stopping on the same validation split.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_data.py                     # every dataset, seeds 0 1 2
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_data.py --datasets iris wine --seeds 0
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_data.py --chain --out bench_data_out   # + prune → GDS → SAX

Datasets (all load offline): ``digits`` (scikit-learn's 8×8 digits through FFT-16, the default task; its fixed
450-image test split), ``digits-pixels`` (the same images as 64 real feature rows), ``iris``, ``wine``,
``breast_cancer`` (scikit-learn's bundled tables) and ``synthetic`` (``make_classification(n_samples=4000,
n_features=40, n_informative=20, n_redundant=10, n_classes=10, random_state=0)``, last 1000 samples the test set).
The small tables (iris, wine, breast_cancer: 30–114 test samples, one sample is 1–3 points) use stratified 5-fold
cross-validation × seeds; the others one split per seed. A validation split (15 %, stratified) is always carved
from the training part (``gf_prune.data.load_dataset``), and every model stops early on it.

Models, same widths (features → hidden… → classes), same data and encoding:

- ``photonic+bias`` / ``photonic``: :class:`gf_prune.model.PhotonicMLP` with and without the optical bias mode;
  ``auto`` picks the bias for feature rows and none for the Fourier features of images.
- ``complex+bias`` / ``complex``: unconstrained complex weight matrices (no mesh, no Σ ≤ 1 constraint), the same
  modulus-softplus between layers and |·|² detection: the photonic network's ceiling.
- ``real MLP``: a real-valued ReLU MLP with biases on the standardised features (``[Re, Im]`` of the Fourier
  features for images).

Printed: mean test accuracy with a 95 % interval (t-distribution over folds × seeds), the photonic − complex and
photonic − real gaps (targets: ≥ −1 and ≥ −3 points), and with ``--chain`` a full ``gf-prune run`` (short pruning)
per dataset: U/V sparsity within the budget, validation/test accuracy, SAX verification error.
"""

from __future__ import annotations

import argparse
import itertools
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gf_prune.config import RunConfig
from gf_prune.data import Dataset, load_dataset
from gf_prune.model import PhotonicMLP, modulus_softplus
from gf_prune.pipeline import INIT_STD_FEATURES, INIT_STD_IMAGES
from gf_prune.train import TrainConfig, accuracy, fit

SMALL = ("iris", "wine", "breast_cancer")
ALL = ("digits", "digits-pixels", "iris", "wine", "breast_cancer", "synthetic")
MODELS = ("photonic+bias", "photonic", "complex+bias", "complex", "real MLP")


class ComplexMLP(nn.Module):
    """Unconstrained complex weights, modulus-softplus between layers, |·|² detection (the photonic ceiling)."""

    def __init__(self, sizes: list[int], bias: bool, seed: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.bias = bias
        self.ws = nn.ParameterList()
        for a, b in itertools.pairwise(sizes):
            n_in = a + int(bias)
            w = torch.complex(torch.randn(b, n_in, generator=g), torch.randn(b, n_in, generator=g)).to(torch.complex128)
            self.ws.append(nn.Parameter(w / math.sqrt(2 * n_in)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.to(torch.complex128)
        for i, w in enumerate(self.ws):
            if i:
                h = modulus_softplus(h).to(torch.complex128)
            if self.bias:
                h = torch.cat([h, torch.ones(len(h), 1, dtype=torch.complex128)], 1)
            h = h @ w.T
        return torch.log_softmax(h.abs() ** 2, dim=-1)


class RealMLP(nn.Module):
    def __init__(self, sizes: list[int], seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            layers += [nn.Linear(a, b, dtype=torch.float64)] + ([nn.ReLU()] if i < len(sizes) - 2 else [])
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.net(x), dim=-1)


def raw_table(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    if name == "digits-pixels":
        d = datasets.load_digits()
        return d.data, d.target
    if name == "synthetic":
        return datasets.make_classification(
            n_samples=4000, n_features=40, n_informative=20, n_redundant=10, n_classes=10, random_state=0
        )
    loader = {"iris": datasets.load_iris, "wine": datasets.load_wine, "breast_cancer": datasets.load_breast_cancer}
    d = loader[name]()
    return d.data, d.target


def splits(name: str, seeds: list[int], folds: int, tmp: Path) -> list[tuple[str, int, Callable[[], Dataset]]]:
    """(source, seed, loader) per evaluation: CV folds for the small tables, one split per seed otherwise."""
    if name == "digits":
        return [("digits", s, lambda enc="unit_norm", s=s: load_dataset("digits", s, encoding=enc)) for s in seeds]
    x, y = raw_table(name)
    out = []
    if name in SMALL:
        from sklearn.model_selection import StratifiedKFold

        for s in seeds:
            for k, (tr, te) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=s).split(x, y)):
                p = tmp / f"{name}_s{s}_f{k}.npz"
                np.savez(p, X=x[tr], y=y[tr], X_test=x[te], y_test=y[te])
                out.append((str(p), s, lambda enc="unit_norm", p=p, s=s: load_dataset(p, s, encoding=enc)))
        return out
    p = tmp / f"{name}.npz"
    n_test = 1000 if name == "synthetic" else None
    if n_test:
        np.savez(p, X=x[:-n_test], y=y[:-n_test], X_test=x[-n_test:], y_test=y[-n_test:])
    else:
        np.savez(p, X=x, y=y)
    return [(str(p), s, lambda enc="unit_norm", p=p, s=s: load_dataset(p, s, encoding=enc)) for s in seeds]


def real_inputs(load: Callable[..., Dataset]) -> Dataset:
    """The real MLP's inputs: its natural ones. Feature rows: the z-scores (one training-set scale, encoding
    ``scale``, which keeps each sample's norm); Fourier features of images: [Re, Im]. Same split."""
    data = load("scale")

    def f(z: torch.Tensor) -> torch.Tensor:
        return z.real if data.feature_rows else torch.cat([z.real, z.imag], -1)

    return Dataset.from_tensors(
        data.name, f(data.X_train), data.y_train, f(data.X_test), data.y_test, f(data.X_val), data.y_val
    )


def train_cfg(seed: int, data: Dataset) -> TrainConfig:
    from gf_prune.pipeline import train_lr

    cfg = RunConfig()
    t = cfg.train
    return TrainConfig(epochs=t.epochs, lr=train_lr(cfg, data), batch_size=t.batch_size, patience=t.patience, seed=seed)


def evaluate(load: Callable[..., Dataset], seed: int, hidden: list[int], encoding: str) -> dict[str, float]:
    data = load(encoding)
    sizes = [data.n_features, *hidden, data.n_classes]
    cfg = train_cfg(seed, data)
    res: dict[str, float] = {}
    for name in MODELS:
        bias = name.endswith("+bias")
        d = data
        if name.startswith("photonic"):
            std = INIT_STD_FEATURES if data.feature_rows else INIT_STD_IMAGES  # the pipeline's `auto`
            m: nn.Module = PhotonicMLP(sizes, init="zero", init_std=std, seed=seed, bias=bias)
        elif name.startswith("complex"):
            m = ComplexMLP(sizes, bias, seed)
        else:
            d = real_inputs(load)
            m = RealMLP([d.n_features, *hidden, data.n_classes], seed)
        fit(m, d, cfg)
        res[name] = accuracy(m, d.X_test, d.y_test)
    return res


def ci95(v: list[float]) -> tuple[float, float]:
    from scipy import stats

    a = np.asarray(v, dtype=float)
    if len(a) < 2:
        return float(a.mean()), 0.0
    return float(a.mean()), float(stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a)))


def run_chain(source: str, out: Path, seed: int) -> dict[str, object]:
    """A full gf-prune run with a short pruning: sparsity within the budget, accuracies, SAX error."""
    from gf_prune.config import validate
    from gf_prune.pipeline import run_all

    cfg = validate(
        RunConfig,
        {
            "data": {"source": source},
            "seed": seed,
            "prune": {"max_rounds": 6, "max_steps": 4, "max_loss": 0.01},
            "robustness": {"enabled": False},
        },
    )
    t = time.perf_counter()
    rep = run_all(out, cfg)
    return {
        "wall_s": time.perf_counter() - t,
        "sparsity_uv": rep["phases"]["pruned_uv"] / rep["phases"]["total_uv"],
        "val": (rep["accuracy"]["val_dense"], rep["accuracy"]["val_pruned"]),
        "test": (rep["accuracy"]["dense"], rep["accuracy"]["pruned"]),
        "verify": rep["verify"].get("max_rel_error"),
        "bias": rep["model"]["bias"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=list(ALL), choices=ALL)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--hidden", nargs="+", type=int, default=[16, 16])
    ap.add_argument(
        "--encoding", default=RunConfig().data.encoding, choices=("unit_norm", "scale"), help="data.encoding"
    )
    ap.add_argument("--chain", action="store_true", help="also run prune → layout → verify on each dataset")
    ap.add_argument("--out", type=Path, default=Path("bench_data_out"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"training recipe (the pipeline default; lr: auto by input): {RunConfig().train}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets:
            t0 = time.perf_counter()
            per: dict[str, list[float]] = {m: [] for m in MODELS}
            evals = splits(name, args.seeds, args.folds, Path(tmp))
            for _, seed, load in evals:
                for m, acc in evaluate(load, seed, args.hidden, args.encoding).items():
                    per[m].append(acc)
            stats = {m: ci95(v) for m, v in per.items()}
            feature_rows = load_dataset(evals[0][0], 0).feature_rows if name != "digits" else False
            auto = "photonic+bias" if feature_rows else "photonic"
            twin = "complex+bias" if feature_rows else "complex"
            row = {"dataset": name, "n": len(evals), "stats": stats, "auto": auto, "twin": twin}
            if args.chain:
                row["chain"] = run_chain(evals[0][0], args.out / name, evals[0][1])
            rows.append(row)
            gap_c = 100 * (stats[auto][0] - stats[twin][0])
            gap_r = 100 * (stats[auto][0] - stats["real MLP"][0])
            print(
                f"{name:14s} ({len(evals)} evals, {time.perf_counter() - t0:.0f} s) "
                + "  ".join(f"{m} {100 * s[0]:.1f}±{100 * s[1]:.1f}" for m, s in stats.items())
                + f"  | {auto} − {twin} {gap_c:+.1f} pt ({'MET' if gap_c >= -1 else 'MISSED'}),"
                f" − real {gap_r:+.1f} pt ({'MET' if gap_r >= -3 else 'MISSED'})"
                + (f"  | chain {row['chain']}" if args.chain else ""),
                flush=True,
            )
    print()
    print("| dataset | evals | " + " | ".join(MODELS) + " | auto − complex | auto − real |")
    print("|---|---|" + "---|" * (len(MODELS) + 2))
    for r in rows:
        s = r["stats"]
        cells = [f"{100 * s[m][0]:.1f} ± {100 * s[m][1]:.1f}" + (" (auto)" if m == r["auto"] else "") for m in MODELS]
        gc = 100 * (s[r["auto"]][0] - s[r["twin"]][0])
        gr = 100 * (s[r["auto"]][0] - s["real MLP"][0])
        print(f"| {r['dataset']} | {r['n']} | " + " | ".join(cells) + f" | {gc:+.1f} | {gr:+.1f} |")


if __name__ == "__main__":
    main()
