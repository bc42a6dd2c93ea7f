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
    best = run.best_index(select=True)
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


# --------------------------------------------------------------------------- learned gates (L0)

#: hard-concrete stretch (γ, ζ) and temperature β of Louizos, Welling & Kingma (ICLR 2018)
HC_GAMMA, HC_ZETA, HC_BETA = -0.1, 1.1, 2.0 / 3.0


class GatedMLP(torch.nn.Module):
    """A :class:`PhotonicMLP` whose eligible phases pass through hard-concrete gates: ``φ_eff = z·wrap(φ)``.

    ``wrap`` is the signed wrapped phase (−π, π], so a closed gate ``z = 0`` is a heater that is off; ``z``
    is sampled while training (the reparametrised hard-concrete of Louizos et al., ICLR 2018, "Learning
    sparse neural networks through L0 regularization") and deterministic in eval mode. ``log_alpha`` holds
    one gate logit per phase; pruned phases (mask off) stay 0 whatever their gate.
    """

    def __init__(self, model: PhotonicMLP, prune_sigma: bool, init_logit: float = 3.0) -> None:
        super().__init__()
        self.model = model
        self.keys: list[tuple[int, str, str]] = []
        for li, mesh, kind, p, _ in model.phase_items():
            if mesh != "S" or prune_sigma:
                self.keys.append((li, mesh, kind))
                self.register_parameter(
                    f"log_alpha_{li}_{mesh}_{kind}", torch.nn.Parameter(torch.full_like(p.detach(), init_logit))
                )

    def log_alpha(self, key: tuple[int, str, str]) -> torch.Tensor:
        return getattr(self, f"log_alpha_{key[0]}_{key[1]}_{key[2]}")

    def gate(self, key: tuple[int, str, str]) -> torch.Tensor:
        la = self.log_alpha(key)
        if self.training:
            u = torch.rand_like(la).clamp(1e-6, 1 - 1e-6)
            s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + la) / HC_BETA)
        else:
            s = torch.sigmoid(la)
        return (s * (HC_ZETA - HC_GAMMA) + HC_GAMMA).clamp(0.0, 1.0)

    def p_open(self, key: tuple[int, str, str]) -> torch.Tensor:
        """P(gate ≠ 0): the expected L0 norm of one phase (Louizos et al., eq. 12)."""
        return torch.sigmoid(self.log_alpha(key) - HC_BETA * math.log(-HC_GAMMA / HC_ZETA))

    def gated_params(self) -> dict[str, torch.Tensor]:
        from gf_prune.physics import wrap_to_pi

        out = {}
        for key in self.keys:
            li, mesh, kind = key
            p = getattr(self.model.layers[li], f"{mesh}_{kind}")
            out[f"layers.{li}.{mesh}_{kind}"] = self.gate(key) * wrap_to_pi(p)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(self.model, self.gated_params(), (x,))

    def apply_masks(self) -> None:
        self.model.apply_masks()

    def penalty(self, group: float) -> torch.Tensor:
        """Mean expected L0 over the live gated phases, plus ``group ·`` the mean P(MZI keeps a heater)."""
        total, n = 0.0, 0
        opens: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
        for key in self.keys:
            li, mesh, kind = key
            m = getattr(self.model.layers[li], f"{mesh}_{kind}_mask")
            po = self.p_open(key) * m
            total = total + po.sum()
            n += int(m.sum())
            opens.setdefault((li, mesh), {})[kind] = po
        pen = total / max(n, 1)
        if group > 0:
            g, ng = 0.0, 0
            for pair in opens.values():
                if len(pair) == 2:  # P(θ or φ open) = 1 − (1 − p_θ)(1 − p_φ): whole MZIs become removable
                    g = g + (1 - (1 - pair["theta"]) * (1 - pair["phi"])).sum()
                    ng += pair["theta"].numel()
            pen = pen + group * g / max(ng, 1)
        return pen

    @torch.no_grad()
    def fold(self) -> int:
        """Write the deterministic gates into the phases: a closed gate prunes its phase, an open one scales it.

        Returns the number of phases pruned.
        """
        from gf_prune.physics import wrap_to_pi

        self.eval()
        n = 0
        for key in self.keys:
            li, mesh, kind = key
            layer = self.model.layers[li]
            p, m = getattr(layer, f"{mesh}_{kind}"), getattr(layer, f"{mesh}_{kind}_mask")
            z = self.gate(key)
            closed = (z <= 0.0) & m
            n += int(closed.sum())
            p.copy_(torch.where(m, z * wrap_to_pi(p), p))
            m &= ~closed
        self.model.apply_masks()
        return n


