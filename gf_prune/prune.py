"""Hardware-aware pruning in the phase domain: magnitude, lottery tickets, gradual, and the weight-domain contrast.

Pruning a phase means fixing it at 0: its heater is off or not built (docs/design.md). Every method here works
on the phases of a :class:`~gf_prune.model.PhotonicMLP` through its mask buffers (a pruned phase is exactly
0 in the forward pass, its gradient is 0, and the stored value is reset to 0 after every optimiser step).

Methods (``PruneConfig.method``):

``magnitude_oneshot``
    Banerjee et al.'s baseline: train dense, prune every phase whose score is below ``α·σ_layer`` (σ of the
    layer's phases) for each α of ``alphas``, fine-tune each. One round per α, all from the dense network.
``magnitude_iterative``
    The same threshold raised in steps of ``α·σ_layer/steps`` with fine-tuning after each step.
``lth``
    Lottery tickets (iterative magnitude pruning with rewinding): train, prune the bottom ``rate`` of the live
    phases (``scope="layer"``: of each layer; ``"global"``: of the whole network), rewind the survivors to
    the stored initial phases, retrain; ``rate`` for ``rounds_early`` rounds, then ``rate_late``. Stops at
    ``max_loss`` or ``target_sparsity``, keeping the last good round. With ``lth_continue`` (default) it then
    goes on from the last good ticket in ``extra_step`` steps without rewinding (the continuation below).
``gradual``
    Prunes during one training run along a cubic (Zhu & Gupta) or one-cycle (raised-cosine) sparsity
    schedule up to ``final_sparsity``, optionally with a soft shrink of live phases towards 0, then fine-tunes;
    then continues in ``extra_step`` steps with fine-tuning while the accuracy stays within ``max_loss``.
    Its mid-run ``milestones`` records are snapshots straight after hard pruning steps (not fine-tuned).

Continuation step (gradual, ``lth_continue``): rank by ``step_ranking`` (default: measured loss saliency),
pull the chosen phases softly to 0 for ``soft_epochs``, fix them, fine-tune ``finetune_epochs``, record.
``weight_domain``
    The hardware-unaware contrast: prune the smallest |W_ij| of each trained layer, decompose the sparse W
    back into meshes and count how many phases came out 0 (almost none: a sparse W has dense U and V).

Ranking (``PruneConfig.ranking``): ``"wrap"`` (default) scores a phase by its circular distance to 0 — a
phase at 1.98π is 0.02π from zero; ``"magnitude"`` by ``|phase|`` as stored (replication of plain magnitude
pruning); ``"saliency"`` by the training-loss increase when that phase alone is set to 0 (measured, not a
Taylor estimate). ``complete_mzis`` discounts the score of a phase whose MZI partner (θ↔φ) is already
pruned, so whole MZIs are completed and can be removed. θ and φ are ranked together and counted apart; Σ
phases are pruned only with ``prune_sigma=True``. With ``gauge=True`` the free diagonal phases of every
layer (:mod:`gf_prune.gauge`) zero phases without changing the network's outputs, before and during pruning.

Entry point: :func:`run_pruning` → :class:`PruneResult`; :func:`write_prune_record` writes the per-round
record as JSON and a plot.
"""

from __future__ import annotations

import copy
import math
import time
import typing
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from gf_prune.checkpoint import replaying as _replaying
from gf_prune.config import PruneConfig, PruneConfigError  # noqa: F401 (PruneConfigError re-exported)
from gf_prune.data import Dataset
from gf_prune.gauge import gauge_network
from gf_prune.model import PhotonicMLP, SVDLayer
from gf_prune.physics import circular_distance
from gf_prune.power import power_report
from gf_prune.prune_record import (  # noqa: F401 (re-exported)
    RECORD_FORMAT,
    PruneResult,
    make_record,
    plot_records,
    tqdm_progress,
    validation_split,
    write_prune_record,
)
from gf_prune.prune_scores import (  # noqa: F401 (re-exported)
    RANKINGS,
    SALIENCY_CHUNK,
    _discount_partners,
    _saliency_loop,
    apply_selection,
    check_finite_phases,
    eligible,
    initial_state,
    live_counts,
    phase_scores,
    prune_lowest,
    rewind,
    saliency_scores,
    select_lowest,
    signed_phase,
    total_counts,
)
from gf_prune.train import TrainConfig, fit

