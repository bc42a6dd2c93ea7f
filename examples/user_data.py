"""Your own data: a table of feature rows (here scikit-learn's bundled wine data, 13 features, 3 classes,
written as a CSV with string labels) through the whole chain.

The format is recognised by content (.npz with X, y[, X_test, y_test], Keras MNIST .npz, .npy + _y.npy, CSV,
idx folder); the network's widths come from the data (13 features → 16 → 16 → 3 classes); feature rows are
z-scored with training-split statistics and get the optical bias mode (``model.bias: auto``); every choice
is made on a validation split carved from the training data, and the test split is only reported.

    .venv/bin/python examples/user_data.py
    .venv/bin/gf-prune predict out/wine/model_pruned.pt out/wine/wine.csv   # the saved preprocessing
"""

from __future__ import annotations

import csv
from pathlib import Path

from sklearn.datasets import load_wine

from gf_prune.config import RunConfig, validate
from gf_prune.pipeline import run_all


def main() -> None:
    wine = load_wine()
    out = Path("out/wine")
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "wine.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*wine.feature_names, "cultivar"])
        for row, label in zip(wine.data, wine.target, strict=True):
            w.writerow([*row, wine.target_names[label]])
    cfg = validate(
        RunConfig,
        {
            "data": {"source": str(out / "wine.csv"), "label_column": "cultivar"},
            "train": {"epochs": 300},
            "prune": {"max_rounds": 4, "max_steps": 5, "finetune_epochs": 100},  # a short pruning run
            "robustness": {"trials": 50},
        },
    )
    report = run_all(out, cfg, progress=lambda stage, msg: print(f"[{stage}] {msg}"))
    print("accuracy (test; val_* on validation)", report["accuracy"])
    print("model", report["model"], "power (mW)", report["power_mw"]["dense"], "→", report["power_mw"]["pruned"])


if __name__ == "__main__":
    main()
