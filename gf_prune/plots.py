"""Figures for the designer-facing report (matplotlib, Agg backend, PNG files).

- :func:`plot_mesh_maps` — every MZI of every mesh (V, Σ, U of each layer) at its
  (column, row): live, θ pruned, φ pruned, or removed (θ and φ both pruned), with
  the static heater power of each MZI in a second panel.
- :func:`plot_rounds` — accuracy, phase sparsity (U/V and all) and static power per
  pruning round, from the per-round records (missing keys are tolerated).
- :func:`plot_power_bars` — static power per layer and mesh, θ and φ apart,
  pruned (and dense, when given).
- :func:`plot_pad_map` — the pads of a wired chip and the live heaters they drive.

All writers save through :func:`gf_prune.io.atomic_output` and return the path.
Mode 0 is drawn at the top, light travels left to right (V → Σ → U).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import PatchCollection
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.patches import Patch, Rectangle

from gf_prune.io import atomic_output
from gf_prune.phases import NetworkPhases
from gf_prune.physics import P_PI_MW_DEFAULT, phase_power_mw
from gf_prune.schema import RECORD_KEYS

# MZI status codes and their colours (colour-blind-safe, Okabe–Ito).
LIVE, THETA_PRUNED, PHI_PRUNED, REMOVED = 0, 1, 2, 3
STATUS_LABELS = ("live (θ and φ)", "θ pruned (φ live)", "φ pruned (θ live)", "removed (θ and φ pruned)")
STATUS_COLOURS = ("#0072B2", "#E69F00", "#56B4E9", "#D9D9D9")
POWER_CMAP = "magma_r"
DPI = 110


@dataclass
class MeshMap:
    """Where the MZIs of one mesh sit and what they cost: the data behind one map."""

    layer: int
    mesh: str  # "V", "S" or "U"
    n_modes: int
    cols: np.ndarray
    rows: np.ndarray
    span: int  # modes one element covers: 2 for an MZI, 1 for a Σ attenuator
    theta_live: np.ndarray
    phi_live: np.ndarray
    power_theta_mw: np.ndarray
    power_phi_mw: np.ndarray

    @property
    def status(self) -> np.ndarray:
        """LIVE / THETA_PRUNED / PHI_PRUNED / REMOVED per element."""
        s = np.full(self.cols.shape, LIVE, dtype=np.int64)
        s[~self.theta_live & self.phi_live] = THETA_PRUNED
        s[self.theta_live & ~self.phi_live] = PHI_PRUNED
        s[~self.theta_live & ~self.phi_live] = REMOVED
        return s

    @property
    def power_mw(self) -> np.ndarray:
        return self.power_theta_mw + self.power_phi_mw

    @property
    def n_cols(self) -> int:
        return int(self.cols.max()) + 1 if self.cols.size else 1

    @property
    def title(self) -> str:
        name = "Σ" if self.mesh == "S" else self.mesh
        return f"layer {self.layer} · {name}"


def mesh_maps(net: NetworkPhases, p_pi_mw: float = P_PI_MW_DEFAULT) -> list[MeshMap]:
    """One :class:`MeshMap` per mesh, in light order (layer 0 V, Σ, U, layer 1 V, …)."""
    out = []
    for li, layer in enumerate(net.layers):
        for name in ("V", "S", "U"):
            m = getattr(layer, name)
            tl = np.asarray(m.theta_live, dtype=bool)
            pl = np.asarray(m.phi_live, dtype=bool)
            if name == "S":
                k = m.k
                cols, rows, span, n_modes = np.zeros(k, dtype=np.int64), np.arange(k), 1, max(layer.n_in, layer.n_out)
            else:
                topo = m.topo
                cols, rows, span, n_modes = np.asarray(topo.cols), np.asarray(topo.rows), 2, m.n
            out.append(
                MeshMap(
                    li,
                    name,
                    n_modes,
                    cols,
                    rows,
                    span,
                    tl,
                    pl,
                    phase_power_mw(m.theta, tl, p_pi_mw),
                    phase_power_mw(m.phi, pl, p_pi_mw),
                )
            )
    return out


def _draw_map(
    ax: Any, mm: MeshMap, values: np.ndarray, cmap: Any, norm: Any, frame: tuple[int, int] | None = None
) -> Any:
    """Rectangles at (column, row) coloured by ``values``; returns the collection.

    ``frame`` = (columns, modes) of the axes, so that meshes of one figure share a scale.
    """
    n_cols, n_modes = frame if frame is not None else (mm.n_cols, mm.n_modes)
    h = mm.span - 0.3
    rects = [Rectangle((c - 0.4, r - 0.5 + 0.15), 0.8, h) for c, r in zip(mm.cols, mm.rows, strict=True)]
    coll = PatchCollection(rects, cmap=cmap, norm=norm, edgecolor="#333333", linewidth=0.4)
    coll.set_array(np.asarray(values, dtype=np.float64))
    ax.add_collection(coll)
    ax.hlines(range(mm.n_modes), -0.6, mm.n_cols - 0.4, color="#BBBBBB", lw=0.4, zorder=0)  # the waveguides
    ax.set_xlim(-0.7, max(n_cols, mm.n_cols) - 0.3)
    ax.set_ylim(max(n_modes, mm.n_modes) - 0.5, -0.5)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks(range(mm.n_cols) if mm.n_cols <= 16 else range(0, mm.n_cols, max(1, mm.n_cols // 8)))
    ax.set_yticks(range(mm.n_modes) if mm.n_modes <= 16 else range(0, mm.n_modes, max(1, mm.n_modes // 8)))
    ax.tick_params(labelsize=6, length=2)
    return coll


def plot_mesh_maps(net: NetworkPhases, path: str | Path, p_pi_mw: float = P_PI_MW_DEFAULT) -> Path:
    """Map of every MZI per mesh: status (top row of each layer) and heater power (bottom row).

    Args:
        net: the (pruned) network's phases and masks.
        path: PNG file to write.
        p_pi_mw: P_π of a heater (mW) for the power panels.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    maps = mesh_maps(net, p_pi_mw)
    n_layers = max(1, len(net.layers))
    frame_cols = [max((mm.n_cols for mm in maps[j::3]), default=1) for j in range(3)]
    widths = [c + 1.5 for c in frame_cols]
    max_modes = max((mm.n_modes for mm in maps), default=4)
    col_w = sum(widths)
    fig_w = float(np.clip(col_w * 0.32 + 2.0, 8.0, 18.0))
    row_h = float(np.clip(max_modes * 0.2 + 0.8, 1.8, 5.0))
    fig, axes = plt.subplots(
        2 * n_layers,
        3,
        figsize=(fig_w, 2 * n_layers * row_h + 1.2),
        gridspec_kw={"width_ratios": widths},
        squeeze=False,
    )
    status_cmap = ListedColormap(STATUS_COLOURS)
    status_norm = Normalize(-0.5, 3.5)
    p_max = max((float(mm.power_mw.max()) for mm in maps if mm.power_mw.size), default=0.0)
    power_norm = Normalize(0.0, p_max if p_max > 0 else 4 * p_pi_mw)
    power_coll = None
    for i, mm in enumerate(maps):
        li, j = divmod(i, 3)
        ax_s, ax_p = axes[2 * li, j], axes[2 * li + 1, j]
        frame = (frame_cols[j], max_modes)
        _draw_map(ax_s, mm, mm.status, status_cmap, status_norm, frame)
        n = mm.cols.size
        removed = int((mm.status == REMOVED).sum())
        ax_s.set_title(f"{mm.title}: {n - removed}/{n} kept, {removed} removed", fontsize=8)
        power_coll = _draw_map(ax_p, mm, mm.power_mw, POWER_CMAP, power_norm, frame)
        ax_p.set_title(f"{mm.title}: {mm.power_mw.sum():.0f} mW", fontsize=8)
        if j == 0:
            ax_s.set_ylabel("mode", fontsize=7)
            ax_p.set_ylabel("mode", fontsize=7)
        ax_p.set_xlabel("column", fontsize=7)
    handles = [
        Patch(facecolor=c, edgecolor="#333333", label=lab) for c, lab in zip(STATUS_COLOURS, STATUS_LABELS, strict=True)
    ]
    fig.legend(handles=handles, loc="upper center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 0.93, 0.97))
    if power_coll is not None:
        cax = fig.add_axes((0.945, 0.1, 0.012, 0.8))
        cb = fig.colorbar(power_coll, cax=cax)
        cb.set_label(f"heater power per MZI, θ + φ (mW, P_π = {p_pi_mw:g} mW)", fontsize=7)
        cb.ax.tick_params(labelsize=6)
    return _save(fig, path)


# ---------------------------------------------------------------------- per-round records
ACCURACY_KEYS = (RECORD_KEYS["accuracy"],)
TRAIN_ACCURACY_KEYS = (RECORD_KEYS["train_accuracy"],)
SPARSITY_UV_KEYS = (RECORD_KEYS["sparsity_uv"],)
SPARSITY_ALL_KEYS = (RECORD_KEYS["sparsity_all"],)
POWER_KEYS = (RECORD_KEYS["power"],)
REMOVABLE_KEYS = (RECORD_KEYS["removable"],)
ROUND_KEYS = (RECORD_KEYS["round"],)


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}`` (lists and scalars are leaves)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def pick(record: Mapping[str, Any], keys: Sequence[str]) -> float | None:
    """First of ``keys`` (dotted for nested) that holds a finite number, else None."""
    return first_number(flatten(record), keys)


