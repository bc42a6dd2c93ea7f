"""The MZI convention on a foundry PDK's own models (gf_prune.pdk_convention, cspdk 1.4.2).

References are independent of the code under test: the convention's matrices (gf_prune.physics), hand-built
coupler matrices, cspdk's documented numbers (strip n_eff 2.38, heater n_eff 2.34, MMI 0.3 dB) and the
exact-wave arithmetic of 155 µm = 238 waves at n_eff 2.38.
"""

from __future__ import annotations

import csv
import functools
import inspect
import json
import math

import numpy as np
import pytest
from conftest import random_network

from gf_prune.circuit import CompiledCircuit
from gf_prune.foundry_models import foundry_cell_models, load_pdk_models
from gf_prune.netlist import extract_netlist
from gf_prune.pdk_convention import coupler_model, heater_offset, probe_coupler, slot_extra_length
from gf_prune.physics import mzi_transfer, wrap_phase

pytest.importorskip("cspdk")

PORTS = ("o1", "o2", "o3", "o4")  # (west-bottom, west-top, east-top, east-bottom), gdsfactory's and cspdk's mmi2x2


@pytest.fixture(scope="module")
def models():
    return load_pdk_models("cspdk")[1]


def _lossless(models):
    """cspdk's models with every loss argument set to 0 (phases untouched)."""

    def drop(m):
        kw = {k: 0.0 for k in ("loss_dB", "loss_dB_cm") if k in inspect.signature(m).parameters}
        f = functools.partial(m, **kw)
        f.__name__, f.__module__ = m.__name__, m.__module__
        return f

    return {k: drop(v) for k, v in models.items()}


# ----------------------------------------------------------------------------- probes


def _sdict(m, ports=PORTS):
    wb, wt, et, eb = ports
    return {(wt, et): m[0, 0], (wb, et): m[0, 1], (wt, eb): m[1, 0], (wb, eb): m[1, 1]}


@pytest.mark.parametrize("arm, phase", [("top", 0.0), ("top", 2.1), ("bottom", 0.0), ("bottom", -1.3)])
def test_probe_reads_frame_and_phase_of_a_hand_built_coupler(arm, phase):
    b = np.array([[1, 1j], [1j, 1]]) / math.sqrt(2)
    m = 0.9 * np.exp(1j * phase) * (b if arm == "top" else np.array([[0, 1], [1, 0]]) @ b)
    p = probe_coupler(lambda wl=1.55: _sdict(m), PORTS)
    assert p.theta_arm == arm and abs(wrap_phase(p.phase_rad - phase + math.pi) - math.pi) < 1e-12
    assert abs(p.amplitude - 0.9 / math.sqrt(2)) < 1e-12 and p.deviation < 1e-12


def test_probe_of_cspdk_mmi_is_swapped_with_no_phase(models):
    p = probe_coupler(models["mmi2x2"], PORTS)
    assert p.theta_arm == "bottom" and abs(p.phase_rad) < 1e-12
    assert abs(p.amplitude - 10 ** (-0.3 / 20) / math.sqrt(2)) < 1e-9  # 0.3 dB, 50:50


def test_probe_of_gf_prune_ideal_coupler_is_the_convention():
    from gf_prune.sax_models import mmi2x2

    p = probe_coupler(mmi2x2, PORTS)
    assert p.theta_arm == "top" and abs(p.amplitude - 1 / math.sqrt(2)) < 1e-12


@pytest.mark.parametrize("m", [np.array([[0.8, 0.6j], [0.6j, 0.8]]), np.array([[1, 1], [1, 1]]) / 2, np.eye(2)])
def test_probe_rejects_a_coupler_that_is_not_50_50(m):
    with pytest.raises(ValueError, match="not a 50:50 coupler"):
        probe_coupler(lambda wl=1.55: _sdict(m), PORTS)


def test_heater_offset_of_cspdk_is_the_index_difference(models):
    want = float(wrap_phase(2 * math.pi * (2.34 - 2.38) * 100.0 / 1.55))
    assert abs(heater_offset(models["straight_heater_metal"], models["straight"], 100.0) - want) < 1e-9


def test_extra_length_of_cspdk_is_exact():
    # two 82.5 µm MMIs of phase 0 against 165 µm of waveguide: 155 µm = 238 waves at 2.38, so −10 µm
    assert slot_extra_length(0.0, 82.5, 2.38) == (-10.0, 0.0)


@pytest.mark.parametrize("seed", range(6))
def test_extra_length_matches_the_phase_to_the_grid(seed):
    rng = np.random.default_rng(seed)
    phase, length, neff = rng.uniform(-math.pi, math.pi), round(rng.uniform(5, 90), 3), round(rng.uniform(1.5, 3.5), 2)
    extra, residual = slot_extra_length(phase, length, neff, 1.55, -80.0, 40.0)
    assert -80.0 <= extra <= 40.0 and round(extra * 1000) % 2 == 0
    beta = 2 * math.pi * neff / 1.55
    err = abs(float(wrap_phase(beta * (2 * length + extra) - 2 * phase + math.pi)) - math.pi)  # two couplers
    assert abs(err - residual) < 1e-6 and residual <= beta * 0.001 + 1e-9  # within one nm of phase


