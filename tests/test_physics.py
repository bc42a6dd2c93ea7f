"""The one MZI convention and the static-power model, checked against hand-built references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gf_prune import physics

# Independent reference: 50:50 coupler (real bar, +i cross) and phase screens, written out by hand.
B = np.array([[1.0, 1.0j], [1.0j, 1.0]]) / math.sqrt(2.0)
BIAS = {"bar": math.pi, "cross": 0.0}


def explicit_mzi(theta: float, phi: float, zero_state: str) -> np.ndarray:
    """coupler · internal phase (top arm, plus passive bias) · coupler · external phase (top input)."""
    internal = np.array([[np.exp(1j * (theta + BIAS[zero_state])), 0.0], [0.0, 1.0]])
    external = np.array([[np.exp(1j * phi), 0.0], [0.0, 1.0]])
    return B @ internal @ B @ external


ANGLES = [0.0, 0.3, math.pi / 2, 1.0, math.pi, 4.0, 1.98 * math.pi, 2 * math.pi, -0.7]


@pytest.mark.parametrize("zero_state", ["bar", "cross"])
@pytest.mark.parametrize("theta", ANGLES)
@pytest.mark.parametrize("phi", [0.0, 0.9, math.pi, 5.5])
def test_transfer_matches_explicit_product(zero_state, theta, phi):
    t = physics.mzi_transfer(theta, phi, zero_state)
    np.testing.assert_allclose(t, explicit_mzi(theta, phi, zero_state), atol=1e-15)


@pytest.mark.parametrize("zero_state", ["bar", "cross"])
def test_transfer_vectorised_and_unitary(zero_state):
    rng = np.random.default_rng(0)
    theta, phi = rng.uniform(-7, 7, 50), rng.uniform(-7, 7, 50)
    t = physics.mzi_transfer(theta, phi, zero_state)
    assert t.shape == (50, 2, 2)
    for k in range(50):
        np.testing.assert_allclose(t[k], explicit_mzi(theta[k], phi[k], zero_state), atol=1e-14)
        np.testing.assert_allclose(t[k].conj().T @ t[k], np.eye(2), atol=1e-14)


@pytest.mark.parametrize("zero_state", ["bar", "cross"])
def test_torch_transfer_equals_numpy(zero_state):
    theta = torch.linspace(-1, 7, 17, dtype=torch.float64)
    phi = torch.linspace(3, -4, 17, dtype=torch.float64)
    t00, t01, t10, t11 = physics.mzi_transfer_torch(theta, phi, zero_state)
    got = torch.stack([torch.stack([t00, t01], -1), torch.stack([t10, t11], -1)], -2).numpy()
    np.testing.assert_allclose(got, physics.mzi_transfer(theta.numpy(), phi.numpy(), zero_state), atol=1e-15)


def test_bar_state_at_zero_power():
    t = physics.mzi_transfer(0.0, 0.0, "bar")
    np.testing.assert_allclose(np.abs(t), np.eye(2), atol=1e-15)
    np.testing.assert_allclose(t, np.diag([-1.0, 1.0]), atol=1e-15)  # the documented convention
    assert physics.bias_rad("bar") == math.pi


def test_cross_state_at_zero_power():
    t = physics.mzi_transfer(0.0, 0.0, "cross")
    np.testing.assert_allclose(np.abs(t), [[0.0, 1.0], [1.0, 0.0]], atol=1e-15)
    assert physics.bias_rad("cross") == 0.0


def test_default_zero_state_is_bar():
    np.testing.assert_allclose(physics.mzi_transfer(0.4, 1.1), physics.mzi_transfer(0.4, 1.1, "bar"))


@pytest.mark.parametrize("zero_state", ["bar", "cross"])
@pytest.mark.parametrize("theta", ANGLES)
def test_attenuator_amplitude(zero_state, theta):
    t = physics.attenuator_transfer(theta, 0.8, zero_state)
    assert abs(t) == pytest.approx(abs(math.cos(theta / 2)), abs=1e-15)


@pytest.mark.parametrize("zero_state", ["bar", "cross"])
def test_attenuator_full_transmission_at_zero_power(zero_state):
    assert abs(physics.attenuator_transfer(0.0, 0.0, zero_state)) == pytest.approx(1.0, abs=1e-15)


def test_attenuator_theta_inverts_amplitude():
    amps = np.array([0.0, 0.1, 0.5, 1 / math.sqrt(2), 0.99, 1.0])
    theta = physics.attenuator_theta(amps)
    assert np.all((theta >= 0) & (theta <= math.pi))
    np.testing.assert_allclose(np.abs(np.cos(theta / 2)), amps, atol=1e-15)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_attenuator_theta_rejects_out_of_range(bad):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        physics.attenuator_theta([0.5, bad])


@pytest.mark.parametrize(
    ("phase", "power_mw"),
    [
        (0.0, 0.0),
        (math.pi / 2, 12.5),
        (math.pi, 25.0),
        (1.5 * math.pi, 37.5),
        (1.98 * math.pi, 49.5),  # near 2π: cheap on the circle, expensive as a heater
        (2 * math.pi, 0.0),
        (3 * math.pi, 25.0),
        (-0.02 * math.pi, 49.5),  # programmed as 1.98π
        (-math.pi / 2, 37.5),
    ],
)
def test_heater_power_hand_values(phase, power_mw):
    assert float(physics.heater_power_mw(phase)) == pytest.approx(power_mw, abs=1e-12)


def test_heater_power_configurable_p_pi_and_arrays():
    phases = np.array([0.0, math.pi, 1.98 * math.pi])
    np.testing.assert_allclose(physics.heater_power_mw(phases, p_pi_mw=30.0), [0.0, 30.0, 59.4], atol=1e-12)
    t = physics.heater_power_mw(torch.tensor(phases))
    np.testing.assert_allclose(t.numpy(), [0.0, 25.0, 49.5], atol=1e-12)
    assert physics.P_PI_MW_DEFAULT == 25.0


@pytest.mark.parametrize("p_pi", [0.0, -25.0, float("nan")])
def test_heater_power_rejects_bad_p_pi(p_pi):
    with pytest.raises(ValueError, match="p_pi_mw"):
        physics.heater_power_mw(1.0, p_pi_mw=p_pi)


def test_wrap_phase_into_zero_two_pi():
    w = physics.wrap_phase(np.array([-0.1, 0.0, 2 * math.pi, 7.0, -7.0]))
    assert np.all((w >= 0) & (w < 2 * math.pi))
    np.testing.assert_allclose(w, [2 * math.pi - 0.1, 0.0, 0.0, 7.0 - 2 * math.pi, 4 * math.pi - 7.0], atol=1e-15)


@pytest.mark.parametrize("tiny", [-1e-17, -1e-300, -0.0])
def test_tiny_negative_phase_is_zero_not_two_pi(tiny):
    """(−1e-17) mod 2π rounds to exactly 2π in float64: it must cost 0 mW, not 2·P_π."""
    assert physics.wrap_phase(tiny) == 0.0
    assert physics.heater_power_mw(tiny) == 0.0
    assert physics.wrap_phase(np.array([tiny]))[0] == 0.0
    assert float(physics.wrap_phase(torch.tensor([tiny], dtype=torch.float64))[0]) == 0.0


@pytest.mark.parametrize(
    ("phase", "dist"),
    [
        (0.0, 0.0),
        (0.5 * math.pi, 0.5 * math.pi),
        (math.pi, math.pi),
        (1.5 * math.pi, 0.5 * math.pi),
        (1.98 * math.pi, 0.02 * math.pi),
        (-0.1, 0.1),
        (2 * math.pi + 0.3, 0.3),
    ],
)
def test_circular_distance(phase, dist):
    assert float(physics.circular_distance(phase)) == pytest.approx(dist, abs=1e-12)
    assert float(physics.circular_distance(np.array([phase]))[0]) == pytest.approx(dist, abs=1e-12)
    assert float(physics.circular_distance(torch.tensor([phase], dtype=torch.float64))[0]) == pytest.approx(
        dist, abs=1e-12
    )


def test_circular_distance_numpy_scalars():
    assert float(physics.circular_distance(np.float32(1.98 * math.pi))) == pytest.approx(0.02 * math.pi, abs=1e-6)
    assert float(physics.circular_distance(np.float64(-0.25))) == pytest.approx(0.25, abs=1e-15)


def test_ranking_is_wrap_aware_but_power_is_not():
    near_two_pi, mid = 1.98 * math.pi, 0.5 * math.pi
    assert physics.circular_distance(near_two_pi) < physics.circular_distance(mid)
    assert physics.heater_power_mw(near_two_pi) > physics.heater_power_mw(mid)


@pytest.mark.parametrize("bad", ["Bar", "balanced", "", None])
def test_bad_zero_state(bad):
    with pytest.raises(ValueError, match="zero_state"):
        physics.check_zero_state(bad)
    with pytest.raises(ValueError, match="zero_state"):
        physics.mzi_transfer(0.0, 0.0, bad)
    with pytest.raises(ValueError, match="zero_state"):
        physics.attenuator_transfer(0.0, 0.0, bad)
    with pytest.raises(ValueError, match="zero_state"):
        physics.mzi_transfer_torch(torch.zeros(1), torch.zeros(1), bad)


# ----------------------------------------------------------------------------- the single sources


def general_coupler(r: float) -> np.ndarray:
    """B(r) written out by hand: real bar r, cross i·√(1 − r²)."""
    t = math.sqrt(1.0 - r * r)
    return np.array([[r, 1j * t], [1j * t, r]])


def test_mzi_elements_hand_checked_two_by_two():
    """θ = π/2 in the cross convention (b = 0): a = i, so T = ½[[(i − 1)p, i(i + 1)], [i(i + 1)p, 1 − i]]."""
    phi = math.pi / 2  # p = i
    t = physics.mzi_elements(math.pi / 2, phi, "cross")
    expected = 0.5 * np.array([[(1j - 1) * 1j, 1j * (1j + 1)], [1j * (1j + 1) * 1j, 1 - 1j]])
    np.testing.assert_allclose(np.array(t, dtype=complex).reshape(2, 2), expected, atol=1e-15)


@pytest.mark.parametrize("zero_state", ["bar", "cross"])
@pytest.mark.parametrize(("r_in", "r_out"), [(0.6, 0.8), (1.0, 0.3), (0.0, 0.7), (2**-0.5, 0.65)])
def test_mzi_elements_split_is_product_of_couplers(zero_state, r_in, r_out):
    theta, phi = 0.7, 2.1
    a = np.diag([np.exp(1j * (theta + BIAS[zero_state])), 1.0])
    p = np.diag([np.exp(1j * phi), 1.0])
    ref = general_coupler(r_out) @ a @ general_coupler(r_in) @ p
    t = physics.mzi_elements(theta, phi, zero_state, r_in=r_in, r_out=r_out)
    np.testing.assert_allclose(np.array(t, dtype=complex).reshape(2, 2), ref, atol=1e-14)
    np.testing.assert_allclose(physics.coupler_matrix(r_in), general_coupler(r_in), atol=1e-15)


@pytest.mark.parametrize("zero_state", ["bar", "cross"])
def test_mzi_elements_ideal_split_equals_closed_form_in_every_backend(zero_state):
    rng = np.random.default_rng(1)
    theta, phi = rng.uniform(-7, 7, 30), rng.uniform(-7, 7, 30)
    closed = physics.mzi_transfer(theta, phi, zero_state)
    split = physics.mzi_elements(theta, phi, zero_state, r_in=2**-0.5, r_out=2**-0.5)
    torch_t = physics.mzi_elements(torch.tensor(theta), torch.tensor(phi), zero_state)
    scalar = [physics.mzi_elements(float(a), float(b), zero_state) for a, b in zip(theta, phi, strict=True)]
    for k in range(30):
        np.testing.assert_allclose(np.array([x[k] for x in split]).reshape(2, 2), closed[k], atol=1e-14)
        np.testing.assert_allclose(np.array([x[k].item() for x in torch_t]).reshape(2, 2), closed[k], atol=1e-15)
        np.testing.assert_allclose(np.array(scalar[k]).reshape(2, 2), closed[k], atol=1e-15)


@pytest.mark.parametrize("zero_state", ["bar", "cross"])
def test_mzi_elements_agree_with_torch_mesh(zero_state):
    """A 2-mode mesh is one MZI: the torch mesh's unitary is the physics 2×2."""
    from gf_prune.mesh import mesh_unitary_torch, topology

    topo = topology(2, "clements")
    theta, phi = torch.tensor([1.3], dtype=torch.float64), torch.tensor([-0.4], dtype=torch.float64)
    u = mesh_unitary_torch(topo, theta, phi, zero_state=zero_state).detach().numpy()
    np.testing.assert_allclose(u, explicit_mzi(1.3, -0.4, zero_state), atol=1e-14)


