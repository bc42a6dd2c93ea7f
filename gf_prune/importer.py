"""Bring your own network: trained ``nn.Linear`` layers, complex matrices or SVD factors → phases.

The linear layers are realised exactly (W = U Σ V† on meshes); what sits between them
(activation, detection) is the user's. ``NetworkPhases`` out of here goes straight to
:func:`gf_prune.layout.compile_network` and :func:`gf_prune.verify.verify`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gf_prune.mesh import check_unitary
from gf_prune.model import PhotonicMLP, SVDLayer
from gf_prune.physics import ZeroState


def _check_chain(mats: Sequence[np.ndarray]) -> None:
    for i, (a, b) in enumerate(itertools.pairwise(mats)):
        if b.shape[1] != a.shape[0]:
            raise ValueError(f"W{i + 1} has {b.shape[1]} inputs but W{i} has {a.shape[0]} outputs")


def model_from_matrices(mats: Sequence[Any], mesh_kind: str = "clements", zero_state: ZeroState = "bar") -> PhotonicMLP:
    """PhotonicMLP whose layer i realises complex matrix ``mats[i]`` (n_out × n_in) up to output phases."""
    mats = [np.asarray(m) for m in mats]
    if not mats:
        raise ValueError("no weight matrices given")
    for i, m in enumerate(mats):
        if m.ndim != 2:
            raise ValueError(f"W{i} must be a 2-D matrix, got shape {m.shape}")
        if not np.all(np.isfinite(m)):
            raise ValueError(f"W{i} contains NaN or infinite entries")
    _check_chain(mats)
    sizes = [mats[0].shape[1]] + [m.shape[0] for m in mats]
    model = PhotonicMLP(sizes, mesh_kind, zero_state)
    for i, m in enumerate(mats):
        model.layers[i] = SVDLayer.from_matrix(m, mesh_kind, zero_state, output_phases=False)
    return model


def model_from_linears(linears: Sequence[nn.Linear] | nn.Module, **kwargs: Any) -> PhotonicMLP:
    """PhotonicMLP from the bias-free ``nn.Linear`` layers of a trained torch model, in order."""
    if isinstance(linears, nn.Module):
        linears = [m for m in linears.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("the model has no nn.Linear layers")
    for i, lin in enumerate(linears):
        if lin.bias is not None and bool(torch.any(lin.bias != 0)):
            raise ValueError(
                f"linear layer {i} has a non-zero bias: a passive MZI mesh cannot add one (train with bias=False)"
            )
    return model_from_matrices([lin.weight.detach().cpu().numpy() for lin in linears], **kwargs)


def model_from_svd(
    factors: Sequence[tuple[Any, Any, Any]], mesh_kind: str = "clements", zero_state: ZeroState = "bar"
) -> PhotonicMLP:
    """From (U, s, Vh) per layer; U and Vh must be unitary (checked, with the measured error)."""
    mats = []
    for i, (u, s, vh) in enumerate(factors):
        u = check_unitary(u, f"U{i}")
        vh = check_unitary(vh, f"Vh{i}")
        s = np.asarray(s, dtype=np.complex128).ravel()
        if s.size != min(u.shape[0], vh.shape[0]):
            raise ValueError(f"S{i} must hold min(n_out, n_in) = {min(u.shape[0], vh.shape[0])} values")
        sig = np.zeros((u.shape[0], vh.shape[0]), dtype=np.complex128)
        sig[np.arange(s.size), np.arange(s.size)] = s
        mats.append(u @ sig @ vh)
    return model_from_matrices(mats, mesh_kind, zero_state)


def load_weights_file(path: str | Path, mesh_kind: str = "clements", zero_state: ZeroState = "bar") -> PhotonicMLP:
    """``.npz`` with ``W0, W1, …`` (complex or real matrices) or ``U0, S0, Vh0, …`` (SVD factors),
    or a ``.pt`` state dict whose 2-D ``*.weight`` tensors are bias-free linear layers in order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    if path.suffix == ".pt":
        try:
            sd = torch.load(str(path), weights_only=True)
        except Exception as exc:
            raise ValueError(f"{path}: not a readable torch state dict ({type(exc).__name__})") from None
        if not isinstance(sd, dict):
            raise ValueError(f"{path}: expected a state dict of linear layers")
        for k, v in sd.items():
            if k.endswith(".bias") and torch.is_tensor(v) and bool(torch.any(v != 0)):
                raise ValueError(f"{path}: {k} is a non-zero bias; a passive MZI mesh cannot add one")
        mats = [v.numpy() for k, v in sd.items() if k.endswith("weight") and torch.is_tensor(v) and v.ndim == 2]
        return model_from_matrices(mats, mesh_kind, zero_state)
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable .npz file ({type(exc).__name__})") from None
    with z:
        keys = set(z.files)
        w = sorted((int(m.group(1)), k) for k in keys if (m := re.fullmatch(r"W(\d+)", k)))
        if w:
            return model_from_matrices([z[k] for _, k in w], mesh_kind, zero_state)
        u = sorted((int(m.group(1)), k) for k in keys if (m := re.fullmatch(r"U(\d+)", k)))
        if u:
            missing = [f"{n}{i}" for i, _ in u for n in ("S", "Vh") if f"{n}{i}" not in keys]
            if missing:
                raise ValueError(f"{path}: SVD factors lack {missing}")
            return model_from_svd([(z[f"U{i}"], z[f"S{i}"], z[f"Vh{i}"]) for i, _ in u], mesh_kind, zero_state)
    raise ValueError(f"{path}: expected arrays W0, W1, … or U0, S0, Vh0, …; found {sorted(keys)}")
