"""The cells realise the convention: equal slot widths, heaters only where live, and —
evaluated from their own netlists with plain waveguide phases exp(i·2π·n_eff·L/λ) —
the MZI transfer T(θ, φ) of gf_prune.physics, a passthrough and a removed MZI of the
same common phase, and a mesh equal to mesh_unitary up to one global phase."""

from __future__ import annotations

import math
import warnings

import gdsfactory as gf
import numpy as np
import pytest
from gf_prune.components import (
    attenuator,
    mesh,
    mzi_bar,
    mzi_removed,
    mzi_unit,
    passthrough,
    slot_states,
)

from gf_prune.layout import activate_pdk
from gf_prune.mesh import mesh_unitary, topology
from gf_prune.netlist import extract_netlist
from gf_prune.physics import attenuator_transfer, mzi_transfer

activate_pdk()
warnings.filterwarnings("ignore", message="Unconnected ports")

WL, NEFF = 1.55, 2.5  # the π bias 0.31 µm is exactly λ/(2·n_eff)
HEATERS = ("straight_heater_metal", "straight_heater_metal_undercut", "straight_heater_metal_simple")


# ----------------------------------------------------------------------------- a tiny, independent circuit solver


def _wg(length: float) -> complex:
    return np.exp(2j * math.pi * NEFF * length / WL)


def _leaf(comp: str, settings: dict, info: dict, phase: float) -> tuple[list[str], np.ndarray]:
    if comp == "straight" or comp.startswith("bend"):
        t = _wg(float(settings["length"]) if comp == "straight" else float(info["length"]))
        return ["o1", "o2"], np.array([[0, t], [t, 0]])
    if comp in HEATERS:
        t = _wg(float(settings["length"])) * np.exp(1j * phase)
        return ["o1", "o2"], np.array([[0, t], [t, 0]])
    if comp == "mmi2x2":  # convention coupler: bar o2→o3, o1→o4 real, cross +i, times its length
        t = _wg(2 * settings.get("length_taper", 10.0) + settings.get("length_mmi", 5.5)) / math.sqrt(2)
        s = np.zeros((4, 4), complex)
        for a, b, v in ((1, 2, t), (0, 3, t), (1, 3, 1j * t), (0, 2, 1j * t)):
            s[a, b] = s[b, a] = v
        return ["o1", "o2", "o3", "o4"], s
    if comp == "crossing":
        s = np.zeros((4, 4), complex)
        s[0, 2] = s[2, 0] = s[1, 3] = s[3, 1] = _wg(8.0)
        return ["o1", "o2", "o3", "o4"], s
    if comp == "terminator":
        return ["o1"], np.zeros((1, 1))
    raise KeyError(comp)


def solve(recnet: dict, cell: str, phases: dict[tuple[str, ...], float], path: tuple[str, ...] = ()):
    """(external port names, S) of ``cell``; heater phases keyed by instance path."""
    net = recnet[cell]
    names, blocks = [], []
    for inst, spec in net["instances"].items():
        comp = spec["component"]
        if comp in recnet and comp != "terminator" and comp not in HEATERS:
            ports, s = solve(recnet, comp, phases, (*path, inst))
        else:
            ports, s = _leaf(comp, spec.get("settings", {}), spec.get("info", {}), phases.get((*path, inst), 0.0))
        names += [f"{inst},{p}" for p in ports]
        blocks.append(s)
    n = len(names)
    index = {p: i for i, p in enumerate(names)}
    s_all = np.zeros((n, n), complex)
    k = 0
    for b in blocks:
        s_all[k : k + len(b), k : k + len(b)] = b
        k += len(b)
    conn = np.zeros((n, n))
    for nt in net["nets"]:
        i, j = index[nt["p1"]], index[nt["p2"]]
        conn[i, j] = conn[j, i] = 1
    ext = [p for p in net["ports"] if not p.endswith(("_e1", "_e2"))]
    e = np.zeros((n, len(ext)))
    for c, p in enumerate(ext):
        e[index[net["ports"][p]], c] = 1
    a = np.linalg.solve(np.eye(n) - conn @ s_all, e)
    return ext, e.T @ s_all @ a


def transfer(c: gf.Component, ins: list[str], outs: list[str], phases=None) -> np.ndarray:
    recnet = extract_netlist(c)
    top = next(iter(recnet))
    ports, s = solve(recnet, top, phases or {})
    return np.array([[s[ports.index(o), ports.index(i)] for i in ins] for o in outs])


MZI_IN, MZI_OUT = ["o1", "o2"], ["o3", "o4"]


# ----------------------------------------------------------------------------- tests


@pytest.mark.parametrize("zero_state", ["bar", "cross"])
def test_every_slot_has_the_same_width_and_port_rows(zero_state):
    cells = [
        mzi_unit(zero_state=zero_state),
        mzi_unit(zero_state=zero_state, theta_heater=False),
        mzi_bar(zero_state=zero_state),
        mzi_removed(zero_state=zero_state),
    ]
    for c in cells:
        got = {p.name: tuple(p.center) for p in c.ports if p.port_type == "optical"}
        assert got == {"o1": (0, 0), "o2": (0, -100), "o3": (395, 0), "o4": (395, -100)}, c.name
    p = passthrough(zero_state=zero_state)
    assert {q.name: tuple(q.center) for q in p.ports} == {"o1": (0, 0), "o2": (395, 0)}


