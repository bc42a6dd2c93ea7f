"""Pruning engine: masks hold, rewinding is exact, counts are right, bad configs say what is wrong."""

from __future__ import annotations

import copy
import itertools
import json
import math

import pytest
import torch

from gf_prune.data import Dataset
from gf_prune.model import PhotonicMLP
from gf_prune.prune import (
    PruneConfig,
    PruneConfigError,
    initial_state,
    phase_scores,
    prune_lowest,
    rewind,
    run_pruning,
    sparsity_schedule,
    train_phases,
    write_prune_record,
)
from gf_prune.train import TrainConfig, fit

SIZES = (4, 4, 3)


def tiny_data(seed: int = 0, n: int = 90) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(3, 4, dtype=torch.complex128, generator=g)
    y = torch.arange(n) % 3
    x = centres[y] + 0.3 * torch.randn(n, 4, dtype=torch.complex128, generator=g)
    x = x / x.abs().pow(2).sum(1, keepdim=True).sqrt()
    a, b = n // 2, n * 3 // 4  # train / validation / test
    return Dataset.from_tensors("tiny", x[:a], y[:a], x[b:], y[b:], x[a:b], y[a:b])


def _prune_half(model: PhotonicMLP) -> None:
    g = torch.Generator().manual_seed(1)
    for _, _, _, _, m in model.phase_items():
        m.copy_(torch.rand(m.shape, generator=g) > 0.5)
    model.apply_masks()


def _assert_pruned_zero(model: PhotonicMLP) -> None:
    for _, _, _, p, m in model.phase_items():
        assert torch.all(p[~m] == 0.0)  # exactly 0, not small


def test_masks_hold_through_many_adam_steps():
    model = PhotonicMLP(SIZES, seed=0)
    _prune_half(model)
    train_phases(model, tiny_data(), epochs=100, lr=0.05)
    _assert_pruned_zero(model)


def test_masks_hold_through_fit_with_minibatches():
    model = PhotonicMLP(SIZES, seed=0)
    _prune_half(model)
    fit(model, tiny_data(), TrainConfig(epochs=12, lr=0.05, batch_size=8))
    _assert_pruned_zero(model)


def test_rewinding_restores_initial_phases_bit_for_bit():
    model = PhotonicMLP(SIZES, seed=3)
    init = initial_state(model)
    train_phases(model, tiny_data(), epochs=20, lr=0.05)
    _prune_half(model)
    rewind(model, init)
    for name, p in model.named_parameters():
        mask = dict(model.named_buffers()).get(f"{name}_mask")
        if mask is None:
            assert torch.equal(p, init[name])
        else:
            assert torch.equal(p[mask], init[name][mask])
            assert torch.all(p[~mask] == 0.0)


def test_wrap_aware_ranking_prunes_a_phase_near_2pi_first():
    model = PhotonicMLP((2, 2), seed=0)  # one MZI per mesh
    with torch.no_grad():
        model.layers[0].V_theta.fill_(1.98 * math.pi)
        model.layers[0].V_phi.fill_(0.5)
        model.layers[0].U_theta.fill_(1.0)
        model.layers[0].U_phi.fill_(1.5)
    for ranking, first in (("wrap", "V_theta"), ("magnitude", "V_phi")):
        m = PhotonicMLP((2, 2), seed=0)
        m.load_state_dict(model.state_dict())
        prune_lowest(m, phase_scores(m, ranking), 1, "global", prune_sigma=False)
        pruned = [f"{mesh}_{kind}" for _, mesh, kind, _, mask in m.phase_items() if not bool(mask.all())]
        assert pruned == [first]


def test_sigma_is_pruned_only_when_asked():
    model = PhotonicMLP(SIZES, seed=0)
    prune_lowest(model, phase_scores(model, "wrap"), 10_000, "global", prune_sigma=False)
    for _, mesh, _, _, m in model.phase_items():
        assert bool(m.all()) == (mesh == "S")