@pytest.mark.parametrize("zero_state", ["bar", "cross"])
@pytest.mark.parametrize("theta", [0.0, 0.3, 1.0, math.pi, 4.0, 6.0])
@pytest.mark.parametrize("phi", [0.0, 0.9, math.pi, 5.5])
def test_mzi_phases_round_trip(zero_state, theta, phi):
    got_theta, got_phi = physics.mzi_phases(explicit_mzi(theta, phi, zero_state), zero_state)
    np.testing.assert_allclose(
        physics.mzi_transfer(got_theta, got_phi, zero_state), explicit_mzi(theta, phi, zero_state), atol=1e-12
    )
    assert 0 <= got_theta < 2 * math.pi and 0 <= got_phi < 2 * math.pi
    assert abs(physics.wrap_to_pi(got_theta - theta)) < 1e-9
    if abs(math.cos(theta / 2 + BIAS[zero_state] / 2)) > 1e-9:  # φ is only visible when light reaches it
        assert abs(physics.wrap_to_pi(got_phi - phi)) < 1e-9


def test_mzi_phases_rejects_what_no_mzi_does():
    with pytest.raises(ValueError, match="not an MZI"):
        physics.mzi_phases(0.5 * np.eye(2))
    with pytest.raises(ValueError, match="not an MZI"):
        physics.mzi_phases(np.array([[0.0, 1.0], [1.0, 0.0]]))  # a real crossing: no +i, not a convention MZI


