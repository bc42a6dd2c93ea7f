"""Hardware moves and methods added to :mod:`gf_prune.prune` (issue 12), kept apart from the engine.

- :func:`prune_sigma_transmission` — **Σ pruning**: an attenuator within ``tol`` of full transmission
  (``|t| = |cos(θ/2)| ≥ 1 − tol``) is switched off (θ pruned, fixed at 0); the phase ``θ/2`` that θ put on
  the through path is moved into the attenuator's φ, so only the amplitude changes (by at most ``tol``).
  Its φ then leaves through the gauge (:func:`gf_prune.gauge.gauge_network_full`) where the graph allows; an
  attenuator with θ and φ pruned is removable (``power_report(...)["mzis"]["sigma_removable"]``).
- :func:`hardware_moves` — what :meth:`gf_prune.prune._Runner.gauge` does before every round when
  ``gauge_full`` or ``sigma_tol`` is set: Σ pruning, then the full (conditional) gauge.
- :func:`final_gauge` — the exact gauge applied to every recorded round after the search (predictions do
  not change, so the validation choice does not either); the best round, gauged, is recorded once more.

The design facts used (the MZI convention, the attenuator's through element) are in docs/design.md.
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Any

import torch

from gf_prune.gauge import gauge_network, gauge_network_full
from gf_prune.model import PhotonicMLP
from gf_prune.power import power_report

if TYPE_CHECKING:  # pragma: no cover
    from gf_prune.prune import _Runner


@torch.no_grad()
def prune_sigma_transmission(model: PhotonicMLP, tol: float) -> int:
    """Switch off every live Σ θ whose attenuator transmits ``|cos(θ/2)| ≥ 1 − tol``; returns how many.

    The through element of an attenuator is ``−e^{iφ}·e^{iθ/2}·cos(θ/2)`` (``zero_state="bar"``;
    ``i·e^{iφ}·e^{iθ/2}·cos(θ/2)`` for ``"cross"``), so ``φ += θ/2`` (when φ is live) keeps its phase exactly and the
    amplitude changes by the factor ``1/|cos(θ/2)| ≤ 1/(1 − tol)``.
    """
    if not 0.0 <= tol < 1.0:
        raise ValueError(f"tol must be in [0, 1), got {tol}")
    n = 0
    for layer in model.layers:
        th, m = layer.S_theta, layer.S_theta_mask
        sel = m & (torch.cos(th / 2).abs() >= 1.0 - tol)
        if not bool(sel.any()):
            continue
        # (1 + e^{iθ})/2 = e^{iθ/2}·cos(θ/2) depends on θ mod 2π only; with θ wrapped into [−π, π) the cosine
        # is ≥ 0, so the element's phase is exactly θ_w/2 (both conventions)
        wrapped = torch.remainder(th + math.pi, 2 * math.pi) - math.pi
        layer.S_phi.add_(torch.where(sel & layer.S_phi_mask, wrapped / 2, torch.zeros_like(wrapped)))
        m &= ~sel
        n += int(sel.sum())
    model.apply_masks()
    return n


def hardware_moves(run: _Runner, model: PhotonicMLP) -> int:
    """Σ pruning (``sigma_tol`` > 0) and the gauge (full with ``gauge_full``); returns U/V phases pruned."""
    cfg = run.cfg
    sigma = cfg.sigma_tol > 0
    if sigma:
        prune_sigma_transmission(model, cfg.sigma_tol)
    if cfg.gauge_full:
        return gauge_network_full(model, prune=True, prune_sigma=cfg.prune_sigma or sigma).pruned_uv
    return gauge_network(model, prune=True, prune_sigma=cfg.prune_sigma or sigma).pruned_uv


GAUGED_KEYS = ("pruned_uv", "sparsity_uv", "pruned_all", "sparsity_all", "power_mw", "removable_mzis")


@torch.no_grad()
def final_gauge(run: _Runner, model: PhotonicMLP) -> dict[str, Any] | None:
    """Apply the exact full gauge to every recorded round (not the dense one): each record gains ``gauged``
    (its counts and power after the gauge; the predictions are unchanged, checked on validation), and the
    best round, gauged, is recorded once more as ``step="exact gauge"`` (it then is the best round).
    """
    cfg = run.cfg
    sigma = cfg.prune_sigma or cfg.sigma_tol > 0
    probe = copy.deepcopy(model)
    xv = run.data.X_val
    for rec, state in zip(run.records[1:], run.states[1:], strict=True):
        probe.load_state_dict(state)
        before = probe.predict(xv)
        res = gauge_network_full(probe, prune=True, prune_sigma=sigma)
        if not torch.equal(probe.predict(xv), before):  # pragma: no cover - float ties only
            continue
        rep = power_report(probe.to_phases(), cfg.p_pi_mw)
        ph = rep["phases"]
        rec["gauged"] = {
            "pruned_uv": ph["pruned_uv"],
            "sparsity_uv": ph["sparsity_uv"],
            "pruned_all": ph["pruned_all"],
            "sparsity_all": ph["sparsity_all"],
            "power_mw": rep["power_mw"]["total"],
            "power_saved": 1.0 - rep["power_mw"]["total"] / run.dense_power if run.dense_power else 0.0,
            "removable_mzis": rep["mzis"]["removable"],
            "sigma_removable": rep["mzis"]["sigma_removable"],
            "freed_uv": res.pruned_uv,
            "conditional": sum(res.conditional),
            "dead_phases": sum(res.dead_phases),
        }
    best = run.best_index()
    if best == 0:
        return None
    model.load_state_dict(run.states[best])
    res = gauge_network_full(model, prune=True, prune_sigma=sigma)
    return run.record(
        model,
        step="exact gauge",
        gauged_from=best,
        gauge_pruned=res.pruned_uv,
        gauge_conditional=sum(res.conditional),
        gauge_dead=sum(res.dead_phases),
        gauge_sigma=res.pruned_sigma,
    )
