"""Training on the phases: Adam, full batch or mini-batches, seeded and deterministic on CPU."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from gf_prune.data import Dataset


@dataclass
class TrainConfig:
    epochs: int = 300
    lr: float = 0.02
    batch_size: int | None = None  # None: full batch
    lr_min_factor: float = 0.05  # cosine decay to lr·factor
    seed: int = 0


@dataclass
class TrainResult:
    train_acc: float
    test_acc: float
    loss: float
    history: list[float] = field(default_factory=list)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of samples whose predicted class is the label."""
    return float((model(x).argmax(-1) == y).double().mean())


def fit(
    model: nn.Module,
    data: Dataset,
    cfg: TrainConfig | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train ``model`` (log-prob outputs) with NLL loss; pruned phases stay exactly 0."""
    cfg = cfg or TrainConfig()
    if cfg.epochs < 0 or cfg.lr <= 0:
        raise ValueError(f"epochs must be ≥ 0 and lr > 0, got {cfg.epochs}, {cfg.lr}")
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(cfg.epochs, 1), eta_min=cfg.lr * cfg.lr_min_factor)
    loss_fn = nn.NLLLoss()
    x, y = data.X_train, data.y_train
    n = len(y)
    history: list[float] = []
    loss_val = float("nan")
    model.train()
    for epoch in range(cfg.epochs):
        perm = torch.randperm(n, generator=g) if cfg.batch_size else None
        bs = cfg.batch_size or n
        for start in range(0, n, bs):
            idx = perm[start : start + bs] if perm is not None else slice(None)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            if hasattr(model, "apply_masks"):
                model.apply_masks()
            loss_val = float(loss.detach())
        sched.step()
        history.append(loss_val)
        if on_epoch is not None:
            on_epoch(epoch, loss_val)
    model.eval()
    return TrainResult(accuracy(model, x, y), accuracy(model, data.X_test, data.y_test), loss_val, history)
