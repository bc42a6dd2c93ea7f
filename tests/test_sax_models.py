"""The SAX models against hand calculations (float64 numpy, written out here)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gf_prune import sax_models as sm
from gf_prune.physics import mzi_transfer

SQ2 = math.sqrt(2.0)


def t(sd, a: str, b: str) -> complex:
    return complex(np.asarray(sd[(a, b)]))


def test_straight_is_exp_i_2pi_neff_length_over_lambda_at_design_wavelength():
    s = sm.straight(wl=1.55, neff=2.5, ng=4.2, length=123.456)
    assert t(s, "o1", "o2") == pytest.approx(np.exp(2j * np.pi * 2.5 * 123.456 / 1.55), abs=1e-12)
    assert t(s, "o2", "o1") == t(s, "o1", "o2")  # reciprocal


def test_straight_group_delay_is_the_group_index():
    # dφ/dλ = −2π·n_g·L/λ² at λ0 (first-order dispersion)
    length, h = 500.0, 1e-7
    phase = [np.angle(t(sm.straight(wl=1.55 + d, length=length), "o1", "o2")) for d in (-h, h)]
    dphi = np.angle(np.exp(1j * (phase[1] - phase[0]))) / (2 * h)
    assert dphi == pytest.approx(-2 * np.pi * sm.NG_STRIP * length / 1.55**2, rel=1e-5)


def test_pi_bias_length_is_pi_at_the_design_wavelength():
    s = sm.straight(wl=sm.WL0_UM, length=0.31)
    assert t(s, "o1", "o2") == pytest.approx(-1.0, abs=1e-12)


def test_heater_adds_exactly_its_phase_to_its_waveguide():
    base = t(sm.straight(length=100.0), "o1", "o2")
    hot = t(sm.heater(length=100.0, phase=1.234), "o1", "o2")
    assert hot == pytest.approx(base * np.exp(1.234j), abs=1e-12)


def test_mmi2x2_is_the_convention_coupler_with_gdsfactory_port_geometry():
    # mode 0 = top: enters o2 (west-top), leaves o3 (east-top); mode 1: o1 → o4
    s = sm.mmi2x2(length=0.0)
    b = np.array([[t(s, "o2", "o3"), t(s, "o1", "o3")], [t(s, "o2", "o4"), t(s, "o1", "o4")]])
    np.testing.assert_allclose(b, np.array([[1, 1j], [1j, 1]]) / SQ2, atol=1e-15)
    assert ("o1", "o2") not in s and ("o3", "o4") not in s  # no reflection, no same-side coupling


def test_hand_cascade_of_models_is_the_convention_mzi():
    """Couplers, arms and heaters multiplied by hand (no circuit solver) give T(θ, φ)."""
    theta, phi, arm = 0.7, 2.1, 50.0

    def cpl() -> np.ndarray:  # (top, bottom) basis: top = o2 → o3
        s = sm.mmi2x2(length=25.5)
        return np.array([[t(s, "o2", "o3"), t(s, "o1", "o3")], [t(s, "o2", "o4"), t(s, "o1", "o4")]])

    top_in = t(sm.heater(length=arm, phase=phi), "o1", "o2")
    bot_in = t(sm.straight(length=arm), "o1", "o2")
    top_arm = t(sm.heater(length=arm, phase=theta), "o1", "o2") * t(sm.straight(length=0.31), "o1", "o2")
    bot_arm = t(sm.straight(length=arm), "o1", "o2")
    m = cpl() @ np.diag([top_arm, bot_arm]) @ cpl() @ np.diag([top_in, bot_in])
    ref = mzi_transfer(theta, phi, "bar")
    alpha = np.angle(np.vdot(ref, m))
    np.testing.assert_allclose(m, np.exp(1j * alpha) * ref, atol=1e-12)


def test_crossing_passes_straight_through_and_terminator_absorbs():
    x = sm.crossing(length=8.0)
    assert abs(t(x, "o1", "o3")) == pytest.approx(1.0)
    assert abs(t(x, "o2", "o4")) == pytest.approx(1.0)
    assert ("o1", "o2") not in x
    assert t(sm.terminator(), "o1", "o1") == 0


def test_models_are_jittable_and_vectorised():
    import jax

    lengths = np.array([1.0, 2.0, 3.0])
    s = jax.jit(sm.heater)(wl=1.55, length=lengths, phase=np.array([0.0, 0.1, 0.2]))
    assert np.asarray(s[("o1", "o2")]).shape == (3,)


def test_unmodelled_cell_is_an_error_naming_it():
    with pytest.raises(sm.UnmodelledCellError, match="ring_double"):
        sm.cell_model("ring_double", "ring7")


def test_unknown_cross_section_is_an_error_naming_it():
    with pytest.raises(sm.UnmodelledCellError, match="rib_slab90"):
        sm.cell_model("straight").kwargs({"length": 10.0, "cross_section": "rib_slab90"})


def test_bend_length_comes_from_the_netlist_info():
    kw = sm.cell_model("bend_euler").kwargs({"cross_section": "strip"}, {"length": 16.637})
    assert kw["length"] == 16.637 and kw["neff"] == sm.NEFF_STRIP


def test_models_dict_registers_like_a_pdk():
    import gdsfactory as gf

    models = sm.models()
    assert {"straight", "bend_euler", "mmi2x2", "crossing", "terminator", "straight_heater_metal_undercut"} <= set(
        models
    )
    pdk = gf.Pdk(name="gf_prune_test", models=models)
    assert pdk.models["mmi2x2"] is sm.mmi2x2