@pytest.mark.parametrize("zero_state", ["bar", "cross"])
def test_attenuator_element_is_the_through_path(zero_state):
    t = physics.mzi_elements(0.8, 0.3, zero_state)
    o, i = physics.attenuator_port(zero_state)
    assert physics.attenuator_element(t, zero_state) == pytest.approx(
        explicit_mzi(0.8, 0.3, zero_state)[o, i], abs=1e-15
    )


@pytest.mark.parametrize(
    ("phase", "wrapped"),
    [
        (0.0, 0.0),
        (math.pi, math.pi),
        (-math.pi, math.pi),
        (3 * math.pi, math.pi),
        (1.5 * math.pi, -0.5 * math.pi),
        (-0.2, -0.2),
        (7.0, 7.0 - 2 * math.pi),
    ],
)
def test_wrap_to_pi(phase, wrapped):
    assert float(physics.wrap_to_pi(phase)) == pytest.approx(wrapped, abs=1e-12)
    assert float(physics.wrap_to_pi(torch.tensor([phase], dtype=torch.float64))[0]) == pytest.approx(wrapped, abs=1e-12)


def test_phase_power_counts_live_heaters_only():
    got = physics.phase_power_mw([math.pi, math.pi, float("nan")], [True, False, False], p_pi_mw=30.0)
    np.testing.assert_allclose(got, [30.0, 0.0, 0.0], atol=1e-12)


def test_bias_length_on_grid_and_pi():
    from gf_prune.sax_models import NEFF_STRIP, WL0_UM

    length = physics.bias_length_um(WL0_UM, NEFF_STRIP)
    nm = length / physics.GRID_UM
    assert nm == round(nm) and (length / 2) / physics.GRID_UM == round(nm / 2, 6)  # its quarter wave too
    phase = 2 * math.pi * NEFF_STRIP * length / WL0_UM
    assert phase == pytest.approx(math.pi, abs=1e-12)
    assert physics.bias_length_um(WL0_UM, NEFF_STRIP, half_waves=3) == pytest.approx(3 * length, abs=1e-12)


def test_bias_length_rejects_off_grid_and_even():
    with pytest.raises(ValueError, match="1 nm grid"):
        physics.bias_length_um(1.55, 2.45)
    with pytest.raises(ValueError, match="odd"):
        physics.bias_length_um(1.55, 2.5, half_waves=2)


def test_layout_bias_is_the_physics_bias():
    from gf_prune.components import BIAS_LENGTH_UM

    assert physics.bias_length_um() == BIAS_LENGTH_UM == 0.31