def test_pruned_phase_has_no_heater_metal():
    c = mzi_unit(theta_heater=False, phi_heater=True)
    cells = {i.name: i.cell for i in c.insts}
    assert cells["theta"].function_name == "straight"
    assert cells["phi"].function_name in HEATERS
    assert {p.name for p in c.ports if p.port_type == "electrical"} == {"phi_e1", "phi_e2"}
    heater_layer = c.kcl.find_layer(47, 0)
    assert mzi_bar().bbox(heater_layer).empty()
    assert not c.bbox(heater_layer).empty()


@pytest.mark.parametrize("zero_state", ["bar", "cross"])
@pytest.mark.parametrize(("theta", "phi"), [(0.0, 0.0), (1.1, 0.0), (0.0, 2.3), (4.0, 5.5)])
def test_mzi_cell_realises_the_convention(zero_state, theta, phi):
    c = mzi_unit(zero_state=zero_state)
    t = transfer(c, MZI_IN, MZI_OUT, {("theta",): theta, ("phi",): phi})
    ref = mzi_transfer(theta, phi, zero_state) * _wg(c.info["ref_length"])
    np.testing.assert_allclose(t, ref, atol=1e-9)


@pytest.mark.parametrize("zero_state", ["bar", "cross"])
def test_removed_mzi_and_passthrough_match_the_heater_off_mzi(zero_state):
    ref_mzi = transfer(mzi_bar(zero_state=zero_state), MZI_IN, MZI_OUT)
    removed = transfer(mzi_removed(zero_state=zero_state), MZI_IN, MZI_OUT)
    np.testing.assert_allclose(removed, ref_mzi, atol=1e-9)
    np.testing.assert_allclose(ref_mzi, mzi_transfer(0, 0, zero_state) * _wg(mzi_bar().info["ref_length"]), atol=1e-9)
    for up in (True, False):
        t = transfer(passthrough(up=up, zero_state=zero_state), ["o1"], ["o2"])[0, 0]
        assert abs(t - _wg(mzi_bar().info["ref_length"])) < 1e-9


@pytest.mark.parametrize("zero_state", ["bar", "cross"])
def test_attenuator_transmission_up_to_a_common_phase(zero_state):
    c = attenuator(zero_state=zero_state)
    t0 = transfer(c, ["o1"], ["o2"])[0, 0]
    for theta, phi in ((1.0, 0.3), (2.5, 4.0)):
        t = transfer(c, ["o1"], ["o2"], {("theta",): theta, ("phi",): phi})[0, 0]
        want = attenuator_transfer(theta, phi, zero_state) / attenuator_transfer(0.0, 0.0, zero_state)
        assert abs(t / t0 - want) < 1e-9


@pytest.mark.parametrize(("kind", "zero_state"), [("clements", "bar"), ("reck", "bar"), ("clements", "cross")])
def test_pruned_mesh_equals_mesh_unitary_up_to_a_global_phase(kind, zero_state):
    n = 5
    topo = topology(n, kind)
    rng = np.random.default_rng(3)
    t_live, p_live = rng.random(topo.n_mzis) < 0.5, rng.random(topo.n_mzis) < 0.5
    theta = np.where(t_live, rng.uniform(0, 2 * np.pi, topo.n_mzis), 0)
    phi = np.where(p_live, rng.uniform(0, 2 * np.pi, topo.n_mzis), 0)
    c = mesh(n, kind, slot_states(t_live, p_live, "remove"), zero_state=zero_state)
    phases = {}
    for k in range(topo.n_mzis):
        name = f"mzi_U0_c{topo.cols[k]}_r{topo.rows[k]}"
        phases[(name, "theta")], phases[(name, "phi")] = theta[k], phi[k]
    u = transfer(c, [f"in{r}" for r in range(n)], [f"out{r}" for r in range(n)], phases)
    ref = mesh_unitary(topo, theta, phi, None, zero_state)
    g = np.vdot(ref, u) / abs(np.vdot(ref, u))
    assert np.linalg.norm(u - g * ref) / np.linalg.norm(ref) < 1e-9


def test_mesh_names_and_heater_labels():
    n = 4
    topo = topology(n)
    c = mesh(n, "clements", slot_states(np.ones(6, bool), np.zeros(6, bool), "remove"), layer=2, mesh_name="V")
    names = {i.name for i in c.insts}
    assert {f"mzi_V2_c{cc}_r{r}" for cc, r in zip(topo.cols, topo.rows, strict=True)} <= names
    assert {"pass_V2_c1_r0", "pass_V2_c1_r3"} <= names
    labels = {t.string for t in c.kdb_cell.shapes(c.kcl.find_layer(66, 0)).each() if t.is_text() for t in [t.text]}
    assert labels == {f"mzi_V2_c{cc}_r{r}_theta" for cc, r in zip(topo.cols, topo.rows, strict=True)}


def test_small_pitch_is_refused():
    with pytest.raises(ValueError, match="pitch"):
        mzi_unit(pitch=30.0)


def test_a_swapped_coupler_keeps_the_convention():
    from functools import partial

    coupler = partial(gf.components.mmi2x2, length_mmi=8.0, gap_mmi=0.3)
    c = mzi_unit(coupler=coupler, heater="straight_heater_metal_simple")
    t = transfer(c, MZI_IN, MZI_OUT, {("theta",): 0.7, ("phi",): 1.9})
    np.testing.assert_allclose(t, mzi_transfer(0.7, 1.9) * _wg(c.info["ref_length"]), atol=1e-9)
    p = transfer(passthrough(coupler=coupler), ["o1"], ["o2"])[0, 0]
    assert abs(p - _wg(c.info["ref_length"])) < 1e-9