METHODS = typing.get_args(PruneConfig.model_fields["method"].annotation)  # the one list: the config's Literal
RANKING_TEXT = {
    "wrap": "wrap-aware magnitude (circular distance of the phase to 0)",
    "magnitude": "plain magnitude |phase| of the stored phase (not wrap-aware)",
    "saliency": "saliency: training-loss increase when the phase alone is set to 0",
    "obs": "second order (OBS/OBC): w²/[F⁻¹]_qq with the empirical Fisher, others compensated",
}


# --------------------------------------------------------------------------- training


def shrink_penalty(
    model: PhotonicMLP, prune_sigma: bool, shrink: float = 1.0, negative: float = 0.0, sigma_penalty: bool = True
) -> torch.Tensor:
    """``shrink ·`` mean circular distance to 0 of the live phases (differentiable).

    Σ phases are included (they burn power too) when ``prune_sigma`` is True or ``sigma_penalty`` is set.

    With ``negative`` > 0, ``negative ·`` the mean negative part of the wrapped phase is added: a phase
    slightly below 0 is close to 0 on the circle but costs almost 2·P_π.
    """
    terms, n = [], 0
    for _, mesh, _, p, m in model.phase_items():
        if eligible(mesh, prune_sigma or sigma_penalty):
            t = shrink * circular_distance(p)
            if negative > 0:
                t = t + negative * torch.relu(-signed_phase(p))
            terms.append((t * m).sum())
            n += int(m.sum())
    return torch.stack(terms).sum() / max(n, 1)


def train_phases(
    model: PhotonicMLP,
    data: Dataset,
    epochs: int,
    lr: float,
    *,
    lr_min_factor: float = 0.05,
    restarts: int = 1,
    shrink: float = 0.0,
    power_aware: float = 0.0,
    prune_sigma: bool = False,
    seed: int = 0,
    on_epoch: Callable[[int, PhotonicMLP], None] | None = None,
    targets: dict[tuple[int, str, str], torch.Tensor] | None = None,
    target_weight: float = 1.0,
    batch_size: int | None = None,
    patience: int | None = None,
    teacher: nn.Module | None = None,
    distill: float = 0.0,
    device: str | None = None,
) -> float:
    """Adam on the phases (:func:`gf_prune.train.fit`) with the pruning penalties; masks hold after every step.

    ``shrink`` adds ``shrink · mean circular distance`` of the live eligible phases to the NLL loss.
    ``on_epoch(epoch, model)`` runs after each epoch (the gradual schedule prunes there).
    ``targets`` (bool masks per (layer, mesh, kind)) adds ``target_weight ·`` the summed circular distance of
    those phases: soft shrinking towards 0 before they are fixed. ``patience``: early stopping on the
    validation loss (the best validation state is kept). ``teacher`` with ``distill`` > 0 adds
    ``distill ·`` KL(teacher ‖ model) of the class probabilities on the training inputs (knowledge
    distillation, Hinton, Vinyals & Dean 2015, from the dense network during fine-tuning); the term is computed
    on the full training set each step. ``device``: the torch device of the loop (:class:`TrainConfig`).
    Returns the last training loss.
    """
    if epochs <= 0 or (on_epoch is None and _replaying()):  # a resumed run skips checkpointed training
        return float("nan")

    soft = None
    if teacher is not None and distill > 0:
        with torch.no_grad():
            soft = teacher(data.X_train).detach()  # log-probabilities of the dense network

    def penalize(m: nn.Module, loss: torch.Tensor) -> torch.Tensor:
        if soft is not None:
            dev = loss.device
            kl = nn.functional.kl_div(m(data.X_train.to(dev)), soft.to(dev), log_target=True, reduction="batchmean")
            loss = loss + distill * kl
        if shrink > 0 or power_aware > 0:
            loss = loss + shrink_penalty(m, prune_sigma, shrink, power_aware)
        if targets is not None:  # soft shrinking of the phases about to be pruned
            loss = loss + target_weight * sum(
                (circular_distance(p) * targets[(li, mesh, kind)].to(p.device)).sum()
                for li, mesh, kind, p, _ in m.phase_items()
            )
        return loss

    use_penalty = shrink > 0 or power_aware > 0 or targets is not None or soft is not None
    cfg = TrainConfig(
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        lr_min_factor=lr_min_factor,
        restarts=restarts,
        patience=patience,
        seed=seed,
        device=device,
    )
    res = fit(model, data, cfg, penalize=penalize if use_penalty else None, after_epoch=on_epoch)
    return res.loss