def test_coupler_model_is_lossless_and_in_the_cells_ports():
    for arm in ("top", "bottom"):
        m = coupler_model(arm, 0.7, PORTS)(wl=np.array([1.5, 1.55]))
        s = np.array([[m["o2", "o3"], m["o1", "o3"]], [m["o2", "o4"], m["o1", "o4"]]])[..., 1]
        p = probe_coupler(coupler_model(arm, 0.7, PORTS), PORTS)
        assert p.theta_arm == arm and abs(p.phase_rad - 0.7) < 1e-12
        np.testing.assert_allclose(s.conj().T @ s, np.eye(2), atol=1e-12)


# ----------------------------------------------------------------------------- cells under cspdk's models


@pytest.fixture(scope="module")
def cs_cells():
    from gf_prune.pdk import pdk_cells

    cells = pdk_cells("cspdk")
    yield cells
    pdk_cells("generic")


def _transfer(comp, cell_models, phases, ins=("o1", "o2"), outs=("o3", "o4")):
    cc = CompiledCircuit(extract_netlist(comp), cell_models=cell_models)
    s = cc.evaluate(np.array([phases[slot[-1]] for slot in cc.slots]) if cc.slots else np.zeros(0))
    return s[np.ix_([cc.ports.index(o) for o in outs], [cc.ports.index(i) for i in ins])]


def _slot_cells(cells):
    from gf_prune.components.mzi import mzi_removed_pdk, mzi_unit_pdk, passthrough_pdk

    kw = cells.slot_settings("bar")
    assert kw["theta_arm"] == "bottom" and kw["extra_length"] == -10.0
    pdk_only = ("crossing", "extra_length", "crossing_extra", "loss_pair", "terminator")
    mzi = {k: v for k, v in kw.items() if k not in pdk_only}
    plain = {k: v for k, v in kw.items() if k not in ("heater", "heater_ports", "coupler_ports", "theta_arm")}
    assert kw["loss_pair"] == (-60.125, -60.125)  # β·(ΔL + 2 µm) ≡ −π/2: 119 quarter waves − 119 waves, exact
    drop = ("crossing", "heater", "heater_ports", "theta_arm", "crossing_extra")
    through = passthrough_pdk(**{k: v for k, v in kw.items() if k not in drop})
    removed = {k: v for k, v in plain.items() if k not in ("loss_pair", "terminator")}
    return mzi_unit_pdk(**mzi), through, mzi_removed_pdk(**removed)


@pytest.mark.parametrize("lossy", [False, True])
def test_one_cspdk_mzi_and_its_plain_slots_are_the_convention_under_cspdk_models(cs_cells, models, lossy):
    """MZI = c·T(θ, φ) at the programmed phases (trained − heater offset); passthrough = c, removed = c·diag(−1, 1):
    one c for all three. Lossless models: to 1e-9. cspdk's losses: the MZI's arms differ only by the 38.75 µm bias
    at 3 dB/cm (amplitude 1.3e-3); the passthrough has its own two MMIs (c²·i), the removed MZI lacks them
    (0.6 dB) and has 155 µm more waveguide."""
    ms = models if lossy else _lossless(models)
    mzi, through, removed = _slot_cells(cs_cells)
    d = cs_cells.convention.heater_offset_rad
    theta, phi = 1.1, 2.3
    programmed = {"theta": float(wrap_phase(theta - d)), "phi": float(wrap_phase(phi - d))}

    def on_pdk(comp):
        return foundry_cell_models(extract_netlist(comp), ms, "cspdk").cell_models

    got = _transfer(mzi, on_pdk(mzi), programmed)
    t = mzi_transfer(theta, phi)
    c = np.vdot(t, got) / np.vdot(t, t)
    pt = _transfer(through, on_pdk(through), {}, ("o1",), ("o2",))
    rm = _transfer(removed, on_pdk(removed), {})
    # the plain slots have no MMIs (0.6 dB) but 2·82.5 − 10 = 155 µm more waveguide (3 dB/cm) than the MZI
    mmi2 = 10 ** (-0.6 / 20) / 10 ** (-3.0 * 155e-4 / 20) if lossy else 1.0
    tol = 2e-3 if lossy else 1e-9
    assert np.max(np.abs(got / c - t)) < tol
    # the passthrough runs through two MMIs itself (loss matched); its waveguide is 58.125 µm shorter than the
    # MZI's reference path, whose c also carries half the 38.75 µm bias arm: 77.5 µm at 3 dB/cm
    wg = 10 ** (-3.0 * 77.5e-4 / 20) if lossy else 1.0
    assert abs(pt[0, 0] / c * wg - 1) < tol
    np.testing.assert_allclose(rm / c * mmi2, np.diag([-1, 1]), atol=tol)


