"""Gauge moves zero phases without changing what the network computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gf_prune.gauge import gauge_layer, gauge_layer_full, gauge_network, gauge_network_full
from gf_prune.model import PhotonicMLP, SVDLayer
from gf_prune.power import power_report


def _x(n: int, batch: int = 7) -> torch.Tensor:
    g = torch.Generator().manual_seed(5)
    return torch.randn(batch, n, dtype=torch.complex128, generator=g)


@torch.no_grad()
def test_layer_with_output_screen_keeps_w_exactly():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 8)) + 1j * rng.normal(size=(6, 8))
    layer = SVDLayer.from_matrix(w, output_phases=True)
    before = layer.matrix().clone()
    n_u, n_s = gauge_layer(layer)
    assert n_u == 5 and n_s == 1  # n_out − 1 in U, one in Σ
    assert float((layer.matrix() - before).abs().max()) <= 1e-10


@torch.no_grad()
def test_network_outputs_and_moduli_unchanged():
    model = PhotonicMLP((16, 16, 16, 10), seed=2)
    x = _x(16)
    y0 = model(x).clone()
    w0 = [w.abs().clone() for w in model.matrices()]
    res = gauge_network(model)
    assert res.zeroed_uv == [15, 15, 9]
    assert float((model(x) - y0).abs().max()) <= 1e-10
    for a, b in zip(w0, model.matrices(), strict=True):
        assert float((a - b.abs()).abs().max()) <= 1e-10  # W changes by output phases only


@torch.no_grad()
def test_zeroed_phases_are_exact_zeros_and_pruned():
    model = PhotonicMLP((8, 8, 4), seed=1)
    gauge_network(model)
    rep = power_report(model.to_phases())
    assert rep["phases"]["pruned_uv"] == 7 + 3
    for layer in model.layers:
        assert torch.all(layer.U_phi[~layer.U_phi_mask] == 0.0)


@torch.no_grad()
def test_already_pruned_phases_stay_zero():
    model = PhotonicMLP((8, 8, 4), seed=4)
    layer = model.layers[0]
    layer.U_phi_mask[[0, 3, 5, 9]] = False
    layer.S_phi_mask[1] = False
    model.apply_masks()
    x = _x(8)
    y0 = model(x).clone()
    gauge_network(model)
    assert not bool(layer.U_phi_mask[[0, 3, 5, 9]].any())
    assert float(layer.S_phi[1]) == 0.0
    assert float((model(x) - y0).abs().max()) <= 1e-10


@torch.no_grad()
def test_second_gauge_finds_nothing_new():
    model = PhotonicMLP((8, 8, 4), seed=0)
    gauge_network(model)
    again = gauge_network(model)
    assert again.zeroed_uv == [0, 0]


# --------------------------------------------------------------------------- full (conditional) gauge


def _random_masks(model: PhotonicMLP, seed: int, keep: float = 0.5) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, _, _, _, m in model.phase_items():
            m.copy_(torch.rand(m.shape, generator=g) < keep)
        model.apply_masks()


@pytest.mark.parametrize("zero_state", ["bar", "cross"])
@pytest.mark.parametrize("mesh_kind", ["clements", "reck"])
@torch.no_grad()
def test_full_gauge_keeps_every_detected_output(zero_state, mesh_kind):
    model = PhotonicMLP((6, 6, 5, 3), mesh_kind, zero_state, seed=3)
    _random_masks(model, 3)
    x = _x(6, 30)
    w0 = [w.clone() for w in model.matrices()]
    pred0 = model.predict(x)
    live0 = sum(int(m.sum()) for *_, m in model.phase_items())
    res = gauge_network_full(model, prune_sigma=True)
    live1 = sum(int(m.sum()) for *_, m in model.phase_items())
    assert live0 - live1 == res.pruned_uv + res.pruned_sigma > 0
    assert sum(res.conditional) > 0  # φ's on θ-pruned MZIs moved away
    for a, b in zip(w0, model.matrices(), strict=True):  # |D·W·x| = |W·x|: W changes by output phases only
        assert float((a.abs() - b.abs()).abs().max()) <= 1e-12
        d = (b @ a.conj().T).diagonal()  # b = D·a ⇒ b·a† = D·a·a†: the diagonal ratio is one phase per row
        assert torch.allclose(b, (d / (a @ a.conj().T).diagonal()).unsqueeze(1) * a, atol=1e-10)
    assert torch.equal(model.predict(x), pred0)
    _assert_zero_pruned(model)


def _assert_zero_pruned(model: PhotonicMLP) -> None:
    for *_, p, m in model.phase_items():
        assert torch.all(p[~m] == 0.0)


@torch.no_grad()
def test_full_gauge_moves_a_bar_mzi_phi_downstream():
    """One V MZI in bar (θ pruned) with a live φ: its phase leaves for the next live φ, exactly."""
    layer = SVDLayer(4, 4, init="uniform", generator=torch.Generator().manual_seed(0), output_phases=True)
    layer.V_theta_mask[0] = False  # MZI (col 0, rows 0-1) in bar: T = diag(−e^{iφ}, 1)
    layer.apply_masks()
    w0 = layer.matrix().clone()
    c = gauge_layer_full(layer)
    assert not bool(layer.V_phi_mask[0]) and float(layer.V_phi[0]) == 0.0
    assert c.conditional >= 1 and c.zeroed_v >= 1
    assert float((layer.matrix() - w0).abs().max()) <= 1e-12  # the screen keeps W exactly


@torch.no_grad()
def test_full_gauge_prunes_dead_mzis_and_extends_the_old_gauge():
    model = PhotonicMLP((16, 16, 16, 10), seed=2)
    x = _x(16)
    y0 = model(x).clone()
    res = gauge_network_full(model)
    assert res.zeroed_uv == [15, 15, 9]  # a dense network: the same as gauge_network
    assert res.dead_phases == [0, 0, 12]  # V of 16 → 10: 6 MZIs reach only the 6 discarded outputs
    assert float((model(x) - y0).abs().max()) <= 1e-10
    again = gauge_network_full(model)
    assert again.pruned_uv == 0
