"""Foundry-model verification and layout-in-the-loop tuning (gf_prune.foundry, foundry_models, layout_model).

References are independent of the code under test: a hand composition of cspdk's own model matrices for one
MZI, ``sax.circuit`` (klu) on a tiny chip's flat netlist, the torch forward of gf_prune.model.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import random_network

from gf_prune.circuit import CompiledCircuit
from gf_prune.foundry_models import HeaterDrive, foundry_cell_models, load_pdk_models
from gf_prune.layout_model import LayoutModel
from gf_prune.netlist import extract_netlist
from gf_prune.pdk import clear_cells
from gf_prune.sax_models import UnmodelledCellError

pytest.importorskip("cspdk")  # the models are imported through load_pdk_models (keeps the active PDK)


@pytest.fixture(scope="module")
def pdk_models():
    return load_pdk_models("cspdk")[1]


@pytest.fixture(scope="module")
def small_net():
    return random_network([3, 3, 2], p_live=0.7, seed=3)


@pytest.fixture(scope="module")
def small_recnet(small_net):
    from gf_prune.layout import build_network

    return extract_netlist(build_network(small_net, compact=True))


# ----------------------------------------------------------------------------- model mapping


def test_cspdk_models_mapped_by_name_with_ideal_fallback(small_recnet, pdk_models):
    fm = foundry_cell_models(small_recnet, pdk_models, "cspdk")
    for cell in ("mmi2x2", "straight", "bend_euler", "straight_heater_metal_undercut"):
        assert fm.mapping[cell]["source"] == "pdk", cell
    assert fm.mapping["straight_heater_metal_undercut"]["pdk_model"] == "straight_heater_metal"
    assert fm.mapping["bend_euler"]["numeric"] == ["length"]  # from the netlist info
    assert fm.fallbacks == ["terminator"]
    assert any("terminator" in w and "ideal" in w for w in fm.warnings)
    s = fm.cell_models["mmi2x2"].model(wl=1.55)
    assert set(s) >= {("o1", "o3"), ("o2", "o4")}
    assert abs(abs(complex(s["o1", "o3"])) - 0.683) < 5e-4 and abs(abs(complex(s["o1", "o4"])) - 0.683) < 5e-4
    heater = fm.cell_models["straight_heater_metal_undercut"].model(wl=1.55, length=100.0, phase=0.0)
    assert set(heater) == {("o1", "o2"), ("o2", "o1")}  # the electrical pairs are dropped


def test_heater_drive_law_read_off_the_model():
    import jax.numpy as jnp

    def quadratic(*, wl=1.55, voltage=0.0, vpi=2.0, length=10.0):
        return {("o1", "o2"): jnp.exp(1j * (jnp.pi * (voltage / vpi) ** 2 + 0 * wl)) + 0 * length}

    def no_drive(*, wl=1.55, length=10.0):
        return {("o1", "o2"): jnp.exp(1j * length)}

    recnet = {
        "top": {
            "instances": {"h": {"component": "straight_heater_metal", "settings": {"length": 5.0}}},
            "ports": {"o1": "h,o1", "o2": "h,o2"},
            "nets": [],
        }
    }
    fm = foundry_cell_models(recnet, {"straight_heater_metal": quadratic}, "fake")
    cm = fm.cell_models["straight_heater_metal"]
    for phase in (0.3, 2.0, 5.9):
        assert np.isclose(complex(cm.model(phase=phase, length=5.0)["o1", "o2"]), np.exp(1j * phase), atol=1e-12)
    assert "π·(V/vpi)²" in fm.mapping["straight_heater_metal"]["drive"]
    assert HeaterDrive("voltage", 2.0, 2).drive(math.pi) == pytest.approx(2.0)
    fm2 = foundry_cell_models(recnet, {"straight_heater_metal": no_drive}, "fake")
    assert fm2.fallbacks == ["straight_heater_metal"]
    assert "neither 'phase' nor 'voltage'" in fm2.mapping["straight_heater_metal"]["reason"]


def test_cell_without_any_model_is_named():
    recnet = {"top": {"instances": {"x": {"component": "mystery_cell", "settings": {}}}, "ports": {}, "nets": []}}
    with pytest.raises(UnmodelledCellError, match="mystery_cell"):
        foundry_cell_models(recnet, {}, "fake")


def test_loading_models_keeps_the_active_pdk():
    import gdsfactory as gf

    gf.gpdk.PDK.activate()
    load_pdk_models("cspdk")
    assert gf.get_active_pdk().name == gf.gpdk.PDK.name


def test_unknown_pdk_is_one_clear_error():
    with pytest.raises(ValueError, match="no_such_pdk_module"):
        load_pdk_models("no_such_pdk_module")
    assert load_pdk_models("generic")[1] == {}


# ----------------------------------------------------------------------------- independent references


def _path_length(recnet: dict, cell: str, pattern: str) -> float:
    """Summed netlist length of the straights and bends of one path of an MZI cell."""
    total = 0.0
    for inst, spec in recnet[cell]["instances"].items():
        if re.fullmatch(pattern, inst) and spec["component"] in ("straight", "bend_euler"):
            total += float(spec["settings"].get("length", (spec.get("info") or {}).get("length")))
    return total


def test_one_mzi_equals_hand_composition_of_cspdk_matrices(pdk_models):
    """T = diag(out) · B · diag(arms) · B · diag(in), each factor from cspdk's own models."""
    from gf_prune.components import mzi_unit

    from gf_prune.netlist import activate_pdk

    activate_pdk()
    recnet = extract_netlist(mzi_unit())
    top = next(k for k in recnet if k.startswith("mzi_unit"))
    fm = foundry_cell_models(recnet, pdk_models, "cspdk")
    cc = CompiledCircuit(recnet, cell_models=fm.cell_models)
    theta, phi = 1.1, 2.3
    ph = np.array([{"theta": theta, "phi": phi}[s[-1]] for s in cc.slots])
    s = cc.evaluate(ph)
    got = s[np.ix_([cc.ports.index("o3"), cc.ports.index("o4")], [cc.ports.index("o1"), cc.ports.index("o2")])]

    wg = pdk_models["straight"]
    heat = pdk_models["straight_heater_metal"]
    mmi = pdk_models["mmi2x2"](wl=1.55)

    def t(length: float) -> complex:
        return complex(wg(wl=1.55, length=length)["o1", "o2"])

    def h(phase: float) -> complex:  # cspdk: Δφ = π·V/vpi, vpi = 1 V
        return complex(heat(wl=1.55, length=100.0, voltage=phase / math.pi)["o1", "o2"])

    # coupler in the (top, bottom) basis: enters o2/o1, leaves o3/o4
    b = np.array([[mmi["o2", "o3"], mmi["o1", "o3"]], [mmi["o2", "o4"], mmi["o1", "o4"]]], dtype=complex)
    in_t = t(_path_length(recnet, top, r"phi_ms\d+|fin_t\w+")) * h(phi)
    in_b = t(_path_length(recnet, top, r"phi_ref(_ms\d+)?|fin_b\w+"))
    arm_t = t(_path_length(recnet, top, r"arm_t\w+|theta_ms\d+")) * h(theta)
    arm_b = t(_path_length(recnet, top, r"arm_b\w+|theta_ref(_ms\d+)?"))
    out_t = t(_path_length(recnet, top, r"fout_t\w*"))
    out_b = t(_path_length(recnet, top, r"fout_b\w*"))
    hand = np.diag([out_t, out_b]) @ b @ np.diag([arm_t, arm_b]) @ b @ np.diag([in_t, in_b])
    assert np.max(np.abs(got - hand)) < 1e-12