class _Runner:
    """Shared state of a run: data, config, dense reference, snapshots, progress."""

    def __init__(self, data: Dataset, cfg: PruneConfig, progress: Callable[[dict[str, Any]], None] | None) -> None:
        self.data, self.cfg, self.progress = data, cfg, progress
        self.records: list[dict[str, Any]] = []
        self.states: list[dict[str, Any]] = []
        self.dense_acc = 0.0  # validation accuracy of the dense network: the budget's reference
        self.dense_power = 0.0
        self.checkpoint: Any = None  # a gf_prune.checkpoint.PruneCheckpoint (resumable runs)
        self.teacher: PhotonicMLP | None = None  # the dense network (distillation)
        self.device: str | None = None  # torch device of the training loops (gf_prune.device); models stay on CPU

    def record(self, model: PhotonicMLP, **info: Any) -> dict[str, Any]:
        # checkpoint hook (gf_prune.checkpoint): a resumed run replays its checkpointed records
        ck = self.checkpoint
        rec = ck.replay(model, len(self.records), info) if ck is not None else None
        resumed = rec is not None
        if rec is None:
            rec = make_record(model, self.data, self.cfg, self.dense_power or None, round=len(self.records), **info)
        self.records.append(rec)
        self.states.append(copy.deepcopy(model.state_dict()))
        if ck is not None:
            ck.save(self.records, self.states)
        if self.progress is not None:
            self.progress({**rec, "resumed": True} if resumed else rec)
        return rec

    def ok(self, rec: dict[str, Any]) -> bool:
        """Within the accuracy budget, judged on the validation split."""
        return rec["acc_val"] >= self.dense_acc - self.cfg.max_loss - 1e-12

    def reached_target(self, rec: dict[str, Any]) -> bool:
        t = self.cfg.target_sparsity
        return t is not None and rec["sparsity_uv"] >= t - 1e-12

    def finetune(
        self,
        model: PhotonicMLP,
        epochs: int | None = None,
        lr: float | None = None,
        *,
        data: Dataset | None = None,
        restarts: int | None = None,
        patience: int | None = None,
        teach: bool = True,
    ) -> None:
        """Train with the run's penalties: ``finetune_epochs`` at ``finetune_lr`` with ``restarts`` cycles unless
        given; the dense network as teacher when ``distill`` > 0 and ``teach``."""
        c = self.cfg
        train_phases(
            model,
            self.data if data is None else data,
            c.finetune_epochs if epochs is None else epochs,
            c.finetune_lr if lr is None else lr,
            lr_min_factor=c.lr_min_factor,
            restarts=c.restarts if restarts is None else restarts,
            shrink=c.shrink,
            power_aware=c.power_aware,
            prune_sigma=c.prune_sigma,
            seed=c.seed,
            patience=patience,
            teacher=self.teacher if (teach and c.distill > 0) else None,
            distill=c.distill if teach else 0.0,
            device=self.device,
        )

    def gauge(self, model: PhotonicMLP) -> int:
        if not self.cfg.gauge:
            return 0
        if self.cfg.gauge_full or self.cfg.sigma_tol > 0:  # issue 12: Σ pruning, conditional gauge
            from gf_prune.prune_methods import hardware_moves

            return hardware_moves(self, model)
        return gauge_network(model, prune=True, prune_sigma=self.cfg.prune_sigma).pruned_uv

    def scores(self, model: PhotonicMLP, ranking: str | None = None) -> list[Any]:
        s = phase_scores(model, ranking or self.cfg.ranking, self.data, self.cfg.saliency_samples)
        return _discount_partners(model, s, self.cfg.complete_mzis)

    def best_index(self, select: bool = False) -> int:
        """Sparsest round within ``max_loss`` (the search budget) or, with ``select``, within ``select_loss``
        (the budget of the network handed on); judged on validation."""
        budget = self.cfg.max_loss if not select or self.cfg.select_loss is None else self.cfg.select_loss
        best = 0
        for i, rec in enumerate(self.records):
            ok = rec["acc_val"] >= self.dense_acc - budget - 1e-12
            if i and ok and rec["sparsity_uv"] >= self.records[best]["sparsity_uv"]:
                best = i
        return best


