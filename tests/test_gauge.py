"""Gauge moves zero phases without changing what the network computes."""

from __future__ import annotations

import numpy as np
import torch

from gf_prune.gauge import gauge_layer, gauge_network
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
