"""Clements / Reck meshes: topology, phases → unitary (numpy, torch, naive), unitary → phases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import unitary_group

from gf_prune.mesh import (
    check_unitary,
    decompose,
    mesh_unitary,
    mesh_unitary_torch,
    mesh_unitary_torch_naive,
    topology,
)
from gf_prune.physics import mzi_transfer

KINDS = ["clements", "reck"]
ZERO_STATES = ["bar", "cross"]


def haar(n: int, seed: int) -> np.ndarray:
    return unitary_group.rvs(n, random_state=seed)


def round_trip_error(u: np.ndarray, kind: str, zero_state: str) -> float:
    topo, theta, phi, screen = decompose(u, kind, zero_state)
    assert np.all((theta >= 0) & (theta <= math.pi)), "θ must lie in [0, π]"
    assert np.all((phi >= 0) & (phi < 2 * math.pi)) and np.all((screen >= 0) & (screen < 2 * math.pi))
    return float(np.linalg.norm(u - mesh_unitary(topo, theta, phi, screen, zero_state)) / math.sqrt(u.shape[0]))


def embedded_product(n: int, rows, theta, phi, screen, zero_state) -> np.ndarray:
    """Independent reference: multiply full N×N embeddings of each MZI, in light order."""
    u = np.eye(n, dtype=complex)
    for r, t in zip(rows, mzi_transfer(theta, phi, zero_state), strict=True):
        e = np.eye(n, dtype=complex)
        e[r : r + 2, r : r + 2] = t
        u = e @ u
    return np.diag(np.exp(1j * np.asarray(screen))) @ u


# ----------------------------------------------------------------------------- topology


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 16, 17, 64])
def test_topology_counts(kind, n):
    topo = topology(n, kind)
    assert topo.n_mzis == n * (n - 1) // 2
    if kind == "clements" and n >= 3:
        assert topo.n_cols == n
    if kind == "reck" and n >= 2:
        assert topo.n_cols == 2 * n - 3
    # no two MZIs of a column share a mode, every MZI is on adjacent modes inside the mesh
    for c in range(topo.n_cols):
        rows = np.sort(topo.rows[topo.cols == c])
        assert rows.size and np.all(np.diff(rows) >= 2)
        assert rows.min() >= 0 and rows.max() <= n - 2
    # ordered by (column, row) and every MZI addressable
    assert np.all(np.diff(topo.cols * n + topo.rows) > 0)
    for k in range(topo.n_mzis):
        assert topo.index(int(topo.cols[k]), int(topo.rows[k])) == k


def test_clements_two_modes_is_one_mzi():
    topo = topology(2, "clements")
    assert topo.n_mzis == 1 and topo.n_cols == 1


def test_clements_is_rectangular():
    topo = topology(6, "clements")
    for c in range(6):
        assert list(topo.rows[topo.cols == c]) == ([0, 2, 4] if c % 2 == 0 else [1, 3])


def test_topology_index_missing():
    with pytest.raises(KeyError):
        topology(4, "clements").index(0, 1)


@pytest.mark.parametrize("bad", [0, -3, 2.5, "4"])
def test_topology_bad_size(bad):
    with pytest.raises(ValueError, match="mesh size"):
        topology(bad, "clements")


def test_topology_bad_kind():
    with pytest.raises(ValueError, match="mesh kind"):
        topology(4, "hex")
    with pytest.raises(ValueError, match="mesh kind"):
        decompose(np.eye(4), "hex")


# ----------------------------------------------------------------------------- phases → unitary


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("zero_state", ZERO_STATES)
@pytest.mark.parametrize("n", [2, 3, 6, 9])
def test_numpy_mesh_equals_embedded_product(kind, zero_state, n):
    rng = np.random.default_rng(n)
    topo = topology(n, kind)
    theta, phi = rng.uniform(0, 2 * math.pi, (2, topo.n_mzis))
    screen = rng.uniform(0, 2 * math.pi, n)
    got = mesh_unitary(topo, theta, phi, screen, zero_state)
    # light order = column order for MZIs sorted by (column, row); MZIs of one column commute
    np.testing.assert_allclose(got, embedded_product(n, topo.rows, theta, phi, screen, zero_state), atol=1e-13)


@pytest.mark.parametrize("zero_state", ZERO_STATES)
def test_zero_power_mesh(zero_state):
    topo = topology(8, "clements")
    u = mesh_unitary(topo, np.zeros(topo.n_mzis), np.zeros(topo.n_mzis), None, zero_state)
    if zero_state == "bar":  # every MZI in bar: a diagonal of ±1
        np.testing.assert_allclose(np.abs(u), np.eye(8), atol=1e-15)
    else:  # all cross: a fixed permutation
        assert np.allclose(np.abs(u).sum(0), 1) and set(np.unique(np.round(np.abs(u), 12))) == {0.0, 1.0}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("zero_state", ZERO_STATES)
@pytest.mark.parametrize("n", [2, 3, 5, 8, 16, 23])
def test_torch_equals_numpy_equals_naive(kind, zero_state, n):
    rng = np.random.default_rng(100 + n)
    topo = topology(n, kind)
    theta, phi = rng.uniform(-1, 7, (2, topo.n_mzis))
    screen = rng.uniform(0, 2 * math.pi, n)
    ref = mesh_unitary(topo, theta, phi, None, zero_state)
    t, p, s = (torch.tensor(a, dtype=torch.float64) for a in (theta, phi, screen))
    tree = mesh_unitary_torch(topo, t, p, None, zero_state)
    naive = mesh_unitary_torch_naive(topo, t, p, zero_state)
    assert tree.dtype == torch.complex128
    np.testing.assert_allclose(tree.numpy(), ref, atol=1e-12, rtol=0)
    np.testing.assert_allclose(naive.numpy(), ref, atol=1e-12, rtol=0)
    with_screen = mesh_unitary_torch(topo, t, p, s, zero_state).numpy()
    np.testing.assert_allclose(with_screen, mesh_unitary(topo, theta, phi, screen, zero_state), atol=1e-12, rtol=0)


def test_torch_batched_phases():
    topo = topology(6, "clements")
    rng = np.random.default_rng(1)
    theta, phi = rng.uniform(0, 6, (2, 4, topo.n_mzis))
    batch = mesh_unitary_torch(topo, torch.tensor(theta), torch.tensor(phi)).numpy()
    assert batch.shape == (4, 6, 6)
    for b in range(4):
        np.testing.assert_allclose(batch[b], mesh_unitary(topo, theta[b], phi[b]), atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("zero_state", ZERO_STATES)
def test_gradients_flow(kind, zero_state):
    topo = topology(4, kind)
    gen = torch.Generator().manual_seed(0)
    theta = (torch.rand(topo.n_mzis, generator=gen, dtype=torch.float64) * 6).requires_grad_()
    phi = (torch.rand(topo.n_mzis, generator=gen, dtype=torch.float64) * 6).requires_grad_()
    screen = (torch.rand(4, generator=gen, dtype=torch.float64) * 6).requires_grad_()

    def f(t, p, s):
        return torch.view_as_real(mesh_unitary_torch(topo, t, p, s, zero_state))

    assert torch.autograd.gradcheck(f, (theta, phi, screen), eps=1e-6, atol=1e-8)
    mesh_unitary_torch(topo, theta, phi, screen, zero_state)[0, 1].abs().backward()
    assert theta.grad is not None and torch.all(torch.isfinite(theta.grad)) and theta.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- unitary → phases


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(2, 32),
    kind=st.sampled_from(KINDS),
    zero_state=st.sampled_from(ZERO_STATES),
    seed=st.integers(0, 2**31 - 1),
)
def test_round_trip_haar_property(n, kind, zero_state, seed):
    assert round_trip_error(haar(n, seed), kind, zero_state) <= 1e-10


@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    n=st.integers(2, 12),
    kind=st.sampled_from(KINDS),
    zero_state=st.sampled_from(ZERO_STATES),
    seed=st.integers(0, 2**31 - 1),
)
def test_round_trip_structured_unitaries(n, kind, zero_state, seed):
    """Permutations with phases: every nulling step meets exact zeros (atan2(0, 0) branches)."""
    rng = np.random.default_rng(seed)
    u = np.eye(n)[rng.permutation(n)] * np.exp(1j * rng.uniform(0, 2 * math.pi, n))
    assert round_trip_error(u, kind, zero_state) <= 1e-10


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("zero_state", ZERO_STATES)
@pytest.mark.parametrize("u", [np.eye(5), np.eye(5)[::-1], np.diag(np.exp(1j * np.arange(5)))], ids=["I", "J", "D"])
def test_round_trip_special(kind, zero_state, u):
    assert round_trip_error(u, kind, zero_state) <= 1e-10


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("zero_state", ZERO_STATES)
def test_round_trip_64(kind, zero_state):
    assert round_trip_error(haar(64, 64), kind, zero_state) <= 1e-10


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("zero_state", ZERO_STATES)
def test_round_trip_128(kind, zero_state):
    assert round_trip_error(haar(128, 128), kind, zero_state) <= 1e-10


@pytest.mark.parametrize("kind", KINDS)
def test_decomposition_runs_through_torch(kind):
    u = haar(12, 3)
    topo, theta, phi, screen = decompose(u, kind, "bar")
    got = mesh_unitary_torch(topo, *(torch.tensor(a) for a in (theta, phi, screen))).numpy()
    np.testing.assert_allclose(got, u, atol=1e-12)


def test_real_orthogonal_input():
    q, _ = np.linalg.qr(np.random.default_rng(5).normal(size=(7, 7)))
    assert round_trip_error(q, "clements", "bar") <= 1e-10


# ----------------------------------------------------------------------------- bad input


def test_non_unitary_message_states_measured_error():
    u = haar(6, 0)
    u[0, 0] += 0.01
    err = np.linalg.norm(u.conj().T @ u - np.eye(6))
    with pytest.raises(ValueError, match="not unitary") as info:
        decompose(u)
    assert f"{err:.3e}" in str(info.value)
    with pytest.raises(ValueError, match=f"{err:.3e}"):
        check_unitary(u)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_unitary(bad):
    u = haar(4, 1)
    u[2, 3] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        decompose(u)


@pytest.mark.parametrize("shape", [(3, 4), (4,), (2, 2, 2), (0, 0)])
def test_non_square(shape):
    with pytest.raises(ValueError, match="square"):
        decompose(np.zeros(shape, dtype=complex))


def test_bad_zero_state_in_decompose():
    with pytest.raises(ValueError, match="zero_state"):
        decompose(np.eye(3), "clements", "grey")


@pytest.mark.parametrize(("n_theta", "n_phi"), [(5, 6), (6, 5), (7, 7), (0, 0)])
def test_wrong_phase_shapes_numpy(n_theta, n_phi):
    topo = topology(4, "clements")  # 6 MZIs
    with pytest.raises(ValueError, match=r"shape \(6,\)"):
        mesh_unitary(topo, np.zeros(n_theta), np.zeros(n_phi))


def test_wrong_screen_shape_numpy():
    topo = topology(4, "clements")
    with pytest.raises(ValueError, match="screen"):
        mesh_unitary(topo, np.zeros(6), np.zeros(6), np.zeros(3))


def test_nan_phases_numpy():
    topo = topology(4, "clements")
    with pytest.raises(ValueError, match="NaN"):
        mesh_unitary(topo, np.full(6, np.nan), np.zeros(6))


@pytest.mark.parametrize(("n_theta", "n_phi"), [(5, 5), (7, 7), (6, 5)])
def test_wrong_phase_shapes_torch(n_theta, n_phi):
    topo = topology(4, "clements")
    z = torch.zeros
    with pytest.raises(ValueError, match="shape"):
        mesh_unitary_torch(topo, z(n_theta, dtype=torch.float64), z(n_phi, dtype=torch.float64))
    with pytest.raises(ValueError, match="screen"):
        mesh_unitary_torch(topo, z(6, dtype=torch.float64), z(6, dtype=torch.float64), z(3, dtype=torch.float64))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [17, 24, 40])
def test_deep_meshes_grouped_path_equals_numpy_and_tree(kind, n):
    """Meshes deeper than TREE_MAX_COLS take the grouped path: same unitary, batched and differentiable."""
    from gf_prune.mesh import TREE_MAX_COLS, column_matrices_torch, product_tree

    topo = topology(n, kind)
    assert topo.n_cols > TREE_MAX_COLS
    rng = np.random.default_rng(n)
    theta, phi = rng.uniform(0, 2 * math.pi, (2, 3, topo.n_mzis))
    t, p = torch.tensor(theta, requires_grad=True), torch.tensor(phi, requires_grad=True)
    got = mesh_unitary_torch(topo, t, p, None, "cross")
    tree = product_tree(column_matrices_torch(topo, t, p, "cross"))
    for b in range(3):
        np.testing.assert_allclose(
            got[b].detach().numpy(), mesh_unitary(topo, theta[b], phi[b], None, "cross"), atol=1e-12
        )
    torch.testing.assert_close(got, tree, rtol=0, atol=1e-12)
    (got.abs() ** 3).sum().backward()
    g_grouped = t.grad.clone()
    t.grad = None
    (tree.abs() ** 3).sum().backward()
    torch.testing.assert_close(g_grouped, t.grad, rtol=1e-10, atol=1e-10)


def test_gradcheck_grouped_path():
    topo = topology(17, "clements")
    gen = torch.Generator().manual_seed(2)
    theta = (torch.rand(topo.n_mzis, generator=gen, dtype=torch.float64) * 6).requires_grad_()
    phi = torch.rand(topo.n_mzis, generator=gen, dtype=torch.float64) * 6
    assert torch.autograd.gradcheck(
        lambda t: torch.view_as_real(mesh_unitary_torch(topo, t, phi)[:2]), (theta,), eps=1e-6, atol=1e-8
    )


@pytest.mark.parametrize("n", [5, 20])
def test_inference_mode_first_call_does_not_poison_cache(n):
    """Cached index tensors built under torch.inference_mode must still serve later autograd calls."""
    topo = topology(n, "reck")
    with torch.inference_mode():
        mesh_unitary_torch(topo, torch.zeros(topo.n_mzis, dtype=torch.float32), torch.zeros(topo.n_mzis))
    theta = torch.rand(topo.n_mzis, requires_grad=True)
    mesh_unitary_torch(topo, theta, torch.zeros(topo.n_mzis)).abs().sum().backward()
    assert theta.grad is not None