def test_sparsity_schedule_ends():
    for kind in ("cubic", "one_cycle"):
        vals = [sparsity_schedule(t / 10, 0.9, kind) for t in range(11)]
        assert vals[0] == 0.0 and vals[-1] == pytest.approx(0.9)
        assert all(b >= a for a, b in itertools.pairwise(vals))


@pytest.mark.parametrize(
    ("cfg", "words"),
    [
        ({"method": "pruneit"}, ["method", "pruneit"]),
        ({"rate": 0.0}, ["rate", "0.0"]),
        ({"rate": 1.0}, ["rate"]),
        ({"rate_late": 1.5}, ["rate_late", "1.5"]),
        ({"final_sparsity": -0.1}, ["final_sparsity"]),
        ({"target_sparsity": 1.0}, ["target_sparsity"]),
        ({"ranking": "random"}, ["ranking", "random"]),
        ({"learning_rate": 0.1}, ["learning_rate", "unknown key"]),
        ({"method": "magnitude_oneshot", "ranking": "saliency"}, ["saliency"]),
        ({"method": "lth", "dense_epochs": 0}, ["dense_epochs"]),
    ],
)
def test_bad_config_names_the_key_and_value(cfg, words):
    with pytest.raises(PruneConfigError) as exc:
        PruneConfig.parse(cfg)
    for w in words:
        assert w in str(exc.value)


def test_nan_phases_are_refused():
    model = PhotonicMLP(SIZES)
    with torch.no_grad():
        model.layers[1].U_theta[2] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite phase in layer 1, mesh U, theta"):
        run_pruning(model, tiny_data(), {"dense_epochs": 1})


FAST = {"dense_epochs": 40, "finetune_epochs": 10, "soft_epochs": 2, "lr": 0.05, "max_loss": 0.2}


@pytest.mark.parametrize(
    "method_cfg",
    [
        {"method": "magnitude_oneshot", "alphas": [0.5, 1.0]},
        {"method": "magnitude_iterative", "max_rounds": 3},
        {"method": "lth", "scope": "layer", "max_rounds": 3},
        {"method": "lth", "scope": "global", "max_rounds": 2, "ranking": "magnitude", "gauge": False},
        {"method": "lth", "max_rounds": 2, "lth_continue": True, "extra_step": 0.05},
        {"method": "gradual", "gradual_epochs": 40, "final_sparsity": 0.3, "max_rounds": 2, "complete_mzis": 0.5},
        {
            "method": "gradual",
            "gradual_epochs": 30,
            "final_sparsity": 0.5,
            "max_rounds": 2,
            "shrink": 0.1,
            "power_aware": 0.5,
            "soft_epochs": 5,
            "step_ranking": "saliency",
            "schedule": "one_cycle",
        },
        {"method": "weight_domain", "weight_sparsities": [0.5]},
    ],
)
def test_every_method_runs_and_records_independent_counts(method_cfg):
    seen = []
    res = run_pruning(PhotonicMLP(SIZES, init="zero", init_std=0.3), tiny_data(), {**FAST, **method_cfg}, seen.append)
    assert len(seen) == len(res.records) >= 2
    assert res.records[0]["step"] == "dense" and res.records[0]["sparsity_uv"] == 0.0
    best = res.best
    masks = [(mesh, m) for _, mesh, _, _, m in res.model.phase_items()]
    assert best["pruned_uv"] == sum(int((~m).sum()) for mesh, m in masks if mesh != "S")
    assert best["pruned_all"] == sum(int((~m).sum()) for _, m in masks)
    assert best["acc_val"] >= res.dense_val_accuracy - 0.2 - 1e-12
    _assert_pruned_zero(res.model)


