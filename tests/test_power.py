"""Power and phase counts against an independent count straight from the model's tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gf_prune.model import PhotonicMLP
from gf_prune.power import power_report, static_power_mw


def _random_masks(model: PhotonicMLP, p: float, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    for _, _, _, _, m in model.phase_items():
        m.copy_(torch.rand(m.shape, generator=g) > p)
    model.apply_masks()


def test_paper_counts_for_16_16_16_10():
    rep = power_report(PhotonicMLP((16, 16, 16, 10)).to_phases())
    assert rep["phases"]["total_uv"] == 1290  # 2 · (5 · 120 + 45)
    assert rep["phases"]["total_all"] == 1374  # + 2 · (16 + 16 + 10)
    assert rep["mzis"]["total"] == 645
    assert rep["phases"]["pruned_uv"] == rep["phases"]["pruned_all"] == 0


def test_counts_equal_an_independent_count():
    model = PhotonicMLP((16, 16, 16, 10), seed=3)
    _random_masks(model, 0.6)
    uv = al = th_uv = ph_uv = removable = 0
    masks = {(li, mesh, kind): m.numpy() for li, mesh, kind, _, m in model.phase_items()}
    for (li, mesh, kind), m in masks.items():
        n_pruned = int((~m).sum())
        al += n_pruned
        if mesh != "S":
            uv += n_pruned
            th_uv += n_pruned if kind == "theta" else 0
            ph_uv += n_pruned if kind == "phi" else 0
            if kind == "theta":
                removable += int((~m & ~masks[(li, mesh, "phi")]).sum())
    rep = power_report(model.to_phases())
    assert rep["phases"]["pruned_uv"] == uv
    assert rep["phases"]["pruned_all"] == al
    assert rep["phases"]["pruned_theta_uv"] == th_uv
    assert rep["phases"]["pruned_phi_uv"] == ph_uv
    assert rep["mzis"]["removable"] == removable
    assert rep["phases"]["sparsity_uv"] == pytest.approx(uv / 1290)


def test_power_equals_an_independent_sum():
    model = PhotonicMLP((6, 5, 3), seed=1)
    _random_masks(model, 0.5, seed=2)
    with torch.no_grad():
        model.layers[0].V_phi[0] = -0.1  # a slightly negative phase wraps to almost 2π
        model.layers[0].V_phi_mask[0] = True
    expected = 0.0
    for _, _, _, p, m in model.phase_items():
        for x, live in zip(p.detach().tolist(), m.tolist(), strict=True):
            if live:
                expected += 30.0 * (x - 2 * math.pi * math.floor(x / (2 * math.pi))) / math.pi
    assert static_power_mw(model.to_phases(), p_pi_mw=30.0) == pytest.approx(expected, rel=1e-12)
    rep = power_report(model.to_phases(), p_pi_mw=30.0)
    assert rep["power_mw"]["theta"] + rep["power_mw"]["phi"] == pytest.approx(expected, rel=1e-12)
    assert sum(lay["total"] for lay in rep["power_mw"]["per_layer"]) == pytest.approx(expected, rel=1e-12)
    v_phi = rep["phases"]["per_layer"][0]["V"]["phi"]["power_mw"]
    assert v_phi >= 30.0 * (2 * math.pi - 0.1) / math.pi - 1e-9


def test_pruned_phases_burn_nothing():
    model = PhotonicMLP((4, 4, 2), seed=0)
    for _, _, _, _, m in model.phase_items():
        m.zero_()
    model.apply_masks()
    rep = power_report(model.to_phases())
    assert rep["power_mw"]["total"] == 0.0
    assert rep["phases"]["sparsity_all"] == 1.0
    assert rep["mzis"]["removable"] == rep["mzis"]["total"]


def test_nan_phase_and_bad_p_pi_are_errors():
    net = PhotonicMLP((4, 4, 2)).to_phases()
    net.layers[1].U.theta[0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite phase: layer 1, mesh U"):
        power_report(net)
    with pytest.raises(ValueError, match="p_pi_mw"):
        power_report(PhotonicMLP((4, 4, 2)).to_phases(), p_pi_mw=0.0)
