"""Butterfly (PSNN-style) meshes: topology, unitaries, padding, fit-or-refuse, layout + SAX verify."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gf_prune.mesh import (
    butterfly_positions,
    decompose,
    fit_unitary,
    mesh_unitary,
    mesh_unitary_torch,
    padded_size,
    topology,
)
from gf_prune.model import PhotonicMLP, SVDLayer
from gf_prune.physics import mzi_transfer


def _hand_product(topo, theta, phi):
    """Product of hand-built N×N stage matrices and permutation matrices."""
    n = topo.n
    u = np.eye(n, dtype=complex)
    t = mzi_transfer(theta, phi)
    for c in range(topo.n_cols):
        m = np.eye(n, dtype=complex)
        for k in np.flatnonzero(topo.cols == c):
            r = topo.rows[k]
            m[r : r + 2, r : r + 2] = t[k]
        u = m @ u
        if c < topo.n_cols - 1:
            p = np.zeros((n, n))
            p[topo.perms[c], np.arange(n)] = 1
            u = p @ u
    return u


@pytest.mark.parametrize("n", [2, 4, 8, 16])
def test_topology_counts(n):
    topo = topology(n, "butterfly")
    stages = n.bit_length() - 1
    assert topo.n_mzis == n // 2 * stages and topo.n_cols == stages
    assert len(topo.perms) == stages - 1
    for s, p in enumerate(topo.perms):  # stage s+1 pairs ℓ with ℓ XOR 2^(s+1) on adjacent rows
        pos = butterfly_positions(n, s + 1)
        assert np.array_equal(np.sort(p), np.arange(n))
        for ell in range(n):
            assert abs(int(pos[ell]) - int(pos[ell ^ (1 << (s + 1))])) == 1


@pytest.mark.parametrize("n", [2, 4, 8, 16])
def test_unitary_torch_numpy_hand(n):
    topo = topology(n, "butterfly")
    rng = np.random.default_rng(n)
    th, ph = rng.uniform(0, 2 * np.pi, (2, topo.n_mzis))
    ref = mesh_unitary(topo, th, ph)
    tor = mesh_unitary_torch(topo, torch.tensor(th), torch.tensor(ph)).numpy()
    assert np.allclose(ref, tor, atol=1e-12)
    assert np.allclose(ref, _hand_product(topo, th, ph), atol=1e-12)
    assert np.allclose(ref.conj().T @ ref, np.eye(n), atol=1e-12)


def test_n2_by_hand():
    topo = topology(2, "butterfly")
    assert topo.n_mzis == 1 and topo.perms == () and topo.n_crossings == 0
    u = mesh_unitary(topo, [0.0], [0.0])
    assert np.allclose(u, np.diag([-1, 1]))  # bar at zero power
    a, p = np.exp(1j * (0.7 + np.pi)), np.exp(1j * 0.3)
    expected = 0.5 * np.array([[(a - 1) * p, 1j * (a + 1)], [1j * (a + 1) * p, 1 - a]])
    assert np.allclose(mesh_unitary(topo, [0.7], [0.3]), expected)


def test_n4_crossing_count():
    topo = topology(4, "butterfly")
    assert topo.perms[0].tolist() == [0, 2, 1, 3] and topo.n_crossings == 1
    assert topology(8, "butterfly").n_crossings == 10


@pytest.mark.parametrize("n", [3, 6, 10, 12])
def test_non_power_of_two(n):
    with pytest.raises(ValueError, match="power-of-two"):
        topology(n, "butterfly")
    assert padded_size(n, "butterfly") == 1 << (n - 1).bit_length()
    assert padded_size(n, "clements") == n


def test_padded_layer_matrix_matches_phases():
    layer = SVDLayer(5, 10, "butterfly", generator=torch.Generator().manual_seed(0))
    assert layer.topo_V.n == 8 and layer.topo_U.n == 16
    w = layer.matrix().detach().numpy()
    assert w.shape == (10, 5)
    lp = layer.to_phases()
    assert np.allclose(lp.matrix("bar"), w, atol=1e-12)


def test_decompose_refuses_butterfly():
    with pytest.raises(ValueError, match="not universal"):
        decompose(np.eye(4), "butterfly")


def test_fit_unitary_on_manifold():
    topo = topology(4, "butterfly")
    rng = np.random.default_rng(1)
    th, ph = rng.uniform(0, 2 * np.pi, (2, topo.n_mzis))
    target = np.diag(np.exp(1j * rng.uniform(0, 6, 4))) @ mesh_unitary(topo, th, ph)
    *_, res = fit_unitary(target, topo)
    assert res < 1e-6


def test_from_matrix_refuses_and_reports():
    w = np.random.default_rng(0).normal(size=(4, 4))
    with pytest.raises(ValueError, match=r"butterfly mesh cannot realise this 4×4 matrix.*residual"):
        SVDLayer.from_matrix(w, "butterfly")
    layer = SVDLayer.from_matrix(w, "butterfly", max_residual=10.0)  # accepted: residual reported
    got = np.linalg.norm(layer.matrix().detach().numpy() - w) / np.linalg.norm(w)
    assert layer.fit_residual == pytest.approx(got, rel=1e-6) and got > 1e-3


def test_from_matrix_realisable():
    src = SVDLayer(4, 4, "butterfly", output_phases=True, generator=torch.Generator().manual_seed(3))
    w = src.matrix().detach().numpy()
    layer = SVDLayer.from_matrix(w, "butterfly")
    assert layer.fit_residual < 1e-4
    assert np.allclose(layer.matrix().detach().numpy(), w, atol=1e-3)


def test_gauge_exact_on_padded_butterfly():
    from gf_prune.gauge import gauge_layer

    layer = SVDLayer(16, 10, "butterfly", generator=torch.Generator().manual_seed(0))
    x = torch.randn(7, 16, dtype=torch.complex128, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = (x @ layer.matrix().T).abs()
        n_u, _ = gauge_layer(layer)
        after = (x @ layer.matrix().T).abs()
    assert n_u > 0
    assert torch.allclose(before, after, atol=1e-12)


def test_training_step_runs():
    model = PhotonicMLP((16, 16, 10), mesh_kind="butterfly", seed=0)
    x = torch.randn(8, 16, dtype=torch.complex128)
    loss = -model(x)[:, 0].mean()
    loss.backward()
    assert model.layers[0].V_theta.grad is not None and torch.all(torch.isfinite(model.layers[0].V_theta.grad))


@pytest.mark.parametrize(
    ("sizes", "pruned", "pruned_mzi"),
    [((4, 4), False, "remove"), ((8, 8), True, "remove"), ((8, 8), True, "bar"), ((5, 8, 6), True, "remove")],
)
def test_layout_verifies(sizes, pruned, pruned_mzi):
    from gf_prune.layout import build_network, layout_figures
    from gf_prune.verify import verify

    model = PhotonicMLP(sizes, mesh_kind="butterfly", seed=1)
    if pruned:
        g = torch.Generator().manual_seed(3)
        for li, mesh, kind, _, mask in model.phase_items():
            model.layers[li].set_mask(mesh, kind, torch.rand(mask.shape, generator=g) > 0.5)
    net = model.to_phases()
    chip = build_network(net, pruned_mzi)
    res = verify(chip, net)
    assert res.max_rel_error <= 1e-6, res.culprit
    assert not [p for p in res.problems if "has no heater" in p or "pruned" in p]
    fig = layout_figures(net, chip, pruned_mzi)
    assert fig["crossings"] == sum(lp.V.topo.n_crossings + lp.U.topo.n_crossings for lp in net.layers)
    names = {i.name for i in chip.insts["layer0"].cell.insts["V0"].cell.insts}
    if sizes[0] >= 4:
        assert any(n.startswith("xing_V0_") for n in names)
    if pruned and pruned_mzi == "remove":
        assert fig["mzis"]["removed"] > 0


def test_swap_cell_phase_balanced():
    from gf_prune.components.butterfly import crossing_swap
    from gf_prune.components.mzi import passthrough

    from gf_prune.netlist import activate_pdk

    activate_pdk()
    x = crossing_swap()
    p = passthrough(heater_length=10.0, heater_margin=5.0)
    assert x.info["width"] == p.info["width"] and x.info["ref_length"] == p.info["ref_length"]


def test_butterfly_network_runs_the_whole_chain(tmp_path):
    """`run_all` with mesh_kind butterfly on the default 16-16-16-10 task (the last U padded to 16 modes):
    phases.npz reads back, the layout is not compacted across permutations, SAX verifies, same classes."""
    from gf_prune.config import RunConfig, validate
    from gf_prune.pipeline import run_all

    cfg = validate(
        RunConfig,
        {
            "model": {"mesh_kind": "butterfly", "bias": False},
            "train": {"epochs": 10},
            "prune": {"max_rounds": 1, "max_steps": 0, "finetune_epochs": 2, "soft_epochs": 0},
            "robustness": {"enabled": False},
        },
    )
    rep = run_all(tmp_path / "out", cfg)
    assert rep["phases"]["total_uv"] == 384 and rep["layout"]["crossings"] > 0
    assert rep["verify"]["max_rel_error"] < 1e-9 and rep["accuracy"]["sax_same_class_fraction"] == 1.0


def test_crossing_loss_in_the_monte_carlo_matches_a_stage_by_stage_reference():
    """Butterfly crossings lose a = 10^(−IL/20) per crossing on each waveguide: the Monte-Carlo W equals a
    numpy stage loop that scales each moved waveguide by a^(its crossings), and with IL = 0 it is the clean W."""
    import torch

    from gf_prune.imperfections import Imperfections
    from gf_prune.mesh import crossings_per_waveguide, mzi_transfer
    from gf_prune.model import PhotonicMLP
    from gf_prune.montecarlo import perturbed_matrices

    model = PhotonicMLP((8, 8), mesh_kind="butterfly", init="uniform", seed=3)
    layer = model.layers[0]
    clean = perturbed_matrices(model, Imperfections(), 1)[0][0].detach()
    torch.testing.assert_close(clean, layer.matrix().detach(), rtol=1e-12, atol=1e-12)
    il = 0.3
    lossy = perturbed_matrices(model, Imperfections(crossing_loss_db=il, loss_compensation=False), 1)[0][0].detach()
    a = 10 ** (-il / 20)

    def reference(mesh: str) -> np.ndarray:
        topo = layer.topo_V if mesh == "V" else layer.topo_U
        th, ph = (layer.phase(mesh, k).detach().numpy() for k in ("theta", "phi"))
        t = mzi_transfer(th, ph, layer.zero_state)
        u = np.eye(topo.n, dtype=complex)
        for c in range(topo.n_cols):
            ks = np.flatnonzero(topo.cols == c)
            r = topo.rows[ks]
            top, bot = u[r].copy(), u[r + 1].copy()
            u[r] = t[ks, 0, 0, None] * top + t[ks, 0, 1, None] * bot
            u[r + 1] = t[ks, 1, 0, None] * top + t[ks, 1, 1, None] * bot
            if c < len(topo.perms):
                perm = topo.perms[c]
                moved = np.empty_like(u)
                moved[perm] = u * (a ** crossings_per_waveguide(perm))[:, None]
                u = moved
        return u

    k = layer.k
    sigma = layer.sigma().detach().numpy()
    ref = (reference("U")[:, :k] * sigma) @ reference("V")[:k, :]
    np.testing.assert_allclose(lossy.numpy(), ref, rtol=1e-10, atol=1e-12)
    assert np.abs(lossy.numpy()).sum() < np.abs(clean.numpy()).sum()  # the crossings cost light
    assert crossings_per_waveguide(np.array([1, 0, 2])).tolist() == [1, 1, 0]  # one swap, two waveguides cross
