"""Verification with a foundry's own component models, and layout-in-the-loop fine-tuning.

The ideal-model check (:mod:`gf_prune.verify`, ≤ 1e-6) proves that the geometry realises the trained
network under gf_prune's convention. This module asks what the foundry's models predict for the same
GDS: the chip's netlist, read back from ``network.gds``, simulated with the PDK's SAX models
(:mod:`gf_prune.foundry_models`; cspdk's ``mmi2x2`` has |S| = 0.683 on both outputs and its own
phases, its waveguides n_eff = 2.38 and 3 dB/cm, its heater's waveguide n_eff = 2.34), through the
circuit engine (:class:`~gf_prune.circuit.CompiledCircuit`).

Figures, per layer ℓ with the trained matrix T (no gain) and the foundry matrix W (the chip's block):

* ``fidelity`` = |tr(T†W)|² / (‖T‖²_F ‖W‖²_F) — 1 when W ∝ T (any loss and global phase);
* ``fidelity_detected`` = (Σ_i |⟨T_i, W_i⟩|)² / (‖T‖²_F ‖W‖²_F) — the same with a free phase on every
  output row, which neither |·|² detection nor the modulus between layers can see;
* ``power`` = ‖W‖²_F / ‖T‖²_F — the light the chip transmits relative to the trained matrix
  (``power_dB`` = 10·log10);
* ``accuracy`` — test accuracy of the network whose layers are ``gain_ℓ · W_ℓ`` through the same
  modulus-softplus O-E-O stage as :func:`gf_prune.model.network_fields` (trained gains: nothing
  re-calibrated); ``accuracy_loss_compensated`` divides each gain by √power (an O-E-O amplifier
  set to the layer's mean insertion loss). The run's top-level ``accuracy`` (report ``accuracy.foundry``)
  and ``accuracy_tuned`` use the receiver gains set once for the chip's loss at its programmed phases
  (``receiver_gains``), as a bench set-up would; ``accuracy_trained_gains`` keeps the uncalibrated figure.

Layout-in-the-loop tuning (:func:`tune_phases`, at the receiver gains) re-fits only the built (live)
heaters' phases through :class:`~gf_prune.layout_model.LayoutModel` — the foundry-model chip as a
differentiable JAX function of its heater phases, equal to the engine to ~1e-13 — with Adam on JAX
gradients: first each layer's ``1 − fidelity_detected`` (no data), then the cross-entropy of the
training split. The epoch is chosen on the validation split (epoch 0, the untuned phases, is a
candidate, so validation accuracy never drops); the test split is never read. The re-fitted phases go
to ``DIR/tuned/heaters.csv`` (and ``pads.csv``).
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gf_prune.diagnosis import slot_tag
from gf_prune.foundry_models import FoundryModels, foundry_cell_models, load_pdk_models
from gf_prune.layout_model import LayoutModel
from gf_prune.physics import P_PI_MW_DEFAULT, heater_power_mw, wrap_phase
from gf_prune.sax_models import WL0_UM

__all__ = [
    "FoundryCheck",
    "TuneResult",
    "fidelity",
    "fidelity_detected",
    "foundry_dir",
    "network_fields_jax",
    "plot_foundry_sweep",
    "tune_phases",
    "write_tuned_tables",
]

SWEEP_WLS_UM = tuple(
    float(w)
    for w in np.unique(
        np.round(np.concatenate([np.linspace(1.50, 1.60, 11), WL0_UM + np.array([-5, -2, -0.5, 0.5, 2, 5]) * 1e-3]), 9)
    )
)
"""λ sweep of the foundry figures (µm): every 10 nm plus ±0.5, ±2, ±5 nm around the design wavelength,
which it holds. All points are solved in one batch: sax's ``mmi2x2`` (cspdk's) scales its spectrum to its
maximum over the wavelengths of one call."""


# ----------------------------------------------------------------------------- figures


def fidelity(t: np.ndarray, w: np.ndarray) -> float:
    """|tr(T†W)|² / (‖T‖²‖W‖²): 1 iff W = c·T for a complex c.

    >>> round(fidelity(np.eye(2), 0.5j * np.eye(2)), 12)
    1.0
    """
    t, w = np.asarray(t), np.asarray(w)
    return float(abs(np.vdot(t, w)) ** 2 / (np.vdot(t, t).real * np.vdot(w, w).real))


def fidelity_detected(t: np.ndarray, w: np.ndarray) -> float:
    """(Σ_i |⟨T_i, W_i⟩|)² / (‖T‖²‖W‖²): :func:`fidelity` with a free phase on every output row.

    >>> round(fidelity_detected(np.eye(2), np.diag([1.0, -1.0])), 12)
    1.0
    """
    t, w = np.asarray(t), np.asarray(w)
    rows = np.abs(np.sum(np.conj(t) * w, axis=1)).sum()
    return float(rows**2 / (np.vdot(t, t).real * np.vdot(w, w).real))


def _layer_figures(trained: Sequence[np.ndarray], chip: Sequence[np.ndarray]) -> list[dict[str, float]]:
    out = []
    for t, w in zip(trained, chip, strict=True):
        p = float(np.vdot(w, w).real / np.vdot(t, t).real)
        out.append(
            {
                "fidelity": fidelity(t, w),
                "fidelity_detected": fidelity_detected(t, w),
                "power": p,
                "power_dB": 10 * math.log10(p) if p > 0 else -math.inf,
            }
        )
    return out


def network_fields_jax(mats: Sequence[Any], x: Any, bias_amps: Sequence[float | None]) -> jnp.ndarray:
    """:func:`gf_prune.model.network_fields` in JAX: modulus-softplus between layers, bias mode last."""
    h = jnp.asarray(x, dtype=jnp.complex128)
    for i, w in enumerate(mats):
        if i:
            h = jax.nn.softplus(jnp.abs(h)).astype(jnp.complex128)
        if bias_amps[i] is not None:
            h = jnp.concatenate([h, jnp.full((h.shape[0], 1), bias_amps[i], dtype=jnp.complex128)], axis=1)
        h = h @ w.T
    return h


def _accuracy(mats: Sequence[np.ndarray], x: Any, y: Any, bias_amps: Sequence[float | None]) -> float:
    """Accuracy through :meth:`gf_prune.model.PhotonicMLP.predict_from_matrices` (the torch forward)."""
    import torch

    from gf_prune.model import PhotonicMLP

    pred = PhotonicMLP.predict_from_matrices([np.asarray(m) for m in mats], torch.as_tensor(np.asarray(x)), bias_amps)
    return float((pred.numpy() == np.asarray(y)).mean())


# ----------------------------------------------------------------------------- tuning


@dataclass
class TuneResult:
    """Outcome of :func:`tune_phases`: the chosen phases and what chose them."""

    phases: np.ndarray  # one per heater of the circuit (its ``slots`` order), wrapped into [0, 2π)
    best_epoch: int  # 0: the untuned phases
    val_before: float
    val_after: float
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def _adam(grad: jnp.ndarray, state: tuple, lr: float, b1: float = 0.9, b2: float = 0.999) -> tuple:
    m, v, t = state
    t = t + 1
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad**2
    step = lr * (m / (1 - b1**t)) / (jnp.sqrt(v / (1 - b2**t)) + 1e-12)
    return step, (m, v, t)


def tune_phases(
    lm: LayoutModel,
    trained: Sequence[np.ndarray],
    gains: Sequence[float],
    bias_amps: Sequence[float | None],
    phases0: np.ndarray,
    train: tuple[Any, Any],
    val: tuple[Any, Any],
    epochs: int = 150,
    fit_epochs: int = 100,
    lr: float = 0.02,
    progress: Callable[[str], None] | None = None,
    train_lr: float | None = None,
) -> TuneResult:
    """Re-fit the heater phases of ``lm`` (all of them: a built heater is a live one) on the data.

    ``fit_epochs`` Adam steps on Σ_ℓ (1 − fidelity_detected_ℓ) against the ``trained`` matrices, then
    ``epochs`` full-batch Adam steps (step size ``train_lr``, default ``lr``) on the cross-entropy of
    ``train`` (X, y); after every step the validation accuracy (ties: lower validation loss) picks the
    phases returned. Test data is not an argument: it cannot be read.
    """
    t0 = time.perf_counter()
    shapes = [np.asarray(t).shape for t in trained]
    tm = [jnp.asarray(t) for t in trained]
    xt, yt = jnp.asarray(np.asarray(train[0])), jnp.asarray(np.asarray(train[1]))
    xv, yv = jnp.asarray(np.asarray(val[0])), jnp.asarray(np.asarray(val[1]))
    g = [float(x) for x in gains]

    def mats(ph: jnp.ndarray) -> list[jnp.ndarray]:
        return [w * gi for w, gi in zip(lm.blocks(lm._compose(ph), shapes), g, strict=True)]

    def fit_loss(ph: jnp.ndarray) -> jnp.ndarray:
        loss = 0.0
        for t, w in zip(tm, lm.blocks(lm._compose(ph), shapes), strict=True):
            rows = jnp.abs(jnp.sum(jnp.conj(t) * w, axis=1)).sum()
            loss = loss + 1 - rows**2 / (jnp.sum(jnp.abs(t) ** 2) * jnp.sum(jnp.abs(w) ** 2))
        return loss

    def ce(ph: jnp.ndarray, x: jnp.ndarray, y: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        logits = jnp.abs(network_fields_jax(mats(ph), x, bias_amps)) ** 2
        logp = jax.nn.log_softmax(logits, axis=-1)
        nll = -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))
        return nll, jnp.mean(jnp.argmax(logits, axis=-1) == y)

    def loss(ph: jnp.ndarray, w_fit: jnp.ndarray) -> jnp.ndarray:  # one compile serves both stages
        return w_fit * fit_loss(ph) + (1 - w_fit) * ce(ph, xt, yt)[0]

    step_fn = jax.jit(jax.value_and_grad(loss))
    val_eval = jax.jit(lambda ph: ce(ph, xv, yv))

    ph = jnp.asarray(phases0, dtype=jnp.float64)
    loss_v, acc_v = (float(a) for a in val_eval(ph))
    best = (acc_v, -loss_v, 0, np.asarray(ph))
    history = [{"epoch": 0, "stage": "untuned", "val_loss": loss_v, "val_acc": acc_v}]
    val_before = acc_v
    state = (jnp.zeros_like(ph), jnp.zeros_like(ph), 0)
    for e in range(1, fit_epochs + epochs + 1):
        stage = "fit" if e <= fit_epochs else "train"
        if e == fit_epochs + 1:
            state = (jnp.zeros_like(ph), jnp.zeros_like(ph), 0)
        value, grad = step_fn(ph, jnp.asarray(1.0 if stage == "fit" else 0.0))
        step, state = _adam(grad, state, lr if stage == "fit" or train_lr is None else train_lr)
        ph = ph - step
        loss_v, acc_v = (float(a) for a in val_eval(ph))
        history.append({"epoch": e, "stage": stage, "loss": float(value), "val_loss": loss_v, "val_acc": acc_v})
        if (acc_v, -loss_v) > best[:2]:
            best = (acc_v, -loss_v, e, np.asarray(ph))
        if progress is not None and e % 25 == 0:
            progress(f"tune {stage} epoch {e}: loss {float(value):.4f}, val acc {acc_v:.3f}")
    return TuneResult(
        np.asarray(wrap_phase(best[3])),
        best[2],
        val_before,
        best[0],
        history,
        time.perf_counter() - t0,
    )


# ----------------------------------------------------------------------------- files


def _heater_key(path: Sequence[str]) -> tuple[int, str, int, int, str] | None:
    tag = slot_tag(path[-2]) if len(path) >= 2 else None
    return None if tag is None else (*tag, path[-1])


def _rewrite_csv(src: Path, dst: Path, update: Callable[[dict[str, str]], dict[str, str]]) -> int:
    from gf_prune.io import atomic_output

    with src.open(newline="") as f:
        reader = csv.DictReader(f)
        cols = list(reader.fieldnames or [])
        rows = [update(dict(r)) for r in reader]
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dst) as tmp, tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    return len(rows)


def write_tuned_tables(
    out_dir: str | Path,
    slots: Sequence[Sequence[str]],
    phases: np.ndarray,
    p_pi_mw: float = P_PI_MW_DEFAULT,
) -> dict[str, str]:
    """``DIR/tuned/heaters.csv`` (and ``pads.csv`` when ``DIR/pads.csv`` exists) for re-fitted phases.

    Each file keeps the columns and rows of its original; a built heater's ``phase_rad`` and
    ``power_mw`` (and, in ``pads.csv``, ``current_mA`` and ``voltage_V`` from the row's own
    resistance R = V/I, or the median R of the file where the row's current is 0: P = I²R) are
    rewritten; pruned heaters, ground pads and other rows are copied unchanged.
    """
    out = Path(out_dir)
    new = {}
    for path, ph in zip(slots, phases, strict=True):
        key = _heater_key(path)
        if key is not None:
            new[key] = float(wrap_phase(ph))

    def key_of(row: dict[str, str]) -> tuple[int, str, int, int, str] | None:
        try:
            return (int(row["layer"]), row["mesh"], int(row["column"]), int(row["row"]), row["kind"])
        except (KeyError, ValueError):
            return None

    files: dict[str, str] = {}
    src = out / "heaters.csv"
    if not src.is_file():
        raise FileNotFoundError(f"missing file {src} (run `gf-prune layout` first)")

    def heater_row(row: dict[str, str]) -> dict[str, str]:
        k = key_of(row)
        if k in new:
            row["phase_rad"] = f"{new[k]:.12g}"
            row["power_mw"] = f"{float(heater_power_mw(new[k], p_pi_mw)):.12g}"
        return row

    _rewrite_csv(src, out / "tuned" / "heaters.csv", heater_row)
    files["heaters"] = "tuned/heaters.csv"
    pads = out / "pads.csv"
    if pads.is_file():
        with pads.open(newline="") as f:
            res = []
            for r in csv.DictReader(f):
                try:
                    i, v = float(r.get("current_mA") or 0), float(r.get("voltage_V") or 0)
                except ValueError:
                    continue
                if i > 0 and v > 0:
                    res.append(v / (i * 1e-3))
        r_median = float(np.median(res)) if res else None

        def pad_row(row: dict[str, str]) -> dict[str, str]:
            k = key_of(row)
            if k not in new or not row.get("heater_instance"):
                return row
            try:
                i, v = float(row.get("current_mA") or 0), float(row.get("voltage_V") or 0)
            except ValueError:
                i = v = 0.0
            r_ohm = v / (i * 1e-3) if i > 0 and v > 0 else r_median
            p_mw = float(heater_power_mw(new[k], p_pi_mw))
            row["phase_rad"] = f"{new[k]:.12g}"
            row["power_mw"] = f"{p_mw:.12g}"
            if r_ohm:
                amps = math.sqrt(p_mw * 1e-3 / r_ohm)
                row["current_mA"] = f"{amps * 1e3:.6g}"
                row["voltage_V"] = f"{amps * r_ohm:.6g}"
            return row

        _rewrite_csv(pads, out / "tuned" / "pads.csv", pad_row)
        files["pads"] = "tuned/pads.csv"
    return files


# ----------------------------------------------------------------------------- the check


@dataclass
class FoundryCheck:
    """The chip compiled with a PDK's models, against a trained network (see the module)."""

    recnet: Mapping[str, Any]
    net: Any
    models: FoundryModels
    wl: float = WL0_UM
    heater_offset_rad: float = 0.0  # the PDK heater's own phase, programmed away (heaters.csv's phase_rad)

    def __post_init__(self) -> None:
        from gf_prune.verify import Verifier, _expected

        t0 = time.perf_counter()
        self.verifier = Verifier(self.recnet, self.net, cell_models=self.models.cell_models)
        self.cc = self.verifier.cc
        self.trained = [_expected(self.net, li, "W") for li in range(len(self.net.layers))]
        self.gains = [float(lp.S.gain) for lp in self.net.layers]
        self.bias_amps = self.net.bias_amps
        self.compile_s = time.perf_counter() - t0
        self._lm: LayoutModel | None = None

    @property
    def phases(self) -> np.ndarray:
        """The programmed phases, one per built heater: the trained ones less ``heater_offset_rad``."""
        if not self.heater_offset_rad:
            return self.verifier.phases
        return np.asarray(wrap_phase(self.verifier.phases - self.heater_offset_rad))

    @property
    def layout_model(self) -> LayoutModel:
        if self._lm is None:
            self._lm = LayoutModel(self.cc, self.wl)
        return self._lm

    def matrices(self, phases: np.ndarray | None = None, wl: float | None = None) -> list[np.ndarray]:
        """Each layer's foundry-model matrix (no gain, raw phase) from the circuit engine."""
        return self.verifier.layer_matrices(self.wl if wl is None else wl, self.phases if phases is None else phases)

    def figures(self, mats: Sequence[np.ndarray], test: tuple[Any, Any] | None = None) -> dict[str, Any]:
        """Per-layer figures and, given ``test`` (X, y), both accuracies."""
        per = _layer_figures(self.trained, mats)
        out: dict[str, Any] = {"per_layer": per}
        if test is not None:
            out["accuracy"] = _accuracy([m * g for m, g in zip(mats, self.gains, strict=True)], *test, self.bias_amps)
            comp = [m * g / math.sqrt(f["power"]) for m, g, f in zip(mats, self.gains, per, strict=True)]
            out["accuracy_loss_compensated"] = _accuracy(comp, *test, self.bias_amps)
        return out

    def sweep(
        self,
        phases: np.ndarray | None = None,
        wls: Sequence[float] = SWEEP_WLS_UM,
        test: tuple[Any, Any] | None = None,
        gains: Sequence[float] | None = None,
    ) -> dict[str, Any]:
        """Fidelity, power and (given ``test``) accuracy of every layer at every wavelength; with ``gains``
        (the receiver gains, set once at the design wavelength) the accuracy is taken at those gains."""
        s_all = self.cc.evaluate_sweep(self.phases if phases is None else phases, wls, chunk=len(wls))
        rows, accuracy = [], []
        for s in s_all:
            mats = [self.verifier._layer_block(s, li) for li in range(len(self.net.layers))]
            rows.append(self.figures(mats, test if gains is None else None))
            if test is not None and gains is not None:
                accuracy.append(_accuracy([m * g for m, g in zip(mats, gains, strict=True)], *test, self.bias_amps))
        res: dict[str, Any] = {
            "wavelength_um": [float(w) for w in wls],
            "fidelity": [[r["per_layer"][li]["fidelity"] for r in rows] for li in range(len(self.net.layers))],
            "fidelity_detected": [
                [r["per_layer"][li]["fidelity_detected"] for r in rows] for li in range(len(self.net.layers))
            ],
            "power_dB": [[r["per_layer"][li]["power_dB"] for r in rows] for li in range(len(self.net.layers))],
        }
        if test is not None:
            res["accuracy"] = [r["accuracy"] for r in rows] if gains is None else accuracy
        return res


def plot_foundry_sweep(sweep: Mapping[str, Any], path: str | Path) -> Path:
    """Test accuracy and each layer's ``fidelity_detected`` vs λ, trained and tuned phases (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gf_prune.io import atomic_output

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=120)
    for key, style in (("untuned", "--"), ("tuned", "-")):
        if key not in sweep:
            continue
        s = sweep[key]
        wl = np.asarray(s["wavelength_um"]) * 1e3
        if "accuracy" in s:
            ax1.plot(wl, np.asarray(s["accuracy"]) * 100, "o" + style, ms=3, label=f"{key} phases")
        for li, f in enumerate(s["fidelity_detected"]):
            ax2.plot(wl, f, "o" + style, ms=3, color=f"C{li}", label=f"layer {li}, {key}")
    ax1.set_xlabel("wavelength (nm)")
    ax1.set_ylabel("test accuracy (%)")
    ax1.set_title("foundry models: accuracy")
    ax2.set_xlabel("wavelength (nm)")
    ax2.set_ylabel("fidelity, free output phases")
    ax2.set_ylim(0, 1)
    ax2.set_title("foundry models: layer fidelity")
    for ax in (ax1, ax2):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    path = Path(path)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def _split_arrays(data: Any, split: str) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(getattr(data, f"X_{split}")), np.asarray(getattr(data, f"y_{split}"))


def foundry_dir(
    out_dir: str | Path,
    data: Any,
    pdk: Any = "cspdk",
    tune_epochs: int = 150,
    fit_epochs: int = 100,
    lr: float = 0.02,
    sweep: bool = True,
    p_pi_mw: float = P_PI_MW_DEFAULT,
    wl: float = WL0_UM,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Foundry-model check of ``DIR/network.gds`` against ``DIR/phases.npz`` (and tuning, files).

    Returns the ``verify.json`` ``foundry`` section: per-layer figures and test accuracies before
    and after tuning, validation accuracies, the λ sweep, the model mapping, timings; writes
    ``DIR/tuned/heaters.csv`` (and ``pads.csv``) when ``tune_epochs + fit_epochs > 0``.
    """
    from gf_prune.netlist import load_netlist
    from gf_prune.phases import NetworkPhases

    out = Path(out_dir)
    t0 = time.perf_counter()
    net = NetworkPhases.load(out / "phases.npz")
    recnet = load_netlist(out / "network.gds", cache=True)
    name, models = load_pdk_models(pdk)
    if not models:
        raise ValueError(f"the PDK {name!r} has no SAX models to simulate the chip with")
    offset = layout_heater_offset(out, pdk)
    fc = FoundryCheck(recnet, net, foundry_cell_models(recnet, models, name), wl, offset)
    timings = {"netlist_compile": time.perf_counter() - t0}
    test, val, train = (_split_arrays(data, s) for s in ("test", "val", "train"))
    t1 = time.perf_counter()
    before = fc.figures(fc.matrices(), test)
    # the receiver (O-E-O) gain of each layer set for the chip's loss, once, at the programmed phases
    rx_gains = [g / math.sqrt(layer["power"]) for g, layer in zip(fc.gains, before["per_layer"], strict=True)]
    before["val_accuracy"] = _accuracy(
        [m * g for m, g in zip(fc.matrices(), rx_gains, strict=True)], *val, fc.bias_amps
    )
    timings["evaluate"] = time.perf_counter() - t1
    res: dict[str, Any] = {
        "pdk": name,
        "wavelength_um": wl,
        "models": fc.models.mapping,
        "warnings": fc.models.warnings + fc.cc.warnings[:20],
        "definitions": {
            "fidelity": "|tr(T^H W)|^2 / (|T|_F^2 |W|_F^2), T trained (no gain), W chip block",
            "fidelity_detected": "(sum_i |<T_i, W_i>|)^2 / (|T|_F^2 |W|_F^2): free phase per output row",
            "power": "|W|_F^2 / |T|_F^2",
            "accuracy": "test accuracy, layers gain*W, modulus-softplus between layers (trained gains)",
            "accuracy_loss_compensated": "the same with each gain divided by sqrt(power)",
            "receiver_gains": "trained gain / sqrt(power) of the chip at its programmed phases: the O-E-O "
            "amplifier set for the chip's loss, as on the bench; the top-level accuracies use them",
        },
        "untuned": before,
        "receiver_gains": rx_gains,
        "accuracy": before["accuracy_loss_compensated"],
        "accuracy_trained_gains": before["accuracy"],
        "heater_offset_rad": offset,
    }
    if sweep:
        t2 = time.perf_counter()
        res["sweep"] = {"untuned": fc.sweep(test=test, gains=rx_gains)}
        timings["sweep"] = time.perf_counter() - t2
    if tune_epochs + fit_epochs > 0:
        t3 = time.perf_counter()
        lm = fc.layout_model
        timings["layout_model"] = time.perf_counter() - t3
        dev = lm.max_deviation(fc.phases)
        tr = tune_phases(
            lm, fc.trained, rx_gains, fc.bias_amps, fc.phases, train, val, tune_epochs, fit_epochs, lr, progress
        )
        timings["tune"] = tr.seconds
        tuned_mats = fc.matrices(tr.phases)
        after = fc.figures(tuned_mats, test)
        after["val_accuracy"] = tr.val_after
        after["accuracy_receiver_gains"] = _accuracy(
            [m * g for m, g in zip(tuned_mats, rx_gains, strict=True)], *test, fc.bias_amps
        )
        res.update(
            {
                "tuned": after,
                "accuracy_tuned": after["accuracy_receiver_gains"],
                "layout_model_max_deviation": dev,
                "tuning": {
                    "best_epoch": tr.best_epoch,
                    "fit_epochs": fit_epochs,
                    "train_epochs": tune_epochs,
                    "lr": lr,
                    "selection": "validation accuracy (ties: validation loss); epoch 0 = untuned",
                    "val_before": tr.val_before,
                    "val_after": tr.val_after,
                    "heaters": len(tr.phases),
                    "history": tr.history[:: max(1, len(tr.history) // 50)],
                },
            }
        )
        res["files"] = write_tuned_tables(out, fc.cc.slots, tr.phases, p_pi_mw)
        if sweep:
            t4 = time.perf_counter()
            res["sweep"]["tuned"] = fc.sweep(tr.phases, test=test, gains=rx_gains)
            timings["sweep"] += time.perf_counter() - t4
    if sweep:
        plot_foundry_sweep(res["sweep"], out / "foundry_sweep.png")
        res.setdefault("files", {})["sweep_png"] = "foundry_sweep.png"
    timings["total"] = time.perf_counter() - t0
    res["timings_s"] = timings
    return res


def layout_heater_offset(out_dir: str | Path, pdk: Any) -> float:
    """The heater offset ``DIR/layout.json`` programs away (``pdk.convention.heater_offset_rad``, with which
    ``heaters.csv`` was written) when the chip was laid out for the PDK whose models simulate it; else 0."""
    from gf_prune.foundry_models import PDK_ALIASES

    path = Path(out_dir) / "layout.json"
    if not isinstance(pdk, str) or not path.is_file():
        return 0.0
    rec = json.loads(path.read_text()).get("pdk") or {}
    same = PDK_ALIASES.get(pdk, pdk) in {PDK_ALIASES.get(str(rec.get("pdk")), rec.get("pdk")), rec.get("name")}
    return float((rec.get("convention") or {}).get("heater_offset_rad", 0.0)) if same else 0.0


def foundry_pdk(cfg: Any) -> str:
    """The PDK whose models simulate the chip: ``verify.foundry_pdk``, else ``layout.pdk``, else generic."""
    return cfg.verify.foundry_pdk or getattr(cfg.layout, "pdk", None) or "generic"


def foundry_stage(
    out_dir: str | Path, cfg: Any, data: Any, progress: Callable[[str], None] | None = None
) -> dict[str, Any] | None:
    """The verify stage's ``foundry`` section per ``verify.foundry`` (``auto``/``true``/``false``).

    ``auto`` runs :func:`foundry_dir` when the PDK (:func:`foundry_pdk`) has SAX models and otherwise
    only records why it was skipped (gdsfactory's generic PDK has none: the cost is one look-up);
    ``true`` without models is an error naming the key; ``false`` returns None.
    """
    mode = cfg.verify.foundry
    if mode is False:
        return None
    t0 = time.perf_counter()
    pdk = foundry_pdk(cfg)
    name, models = load_pdk_models(pdk)
    if not models or data is None:
        why = f"the PDK {name!r} has no SAX models" if not models else "no data set to measure accuracy on"
        if mode == "auto":
            seconds = time.perf_counter() - t0
            return {"skipped": f"{why} (verify.foundry: auto)", "pdk": name, "timings_s": {"total": seconds}}
        raise ValueError(f"verify.foundry is true but {why}; set verify.foundry_pdk (e.g. 'cspdk')")
    v = cfg.verify
    return foundry_dir(
        out_dir,
        data,
        pdk,
        tune_epochs=v.foundry_tune_epochs,
        fit_epochs=v.foundry_fit_epochs,
        lr=v.foundry_lr,
        sweep=v.foundry_sweep,
        p_pi_mw=cfg.p_pi_mw,
        wl=v.wavelength_um,
        progress=progress,
    )
