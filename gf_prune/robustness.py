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

Entry point of the product: :func:`run_robustness`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gf_prune.io import atomic_write_text
from gf_prune.mesh import MeshTopology, column_matrices_torch, product_tree
from gf_prune.naming import HEATER_KINDS, LABEL_PATTERN, MESHES, parse_heater_label
from gf_prune.physics import INV_SQRT2, TWO_PI, attenuator_element, check_zero_state, coupler_matrix, mzi_elements

KINDS = HEATER_KINDS
HeaterKey = tuple[int, str, int, int, str]  # (layer, mesh U|S|V, column, row, kind theta|phi)

# ----------------------------------------------------------------------------- physics (pure)


def coupler_matrix_split(r: float) -> np.ndarray:
    """General lossless 2×2 coupler: :func:`gf_prune.physics.coupler_matrix` (kept for its name)."""
    return coupler_matrix(r)


def mzi_elements_split(
    theta: Any, phi: Any, r_in: Any, r_out: Any, zero_state: str = "bar"
) -> tuple[Any, Any, Any, Any]:
    """MZI elements with coupler bar coefficients ``r_in``/``r_out``: :func:`gf_prune.physics.mzi_elements`."""
    return mzi_elements(theta, phi, check_zero_state(zero_state), r_in=r_in, r_out=r_out)


def quantize_phase(phase: Any, bits: int) -> Any:
    """Phase rounded to the nearest of 2^bits uniform levels on [0, 2π), result in [0, 2π) (rad).

    >>> float(quantize_phase(torch.tensor(3.0), 2))  # levels 0, π/2, π, 3π/2
    3.141592653589793
    """
    if int(bits) < 1:
        raise ValueError(f"bits must be ≥ 1, got {bits}")
    step = TWO_PI / (2 ** int(bits))
    return (torch.round((phase % TWO_PI) / step) * step) % TWO_PI


def loss_amplitude(loss_db: Any) -> Any:
    """Field amplitude factor of an insertion loss in dB: 10^(−IL/20) (power 10^(−IL/10))."""
    return 10.0 ** (-loss_db / 20.0)


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


def crosstalk_matrix(
    positions_um: Any,
    live: Any,
    kappa_ref: float = 0.01,
    ref_distance_um: float = 50.0,
    decay_um: float = 30.0,
    cutoff_um: float = 300.0,
    receive_at_pruned: bool = False,
) -> np.ndarray:
    """Heater-to-heater thermal crosstalk matrix K (H × H): Δφ = K · φ_programmed.

    K is symmetric with a zero diagonal; a pruned heater (``live`` False) is not built, so its
    column is zero (it does not heat). With ``receive_at_pruned=False`` (the heater-to-heater
    matrix) its row is zero too; with True the waveguide under a pruned site still picks up the
    neighbours' heat (row kept; K is then no longer symmetric). Sites with a NaN position couple
    to nothing.

    Args:
        positions_um: (H, 2) heater centres (µm).
        live: (H,) bool, heater built and driven.
        kappa_ref, ref_distance_um, decay_um, cutoff_um: see :func:`crosstalk_coefficient`.
    """
    pos = np.asarray(positions_um, dtype=np.float64)
    live = np.asarray(live, dtype=bool)
    if pos.ndim != 2 or pos.shape[1] != 2 or live.shape != (pos.shape[0],):
        raise ValueError(f"positions must be (H, 2) and live (H,), got {pos.shape} and {live.shape}")
    d = np.sqrt(((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1))
    k = crosstalk_coefficient(d, kappa_ref, ref_distance_um, decay_um, cutoff_um)
    k = k * live[None, :]
    if not receive_at_pruned:
        k = k * live[:, None]
    np.fill_diagonal(k, 0.0)
    return k


# ----------------------------------------------------------------------------- network index


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
    model: torch.nn.Module, column_pitch_um: float = 395.0, row_pitch_um: float = 100.0
) -> np.ndarray:
    """Fallback heater centres (H, 2) in µm from the mesh grid (an ASSUMPTION, not the layout).

    Columns run left to right through each layer (V columns, the Σ column, U columns, one empty
    column between layers), ``column_pitch_um`` apart; mode m sits at y = −m·``row_pitch_um``.
    An MZI on modes (r, r+1) in a column starting at x0 has its φ heater on mode r at x0 and its
    θ heater on the top internal arm at x0 + pitch/2, both at y = −r·row_pitch. The defaults are the
    pitches measured on a GDS of :func:`gf_prune.layout.compile_network` (``pitch=100``) when this
    was written; pass the real ones, or read the GDS (:func:`heater_positions_from_gds`).
    """
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