def l0_method(run: _Runner, model: PhotonicMLP) -> None:
    """Method ``l0``: learned hard-concrete gates (Louizos et al., ICLR 2018), hardened by a rising penalty
    schedule in the spirit of continuous sparsification (Savarese, Silva & Maire, NeurIPS 2020).

    From the trained dense network, one gate logit per eligible phase (``l0_init``: open). For each λ of
    ``l0_lambdas`` in turn, train phases and gate logits together for ``l0_epochs`` with
    ``NLL + λ·(mean expected L0 + l0_group · mean P(MZI keeps a heater))``; the gates persist from stage to
    stage. After each stage a copy is made a real network: the deterministic gates are folded into its phases
    (closed: pruned; open: the phase scaled by its gate), the hardware moves applied (Σ pruning, gauge), and the
    copy fine-tuned for ``finetune_epochs`` and recorded. Every choice is made on validation by the runner; the
    stages stop when a record leaves the budget. With ``lth_continue`` the continuation steps of
    :mod:`gf_prune.prune` follow from the best gated network.
    """
    from gf_prune.train import TrainConfig, fit

    cfg = run.cfg
    gated = GatedMLP(model, cfg.prune_sigma, init_logit=cfg.l0_init)
    for lam in cfg.l0_lambdas:

        def penalize(m: torch.nn.Module, loss: torch.Tensor, lam: float = lam) -> torch.Tensor:
            return loss + lam * m.penalty(cfg.l0_group)  # type: ignore[operator]

        fit(
            gated,
            run.data,
            TrainConfig(
                epochs=cfg.l0_epochs,
                lr=cfg.finetune_lr,
                lr_min_factor=cfg.lr_min_factor,
                seed=cfg.seed,
                device=run.device,
            ),
            penalize=penalize,
        )
        real = copy.deepcopy(gated)
        n = real.fold()
        n_g = run.gauge(real.model)
        run.finetune(real.model)
        rec = run.record(real.model, step=f"l0 λ={lam:g}", l0_lambda=lam, newly_pruned=n, gauge_pruned=n_g)
        if not run.ok(rec) or run.reached_target(rec):
            break
    best = run.best_index()
    model.load_state_dict(run.states[best])
    if cfg.lth_continue and best > 0:  # from the best gated network on: the continuation steps
        from gf_prune.prune import _continue

        _continue(run, model, run.records[best])


# --------------------------------------------------------------------------- second order (OBS / OBC)


def _live_vector(model: PhotonicMLP, prune_sigma: bool) -> list[tuple[int, str, str, int]]:
    out = []
    for li, mesh, kind, _, m in model.phase_items():
        if mesh != "S" or prune_sigma:
            out += [(li, mesh, kind, int(i)) for i in torch.nonzero(m).flatten().tolist()]
    return out


def empirical_fisher(model: PhotonicMLP, data: Any, index: list[tuple[int, str, str, int]], samples: int) -> Any:
    """``G^T G / N``: per-sample gradients of the NLL with respect to the listed phases (N = ``samples``)."""
    import numpy as np

    params = {(li, mesh, kind): p for li, mesh, kind, p, _ in model.phase_items()}
    x, y = data.X_train[:samples], data.y_train[:samples]
    g = np.zeros((len(y), len(index)))
    cols: dict[tuple[int, str, str], tuple[list[int], list[int]]] = {}
    for j, (li, mesh, kind, i) in enumerate(index):
        cols.setdefault((li, mesh, kind), ([], []))
        cols[(li, mesh, kind)][0].append(j)
        cols[(li, mesh, kind)][1].append(i)
    model.eval()
    for s in range(len(y)):
        model.zero_grad(set_to_none=True)
        loss = torch.nn.functional.nll_loss(model(x[s : s + 1]), y[s : s + 1])
        loss.backward()
        for key, (js, iis) in cols.items():
            grad = params[key].grad
            if grad is not None:
                g[s, js] = grad.detach().numpy()[iis]
    model.zero_grad(set_to_none=True)
    return g.T @ g / len(y)