def first_number(flat: Mapping[str, Any], keys: Sequence[str]) -> float | None:
    """First of ``keys`` of an already flattened dict that holds a finite number (bools skipped), else None."""
    for k in keys:
        v = flat.get(k)
        if isinstance(v, bool) or v is None:
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            return f
    return None


def _series(records: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> np.ndarray:
    return np.array([np.nan if (v := pick(r, keys)) is None else v for r in records], dtype=np.float64)


def _as_percent(y: np.ndarray) -> np.ndarray:
    """Fractions in [0, 1] → %; values already in % are kept."""
    finite = y[np.isfinite(y)]
    return y * 100.0 if finite.size and np.nanmax(np.abs(finite)) <= 1.0 + 1e-9 else y


def _line(ax: Any, x: np.ndarray, y: np.ndarray, fmt: str, **kw: Any) -> None:
    """Plot the finite points only, joined across rounds that lack the value."""
    ok = np.isfinite(y)
    ax.plot(x[ok], y[ok], fmt, **kw)


def _no_data(ax: Any, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} in the records", ha="center", va="center", transform=ax.transAxes, color="#888888")


def plot_rounds(records: Sequence[Mapping[str, Any]], path: str | Path, dense_accuracy: float | None = None) -> Path:
    """Accuracy, phase sparsity (U/V and all) and static power per pruning round.

    Args:
        records: one dict per round (keys such as ``round``, ``accuracy``,
            ``sparsity_uv``, ``sparsity_all``, ``power_mw``, nested or dotted;
            accuracies/sparsities as fractions or %). Missing keys leave a gap.
        path: PNG file to write.
        dense_accuracy: drawn as a reference line (fraction or %).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    records = [r for r in records if isinstance(r, Mapping)]
    x = np.array(
        [pick(r, ROUND_KEYS) if pick(r, ROUND_KEYS) is not None else i for i, r in enumerate(records)], dtype=float
    )
    fig, axes = plt.subplots(3, 1, figsize=(7.5, 7.5), sharex=True)
    ax_a, ax_s, ax_p = axes

    acc = _as_percent(_series(records, ACCURACY_KEYS))
    train = _as_percent(_series(records, TRAIN_ACCURACY_KEYS))
    if np.isfinite(acc).any():
        _line(ax_a, x, acc, "o-", color="#0072B2", label="test accuracy")
        if np.isfinite(train).any():
            _line(ax_a, x, train, "s--", color="#009E73", ms=3, label="train accuracy")
        if dense_accuracy is not None and math.isfinite(dense_accuracy):
            d = dense_accuracy * 100 if dense_accuracy <= 1 else dense_accuracy
            ax_a.axhline(d, color="#555555", ls=":", label=f"dense {d:.1f} %")
            ax_a.axhline(d - 1, color="#E69F00", ls=":", lw=0.8, label="dense − 1 point")
            ax_a.axhline(d - 5, color="#D55E00", ls=":", lw=0.8, label="dense − 5 points")
        ax_a.legend(fontsize=7, loc="lower left")
    else:
        _no_data(ax_a, "accuracy")
    ax_a.set_ylabel("accuracy (%)")

    s_uv = _as_percent(_series(records, SPARSITY_UV_KEYS))
    s_all = _as_percent(_series(records, SPARSITY_ALL_KEYS))
    if np.isfinite(s_uv).any() or np.isfinite(s_all).any():
        if np.isfinite(s_uv).any():
            _line(ax_s, x, s_uv, "o-", color="#D55E00", label="U/V phases pruned")
        if np.isfinite(s_all).any():
            _line(ax_s, x, s_all, "^--", color="#CC79A7", label="all phases pruned (incl. Σ)")
        ax_s.set_ylim(0, 100)
        ax_s.legend(fontsize=7, loc="upper left")
    else:
        _no_data(ax_s, "sparsity")
    ax_s.set_ylabel("sparsity (%)")

    power = _series(records, POWER_KEYS)
    removable = _series(records, REMOVABLE_KEYS)
    if np.isfinite(power).any():
        _line(ax_p, x, power, "o-", color="#000000", label="static heater power")
        ax_p.set_ylim(bottom=0)
        ax_p.legend(fontsize=7, loc="upper right")
    else:
        _no_data(ax_p, "power")
    ax_p.set_ylabel("static power (mW)")
    if np.isfinite(removable).any():
        ax_r = ax_p.twinx()
        _line(ax_r, x, removable, "d:", color="#009E73", ms=4)
        ax_r.set_ylabel("removable MZIs", color="#009E73")
        ax_r.tick_params(axis="y", colors="#009E73")
    ax_p.set_xlabel("pruning round")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


# ---------------------------------------------------------------------- power bars
def power_breakdown(net: NetworkPhases, p_pi_mw: float = P_PI_MW_DEFAULT) -> list[dict[str, Any]]:
    """Static power per (layer, mesh): ``{"layer", "mesh", "theta_mw", "phi_mw", "total_mw"}``."""
    rows = []
    for mm in mesh_maps(net, p_pi_mw):
        t, p = float(mm.power_theta_mw.sum()), float(mm.power_phi_mw.sum())
        rows.append({"layer": mm.layer, "mesh": mm.mesh, "theta_mw": t, "phi_mw": p, "total_mw": t + p})
    return rows


def plot_power_bars(
    net: NetworkPhases,
    path: str | Path,
    p_pi_mw: float = P_PI_MW_DEFAULT,
    dense: NetworkPhases | None = None,
) -> Path:
    """Bar chart of static power per layer and mesh, θ and φ stacked; dense beside pruned if given."""
    groups = [("pruned", power_breakdown(net, p_pi_mw))]
    if dense is not None:
        groups.insert(0, ("dense", power_breakdown(dense, p_pi_mw)))
    labels = [f"L{r['layer']} {'Σ' if r['mesh'] == 'S' else r['mesh']}" for r in groups[-1][1]]
    x = np.arange(len(labels))
    w = 0.8 / len(groups)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(labels) + 2), 3.6))
    hatches = {"dense": "//", "pruned": ""}
    for gi, (name, rows) in enumerate(groups):
        if len(rows) != len(labels):
            continue
        xs = x + (gi - (len(groups) - 1) / 2) * w
        th = np.array([r["theta_mw"] for r in rows])
        ph = np.array([r["phi_mw"] for r in rows])
        alpha = 0.45 if name == "dense" else 1.0
        ax.bar(xs, th, w, color="#0072B2", alpha=alpha, hatch=hatches[name], label=f"θ ({name})")
        ax.bar(xs, ph, w, bottom=th, color="#E69F00", alpha=alpha, hatch=hatches[name], label=f"φ ({name})")
    ax.set_xticks(x, labels)
    ax.set_ylabel("static power (mW)")
    ax.set_title(f"Heater power per layer and mesh (P_π = {p_pi_mw:g} mW)", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Any, path: str | Path) -> Path:
    target = Path(path)
    try:
        with atomic_output(target) as tmp:
            fig.savefig(tmp, dpi=DPI, format="png")
    finally:
        plt.close(fig)
    return target


def plot_pad_map(pads_csv: str | Path, heaters_csv: str | Path, path: str | Path) -> Path:
    """Pad map of a wired chip: every pad at its place (signal: by heater power; ground: black), every
    live heater, and a thin line from each signal pad to its heater (``pads.csv``, ``heaters.csv``)."""
    import csv

    with Path(pads_csv).open() as f:
        pads = list(csv.DictReader(f))
    with Path(heaters_csv).open() as f:
        heaters = {
            (r["layer"], r["mesh"], r["column"], r["row"], r["kind"]): r for r in csv.DictReader(f) if r.get("x_um")
        }
    fig, ax = plt.subplots(figsize=(10, 6))
    hx = [float(r["x_um"]) / 1e3 for r in heaters.values()]
    hy = [float(r["y_um"]) / 1e3 for r in heaters.values()]
    ax.scatter(hx, hy, s=4, c="#999999", label="live heater", zorder=1)
    signal = [p for p in pads if p["kind"] != "ground"]
    ground = [p for p in pads if p["kind"] == "ground"]
    for p in signal:
        h = heaters.get((p["layer"], p["mesh"], p["column"], p["row"], p["kind"]))
        if h is not None:
            xs = (float(p["x_um"]) / 1e3, float(h["x_um"]) / 1e3)
            ys = (float(p["y_um"]) / 1e3, float(h["y_um"]) / 1e3)
            ax.plot(xs, ys, lw=0.3, color="#56B4E9", alpha=0.6, zorder=0)
    power = np.array([float(p["power_mw"] or 0.0) for p in signal])
    sc = ax.scatter(
        [float(p["x_um"]) / 1e3 for p in signal],
        [float(p["y_um"]) / 1e3 for p in signal],
        s=10,
        marker="s",
        c=power,
        cmap="viridis",
        label="signal pad",
        zorder=2,
    )
    ax.scatter(
        [float(p["x_um"]) / 1e3 for p in ground],
        [float(p["y_um"]) / 1e3 for p in ground],
        s=10,
        marker="s",
        c="black",
        label="ground pad",
        zorder=2,
    )
    fig.colorbar(sc, ax=ax, label="heater power (mW)")
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    ax.set_aspect("equal")
    ax.set_title(f"{len(signal)} signal pads, {len(ground)} ground pads")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    with atomic_output(Path(path)) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return Path(path)