# ----------------------------------------------------------------------------- configuration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Imperfections(_Strict):
    """One imperfection setting (all off by default). Units in the field descriptions."""

    sigma_ps: float = Field(0.0, ge=0, description="phase error std in units of π rad (live phases)")
    bits: int | None = Field(None, ge=1, le=32, description="phase DAC resolution (bits on [0, 2π)); None: exact")
    sigma_bs: float = Field(0.0, ge=0, le=0.5, description="coupler field-split error std: r = 1/√2 + σ·N(0,1)")
    loss_db: float = Field(0.0, ge=0, description="mean insertion loss per built MZI / attenuator (dB)")
    loss_rel_sigma: float = Field(0.2, ge=0, description="non-uniformity: IL std = loss_rel_sigma·loss_db")
    waveguide_loss_db: float = Field(0.0, ge=0, description="loss of a removed MZI / empty column slot (dB)")
    crosstalk: float = Field(0.0, ge=0, le=1, description="κ_ref: crosstalk fraction at crosstalk_ref_um")
    crosstalk_ref_um: float = Field(50.0, gt=0, description="distance at which the coupling is κ_ref (µm)")
    crosstalk_decay_um: float = Field(30.0, gt=0, description="exponential decay length of the coupling (µm)")
    crosstalk_cutoff_um: float = Field(300.0, ge=0, description="no coupling beyond this distance (µm)")
    crosstalk_into_pruned: bool = Field(True, description="unheated (pruned) arms still receive neighbours' heat")
    loss_compensation: bool = Field(
        True, description="recalibrate each layer's off-chip gain for the nominal (mean) path loss"
    )
    include_sigma: bool = Field(True, description="perturb the Σ attenuators too (not only U and V)")
    pruned_mzi: Literal["remove", "bar"] = Field(
        "remove", description="removed MZIs have no couplers/heaters (waveguide loss only); 'bar': kept unpowered"
    )

    @property
    def is_random(self) -> bool:
        return self.sigma_ps > 0 or self.sigma_bs > 0 or (self.loss_db > 0 and self.loss_rel_sigma > 0)

    @property
    def is_clean(self) -> bool:
        return (
            self.sigma_ps == 0
            and self.bits is None
            and self.sigma_bs == 0
            and self.loss_db == 0
            and self.waveguide_loss_db == 0
            and self.crosstalk == 0
        )


class FinetuneConfig(_Strict):
    """Noise-aware fine-tuning of the pruned network (off unless ``enabled``)."""

    enabled: bool = False
    noise: Imperfections = Field(default_factory=lambda: Imperfections(sigma_ps=0.01))
    epochs: int = Field(60, ge=0)
    lr: float = Field(0.005, gt=0)
    trials_per_step: int = Field(8, ge=1)
    seed: int = 0


