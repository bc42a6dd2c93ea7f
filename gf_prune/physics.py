"""The one MZI convention and the one static-power model of gf_prune.

Everything else (torch mesh, decomposition, gdsfactory cells, SAX models, power
report, robustness, verification) imports from here; nothing here imports from the rest
of the package. Functions are backend-neutral where stated: Python/numpy scalars and
arrays, or torch tensors (differentiable).

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

With imperfect couplers B(r) = [[r, i·t], [i·t, r]], t = √(1 − r²) (r = 1/√2 is the
ideal), :func:`mzi_elements` gives the general form; the closed form above is its
exact special case. :func:`mzi_phases` inverts it (phases from a 2×2 transfer).

Static power of one heater: P = P_π · (phase mod 2π) / π.

The π bias is a longer top internal arm, ΔL = (2m + 1)·λ/(2·n_eff) (:func:`bias_length_um`),
chosen on gdsfactory's 1 nm grid. See ``docs/design.md``.
"""

from __future__ import annotations

import cmath
import math
from typing import Any, Literal

import numpy as np

ZeroState = Literal["bar", "cross"]
ZERO_STATES: tuple[str, ...] = ("bar", "cross")
TWO_PI = 2.0 * math.pi
INV_SQRT2 = 1.0 / math.sqrt(2.0)
"""Field bar coefficient r of an ideal 50:50 coupler."""
P_PI_MW_DEFAULT = 25.0
"""Default P_π of a thermo-optic Si heater (mW), docs/design.md / Banerjee et al."""
WL0_UM = 1.55
"""Design wavelength (µm): every layout length is chosen for it."""
NEFF_DESIGN = 2.5
"""Effective index of the 500 nm Si strip at ``WL0_UM`` used for the layout's π bias.

Chosen so that the π bias λ/(2·n_eff) = 310 nm (and its half, 155 nm) lands on the 1 nm grid.
"""
GRID_UM = 0.001
"""gdsfactory's database unit (µm): every layout length is a whole number of nm."""


def check_zero_state(zero_state: str) -> ZeroState:
    """Return ``zero_state`` if valid, else raise a ValueError naming it."""
    if zero_state not in ZERO_STATES:
        raise ValueError(f"zero_state must be one of {ZERO_STATES}, got {zero_state!r}")
    return zero_state  # type: ignore[return-value]


def bias_rad(zero_state: ZeroState = "bar") -> float:
    """Passive internal-arm bias (rad) that makes heater-off = ``zero_state``."""
    return math.pi if check_zero_state(zero_state) == "bar" else 0.0


def coupler_matrix(r: float = INV_SQRT2) -> np.ndarray:
    """Lossless 2×2 coupler with field bar coefficient ``r`` (ideal: r = 1/√2, 50:50).

    ::

        in0 ──┐ ┌── out0     B(r) = [[ r,   i·t ],
               ╳                     [ i·t,  r  ]],   t = √(1 − r²)
        in1 ──┘ └── out1

    Args:
        r: field transmission of the bar path, in [0, 1] (power split r² : t²).

    Returns:
        complex (2, 2) array; real bar, +i cross (the coupler of the convention).

    >>> np.allclose(coupler_matrix(), np.array([[1, 1j], [1j, 1]]) / 2 ** 0.5)
    True
    """
    if not 0.0 <= r <= 1.0:
        raise ValueError(f"coupler field coefficient r must be in [0, 1], got {r}")
    t = math.sqrt(1.0 - r * r)
    return np.array([[r, 1j * t], [1j * t, r]], dtype=np.complex128)


def _is_torch(x: Any) -> bool:
    return type(x).__module__.partition(".")[0] == "torch"


def _phasor(x: Any) -> Any:
    """e^{ix} in the backend of ``x`` (torch tensor, numpy array, or Python complex for a scalar)."""
    if _is_torch(x):
        import torch

        return torch.polar(torch.ones_like(x), x)
    if isinstance(x, int | float):
        return cmath.exp(1j * x)
    return np.exp(1j * np.asarray(x, dtype=np.float64))


