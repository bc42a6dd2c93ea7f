"""Classify new samples with a saved model and the preprocessing saved beside its phases."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gf_prune.data import Preprocessing, load_raw
from gf_prune.model import PhotonicMLP


@dataclass
class Prediction:
    labels: np.ndarray  # predicted labels, in the data's own label values
    classes: np.ndarray  # predicted class indices 0..K-1
    accuracy: float | None  # when the file has labels


def load_model_with_preprocessing(path: str | Path) -> tuple[PhotonicMLP, Preprocessing]:
    """The model and its saved preprocessing; a model saved without one cannot classify raw samples."""
    model, blob = PhotonicMLP.load(path)
    if "preprocessing" not in blob:
        raise ValueError(f"{path}: the model has no saved preprocessing (re-train it with `gf-prune train` or `run`)")
    return model, Preprocessing.from_dict(dict(blob["preprocessing"]))


@torch.no_grad()
def predict_file(
    model_path: str | Path, data_path: str | Path, out: str | Path | None = None, label_column: str | None = None
) -> Prediction:
    """Apply the model's preprocessing to the samples in ``data_path`` and classify them.

    With ``out``, write a CSV (``index, predicted[, label]``) atomically.
    """
    model, prep = load_model_with_preprocessing(model_path)
    x_raw, y_raw = load_raw(data_path, label_column=label_column or prep.label_column)
    x = prep.transform(x_raw)
    n_in = model.config["sizes"][0]
    if x.shape[1] != n_in:
        raise ValueError(f"{data_path}: {x.shape[1]} features after preprocessing, the model takes {n_in}")
    idx = model.predict(x).numpy()
    labels = prep.decode_labels(idx)
    acc = None
    if y_raw is not None:
        y = prep.encode_labels(y_raw).numpy()
        acc = float(np.mean(idx == y))
    if out is not None:
        from gf_prune.io import atomic_output

        with atomic_output(Path(out)) as tmp, open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["index", "predicted", *(["label"] if y_raw is not None else [])])
            for i, lab in enumerate(labels):
                w.writerow([i, lab, *([np.asarray(y_raw)[i]] if y_raw is not None else [])])
    return Prediction(labels, idx, acc)
