"""Passive fabrication errors and post-fabrication calibration of the live heaters (issue 12, item 7).

A pruned MZI has no heater left to trim it. Fabrication puts a phase error on every *passive* arm, heater
or not (docs/design.md: ``T(θ, φ) = B·diag(e^{i(θ+b)}, 1)·B·diag(e^{iφ}, 1)``, the π bias ``b`` is a length):

- internal arm (the π-bias length and the arm length mismatch): ``θ_eff = θ + ε_θ`` on every MZI that is
  built (live, or pruned and kept in bar) and on every Σ attenuator; a **removed** MZI is two plain
  waveguides, it has no interferometer (no ε_θ);
- input arm / waveguide length mismatch between the two modes: ``φ_eff = φ + ε_φ`` on every MZI slot,
  removed ones included (their waveguides still differ in length) and on every attenuator.

``ε ~ N(0, (σ·π)²)`` rad, ``σ`` in units of π as the robustness stage's σ_PS (Fang et al., Opt. Express 27,
14009 (2019), use σ_PS up to 0.02–0.03 for phase errors; a length error δL gives 2π·n_eff·δL/λ).

Calibration (as a chip is trimmed after fabrication): with the errors fixed, **only the live heaters**
(mask on) are re-fitted by Adam so that each layer's fabricated matrix matches the trained one up to output
phases (the detection drops them): ``Σ_i ‖w_i‖² + ‖ŵ_i‖² − 2·|⟨ŵ_i, w_i⟩|`` over the rows ``i``, relative to
``‖Ŵ‖²`` — the transfer that an on-chip measurement with a reference arm gives. Pruned heaters stay off.
:func:`fabrication_study` reports the test accuracy before and after calibration, dense vs pruned, per σ.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gf_prune.mesh import mesh_unitary_torch
from gf_prune.model import PhotonicMLP, network_fields
from gf_prune.physics import attenuator_port, mzi_transfer_torch


def draw_errors(model: PhotonicMLP, sigma: float, g: torch.Generator) -> list[dict[str, torch.Tensor]]:
    """One fabricated chip: ``ε`` per (mesh, kind) of every layer, N(0, (σπ)²) rad; removed MZIs get no ε_θ."""
    out = []
    for layer in model.layers:
        errs = {}
        for mesh in ("V", "S", "U"):
            for kind in ("theta", "phi"):
                p = getattr(layer, f"{mesh}_{kind}")
                errs[f"{mesh}_{kind}"] = torch.randn(p.shape, generator=g, dtype=torch.float64) * sigma * np.pi
            if mesh != "S":  # a removed MZI (θ and φ pruned) has no interferometer: no internal-arm error
                removed = ~getattr(layer, f"{mesh}_theta_mask") & ~getattr(layer, f"{mesh}_phi_mask")
                errs[f"{mesh}_theta"] = errs[f"{mesh}_theta"] * ~removed
        out.append(errs)
    return out


def fabricated_matrices(
    model: PhotonicMLP, errors: list[dict[str, torch.Tensor]], delta: list[dict[str, torch.Tensor]] | None = None
) -> list[torch.Tensor]:
    """Each layer's W with the passive errors (and the calibration offsets ``delta`` on live heaters)."""
    mats = []
    for li, layer in enumerate(model.layers):
        ph = {}
        for mesh in ("V", "S", "U"):
            for kind in ("theta", "phi"):
                key = f"{mesh}_{kind}"
                m = getattr(layer, f"{key}_mask")
                v = layer.phase(mesh, kind) + errors[li][key]
                if delta is not None:
                    v = v + delta[li][key] * m
                ph[key] = v
        vh = mesh_unitary_torch(layer.topo_V, ph["V_theta"], ph["V_phi"], None, layer.zero_state)
        u = mesh_unitary_torch(layer.topo_U, ph["U_theta"], ph["U_phi"], layer.screen, layer.zero_state)
        t = mzi_transfer_torch(ph["S_theta"], ph["S_phi"], layer.zero_state)
        o, i = attenuator_port(layer.zero_state)
        sig = t[2 * o + i] * layer.gain
        k = layer.k
        mats.append((u[:, :k] * sig) @ vh[:k, :])
    return mats


def calibration_loss(mats: list[torch.Tensor], targets: list[torch.Tensor]) -> torch.Tensor:
    """Distance of each layer's matrix from its target up to output phases, relative, summed over layers."""
    total = torch.zeros((), dtype=torch.float64)
    for w, t in zip(mats, targets, strict=True):
        inner = (t.conj() * w).sum(-1).abs()
        total = total + ((w.abs() ** 2).sum() + (t.abs() ** 2).sum() - 2 * inner.sum()) / (t.abs() ** 2).sum()
    return total


def calibrate(
    model: PhotonicMLP, errors: list[dict[str, torch.Tensor]], steps: int = 150, lr: float = 0.02
) -> tuple[list[torch.Tensor], float]:
    """Re-fit the live heaters of a fabricated chip to the trained matrices; returns (matrices, final loss)."""
    with torch.no_grad():
        targets = [w.detach() for w in model.matrices()]
    delta = [
        {k: torch.zeros_like(v, requires_grad=True) for k, v in errs.items()}  # one offset per heater site
        for errs in errors
    ]
    params = [t for d in delta for t in d.values()]
    opt = torch.optim.Adam(params, lr=lr)
    loss = torch.zeros(())
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = calibration_loss(fabricated_matrices(model, errors, delta), targets)
        loss.backward()
        opt.step()
    with torch.no_grad():
        mats = [w.detach() for w in fabricated_matrices(model, errors, delta)]
    return mats, float(loss.detach())


@torch.no_grad()
def _accuracy(model: PhotonicMLP, mats: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> float:
    f = network_fields(mats, x, model.bias_amps())
    return float(((f.abs() ** 2).argmax(-1) == y).double().mean())


def fabrication_study(
    models: dict[str, PhotonicMLP],
    x: torch.Tensor,
    y: torch.Tensor,
    sigmas: tuple[float, ...] = (0.005, 0.01, 0.02),
    trials: int = 10,
    steps: int = 150,
    seed: int = 0,
) -> dict[str, Any]:
    """Test accuracy of each model (e.g. ``{"dense": …, "pruned": …}``) under passive errors, before and after
    calibration of its live heaters: mean and std over ``trials`` fabricated chips per σ (units of π)."""
    out: dict[str, Any] = {"sigmas": list(sigmas), "trials": trials, "steps": steps, "models": {}}
    for name, model in models.items():
        clean = _accuracy(model, [w.detach() for w in model.matrices()], x, y)
        rows = []
        for s in sigmas:
            g = torch.Generator().manual_seed(seed)  # the same chips for every model (common random numbers)
            raw, cal = [], []
            for _ in range(trials):
                errs = draw_errors(model, s, g)
                with torch.no_grad():
                    raw.append(_accuracy(model, fabricated_matrices(model, errs), x, y))
                mats, _ = calibrate(model, errs, steps=steps)
                cal.append(_accuracy(model, mats, x, y))
            rows.append(
                {
                    "sigma": s,
                    "uncalibrated": float(np.mean(raw)),
                    "uncalibrated_std": float(np.std(raw)),
                    "calibrated": float(np.mean(cal)),
                    "calibrated_std": float(np.std(cal)),
                    "drop_calibrated": clean - float(np.mean(cal)),
                }
            )
        out["models"][name] = {"clean": clean, "rows": rows}
    return out