def mzi_elements(
    theta: Any, phi: Any, zero_state: ZeroState = "bar", *, r_in: Any = None, r_out: Any = None
) -> tuple[Any, Any, Any, Any]:
    """Elements (t00, t01, t10, t11) of T = B(r_out)·diag(e^{i(θ+b)}, 1)·B(r_in)·diag(e^{iφ}, 1).

    With a = e^{i(θ+b)}, p = e^{iφ}, t = √(1 − r²)::

        t00 = (a·r_in·r_out − t_in·t_out)·p      t01 = i·(a·t_in·r_out + r_in·t_out)
        t10 = i·(a·r_in·t_out + t_in·r_out)·p    t11 = r_in·r_out − a·t_in·t_out

    With ideal couplers (``r_in`` and ``r_out`` None: r = t = 1/√2) this is exactly the
    closed form of the module docstring, ``T = ½[[(a − 1)p, i(a + 1)], [i(a + 1)p, 1 − a]]``.

    Args:
        theta: internal heater phase (rad): float, numpy array or torch tensor.
        phi: external heater phase (rad), same shape and backend as ``theta``.
        zero_state: ``"bar"`` (π-biased) or ``"cross"`` (balanced): sets the bias b.
        r_in, r_out: bar field coefficients of the first / second coupler, in [0, 1],
            broadcastable to ``theta``; None is the ideal 1/√2.

    Returns:
        the four complex elements, each of ``theta``'s shape and backend.

    >>> [complex(round(t.real), round(t.imag)) for t in mzi_elements(0.0, 0.0)]
    [(-1+0j), 0j, 0j, (1+0j)]
    """
    a = _phasor(theta + bias_rad(zero_state))
    p = _phasor(phi)
    if r_in is None and r_out is None:
        return 0.5 * (a - 1.0) * p, 0.5j * (a + 1.0), 0.5j * (a + 1.0) * p, 0.5 * (1.0 - a)
    r_in = INV_SQRT2 if r_in is None else r_in
    r_out = INV_SQRT2 if r_out is None else r_out
    t_in = (1.0 - r_in * r_in) ** 0.5
    t_out = (1.0 - r_out * r_out) ** 0.5
    t00 = (a * r_in * r_out - t_in * t_out) * p
    t01 = 1j * (a * t_in * r_out + r_in * t_out)
    t10 = 1j * (a * r_in * t_out + t_in * r_out) * p
    t11 = r_in * r_out - a * t_in * t_out
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
    t00, t01, t10, t11 = mzi_elements(theta, phi, zero_state)
    return np.stack([np.stack([t00, t01], -1), np.stack([t10, t11], -1)], -2)


def mzi_transfer_torch(theta: Any, phi: Any, zero_state: ZeroState = "bar") -> tuple[Any, ...]:
    """Differentiable T(θ, φ) elements ``(t00, t01, t10, t11)`` as complex torch tensors
    (:func:`mzi_elements` with ideal couplers)."""
    return mzi_elements(theta, phi, zero_state)


def mzi_phases(transfer: Any, zero_state: ZeroState = "bar", atol: float = 1e-6) -> tuple[float, float]:
    """Inverse of :func:`mzi_transfer`: the heater phases (θ, φ) of a 2×2 transfer, each in [0, 2π).

    From the closed form, a = e^{i(θ+b)} = 1 − 2·t11 and p = e^{iφ} = t10 / (i(a + 1)/2)
    (or −t00 when a = −1, the cross/bar state where t10 vanishes).

    Args:
        transfer: complex (2, 2) array, out ← in, of an MZI with ideal couplers.
        zero_state: ``"bar"`` or ``"cross"`` (the bias b to take off θ).
        atol: how far ``transfer`` may be from T(θ, φ) (Frobenius norm).

    Returns:
        (θ, φ) in rad.

    Raises:
        ValueError: when ``transfer`` is not T(θ, φ) of the convention for any phases.

    >>> [round(x, 6) for x in mzi_phases(mzi_transfer(1.0, 2.0))]
    [1.0, 2.0]
    """
    t = np.asarray(transfer, dtype=np.complex128)
    if t.shape != (2, 2):
        raise ValueError(f"transfer must be a 2×2 matrix, got shape {t.shape}")
    a = 1.0 - 2.0 * t[1, 1]
    if abs(abs(a) - 1.0) > atol:
        raise ValueError(f"not an MZI of the convention: |1 − 2·t11| = {abs(a):.6g} ≠ 1")
    p = -t[0, 0] if abs(a + 1.0) < atol else t[1, 0] / (0.5j * (a + 1.0))
    theta = float(wrap_phase(float(np.angle(a)) - bias_rad(zero_state)))
    phi = float(wrap_phase(float(np.angle(p))))
    err = float(np.linalg.norm(mzi_transfer(theta, phi, zero_state) - t))
    if not err <= atol:
        raise ValueError(f"not an MZI of the convention: closest T(θ, φ) is {err:.3g} away")
    return theta, phi


def attenuator_port(zero_state: ZeroState = "bar") -> tuple[int, int]:
    """(out, in) element of T used by a Σ attenuator: the zero-power through path."""
    return (0, 0) if check_zero_state(zero_state) == "bar" else (1, 0)


def attenuator_element(elements: tuple[Any, Any, Any, Any], zero_state: ZeroState = "bar") -> Any:
    """The through element of a Σ attenuator picked from MZI elements ``(t00, t01, t10, t11)``.

    >>> attenuator_element(("t00", "t01", "t10", "t11"), "cross")
    't10'
    """
    o, i = attenuator_port(zero_state)
    return elements[2 * o + i]


