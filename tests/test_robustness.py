"""Contract of gf_prune.robustness: imperfection models, vectorised seeded Monte-Carlo, config."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from gf_prune import heaters
from gf_prune import montecarlo as MC
from gf_prune import robustness as R
from gf_prune.model import PhotonicMLP
from gf_prune.physics import circular_distance, coupler_matrix, mzi_transfer
from gf_prune.train import TrainConfig, accuracy, fit


def magnitude_prune(model: PhotonicMLP, fraction: float) -> PhotonicMLP:
    """Test helper: prune the `fraction` of phases closest to 0 (circular distance), per phase vector."""
    for _, _, _, p, m in model.phase_items():
        d = circular_distance(p.detach())
        k = int(fraction * d.numel())
        if k:
            m.copy_(d > torch.kthvalue(d, k).values)
    model.apply_masks()
    return model


@pytest.fixture(scope="module")
def data(digits):
    return digits


@pytest.fixture(scope="module")
def trained(data):
    torch.manual_seed(0)
    model = PhotonicMLP((16, 12, 10), seed=1)
    fit(model, data, TrainConfig(epochs=25, lr=0.05))
    return model


@pytest.fixture(scope="module")
def pruned(trained, data):
    import copy

    model = magnitude_prune(copy.deepcopy(trained), 0.4)
    fit(model, data, TrainConfig(epochs=10, lr=0.01))
    return model


# ----------------------------------------------------------------------------- physics


def test_coupler_reduces_to_convention_at_half_split():
    np.testing.assert_allclose(R.coupler_matrix_split(1 / math.sqrt(2)), coupler_matrix(), atol=1e-15)


@pytest.mark.parametrize("zero_state", ["bar", "cross"])
def test_split_mzi_equals_convention_at_half_split(zero_state):
    rng = np.random.default_rng(0)
    theta, phi = rng.uniform(0, 2 * np.pi, 20), rng.uniform(0, 2 * np.pi, 20)
    r = torch.full((20,), 1 / math.sqrt(2), dtype=torch.float64)
    t = R.mzi_elements_split(torch.tensor(theta), torch.tensor(phi), r, r, zero_state)
    got = torch.stack([torch.stack(t[:2], -1), torch.stack(t[2:], -1)], -2).numpy()
    np.testing.assert_allclose(got, mzi_transfer(theta, phi, zero_state), atol=1e-14)


def test_split_mzi_is_product_of_general_couplers():
    theta, phi, r_in, r_out = 0.7, 2.1, 0.6, 0.8
    a = np.diag([np.exp(1j * (theta + np.pi)), 1.0])  # bar bias π
    p = np.diag([np.exp(1j * phi), 1.0])
    ref = R.coupler_matrix_split(r_out) @ a @ R.coupler_matrix_split(r_in) @ p
    t = R.mzi_elements_split(*(torch.tensor(v, dtype=torch.float64) for v in (theta, phi, r_in, r_out)))
    np.testing.assert_allclose(np.array([[t[0], t[1]], [t[2], t[3]]], dtype=complex), ref, atol=1e-14)
    np.testing.assert_allclose(ref.conj().T @ ref, np.eye(2), atol=1e-14)  # still lossless


def test_quantisation_levels():
    q = R.quantize_phase(torch.tensor([0.0, 0.1, 3.0, 6.2, 2 * math.pi - 1e-9]), 2)
    np.testing.assert_allclose(q.numpy(), [0, 0, math.pi, 0, 0], atol=1e-12)


# ----------------------------------------------------------------------------- Monte-Carlo


def test_zero_noise_reproduces_clean_accuracy_exactly(trained, pruned, data):
    for model in (trained, pruned):
        clean = accuracy(model, data.X_test, data.y_test)
        acc = R.monte_carlo_accuracy(model, data.X_test, data.y_test, R.Imperfections(), trials=4)
        assert np.all(acc == clean)
        acc0 = R.monte_carlo_accuracy(model, data.X_test, data.y_test, R.Imperfections(sigma_ps=0.0, sigma_bs=0.0), 3)
        assert np.all(acc0 == clean)


def test_16_bit_quantisation_is_within_1e3_of_clean(trained, data):
    clean = accuracy(trained, data.X_test, data.y_test)
    acc = R.monte_carlo_accuracy(trained, data.X_test, data.y_test, R.Imperfections(bits=16), trials=1)
    assert abs(acc[0] - clean) <= 1e-3


def test_phase_noise_lowers_accuracy_and_spreads(trained, data):
    clean = accuracy(trained, data.X_test, data.y_test)
    acc = R.monte_carlo_accuracy(trained, data.X_test, data.y_test, R.Imperfections(sigma_ps=0.05), trials=16)
    assert acc.mean() < clean - 0.05
    assert acc.std() > 0


def test_same_seed_same_numbers_independent_of_batching(trained, data):
    imp = R.Imperfections(sigma_ps=0.02, sigma_bs=0.02, loss_db=0.2, bits=6, crosstalk=0.01)
    a = R.monte_carlo_accuracy(trained, data.X_test, data.y_test, imp, trials=6, seed=3)
    b = R.monte_carlo_accuracy(trained, data.X_test, data.y_test, imp, trials=6, seed=3, batch_trials=4)
    c = R.monte_carlo_accuracy(trained, data.X_test, data.y_test, imp, trials=6, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_batched_trials_equal_one_at_a_time(trained):
    imp = R.Imperfections(sigma_ps=0.03, sigma_bs=0.03, loss_db=0.3)
    draws = MC._draw(len(R.heater_keys(trained)), 3, 7)
    batched = R.perturbed_matrices(trained, imp, draws=draws)
    for t in range(3):
        one = MC._Draws(draws.z_ps[t : t + 1], draws.z_bs[t : t + 1], draws.z_il[t : t + 1])
        single = R.perturbed_matrices(trained, imp, draws=one)
        for wb, ws in zip(batched, single, strict=True):
            torch.testing.assert_close(wb[t], ws[0], atol=1e-12, rtol=0)


def test_pruned_phases_get_no_phase_error(pruned):
    draws = MC._draw(len(R.heater_keys(pruned)), 2, 0)
    pert = MC._Perturbed(pruned, R.Imperfections(sigma_ps=0.1, bits=5), draws)
    _, live = heaters._flat_phases(pruned)
    assert (~live).any()
    assert torch.all(pert.phases[:, ~live] == 0)


# ----------------------------------------------------------------------------- loss


def _single_layer(n: int = 8, prune_all: bool = False) -> PhotonicMLP:
    model = PhotonicMLP((n, n), seed=2)
    if prune_all:
        for _, _, _, _, m in model.phase_items():
            m.zero_()
        model.apply_masks()
    return model


@torch.no_grad()
def _power_db(model: PhotonicMLP, imp: R.Imperfections, mode: int | None = None) -> float:
    x = torch.randn(5, model.layers[0].n_in, dtype=torch.complex128, generator=torch.Generator().manual_seed(0))
    if mode is not None:
        x = torch.zeros_like(x)
        x[:, mode] = 1.0
    w_clean = R.perturbed_matrices(model, R.Imperfections())[0][0]
    w = R.perturbed_matrices(model, imp)[0][0]
    p_clean = float((x @ w_clean.T).abs().pow(2).sum())
    return 10 * math.log10(float((x @ w.T).abs().pow(2).sum()) / p_clean)


def test_uniform_loss_lowers_output_power_by_expected_db():
    model = _single_layer(8)
    layer = model.layers[0]
    slots = layer.topo_V.n_cols + 1 + layer.topo_U.n_cols  # every path crosses this many column slots
    il = 0.3
    imp = R.Imperfections(loss_db=il, loss_rel_sigma=0, waveguide_loss_db=il, loss_compensation=False)
    assert _power_db(model, imp) == pytest.approx(-slots * il, abs=1e-9)


def test_removed_mzis_lose_only_their_waveguide():
    model = _single_layer(8, prune_all=True)  # every MZI removed: W is diagonal (bar everywhere)
    layer = model.layers[0]
    il, wg = 0.5, 0.02
    imp = R.Imperfections(loss_db=il, loss_rel_sigma=0, waveguide_loss_db=wg, loss_compensation=False)
    kept = imp.model_copy(update={"pruned_mzi": "bar"})  # unpowered MZIs kept in bar lose their full IL
    for mode in (0, 1, 7):
        slots = layer.topo_V.n_cols + 1 + layer.topo_U.n_cols
        # column slots where this mode passes through an MZI (mesh V, Σ attenuator, mesh U)
        in_mzi = sum(int(np.sum((t.rows == mode) | (t.rows == mode - 1))) for t in (layer.topo_V, layer.topo_U)) + 1
        assert _power_db(model, imp, mode) == pytest.approx(-slots * wg, abs=1e-9)
        expected = -(in_mzi * il + (slots - in_mzi) * wg)
        assert _power_db(model, kept, mode) == pytest.approx(expected, abs=1e-9)


def test_loss_compensation_restores_uniform_loss():
    model = _single_layer(8)
    imp = R.Imperfections(loss_db=0.3, loss_rel_sigma=0, waveguide_loss_db=0.3, loss_compensation=True)
    assert _power_db(model, imp) == pytest.approx(0.0, abs=1e-9)


# ----------------------------------------------------------------------------- crosstalk


def test_crosstalk_matrix_symmetric_zero_for_pruned_and_decaying(pruned):
    pos = R.grid_heater_positions(pruned)
    _, live = heaters._flat_phases(pruned)
    k = R.crosstalk_matrix(pos, live.numpy(), kappa_ref=0.01)
    np.testing.assert_array_equal(k, k.T)
    assert np.all(np.diag(k) == 0)
    dead = ~live.numpy()
    assert dead.any() and np.all(k[dead] == 0) and np.all(k[:, dead] == 0)
    assert k.max() > 0
    # decays with distance: among coupled pairs, larger distance never means larger coupling
    d = np.sqrt(((pos[:, None] - pos[None]) ** 2).sum(-1))
    pairs = k > 0
    order = np.argsort(d[pairs])
    assert np.all(np.diff(k[pairs][order]) <= 1e-15)
    kappa = R.crosstalk_coefficient(np.array([25.0, 50.0, 100.0, 400.0]), 0.01, 50.0, 30.0, 300.0)
    assert kappa[0] > kappa[1] > kappa[2] > kappa[3] == 0 and kappa[1] == pytest.approx(0.01)


def test_pruned_sites_receive_but_do_not_emit_heat(pruned):
    pos = R.grid_heater_positions(pruned)
    live = heaters._flat_phases(pruned)[1].numpy()
    k = R.crosstalk_matrix(pos, live, receive_at_pruned=True)
    assert np.all(k[:, ~live] == 0)
    assert k[~live].max() > 0


def test_heater_positions_read_from_gds_labels(tmp_path):
    import klayout.db as kdb

    model = _single_layer(4)
    keys = R.heater_keys(model)
    ly = kdb.Layout()
    ly.dbu = 0.001
    top, sub = ly.create_cell("TOP"), ly.create_cell("HEATERS")
    lay = ly.layer(66, 0)
    want = {}
    for i, (li, mesh, col, row, kind) in enumerate(keys[:-2]):  # last two sites: not built
        name = f"mzi_{mesh}{li}_c{col}_r{row}" if mesh != "S" else f"att_S{li}_r{row}"
        sub.shapes(lay).insert(kdb.Text(f"{name}_{kind}", kdb.Trans(kdb.Vector(1000 * i, 500 * row))))
        want[i] = (1000 * i * 0.001 + 7.0, 500 * row * 0.001 - 3.0)
    top.insert(kdb.CellInstArray(sub.cell_index(), kdb.Trans(kdb.Vector(7000, -3000))))
    path = tmp_path / "chip.gds"
    ly.write(str(path))
    pos = R.heater_positions_from_gds(path, model)
    for i, xy in want.items():
        np.testing.assert_allclose(pos[i], xy, atol=1e-9)
    assert np.isnan(pos[-2:]).all()


def test_crosstalk_changes_accuracy_deterministically(trained, data):
    imp = R.Imperfections(crosstalk=0.05)
    a = R.monte_carlo_accuracy(trained, data.X_test, data.y_test, imp, trials=2)
    assert a[0] == a[1]
    assert a[0] != accuracy(trained, data.X_test, data.y_test)


# ----------------------------------------------------------------------------- config and entry


def test_config_errors_name_the_bad_key():
    with pytest.raises(ValueError, match="trails"):
        R.load_config({"trails": 3})
    with pytest.raises(ValueError, match=r"finetune\.epochs"):
        R.load_config({"finetune": {"epochs": -1}})
    with pytest.raises(ValueError, match="sigma_ps"):
        R.load_config({"sigma_ps": [0.01, -0.1]})
    assert R.load_config({"trials": 5}).trials == 5


def test_mismatched_architectures_are_refused(trained, data):
    with pytest.raises(ValueError, match="model_pruned"):
        R.run_robustness(trained, PhotonicMLP((16, 8, 10)), data, {"trials": 1})


def test_noise_aware_finetune_keeps_pruned_phases_zero(pruned, data):
    import copy

    model = copy.deepcopy(pruned)
    hist = R.noise_aware_finetune(model, data, R.Imperfections(sigma_ps=0.01, bits=8), epochs=3, trials_per_step=2)
    assert len(hist) == 3 and all(math.isfinite(h) for h in hist)
    for _, _, _, p, m in model.phase_items():
        assert torch.all(p[~m] == 0)


def test_run_robustness_writes_record_and_plots(trained, pruned, data, tmp_path):
    cfg = {
        "trials": 3,
        "sigma_ps": [0.0, 0.02],
        "bits": [6],
        "sigma_bs": [0.02],
        "loss_db": [0.25],
        "crosstalk": [0.01],
        "finetune": {"enabled": True, "epochs": 2, "trials_per_step": 2},
        "fabrication": {"enabled": True, "sigmas": [0.01], "trials": 1, "steps": 3},
    }
    said: list[str] = []
    summary = R.run_robustness(trained, pruned, data, cfg, out_dir=tmp_path, progress=said.append)
    assert "sweep sigma_ps" in said
    rec = json.loads((tmp_path / "robustness.json").read_text())
    assert rec["clean"]["dense"] == accuracy(trained, data.X_test, data.y_test)
    assert rec["sweeps"]["sigma_ps"]["pruned"][0]["mean"] == rec["clean"]["pruned"]
    assert set(rec["clean"]) == {"dense", "pruned", "pruned_ft"}
    assert len(rec["layer_sensitivity"]["dense"]) == 2
    assert (tmp_path / "robustness.png").stat().st_size > 0
    assert (tmp_path / "robustness_layers.png").stat().st_size > 0
    assert summary["gap"]["sigma_ps"]["pruned_minus_dense"][0] == pytest.approx(0.0)
    crit = rec["finetune"]["criterion"]
    assert isinstance(crit["met"], bool) and {"dense", "pruned", "pruned_ft"} <= set(crit)
    fab = rec["fabrication"]["models"]["pruned"]["rows"][0]
    assert 0.0 <= fab["uncalibrated"] <= 1.0 and 0.0 <= fab["calibrated"] <= 1.0


@pytest.mark.slow
def test_noise_aware_finetune_closes_the_gap(trained, pruned, data):
    import copy

    noise = R.Imperfections(sigma_ps=0.02)
    args = (data.X_test, data.y_test, noise, 64, 11)
    drop = {}
    for name, model in (("dense", trained), ("pruned", pruned)):
        drop[name] = accuracy(model, data.X_test, data.y_test) - R.monte_carlo_accuracy(model, *args).mean()
    ft = copy.deepcopy(pruned)
    R.noise_aware_finetune(ft, data, noise, epochs=150, lr=0.005, trials_per_step=8)
    noisy_ft = R.monte_carlo_accuracy(ft, *args).mean()
    assert accuracy(trained, data.X_test, data.y_test) - noisy_ft <= drop["dense"]


def test_unlabelled_sites_placed_by_affine_fit():
    grid = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [2.0, 3.0]])
    gds = 10.0 * grid + np.array([5.0, -2.0])
    partial = gds.copy()
    partial[3] = np.nan
    filled, n = R.fill_missing_positions(partial, grid)
    assert n == 1
    np.testing.assert_allclose(filled, gds, atol=1e-9)


def test_fewer_trials_are_a_prefix_of_more(trained, data):
    imp = R.Imperfections(sigma_ps=0.03)
    few = R.monte_carlo_accuracy(trained, data.X_test, data.y_test, imp, trials=5, seed=2)
    many = R.monte_carlo_accuracy(trained, data.X_test, data.y_test, imp, trials=70, seed=2)
    np.testing.assert_array_equal(few, many[:5])


def test_unlabelled_sites_placed_per_block_of_a_stacked_layout():
    grid = np.array([[x, y] for x in range(3) for y in range(2)] * 2, dtype=float)
    groups = [(0,)] * 6 + [(1,)] * 6
    gds = np.r_[10 * grid[:6], 10 * grid[6:] + np.array([0.0, -500.0])]  # layer 1 stacked below layer 0
    partial = gds.copy()
    partial[[2, 9]] = np.nan
    filled, n = R.fill_missing_positions(partial, grid, groups)
    assert n == 2
    np.testing.assert_allclose(filled, gds, atol=1e-9)


@pytest.mark.slow
def test_positions_from_a_compiled_layout(tmp_path):
    layout = pytest.importorskip("gf_prune.layout")
    model = PhotonicMLP((4, 4, 3), seed=0)
    with torch.no_grad():
        model.layers[0].V_theta_mask[0] = False
        model.layers[0].V_phi_mask[0] = False
    model.apply_masks()
    layout.compile_network(model.to_phases(), tmp_path, png=False)
    pos = R.heater_positions_from_gds(tmp_path / "network.gds", model)
    live = heaters._flat_phases(model)[1].numpy()
    np.testing.assert_array_equal(np.isnan(pos[:, 0]), ~live)  # one label per built heater, none for pruned
    cfg = R.RobustnessConfig(heater_gds=str(tmp_path / "network.gds"))
    filled, source = R._positions(model, cfg)
    assert np.isfinite(filled).all() and "2 unlabelled" in source
    # the pruned MZI's sites land where its neighbours in the same column/row pattern predict
    d = np.sqrt(((filled[:, None] - filled[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    assert d[~live].min() > 1.0  # not on top of another heater


@pytest.mark.parametrize("zero_state", ["bar", "cross"])
def test_heat_on_a_removed_mzi_only_delays_its_waveguide(zero_state):
    model = PhotonicMLP((6, 6), zero_state=zero_state, seed=3)
    layer = model.layers[0]
    with torch.no_grad():  # V mesh fully removed; U and Σ live and hot next to it
        layer.V_theta_mask.zero_()
        layer.V_phi_mask.zero_()
    model.apply_masks()
    imp = R.Imperfections(crosstalk=0.3, crosstalk_cutoff_um=1e4)
    pert = MC._Perturbed(model, imp, MC._draw(len(R.heater_keys(model)), 1, 0))
    block = next(b for b in pert.blocks if b.mesh == "V")
    assert pert.phases[0, block.h_off : block.h_off + 2 * block.size].abs().max() > 1e-3  # heat arrives
    v = MC._mesh(layer.topo_V, pert, block, zero_state, None)[0].detach()
    clean = layer.unitaries()[1].detach()
    np.testing.assert_allclose(v.abs().numpy(), clean.abs().numpy(), atol=1e-12)  # no power exchange
    assert not torch.allclose(v, clean)  # but the phases moved


def test_heater_gds_in_the_output_folder_is_recorded_relative_to_it(pruned, data, tmp_path):
    """A run is written in a staging folder renamed at the end: recorded paths must survive that."""
    layout = pytest.importorskip("gf_prune.layout")
    layout.compile_network(pruned.to_phases(), tmp_path, png=False, check=False)
    cfg = {
        "trials": 1,
        "sigma_ps": [0.0],
        "bits": [8],
        "sigma_bs": [0.0],
        "loss_db": [0.0],
        "crosstalk": [0.0],
        "plots": False,
        "heater_gds": str(tmp_path / "network.gds"),
    }
    summary = R.run_robustness(pruned, pruned, data, cfg, out_dir=tmp_path)
    rec = json.loads((tmp_path / "robustness.json").read_text())
    for s in (summary, rec):
        assert s["config"]["heater_gds"] == "network.gds"
        assert all(v.startswith("gds:network.gds") for v in s["heater_positions"].values()), s["heater_positions"]
    assert str(tmp_path) not in (tmp_path / "robustness.json").read_text()


def test_grid_fallback_column_pitch_is_the_layout_slot_width():
    from gf_prune.components import mzi_unit

    from gf_prune.layout import activate_pdk

    activate_pdk()
    assert R.layout_column_pitch_um(100.0) == float(mzi_unit(pitch=100.0).info["width"])
    assert R.RobustnessConfig().column_pitch_um is None  # asks the layout unless told