@torch.no_grad()
def obs_prune(run: _Runner, model: PhotonicMLP, n_prune: list[int]) -> int:
    """Optimal brain surgeon with the OBC greedy order (Hassibi & Stork 1993; Frantar & Alistarh, "Optimal
    Brain Compression", NeurIPS 2022) on the phases, with the empirical Fisher as the Hessian.

    One phase at a time: remove the live eligible phase q of least saliency ``w_q² / [H⁻¹]_qq`` (w the signed
    wrapped phase: its distance to 0) within its group's quota (``n_prune`` per layer or global), update the
    others by ``δw = −w_q·H⁻¹[:, q] / [H⁻¹]_qq`` (the compensation), and drop q from H⁻¹ (Schur complement).
    Returns the number pruned.
    """
    import numpy as np

    from gf_prune.physics import wrap_to_pi

    cfg = run.cfg
    index = _live_vector(model, cfg.prune_sigma)
    if not index or sum(n_prune) <= 0:
        return 0
    with torch.enable_grad():
        fisher = empirical_fisher(model, run.data, index, cfg.obs_samples)
    d = len(index)
    fisher += cfg.obs_damp * max(float(np.mean(np.diag(fisher))), 1e-12) * np.eye(d)
    hinv = np.linalg.inv(fisher)
    params = {(li, mesh, kind): p for li, mesh, kind, p, _ in model.phase_items()}
    masks = {(li, mesh, kind): m for li, mesh, kind, _, m in model.phase_items()}
    w = np.array([float(wrap_to_pi(params[(li, mesh, kind)][i])) for li, mesh, kind, i in index])
    group = np.array([li if cfg.scope == "layer" else 0 for li, *_ in index])
    quota = dict(zip(sorted(set(group.tolist())), n_prune, strict=False))
    alive = np.ones(d, bool)
    n = 0
    while True:
        open_groups = [g for g, q in quota.items() if q > 0]
        cand = alive & np.isin(group, open_groups)
        if not cand.any():
            break
        diag = np.clip(np.diag(hinv), 1e-18, None)
        score = np.where(cand, w**2 / diag, np.inf)
        q = int(np.argmin(score))
        col = hinv[:, q].copy()
        w = w - w[q] * col / diag[q]
        w[q] = 0.0
        hinv -= np.outer(col, hinv[q, :]) / diag[q]
        hinv[q, :] = hinv[:, q] = 0.0
        alive[q] = False
        w[~alive] = 0.0
        quota[int(group[q])] -= 1
        n += 1
    for j, (li, mesh, kind, i) in enumerate(index):
        params[(li, mesh, kind)][i] = float(w[j])
        if not alive[j]:
            masks[(li, mesh, kind)][i] = False
    model.apply_masks()
    return n


def obs_prune_to(run: _Runner, model: PhotonicMLP, sparsity: float) -> int:
    """OBS pruning until the eligible sparsity reaches ``sparsity`` in every group (layer or global)."""
    from gf_prune.prune import live_counts, total_counts

    cfg = run.cfg
    live = live_counts(model, cfg.prune_sigma, cfg.scope)
    tot = total_counts(model, cfg.prune_sigma, cfg.scope)
    n_prune = [max(0, n - math.ceil((1 - sparsity) * t - 1e-9)) for n, t in zip(live, tot, strict=True)]
    return obs_prune(run, model, n_prune)


