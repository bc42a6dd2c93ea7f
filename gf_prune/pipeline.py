"""The job end to end: train → prune → layout → verify → robustness → report.

Each stage reads the previous stage's files in the output folder and writes its own
(every file atomically). A stage is skipped when its config section and input files
are unchanged since it last ran (``stages.json`` holds their fingerprints).

Files of an output folder::

    run_config.json                 resolved config of the run
    model_dense.pt, train.json      train
    model_pruned.pt, phases.npz,    prune   (phases.npz: NetworkPhases of the pruned net)
      rounds.json, rounds.png
    network.gds, heaters.csv,       layout
      layout.png, layout.json
    verify.json, wavelength_sweep.png          verify
    robustness.json, robustness.png            robustness
    report.json, weights.npz, mesh_maps.png,   report
      report.html
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gf_prune.config import RunConfig, validate
from gf_prune.data import Dataset, load_dataset
from gf_prune.device import resolve_device
from gf_prune.model import PhotonicMLP
from gf_prune.train import TrainConfig, accuracy, fit

STAGE_INPUTS: dict[str, tuple[str, ...]] = {
    "train": (),
    "prune": ("model_dense.pt",),
    "layout": ("phases.npz",),
    "verify": ("phases.npz", "network.gds"),
    "robustness": ("model_dense.pt", "model_pruned.pt", "network.gds"),
    "report": ("phases.npz",),
}
STAGE_OUTPUTS: dict[str, tuple[str, ...]] = {
    "train": ("model_dense.pt", "train.json"),
    "prune": ("model_pruned.pt", "phases.npz", "rounds.json"),
    "layout": ("network.gds", "heaters.csv", "layout.json"),
    "verify": ("verify.json",),
    "robustness": ("robustness.json",),
    "report": ("report.json", "weights.npz", "report.html"),
}
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "train": ("data", "model", "train", "seed"),
    "prune": ("data", "train", "prune", "p_pi_mw", "seed"),
    "layout": ("layout", "model"),
    "verify": ("verify",),
    "robustness": ("data", "robustness", "seed"),
    "report": ("p_pi_mw",),
}

Progress = Callable[[str], None]


class StageFailed(RuntimeError):
    """A stage ran but its result is not acceptable (e.g. verification failed)."""


# ----------------------------------------------------------------------------- files


def write_json(path: Path, obj: Any) -> None:
    from gf_prune.io import atomic_write_text

    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable))


def _jsonable(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"missing file {path} (run the stage that writes it first)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: corrupt JSON ({exc.msg} at line {exc.lineno})") from None


def save_model(model: PhotonicMLP, path: Path, **extra: Any) -> None:
    from gf_prune.io import atomic_output

    with atomic_output(path) as tmp:
        model.save(tmp, **extra)


def _fingerprint(out: Path, stage: str, cfg: RunConfig) -> str:
    h = hashlib.sha256()
    dump = cfg.model_dump(mode="json")
    h.update(json.dumps({k: dump[k] for k in STAGE_SECTIONS[stage]}, sort_keys=True).encode())
    for name in STAGE_INPUTS[stage]:
        p = out / name
        h.update(name.encode())
        h.update(p.read_bytes() if p.is_file() else b"<missing>")
    return h.hexdigest()


def _manifest(out: Path) -> dict[str, Any]:
    p = out / "stages.json"
    try:
        return json.loads(p.read_text()) if p.is_file() else {}
    except json.JSONDecodeError:
        return {}


def stage_is_current(out: Path, stage: str, cfg: RunConfig) -> bool:
    entry = _manifest(out).get(stage)
    return (
        isinstance(entry, dict)
        and entry.get("fingerprint") == _fingerprint(out, stage, cfg)
        and all((out / f).is_file() for f in STAGE_OUTPUTS[stage])
    )


def _record_stage(out: Path, stage: str, cfg: RunConfig, seconds: float) -> None:
    m = _manifest(out)
    m[stage] = {"fingerprint": _fingerprint(out, stage, cfg), "seconds": seconds}
    write_json(out / "stages.json", m)


# ----------------------------------------------------------------------------- config & data


def save_run_config(out: Path, cfg: RunConfig) -> None:
    write_json(out / "run_config.json", cfg.model_dump(mode="json"))


def read_run_config(out: Path) -> RunConfig:
    p = out / "run_config.json"
    if not p.is_file():
        return RunConfig()
    return validate(RunConfig, read_json(p))


def get_data(cfg: RunConfig) -> Dataset:
    d = cfg.data
    return load_dataset(
        d.source,
        d.seed,
        val_fraction=d.val_fraction,
        label_column=d.label_column,
        images=d.images,
        fft_block=d.fft_block,
        standardize=d.standardize,
        encoding=d.encoding,
    )


def model_shape(cfg: RunConfig, data: Dataset) -> tuple[list[int], bool]:
    """Signal widths and bias mode of the network for ``data``: ``model.sizes`` or
    [features, *hidden, classes]; ``bias: auto`` is on for feature rows, off for Fourier features of images."""
    m = cfg.model
    sizes = list(m.sizes) if m.sizes else [data.n_features, *m.hidden, data.n_classes]
    bias = data.feature_rows if m.bias == "auto" else bool(m.bias)
    check_fits(sizes, data, "model.sizes")
    return sizes, bias


INIT_STD_IMAGES = 0.5
"""Zero-power init on Fourier features of images: near the bar state, best measured pruning on digits-FFT16."""
INIT_STD_FEATURES = 2.0
"""Zero-power init on feature rows: measured on the 10-class synthetic set (README), dense validation accuracy
0.542 vs 0.376 at 0.5 (600 full-batch epochs)."""


FEATURE_ROW_PRUNE_DEFAULTS = {"shrink": 0.0, "power_aware": 0.0}
"""Pruning defaults on feature rows (unless set in ``prune``): the shrink penalties pull every live phase
towards 0, which suits the near-zero init on image features but, from the wider feature-row init, cost
(measured on the synthetic set, 300 epochs): dense validation 0.309 with them vs 0.498 without."""


def init_std(cfg: RunConfig, data: Dataset) -> float:
    """``model.init_std``, with ``auto`` resolved by the kind of input."""
    v = cfg.model.init_std
    if v != "auto":
        return float(v)
    return INIT_STD_FEATURES if data.feature_rows else INIT_STD_IMAGES


LR_DEFAULT = 0.02
"""Adam learning rate on the phases: feature rows and the FFT-16 digits (measured: README)."""
LR_WIDE_FOURIER = 0.1
"""Adam learning rate on Fourier features of images with ≥ :data:`WIDE_FOURIER` inputs: on digits-fft64 (64-64-10,
600 epochs) dense validation 96.1 / 96.6 / 97.5 % (seeds 0–2) vs 90.1 / 89.7 % at 0.02, which stays near the bar
start and generalises poorly; the FFT-16 network diverges at 0.1, hence the width rule (README)."""
WIDE_FOURIER = 64


def train_lr(cfg: RunConfig, data: Dataset) -> float:
    """``train.lr``, with ``auto`` resolved by the kind and width of the input."""
    v = cfg.train.lr
    if v != "auto":
        return float(v)
    return LR_WIDE_FOURIER if not data.feature_rows and data.n_features >= WIDE_FOURIER else LR_DEFAULT


def check_fits(sizes: list[int], data: Dataset, what: str) -> None:
    """The network's input width must be the data's feature count; its outputs must cover every class."""
    if sizes[0] != data.n_features:
        raise ValueError(f"{what}[0] = {sizes[0]} but the data has {data.n_features} features")
    if sizes[-1] < data.n_classes:
        raise ValueError(f"{what}[-1] = {sizes[-1]} output modes but the data has {data.n_classes} classes")


# ----------------------------------------------------------------------------- stages


def stage_train(out: Path, cfg: RunConfig, data: Dataset, progress: Progress | None = None) -> dict[str, Any]:
    m = cfg.model
    sizes, bias = model_shape(cfg, data)
    model = PhotonicMLP(sizes, m.mesh_kind, m.zero_state, m.init, init_std(cfg, data), cfg.seed, bias=bias)
    init_state = {k: v.detach().clone() for k, v in model.state_dict().items()}  # for lottery-ticket rewinding
    t = cfg.train
    device = str(resolve_device(cfg.device))  # an unavailable device: one line, before any training
    res = fit(
        model,
        data,
        TrainConfig(
            epochs=t.epochs,
            lr=train_lr(cfg, data),
            batch_size=t.batch_size,
            patience=t.patience,
            seed=cfg.seed,
            device=device,
        ),
        on_epoch=_epoch_cb(progress, t.epochs),
    )
    save_model(model, out / "model_dense.pt", init_state_dict=init_state, preprocessing=data.preprocessing.to_dict())
    info = {
        "train_acc": res.train_acc,
        "val_acc": res.val_acc,
        "test_acc": accuracy(model, data.X_test, data.y_test),  # reported only, never used to choose
        "loss": res.loss,
        "epochs_run": res.epochs_run,
        "best_epoch": res.best_epoch,
        "dataset": data.name,
        "sizes": sizes,
        "bias": bias,
        "init_std": init_std(cfg, data),
        "lr": train_lr(cfg, data),
        "n_train": data.n_train,
        "n_val": data.n_val,
        "n_test": data.n_test,
    }
    write_json(out / "train.json", info)
    return info


def _epoch_cb(progress: Progress | None, total: int) -> Callable[[int, float], None] | None:
    if progress is None:
        return None
    return lambda e, loss: progress(f"epoch {e + 1}/{total} loss {loss:.4f}")


def load_model(path: Path) -> PhotonicMLP:
    model, _ = PhotonicMLP.load(path)
    return model


def stage_prune(out: Path, cfg: RunConfig, data: Dataset, progress: Progress | None = None) -> dict[str, Any]:
    """Prune the trained dense model (``dense_epochs = 0``: it is already trained)."""
    device = str(resolve_device(cfg.device))
    dense, blob = PhotonicMLP.load(out / "model_dense.pt")
    init = PhotonicMLP(**dense.config)  # the phases before training: lottery tickets rewind to them
    if "init_state_dict" in blob:
        init.load_state_dict(blob["init_state_dict"])
    from gf_prune import prune as pr
    from gf_prune.io import atomic_output

    check_fits(dense.config["sizes"], data, "the model's sizes")
    set_keys = cfg.prune.model_fields_set
    inherited = [("dense_epochs", cfg.train.epochs), ("lr", train_lr(cfg, data))]
    if data.feature_rows:
        inherited += list(FEATURE_ROW_PRUNE_DEFAULTS.items())
    defaults = {k: v for k, v in inherited if k not in set_keys}
    pcfg = pr.PruneConfig.parse({**cfg.prune.model_dump(), **defaults, "p_pi_mw": cfg.p_pi_mw, "seed": cfg.seed})
    n_max = pcfg.max_rounds + pcfg.max_steps + int(pcfg.final_gauge)  # the final gauge records once more
    cb = _prune_progress(progress, n_max) if progress is not None else None
    from gf_prune.checkpoint import CHECKPOINT_NAME, PruneCheckpoint, ResumeMismatch

    key = _fingerprint(out, "prune", cfg)
    ckpt = PruneCheckpoint(out / CHECKPOINT_NAME, key)
    if ckpt.resumed_rounds and progress is not None:
        progress(f"resuming from {CHECKPOINT_NAME}: {ckpt.resumed_rounds} records (rounds 0…{ckpt.resumed_rounds - 1})")
    try:
        with ckpt:
            result = pr.run_pruning(init, data, pcfg, progress=cb, trained=dense, checkpoint=ckpt, device=device)
    except ResumeMismatch as exc:  # the checkpoint does not fit this run: start afresh
        if progress is not None:
            progress(f"checkpoint not usable ({exc}); pruning from the start")
        ckpt.remove()
        ckpt = PruneCheckpoint(out / CHECKPOINT_NAME, key)
        with ckpt:
            result = pr.run_pruning(init, data, pcfg, progress=cb, trained=dense, checkpoint=ckpt, device=device)
    pruned = result.model
    save_model(pruned, out / "model_pruned.pt", preprocessing=data.preprocessing.to_dict())
    with atomic_output(out / "phases.npz") as tmp:
        pruned.to_phases().save(tmp)
    with atomic_output(out / "phases_dense.npz") as tmp:
        (result.dense_model or dense).to_phases().save(tmp)
    pr.write_prune_record(result, out, name="rounds")
    ckpt.remove()  # the stage's outputs are complete: the checkpoint has served
    return {
        "dense_acc": result.dense_accuracy,
        "pruned_acc": accuracy(pruned, data.X_test, data.y_test),
        "val_dense": result.dense_val_accuracy,
        "val_pruned": result.best["acc_val"],
    }


def _prune_progress(progress: Progress, max_records: int) -> Callable[[dict[str, Any]], None]:
    """Say one line per pruning record: its label, U/V sparsity, accuracy (``acc_val`` if the record
    has it, else ``acc_test``), the seconds elapsed and a bound on what is left: at most
    ``max_records`` records follow the dense one, each taking the mean time per record so far."""
    t0 = time.perf_counter()
    t_dense = [t0]

    def cb(rec: dict[str, Any]) -> None:
        now = time.perf_counter()
        n = int(rec.get("round", 0))
        key = "acc_val" if rec.get("acc_val") is not None else "acc_test"
        msg = (
            f"{rec.get('step', f'round {n}')}: U/V {rec.get('sparsity_uv', 0.0):.1%} pruned, "
            f"{key} {rec.get(key, float('nan')):.3f}, {now - t0:.1f} s elapsed"
        )
        if rec.get("resumed"):
            t_dense[0] = now
            progress(
                f"{rec.get('step', f'round {n}')}: resumed from checkpoint (not recomputed), {key} {rec.get(key):.3f}"
            )
            return
        if n == 0:
            t_dense[0] = now
        elif max_records > n:
            left = (max_records - n) * (now - t_dense[0]) / n
            msg += f", at most {max_records - n} more (≤ {left:.0f} s left)"
        progress(msg)

    return cb


def load_phases(path: Path):
    from gf_prune.phases import NetworkPhases

    if not path.is_file():
        raise FileNotFoundError(f"missing file {path} (run `gf-prune prune` first)")
    if path.suffix == ".pt":
        return load_model(path).to_phases()
    return NetworkPhases.load(path)  # says once which file and what is wrong with it


def stage_layout(out: Path, cfg: RunConfig, model_path: Path | None = None) -> dict[str, Any]:
    net = load_phases(model_path or out / "phases.npz")
    from gf_prune.layout import compile_network

    figures = compile_network(
        net,
        out,
        pruned_mzi=cfg.layout.pruned_mzi,
        compact=cfg.layout.compact,
        pdk=cfg.layout.pdk,
        io=cfg.layout.io,
        route=cfg.layout.route,
    )
    write_json(out / "layout.json", figures)
    return figures


def stage_verify(out: Path, cfg: RunConfig, data: Dataset | None = None) -> dict[str, Any]:
    from gf_prune.verify import verify_dir

    res = verify_dir(out, wl=cfg.verify.wavelength_um, sweep=cfg.verify.sweep)
    net = load_phases(out / "phases.npz")
    n_signal = net.layers[0].n_in - int(net.layers[0].bias_amp is not None)
    if data is not None and "layer_matrices" in res and n_signal == data.n_features:
        gains = [lp.S.gain for lp in net.layers]
        mats = [np.asarray(w) * g for w, g in zip(res.pop("layer_matrices"), gains, strict=True)]
        pred = PhotonicMLP.predict_from_matrices(mats, data.X_test, net.bias_amps)
        ref = PhotonicMLP.predict_from_matrices(net.matrices(), data.X_test, net.bias_amps)
        res["accuracy_sax"] = float((pred == data.y_test).double().mean())
        res["same_class_fraction"] = float((pred == ref).double().mean())
    res.pop("layer_matrices", None)
    res["tolerance"] = cfg.verify.tolerance
    res["passed"] = bool(res.get("max_rel_error", np.inf) <= cfg.verify.tolerance)
    from gf_prune.foundry import foundry_stage  # the PDK's own models, and layout-in-the-loop tuning

    if (foundry := foundry_stage(out, cfg, data)) is not None:
        res["foundry"] = foundry
    write_json(out / "verify.json", res)
    return res


def stage_robustness(out: Path, cfg: RunConfig, data: Dataset, progress: Progress | None = None) -> dict[str, Any]:
    from gf_prune.robustness import run_robustness

    device = str(resolve_device(cfg.device))
    dense = load_model(out / "model_dense.pt")
    pruned = load_model(out / "model_pruned.pt")
    rcfg = {k: v for k, v in cfg.robustness.items() if k != "enabled"}
    if "heater_gds" not in rcfg and (out / "network.gds").is_file():
        rcfg["heater_gds"] = str(out / "network.gds")
    summary = run_robustness(dense, pruned, data, rcfg, out_dir=out, device=device)
    write_json(out / "robustness.json", summary)
    return summary


def stage_report(out: Path, cfg: RunConfig, data: Dataset, timings: dict[str, float]) -> dict[str, Any]:
    """report.json (docs/design.md contract keys), weights.npz and report.html from the stages' files."""
    report = build_report(out, cfg, data, timings)
    write_report_files(out, report)
    return report