class RobustnessConfig(_Strict):
    """What :func:`run_robustness` sweeps. Unknown keys are errors that name the key."""

    trials: int = Field(200, ge=1, description="Monte-Carlo trials per random setting")
    seed: int = 0
    batch_trials: int = Field(250, ge=1, description="trials evaluated per batch (memory bound)")
    sigma_ps: list[float] = Field(default_factory=lambda: [0.0, 0.0025, 0.005, 0.01, 0.02, 0.03])
    bits: list[int] = Field(default_factory=lambda: [3, 4, 5, 6, 8])
    sigma_bs: list[float] = Field(default_factory=lambda: [0.0, 0.01, 0.02, 0.04, 0.08])
    loss_db: list[float] = Field(default_factory=lambda: [0.0, 0.1, 0.25, 0.5, 1.0])
    crosstalk: list[float] = Field(default_factory=lambda: [0.0, 0.005, 0.01, 0.02, 0.05])
    base: Imperfections = Field(default_factory=Imperfections, description="fixed settings under every sweep")
    combined: Imperfections = Field(
        default_factory=lambda: Imperfections(sigma_ps=0.005, bits=8, sigma_bs=0.01, loss_db=0.25, crosstalk=0.01),
        description="all imperfections at once (cf. arXiv:2207.10835)",
    )
    layer_sensitivity: Imperfections = Field(default_factory=lambda: Imperfections(sigma_ps=0.01))
    heater_gds: str | None = Field(None, description="GDS whose text labels give heater positions (µm)")
    column_pitch_um: float = Field(395.0, gt=0, description="grid fallback: MZI column pitch (µm), assumed")
    row_pitch_um: float = Field(100.0, gt=0, description="grid fallback: waveguide pitch (µm), assumed")
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig)
    plots: bool = True

    @field_validator("sigma_ps", "sigma_bs", "loss_db", "crosstalk")
    @classmethod
    def _non_negative(cls, v: list[float]) -> list[float]:
        if any((not math.isfinite(x)) or x < 0 for x in v):
            raise ValueError("values must be finite and ≥ 0")
        return v

    @field_validator("bits")
    @classmethod
    def _bits(cls, v: list[int]) -> list[int]:
        if any(b < 1 or b > 32 for b in v):
            raise ValueError("bits must be in 1…32")
        return v


def load_config(config: RobustnessConfig | dict | str | Path | None) -> RobustnessConfig:
    """A :class:`RobustnessConfig` from an object, a dict, or a .json/.yaml file.

    Raises ValueError whose message names the offending key (e.g. ``finetune.epochs``).
    """
    if isinstance(config, RobustnessConfig):
        return config
    if config is None:
        return RobustnessConfig()
    if isinstance(config, str | Path):
        path = Path(config)
        if not path.is_file():
            raise FileNotFoundError(f"robustness config not found: {path}")
        text = path.read_text()
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            config = yaml.safe_load(text) or {}
        else:
            config = json.loads(text)
    if not isinstance(config, dict):
        raise ValueError(f"robustness config must be a mapping, got {type(config).__name__}")
    try:
        return RobustnessConfig.model_validate(config)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "<root>"
        raise ValueError(f"robustness config: bad key {key!r}: {err['msg']}") from None


# ----------------------------------------------------------------------------- Monte-Carlo core


@dataclass
class _Draws:
    z_ps: torch.Tensor  # (T, H)
    z_bs: torch.Tensor  # (T, 2, M)
    z_il: torch.Tensor  # (T, M)


DRAW_BLOCK = 64
"""Trials per independently seeded block of random numbers (trial t's draws depend on seed and t only)."""


def _draw_block(g: torch.Generator, n_heaters: int, trials: int) -> _Draws:
    m = n_heaters // 2
    z_ps = torch.randn(trials, n_heaters, generator=g, dtype=torch.float64)
    z_bs = torch.randn(trials, 2, m, generator=g, dtype=torch.float64)
    z_il = torch.randn(trials, m, generator=g, dtype=torch.float64)
    return _Draws(z_ps, z_bs, z_il)