def obs_method(run: _Runner, model: PhotonicMLP) -> None:
    """Method ``obs``: second-order pruning with compensation (Frantar & Alistarh, NeurIPS 2022).

    One-shot rows (retraining-free): from the trained dense network, OBS to each of ``obs_sparsities``
    after the hardware moves, recorded without fine-tuning. Then, from the sparsest one-shot record within
    the budget, the continuation steps of :mod:`gf_prune.prune` with OBS choosing and compensating each step
    (``step_ranking="obs"``) and fine-tuning after it.
    """
    from gf_prune.prune import _continue

    dense_state = copy.deepcopy(model.state_dict())
    best, best_state = None, None
    for s in sorted(run.cfg.obs_sparsities):
        model.load_state_dict(dense_state)
        n_g = run.gauge(model)
        n = obs_prune_to(run, model, s)
        rec = run.record(model, step=f"obs one-shot {s:g}", target=s, newly_pruned=n, gauge_pruned=n_g)
        if run.ok(rec):
            best, best_state = rec, copy.deepcopy(model.state_dict())
    if best is None:
        model.load_state_dict(dense_state)
        best = run.records[0]
    else:
        model.load_state_dict(best_state)
    run.finetune(model)
    rec = run.record(model, step="obs one-shot + fine-tune", target=best.get("target"))
    cfg_step = run.cfg.step_ranking
    if cfg_step == "obs" or cfg_step is None:
        _continue(run, model, rec)


# --------------------------------------------------------------------------- IMP with learning-rate rewinding


def imp_slr_method(run: _Runner, model: PhotonicMLP) -> None:
    """Method ``imp_slr``: iterative magnitude pruning with learning-rate rewinding (Renda, Frankle & Carbin,
    "Comparing rewinding and fine-tuning in neural network pruning", ICLR 2020; the "SLR" schedule of Zimmer,
    Spiegel & Pokutta, ICLR 2023, restarts the same cosine schedule).

    Like ``lth`` (prune ``rate`` then ``rate_late`` of the live eligible phases per round by the configured
    ranking, hardware moves first), but the survivors keep their trained values: only the learning-rate
    schedule is rewound — each round retrains ``finetune_epochs`` from ``lr`` on the full cosine schedule.
    Stops when a round leaves the budget (on validation); then the continuation steps, with ``lth_continue``.
    """
    from gf_prune.prune import _continue, live_counts, prune_lowest

    cfg = run.cfg
    for r in range(1, cfg.max_rounds + 1):
        rate = cfg.rate if r <= cfg.rounds_early else cfg.rate_late
        n_g = run.gauge(model)
        n_prune = [round(rate * n) for n in live_counts(model, cfg.prune_sigma, cfg.scope)]
        n = prune_lowest(model, run.scores(model), n_prune, cfg.scope, cfg.prune_sigma)
        run.finetune(model, lr=cfg.lr, restarts=1, patience=cfg.round_patience)
        rec = run.record(model, step=f"imp-slr round {r}", rate=rate, newly_pruned=n, gauge_pruned=n_g)
        if not run.ok(rec) or run.reached_target(rec) or n == 0:
            break
    if cfg.lth_continue:
        best = run.best_index()
        model.load_state_dict(run.states[best])
        _continue(run, model, run.records[best])


# --------------------------------------------------------------------------- COLT


