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


def _check_chain(mats: Sequence[np.ndarray], bias: bool = False) -> None:
    for i, (a, b) in enumerate(itertools.pairwise(mats)):
        if b.shape[1] - int(bias) != a.shape[0]:
            extra = " plus the bias column" if bias else ""
            raise ValueError(f"W{i + 1} has {b.shape[1]} inputs but W{i} has {a.shape[0]} outputs{extra}")


def model_from_matrices(
    mats: Sequence[Any],
    mesh_kind: str = "clements",
    zero_state: ZeroState = "bar",
    bias_amps: Sequence[float] | None = None,
) -> PhotonicMLP:
    """PhotonicMLP whose layer i realises complex matrix ``mats[i]`` (n_out × n_in) up to output phases.

    With ``bias_amps`` every layer has the optical bias mode: the last column of ``mats[i]`` is the bias
    mode's, driven at amplitude ``bias_amps[i]``.
    """
    mats = [np.asarray(m) for m in mats]
    if not mats:
        raise ValueError("no weight matrices given")
    for i, m in enumerate(mats):
        if m.ndim != 2:
            raise ValueError(f"W{i} must be a 2-D matrix, got shape {m.shape}")
        if not np.all(np.isfinite(m)):
            raise ValueError(f"W{i} contains NaN or infinite entries")
    bias = bias_amps is not None
    if bias and len(bias_amps) != len(mats):  # type: ignore[arg-type]
        raise ValueError(f"{len(mats)} matrices but {len(bias_amps)} bias amplitudes")  # type: ignore[arg-type]
    _check_chain(mats, bias)
    sizes = [mats[0].shape[1] - int(bias)] + [m.shape[0] for m in mats]
    model = PhotonicMLP(sizes, mesh_kind, zero_state, bias=bias)
    for i, m in enumerate(mats):
        amp = float(bias_amps[i]) if bias_amps is not None else None
        model.layers[i] = SVDLayer.from_matrix(m, mesh_kind, zero_state, output_phases=False, bias_amp=amp)
    return model


def _with_bias_columns(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray | None]) -> list[np.ndarray]:
    """[W | b] per layer (a zero column where a layer has no bias): the bias mode driven at unit amplitude."""
    out = []
    for w, b in zip(weights, biases, strict=True):
        col = np.zeros((w.shape[0], 1), dtype=w.dtype) if b is None else np.asarray(b).reshape(-1, 1)
        out.append(np.concatenate([w, col.astype(np.result_type(w, col))], axis=1))
    return out


def model_from_linears(linears: Sequence[nn.Linear] | nn.Module, **kwargs: Any) -> PhotonicMLP:
    """PhotonicMLP from the ``nn.Linear`` layers of a trained torch model, in order.

    Non-zero biases map to the optical bias mode (one more V input per layer, at unit amplitude).
    """
    if isinstance(linears, nn.Module):
        linears = [m for m in linears.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("the model has no nn.Linear layers")
    weights = [lin.weight.detach().cpu().numpy() for lin in linears]
    biases = [
        lin.bias.detach().cpu().numpy() if lin.bias is not None and bool(torch.any(lin.bias != 0)) else None
        for lin in linears
    ]
    if all(b is None for b in biases):
        return model_from_matrices(weights, **kwargs)
    return model_from_matrices(_with_bias_columns(weights, biases), bias_amps=[1.0] * len(weights), **kwargs)


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
    or a ``.pt`` state dict whose 2-D ``*.weight`` tensors are linear layers in order (their ``*.bias``
    vectors, when non-zero, become the optical bias mode). ``W{i}`` with ``bias_amp{i}`` (as gf-prune
    writes ``weights.npz``) are layers with the bias mode's column last."""
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
        names = [k for k, v in sd.items() if k.endswith("weight") and torch.is_tensor(v) and v.ndim == 2]
        mats = [sd[k].numpy() for k in names]
        biases = []
        for k in names:
            b = sd.get(k[: -len("weight")] + "bias")
            biases.append(b.numpy() if torch.is_tensor(b) and bool(torch.any(b != 0)) else None)
        if all(b is None for b in biases):
            return model_from_matrices(mats, mesh_kind, zero_state)
        return model_from_matrices(_with_bias_columns(mats, biases), mesh_kind, zero_state, [1.0] * len(mats))
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable .npz file ({type(exc).__name__})") from None
    with z:
        keys = set(z.files)
        w = sorted((int(m.group(1)), k) for k in keys if (m := re.fullmatch(r"W(\d+)", k)))
        if w:
            amps = [f"bias_amp{i}" for i, _ in w]
            if any(a in keys for a in amps):
                missing = [a for a in amps if a not in keys]
                if missing:
                    raise ValueError(f"{path}: bias amplitudes given for some layers but not {missing}")
                bias_amps = [float(z[a]) for a in amps]
                return model_from_matrices([z[k] for _, k in w], mesh_kind, zero_state, bias_amps)
            return model_from_matrices([z[k] for _, k in w], mesh_kind, zero_state)
        u = sorted((int(m.group(1)), k) for k in keys if (m := re.fullmatch(r"U(\d+)", k)))
        if u:
            missing = [f"{n}{i}" for i, _ in u for n in ("S", "Vh") if f"{n}{i}" not in keys]
            if missing:
                raise ValueError(f"{path}: SVD factors lack {missing}")
            return model_from_svd([(z[f"U{i}"], z[f"S{i}"], z[f"Vh{i}"]) for i, _ in u], mesh_kind, zero_state)
    raise ValueError(f"{path}: expected arrays W0, W1, … or U0, S0, Vh0, …; found {sorted(keys)}")
