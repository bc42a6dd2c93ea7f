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


@torch.no_grad()
def test_l0_gates_open_are_the_network_and_closed_gates_prune_on_fold():
    from gf_prune.prune_methods import GatedMLP

    model = PhotonicMLP(SIZES, seed=1)
    x = tiny_data().X_val
    y0 = model(x).clone()
    gated = GatedMLP(model, prune_sigma=False, init_logit=20.0).eval()
    assert torch.allclose(gated(x), y0, atol=1e-10)  # open gates: φ_eff = wrap(φ), the same network
    gated.log_alpha((0, "V", "theta"))[:3] = -20.0  # three closed gates
    gated.log_alpha((1, "U", "phi"))[0] = -20.0
    assert gated.fold() == 4
    assert model.layers[0].V_theta_mask[:3].sum() == 0 and not bool(model.layers[1].U_phi_mask[0])
    assert float(gated.p_open((0, "V", "theta"))[0]) < 1e-6 and float(gated.p_open((0, "V", "theta"))[5]) > 0.99


def test_l0_method_prunes_more_as_lambda_grows():
    cfg = {**FAST, "method": "l0", "l0_lambdas": [0.5, 4.0], "l0_epochs": 40, "max_loss": 1.0, "final_gauge": False}
    cfg["lth_continue"] = False
    res = run_pruning(PhotonicMLP(SIZES, init="zero", init_std=0.3), tiny_data(), cfg)
    steps = [r for r in res.records if str(r["step"]).startswith("l0")]
    assert len(steps) == 2
    assert 0 < steps[0]["pruned_uv"] <= steps[1]["pruned_uv"]
    _assert_zero(res.model)


def _assert_zero(model: PhotonicMLP) -> None:
    for *_, p, m in model.phase_items():
        assert torch.all(p[~m] == 0.0)


def _nll(model: PhotonicMLP, data) -> float:
    return float(torch.nn.functional.nll_loss(model(data.X_train), data.y_train).detach())


def test_obs_compensation_beats_plain_removal_of_the_same_phases():
    import copy

    from gf_prune.config import PruneConfig
    from gf_prune.prune import _Runner, train_phases
    from gf_prune.prune_methods import obs_prune

    data = tiny_data()
    model = PhotonicMLP(SIZES, init="zero", init_std=0.3)
    train_phases(model, data, 60, 0.05)
    run = _Runner(data, PruneConfig.parse({"scope": "global", "obs_samples": 45}), None)
    plain = copy.deepcopy(model)
    n = obs_prune(run, model, [10])
    assert n == 10 and sum(int((~m).sum()) for *_, m in model.phase_items()) == 10
    with torch.no_grad():  # the same 10 phases set to 0 without the compensating update
        for (*_, m), (*_, q, _) in zip(model.phase_items(), plain.phase_items(), strict=True):
            q[~m] = 0.0
    assert _nll(model, data) < _nll(plain, data)
    _assert_zero(model)


def test_obs_method_records_one_shot_rows_and_continues():
    cfg = {**FAST, "method": "obs", "obs_sparsities": [0.2, 0.4], "obs_samples": 30, "max_steps": 2}
    cfg |= {"step_ranking": "obs", "extra_step": 0.05, "max_loss": 1.0}
    res = run_pruning(PhotonicMLP(SIZES, init="zero", init_std=0.3), tiny_data(), cfg)
    steps = [r["step"] for r in res.records]
    assert steps[1:3] == ["obs one-shot 0.2", "obs one-shot 0.4"] and "obs one-shot + fine-tune" in steps
    assert any(str(s).startswith("step to") for s in steps)


def test_imp_slr_keeps_trained_survivors_and_distillation_pulls_towards_the_teacher():
    from gf_prune.prune import train_phases

    cfg = {**FAST, "method": "imp_slr", "max_rounds": 2, "lth_continue": False, "max_loss": 1.0}
    cfg |= {"distill": 0.5, "round_patience": 2}
    res = run_pruning(PhotonicMLP(SIZES, init="zero", init_std=0.3), tiny_data(), cfg)
    assert [r["step"] for r in res.records[1:3]] == ["imp-slr round 1", "imp-slr round 2"]
    assert res.records[2]["pruned_uv"] > res.records[1]["pruned_uv"] > 0

    data = tiny_data()
    teacher = PhotonicMLP(SIZES, seed=3)
    kl = []
    for w in (0.0, 5.0):
        student = PhotonicMLP(SIZES, seed=4)
        train_phases(student, data, 30, 0.05, teacher=teacher, distill=w)
        with torch.no_grad():
            t, s = teacher(data.X_train), student(data.X_train)
            kl.append(float(torch.nn.functional.kl_div(s, t, log_target=True, reduction="batchmean")))
    assert kl[1] < kl[0]


def test_colt_keeps_only_phases_that_survive_in_both_halves():
    cfg = {**FAST, "method": "colt", "max_rounds": 2, "lth_continue": False, "max_loss": 1.0, "rate": 0.2}
    res = run_pruning(PhotonicMLP(SIZES, init="zero", init_std=0.3), tiny_data(), cfg)
    rounds = [r for r in res.records if str(r["step"]).startswith("colt")]
    assert len(rounds) == 2
    live1 = 42 - round(0.2 * 42)  # one ticket alone would prune 20 % of the 42 U/V phases of a layer group …
    assert rounds[0]["newly_pruned"] >= 42 - live1  # … the overlap prunes at least as many
    _assert_zero(res.model)


@torch.no_grad()
def test_a_cut_mode_makes_its_mzis_dead():
    from gf_prune.gauge import gauge_network_full

    model = PhotonicMLP((4, 4, 3), seed=0)
    x = tiny_data().X_val
    model.layers[0].S_theta[2:] = math.pi  # modes 2 and 3 of layer 0 transmit nothing
    y0 = model(x).clone()
    res = gauge_network_full(model, cut_tol=1e-9)
    assert res.dead_phases[0] == 2  # the U MZI fed only by modes 2 and 3 (in V, mode 1's cone covers mode 2)
    assert torch.allclose(model(x), y0, atol=1e-10)


def test_slimming_records_cut_modes():
    cfg = {**FAST, "method": "slimming", "slim_l1": [1.0], "slim_threshold": 0.3, "lth_continue": False}
    model = PhotonicMLP(SIZES, init="zero", init_std=0.3)
    with torch.no_grad():
        model.layers[0].S_theta[1:3] = 3.0  # two modes nearly dark (|t| = 0.07): L1 keeps them there, then cut
    res = run_pruning(model, tiny_data(), {**cfg, "max_loss": 1.0}, trained=model)
    rec = next(r for r in res.records if str(r["step"]).startswith("slimming"))
    assert rec["modes_cut"] >= 1
