"""Verification at scale (issue 17): the GDS read with klayout.db alone and the feed-forward circuit solve
give exactly what the earlier path gave — gdsfactory's importer + extractor, and the factorised solves
(dense / SuperLU / KLU) — on random pruned networks of every kind the layout compiler builds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import random_network

from gf_prune.circuit import CompiledCircuit
from gf_prune.model import PhotonicMLP
from gf_prune.netlist import (
    UnreadableLayoutError,
    _import_gds,
    extract_netlist,
    load_netlist,
    netlist_equal,
    read_gds_netlist,
)


def _pruned_model(sizes, seed, **kw):
    model = PhotonicMLP(sizes, seed=seed, **kw)
    g = torch.Generator().manual_seed(seed)
    for li, mesh, kind, _, mask in model.phase_items():
        model.layers[li].set_mask(mesh, kind, torch.rand(mask.shape, generator=g) > 0.5)
    return model


def _network(case: str):
    """(NetworkPhases, build_network keywords) of one kind of chip."""
    if case == "compacted":
        return random_network((6, 5, 3), seed=3), {"compact": True}
    if case == "bar":
        return random_network((5, 4), seed=4), {"pruned_mzi": "bar"}
    if case == "cross":  # removed MZIs become crossings
        return random_network((5, 4, 3), seed=11, zero_state="cross"), {}
    if case == "bias":
        model = _pruned_model((3, 4, 3), 4, init="uniform", bias=True)
        with torch.no_grad():
            model.layers[0].bias_amp.fill_(0.6)
        return model.to_phases(), {"compact": True}
    if case == "butterfly":
        return _pruned_model((5, 8, 6), 1, mesh_kind="butterfly").to_phases(), {}
    raise ValueError(case)


CASES = ("compacted", "bar", "cross", "bias", "butterfly")


@pytest.fixture(scope="module", params=CASES)
def chip_gds(request, tmp_path_factory):
    from gf_prune.layout import build_network

    net, kw = _network(request.param)
    gds = tmp_path_factory.mktemp(request.param) / "network.gds"
    build_network(net, **kw).write_gds(gds)
    return request.param, net, gds


def test_gds_read_with_klayout_equals_gdsfactory_import(chip_gds):
    _, _, gds = chip_gds
    fast = read_gds_netlist(gds)
    ref = extract_netlist(_import_gds(gds))
    assert netlist_equal(fast, ref) == []
    assert fast == ref  # settings, info and placements too, not only the connectivity
    assert load_netlist(gds) == ref


def test_feed_forward_solve_equals_factorised_solves(chip_gds):
    """Same S of every cell instance (what the diagnosis reads), at the design λ and off it."""
    case, _, gds = chip_gds
    recnet = load_netlist(gds)
    fast, ref = CompiledCircuit(recnet), CompiledCircuit(recnet, feed_forward=False)
    solvers = {name: fast.cell(name).solver for name in fast._order}
    assert solvers[fast.top_name] == "cascade"
    assert {s for n, s in solvers.items() if "mesh" in n or n.startswith("mzi")} == {"cascade"}, solvers
    if case != "butterfly":  # a butterfly layer's padding terminators close a (zero-valued) loop: factorised
        assert {s for n, s in solvers.items() if not n.startswith("attenuator")} == {"cascade"}, solvers
    assert {ref.cell(name).solver for name in ref._order} <= {"dense", "splu", "klu"}
    ph = np.random.default_rng(0).uniform(0, 2 * np.pi, len(fast.slots))
    for wl in (1.55, 1.5312):
        a, b = fast.evaluate_all(ph, wl), ref.evaluate_all(ph, wl)
        for name, s in b.cell_s.items():
            np.testing.assert_allclose(a.cell_s[name], s, rtol=0, atol=1e-12, err_msg=f"{case}: {name} at {wl}")


def test_batched_sweep_equals_one_wavelength_at_a_time(chip_gds):
    _, _, gds = chip_gds
    cc = CompiledCircuit(load_netlist(gds))
    ref = CompiledCircuit(load_netlist(gds), feed_forward=False)
    ph = np.random.default_rng(1).uniform(0, 2 * np.pi, len(cc.slots))
    wls = np.linspace(1.50, 1.60, 5)
    batched = cc.evaluate_sweep(ph, wls, chunk=5)
    np.testing.assert_allclose(batched, ref.evaluate_sweep(ph, wls, chunk=1), rtol=0, atol=1e-12)
    for w, s in zip(wls, batched, strict=True):
        np.testing.assert_allclose(s, ref.evaluate(ph, w), rtol=0, atol=1e-12)


def test_verify_from_the_gds_passes_with_the_fast_path(chip_gds):
    from gf_prune.verify import verify

    _, net, gds = chip_gds
    res = verify(gds, net)
    assert res.passed and res.max_rel_error < 1e-9, res.culprits


# ----------------------------------------------------------------------------- the substitution itself


def _dense_outputs(n, dst, src, w, ext_in, out_src, out_ports, out_w, n_ports):
    """Independent reference: a = (I − C·S)⁻¹·C_ext, y = outputs, by numpy.linalg.solve."""
    a_mat = np.eye(n, dtype=complex)
    np.add.at(a_mat, (dst, src), -w)
    rhs = np.zeros((n, ext_in.size), complex)
    rhs[ext_in, np.arange(ext_in.size)] = 1
    a = np.linalg.solve(a_mat, rhs)
    y = np.zeros((n_ports, ext_in.size), complex)
    np.add.at(y, out_ports, out_w[:, None] * a[out_src])
    return y


def _random_dag(rng: np.random.Generator, layered: bool) -> tuple[int, np.ndarray, np.ndarray]:
    """(n, dst, src) of a random acyclic graph, each (dst, src) pair once: sparse and random, or layers of
    9–12 unknowns joined almost completely (fan-in ≥ 8: the dense, matmul sums)."""
    if layered:
        sizes = rng.integers(9, 13, int(rng.integers(2, 5)))
        first = np.concatenate([[0], np.cumsum(sizes)])
        blocks = [
            np.stack(np.meshgrid(np.arange(first[i + 1], first[i + 2]), np.arange(first[i], first[i + 1])), -1)
            for i in range(sizes.size - 1)
        ]
        pairs = np.concatenate([blk.reshape(-1, 2) for blk in blocks])
        pairs = pairs[rng.random(len(pairs)) < 0.9]
        return int(first[-1]), pairs[:, 0], pairs[:, 1]
    n = int(rng.integers(4, 40))
    rank = rng.permutation(n)  # a random topological order
    u, v = rng.integers(0, n, (2, int(rng.integers(1, 3 * n))))
    keep = rank[u] < rank[v]
    pairs = np.unique(np.stack([v[keep], u[keep]], 1), axis=0)
    return n, pairs[:, 0], pairs[:, 1]


def test_substitution_equals_dense_solve_on_random_dags_and_refuses_a_loop():
    from gf_prune import cascade

    rng = np.random.default_rng(7)
    dense_sums = 0
    for trial in range(30):
        n, dst, src = _random_dag(rng, layered=trial % 3 == 2)
        sources = np.flatnonzero(np.bincount(dst, minlength=n) == 0)
        ext_in = rng.choice(sources, size=max(1, sources.size // 2), replace=False)
        n_out = int(rng.integers(1, 6)) if trial % 3 != 2 else 40
        # an output S entry is one (instance port in, port out) pair: no two share both
        outs = np.unique(np.stack([rng.integers(0, n, 2 * n_out), rng.integers(0, ext_in.size, 2 * n_out)], 1), axis=0)
        out_src, out_ports = outs[:, 0], outs[:, 1]
        e_edge, e_out = dst.size, out_src.size
        entries = rng.permutation(e_edge + e_out)  # S entries of the edges and of the outputs
        plan = cascade.plan(n, dst, src, entries[:e_edge], ext_in, entries[e_edge:], out_src, out_ports)
        assert plan is not None, trial
        dense_sums += sum(lv.dense for p in plan.parts for lv in p.levels)
        sx = rng.normal(size=(3, e_edge + e_out)) + 1j * rng.normal(size=(3, e_edge + e_out))
        got = plan.solve(sx, ext_in.size)
        for b in range(3):
            want = _dense_outputs(
                n, dst, src, sx[b, entries[:e_edge]], ext_in, out_src, out_ports, sx[b, entries[e_edge:]], ext_in.size
            )
            scale = max(1.0, float(np.abs(want).max()))  # random weights, not a passive S: values up to ~100
            np.testing.assert_allclose(got[b], want, rtol=0, atol=1e-13 * scale)
    assert dense_sums > 0  # both kinds of sum were exercised
    loop = cascade.plan(
        3,
        np.array([1, 2, 0]),
        np.array([0, 1, 2]),
        np.arange(3),
        np.array([0]),
        np.zeros(0, int),
        np.zeros(0, int),
        np.zeros(0, int),
    )
    assert loop is None


def test_every_gf_prune_cell_is_substituted(chip_gds):
    """Terminators are absorbers (no entries): two of them facing each other through a cell (an
    attenuator's unused coupler ports, a butterfly layer's padding) close no loop."""
    _, _, gds = chip_gds
    cc = CompiledCircuit(load_netlist(gds))
    assert {cc.cell(n).solver for n in cc._order} == {"cascade"}


def test_a_ring_with_a_loop_is_factorised_and_matches_its_closed_form():
    """An all-pass ring (coupler o3 → waveguide → o2): light circulates, so the cell is factorised."""
    from gf_prune import sax_models as M

    ring = {
        "instances": {
            "cp": {"component": "mmi2x2", "settings": {"length_taper": 10.0, "length_mmi": 5.5}},
            "wg": {"component": "straight", "settings": {"length": 40.0}},
        },
        "nets": [{"p1": "cp,o3", "p2": "wg,o1"}, {"p1": "cp,o2", "p2": "wg,o2"}],
        "ports": {"in": "cp,o1", "out": "cp,o4"},
    }
    cc = CompiledCircuit({"ring": ring})
    assert cc.cell("ring").feed is None and cc.cell("ring").solver != "cascade"
    for wl in (1.55, 1.5537):
        c = complex(M.mmi2x2(wl=wl, length=25.5)["o1", "o4"])  # bar = t/√2
        loop = complex(M.straight(wl=wl, length=40.0)["o1", "o2"])
        want = c - c * c * loop / (1 - c * loop)  # bar, plus i·c·L·(i·c·u)/(1 − c·L) round the ring
        s = cc.evaluate(None, wl)
        assert cc.ports == ["in", "out"]
        assert abs(s[1, 0] - want) < 1e-13


# ----------------------------------------------------------------------------- reading what it cannot reproduce


def test_a_gds_the_reader_cannot_reproduce_goes_through_gdsfactory(tmp_path):
    import gdsfactory as gf

    from gf_prune.layout import activate_pdk

    activate_pdk()
    c = gf.Component()
    s1 = c << gf.components.straight(length=10)  # auto-named instances: gdsfactory's namer decides
    s2 = c << gf.components.straight(length=5)
    s2.connect("o1", s1.ports["o2"])
    c.add_port("in", port=s1.ports["o1"])
    gds = tmp_path / "plain.gds"
    c.write_gds(gds)
    with pytest.raises(UnreadableLayoutError, match="no plain name"):
        read_gds_netlist(gds)
    ref = extract_netlist(_import_gds(gds))
    assert load_netlist(gds) == ref
    (top,) = [v for k, v in ref.items() if v["instances"]]
    assert len(top["nets"]) == 1