def attenuator_transfer(theta: Any, phi: Any, zero_state: ZeroState = "bar") -> np.ndarray:
    """Complex transmission of a Σ attenuator MZI; |t| = |cos(θ/2)| in both conventions."""
    t = mzi_elements(np.asarray(theta, dtype=np.float64), np.asarray(phi, dtype=np.float64), zero_state)
    return attenuator_element(t, zero_state)


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


def wrap_to_pi(phase: Any) -> Any:
    """Phase wrapped to (−π, π] (numpy or torch), the range of ``np.angle``: a signed phase.

    >>> float(wrap_to_pi(3 * np.pi)), float(wrap_to_pi(-np.pi))
    (3.141592653589793, 3.141592653589793)
    """
    r = (math.pi - phase) % TWO_PI
    return math.pi - r * (r < TWO_PI)


def circular_distance(phase: Any) -> Any:
    """Distance of a phase from 0 on the circle, in [0, π] (wrap-aware ranking)."""
    if _is_torch(phase):
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


def phase_power_mw(phase: Any, live: Any, p_pi_mw: float = P_PI_MW_DEFAULT) -> np.ndarray:
    """Per-heater static power (mW, float64): :func:`heater_power_mw` where ``live``, 0 where pruned.

    >>> phase_power_mw([np.pi, np.pi], [True, False]).tolist()
    [25.0, 0.0]
    """
    phase = np.asarray(phase, dtype=np.float64)
    live = np.asarray(live, dtype=bool)
    return np.where(live, heater_power_mw(np.where(live, phase, 0.0), p_pi_mw), 0.0)


def bias_length_um(
    wl_um: float = WL0_UM,
    neff: float = NEFF_DESIGN,
    half_waves: int | None = 1,
    max_um: float = 200.0,
    quarter_wave: bool = False,
) -> float:
    """Extra arm length (µm) for a π bias: ΔL = half_waves · λ/(2·n_eff), ``half_waves`` odd.

    The result is a layout length, so it must lie on gdsfactory's 1 nm grid: choose
    ``neff`` (or an odd number of ``half_waves``) so that it does. ``half_waves=None``
    chooses the smallest odd number for which ΔL is exact, and its half too (the biased
    arm's two verticals each carry ΔL/2), with λ and n_eff taken as the decimals they
    are written as: at λ = 1.55 µm, n_eff = 2.38 (cspdk's strip) gives 119 half waves,
    ΔL = 38.750 µm (λ/(2·n_eff) = 38750/119 nm is not a whole number of nm).

    Args:
        wl_um: design wavelength λ (µm).
        neff: effective index of the biased arm at λ.
        half_waves: odd number of half waves (1 = the shortest π bias); None = the
            smallest exact one.
        max_um: with ``half_waves=None``, the longest bias accepted (µm).
        quarter_wave: with ``half_waves=None``, also make ΔL/2 a quarter wave (+i, not −i):
            ``half_waves`` ≡ 1 (mod 4), as a removed cross-state MZI needs (357 half waves at 2.38).

    Returns:
        ΔL in µm, rounded to the nm (exactly on the grid).

    Raises:
        ValueError: when ``half_waves`` is even, ΔL is off the 1 nm grid, or (None) no
            odd number of half waves up to ``max_um`` is exact.

    >>> bias_length_um(1.55, 2.5)
    0.31
    >>> bias_length_um(1.55, 2.38, half_waves=None)
    38.75
    """
    if not (wl_um > 0 and neff > 0):
        raise ValueError(f"wavelength and n_eff must be > 0, got {wl_um}, {neff}")
    if half_waves is None:
        from fractions import Fraction

        per_half = Fraction(str(wl_um)) / (2 * Fraction(str(neff)))  # λ/(2·n_eff) in µm, exact decimals
        step = per_half / (2 * Fraction(str(GRID_UM)))  # in units of 2 nm (ΔL and ΔL/2 on the grid)
        k = step.denominator
        if quarter_wave and k % 4 == 3:
            k *= 3
        if k % 2 == 0 or k * per_half > max_um:
            raise ValueError(
                f"no odd number of half waves λ/(2·n_eff) = {float(per_half) * 1e3:.4f} nm up to {max_um} µm is a "
                f"whole (even) number of nm at λ = {wl_um} µm, n_eff = {neff}: round n_eff to fewer decimals"
            )
        half_waves = k
    if half_waves < 1 or half_waves % 2 == 0:
        raise ValueError(f"a π bias needs an odd number of half waves, got {half_waves}")
    length = half_waves * wl_um / (2.0 * neff)
    nm = round(length / GRID_UM)
    if abs(nm * GRID_UM - length) > 1e-9:
        raise ValueError(
            f"π bias {half_waves}·λ/(2·n_eff) = {length!r} µm is off the 1 nm grid: "
            "choose n_eff (or half_waves) so that it is a whole number of nm"
        )
    return round(nm * GRID_UM, 3)
