"""SAX verification: the laid-out circuit computes the network, and a broken layout is caught.

The layouts come from the layout compiler (``gf_prune.layout.build_network``); the
references are the trained matrices (``NetworkPhases``), the convention's closed
form (``mesh_unitary``) and SAX's own flat ``sax.circuit`` with the KLU backend.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from conftest import random_network as shared_random_network

from gf_prune.mesh import mesh_unitary, topology
from gf_prune.naming import MESHES
from gf_prune.phases import NetworkPhases
from gf_prune.verify import CompiledCircuit, Verifier, slot_tag, verify, verify_dir

SIZES = (4, 4, 3)


def random_network(sizes=SIZES, zero_state="bar", p_live=0.5, seed=3) -> NetworkPhases:
    """A pruned network: random phases, about half of them pruned (some MZIs fully), Σ mostly live, gain 1.7."""
    return shared_random_network(sizes, p_live, seed, zero_state, sigma_live=(0.9, 0.5), gain=1.7)


def first_removed(net: NetworkPhases) -> str:
    """Name of the first fully pruned (removed) MZI in the order light meets them."""
    names = []
    for li, layer in enumerate(net.layers):
        for m in ("V", "U"):
            mp = getattr(layer, m)
            for k in np.flatnonzero(mp.removable):
                names.append((li, MESHES.index(m), int(mp.topo.cols[k]), int(mp.topo.rows[k]), m))
    li, _, c, r, m = min(names)
    return f"mzi_{m}{li}_c{c}_r{r}"


@pytest.fixture(scope="module")
def net() -> NetworkPhases:
    return random_network()


@pytest.fixture(scope="module")
def chip(net):
    from gf_prune.layout import build_network

    return build_network(net, pruned_mzi="remove")


@pytest.fixture(scope="module")
def verifier(chip, net) -> Verifier:
    return Verifier(chip, net)


def test_pruned_network_verifies(verifier):
    res = verifier.check()
    assert res.passed, res.culprits
    assert res.max_rel_error < 1e-9
    assert {(d["layer"], d["mesh"]) for d in res.per_mesh} == {(li, m) for li in range(2) for m in "VSU"}
    assert res.culprit is None
    assert res.matrices["V0"].shape == (4, 4) and res.matrices["W1"].shape == (3, 4)


def test_cross_zero_state_with_crossings_for_removed_mzis_verifies():
    from gf_prune.layout import build_network

    net = random_network(zero_state="cross", seed=11)
    assert any(m.removable.any() for layer in net.layers for m in (layer.V, layer.U))
    res = verify(build_network(net, pruned_mzi="remove"), net)
    assert res.passed and res.max_rel_error < 1e-9


def test_bias_mode_network_verifies_with_the_bias_port_driven():
    """A network with the optical bias mode: each V mesh one input wider, that port labelled 'bias'; SAX of
    the layout equals W (bias column last) and predicts what the network does with the bias field on."""
    import torch

    from gf_prune.layout import build_network
    from gf_prune.model import PhotonicMLP

    model = PhotonicMLP((3, 4, 3), init="uniform", seed=4, bias=True)
    with torch.no_grad():
        model.layers[0].bias_amp.fill_(0.6)
    net = model.to_phases()
    assert [lp.n_in for lp in net.layers] == [4, 5]
    chip = build_network(net, pruned_mzi="remove")
    res = verify(chip, net)
    assert res.passed and res.max_rel_error < 1e-9
    assert res.layer_matrices[0].shape == (4, 4) and res.layer_matrices[1].shape == (3, 5)
    x = torch.randn(20, 3, dtype=torch.complex128, generator=torch.Generator().manual_seed(0))
    gains = [lp.S.gain for lp in net.layers]
    mats = [np.asarray(w) * g for w, g in zip(res.layer_matrices, gains, strict=True)]
    assert torch.equal(PhotonicMLP.predict_from_matrices(mats, x, net.bias_amps), model.predict(x))
    texts = []
    it = chip.kdb_cell.begin_shapes_rec(chip.kcl.layer(66, 0))
    while not it.at_end():
        if it.shape().is_text():
            t = it.shape().text.transformed(it.trans())
            texts.append((t.string, t.x * chip.kcl.dbu, t.y * chip.kcl.dbu))
        it.next()
    bias_labels = [(x_, y_) for s_, x_, y_ in texts if s_ == "bias"]
    assert len(bias_labels) == 2
    for li, (bx, by) in enumerate(sorted(bias_labels, key=lambda p: -p[1])):
        port = chip.ports[f"l{li}_in{net.layers[li].n_in - 1}"]
        assert (bx, by) == pytest.approx(tuple(port.center))


def test_reck_mesh_network_verifies():
    from gf_prune.layout import build_network

    net = random_network(seed=5)
    for layer in net.layers:
        for m in (layer.V, layer.U):
            m.kind = "reck"
    net.mesh_kind = "reck"
    res = verify(build_network(net), net)
    assert res.passed and res.max_rel_error < 1e-9


@pytest.mark.slow
def test_default_size_pruned_network_verifies():
    from gf_prune.layout import build_network

    net = random_network((16, 16, 16, 10), p_live=0.15, seed=1)
    res = verify(build_network(net), net)
    assert res.passed and res.max_rel_error < 1e-9


def test_unpowered_bar_variant_verifies(net):
    from gf_prune.layout import build_network

    res = verify(build_network(net, pruned_mzi="bar"), net)
    assert res.passed and res.max_rel_error < 1e-9


def test_sax_layer_matrices_are_the_trained_layers_and_predict_the_same_class(verifier, net):
    import torch

    from gf_prune.model import PhotonicMLP

    res = verifier.check()
    for w_sax, w in zip(res.layer_matrices, net.matrices(), strict=True):
        gain = w[np.nonzero(w)][0] / w_sax[np.nonzero(w)][0]  # the off-chip gain, real
        assert abs(gain.imag) < 1e-9
        np.testing.assert_allclose(w_sax * gain, w, atol=1e-9)
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.normal(size=(500, SIZES[0])) + 1j * rng.normal(size=(500, SIZES[0])))
    gains = [lp.S.gain for lp in net.layers]
    pred_sax = PhotonicMLP.predict_from_matrices([m * g for m, g in zip(res.layer_matrices, gains, strict=True)], x)
    assert torch.equal(pred_sax, PhotonicMLP.predict_from_matrices(net.matrices(), x))


def _slot(v: Verifier, inst: str, kind: str) -> int:
    return next(i for i, s in enumerate(v.cc.slots) if s[-2] == inst and s[-1] == kind)


def test_heater_phase_off_by_a_tenth_radian_fails_and_names_the_mzi(verifier, net):
    k = int(np.flatnonzero(net.layers[0].U.theta_live)[-1])
    topo = net.layers[0].U.topo
    inst = f"mzi_U0_c{topo.cols[k]}_r{topo.rows[k]}"
    good = verifier.phases.copy()
    try:
        verifier.phases[_slot(verifier, inst, "theta")] += 0.1
        res = verifier.check()
    finally:
        verifier.phases = good
    assert not res.passed
    assert res.max_rel_error > 1e-3
    assert inst in res.culprit and "theta heater off by +0.1 rad" in res.culprit
    assert len(res.culprits) == 1


def test_removed_mzi_with_wrong_path_length_fails_and_names_it(chip, net):
    from gf_prune.netlist import extract_netlist

    recnet = copy.deepcopy(extract_netlist(chip))
    removed = next(name for name in recnet if name.startswith("mzi_removed"))
    straight = next(i for i, s in recnet[removed]["instances"].items() if s["component"] == "straight")
    spec = recnet[removed]["instances"][straight]
    spec["settings"] = {**spec["settings"], "length": spec["settings"]["length"] + 0.05}  # 50 nm too long
    res = verify(recnet, net)
    assert not res.passed
    assert first_removed(net) in res.culprit


def test_swapped_port_fails_and_names_the_instance(chip, net):
    from gf_prune.netlist import extract_netlist

    recnet = copy.deepcopy(extract_netlist(chip))
    v0 = next(name for name, n in recnet.items() if any(i.startswith("mzi_V0_c1_") for i in n["instances"]))
    nets = recnet[v0]["nets"]
    target = "mzi_V0_c1_r1"
    hit = [(i, k) for i, n in enumerate(nets) for k in ("p1", "p2") if n[k] in (f"{target},o1", f"{target},o2")]
    (i1, k1), (i2, k2) = hit
    nets[i1][k1], nets[i2][k2] = nets[i2][k2], nets[i1][k1]
    res = verify(recnet, net)
    assert not res.passed
    assert target in res.culprit and "joins mode" in res.culprit


def test_live_phase_without_heater_is_named(net):
    from gf_prune.layout import build_network

    k = int(np.flatnonzero(net.layers[1].V.phi_live)[0])
    topo = net.layers[1].V.topo
    built = copy.deepcopy(net)
    built.layers[1].V.phi_live[k] = False
    res = verify(build_network(built), net)
    inst = f"mzi_V1_c{topo.cols[k]}_r{topo.rows[k]}"
    assert not res.passed
    assert any(inst in c for c in res.culprits)


def test_unmodelled_cell_in_the_netlist_is_an_error_naming_it(chip):
    from gf_prune.netlist import extract_netlist
    from gf_prune.sax_models import UnmodelledCellError

    recnet = copy.deepcopy(extract_netlist(chip))
    cell = next(name for name in recnet if name.startswith("passthrough"))
    inst = next(iter(recnet[cell]["instances"]))
    recnet[cell]["instances"][inst]["component"] = "ring_single"
    with pytest.raises(UnmodelledCellError, match="ring_single"):
        CompiledCircuit(recnet)


def test_mesh_matches_the_convention_and_reevaluates_without_recompiling():
    from gf_prune.components.mesh import mesh

    from gf_prune.layout import activate_pdk

    activate_pdk()
    n = 6
    cc = CompiledCircuit(mesh(n, layer=0, mesh_name="U").get_netlist(recursive=True))
    topo = topology(n)
    idx = {s: topo.index(slot_tag(s[0])[2], slot_tag(s[0])[3]) for s in cc.slots}
    pos = {p: i for i, p in enumerate(cc.ports)}
    rows, cols = [pos[f"out{r}"] for r in range(n)], [pos[f"in{r}"] for r in range(n)]
    for seed in (1, 2):
        th, ph = np.random.default_rng(seed).uniform(0, 2 * np.pi, (2, topo.n_mzis))
        vals = [(th if s[-1] == "theta" else ph)[idx[s]] for s in cc.slots]
        u = cc.evaluate(vals)[np.ix_(rows, cols)]
        m = mesh_unitary(topo, th, ph)
        alpha = np.angle(np.vdot(m, u))
        np.testing.assert_allclose(u, np.exp(1j * alpha) * m, atol=1e-11)


def test_fast_path_equals_flat_sax_circuit_klu():
    import sax
    from gf_prune.components.mesh import mesh

    from gf_prune.layout import activate_pdk
    from gf_prune.sax_models import models

    activate_pdk()
    # an MZI with both heaters, a removed MZI and an MZI with only φ, plus passthroughs
    cc = CompiledCircuit(mesh(3, layer=0, mesh_name="V", states="3x1").get_netlist(recursive=True))
    ph = np.random.default_rng(5).uniform(0, 2 * np.pi, len(cc.slots))
    for wl in (1.55, 1.52):
        fast = cc.evaluate(ph, wl)
        circ, _ = sax.circuit(cc.flat_netlist(ph), models=models(), backend="klu", return_type="SDense")
        s, pm = circ(wl=wl)
        ref = np.asarray(s)[np.ix_([pm[p] for p in cc.ports], [pm[p] for p in cc.ports])]
        assert np.max(np.abs(fast - ref)) < 1e-10


def test_verify_dir_reads_the_gds_and_plots_the_wavelength_sweep(tmp_path, net):
    from gf_prune.layout import compile_network

    compile_network(net, tmp_path, png=False)
    net.save(tmp_path / "phases.npz")
    d = verify_dir(tmp_path)
    assert d["passed"] and d["max_rel_error"] < 1e-9
    assert len(d["layer_matrices"]) == len(net.layers)
    assert (tmp_path / "wavelength_sweep.png").stat().st_size > 1000
    sweep = d["sweep"]
    i0 = int(np.argmin(np.abs(np.asarray(sweep["wavelength_um"]) - 1.55)))
    assert sweep["chip_rel_error"][i0] < 1e-9
    assert sweep["chip_rel_error"][0] > 1e-3 and sweep["chip_rel_error"][-1] > 1e-3  # off design λ


def test_verify_dir_without_phases_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"phases\.npz"):
        verify_dir(tmp_path)
