"""The one MZI convention and the one static-power model of gf_prune.

Everything else (torch mesh, decomposition, gdsfactory cells, SAX models, power
report) imports from here; nothing here imports from the rest of the package.

MZI (two 50:50 couplers ``B``, internal heater θ on the top arm, external heater φ
on the top input)::

            φ            θ + bias
    in0 ──[e^{iφ}]──┐ ┌──[e^{i(θ+b)}]──┐ ┌── out0
                     B                  B
    in1 ────────────┘ └────────────────┘ └── out1

    T(θ, φ) = B · diag(e^{i(θ+b)}, 1) · B · diag(e^{iφ}, 1),   B = [[1, i], [i, 1]] / √2

``b`` is the passive bias of the layout: ``b = π`` for ``zero_state="bar"`` (the
default: with both heaters off the MZI is in bar, T = diag(-1, 1)) and ``b = 0``
for ``zero_state="cross"`` (balanced MZI, T = i·[[0, 1], [1, 0]] at zero power).
Mode 0 is the "top" waveguide of the pair. Every phase is programmed as a heater
phase taken mod 2π into [0, 2π); zero power is phase 0.

Closed form, with a = e^{i(θ+b)} and p = e^{iφ}::

    T = ½ [[ (a − 1)·p,  i(a + 1) ],
           [ i(a + 1)·p,  1 − a   ]]

Static power of one heater: P = P_π · (phase mod 2π) / π.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

ZeroState = Literal["bar", "cross"]
ZERO_STATES: tuple[str, ...] = ("bar", "cross")
TWO_PI = 2.0 * math.pi
P_PI_MW_DEFAULT = 25.0
"""Default P_π of a thermo-optic Si heater (mW), DESIGN.md / Banerjee et al."""


def check_zero_state(zero_state: str) -> ZeroState:
    """Return ``zero_state`` if valid, else raise a ValueError naming it."""
    if zero_state not in ZERO_STATES:
        raise ValueError(f"zero_state must be one of {ZERO_STATES}, got {zero_state!r}")
    return zero_state  # type: ignore[return-value]


def bias_rad(zero_state: ZeroState = "bar") -> float:
    """Passive internal-arm bias (rad) that makes heater-off = ``zero_state``."""
    return math.pi if check_zero_state(zero_state) == "bar" else 0.0


def coupler_matrix() -> np.ndarray:
    """Ideal symmetric 50:50 coupler: real bar, +i cross (the coupler of the convention)."""
    return np.array([[1.0, 1.0j], [1.0j, 1.0]]) / math.sqrt(2.0)


def _mzi_elements(a: Any, p: Any) -> tuple[Any, Any, Any, Any]:
    """T elements from a = e^{i(θ+b)} and p = e^{iφ}; backend-neutral arithmetic."""
    t00 = 0.5 * (a - 1.0) * p
    t01 = 0.5j * (a + 1.0)
    t10 = 0.5j * (a + 1.0) * p
    t11 = 0.5 * (1.0 - a)
    return t00, t01, t10, t11


def mzi_transfer(theta: Any, phi: Any, zero_state: ZeroState = "bar") -> np.ndarray:
    """2×2 transfer matrix T(θ, φ) of one MZI (numpy, float64/complex128).

    Args:
        theta: internal heater phase (rad), scalar or array.
        phi: external heater phase (rad), same shape as ``theta``.
        zero_state: ``"bar"`` (π-biased) or ``"cross"`` (balanced).

    Returns:
        complex array of shape ``theta.shape + (2, 2)``.

    >>> np.allclose(mzi_transfer(0.0, 0.0), np.diag([-1, 1]))
    True
    """
    theta = np.asarray(theta, dtype=np.float64)
    phi = np.asarray(phi, dtype=np.float64)
    a = np.exp(1j * (theta + bias_rad(zero_state)))
    p = np.exp(1j * phi)
    t00, t01, t10, t11 = _mzi_elements(a, p)
    return np.stack([np.stack([t00, t01], -1), np.stack([t10, t11], -1)], -2)


def mzi_transfer_torch(theta: Any, phi: Any, zero_state: ZeroState = "bar") -> tuple[Any, ...]:
    """Differentiable T(θ, φ) elements ``(t00, t01, t10, t11)`` as complex torch tensors."""
    import torch

    a = torch.polar(torch.ones_like(theta), theta + bias_rad(zero_state))
    p = torch.polar(torch.ones_like(phi), phi)
    return _mzi_elements(a, p)


def attenuator_port(zero_state: ZeroState = "bar") -> tuple[int, int]:
    """(out, in) element of T used by a Σ attenuator: the zero-power through path."""
    return (0, 0) if check_zero_state(zero_state) == "bar" else (1, 0)


def attenuator_transfer(theta: Any, phi: Any, zero_state: ZeroState = "bar") -> np.ndarray:
    """Complex transmission of a Σ attenuator MZI; |t| = |cos(θ/2)| in both conventions."""
    o, i = attenuator_port(zero_state)
    return mzi_transfer(theta, phi, zero_state)[..., o, i]


def attenuator_theta(amplitude: Any) -> np.ndarray:
    """θ in [0, π] that gives transmission amplitude ``amplitude`` ∈ [0, 1]."""
    amplitude = np.asarray(amplitude, dtype=np.float64)
    if np.any(~np.isfinite(amplitude)) or np.any(amplitude < 0) or np.any(amplitude > 1 + 1e-12):
        raise ValueError("attenuator amplitude must be finite and in [0, 1]")
    return 2.0 * np.arccos(np.clip(amplitude, 0.0, 1.0))


def wrap_phase(phase: Any) -> Any:
    """Programmed heater phase: ``phase mod 2π`` in [0, 2π) (numpy or torch)."""
    w = phase % TWO_PI
    return w * (w < TWO_PI)  # a tiny negative phase rounds to exactly 2π: that is 0


def circular_distance(phase: Any) -> Any:
    """Distance of a phase from 0 on the circle, in [0, π] (wrap-aware ranking)."""
    if type(phase).__module__.partition(".")[0] == "torch":
        return _torch_min(wrap_phase(phase))
    w = wrap_phase(np.asarray(phase, dtype=np.float64))
    return np.minimum(w, TWO_PI - w)


def _torch_min(w: Any) -> Any:
    import torch

    return torch.minimum(w, TWO_PI - w)


def heater_power_mw(phase: Any, p_pi_mw: float = P_PI_MW_DEFAULT) -> Any:
    """Static power of a thermo-optic heater: P = P_π · (phase mod 2π) / π (mW).

    >>> float(heater_power_mw(np.pi))
    25.0
    """
    if not p_pi_mw > 0:
        raise ValueError(f"p_pi_mw must be > 0, got {p_pi_mw}")
    return p_pi_mw * wrap_phase(phase) / math.pi