# --------------------------------------------------------------------------- methods


def _threshold_prune(model: PhotonicMLP, cfg: PruneConfig, sigmas: dict[int, float], alpha: float) -> int:
    """Prune live eligible phases with |signed phase| (wrap) or |phase| < α·σ_layer."""
    n = 0
    with torch.no_grad():
        for li, mesh, _, p, m in model.phase_items():
            if not eligible(mesh, cfg.prune_sigma):
                continue
            s = circular_distance(p) if cfg.ranking == "wrap" else p.abs()
            cut = (s < alpha * sigmas[li]) & m
            n += int(cut.sum())
            m &= ~cut
        model.apply_masks()
    return n


def _layer_sigmas(model: PhotonicMLP, cfg: PruneConfig) -> dict[int, float]:
    """σ of each layer's eligible phases (signed wrapped phase for wrap ranking, raw phase otherwise)."""
    vals: dict[int, list[torch.Tensor]] = {}
    for li, mesh, _, p, m in model.phase_items():
        if eligible(mesh, cfg.prune_sigma):
            v = signed_phase(p.detach()) if cfg.ranking == "wrap" else p.detach()
            vals.setdefault(li, []).append(v[m])
    return {li: float(torch.cat(v).std()) for li, v in vals.items()}


def _magnitude_oneshot(run: _Runner, model: PhotonicMLP) -> None:
    dense_state = copy.deepcopy(model.state_dict())
    sigmas = _layer_sigmas(model, run.cfg)
    for alpha in sorted(run.cfg.alphas):
        model.load_state_dict(dense_state)
        n_g = run.gauge(model)
        n = _threshold_prune(model, run.cfg, sigmas, alpha)
        run.finetune(model)
        run.record(model, step=f"alpha={alpha:g}", alpha=alpha, newly_pruned=n, gauge_pruned=n_g)
    model.load_state_dict(dense_state)


def _magnitude_iterative(run: _Runner, model: PhotonicMLP) -> None:
    cfg = run.cfg
    sigmas = _layer_sigmas(model, cfg)
    for r in range(1, cfg.max_rounds + 1):
        alpha = r * cfg.alpha / cfg.steps
        n_g = run.gauge(model)
        n = _threshold_prune(model, cfg, sigmas, alpha)
        run.finetune(model)
        rec = run.record(model, step=f"alpha={alpha:g}", alpha=alpha, newly_pruned=n, gauge_pruned=n_g)
        if not run.ok(rec) or run.reached_target(rec):
            break


def _lth(run: _Runner, model: PhotonicMLP, init: dict[str, torch.Tensor]) -> None:
    cfg = run.cfg
    for r in range(1, cfg.max_rounds + 1):
        rate = cfg.rate if r <= cfg.rounds_early else cfg.rate_late
        n_g = run.gauge(model)
        live = live_counts(model, cfg.prune_sigma, cfg.scope)
        n_prune = [round(rate * n) for n in live]
        if cfg.target_sparsity is not None:  # do not overshoot the target
            tot = total_counts(model, cfg.prune_sigma, cfg.scope)
            n_prune = [
                min(k, max(0, n - math.ceil((1 - cfg.target_sparsity) * t)))
                for k, n, t in zip(n_prune, live, tot, strict=True)
            ]
        n = prune_lowest(model, run.scores(model), n_prune, cfg.scope, cfg.prune_sigma)
        rewind(model, init)
        train_phases(
            model,
            run.data,
            cfg.dense_epochs,
            cfg.lr,
            lr_min_factor=cfg.lr_min_factor,
            restarts=cfg.restarts,
            shrink=cfg.shrink,
            power_aware=cfg.power_aware,
            prune_sigma=cfg.prune_sigma,
            seed=cfg.seed,
            patience=cfg.round_patience,
            device=run.device,
        )
        rec = run.record(model, step=f"round {r}", rate=rate, newly_pruned=n, gauge_pruned=n_g)
        if not run.ok(rec) or run.reached_target(rec) or n == 0:
            break
    if cfg.lth_continue:  # from the last good ticket on: small steps without rewinding
        best = run.best_index()
        model.load_state_dict(run.states[best])
        _continue(run, model, run.records[best])


