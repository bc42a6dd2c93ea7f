"""Ranking and selecting phases to prune: scores (wrap-aware distance, magnitude, exact loss saliency),
the lowest-scoring live phases per layer or globally, and the counts they are taken from."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gf_prune.data import Dataset
from gf_prune.model import PhotonicMLP, SVDLayer, network_fields
from gf_prune.physics import circular_distance, wrap_to_pi

RANKINGS = ("wrap", "magnitude", "saliency")


# --------------------------------------------------------------------------- phase bookkeeping


def check_finite_phases(model: PhotonicMLP) -> None:
    """Raise ValueError naming the first phase vector with a NaN or infinite phase."""
    for li, mesh, kind, p, _ in model.phase_items():
        if not bool(torch.all(torch.isfinite(p.detach()))):
            raise ValueError(f"NaN or infinite phase in layer {li}, mesh {mesh}, {kind}: cannot prune")


def eligible(mesh: str, prune_sigma: bool) -> bool:
    return mesh != "S" or prune_sigma


def signed_phase(p: torch.Tensor) -> torch.Tensor:
    """Phase wrapped into (−π, π] (:func:`gf_prune.physics.wrap_to_pi`): the signed circular distance."""
    return wrap_to_pi(p)


def initial_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copy of every parameter (the phases to rewind to), like ``weight_orig`` of torch's pruning."""
    return {name: p.detach().clone() for name, p in model.named_parameters()}


@torch.no_grad()
def rewind(model: PhotonicMLP, init: dict[str, torch.Tensor]) -> None:
    """Restore every parameter to its stored initial value bit for bit; pruned phases stay exactly 0."""
    for name, p in model.named_parameters():
        p.copy_(init[name])
    model.apply_masks()


@torch.no_grad()
def phase_scores(model: PhotonicMLP, ranking: str, data: Dataset | None = None, samples: int = 512) -> list[Any]:
    """Score of every phase (lower = pruned first): list of (layer, mesh, kind, score tensor).

    ``wrap``: circular distance to 0; ``magnitude``: |phase|; ``saliency``: increase of the training NLL
    (on the first ``samples`` training samples) when the phase alone is set to 0 — measured exactly, for
    many candidates at once (:func:`saliency_scores`).
    """
    if ranking not in RANKINGS:
        raise ValueError(f"ranking must be one of {RANKINGS}, got {ranking!r}")
    if ranking == "saliency":
        if data is None:
            raise ValueError("ranking='saliency' needs the training data")
        return saliency_scores(model, data.X_train[:samples], data.y_train[:samples])
    out = []
    for li, mesh, kind, p, _ in model.phase_items():
        s = circular_distance(p.detach()) if ranking == "wrap" else p.detach().abs()
        out.append((li, mesh, kind, s.clone()))
    return out


SALIENCY_CHUNK = 128  # candidate networks pushed through the network in one batched forward pass


@torch.no_grad()
def saliency_scores(model: PhotonicMLP, x: torch.Tensor, y: torch.Tensor, chunk: int = SALIENCY_CHUNK) -> list[Any]:
    """Loss increase when each live phase alone is set to 0 (pruned phases score 0).

    The layer matrices of ``chunk`` candidates come from rank-2 updates of the mesh unitaries
    (:meth:`SVDLayer.matrices_one_zeroed`) and go through the rest of the network together; the result
    equals setting each phase to 0 and running the model once per phase (``_saliency_loop``).
    """
    if not all(
        type(layer).matrix is SVDLayer.matrix and layer.mesh_kind in ("clements", "reck") for layer in model.layers
    ):
        return _saliency_loop(model, x, y)
    mats = [w.detach() for w in model.matrices()]
    amps = model.bias_amps()
    base = float(nn.functional.nll_loss(torch.log_softmax(network_fields(mats, x, amps).abs() ** 2, -1), y))
    out = []
    for li, mesh, kind, p, m in model.phase_items():
        s = torch.zeros_like(p)
        live = torch.nonzero(m).flatten()
        if not len(live):
            out.append((li, mesh, kind, s))
            continue
        candidates = model.layers[li].matrices_one_zeroed(mesh, kind, live)  # (B, n_out, n_in), all at once
        for start in range(0, len(live), chunk):
            idx = live[start : start + chunk]
            trial = list(mats)
            trial[li] = candidates[start : start + chunk]
            logp = torch.log_softmax(network_fields(trial, x, amps).abs() ** 2, -1)  # (B, S, C)
            nll = -logp.gather(-1, y.expand(len(idx), -1).unsqueeze(-1)).squeeze(-1).mean(-1)
            s[idx] = nll - base
        out.append((li, mesh, kind, s))
    return out


