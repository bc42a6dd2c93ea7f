"""Your own (X, y) data: an .npz with ``X`` (images (n, h, w) → FFT-16, or feature rows (n, 16))
and integer labels ``y``. Here we write the bundled iris-like wine data as an example file.

    .venv/bin/python examples/user_data.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_wine

from gf_prune.config import RunConfig
from gf_prune.pipeline import run_all


def main() -> None:
    wine = load_wine()
    x = np.zeros((len(wine.data), 16))
    x[:, :13] = (wine.data - wine.data.mean(0)) / wine.data.std(0)  # 13 features padded to 16 modes
    out = Path("out/wine")
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "wine.npz", X=x, y=wine.target)
    cfg = RunConfig()
    cfg.data.source = str(out / "wine.npz")
    cfg.model.sizes = [16, 16, 3]
    cfg.train.epochs = 300
    cfg.prune = {"max_rounds": 4, "max_steps": 5, "finetune_epochs": 100}  # a short pruning run for the demo
    cfg.robustness = {"trials": 50}
    report = run_all(out, cfg, progress=lambda stage, msg: print(f"[{stage}] {msg}"))
    print("accuracy", report["accuracy"], "power (mW)", report["power_mw"])


if __name__ == "__main__":
    main()