def sparsity_schedule(t: float, final: float, kind: str) -> float:
    """Target sparsity at training progress ``t`` ∈ [0, 1] of the pruning window.

    ``cubic``: ``s_f·(1 − (1 − t)³)`` (Zhu & Gupta 2017); ``one_cycle``: ``s_f·(1 − cos πt)/2``.
    """
    t = min(max(t, 0.0), 1.0)
    if kind == "cubic":
        return final * (1.0 - (1.0 - t) ** 3)
    if kind == "one_cycle":
        return final * 0.5 * (1.0 - math.cos(math.pi * t))
    raise ValueError(f"schedule must be 'cubic' or 'one_cycle', got {kind!r}")


def _prune_to(run: _Runner, model: PhotonicMLP, sparsity: float, ranking: str | None = None, soft: bool = False) -> int:
    """Prune (by the configured ranking) until the eligible sparsity reaches ``sparsity`` in every group."""
    cfg = run.cfg
    live = live_counts(model, cfg.prune_sigma, cfg.scope)
    tot = total_counts(model, cfg.prune_sigma, cfg.scope)
    n_prune = [max(0, n - math.ceil((1 - sparsity) * t - 1e-9)) for n, t in zip(live, tot, strict=True)]
    if sum(n_prune) == 0:
        return 0
    chosen = select_lowest(model, run.scores(model, ranking), n_prune, cfg.scope, cfg.prune_sigma)
    if soft and cfg.soft_epochs > 0:
        train_phases(
            model,
            run.data,
            cfg.soft_epochs,
            cfg.finetune_lr,
            lr_min_factor=1.0,
            shrink=cfg.shrink,
            power_aware=cfg.power_aware,
            prune_sigma=cfg.prune_sigma,
            seed=cfg.seed,
            targets=chosen,
            target_weight=cfg.soft_weight,
            device=run.device,
        )
    return apply_selection(model, chosen)


def _gradual(run: _Runner, model: PhotonicMLP) -> None:
    cfg = run.cfg
    n_g = run.gauge(model)
    t0, t1 = cfg.start_frac * cfg.gradual_epochs, cfg.end_frac * cfg.gradual_epochs
    next_mark = [cfg.milestones]

    def on_epoch(epoch: int, m: PhotonicMLP) -> None:
        if epoch + 1 < t0 or (epoch + 1) % cfg.prune_every or epoch + 1 > t1 + cfg.prune_every:
            return
        s = sparsity_schedule((epoch + 1 - t0) / max(t1 - t0, 1), cfg.final_sparsity, cfg.schedule)
        _prune_to(run, m, s)
        if cfg.gauge:
            gauge_network(m, prune=True, prune_sigma=cfg.prune_sigma)
        if cfg.milestones > 0 and s >= next_mark[0] - 1e-12:  # a snapshot in mid-run: a real, usable network
            while next_mark[0] <= s + 1e-12:
                next_mark[0] += cfg.milestones
            run.record(m, step=f"gradual epoch {epoch + 1}", target=s)
            m.train()

    train_phases(
        model,
        run.data,
        cfg.gradual_epochs,
        cfg.finetune_lr,
        lr_min_factor=cfg.lr_min_factor,
        restarts=1,
        shrink=cfg.shrink,
        power_aware=cfg.power_aware,
        prune_sigma=cfg.prune_sigma,
        seed=cfg.seed,
        on_epoch=on_epoch,
        device=run.device,
    )
    _prune_to(run, model, cfg.final_sparsity)
    run.finetune(model)
    rec = run.record(model, step="gradual", target=cfg.final_sparsity, gauge_pruned=n_g)
    _continue(run, model, rec)