def test_engine_with_foundry_models_equals_sax_circuit(small_recnet, pdk_models):
    import sax

    fm = foundry_cell_models(small_recnet, pdk_models, "cspdk")
    cc = CompiledCircuit(small_recnet, cell_models=fm.cell_models)
    ph = np.random.default_rng(0).uniform(0, 2 * np.pi, len(cc.slots))
    flat = cc.flat_netlist(ph)
    models = {k: v.model for k, v in fm.cell_models.items()}
    circ, _ = sax.circuit(flat, models=models, backend="klu", return_type="SDense")
    ref, pm = circ(wl=1.55)
    ref = np.asarray(ref)[np.ix_([pm[p] for p in cc.ports], [pm[p] for p in cc.ports])]
    worst = float(np.max(np.abs(cc.evaluate(ph) - ref)))
    assert worst < 1e-10


@pytest.mark.parametrize("which", ["cspdk", "ideal"])
def test_layout_model_equals_engine(small_recnet, pdk_models, which):
    """The JAX composition (heater phasors as explicit factors) equals the engine to 1e-9, any phases."""
    cell_models = foundry_cell_models(small_recnet, pdk_models, "cspdk").cell_models if which == "cspdk" else None
    cc = CompiledCircuit(small_recnet, cell_models=cell_models)
    lm = LayoutModel(cc)
    rng = np.random.default_rng(1)
    for _ in range(3):
        assert lm.max_deviation(rng.uniform(0, 2 * np.pi, lm.n_phases)) < 1e-9


