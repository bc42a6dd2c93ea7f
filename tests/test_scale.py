"""Costs that grow with the work (issue 17): sparse thermal crosstalk, batched λ sweep, netlist reuse,
report size. Each case is checked against an independent, straightforward reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gf_prune import heaters
from gf_prune import montecarlo as MC
from gf_prune.imperfections import Imperfections
from gf_prune.model import PhotonicMLP

# ----------------------------------------------------------------------------- crosstalk: sparse == dense


def _dense_reference(pos, live, kappa, ref, decay, cutoff, receive_at_pruned):
    """The O(H²) formula written out: every pair's distance, κ(d), masks."""
    d = np.sqrt(((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1))
    k = np.where((d > 0) & (d <= cutoff) & np.isfinite(d), kappa * np.exp(-np.maximum(d - ref, -decay) / decay), 0.0)
    k = k * live[None, :]
    if not receive_at_pruned:
        k = k * live[:, None]
    np.fill_diagonal(k, 0.0)
    return k


@pytest.mark.parametrize("receive_at_pruned", [False, True])
@pytest.mark.parametrize("cutoff", [0.0, 120.0, 300.0, 1e5])
def test_crosstalk_sparse_equals_dense_reference(receive_at_pruned, cutoff):
    rng = np.random.default_rng(3)
    pos = rng.uniform(0, 800, size=(300, 2))
    pos[:40] = np.round(pos[:40] / 50) * 50  # some sites exactly on the cutoff / at equal distances
    pos[5] = pos[6]  # two heaters at the same place: d = 0 couples nothing
    pos[7] = np.nan  # unplaced site
    live = rng.random(300) > 0.3
    args = (0.01, 50.0, 30.0, cutoff)
    want = _dense_reference(pos, live, *args, receive_at_pruned)
    k = heaters.crosstalk_sparse(pos, live, *args, receive_at_pruned=receive_at_pruned)
    np.testing.assert_allclose(k.toarray(), want, rtol=1e-13, atol=0)
    np.testing.assert_allclose(heaters.crosstalk_matrix(pos, live, *args, receive_at_pruned), want, rtol=1e-13)
    if cutoff < 1e4:  # the neighbour lists hold only pairs inside the cutoff
        assert k.nnz == np.count_nonzero(want)


def test_crosstalk_in_monte_carlo_equals_dense_application():
    model = PhotonicMLP((6, 5, 3), seed=2)
    with torch.no_grad():
        for _, _, _, p, m in model.phase_items():
            m.copy_(torch.rand(m.shape, generator=torch.Generator().manual_seed(p.numel())) > 0.3)
    model.apply_masks()
    pos = heaters.grid_heater_positions(model, column_pitch_um=60.0, row_pitch_um=40.0)
    p0, live = heaters._flat_phases(model)
    for into_pruned in (False, True):
        imp = Imperfections(crosstalk=0.05, bits=5, crosstalk_into_pruned=into_pruned)
        draws = MC._draw(p0.numel(), 3, 0)
        got = MC._Perturbed(model, imp, draws, pos).phases.detach()
        from gf_prune.imperfections import quantize_phase

        pq = torch.where(live, quantize_phase(p0.detach(), 5), p0.detach()).numpy()
        k = _dense_reference(pos, live.numpy(), 0.05, 50.0, 30.0, 300.0, into_pruned)
        drive = np.where(live.numpy(), np.mod(pq, 2 * np.pi), 0.0)
        want = pq + k @ drive
        assert np.abs(k @ drive).max() > 1e-3  # the case does couple
        np.testing.assert_allclose(got.numpy(), np.broadcast_to(want, got.shape), rtol=0, atol=1e-13)


def test_crosstalk_scales_linearly_in_heaters():
    """12 k heaters on a 64-mode grid: neighbour lists, no H × H matrix (the dense one took 7–17 s)."""
    import time

    model = PhotonicMLP((65, 64, 10), seed=0)
    pos = heaters.grid_heater_positions(model, column_pitch_um=200.0)
    live = np.ones(len(pos), dtype=bool)
    t = time.perf_counter()
    k = heaters.crosstalk_sparse(pos, live)
    assert time.perf_counter() - t < 3.0
    assert k.shape == (len(pos), len(pos)) and k.nnz < 100 * len(pos)


@pytest.mark.parametrize("zero_state", ["bar", "cross"])
def test_deep_mesh_monte_carlo_equals_column_product(zero_state):
    """Deep meshes (> TREE_MAX_COLS columns) take the grouped row-update path: same matrices as the
    plain product of every perturbed column matrix (couplers, loss, crosstalk into removed MZIs)."""
    from gf_prune.heaters import _blocks
    from gf_prune.mesh import product_tree

    model = PhotonicMLP((20, 19), seed=4, zero_state=zero_state)
    with torch.no_grad():
        for _, _, _, p, m in model.phase_items():
            m.copy_(torch.rand(m.shape, generator=torch.Generator().manual_seed(p.numel())) > 0.4)
    model.apply_masks()
    imp = Imperfections(sigma_ps=0.02, sigma_bs=0.03, loss_db=0.3, waveguide_loss_db=0.05, crosstalk=0.02)
    draws = MC._draw(len(heaters.heater_keys(model)), 5, 1)
    pert = MC._Perturbed(model, imp, draws)
    for b in _blocks(model):
        if b.topo is None:
            continue
        assert b.topo.n_cols > 16
        got = MC._mesh(b.topo, pert, b, zero_state, None)
        m = MC._columns_from_elements(b.topo, MC._elements(pert, b, zero_state))
        amp = MC._slot_amplitudes(b.topo, pert.amp[:, b.m_off : b.m_off + b.size], pert.amp_wg_layer[b.layer])
        want = product_tree(m * amp[..., :, None])
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- verify: netlist reuse, λ sweep


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A small pruned network laid out to network.gds (the verify tests' random network)."""
    from test_verify import random_network

    from gf_prune.layout import compile_network

    out = tmp_path_factory.mktemp("scale_verify")
    net = random_network()
    compile_network(net, out, png=False, check=False)
    net.save(out / "phases.npz")
    return out, net


def test_netlist_read_back_once_and_reused_gives_identical_verify(small_run, monkeypatch):
    import gdsfactory as gf

    from gf_prune import netlist as netlist_mod
    from gf_prune.netlist import load_netlist, netlist_cache_path
    from gf_prune.verify import verify

    out, net = small_run
    gds = out / "network.gds"
    fresh = verify(gds, net)  # no cache: reads the GDS
    first = verify(gds, net, netlist_cache=True)  # reads the GDS, keeps the netlist
    assert netlist_cache_path(gds).is_file()
    calls = []
    real, real_kdb = gf.import_gds, netlist_mod.read_gds_netlist
    monkeypatch.setattr(gf, "import_gds", lambda *a, **k: calls.append(a) or real(*a, **k))
    monkeypatch.setattr(netlist_mod, "read_gds_netlist", lambda *a, **k: calls.append(a) or real_kdb(*a, **k))
    again = verify(gds, net, netlist_cache=True)  # reuses it: the GDS is not read again
    assert calls == []
    for res in (first, again):
        assert res.passed
        assert [d["rel_error"] for d in res.per_mesh] == [d["rel_error"] for d in fresh.per_mesh]
        assert res.chip_rel_error == fresh.chip_rel_error
        for k, m in fresh.matrices.items():
            np.testing.assert_array_equal(res.matrices[k], m)
    import json

    assert load_netlist(gds, cache=True) == json.loads(json.dumps(load_netlist(gds)))  # tuples read back as lists
    # a changed GDS is read again, not served from the stale cache
    n_reads = len(calls)
    gds.write_bytes(gds.read_bytes() + b"\0" * 2048)
    import contextlib

    with contextlib.suppress(Exception):  # the padded file may not parse; what matters is that it was read
        load_netlist(gds, cache=True)
    assert len(calls) == n_reads + 1


def test_wavelength_sweep_batched_equals_looped(small_run):
    from gf_prune.verify import Verifier

    out, net = small_run
    v = Verifier(out / "network.gds", net)
    wls = np.linspace(1.50, 1.60, 7)
    looped = v.cc.evaluate_sweep(v.phases, wls, chunk=1)
    batched = v.cc.evaluate_sweep(v.phases, wls, chunk=7)
    single = np.stack([v.cc.evaluate(v.phases, w) for w in wls])
    np.testing.assert_allclose(batched, looped, rtol=0, atol=1e-10)  # a bigger batch may pick another solver
    np.testing.assert_allclose(single, looped, rtol=0, atol=1e-12)
    sw = v.sweep(wls)
    assert len(sw["chip_rel_error"]) == 7 and min(sw["chip_rel_error"]) < 1.0


# ----------------------------------------------------------------------------- report size


def test_report_of_a_64_mode_network_stays_small(tmp_path):
    """12 k heaters: the mesh maps are one embedded picture, no per-heater table is inlined."""
    from gf_prune.report import write_report

    model = PhotonicMLP((65, 64, 10), seed=0)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _, _, _, _, m in model.phase_items():
            m.copy_(torch.rand(m.shape, generator=g) > 0.7)
    model.apply_masks()
    net = model.to_phases()
    net.save(tmp_path / "phases.npz")
    n_heaters = len(heaters.heater_keys(model))
    assert n_heaters > 12_000
    report = {"accuracy": {"dense": 0.95, "pruned": 0.94}, "phases": {"total_uv": 12314}, "timings_s": {"prune": 1.0}}
    html = write_report(tmp_path, report).read_text()
    assert len(html.encode()) < 5 * 2**20
    assert html.count("<tr") < 500  # tables summarise; the heater list stays in heaters.csv
    assert (tmp_path / "mesh_maps.png").is_file() and "data:image/png;base64" in html  # maps as an image