def _continue(run: _Runner, model: PhotonicMLP, rec: dict[str, Any]) -> None:
    """Continuation: prune ``extra_step`` more (``step_ranking``, soft shrink first), fine-tune, record;
    stop when the accuracy loss exceeds ``max_loss`` or the target is reached."""
    cfg = run.cfg
    sparsity = rec["sparsity_uv"]
    for _ in range(cfg.max_steps):
        if not run.ok(rec) or run.reached_target(rec):
            break
        # from where the network is now: gauge moves may already have zeroed more than the last target
        sparsity = (rec["sparsity_uv"] if cfg.scope == "global" else max(sparsity, rec["sparsity_uv"])) + cfg.extra_step
        if cfg.target_sparsity is not None:
            sparsity = min(sparsity, cfg.target_sparsity)
        if sparsity >= 1.0:
            break
        if cfg.step_ranking == "obs":  # issue 12: second order with compensation
            from gf_prune.prune_methods import obs_prune_to

            n = obs_prune_to(run, model, min(sparsity, 0.999))
        else:
            n = _prune_to(run, model, min(sparsity, 0.999), cfg.step_ranking, soft=True)
        if cfg.gauge_full or cfg.sigma_tol > 0:  # Σ pruning and the conditional gauge in every step
            n += run.gauge(model)
        run.finetune(model)
        rec = run.record(model, step=f"step to {sparsity:.3f}", target=sparsity, newly_pruned=n)


def _weight_domain(run: _Runner, model: PhotonicMLP) -> None:
    """Prune |W_ij| per layer, decompose, count phases that came out 0 (tolerance 1e-9 rad)."""
    mats = [w.detach().numpy() for w in model.matrices()]
    for s in sorted(run.cfg.weight_sparsities):
        pm = PhotonicMLP(model.config["sizes"], model.config["mesh_kind"], model.zero_state)
        for i, w in enumerate(mats):
            w = w.copy()
            mag = np.abs(w).ravel()
            k = round(s * mag.size)
            if k:
                cut = np.partition(mag, k - 1)[k - 1]
                w[np.abs(w) <= cut] = 0.0
            layer = SVDLayer.from_matrix(w, model.config["mesh_kind"], model.zero_state, output_phases=False)
            with torch.no_grad():
                for _, _, p, m in layer.phase_items():
                    m.copy_(circular_distance(p) > 1e-9)
            layer.apply_masks()
            pm.layers[i] = layer
        run.record(pm, step=f"W sparsity {s:g}", weight_sparsity=s)


# --------------------------------------------------------------------------- entry point


