"""Robustness of dense and pruned SC-IPNNs under fabrication and control imperfections.

Imperfection models (each parameter with its unit and the public source of its default):

================  ==========================================================  =========================
model             what it does (units)                                        default / source
================  ==========================================================  =========================
phase error       θ, φ of every *live* heater += σ_PS·π·N(0, 1)   [σ_PS in     σ_PS sweep 0…0.03; Fang et
                  units of π rad]; pruned phases have no heater: untouched     al., Opt. Express 27, 14009
                                                                               (2019); Banerjee et al.
quantisation      live phase wrapped into [0, 2π) and rounded to the nearest   b sweep 3…8; DAC model, seed
                  of 2^b uniform levels k·2π/2^b   [b in bits]                 paper / arXiv:2207.10835
coupler split     every built 2×2 coupler: r = 1/√2 + σ_BS·N(0, 1), clipped   σ_BS sweep 0…0.08; Fang et
                  to [0, 1], t = √(1 − r²), B(r) = [[r, i·t], [i·t, r]]         al. 2019
insertion loss    every built MZI (and Σ attenuator) attenuates both outputs   0.25 dB per heater section
                  by IL ~ N(IL_mean, (rel·IL_mean)²) dB, clipped ≥ 0; a        (seed paper; SimPhony
                  removed MZI and an empty column slot lose only               device cards); rel = 0.2
                  ``waveguide_loss_db``   [dB]                                 (non-uniform IL, 2207.10835)
thermal xtalk     Δφ_i = Σ_j K_ij · φ_j, φ_j the programmed (wrapped) phase of  κ_ref = 0.01 at the nearest
                  live heater j (heat ∝ power ∝ phase);                        neighbour (pytorch-onn
                  K_ij = κ_ref·exp(−(d_ij − d_ref)/L) for i ≠ j, d_ij ≤ cutoff, default); L = 30 µm is an
                  capped at κ_ref·e; d in µm between the heaters, from the GDS  assumption (order of
                  labels or the mesh grid. Pruned heaters are not built: they  magnitude of the measured
                  do not heat                                                   SOI decay, Jacques et al.,
                                                                               Opt. Express 27, 10456
                                                                               (2019))
================  ==========================================================  =========================

Two modelling choices, both switchable in :class:`Imperfections`:
- ``loss_compensation`` (default on): the off-chip gain of each layer is recalibrated for the nominal
  (mean) path loss, so what costs accuracy is the loss non-uniformity, not a known global scale.
- ``crosstalk_into_pruned`` (default on): a pruned heater is not built and does not heat, but the
  waveguide under its site still picks up the neighbours' heat. :func:`crosstalk_matrix` returns the
  heater-to-heater matrix (symmetric, zero for pruned heaters) unless asked otherwise. A *removed*
  MZI is plain waveguide: the heat at its θ and φ sites only delays the path from its top input
  (no interference, no power exchange); a pruned MZI kept in bar still interferes.

Order of application for one trial: programmed phase → quantisation (the DAC) → thermal crosstalk
from the quantised drive → Gaussian phase error → MZIs with perturbed couplers → insertion loss.

The Monte-Carlo is vectorised over trials: every trial's column matrices are built at once with
:func:`gf_prune.mesh.column_matrices_torch` (leading trial dimension) and multiplied with
:func:`gf_prune.mesh.product_tree`; there is no Python loop over trials. Random numbers are drawn
once per call from a seeded ``torch.Generator`` in a fixed order (phase, coupler, loss) and always in
full, so the dense and the pruned network (same heater count) see the *same* draws (common random
numbers) and a sweep value never shifts the stream of another.

Modules: :mod:`gf_prune.imperfections` (models and configuration), :mod:`gf_prune.heaters`
(heater index, positions, crosstalk), :mod:`gf_prune.montecarlo` (perturbed matrices,
accuracy, noise-aware fine-tuning) and this stage, which re-exports their public names.
Entry point of the product: :func:`run_robustness`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gf_prune.heaters import (
    HeaterKey,
    crosstalk_coefficient,
    crosstalk_matrix,
    fill_missing_positions,
    grid_heater_positions,
    heater_keys,
    heater_positions_from_gds,
    layout_column_pitch_um,
)
from gf_prune.imperfections import (
    FabricationConfig,
    FinetuneConfig,
    Imperfections,
    RobustnessConfig,
    coupler_matrix_split,
    load_config,
    loss_amplitude,
    mzi_elements_split,
    quantize_phase,
)
from gf_prune.io import atomic_write_text, recorded_path
from gf_prune.montecarlo import (
    DRAW_BLOCK,
    monte_carlo_accuracy,
    noise_aware_finetune,
    perturbed_matrices,
    summarize,
)
from gf_prune.naming import LABEL_PATTERN

__all__ = [
    "DRAW_BLOCK",
    "LABEL_PATTERN",
    "FabricationConfig",
    "FinetuneConfig",
    "HeaterKey",
    "Imperfections",
    "RobustnessConfig",
    "coupler_matrix_split",
    "crosstalk_coefficient",
    "crosstalk_matrix",
    "fill_missing_positions",
    "grid_heater_positions",
    "heater_keys",
    "heater_positions_from_gds",
    "layout_column_pitch_um",
    "load_config",
    "loss_amplitude",
    "monte_carlo_accuracy",
    "mzi_elements_split",
    "noise_aware_finetune",
    "perturbed_matrices",
    "plot_robustness",
    "quantize_phase",
    "run_robustness",
    "summarize",
]


def _positions(model: torch.nn.Module, cfg: RobustnessConfig) -> tuple[np.ndarray, str]:
    column = cfg.column_pitch_um if cfg.column_pitch_um is not None else layout_column_pitch_um(cfg.row_pitch_um)
    grid = grid_heater_positions(model, column, cfg.row_pitch_um)
    if cfg.heater_gds is None:
        return grid, f"grid (column {column} µm × row {cfg.row_pitch_um} µm, from the layout's slot width)"
    groups = [(layer, mesh, kind) for layer, mesh, _, _, kind in heater_keys(model)]
    pos, n_fill = fill_missing_positions(heater_positions_from_gds(cfg.heater_gds, model), grid, groups)
    note = f"; {n_fill} unlabelled sites placed by an affine fit of the grid" if n_fill else ""
    return pos, f"gds:{cfg.heater_gds}{note}"


def _sweep(
    models: dict[str, torch.nn.Module],
    data: Any,
    cfg: RobustnessConfig,
    positions: dict[str, np.ndarray],
    field: str,
    values: Sequence[Any],
    device: str | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"parameter": field, "values": list(values)}
    for name, model in models.items():
        rows = []
        for v in values:
            imp = cfg.base.model_copy(update={field: v})
            trials = cfg.trials if imp.is_random else 1
            acc = monte_carlo_accuracy(
                model, data.X_test, data.y_test, imp, trials, cfg.seed, positions[name], None, cfg.batch_trials, device
            )
            rows.append(summarize(acc))
        out[name] = rows
    return out


def run_robustness(
    model_dense: torch.nn.Module,
    model_pruned: torch.nn.Module,
    data: Any,
    config: RobustnessConfig | dict | str | Path | None = None,
    out_dir: str | Path | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Monte-Carlo robustness of a dense and a pruned network; returns a JSON-able summary.

    Sweeps (each with the others at ``config.base``): σ_PS, bits, σ_BS, IL (dB), crosstalk κ;
    then all imperfections at once (``config.combined``) and the per-layer sensitivity (one layer
    perturbed at a time with ``config.layer_sensitivity``). With ``config.finetune.enabled`` a copy
    of the pruned network is fine-tuned under ``config.finetune.noise`` and evaluated too (key
    ``pruned_ft``). Accuracies are fractions in [0, 1]. With ``out_dir``, writes
    ``robustness.json`` and (``config.plots``) ``robustness.png``, ``robustness_layers.png``.
    The models are not modified. ``progress`` (optional) is called with a short text per stage.
    ``device``: torch device of the Monte-Carlo and the noise-aware fine-tuning (:mod:`gf_prune.device`);
    the fabrication study stays on the CPU.
    """
    import copy
    import time

    cfg = load_config(config)
    t0 = time.perf_counter()

    def arch(m: torch.nn.Module) -> Any:
        return [(lay.n_in, lay.n_out, lay.mesh_kind, lay.zero_state) for lay in m.layers]

    if arch(model_pruned) != arch(model_dense):
        raise ValueError(
            f"model_pruned: architecture {arch(model_pruned)} differs from model_dense {arch(model_dense)}"
        )
    say = progress or (lambda _msg: None)
    models: dict[str, torch.nn.Module] = {"dense": model_dense, "pruned": model_pruned}
    summary: dict[str, Any] = {"config": cfg.model_dump(), "units": _UNITS}
    if cfg.finetune.enabled:
        say("noise-aware fine-tuning")
        ft = copy.deepcopy(model_pruned)
        t1 = time.perf_counter()
        pos_ft, _ = _positions(ft, cfg)
        hist = noise_aware_finetune(
            ft,
            data,
            cfg.finetune.noise,
            cfg.finetune.epochs,
            cfg.finetune.lr,
            cfg.finetune.trials_per_step,
            cfg.finetune.seed,
            pos_ft,
            device=device,
        )
        summary["finetune"] = {"loss_history": hist, "time_s": time.perf_counter() - t1}
        models["pruned_ft"] = ft
    positions, sources = {}, {}
    for name, m in models.items():
        positions[name], sources[name] = _positions(m, cfg)
    summary["heater_positions"] = sources
    if out_dir is not None and cfg.heater_gds is not None:  # a path in an output file: relative to out_dir
        shown = recorded_path(cfg.heater_gds, out_dir)
        summary["config"]["heater_gds"] = shown
        summary["heater_positions"] = {k: v.replace(cfg.heater_gds, shown, 1) for k, v in sources.items()}
    summary["clean"] = {
        name: float(monte_carlo_accuracy(m, data.X_test, data.y_test, Imperfections(), 1, cfg.seed, device=device)[0])
        for name, m in models.items()
    }
    summary["sweeps"] = {}
    for field in ("sigma_ps", "bits", "sigma_bs", "loss_db", "crosstalk"):
        say(f"sweep {field}")
        summary["sweeps"][field] = _sweep(models, data, cfg, positions, field, getattr(cfg, field), device)
    say("combined and per-layer")
    combined = {}
    for name, m in models.items():
        trials = cfg.trials if cfg.combined.is_random else 1
        acc = monte_carlo_accuracy(
            m, data.X_test, data.y_test, cfg.combined, trials, cfg.seed, positions[name], None, cfg.batch_trials, device
        )
        combined[name] = summarize(acc)
    summary["combined"] = combined
    layers: dict[str, list[dict[str, float]]] = {}
    sens_trials = cfg.trials if cfg.layer_sensitivity.is_random else 1
    for name, m in models.items():
        layers[name] = []
        for li in range(len(m.layers)):
            acc = monte_carlo_accuracy(
                m,
                data.X_test,
                data.y_test,
                cfg.layer_sensitivity,
                sens_trials,
                cfg.seed,
                positions[name],
                [li],
                cfg.batch_trials,
                device,
            )
            s = summarize(acc)
            s["drop"] = summary["clean"][name] - s["mean"]
            layers[name].append(s)
    summary["layer_sensitivity"] = {"setting": cfg.layer_sensitivity.model_dump(), **layers}
    summary["gap"] = _gaps(summary, list(models))
    if cfg.finetune.enabled:
        noise = cfg.finetune.noise
        crit: dict[str, Any] = {"noise": noise.model_dump()}
        for name, m in models.items():
            acc = monte_carlo_accuracy(
                m,
                data.X_test,
                data.y_test,
                noise,
                cfg.trials if noise.is_random else 1,
                cfg.seed,
                positions[name],
                device=device,
            )
            crit[name] = {**summarize(acc), "drop": summary["clean"][name] - float(acc.mean())}
        # the goal: the fine-tuned pruned network loses no more accuracy under this noise than the dense one
        crit["met"] = bool(crit["pruned_ft"]["drop"] <= crit["dense"]["drop"])
        summary["finetune"]["criterion"] = crit
    if cfg.fabrication.enabled:  # passive errors on every arm, then calibration of only the live heaters
        from gf_prune.fabrication import fabrication_study

        say("passive fabrication errors + calibration")
        fab = cfg.fabrication
        summary["fabrication"] = fabrication_study(
            {"dense": model_dense, "pruned": model_pruned},
            data.X_test,
            data.y_test,
            tuple(fab.sigmas),
            fab.trials,
            fab.steps,
            cfg.seed,
        )
    summary["timings_s"] = {"total": time.perf_counter() - t0}
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if cfg.plots:
            plot_robustness(summary, out)
        atomic_write_text(out / "robustness.json", json.dumps(summary, indent=2))
    return summary