def test_ideal_models_of_the_cspdk_chip_use_the_pdk_coupler(cs_cells):
    """The ideal check's models (lossless, the PDK's n_eff) give the same MZI: θ on the bottom arm is the convention."""
    mzi, through, _ = _slot_cells(cs_cells)
    ideal = cs_cells.cell_models()
    got = _transfer(mzi, ideal, {"theta": 0.4, "phi": 5.0})
    t = mzi_transfer(0.4, 5.0)
    c = np.vdot(t, got) / np.vdot(t, t)
    assert abs(abs(c) - 1) < 1e-12 and np.max(np.abs(got / c - t)) < 1e-9
    assert abs(_transfer(through, ideal, {}, ("o1",), ("o2",))[0, 0] / c - 1) < 1e-9


@pytest.mark.parametrize("kind, zero_state", [("clements", "bar"), ("clements", "cross"), ("butterfly", "bar")])
def test_small_cspdk_mesh_under_lossless_cspdk_models_is_the_trained_network(tmp_path, models, kind, zero_state):
    """A compacted cspdk chip (π delays, passthroughs, Σ; removed cross-state MZIs and butterfly swaps through
    cspdk's crossing) at heaters.csv's phases: fidelity 1 − 1e-9 per layer with cspdk's models less their losses;
    with the losses, fidelity stays > 0.9 (loss only)."""
    from gf_prune.foundry import FoundryCheck, layout_heater_offset
    from gf_prune.layout import compile_network
    from gf_prune.netlist import load_netlist
    from gf_prune.pdk import pdk_cells
    from gf_prune.phases import instance_name

    sizes = (4, 4) if kind == "butterfly" else (4, 4, 3)
    net = random_network(sizes, p_live=0.4, seed=4, zero_state=zero_state, kind=kind)
    try:
        fig = compile_network(net, tmp_path, pdk="cspdk", png=False, check=False, io=False)
        recnet = load_netlist(tmp_path / "network.gds")
    finally:
        pdk_cells("generic")
    conv = fig["pdk"]["convention"]
    assert conv["theta_arm"] == "bottom" and conv["extra_length_um"] == -10.0 and conv["extra_residual_rad"] == 0.0
    assert conv["crossing_extra_um"] == 9.24 and conv["crossing_residual_rad"] == 0.0  # its 9.24 µm span, phase 0
    assert fig["mzis"]["removed"] > 0
    offset = layout_heater_offset(tmp_path, "cspdk")
    assert offset == conv["heater_offset_rad"] and layout_heater_offset(tmp_path, "generic") == 0.0
    with (tmp_path / "heaters.csv").open() as f:
        rows = {(r["instance"], r["kind"]): r for r in csv.DictReader(f)}
    for li, mesh, c, r, kind, raw, live in net.iter_phases():
        row = rows[(instance_name(li, mesh, c, r), kind)]
        want = float(wrap_phase(raw - offset)) if live else 0.0
        assert abs(float(row["phase_rad"]) - want) < 1e-9  # what to program on this GDS
    lossy = 0.99999 if kind == "clements" and zero_state == "bar" else 0.99  # compacted: passthroughs only
    for ms, lo in ((_lossless(models), 1 - 1e-9), (models, lossy)):
        fc = FoundryCheck(recnet, net, foundry_cell_models(recnet, ms, "cspdk"), heater_offset_rad=offset)
        per = fc.figures(fc.matrices())["per_layer"]
        assert all(p["fidelity"] > lo for p in per), [p["fidelity"] for p in per]
    assert json.loads((tmp_path / "layout.json").read_text())["pdk"]["convention"] == conv


def test_generic_cells_keep_their_signatures_and_the_twins_take_the_new_keys():
    """The generic chip's cell names (hence its GDS bytes) come from the unchanged signatures; only the ``*_pdk``
    twins take ``theta_arm`` / ``extra_length``, chosen by :func:`pdk_variant` from the slot settings."""
    from gf_prune.components import mzi as z

    from gf_prune.netlist import activate_pdk

    activate_pdk()
    from gf_prune.components.butterfly import crossing_swap

    assert crossing_swap in z.PDK_VARIANTS
    for cell, (twin, keys) in z.PDK_VARIANTS.items():
        assert z.pdk_variant(cell, {"pitch": 100.0}) is cell
        for key in keys:
            assert key not in inspect.signature(cell).parameters and key in inspect.signature(twin).parameters
            assert z.pdk_variant(cell, {key: 1}) is twin
    assert z.pdk_variant("mmi2x2", {"theta_arm": "bottom"}) == "mmi2x2"
    with pytest.raises(ValueError, match="theta_arm"):
        z.mzi_unit_pdk(theta_arm="left")
    with pytest.raises(ValueError, match="even number of nm"):
        z.passthrough_pdk(extra_length=0.001)
