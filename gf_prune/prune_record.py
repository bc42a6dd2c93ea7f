"""What a pruning run records: one record per round (validation and test accuracy, sparsity, power),
the run's result, its JSON file and its plot."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gf_prune.config import PruneConfig
from gf_prune.data import Dataset
from gf_prune.io import atomic_output, atomic_write_text
from gf_prune.model import PhotonicMLP
from gf_prune.power import power_report
from gf_prune.train import accuracy, nll, validation_or_none

RECORD_FORMAT = "gf_prune.prune_record/1"


# --------------------------------------------------------------------------- records


def validation_split(data: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """(X_val, y_val): what every choice of a pruning run is judged on."""
    val = validation_or_none(data)
    if val is None:
        raise ValueError("pruning chooses rounds on a validation split, and the data has none (X_val, y_val)")
    return val


def make_record(
    model: PhotonicMLP, data: Dataset, cfg: PruneConfig, dense_power: float | None, **info: Any
) -> dict[str, Any]:
    """One per-round record: accuracy, sparsity (U/V and all, per layer, θ/φ), power, removable MZIs."""
    rep = power_report(model.to_phases(), cfg.p_pi_mw)
    ph = rep["phases"]
    per_layer = []
    for li, lay in enumerate(ph["per_layer"]):
        rec: dict[str, Any] = {"layer": li}
        for mesh in ("V", "S", "U"):
            n = sum(lay[mesh][k]["total"] for k in ("theta", "phi"))
            pr = sum(lay[mesh][k]["pruned"] for k in ("theta", "phi"))
            rec[f"sparsity_{mesh}"] = pr / n if n else 0.0
        n_uv = sum(lay[m][k]["total"] for m in ("U", "V") for k in ("theta", "phi"))
        p_uv = sum(lay[m][k]["pruned"] for m in ("U", "V") for k in ("theta", "phi"))
        rec["sparsity_uv"] = p_uv / n_uv
        rec["power_mw"] = rep["power_mw"]["per_layer"][li]["total"]
        per_layer.append(rec)
    power = rep["power_mw"]["total"]
    xv, yv = validation_split(data)
    return {
        **info,
        "acc_val": accuracy(model, xv, yv),
        "acc_test": accuracy(model, data.X_test, data.y_test),
        "loss_test": nll(model, data.X_test, data.y_test),
        "acc_train": accuracy(model, data.X_train, data.y_train),
        "pruned_uv": ph["pruned_uv"],
        "live_uv": ph["live_uv"],
        "total_uv": ph["total_uv"],
        "sparsity_uv": ph["sparsity_uv"],
        "pruned_all": ph["pruned_all"],
        "total_all": ph["total_all"],
        "sparsity_all": ph["sparsity_all"],
        "sparsity_theta_uv": ph["sparsity_theta_uv"],
        "sparsity_phi_uv": ph["sparsity_phi_uv"],
        "per_layer": per_layer,
        "power_mw": power,
        "power_saved": (1.0 - power / dense_power) if dense_power else 0.0,
        "removable_mzis": rep["mzis"]["removable"],
        "total_mzis": rep["mzis"]["total"],
        "sigma_removable": rep["mzis"]["sigma_removable"],
        "power_sigma_mw": rep["power_mw"]["sigma"],
    }


@dataclass
class PruneResult:
    """Outcome of :func:`run_pruning`.

    ``model`` is the best pruned network (highest U/V sparsity whose **validation** accuracy is within
    ``max_loss`` of the dense one's; the dense network if no round qualified), ``records`` one dict per round
    (round 0 = dense). ``dense_accuracy`` and the records' ``acc_test`` are test accuracies, reported only.
    """

    model: PhotonicMLP
    dense_accuracy: float
    dense_power_mw: float
    records: list[dict[str, Any]]
    best_round: int
    ranking: str
    config: dict[str, Any]
    wall_s: float = 0.0
    dense_model: PhotonicMLP | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    dense_val_accuracy: float = float("nan")

    @property
    def best(self) -> dict[str, Any]:
        return self.records[self.best_round]

    def summary(self) -> dict[str, Any]:
        b = self.best
        return {
            "method": self.config["method"],
            "ranking": self.ranking,
            "accuracy": {
                "dense": self.dense_accuracy,
                "pruned": b["acc_test"],
                "val_dense": self.dense_val_accuracy,
                "val_pruned": b["acc_val"],
            },
            "selection": "validation",
            "phases": {k: b[k] for k in ("total_uv", "pruned_uv", "total_all", "pruned_all")},
            "sparsity_uv": b["sparsity_uv"],
            "power_mw": {"dense": self.dense_power_mw, "pruned": b["power_mw"]},
            "power_saved": b["power_saved"],
            "removable_mzis": b["removable_mzis"],
            "best_round": self.best_round,
            "rounds": len(self.records),
            "wall_s": self.wall_s,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "format": RECORD_FORMAT,
            "summary": self.summary(),
            "config": self.config,
            "records": self.records,
            **({"extra": self.extra} if self.extra else {}),
        }


def tqdm_progress(total: int | None = None, desc: str = "pruning") -> Callable[[dict[str, Any]], None]:
    """A ``progress`` callback that shows a tqdm bar (one tick per round)."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="round")

    def cb(rec: dict[str, Any]) -> None:
        bar.set_postfix(val_acc=f"{rec['acc_val']:.3f}", uv=f"{rec['sparsity_uv']:.3f}")
        bar.update(1)

    return cb


def plot_records(records: list[dict[str, Any]], path: str | Path, title: str = "") -> None:
    """Accuracy, sparsity (U/V and all, θ/φ), power and removable MZIs per round, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = [rec["round"] for rec in records]
    fig, ax = plt.subplots(2, 2, figsize=(10, 7))
    ax[0, 0].plot(r, [rec["acc_val"] for rec in records], "o-", label="validation (selects)")
    ax[0, 0].plot(r, [rec["acc_test"] for rec in records], "^:", label="test (reported)")
    ax[0, 0].plot(r, [rec["acc_train"] for rec in records], "s--", label="train")
    ax[0, 0].set_ylabel("accuracy")
    ax[0, 0].legend()
    for key, lab in (
        ("sparsity_uv", "U/V phases"),
        ("sparsity_all", "all phases"),
        ("sparsity_theta_uv", "U/V θ"),
        ("sparsity_phi_uv", "U/V φ"),
    ):
        ax[0, 1].plot(r, [rec[key] for rec in records], "o-", label=lab)
    ax[0, 1].set_ylabel("sparsity")
    ax[0, 1].legend()
    ax[1, 0].plot(r, [rec["power_mw"] / 1000 for rec in records], "o-")
    ax[1, 0].set_ylabel("static heater power (W)")
    ax[1, 1].plot(r, [rec["removable_mzis"] for rec in records], "o-")
    ax[1, 1].set_ylabel("removable MZIs (θ and φ pruned)")
    for a in ax.flat:
        a.set_xlabel("round")
        a.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(str(path), dpi=100)
    plt.close(fig)


def write_prune_record(result: PruneResult, folder: str | Path, name: str = "prune_record") -> dict[str, Path]:
    """Write ``<name>.json`` (summary, config, per-round records) and ``<name>.png`` into ``folder``.

    Both are written to a temporary name first and renamed, so no half-written file is left behind.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    js, png = folder / f"{name}.json", folder / f"{name}.png"
    text = json.dumps(result.to_json(), indent=1)
    atomic_write_text(js, text)
    s = result.summary()
    title = (
        f"{s['method']} ({result.config['ranking']}): dense {s['accuracy']['dense']:.3f}, best round "
        f"{s['best_round']}: {s['sparsity_uv']:.1%} U/V pruned, acc {s['accuracy']['pruned']:.3f}"
    )
    with atomic_output(png) as tmp:
        plot_records(result.records, tmp, title)
    return {"json": js, "png": png}
