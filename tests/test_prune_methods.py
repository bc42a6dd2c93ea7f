"""Issue-12 methods on tiny networks: Σ pruning, the conditional gauge inside pruning runs, the final gauge."""

from __future__ import annotations

import math

import pytest
import torch
from test_prune import FAST, SIZES, tiny_data

from gf_prune.model import PhotonicMLP
from gf_prune.power import power_report
from gf_prune.prune import run_pruning
from gf_prune.prune_methods import prune_sigma_transmission


@pytest.mark.parametrize("zero_state", ["bar", "cross"])
@torch.no_grad()
def test_sigma_pruning_switches_off_near_full_transmission_and_keeps_the_phase(zero_state):
    model = PhotonicMLP(SIZES, zero_state=zero_state, seed=0)
    layer = model.layers[0]
    layer.S_theta.copy_(torch.tensor([0.05, 2 * math.pi - 0.1, 1.5, 0.3], dtype=torch.float64))
    before = layer.sigma().clone()
    n = prune_sigma_transmission(model, tol=0.01)  # |cos(θ/2)| ≥ 0.99 ⇔ θ ≤ 0.283 rad from 0
    assert n >= 2
    assert layer.S_theta_mask.tolist() == [False, False, True, True]
    after = layer.sigma()
    assert torch.allclose(after.angle()[:2], before.angle()[:2], atol=1e-12)  # phase kept exactly
    assert torch.all((after.abs()[:2] / before.abs()[:2] - 1).abs() <= 1 / 0.99 - 1 + 1e-12)
    assert torch.equal(after[2:], before[2:])
    rep = power_report(model.to_phases())
    assert rep["phases"]["pruned_all"] - rep["phases"]["pruned_uv"] == n


def test_sigma_pruning_and_full_gauge_in_a_pruning_run():
    cfg = {**FAST, "method": "lth", "max_rounds": 2, "extra_step": 0.05, "sigma_tol": 0.05, "gauge_full": True}
    res = run_pruning(PhotonicMLP(SIZES, init="zero", init_std=0.3), tiny_data(), cfg)
    best = res.best
    assert best["pruned_all"] > best["pruned_uv"]  # Σ phases pruned (θ by tolerance, φ by the gauge)
    masks = [(mesh, m) for _, mesh, _, _, m in res.model.phase_items()]
    assert best["pruned_all"] == sum(int((~m).sum()) for _, m in masks)
    assert best["step"] == "exact gauge"


def test_final_gauge_changes_no_prediction_and_only_adds_pruned_phases():
    cfg = {**FAST, "method": "lth", "max_rounds": 3, "lth_continue": False, "max_loss": 1.0}
    data = tiny_data()
    res = run_pruning(PhotonicMLP(SIZES, init="zero", init_std=0.3), data, cfg)
    last = res.records[-1]
    assert last["step"] == "exact gauge"
    src = res.records[last["gauged_from"]]
    assert last["acc_val"] == src["acc_val"] and last["acc_test"] == src["acc_test"]
    assert last["pruned_uv"] >= src["pruned_uv"] and last["power_mw"] <= src["power_mw"] + 1e-9
    for rec in res.records[1:-1]:
        assert rec["gauged"]["pruned_uv"] >= rec["pruned_uv"]
    off = run_pruning(PhotonicMLP(SIZES, init="zero", init_std=0.3), data, {**cfg, "final_gauge": False})
    assert len(off.records) == len(res.records) - 1
