"""Heaters of a model: their flat index, their positions (grid or GDS) and thermal crosstalk.

The flat heater order (:func:`heater_keys`) is the one every Monte-Carlo draw uses: per
layer V, Σ, U; per block all θ then all φ. Positions come from the GDS heater labels
(:func:`heater_positions_from_gds`, names parsed by :mod:`gf_prune.naming`) or, as a
fallback, from the mesh grid with the layout's own slot width
(:func:`grid_heater_positions`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gf_prune.mesh import MeshTopology
from gf_prune.naming import HEATER_KINDS, LABEL_PATTERN, MESHES, parse_heater_label

__all__ = [
    "HeaterKey",
    "crosstalk_coefficient",
    "crosstalk_matrix",
    "crosstalk_pairs",
    "crosstalk_sparse",
    "fill_missing_positions",
    "grid_heater_positions",
    "heater_keys",
    "heater_positions_from_gds",
    "layout_column_pitch_um",
]

KINDS = HEATER_KINDS
HeaterKey = tuple[int, str, int, int, str]  # (layer, mesh U|S|V, column, row, kind theta|phi)


@cache
def layout_column_pitch_um(pitch_um: float = 100.0) -> float:
    """Width (µm) of one mesh column slot as the layout builds it for mode pitch ``pitch_um``
    (:func:`gf_prune.components.mzi.slot_geometry` with the default cells)."""
    from gf_prune.components.mzi import slot_geometry
    from gf_prune.netlist import activate_pdk

    activate_pdk()
    return float(slot_geometry(pitch=pitch_um).width)


def crosstalk_coefficient(
    distance_um: Any,
    kappa_ref: float = 0.01,
    ref_distance_um: float = 50.0,
    decay_um: float = 30.0,
    cutoff_um: float = 300.0,
) -> np.ndarray:
    """Fraction of heater j's phase that appears at a heater d µm away (numpy).

    κ(d) = κ_ref · exp(−(d − d_ref)/L) for 0 < d ≤ cutoff, capped at κ_ref·e (d < d_ref − L),
    0 beyond the cutoff and at d = 0 (self).

    Args:
        distance_um: centre-to-centre distance(s) between heaters (µm).
        kappa_ref: coupling at ``ref_distance_um`` (dimensionless; 0.01 = pytorch-onn's default).
        ref_distance_um: distance at which the coupling is ``kappa_ref`` (µm).
        decay_um: exponential decay length L of the temperature field (µm).
        cutoff_um: no coupling beyond this distance (µm).
    """
    if decay_um <= 0 or kappa_ref < 0 or cutoff_um < 0:
        raise ValueError("crosstalk needs decay_um > 0, kappa_ref ≥ 0 and cutoff_um ≥ 0")
    d = np.asarray(distance_um, dtype=np.float64)
    k = kappa_ref * np.exp(-np.maximum(d - ref_distance_um, -decay_um) / decay_um)
    return np.where((d > 0) & (d <= cutoff_um) & np.isfinite(d), k, 0.0)


def crosstalk_pairs(positions_um: Any, cutoff_um: float = 300.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every ordered pair (i, j), i ≠ j, of heaters at most ``cutoff_um`` apart, and their distance.

    A k-d tree (``scipy.spatial.cKDTree.query_pairs``) finds the neighbours, so the cost grows with
    the number of pairs inside the cutoff (∝ H for a layout of fixed density), never with H².
    Sites with a NaN position are in no pair. Returns (i, j, d_um), each of shape (2·pairs,).
    """
    from scipy.spatial import cKDTree

    pos = np.asarray(positions_um, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 2:
        raise ValueError(f"positions must be (H, 2), got {pos.shape}")
    ok = np.flatnonzero(np.isfinite(pos).all(1))
    empty = np.zeros(0, np.int64)
    if ok.size < 2 or not cutoff_um >= 0:
        return empty, empty, np.zeros(0)
    pairs = cKDTree(pos[ok]).query_pairs(r=float(cutoff_um), output_type="ndarray")
    a, b = ok[pairs[:, 0]], ok[pairs[:, 1]]
    d = np.sqrt(((pos[a] - pos[b]) ** 2).sum(-1))
    return np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([d, d])


def crosstalk_sparse(
    positions_um: Any,
    live: Any,
    kappa_ref: float = 0.01,
    ref_distance_um: float = 50.0,
    decay_um: float = 30.0,
    cutoff_um: float = 300.0,
    receive_at_pruned: bool = False,
) -> Any:
    """Heater-to-heater thermal crosstalk K (H × H) as a ``scipy.sparse.csr_matrix``: Δφ = K · φ_programmed.

    Same matrix as :func:`crosstalk_matrix` (which is this one, densified), built from the
    neighbour lists of :func:`crosstalk_pairs`: memory and time grow with the pairs inside the
    cutoff, linearly in the number of heaters H for a layout of fixed density.
    """
    from scipy.sparse import csr_matrix

    pos = np.asarray(positions_um, dtype=np.float64)
    live = np.asarray(live, dtype=bool)
    if pos.ndim != 2 or pos.shape[1] != 2 or live.shape != (pos.shape[0],):
        raise ValueError(f"positions must be (H, 2) and live (H,), got {pos.shape} and {live.shape}")
    h = pos.shape[0]
    i, j, d = crosstalk_pairs(pos, cutoff_um)
    k = crosstalk_coefficient(d, kappa_ref, ref_distance_um, decay_um, cutoff_um)
    keep = live[j] & (k != 0)
    if not receive_at_pruned:
        keep &= live[i]
    return csr_matrix((k[keep], (i[keep], j[keep])), shape=(h, h))


def crosstalk_matrix(
    positions_um: Any,
    live: Any,
    kappa_ref: float = 0.01,
    ref_distance_um: float = 50.0,
    decay_um: float = 30.0,
    cutoff_um: float = 300.0,
    receive_at_pruned: bool = False,
) -> np.ndarray:
    """Heater-to-heater thermal crosstalk matrix K (H × H), dense: Δφ = K · φ_programmed.

    K is symmetric with a zero diagonal; a pruned heater (``live`` False) is not built, so its
    column is zero (it does not heat). With ``receive_at_pruned=False`` (the heater-to-heater
    matrix) its row is zero too; with True the waveguide under a pruned site still picks up the
    neighbours' heat (row kept; K is then no longer symmetric). Sites with a NaN position couple
    to nothing. Dense H × H output, for inspection of small cases: the Monte-Carlo uses
    :func:`crosstalk_sparse` (the same entries, built from neighbour lists).

    Args:
        positions_um: (H, 2) heater centres (µm).
        live: (H,) bool, heater built and driven.
        kappa_ref, ref_distance_um, decay_um, cutoff_um: see :func:`crosstalk_coefficient`.
    """
    return crosstalk_sparse(
        positions_um, live, kappa_ref, ref_distance_um, decay_um, cutoff_um, receive_at_pruned
    ).toarray()


@dataclass(frozen=True)
class _Block:
    layer: int
    mesh: str  # V | S | U
    size: int  # MZIs (attenuators for S)
    h_off: int  # θ at [h_off, h_off+size), φ at [h_off+size, h_off+2·size)
    m_off: int
    topo: MeshTopology | None  # None for S


def _blocks(model: torch.nn.Module) -> list[_Block]:
    out, h, m = [], 0, 0
    for li, layer in enumerate(model.layers):
        for mesh in MESHES:
            topo = None if mesh == "S" else getattr(layer, f"topo_{mesh}")
            size = layer.k if mesh == "S" else topo.n_mzis
            out.append(_Block(li, mesh, size, h, m, topo))
            h += 2 * size
            m += size
    return out


def heater_keys(model: torch.nn.Module) -> list[HeaterKey]:
    """(layer, mesh, column, row, kind) of every phase shifter, in the flat order used here."""
    keys: list[HeaterKey] = []
    for b in _blocks(model):
        for kind in KINDS:
            for k in range(b.size):
                col, row = (0, k) if b.topo is None else (int(b.topo.cols[k]), int(b.topo.rows[k]))
                keys.append((b.layer, b.mesh, col, row, kind))
    return keys


def _flat_phases(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked phases (H,) (differentiable) and live mask (H,) bool in heater_keys order."""
    vals, live = [], []
    for layer in model.layers:
        for mesh in MESHES:
            for kind in KINDS:
                vals.append(layer.phase(mesh, kind))
                live.append(getattr(layer, f"{mesh}_{kind}_mask"))
    return torch.cat(vals), torch.cat(live).to(torch.bool)


def grid_heater_positions(
    model: torch.nn.Module, column_pitch_um: float | None = None, row_pitch_um: float = 100.0
) -> np.ndarray:
    """Fallback heater centres (H, 2) in µm from the mesh grid (an ASSUMPTION, not the layout).

    Columns run left to right through each layer (V columns, the Σ column, U columns, one empty
    column between layers), ``column_pitch_um`` apart; mode m sits at y = −m·``row_pitch_um``.
    An MZI on modes (r, r+1) in a column starting at x0 has its φ heater on mode r at x0 and its
    θ heater on the top internal arm at x0 + pitch/2, both at y = −r·row_pitch. ``column_pitch_um``
    None asks the layout for its slot width at this row pitch (:func:`layout_column_pitch_um`);
    the GDS itself is better still (:func:`heater_positions_from_gds`).
    """
    if column_pitch_um is None:
        column_pitch_um = layout_column_pitch_um(row_pitch_um)
    pos = []
    x_layer = 0.0
    blocks = _blocks(model)
    for li in range(len(model.layers)):
        lb = [b for b in blocks if b.layer == li]
        col0 = {}
        c = 0
        for b in lb:
            col0[b.mesh] = c
            c += 1 if b.topo is None else max(b.topo.n_cols, 1)
        for b in lb:
            for kind in KINDS:
                for k in range(b.size):
                    col, row = (0, k) if b.topo is None else (int(b.topo.cols[k]), int(b.topo.rows[k]))
                    x0 = x_layer + (col0[b.mesh] + col) * column_pitch_um
                    if kind == "phi":
                        pos.append((x0, -row * row_pitch_um))
                    else:
                        pos.append((x0 + 0.5 * column_pitch_um, -row * row_pitch_um))
        x_layer += (c + 1) * column_pitch_um
    return np.asarray(pos, dtype=np.float64)


def heater_positions_from_gds(
    gds_path: str | Path, model: torch.nn.Module, label_pattern: str = LABEL_PATTERN
) -> np.ndarray:
    """Heater centres (H, 2) in µm read from the text labels of a GDS (klayout.db).

    Every text whose string matches ``label_pattern`` (named groups ``instance`` — the
    :func:`gf_prune.phases.instance_name` of the MZI — and ``kind``, theta|phi; e.g.
    ``mzi_V0_c3_r5_theta``) gives the position of that heater, in top-cell coordinates.
    Sites without a label (pruned heaters are not built) get NaN and couple to nothing.
    Raises FileNotFoundError / ValueError naming the file if it is missing or has no heater label.
    """
    import klayout.db as kdb

    path = Path(gds_path)
    if not path.is_file():
        raise FileNotFoundError(f"heater GDS not found: {path}")
    ly = kdb.Layout()
    ly.read(str(path))
    top = ly.top_cell()
    pat = re.compile(label_pattern)
    found: dict[HeaterKey, tuple[float, float]] = {}
    for lidx in ly.layer_indexes():
        it = top.begin_shapes_rec(lidx)
        while not it.at_end():
            shape = it.shape()
            hit = parse_heater_label(shape.text_string, pat) if shape.is_text() else None
            if hit is not None:
                (slot, kind), tx = hit, shape.text.transformed(it.trans())
                found[(slot.layer, slot.mesh, slot.column, slot.row, kind)] = (tx.x * ly.dbu, tx.y * ly.dbu)
            it.next()
    if not found:
        raise ValueError(f"{path}: no heater labels matching {label_pattern!r}")
    return np.array([found.get(k, (np.nan, np.nan)) for k in heater_keys(model)], dtype=np.float64)


def fill_missing_positions(
    positions_um: np.ndarray, grid_um: np.ndarray, groups: Sequence[tuple[Any, ...]] | None = None
) -> tuple[np.ndarray, int]:
    """Fill NaN sites (heaters not in the GDS, e.g. pruned ones) by affine fits grid → GDS.

    A layout need not be one affine image of the grid (layers may be stacked, meshes spaced), but
    each block of it is. ``groups`` gives each site a key tuple such as (layer, mesh, kind); an
    unlabelled site is placed by the fit (x, y)_gds ≈ A·(x_grid, y_grid, 1) over the labelled sites
    of the longest key prefix that has ≥ 3 of them (then shorter prefixes, then all sites).
    Returns (positions, number filled).
    """
    pos = np.array(positions_um, dtype=np.float64)
    grid_um = np.asarray(grid_um, dtype=np.float64)
    have = np.isfinite(pos).all(1)
    n_fill = int((~have).sum())
    if n_fill == 0:
        return pos, 0
    if have.sum() < 3:
        raise ValueError("need ≥ 3 labelled heaters to place the unlabelled ones")
    a = np.c_[grid_um, np.ones(len(grid_um))]
    keys = [tuple(g) for g in groups] if groups is not None else [()] * len(pos)
    fits: dict[tuple[Any, ...], np.ndarray] = {}
    for i in np.flatnonzero(~have):
        for depth in range(len(keys[i]), -1, -1):
            prefix = keys[i][:depth]
            if prefix not in fits:
                sel = np.array([k[:depth] == prefix for k in keys]) & have
                if sel.sum() < 3:
                    continue
                fits[prefix] = np.linalg.lstsq(a[sel], pos[sel], rcond=None)[0]
            pos[i] = a[i] @ fits[prefix]
            break
    return pos, n_fill