_UNITS = {
    "accuracy": "fraction in [0, 1]",
    "sigma_ps": "π rad (std of the phase error of a live heater)",
    "bits": "bits of a uniform phase DAC on [0, 2π)",
    "sigma_bs": "std of the coupler's bar field coefficient r around 1/√2",
    "loss_db": "dB mean insertion loss per built MZI / attenuator",
    "crosstalk": "κ_ref, fraction of a heater's phase seen at crosstalk_ref_um",
    "time": "s",
}


def _gaps(summary: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """Accuracy lost to each imperfection, pruned vs dense (fractions; positive = worse)."""
    clean = summary["clean"]
    out: dict[str, Any] = {}
    for field, sw in summary["sweeps"].items():
        out[field] = {name: [clean[name] - r["mean"] for r in sw[name]] for name in names}
        pairs = zip(sw["pruned"], sw["dense"], strict=True)
        diff = [(clean["pruned"] - p["mean"]) - (clean["dense"] - d["mean"]) for p, d in pairs]
        out[field]["pruned_minus_dense"] = diff
        out[field]["max_pruned_minus_dense"] = max(out[field]["pruned_minus_dense"])
    out["combined"] = {name: clean[name] - summary["combined"][name]["mean"] for name in names}
    return out


def plot_robustness(summary: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Accuracy (mean with p5–p95 band) vs each swept parameter, and per-layer sensitivity bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    names = [n for n in ("dense", "pruned", "pruned_ft") if n in summary["clean"]]
    colors = {"dense": "tab:blue", "pruned": "tab:red", "pruned_ft": "tab:green"}
    labels = {
        "sigma_ps": "σ_PS (units of π)",
        "bits": "phase DAC bits",
        "sigma_bs": "σ_BS (coupler split)",
        "loss_db": "mean MZI insertion loss (dB)",
        "crosstalk": "crosstalk κ at nearest neighbour",
    }
    sweeps = summary["sweeps"]
    fig, axes = plt.subplots(1, len(sweeps), figsize=(4 * len(sweeps), 3.4), constrained_layout=True)
    for ax, (field, sw) in zip(np.atleast_1d(axes), sweeps.items(), strict=True):
        xs = np.asarray(sw["values"], dtype=float)
        for n in names:
            mean = np.array([r["mean"] for r in sw[n]])
            ax.plot(xs, mean, "o-", color=colors[n], label=n)
            ax.fill_between(xs, [r["p5"] for r in sw[n]], [r["p95"] for r in sw[n]], color=colors[n], alpha=0.2)
        ax.set_xlabel(labels.get(field, field))
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend()
    paths = [out / "robustness.png"]
    fig.savefig(paths[0], dpi=110)
    plt.close(fig)
    ls = summary["layer_sensitivity"]
    fig, ax = plt.subplots(figsize=(5, 3.4), constrained_layout=True)
    n_layers = len(ls["dense"])
    w = 0.8 / len(names)
    for i, n in enumerate(names):
        ax.bar(np.arange(n_layers) + i * w, [r["drop"] for r in ls[n]], w, color=colors[n], label=n)
    ax.set_xticks(np.arange(n_layers) + w * (len(names) - 1) / 2, [f"layer {i}" for i in range(n_layers)])
    ax.set_ylabel("accuracy drop (one layer perturbed)")
    ax.set_title(f"σ_PS = {ls['setting']['sigma_ps']}π")
    ax.legend()
    paths.append(out / "robustness_layers.png")
    fig.savefig(paths[1], dpi=110)
    plt.close(fig)
    return paths