def test_ideal_models_reproduce_the_ideal_check(small_net, small_recnet):
    """With gf_prune's own models (an empty PDK: every cell falls back) the figures are the ideal check's."""
    from gf_prune.foundry import FoundryCheck

    fc = FoundryCheck(small_recnet, small_net, foundry_cell_models(small_recnet, {}, "none"))
    per = fc.figures(fc.matrices())["per_layer"]
    for f in per:
        assert f["fidelity"] > 1 - 1e-12 and abs(f["power"] - 1) < 1e-9
    shapes = [t.shape for t in fc.trained]
    for blk, t in zip(fc.layout_model.blocks(fc.layout_model.transfer(fc.phases), shapes), fc.trained, strict=True):
        blk = np.asarray(blk)
        alpha = np.angle(np.vdot(t, blk))
        assert np.linalg.norm(blk * np.exp(-1j * alpha) - t) / np.linalg.norm(t) < 1e-6


def test_jax_forward_equals_network_fields():
    from gf_prune.foundry import network_fields_jax
    from gf_prune.model import network_fields

    rng = np.random.default_rng(2)
    mats = [
        rng.normal(size=(3, 4)) + 1j * rng.normal(size=(3, 4)),
        rng.normal(size=(2, 4)) + 1j * rng.normal(size=(2, 4)),
    ]
    x = rng.normal(size=(5, 3)) + 1j * rng.normal(size=(5, 3))
    ref = network_fields(mats, torch.as_tensor(x), [0.7, 0.4]).numpy()
    assert np.max(np.abs(np.asarray(network_fields_jax(mats, x, [0.7, 0.4])) - ref)) < 1e-12


# ----------------------------------------------------------------------------- tuning and files


def _data(net, n=(60, 40, 40), seed=0):
    from gf_prune.model import PhotonicMLP

    rng = np.random.default_rng(seed)
    out = {}
    for split, k in zip(("train", "val", "test"), n, strict=True):
        x = rng.normal(size=(k, 3)) + 1j * rng.normal(size=(k, 3))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        y = PhotonicMLP.predict_from_matrices(net.matrices(), torch.as_tensor(x), net.bias_amps).numpy()
        out[f"X_{split}"], out[f"y_{split}"] = torch.as_tensor(x), torch.as_tensor(y)
    return SimpleNamespace(**out)


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory, small_net):
    from gf_prune.layout import compile_network

    out = tmp_path_factory.mktemp("fdy")
    compile_network(small_net, out, png=False, check=False)
    small_net.save(out / "phases.npz")
    return out


PAD_COLUMNS = [
    "pad", "x_um", "y_um", "net", "heater_instance", "layer", "mesh", "column", "row", "kind",
    "phase_rad", "power_mw", "current_mA", "voltage_V",
]  # fmt: skip


