"""The one training loop on the phases: Adam, full batch or mini-batches, cosine learning rate with optional
warm restarts, optional penalty terms, early stopping on the validation split. Seeded and deterministic on CPU;
``TrainConfig.device`` runs the loop on another torch device (:mod:`gf_prune.device`), same draws, results equal
to float tolerance.

Dense training (``gf-prune train``), every fine-tuning of the pruning methods (:func:`gf_prune.prune.train_phases`)
go through :func:`fit`. Selection uses the validation split only; the test split is never looked at here.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from gf_prune.data import Dataset
from gf_prune.device import model_device


@dataclass
class TrainConfig:
    """How to train: ``epochs`` is the most; with ``patience`` training stops after that many epochs without a
    lower validation loss (checked every ``eval_every`` epochs) and the best validation state is restored."""

    epochs: int = 300
    lr: float = 0.02
    batch_size: int | None = None  # None: full batch
    lr_min_factor: float = 0.05  # cosine decay to lr·factor
    restarts: int = 1  # cosine cycles
    patience: int | None = None
    eval_every: int = 10
    seed: int = 0
    device: str | None = None  # None: where the model is; else the model is moved there and back


@dataclass
class TrainResult:
    train_acc: float
    val_acc: float
    loss: float
    epochs_run: int = 0
    best_epoch: int = 0
    history: list[float] = field(default_factory=list)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of samples whose predicted class is the label."""
    if len(y) == 0:
        return float("nan")
    dev = model_device(model)
    return float((model(x.to(dev)).argmax(-1) == y.to(dev)).double().mean())


@torch.no_grad()
def nll(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean negative log-likelihood of the labels (the training loss without penalties)."""
    dev = model_device(model)
    return float(nn.functional.nll_loss(model(x.to(dev)), y.to(dev)))


def validation_or_none(data: Dataset) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(X_val, y_val), or None when the data has no (or an empty) validation split."""
    xv, yv = getattr(data, "X_val", None), getattr(data, "y_val", None)
    if xv is None or yv is None or len(yv) == 0:
        return None
    return xv, yv


def fit(
    model: nn.Module,
    data: Dataset,
    cfg: TrainConfig | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    *,
    penalize: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
    objective: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    after_epoch: Callable[[int, nn.Module], None] | None = None,
) -> TrainResult:
    """Train ``model`` (log-prob outputs) with NLL loss; pruned phases stay exactly 0.

    ``penalize(model, loss)`` returns the loss with penalty terms added (pruning's shrink terms);
    ``objective(model, x, y)`` replaces the NLL of ``model(x)`` (e.g. the mean NLL over sampled imperfect chips).

    ``on_epoch(epoch, loss)`` reports progress; ``after_epoch(epoch, model)`` may change the model (a
    gradual pruning schedule prunes there; early stopping is then off, since the model changes under it).

    With ``cfg.device`` the model is moved there for the loop (data batches follow it) and back to its own
    device afterwards, also around each ``after_epoch`` call; the mini-batch order is drawn on the CPU, so it
    is the same on every device.
    """
    cfg = cfg or TrainConfig()
    if cfg.epochs < 0 or cfg.lr <= 0:
        raise ValueError(f"epochs must be ≥ 0 and lr > 0, got {cfg.epochs}, {cfg.lr}")
    home = model_device(model)
    dev = torch.device(cfg.device) if cfg.device is not None else home
    if dev == home:
        return _fit(model, data, cfg, on_epoch, penalize, objective, after_epoch, dev)
    model.to(dev)
    try:
        if after_epoch is not None:
            user_after = after_epoch

            def after_epoch(epoch: int, m: nn.Module) -> None:  # the callback sees the model at home
                m.to(home)
                try:
                    user_after(epoch, m)
                finally:
                    m.to(dev)

        return _fit(model, data, cfg, on_epoch, penalize, objective, after_epoch, dev)
    finally:
        model.to(home)


def _fit(
    model: nn.Module,
    data: Dataset,
    cfg: TrainConfig,
    on_epoch: Callable[[int, float], None] | None,
    penalize: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None,
    objective: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None,
    after_epoch: Callable[[int, nn.Module], None] | None,
    dev: torch.device,
) -> TrainResult:
    """:func:`fit`'s loop, with the model on ``dev``."""
    x, y = data.X_train.to(dev), data.y_train.to(dev)
    val = validation_or_none(data)
    val = (val[0].to(dev), val[1].to(dev)) if val is not None else None
    n = len(y)
    history: list[float] = []
    loss_val = float("nan")
    best_epoch, epoch = 0, -1
    if cfg.epochs == 0:
        model.eval()
        return TrainResult(accuracy(model, x, y), accuracy(model, *val) if val else float("nan"), loss_val)
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    cycle = max(1, math.ceil(cfg.epochs / max(cfg.restarts, 1)))
    loss_fn = nn.NLLLoss()
    early = cfg.patience is not None and val is not None and after_epoch is None
    best_loss, best_state = math.inf, None
    model.train()
    for epoch in range(cfg.epochs):
        t = (epoch % cycle) / cycle
        for group in opt.param_groups:
            group["lr"] = cfg.lr * (cfg.lr_min_factor + (1 - cfg.lr_min_factor) * 0.5 * (1 + math.cos(math.pi * t)))
        perm = torch.randperm(n, generator=g) if cfg.batch_size and cfg.batch_size < n else None
        bs = cfg.batch_size if perm is not None else n
        for start in range(0, n, bs):
            idx = perm[start : start + bs].to(dev) if perm is not None else slice(None)
            opt.zero_grad(set_to_none=True)
            loss = objective(model, x[idx], y[idx]) if objective is not None else loss_fn(model(x[idx]), y[idx])
            if penalize is not None:
                loss = penalize(model, loss)
            loss.backward()
            opt.step()
            if hasattr(model, "apply_masks"):
                model.apply_masks()
            loss_val = float(loss.detach())
            if not math.isfinite(loss_val):
                raise FloatingPointError(f"training diverged at epoch {epoch} (loss {loss_val})")
        history.append(loss_val)
        if on_epoch is not None:
            on_epoch(epoch, loss_val)
        if after_epoch is not None:
            after_epoch(epoch, model)
        if early and ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs):
            vl = nll(model, *val)
            if vl < best_loss - 1e-9:
                best_loss, best_epoch, best_state = vl, epoch + 1, copy.deepcopy(model.state_dict())
            elif epoch + 1 - best_epoch >= cfg.patience:  # type: ignore[operator]
                break
            model.train()
    if early and best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return TrainResult(
        accuracy(model, x, y),
        accuracy(model, *val) if val else float("nan"),
        loss_val,
        epochs_run=epoch + 1,
        best_epoch=best_epoch if early else epoch + 1,
        history=history,
    )