def test_selection_never_looks_at_the_test_labels():
    """Shuffled test labels change the reported test accuracies, never the chosen round or the phases."""
    cfg = {**FAST, "method": "lth", "max_rounds": 3, "lth_continue": True, "extra_step": 0.05, "max_loss": 0.05}
    data = tiny_data()
    shuffled = copy.deepcopy(data)
    shuffled.y_test = shuffled.y_test[torch.randperm(len(shuffled.y_test), generator=torch.Generator().manual_seed(1))]
    assert not torch.equal(shuffled.y_test, data.y_test)
    a = run_pruning(PhotonicMLP(SIZES, init="zero", init_std=0.3), data, cfg)
    b = run_pruning(PhotonicMLP(SIZES, init="zero", init_std=0.3), shuffled, cfg)
    assert a.best_round == b.best_round and len(a.records) == len(b.records) >= 3
    assert [r["acc_val"] for r in a.records] == [r["acc_val"] for r in b.records]
    assert [r["acc_test"] for r in a.records] != [r["acc_test"] for r in b.records]
    for (_, _, _, pa, ma), (_, _, _, pb, mb) in zip(a.model.phase_items(), b.model.phase_items(), strict=True):
        assert torch.equal(pa, pb) and torch.equal(ma, mb)


def test_pruning_without_a_validation_split_is_refused():
    d = tiny_data()
    d.X_val, d.y_val = d.X_val[:0], d.y_val[:0]
    with pytest.raises(ValueError, match="validation"):
        run_pruning(PhotonicMLP(SIZES), d, {**FAST, "method": "magnitude_oneshot", "alphas": [1.0]})


def test_lth_with_saliency_and_target_stops_at_target():
    res = run_pruning(
        PhotonicMLP(SIZES, init="zero", init_std=0.3),
        tiny_data(),
        {**FAST, "method": "lth", "ranking": "saliency", "rate": 0.3, "target_sparsity": 0.4, "max_loss": 1.0},
    )
    assert res.records[-1]["sparsity_uv"] == pytest.approx(0.4, abs=0.03)


def test_record_files_are_written(tmp_path):
    res = run_pruning(PhotonicMLP(SIZES), tiny_data(), {**FAST, "method": "magnitude_oneshot", "alphas": [1.0]})
    paths = write_prune_record(res, tmp_path / "out")
    blob = json.loads(paths["json"].read_text())
    assert blob["summary"]["phases"]["total_uv"] == 2 * (6 + 6 + 6 + 3)
    assert len(blob["records"]) == 2 and "power_mw" in blob["records"][1]
    assert paths["png"].stat().st_size > 1000
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("bias", [False, True])
def test_batched_saliency_equals_one_forward_per_phase(bias):
    """Rank-2 mesh updates + batched forward give the same loss increases as zeroing each phase in turn."""
    from gf_prune.prune import _saliency_loop, saliency_scores

    model = PhotonicMLP((5, 6, 3), init="uniform", seed=3, bias=bias)
    _prune_half(model)
    x = torch.randn(40, 5, dtype=torch.complex128, generator=torch.Generator().manual_seed(0))
    y = torch.arange(40) % 3
    fast, ref = saliency_scores(model, x, y, chunk=7), _saliency_loop(model, x, y)
    for (la, ma, ka, a), (lb, mb, kb, b) in zip(fast, ref, strict=True):
        assert (la, ma, ka) == (lb, mb, kb)
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    assert any(bool((s != 0).any()) for *_, s in fast)


def test_continuation_steps_start_from_the_sparsity_reached(monkeypatch):
    """A step's target is never below where the network already is: when gauge moves zeroed 13 % in the first
    1 % step, the next step aims at 14 %, not 2 % (a step that prunes nothing)."""
    from types import SimpleNamespace

    from gf_prune import prune

    targets: list[float] = []
    monkeypatch.setattr(prune, "_prune_to", lambda run, model, s, ranking, soft: targets.append(round(s, 6)) or 0)
    cfg = SimpleNamespace(
        max_steps=3, scope="layer", extra_step=0.01, target_sparsity=None, step_ranking="magnitude",
        gauge_full=False, sigma_tol=0.0,
    )  # fmt: skip
    reached = iter([0.13, 0.14, 0.15])
    run = SimpleNamespace(
        cfg=cfg,
        ok=lambda rec: True,
        reached_target=lambda rec: False,
        finetune=lambda model: None,
        record=lambda model, **kw: {"sparsity_uv": next(reached)},
    )
    prune._continue(run, None, {"sparsity_uv": 0.0})
    assert targets == [0.01, 0.14, 0.15]