def _write_pads(out: Path) -> None:
    """A pads.csv as helper "pads" writes it: every live heater at R = 1 kΩ, one ground pad."""
    r_ohm = 1000.0
    with (out / "heaters.csv").open() as f:
        heaters = [r for r in csv.DictReader(f) if r["pruned"] == "False"]
    with (out / "pads.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=PAD_COLUMNS)
        w.writeheader()
        for i, r in enumerate(heaters):
            p = float(r["power_mw"])
            amps = math.sqrt(p * 1e-3 / r_ohm)
            w.writerow(
                {
                    **{k: r[k] for k in ("layer", "mesh", "column", "row", "kind", "phase_rad", "power_mw")},
                    "pad": f"P{i}", "x_um": 100.0 * i, "y_um": 0, "net": f"{r['instance']}_{r['kind']}",
                    "heater_instance": r["instance"], "current_mA": amps * 1e3, "voltage_V": amps * r_ohm,
                }
            )  # fmt: skip
        w.writerow({"pad": "G0", "x_um": -100, "y_um": 0, "net": "gnd", "kind": "ground", "current_mA": 9.0})


def test_tuning_selects_on_validation_and_has_no_test_argument(small_net, small_recnet):
    import inspect

    from gf_prune.foundry import FoundryCheck, tune_phases

    assert not any("test" in p for p in inspect.signature(tune_phases).parameters)
    fc = FoundryCheck(small_recnet, small_net, foundry_cell_models(small_recnet, load_pdk_models("cspdk")[1], "cspdk"))
    d = _data(small_net)
    train, val = (d.X_train.numpy(), d.y_train.numpy()), (d.X_val.numpy(), d.y_val.numpy())
    tr = tune_phases(fc.layout_model, fc.trained, fc.gains, fc.bias_amps, fc.phases, train, val, 3, 3, 0.1)
    assert tr.val_after >= tr.val_before == tr.history[0]["val_acc"]
    assert tr.val_after == max(h["val_acc"] for h in tr.history)
    assert tr.phases.shape == fc.phases.shape and np.all((tr.phases >= 0) & (tr.phases < 2 * np.pi))
    with_best = fc.figures(fc.matrices(tr.phases), val)["accuracy"]
    assert with_best == pytest.approx(tr.val_after)  # the JAX forward and the engine + torch forward agree


@pytest.mark.slow
def test_tuning_ignores_test_labels_and_never_loses_validation(small_dir, small_net):
    from gf_prune.foundry import foundry_dir

    _write_pads(small_dir)
    data = _data(small_net)
    kw = {"tune_epochs": 4, "fit_epochs": 4, "sweep": False}
    res = foundry_dir(small_dir, data, "cspdk", **kw)
    first = (small_dir / "tuned" / "heaters.csv").read_bytes()
    shuffled = SimpleNamespace(**vars(data))
    shuffled.y_test = data.y_test[torch.randperm(len(data.y_test), generator=torch.Generator().manual_seed(0))]
    shuffled.y_test = (shuffled.y_test + 1) % 2  # and relabelled
    foundry_dir(small_dir, shuffled, "cspdk", **kw)
    assert (small_dir / "tuned" / "heaters.csv").read_bytes() == first
    t = res["tuning"]
    assert t["val_after"] >= t["val_before"]
    assert res["tuned"]["val_accuracy"] == t["val_after"]
    assert res["layout_model_max_deviation"] < 1e-9
    assert 0 <= res["accuracy"] <= 1 and 0 <= res["accuracy_tuned"] <= 1
    assert res["models"]["terminator"]["source"] == "ideal"


def test_receiver_gains_are_set_for_the_chips_loss_and_tuning_runs_at_them(small_dir, small_net):
    """The top-level foundry accuracy is the chip's with each layer's O-E-O gain set for its loss (gain/√power
    at the programmed phases); the trained-gain figure stays beside it; tuning never loses validation."""
    from gf_prune.foundry import foundry_dir

    res = foundry_dir(small_dir, _data(small_net), "cspdk", tune_epochs=2, fit_epochs=2, sweep=True)
    gains = [float(lp.S.gain) for lp in small_net.layers]
    power = [layer["power"] for layer in res["untuned"]["per_layer"]]
    assert res["receiver_gains"] == pytest.approx([g / math.sqrt(p) for g, p in zip(gains, power, strict=True)])
    assert res["accuracy"] == res["untuned"]["accuracy_loss_compensated"]
    assert res["accuracy_trained_gains"] == res["untuned"]["accuracy"]
    assert res["tuning"]["val_after"] >= res["untuned"]["val_accuracy"] - 1e-7
    assert res["accuracy_tuned"] == res["tuned"]["accuracy_receiver_gains"]
    sw = res["sweep"]["untuned"]  # the λ sweep at the same receiver gains: equal at the design wavelength
    assert sw["accuracy"][sw["wavelength_um"].index(1.55)] == pytest.approx(res["accuracy"])


def test_tuned_tables_keep_columns_and_physics(small_dir):
    from gf_prune.foundry import write_tuned_tables
    from gf_prune.netlist import core_cell, load_netlist
    from gf_prune.physics import heater_power_mw

    _write_pads(small_dir)
    recnet = load_netlist(small_dir / "network.gds")
    cc = CompiledCircuit(recnet, top=core_cell(recnet))  # the network chip inside the I/O top
    phases = np.random.default_rng(5).uniform(-7, 7, len(cc.slots))  # any real values: written wrapped
    assert write_tuned_tables(small_dir, cc.slots, phases) == {"heaters": "tuned/heaters.csv", "pads": "tuned/pads.csv"}

    with (small_dir / "heaters.csv").open() as f:
        orig = list(csv.DictReader(f))
        cols = list(orig[0])
    with (small_dir / "tuned" / "heaters.csv").open() as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == cols
        tuned = list(reader)
    assert len(tuned) == len(orig)
    for a, b in zip(orig, tuned, strict=True):
        assert {k: v for k, v in a.items() if k not in ("phase_rad", "power_mw")} == {
            k: v for k, v in b.items() if k not in ("phase_rad", "power_mw")
        }
        if a["pruned"] == "True":
            assert b["phase_rad"] == a["phase_rad"] and float(b["power_mw"]) == 0
        else:
            assert 0 <= float(b["phase_rad"]) < 2 * math.pi
            assert float(b["power_mw"]) == pytest.approx(float(heater_power_mw(float(b["phase_rad"]))), rel=1e-9)
    with (small_dir / "tuned" / "pads.csv").open() as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == PAD_COLUMNS
        pads = list(reader)
    by_key = {(r["layer"], r["mesh"], r["column"], r["row"], r["kind"]): r for r in tuned}
    for p in pads:
        if p["kind"] == "ground":
            assert p["current_mA"] == "9.0"  # copied unchanged
            continue
        h = by_key[(p["layer"], p["mesh"], p["column"], p["row"], p["kind"])]
        assert p["phase_rad"] == h["phase_rad"]
        i_a, v = float(p["current_mA"]) * 1e-3, float(p["voltage_V"])
        assert v / i_a == pytest.approx(1000.0, rel=1e-4)  # same resistance
        assert i_a * i_a * 1000.0 * 1e3 == pytest.approx(float(p["power_mw"]), rel=1e-4)  # P = I²R


# ----------------------------------------------------------------------------- config and stage


def test_config_foundry_key_is_typed():
    from gf_prune.config import ConfigError, RunConfig, validate

    assert RunConfig().verify.foundry == "auto"
    with pytest.raises(ConfigError, match=r"verify\.foundry"):
        validate(RunConfig, {"verify": {"foundry": "sometimes"}})
    with pytest.raises(ConfigError, match=r"verify\.foundry_lr"):
        validate(RunConfig, {"verify": {"foundry_lr": -1}})


def test_auto_on_the_generic_pdk_skips_and_true_names_the_key(small_dir):
    from gf_prune.config import RunConfig, validate
    from gf_prune.foundry import foundry_stage

    res = foundry_stage(small_dir, RunConfig(), SimpleNamespace())
    assert "no SAX models" in res["skipped"] and res["pdk"] == "generic"
    assert "accuracy" not in res and res["timings_s"]["total"] < 2.0  # a look-up, nothing simulated
    assert foundry_stage(small_dir, validate(RunConfig, {"verify": {"foundry": False}}), None) is None
    with pytest.raises(ValueError, match=r"verify\.foundry_pdk"):
        foundry_stage(small_dir, validate(RunConfig, {"verify": {"foundry": True}}), SimpleNamespace())


def test_report_shows_foundry_accuracies_only_when_computed(tmp_path):
    from gf_prune.foundry import plot_foundry_sweep
    from gf_prune.report import _foundry_rows

    rows = _foundry_rows({"accuracy.foundry": 0.1, "accuracy.foundry_tuned": 0.5, "verify.foundry.pdk": "cspdk"})
    assert rows == [("Test accuracy, cspdk's models: trained / re-fitted phases", "10.00 % / 50.00 %")]
    assert _foundry_rows({"accuracy.foundry": None}) == []
    sweep = {"wavelength_um": [1.54, 1.55], "accuracy": [0.1, 0.5], "fidelity_detected": [[0.2, 0.9]]}
    png = plot_foundry_sweep({"untuned": sweep, "tuned": sweep}, tmp_path / "s.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_mzi_built_from_cspdk_cells_maps_to_cspdk_models_only(pdk_models):
    """The cell names cspdk's own cells give in a netlist (the "pdk" helper's chip) all find a model."""
    import gdsfactory as gf
    from cspdk.si220.cband import PDK
    from gf_prune.components import mzi_unit

    clear_cells()  # cells are cached by name and settings, not by PDK
    PDK.activate()
    try:
        recnet = extract_netlist(mzi_unit(bias_length=0.326))
    finally:
        clear_cells()
        gf.gpdk.PDK.activate()
    fm = foundry_cell_models(recnet, pdk_models, "cspdk")
    assert fm.fallbacks == [] and not fm.warnings
    assert set(fm.mapping) == {"mmi2x2", "straight", "bend_euler", "straight_heater_metal"}
    cc = CompiledCircuit(recnet, cell_models=fm.cell_models)
    s = cc.evaluate(np.zeros(len(cc.slots)))
    power = np.sum(np.abs(s[:, cc.ports.index("o1")]) ** 2)
    assert 0.5 < power < 1.0  # lossy (two 0.3 dB MMIs, 3 dB/cm), nothing amplified
