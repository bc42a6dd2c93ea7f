"""Monte-Carlo of imperfect chips: perturbed layer matrices and test accuracy, vectorised over trials.

Every trial's column matrices are built at once (leading trial dimension) with
:func:`gf_prune.mesh.column_matrices_torch` and multiplied with
:func:`gf_prune.mesh.product_tree`; random numbers come from seeded blocks
(:data:`DRAW_BLOCK`) so that dense and pruned networks see the same draws. The order
of application and the models are described in :mod:`gf_prune.robustness`.

Everything follows the model's device (``monte_carlo_accuracy(..., device=…)`` moves a copy there); the
random numbers are always drawn on the CPU, so every device sees the same draws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import torch

from gf_prune.device import model_device
from gf_prune.heaters import _Block, _blocks, _flat_phases, crosstalk_sparse, grid_heater_positions, heater_keys
from gf_prune.imperfections import Imperfections, loss_amplitude, quantize_phase
from gf_prune.mesh import (
    TREE_MAX_COLS,
    MeshTopology,
    column_matrices_torch,
    crossings_per_waveguide,
    permute_columns,
    product_tree,
)
from gf_prune.physics import INV_SQRT2, TWO_PI, attenuator_element, mzi_elements

__all__ = ["DRAW_BLOCK", "monte_carlo_accuracy", "noise_aware_finetune", "perturbed_matrices", "summarize"]


@dataclass
class _Draws:
    z_ps: torch.Tensor  # (T, H)
    z_bs: torch.Tensor  # (T, 2, M)
    z_il: torch.Tensor  # (T, M)

    def to(self, device: torch.device) -> _Draws:
        return _Draws(self.z_ps.to(device), self.z_bs.to(device), self.z_il.to(device))


DRAW_BLOCK = 64
"""Trials per independently seeded block of random numbers (trial t's draws depend on seed and t only)."""

CACHE_BYTES = 2 * 2**20
"""Working set of one chunk of trials in the deep-mesh row updates (about an L2 cache)."""


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
    col, row, untouched = (i.to(t[0].device) for i in _scatter_index(topo))
    batch = t[0].shape[:-1]
    m = torch.diag_embed(untouched.to(t[0].dtype)).expand(*batch, -1, -1, -1).clone()
    m[..., col, row, row] = t[0]
    m[..., col, row, row + 1] = t[1]
    m[..., col, row + 1, row] = t[2]
    m[..., col, row + 1, row + 1] = t[3]
    return permute_columns(topo, m)


@cache
def _partner_index(topo: MeshTopology, group: int) -> tuple[int, torch.Tensor]:
    """(padded column count, (C_pad/G, G, N) partner row of every row in every column)."""
    col, row, _ = _scatter_index(topo)
    c = max(topo.n_cols, 1)
    c_pad = -(-c // group) * group
    partner = torch.arange(topo.n).repeat(c_pad, 1)
    partner[col, row] = row + 1
    partner[col, row + 1] = row
    return c_pad, partner.reshape(c_pad // group, group, topo.n)


def _grouped_from_elements(
    topo: MeshTopology, t: tuple[torch.Tensor, ...], amp: torch.Tensor | None = None
) -> torch.Tensor:
    """(T, N, N) mesh matrix M_{C-1}⋯M_0 from per-MZI elements (T, K) and optional slot amplitudes (T, C, N).

    Same product as ``product_tree`` of :func:`_columns_from_elements` (rows scaled by ``amp``), the
    way :func:`gf_prune.mesh.mesh_unitary_torch` does deep meshes: groups of G ≈ √C columns are built
    by G batched 2×2 row updates (O(N²) each), then the C/G group matrices form a product tree, so
    a trial costs O(C·N² + (C/G)·N³) instead of O(C·N³).
    """
    dev = t[0].device
    col, row, _ = (i.to(dev) for i in _scatter_index(topo))
    n, c = topo.n, max(topo.n_cols, 1)
    group = max(1, round(math.sqrt(c)))
    c_pad, partner = _partner_index(topo, group)
    partner = partner.to(dev)
    batch, dtype = t[0].shape[:-1], t[0].dtype
    a = torch.ones(*batch, c_pad, n, dtype=dtype, device=dev)
    b = torch.zeros(*batch, c_pad, n, dtype=dtype, device=dev)
    a[..., col, row], b[..., col, row] = t[0], t[1]  # out_r = t00·x_r + t01·x_{r+1}
    a[..., col, row + 1], b[..., col, row + 1] = t[3], t[2]  # out_{r+1} = t11·x_{r+1} + t10·x_r
    if amp is not None:
        a[..., :c, :] = a[..., :c, :] * amp
        b[..., :c, :] = b[..., :c, :] * amp
    n_groups = c_pad // group
    a = a.reshape(-1, n_groups, group, n, 1)
    b = b.reshape(-1, n_groups, group, n, 1)
    g_idx = torch.arange(n_groups, device=dev)[:, None]
    eye = torch.eye(n, dtype=dtype, device=dev)
    # the row updates are memory-bound: a few trials at a time keep their matrices in cache (13× faster)
    chunk = max(1, CACHE_BYTES // (n_groups * n * n * 16))
    out = []
    for s in range(0, a.shape[0], chunk):
        ac, bc = a[s : s + chunk], b[s : s + chunk]
        m = eye.expand(ac.shape[0], n_groups, n, n)
        for j in range(group):
            m = torch.addcmul(ac[:, :, j] * m, bc[:, :, j], m[..., g_idx, partner[:, j, :], :])
        out.append(product_tree(m))
    return torch.cat(out).reshape(*batch, n, n)


def _slot_amplitudes(topo: MeshTopology, amp_mzi: torch.Tensor, amp_wg: float) -> torch.Tensor:
    """(..., C, N) field amplitude of each column slot: the MZI's on its two modes, else the waveguide's."""
    col, row, _ = (i.to(amp_mzi.device) for i in _scatter_index(topo))
    batch = amp_mzi.shape[:-1]
    amp = torch.full((*batch, max(topo.n_cols, 1), topo.n), amp_wg, dtype=amp_mzi.dtype, device=amp_mzi.device)
    amp[..., col, row] = amp_mzi
    amp[..., col, row + 1] = amp_mzi
    return permute_columns(topo, amp[..., None])[..., 0]  # rows of P_c·M_c (butterfly)


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
        self.crossing_loss_db = float(imp.crossing_loss_db)
        p0, live = _flat_phases(model)
        dev = p0.device
        trials = draws.z_ps.shape[0]
        h = p0.numel()
        if draws.z_ps.shape[1] != h:
            raise ValueError(f"noise drawn for {draws.z_ps.shape[1]} heaters, model has {h}")
        in_layer = torch.ones(h, dtype=torch.bool, device=dev)
        in_layer_m = torch.ones(h // 2, dtype=torch.bool, device=dev)
        removed = torch.zeros(h // 2, dtype=torch.bool, device=dev)
        for b in self.blocks:
            th, ph = slice(b.h_off, b.h_off + b.size), slice(b.h_off + b.size, b.h_off + 2 * b.size)
            ms = slice(b.m_off, b.m_off + b.size)
            removed[ms] = ~live[th] & ~live[ph]
            scoped = (layers is None or b.layer in layers) and (imp.include_sigma or b.mesh != "S")
            in_layer[th] = in_layer[ph] = scoped
            in_layer_m[ms] = scoped
        built = ~removed if imp.pruned_mzi == "remove" else torch.ones_like(removed)
        act = live & in_layer  # heaters that receive control errors
        p = p0  # the programmed drive: one (H,) vector, the same for every trial
        if imp.bits is not None:
            q = quantize_phase(p0, imp.bits)
            p = torch.where(act, p0 + (q - p0).detach(), p0)  # straight-through gradient
        if imp.crosstalk > 0:
            if positions_um is None:
                positions_um = grid_heater_positions(model)
            k = crosstalk_sparse(
                positions_um,
                (live & in_layer).cpu().numpy(),
                imp.crosstalk,
                imp.crosstalk_ref_um,
                imp.crosstalk_decay_um,
                imp.crosstalk_cutoff_um,
                receive_at_pruned=imp.crosstalk_into_pruned,
            ).tocoo()
            sel = in_layer.cpu().numpy()[k.row]  # heaters outside the scoped layers receive nothing
            rows = torch.as_tensor(k.row[sel], dtype=torch.long, device=dev)
            cols = torch.as_tensor(k.col[sel], dtype=torch.long, device=dev)
            coupling = torch.as_tensor(k.data[sel], device=dev)
            drive = torch.where(live, p % TWO_PI, torch.zeros_like(p))
            # Δφ_i = Σ_j K_ij·drive_j over the neighbour pairs only (differentiable in the drive)
            p = p + torch.zeros_like(p).index_add(0, rows, coupling * drive[cols])
        p = p.expand(trials, h)
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
        nd = nominal_db[b.m_off : b.m_off + b.size].cpu().numpy()
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
        u = torch.eye(topo.n, dtype=torch.complex128, device=theta.device).expand(trials, topo.n, topo.n)
    else:
        plain = pert.passthrough is None or not bool(pert.passthrough[b.m_off : b.m_off + b.size].any())
        amp = None
        if pert.amp is not None:
            amp = _slot_amplitudes(topo, pert.amp[:, b.m_off : b.m_off + b.size], pert.amp_wg_layer[b.layer])
        if topo.n_cols > TREE_MAX_COLS and topo.kind != "butterfly":  # deep column mesh: O(N²) row updates
            u = _grouped_from_elements(topo, _elements(pert, b, zero_state), amp)
        else:
            if pert.r is None and plain:
                m = column_matrices_torch(topo, theta, phi, zero_state)  # type: ignore[arg-type]
            else:
                m = _columns_from_elements(topo, _elements(pert, b, zero_state))
            xamp = _crossing_amplitudes(topo, pert.crossing_loss_db)
            if xamp is not None:  # light crossing waveguides in the permutation after each stage loses a^count
                m = m * xamp.to(m.device)[:, :, None]
            u = product_tree(m if amp is None else m * amp[..., :, None])
    if screen is not None:
        u = torch.polar(torch.ones_like(screen), screen).unsqueeze(-1) * u
    return u


@cache
def _crossing_amplitudes(topo: MeshTopology, loss_db: float) -> torch.Tensor | None:
    """(C, N) field amplitude of each row of P_c·M_c from the crossings of permutation P_c (None: no loss)."""
    if not topo.perms or loss_db <= 0:
        return None
    a = 10.0 ** (-loss_db / 20.0)
    out = np.ones((topo.n_cols, topo.n))
    for c, perm in enumerate(topo.perms):
        out[c, np.asarray(perm)] = a ** crossings_per_waveguide(perm)  # position p lands on row perm[p]
    return torch.as_tensor(out, dtype=torch.complex128)


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
    """Each layer's complex W for ``trials`` imperfect chips: a list of (T, n_out, n_in) tensors, on the
    model's device (the draws are moved there)."""
    if draws is None:
        draws = _draw(len(heater_keys(model)), trials, seed)
    pert = _Perturbed(model, imp, draws.to(model_device(model)), positions_um, layers)
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


def _forward_fields(mats: list[torch.Tensor], x: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    """(T, B, n_out) output fields for inputs x (B, n_in) through a trial batch of layer matrices."""
    from gf_prune.model import network_fields

    return network_fields(mats, x, [getattr(layer, "bias_amp", None) for layer in model.layers])


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
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Test accuracy of ``trials`` imperfect copies of ``model`` (float64 array, shape (trials,)).

    All random numbers are drawn up front from ``seed``, so the result does not depend on
    ``batch_trials`` and two models with the same heater count see the same draws. ``device``: run on
    that torch device (a copy of the model is moved there; None: the model's own).
    """
    imp = imp or Imperfections()
    if device is not None and torch.device(device) != model_device(model):
        import copy

        model = copy.deepcopy(model).to(device)
    x, y = x.to(model_device(model)), y.to(model_device(model))
    draws = _draw(len(heater_keys(model)), trials, seed)
    accs = []
    for start in range(0, trials, batch_trials):
        sl = slice(start, start + batch_trials)
        d = _Draws(draws.z_ps[sl], draws.z_bs[sl], draws.z_il[sl])
        mats = perturbed_matrices(model, imp, positions_um=positions_um, layers=layers, draws=d)
        pred = (_forward_fields(mats, x, model).abs() ** 2).argmax(-1)
        accs.append((pred == y).double().mean(-1))
    return torch.cat(accs).cpu().numpy()


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
    device: str | None = None,
) -> list[float]:
    """Train ``model`` in place on the mean NLL over ``trials_per_step`` sampled imperfect chips per step.

    Pruned phases stay exactly 0 (masks are re-applied after every step); quantisation passes
    gradients straight through. Returns the loss history. Fresh draws every step, seeded (on the CPU).
    ``device``: the torch device of the training loop (:class:`gf_prune.train.TrainConfig`).
    """
    from gf_prune.train import TrainConfig, fit

    g = torch.Generator().manual_seed(int(seed))
    n_h = len(heater_keys(model))

    def objective(m: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        mats = perturbed_matrices(m, noise, positions_um=positions_um, draws=_draw(n_h, trials_per_step, g))
        logp = torch.log_softmax(_forward_fields(mats, x, m).abs() ** 2, dim=-1)  # (T, B, C)
        return torch.nn.functional.nll_loss(logp.reshape(-1, logp.shape[-1]), y.repeat(trials_per_step))

    cfg = TrainConfig(epochs=int(epochs), lr=lr, lr_min_factor=1.0, seed=int(seed), device=device)  # constant lr
    return fit(model, data, cfg, objective=objective).history