def _draw(n_heaters: int, trials: int, seed: int | torch.Generator) -> _Draws:
    """Standard normal draws for ``trials`` trials: phase (T, H), couplers (T, 2, M), loss (T, M).

    With an integer seed, blocks of :data:`DRAW_BLOCK` trials come from generators seeded with
    (seed, block), so the first k trials are the same whatever the total (a 100-trial run is the
    prefix of a 1000-trial run). With a generator, all draws come from it in one go.
    """
    if isinstance(seed, torch.Generator):
        return _draw_block(seed, n_heaters, trials)
    blocks = [
        _draw_block(torch.Generator().manual_seed(int(seed) * 1_000_003 + b), n_heaters, DRAW_BLOCK)
        for b in range(-(-trials // DRAW_BLOCK))
    ]
    return _Draws(*(torch.cat([getattr(d, f) for d in blocks])[:trials] for f in ("z_ps", "z_bs", "z_il")))


@cache
def _scatter_index(topo: MeshTopology) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    col = torch.tensor(np.array(topo.cols), dtype=torch.long)
    row = torch.tensor(np.array(topo.rows), dtype=torch.long)
    untouched = torch.ones(max(topo.n_cols, 1), topo.n, dtype=torch.bool)
    untouched[col, row] = False
    untouched[col, row + 1] = False
    return col, row, untouched


def _columns_from_elements(topo: MeshTopology, t: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """(..., C, N, N) column matrices from per-MZI elements (same scatter as column_matrices_torch)."""
    col, row, untouched = _scatter_index(topo)
    batch = t[0].shape[:-1]
    m = torch.diag_embed(untouched.to(t[0].dtype)).expand(*batch, -1, -1, -1).clone()
    m[..., col, row, row] = t[0]
    m[..., col, row, row + 1] = t[1]
    m[..., col, row + 1, row] = t[2]
    m[..., col, row + 1, row + 1] = t[3]
    return m


def _slot_amplitudes(topo: MeshTopology, amp_mzi: torch.Tensor, amp_wg: float) -> torch.Tensor:
    """(..., C, N) field amplitude of each column slot: the MZI's on its two modes, else the waveguide's."""
    col, row, _ = _scatter_index(topo)
    batch = amp_mzi.shape[:-1]
    amp = torch.full((*batch, max(topo.n_cols, 1), topo.n), amp_wg, dtype=amp_mzi.dtype)
    amp[..., col, row] = amp_mzi
    amp[..., col, row + 1] = amp_mzi
    return amp


class _Perturbed:
    """Perturbed flat phases, coupler coefficients and MZI amplitudes for a trial batch."""

    def __init__(
        self,
        model: torch.nn.Module,
        imp: Imperfections,
        draws: _Draws,
        positions_um: np.ndarray | None = None,
        layers: Sequence[int] | None = None,
    ) -> None:
        self.blocks = _blocks(model)
        p0, live = _flat_phases(model)
        trials = draws.z_ps.shape[0]
        h = p0.numel()
        if draws.z_ps.shape[1] != h:
            raise ValueError(f"noise drawn for {draws.z_ps.shape[1]} heaters, model has {h}")
        in_layer = torch.ones(h, dtype=torch.bool)
        in_layer_m = torch.ones(h // 2, dtype=torch.bool)
        removed = torch.zeros(h // 2, dtype=torch.bool)
        for b in self.blocks:
            th, ph = slice(b.h_off, b.h_off + b.size), slice(b.h_off + b.size, b.h_off + 2 * b.size)
            ms = slice(b.m_off, b.m_off + b.size)
            removed[ms] = ~live[th] & ~live[ph]
            scoped = (layers is None or b.layer in layers) and (imp.include_sigma or b.mesh != "S")
            in_layer[th] = in_layer[ph] = scoped
            in_layer_m[ms] = scoped
        built = ~removed if imp.pruned_mzi == "remove" else torch.ones_like(removed)
        act = live & in_layer  # heaters that receive control errors
        p = p0.expand(trials, h)
        if imp.bits is not None:
            q = quantize_phase(p0, imp.bits)
            p = torch.where(act, p0 + (q - p0).detach(), p0).expand(trials, h)  # straight-through gradient
        if imp.crosstalk > 0:
            if positions_um is None:
                positions_um = grid_heater_positions(model)
            k = crosstalk_matrix(
                positions_um,
                (live & in_layer).numpy(),
                imp.crosstalk,
                imp.crosstalk_ref_um,
                imp.crosstalk_decay_um,
                imp.crosstalk_cutoff_um,
                receive_at_pruned=imp.crosstalk_into_pruned,
            )
            k = torch.as_tensor(k) * in_layer[:, None]
            drive = torch.where(live, p % TWO_PI, torch.zeros_like(p))
            p = p + drive @ k.T
        if imp.sigma_ps > 0:
            p = p + (imp.sigma_ps * math.pi) * draws.z_ps * act
        self.phases = p
        # a removed MZI is plain waveguide: heat at its sites only delays its top path (no interference)
        self.passthrough = (~built) if (imp.crosstalk > 0 and imp.crosstalk_into_pruned) else None
        self.r = None
        if imp.sigma_bs > 0:
            r = INV_SQRT2 + imp.sigma_bs * draws.z_bs
            self.r = torch.where(built & in_layer_m, r.clamp(0.0, 1.0), torch.full_like(r, INV_SQRT2))
        self.amp = None
        self.amp_wg = 1.0
        self.gain_comp: dict[int, float] = {}
        if imp.loss_db > 0 or imp.waveguide_loss_db > 0:
            il = (imp.loss_db + imp.loss_rel_sigma * imp.loss_db * draws.z_il).clamp(min=0.0)
            self.amp_wg = float(loss_amplitude(imp.waveguide_loss_db))
            amp = torch.where(built, loss_amplitude(il), torch.full_like(il, self.amp_wg))
            self.amp = torch.where(in_layer_m, amp, torch.ones_like(amp))
            self.amp_wg_layer = {
                li: (self.amp_wg if (layers is None or li in layers) else 1.0) for li in range(len(model.layers))
            }
            if imp.loss_compensation:
                nominal = torch.where(built, il.new_tensor(imp.loss_db), il.new_tensor(imp.waveguide_loss_db))
                for li in range(len(model.layers)):
                    if layers is None or li in layers:
                        lb = [b for b in self.blocks if b.layer == li]
                        self.gain_comp[li] = _nominal_compensation(lb, nominal, imp)


def _nominal_compensation(blocks: list[_Block], nominal_db: torch.Tensor, imp: Imperfections) -> float:
    """Field factor that undoes a layer's nominal loss: 10^(L/20), L the mode-averaged path loss (dB).

    Per mesh, the loss of mode m is the sum over columns of its slot's nominal loss (the MZI's
    ``loss_db`` if built, else ``waveguide_loss_db``); the Σ column adds the attenuators' loss.
    """
    total_db = 0.0
    for b in blocks:
        nd = nominal_db[b.m_off : b.m_off + b.size].numpy()
        if b.topo is None:
            total_db += float(nd.mean()) if nd.size else 0.0
            continue
        if b.topo.n_mzis == 0:
            continue
        slots = np.full((max(b.topo.n_cols, 1), b.topo.n), imp.waveguide_loss_db)
        slots[b.topo.cols, b.topo.rows] = nd
        slots[b.topo.cols, b.topo.rows + 1] = nd
        total_db += float(slots.sum(0).mean())
    return float(10.0 ** (total_db / 20.0))


def _elements(pert: _Perturbed, b: _Block, zero_state: str) -> tuple[torch.Tensor, ...]:
    """Per-MZI elements (t00, t01, t10, t11), each (T, K), with coupler errors and passthroughs."""
    theta = pert.phases[:, b.h_off : b.h_off + b.size]
    phi = pert.phases[:, b.h_off + b.size : b.h_off + 2 * b.size]
    r = None if pert.r is None else pert.r[:, :, b.m_off : b.m_off + b.size]
    t = mzi_elements(theta, phi, zero_state, r_in=None if r is None else r[:, 0], r_out=None if r is None else r[:, 1])  # type: ignore[arg-type]
    if pert.passthrough is None or not bool(pert.passthrough[b.m_off : b.m_off + b.size].any()):
        return tuple(t)
    rm = pert.passthrough[b.m_off : b.m_off + b.size]
    delay = torch.polar(torch.ones_like(theta), theta + phi)  # phase picked up by the top waveguide
    zero = torch.zeros_like(delay)
    if zero_state == "bar":  # removed = diag(−1, 1): the top path gets the heat
        new = (-delay, zero, zero, torch.ones_like(delay))
    else:  # removed = crossing i·[[0, 1], [1, 0]]: the path from the top input gets it
        new = (zero, 1j * torch.ones_like(delay), 1j * delay, zero)
    return tuple(torch.where(rm, n, o) for n, o in zip(new, t, strict=True))


def _mesh(
    topo: MeshTopology, pert: _Perturbed, b: _Block, zero_state: str, screen: torch.Tensor | None
) -> torch.Tensor:
    """(T, N, N) perturbed unitary (or lossy matrix) of one mesh."""
    theta = pert.phases[:, b.h_off : b.h_off + b.size]
    phi = pert.phases[:, b.h_off + b.size : b.h_off + 2 * b.size]
    trials = theta.shape[0]
    if topo.n_mzis == 0:
        u = torch.eye(topo.n, dtype=torch.complex128).expand(trials, topo.n, topo.n)
    else:
        plain = pert.passthrough is None or not bool(pert.passthrough[b.m_off : b.m_off + b.size].any())
        if pert.r is None and plain:
            m = column_matrices_torch(topo, theta, phi, zero_state)  # type: ignore[arg-type]
        else:
            m = _columns_from_elements(topo, _elements(pert, b, zero_state))
        if pert.amp is not None:
            amp = _slot_amplitudes(topo, pert.amp[:, b.m_off : b.m_off + b.size], pert.amp_wg_layer[b.layer])
            m = m * amp[..., :, None]
        u = product_tree(m)
    if screen is not None:
        u = torch.polar(torch.ones_like(screen), screen).unsqueeze(-1) * u
    return u


def _sigma(layer: torch.nn.Module, pert: _Perturbed, b: _Block, zero_state: str) -> torch.Tensor:
    s = attenuator_element(_elements(pert, b, zero_state), zero_state)  # type: ignore[arg-type]
    if pert.amp is not None:
        s = s * pert.amp[:, b.m_off : b.m_off + b.size]
    return s * layer.gain * pert.gain_comp.get(b.layer, 1.0)


def perturbed_matrices(
    model: torch.nn.Module,
    imp: Imperfections,
    trials: int = 1,
    seed: int = 0,
    positions_um: np.ndarray | None = None,
    layers: Sequence[int] | None = None,
    draws: _Draws | None = None,
) -> list[torch.Tensor]:
    """Each layer's complex W for ``trials`` imperfect chips: a list of (T, n_out, n_in) tensors."""
    if draws is None:
        draws = _draw(len(heater_keys(model)), trials, seed)
    pert = _Perturbed(model, imp, draws, positions_um, layers)
    zs = model.zero_state
    blocks = {(b.layer, b.mesh): b for b in pert.blocks}
    out = []
    for li, layer in enumerate(model.layers):
        vh = _mesh(layer.topo_V, pert, blocks[(li, "V")], zs, None)
        u = _mesh(layer.topo_U, pert, blocks[(li, "U")], zs, layer.screen)
        s = _sigma(layer, pert, blocks[(li, "S")], zs)
        k = layer.k
        out.append((u[..., :, :k] * s.unsqueeze(-2)) @ vh[..., :k, :])
    return out


def _forward_fields(mats: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """(T, B, n_out) output fields for inputs x (B, n_in) through a trial batch of layer matrices."""
    from gf_prune.model import network_fields

    return network_fields(mats, x)


@torch.no_grad()
def monte_carlo_accuracy(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    imp: Imperfections | None = None,
    trials: int = 100,
    seed: int = 0,
    positions_um: np.ndarray | None = None,
    layers: Sequence[int] | None = None,
    batch_trials: int = 250,
) -> np.ndarray:
    """Test accuracy of ``trials`` imperfect copies of ``model`` (float64 array, shape (trials,)).

    All random numbers are drawn up front from ``seed``, so the result does not depend on
    ``batch_trials`` and two models with the same heater count see the same draws.
    """
    imp = imp or Imperfections()
    draws = _draw(len(heater_keys(model)), trials, seed)
    accs = []
    for start in range(0, trials, batch_trials):
        sl = slice(start, start + batch_trials)
        d = _Draws(draws.z_ps[sl], draws.z_bs[sl], draws.z_il[sl])
        mats = perturbed_matrices(model, imp, positions_um=positions_um, layers=layers, draws=d)
        pred = (_forward_fields(mats, x).abs() ** 2).argmax(-1)
        accs.append((pred == y).double().mean(-1))
    return torch.cat(accs).numpy()


def summarize(acc: np.ndarray) -> dict[str, float]:
    """mean / std / p5 / p50 / p95 / min of an accuracy sample (fractions)."""
    acc = np.asarray(acc, dtype=np.float64)
    return {
        "mean": float(acc.mean()),
        "std": float(acc.std()),
        "p5": float(np.percentile(acc, 5)),
        "p50": float(np.percentile(acc, 50)),
        "p95": float(np.percentile(acc, 95)),
        "min": float(acc.min()),
        "trials": int(acc.size),
    }


# ----------------------------------------------------------------------------- noise-aware fine-tuning


def noise_aware_finetune(
    model: torch.nn.Module,
    data: Any,
    noise: Imperfections,
    epochs: int = 60,
    lr: float = 0.005,
    trials_per_step: int = 8,
    seed: int = 0,
    positions_um: np.ndarray | None = None,
) -> list[float]:
    """Train ``model`` in place on the mean NLL over ``trials_per_step`` sampled imperfect chips per step.

    Pruned phases stay exactly 0 (masks are re-applied after every step); quantisation passes
    gradients straight through. Returns the loss history. Fresh draws every step, seeded.
    """
    g = torch.Generator().manual_seed(int(seed))
    n_h = len(heater_keys(model))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    x, y = data.X_train, data.y_train
    history = []
    model.train()
    for _ in range(int(epochs)):
        opt.zero_grad(set_to_none=True)
        mats = perturbed_matrices(model, noise, positions_um=positions_um, draws=_draw(n_h, trials_per_step, g))
        logp = torch.log_softmax(_forward_fields(mats, x).abs() ** 2, dim=-1)  # (T, B, C)
        loss = torch.nn.functional.nll_loss(logp.reshape(-1, logp.shape[-1]), y.repeat(trials_per_step))
        loss.backward()
        opt.step()
        model.apply_masks()
        history.append(float(loss.detach()))
    model.eval()
    return history


# ----------------------------------------------------------------------------- the product entry


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


def _positions(model: torch.nn.Module, cfg: RobustnessConfig) -> tuple[np.ndarray, str]:
    grid = grid_heater_positions(model, cfg.column_pitch_um, cfg.row_pitch_um)
    if cfg.heater_gds is None:
        return grid, f"grid (column {cfg.column_pitch_um} µm × row {cfg.row_pitch_um} µm, assumed)"
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
) -> dict[str, Any]:
    out: dict[str, Any] = {"parameter": field, "values": list(values)}
    for name, model in models.items():
        rows = []
        for v in values:
            imp = cfg.base.model_copy(update={field: v})
            trials = cfg.trials if imp.is_random else 1
            acc = monte_carlo_accuracy(
                model, data.X_test, data.y_test, imp, trials, cfg.seed, positions[name], None, cfg.batch_trials
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
) -> dict[str, Any]:
    """Monte-Carlo robustness of a dense and a pruned network; returns a JSON-able summary.

    Sweeps (each with the others at ``config.base``): σ_PS, bits, σ_BS, IL (dB), crosstalk κ;
    then all imperfections at once (``config.combined``) and the per-layer sensitivity (one layer
    perturbed at a time with ``config.layer_sensitivity``). With ``config.finetune.enabled`` a copy
    of the pruned network is fine-tuned under ``config.finetune.noise`` and evaluated too (key
    ``pruned_ft``). Accuracies are fractions in [0, 1]. With ``out_dir``, writes
    ``robustness.json`` and (``config.plots``) ``robustness.png``, ``robustness_layers.png``.
    The models are not modified. ``progress`` (optional) is called with a short text per stage.
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
        )
        summary["finetune"] = {"loss_history": hist, "time_s": time.perf_counter() - t1}
        models["pruned_ft"] = ft
    positions, sources = {}, {}
    for name, m in models.items():
        positions[name], sources[name] = _positions(m, cfg)
    summary["heater_positions"] = sources
    summary["clean"] = {
        name: float(monte_carlo_accuracy(m, data.X_test, data.y_test, Imperfections(), 1, cfg.seed)[0])
        for name, m in models.items()
    }
    summary["sweeps"] = {}
    for field in ("sigma_ps", "bits", "sigma_bs", "loss_db", "crosstalk"):
        say(f"sweep {field}")
        summary["sweeps"][field] = _sweep(models, data, cfg, positions, field, getattr(cfg, field))
    say("combined and per-layer")
    combined = {}
    for name, m in models.items():
        trials = cfg.trials if cfg.combined.is_random else 1
        acc = monte_carlo_accuracy(
            m, data.X_test, data.y_test, cfg.combined, trials, cfg.seed, positions[name], None, cfg.batch_trials
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
                m, data.X_test, data.y_test, noise, cfg.trials if noise.is_random else 1, cfg.seed, positions[name]
            )
            crit[name] = {**summarize(acc), "drop": summary["clean"][name] - float(acc.mean())}
        # the goal: the fine-tuned pruned network loses no more accuracy under this noise than the dense one
        crit["met"] = bool(crit["pruned_ft"]["drop"] <= crit["dense"]["drop"])
        summary["finetune"]["criterion"] = crit
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