def run_pruning(
    model: PhotonicMLP,
    data: Dataset,
    config: PruneConfig | dict[str, Any] | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    trained: PhotonicMLP | None = None,
    checkpoint: Any = None,
    device: str | None = None,
) -> PruneResult:
    """Train ``model`` dense (``dense_epochs``), prune it with ``config.method`` and return the best round
    (chosen on validation).

    Args:
        model: the network; its phases are the initialisation that lottery tickets rewind to. It is not
            modified: the run works on a copy.
        data: train/validation/test data; rounds are judged on validation against the dense network (the
            accuracy budget ``max_loss``); the test split is only evaluated for the records.
        config: a :class:`PruneConfig` or a dict (validated; unknown keys and bad values raise
            :class:`PruneConfigError`).
        progress: called with each per-round record as it is made (see :func:`tqdm_progress`).
        trained: the same network already trained dense from ``model``'s phases (e.g. by ``gf-prune
            train``); the dense training is then skipped and ``model`` is only the rewinding point.
        checkpoint: a :class:`gf_prune.checkpoint.PruneCheckpoint` (entered as a context): written after
            every record; its records are replayed instead of recomputed (resumption after a kill).
        device: torch device of every training loop (``cpu``, ``cuda``, …; None: the model's, the CPU);
            scoring, gauge moves and records run on the CPU.

    Returns:
        :class:`PruneResult` with the best pruned model (highest U/V phase sparsity within ``max_loss``),
        the dense accuracy and power, every round's record and the ranking used.
    """
    cfg = PruneConfig.parse(config)
    if not isinstance(model, PhotonicMLP):
        raise TypeError(f"model must be a PhotonicMLP, got {type(model).__name__}")
    check_finite_phases(model)
    t_start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    model = copy.deepcopy(model)
    init = initial_state(model)
    run = _Runner(data, cfg, progress)
    run.checkpoint = checkpoint
    run.device = device
    if checkpoint is not None and trained is None:
        raise ValueError("a pruning checkpoint needs the trained dense model (trained=…): it replays from it")
    if trained is not None:
        if not isinstance(trained, PhotonicMLP) or trained.config["sizes"] != model.config["sizes"]:
            raise ValueError("trained must be a PhotonicMLP of the same sizes as model")
        check_finite_phases(trained)
        model.load_state_dict(trained.state_dict())
    else:
        train_phases(
            model, data, cfg.dense_epochs, cfg.lr, lr_min_factor=cfg.lr_min_factor, seed=cfg.seed, device=device
        )
    dense_model = copy.deepcopy(model)
    run.teacher = dense_model
    run.dense_power = power_report(model.to_phases(), cfg.p_pi_mw)["power_mw"]["total"]
    rec0 = run.record(model, step="dense")
    run.dense_acc = rec0["acc_val"]
    rec0["power_saved"] = 0.0
    if cfg.method == "magnitude_oneshot":
        _magnitude_oneshot(run, model)
    elif cfg.method == "magnitude_iterative":
        _magnitude_iterative(run, model)
    elif cfg.method == "lth":
        _lth(run, model, init)
    elif cfg.method == "gradual":
        _gradual(run, model)
    elif cfg.method == "colt":  # issue 12: gf_prune.prune_methods
        from gf_prune.prune_methods import colt_method

        colt_method(run, model, init)
    elif cfg.method in ("l0", "obs", "imp_slr", "slimming"):
        from gf_prune import prune_methods

        getattr(prune_methods, f"{cfg.method}_method")(run, model)
    else:
        _weight_domain(run, model)
    if cfg.final_gauge and cfg.gauge and cfg.method != "weight_domain":
        from gf_prune.prune_methods import final_gauge

        final_gauge(run, model)
    best = run.best_index(select=True)
    out = copy.deepcopy(dense_model)
    out.load_state_dict(run.states[best])
    out.apply_masks()
    for rec in run.records:
        rec["accuracy_loss"] = rec0["acc_test"] - rec["acc_test"]
        rec["val_accuracy_loss"] = run.dense_acc - rec["acc_val"]
        rec["within_max_loss"] = bool(run.ok(rec))
        rec["within_select_loss"] = bool(
            rec["acc_val"] >= run.dense_acc - (cfg.select_loss if cfg.select_loss is not None else cfg.max_loss) - 1e-12
        )
    return PruneResult(
        model=out,
        dense_accuracy=rec0["acc_test"],
        dense_val_accuracy=run.dense_acc,
        dense_power_mw=run.dense_power,
        records=run.records,
        best_round=best,
        ranking=ranking_text(cfg),
        config=cfg.model_dump(),
        wall_s=time.perf_counter() - t_start,
        dense_model=dense_model,
    )


def ranking_text(cfg: PruneConfig) -> str:
    """Which ranking a run used, in words (for the report)."""
    if cfg.method == "weight_domain":
        return "weight domain: smallest |W_ij| pruned, then decomposed (phases are not ranked)"
    text = RANKING_TEXT[cfg.ranking]
    continues = cfg.method == "gradual" or (cfg.method == "lth" and cfg.lth_continue)
    if continues and cfg.step_ranking not in (None, cfg.ranking):
        text = f"{cfg.method} rounds: {text}; continuation steps: {RANKING_TEXT[cfg.step_ranking]}"
    if cfg.complete_mzis > 0:
        text += f"; scores of phases whose MZI partner is pruned × {1 - cfg.complete_mzis:g} (whole-MZI completion)"
    return text