@torch.no_grad()
def _saliency_loop(model: PhotonicMLP, x: torch.Tensor, y: torch.Tensor) -> list[Any]:
    """The reference: one forward pass per live phase, that phase set to 0."""
    loss_fn = nn.NLLLoss()
    base = float(loss_fn(model(x), y))
    out = []
    for li, mesh, kind, p, m in model.phase_items():
        s = torch.zeros_like(p)
        for i in torch.nonzero(m).flatten().tolist():
            old = float(p[i])
            p[i] = 0.0
            s[i] = float(loss_fn(model(x), y)) - base
            p[i] = old
        out.append((li, mesh, kind, s))
    return out


def _discount_partners(model: PhotonicMLP, scores: list[Any], factor: float) -> list[Any]:
    """Multiply the score of a phase whose MZI partner is pruned by (1 − factor) (whole-MZI completion)."""
    if factor <= 0:
        return scores
    masks = {(li, mesh, kind): m for li, mesh, kind, _, m in model.phase_items()}
    out = []
    for li, mesh, kind, s in scores:
        partner = masks[(li, mesh, "phi" if kind == "theta" else "theta")]
        s = torch.where(~partner, s * (1.0 - factor), s)
        out.append((li, mesh, kind, s))
    return out


@torch.no_grad()
def select_lowest(
    model: PhotonicMLP, scores: list[Any], n_prune: int | list[int], scope: str, prune_sigma: bool
) -> dict[tuple[int, str, str], torch.Tensor]:
    """The ``n_prune`` live eligible phases of lowest score (per layer when ``scope='layer'``), as bool masks."""
    items = [(li, mesh, kind, s) for li, mesh, kind, s in scores if eligible(mesh, prune_sigma)]
    masks = {(li, mesh, kind): m for li, mesh, kind, _, m in model.phase_items()}
    chosen = {key: torch.zeros_like(m) for key, m in masks.items()}
    groups: dict[Any, list[Any]] = {}
    for it in items:
        groups.setdefault(it[0] if scope == "layer" else 0, []).append(it)
    counts = n_prune if isinstance(n_prune, list) else [n_prune] * len(groups)
    for (_, group), n in zip(sorted(groups.items()), counts, strict=False):
        cand = []
        for li, mesh, kind, s in group:
            live = masks[(li, mesh, kind)]
            for i in torch.nonzero(live).flatten().tolist():
                cand.append((float(s[i]), li, mesh, kind, i))
        cand.sort(key=lambda c: c[0])
        for _, li, mesh, kind, i in cand[: max(0, int(n))]:
            chosen[(li, mesh, kind)][i] = True
    return chosen


@torch.no_grad()
def apply_selection(model: PhotonicMLP, chosen: dict[tuple[int, str, str], torch.Tensor]) -> int:
    """Prune the selected phases (mask off, value 0); returns how many were pruned."""
    n = 0
    for li, mesh, kind, _, m in model.phase_items():
        sel = chosen[(li, mesh, kind)] & m
        n += int(sel.sum())
        m &= ~sel
    model.apply_masks()
    return n


def prune_lowest(model: PhotonicMLP, scores: list[Any], n_prune: int | list[int], scope: str, prune_sigma: bool) -> int:
    """Prune the ``n_prune`` live eligible phases of lowest score (per layer when ``scope='layer'``).

    Returns the number of phases pruned.
    """
    return apply_selection(model, select_lowest(model, scores, n_prune, scope, prune_sigma))


def live_counts(model: PhotonicMLP, prune_sigma: bool, scope: str) -> list[int]:
    """Live eligible phases per group (each layer, or one global group)."""
    per_layer: dict[int, int] = {}
    for li, mesh, _, _, m in model.phase_items():
        if eligible(mesh, prune_sigma):
            per_layer[li] = per_layer.get(li, 0) + int(m.sum())
    return [sum(per_layer.values())] if scope == "global" else [per_layer[k] for k in sorted(per_layer)]


def total_counts(model: PhotonicMLP, prune_sigma: bool, scope: str) -> list[int]:
    per_layer: dict[int, int] = {}
    for li, mesh, _, _, m in model.phase_items():
        if eligible(mesh, prune_sigma):
            per_layer[li] = per_layer.get(li, 0) + int(m.numel())
    return [sum(per_layer.values())] if scope == "global" else [per_layer[k] for k in sorted(per_layer)]
