"""`gf-prune predict MODEL DATA`: the preprocessing saved with the model is applied to new samples."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gf_prune.predict import load_model_with_preprocessing


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "gf_prune.cli", *args], capture_output=True, text=True, env=env, timeout=600
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, np.ndarray, list[str]]:
    """A tiny model trained by the CLI on a CSV with string labels and raw (unscaled) feature columns."""
    tmp = tmp_path_factory.mktemp("predict")
    rng = np.random.default_rng(0)
    names = ["setosa", "versicolor", "virginica"]
    y = np.arange(150) % 3
    x = rng.normal(size=(150, 4)) * [1.0, 10.0, 100.0, 0.1] + 3.0 * y[:, None] * [1.0, 10.0, 100.0, 0.1]
    data = tmp / "flowers.csv"
    with open(data, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "c", "d", "species"])
        for row, lab in zip(x, y, strict=True):
            w.writerow([*row, names[lab]])
    cfg = tmp / "cfg.yaml"
    cfg.write_text(f"data:\n  source: {data}\n  label_column: species\ntrain:\n  epochs: 60\n  lr: 0.05\n")
    r = cli("train", "--out", str(tmp / "out"), "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    return tmp / "out" / "model_dense.pt", data, x, [names[i] for i in y]


def test_predict_applies_the_saved_preprocessing(trained, tmp_path):
    model_path, data, x, labels = trained
    out = tmp_path / "pred.csv"
    r = cli("predict", str(model_path), str(data), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "accuracy" in r.stdout
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(x) and set(rows[0]) == {"index", "predicted", "label"}
    assert {row["predicted"] for row in rows} <= {"setosa", "versicolor", "virginica"}
    # independent path: the saved preprocessing by hand (z-score with the training statistics, one scale)
    model, prep = load_model_with_preprocessing(model_path)
    z = (x - np.asarray(prep.mean)) / np.asarray(prep.std)
    assert prep.encoding == "scale"  # the default: one training-set scale keeps each sample's norm
    z = z / prep.scale
    ref = model.predict(torch.as_tensor(z.astype(np.complex128))).numpy()
    assert [row["predicted"] for row in rows] == [prep.classes[i] for i in ref]
    acc = float(np.mean([row["predicted"] == lab for row, lab in zip(rows, labels, strict=True)]))
    assert f"accuracy {acc:.4f}" in r.stdout
    assert acc > 0.6  # three well separated classes


def test_predict_without_labels_prints_one_label_per_sample(trained, tmp_path):
    model_path, _, x, _ = trained
    np.save(tmp_path / "new.npy", x[:5])
    r = cli("predict", str(model_path), str(tmp_path / "new.npy"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() and len(r.stdout.strip().splitlines()) == 5


def test_predict_refuses_wrong_width_and_models_without_preprocessing(trained, tmp_path):
    model_path, _, x, _ = trained
    np.save(tmp_path / "wide.npy", np.ones((3, 7)))
    r = cli("predict", str(model_path), str(tmp_path / "wide.npy"))
    assert r.returncode == 2 and r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1
    from gf_prune.model import PhotonicMLP

    PhotonicMLP((4, 3, 3), bias=True).save(tmp_path / "bare.pt")
    np.save(tmp_path / "ok.npy", x[:3])
    r = cli("predict", str(tmp_path / "bare.pt"), str(tmp_path / "ok.npy"))
    assert r.returncode == 2 and "no saved preprocessing" in r.stderr