def colt_method(run: _Runner, model: PhotonicMLP, init: dict[str, torch.Tensor]) -> None:
    """Method ``colt``: cyclic overlapping lottery tickets (Hossain et al., "COLT: Cyclic Overlapping Lottery
    Tickets for Faster Pruning of Convolutional Neural Networks", 2022).

    Each round: two copies of the current ticket are trained from the stored initial phases, each on one half
    of the training split (a fixed, seeded partition), for ``dense_epochs // 2`` (together one round's budget
    of ``lth``); each prunes the bottom ``rate`` (``rate_late`` after ``rounds_early``) of its live eligible
    phases by the configured ranking; a phase survives only if it survives in **both** (the overlap of the two
    tickets). The ticket is then rewound and trained on the whole training split for ``dense_epochs`` and
    recorded. Stops when a round leaves the budget (validation); the continuation steps follow with
    ``lth_continue``.
    """
    from gf_prune.prune import _continue, live_counts, rewind, select_lowest

    cfg = run.cfg
    g = torch.Generator().manual_seed(cfg.seed)
    perm = torch.randperm(len(run.data.y_train), generator=g)
    halves = []
    for part in (perm[: len(perm) // 2], perm[len(perm) // 2 :]):
        d = copy.copy(run.data)
        d.X_train, d.y_train = run.data.X_train[part], run.data.y_train[part]
        halves.append(d)

    def train(m: PhotonicMLP, data: Any, epochs: int) -> None:
        run.finetune(m, epochs, cfg.lr, data=data, restarts=1, patience=cfg.round_patience, teach=False)

    for r in range(1, cfg.max_rounds + 1):
        rate = cfg.rate if r <= cfg.rounds_early else cfg.rate_late
        n_g = run.gauge(model)
        chosen = None
        for half in halves:
            m = copy.deepcopy(model)
            rewind(m, init)
            train(m, half, max(1, cfg.dense_epochs // 2))
            n_prune = [round(rate * n) for n in live_counts(m, cfg.prune_sigma, cfg.scope)]
            sel = select_lowest(m, run.scores(m), n_prune, cfg.scope, cfg.prune_sigma)
            chosen = sel if chosen is None else {k: chosen[k] | v for k, v in sel.items()}  # survivors: overlap
        from gf_prune.prune import apply_selection

        n = apply_selection(model, chosen or {})
        rewind(model, init)
        train(model, run.data, cfg.dense_epochs)
        rec = run.record(model, step=f"colt round {r}", rate=rate, newly_pruned=n, gauge_pruned=n_g)
        if not run.ok(rec) or run.reached_target(rec) or n == 0:
            break
    if cfg.lth_continue:
        best = run.best_index()
        model.load_state_dict(run.states[best])
        _continue(run, model, run.records[best])


# --------------------------------------------------------------------------- network slimming


def sigma_amplitudes(model: PhotonicMLP) -> list[torch.Tensor]:
    """|t| = |cos(θ/2)| of every Σ attenuator, per layer (differentiable)."""
    return [torch.cos(layer.phase("S", "theta") / 2).abs() for layer in model.layers]


def slimming_method(run: _Runner, model: PhotonicMLP) -> None:
    """Method ``slimming``: network slimming (Liu et al., "Learning efficient convolutional networks through
    network slimming", ICCV 2017) with L1 on the Σ amplitudes, and structured mode pruning.

    For each weight of ``slim_l1`` in turn: train with ``NLL + λ·mean |t_j|`` (the L1 of the Σ amplitudes,
    the channel scaling factors of a photonic layer) for ``finetune_epochs``; every mode whose amplitude is
    below ``slim_threshold`` of its layer's largest is **cut**: its attenuator set to block (θ = π), then the
    MZIs that reach only cut modes (V) or carry only their darkness (U) are pruned by the full gauge
    (``cut_tol``); the hardware moves follow; fine-tune, record (``modes_cut``). In this model a cut mode's
    attenuator still holds θ = π (a live heater at P_π); laying the smaller meshes out without it is left for
    later. The phase-level pruning of the other methods can follow from the best slimmed network
    (``lth_continue``: the continuation steps).
    """
    from gf_prune.prune import _continue
    from gf_prune.train import TrainConfig, fit

    cfg = run.cfg
    cut_total = 0
    for lam in cfg.slim_l1:

        def penalize(m: torch.nn.Module, loss: torch.Tensor, lam: float = lam) -> torch.Tensor:
            return loss + lam * torch.cat(sigma_amplitudes(m)).mean()  # type: ignore[arg-type]

        fit(
            model,
            run.data,
            TrainConfig(
                epochs=cfg.finetune_epochs,
                lr=cfg.finetune_lr,
                lr_min_factor=cfg.lr_min_factor,
                seed=cfg.seed,
                device=run.device,
            ),
            penalize=penalize,
        )
        with torch.no_grad():
            for layer, amp in zip(model.layers, sigma_amplitudes(model), strict=True):
                cut = (amp < cfg.slim_threshold * amp.max()) & layer.S_theta_mask
                layer.S_theta[cut] = math.pi
                cut_total += int(cut.sum())
        res = gauge_network_full(model, prune=True, prune_sigma=cfg.prune_sigma or cfg.sigma_tol > 0, cut_tol=1e-9)
        n_g = run.gauge(model)
        run.finetune(model, restarts=1, teach=False)
        rec = run.record(
            model, step=f"slimming λ={lam:g}", modes_cut=cut_total, mode_pruned=sum(res.dead_phases), gauge_pruned=n_g
        )
        if not run.ok(rec):
            break
    if cfg.lth_continue:
        best = run.best_index()
        model.load_state_dict(run.states[best])
        _continue(run, model, run.records[best])