def write_report_files(out: Path, report: dict[str, Any]) -> None:
    """``report.json`` and ``report.html`` (with its figures) of a report dict, validated against the schema."""
    from gf_prune.schema import Report

    Report.model_validate(report)  # a missing or mistyped contract key is a bug: fail here, not downstream
    write_json(out / "report.json", report)
    from gf_prune.report import write_report

    write_report(out, report)


def build_report(out: Path, cfg: RunConfig, data: Dataset, timings: dict[str, float]) -> dict[str, Any]:
    """The report dict from the stages' files; also writes ``weights.npz``."""
    from gf_prune.io import atomic_output
    from gf_prune.power import power_report

    net = load_phases(out / "phases.npz")
    dense_net = load_phases(out / "phases_dense.npz") if (out / "phases_dense.npz").is_file() else None
    rounds = read_json(out / "rounds.json") if (out / "rounds.json").is_file() else {}
    pruned = PhotonicMLP.from_phases(net)
    if dense_net is None and (out / "model_dense.pt").is_file():
        dense_net = load_model(out / "model_dense.pt").to_phases()
    dense = PhotonicMLP.from_phases(dense_net) if dense_net is not None else None
    layout = read_json(out / "layout.json") if (out / "layout.json").is_file() else {}
    verify = read_json(out / "verify.json") if (out / "verify.json").is_file() else {}
    robust = read_json(out / "robustness.json") if (out / "robustness.json").is_file() else {}
    pw = power_report(net, cfg.p_pi_mw)
    pw_dense = power_report(dense_net, cfg.p_pi_mw) if dense_net is not None else None
    lay_mzis = layout.get("mzis", {})
    summary = rounds.get("summary", {}) if isinstance(rounds, dict) else {}
    staged = re.fullmatch(r"\.(.+)\.partial-\d+", out.name)  # run_all works in a staging copy
    report: dict[str, Any] = {
        "name": staged.group(1) if staged else out.resolve().name,
        "selection": "validation",
        "seed": cfg.seed,
        "accuracy": {
            "dense": accuracy(dense, data.X_test, data.y_test) if dense is not None else None,
            "pruned": accuracy(pruned, data.X_test, data.y_test),
            "sax": verify.get("accuracy_sax"),
            "sax_same_class_fraction": verify.get("same_class_fraction"),
            "foundry": verify.get("foundry", {}).get("accuracy"),
            "foundry_tuned": verify.get("foundry", {}).get("accuracy_tuned"),
            "val_dense": accuracy(dense, data.X_val, data.y_val) if dense is not None else None,
            "val_pruned": accuracy(pruned, data.X_val, data.y_val),
            "split": "dense/pruned/sax: test split (reported only); val_*: validation split (every choice)",
        },
        "phases": {k: v for k, v in pw["phases"].items() if k != "per_layer"},
        "power_mw": {
            "dense": pw_dense["power_mw"]["total"] if pw_dense else None,
            "pruned": pw["power_mw"]["total"],
            "saved_fraction": (1 - pw["power_mw"]["total"] / pw_dense["power_mw"]["total"])
            if pw_dense and pw_dense["power_mw"]["total"] > 0
            else None,
            "pruned_breakdown": {k: v for k, v in pw["power_mw"].items() if k != "total"},
            "dense_breakdown": {k: v for k, v in pw_dense["power_mw"].items() if k != "total"} if pw_dense else None,
        },
        "phases_per_layer": pw["phases"]["per_layer"],
        "mzis": {
            "total": lay_mzis.get("total", pw["mzis"]["total"] + pw["mzis"]["sigma_total"]),
            "removed": lay_mzis.get("removed", 0),
            "bar": lay_mzis.get("bar", 0),
            "mesh": lay_mzis.get("mesh", pw["mzis"]["total"]),
            "attenuators": lay_mzis.get("attenuators", pw["mzis"]["sigma_total"]),
            "removable": pw["mzis"]["removable"],
            "sigma_removable": pw["mzis"]["sigma_removable"],
        },
        "heaters": layout.get("heaters", {}),
        "verify": {k: v for k, v in verify.items() if k not in ("sweep",)},
        "layout": {k: v for k, v in layout.items() if k not in ("files",)},
        "robustness": robust,
        "pruning": {**summary, "config": rounds.get("config", {})} if isinstance(rounds, dict) else {},
        "rounds": rounds.get("records", []) if isinstance(rounds, dict) else rounds,
        "convention": {
            "zero_state": net.zero_state,
            "mesh_kind": net.mesh_kind,
            "coupler": "symmetric 50:50 (real bar, +i cross)",
            "nonlinearity": "log(1 + exp(|z|)) between layers; |.|^2 detection",
            "pruned_mzi": cfg.layout.pruned_mzi,
        },
        "data": {
            "source": cfg.data.source,
            "name": data.name,
            "seed": cfg.data.seed,
            "n_train": data.n_train,
            "n_val": data.n_val,
            "n_test": data.n_test,
            "n_features": data.n_features,
            "n_classes": data.n_classes,
            "feature_rows": data.feature_rows,
            "label_column": cfg.data.label_column,
            "images": cfg.data.images,
            "fft_block": cfg.data.fft_block,
            "standardize": cfg.data.standardize,
            "encoding": cfg.data.encoding,
        },
        "model": {
            "sizes": pruned.config["sizes"],
            "bias": pruned.bias,
            "bias_amps": [a for a in net.bias_amps if a is not None],
        },
        "p_pi_mw": cfg.p_pi_mw,
        "timings_s": dict(timings),
    }
    with atomic_output(out / "weights.npz") as tmp:
        mats = net.matrices()
        amps = {f"bias_amp{i}": np.float64(a) for i, a in enumerate(net.bias_amps) if a is not None}
        np.savez(
            tmp,
            **{f"W{i}": w for i, w in enumerate(mats)},
            **amps,
            X_test=data.X_test.numpy(),
            y_test=data.y_test.numpy(),
        )
    return report


# the whole run lives in gf_prune.runner (it imports the stages above); re-exported here
from gf_prune.runner import _run_stages, clean_stale_staging, run_all  # noqa: E402, F401
