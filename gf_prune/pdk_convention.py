"""The MZI convention built on a foundry PDK's own devices, read off its SAX models.

gf_prune's convention (:mod:`gf_prune.physics`) is T = B·diag(e^{i(θ+b)}, 1)·B·diag(e^{iφ}, 1) with the
coupler B = [[1, i], [i, 1]]/√2 in the (top, bottom) mode frame. A PDK's 2×2 coupler model, probed at the
design wavelength on the cell's own ports (:func:`probe_coupler`), is either

- ``c·B`` ("bar-real"; gdsfactory's ideal ``mmi2x2``): θ and the π bias go on the TOP internal arm, or
- ``c·P·B`` (P the output swap; cspdk 1.4.2's ``mmi2x2`` = i·(D·B·D), D = diag(1, −1), which is P·B):
  since P·B·diag(x, y)·P·B = B·diag(y, x)·B, θ and the bias go on the BOTTOM internal arm
  (φ stays on the top input) and the MZI is the convention's exactly,

times one complex factor c = |c|·e^{iψ} per coupler. A slot with two couplers then carries e^{2iψ} (and
|c|², the couplers' loss) that a passthrough or removed-MZI slot of the same column, plain waveguide, does
not: :func:`slot_extra_length` gives the extra length (µm, even nm) of every such path so that its phase
matches — exact when 2ψ/β − 2·L_c is a whole number of 2 nm modulo an exact number of waves; the residual
phase otherwise. A PDK heater whose waveguide index differs from the straight's
(cspdk: 2.34 vs 2.38) adds a fixed phase δ when built (:func:`heater_offset`): the phase to program is
``wrap(phase − δ)`` (``heaters.csv`` → ``phase_rad``).
"""

from __future__ import annotations

import cmath
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any, Literal

import numpy as np

from gf_prune.physics import GRID_UM, WL0_UM, wrap_phase

__all__ = [
    "CouplerProbe",
    "PdkConvention",
    "coupler_model",
    "crossing_model",
    "heater_offset",
    "matching_length",
    "pdk_convention",
    "probe_coupler",
    "slot_extra_length",
]

ThetaArm = Literal["top", "bottom"]
_TOL = 1e-6


@dataclass(frozen=True)
class CouplerProbe:
    """A 2×2 coupler model at one wavelength: ``c·B`` (``theta_arm="top"``) or ``c·P·B`` (``"bottom"``)."""

    theta_arm: ThetaArm
    phase_rad: float  # ψ = arg c
    amplitude: float  # |c|/√2: the field amplitude of each output of one input
    deviation: float  # max |S/c − M| over the four transfers (0: exactly the ideal 50:50)


@dataclass(frozen=True)
class PdkConvention:
    """Where θ goes and which fixed phases each slot kind carries, for one PDK (see the module)."""

    theta_arm: ThetaArm
    coupler_phase_rad: float
    coupler_amplitude: float
    coupler_deviation: float
    extra_length_um: float  # added to every passthrough / removed-MZI path
    extra_residual_rad: float  # phase error of that length on the 1 nm grid (per slot)
    heater_offset_rad: float  # δ: built heater at zero drive vs a straight of the same length
    heater_length_um: float
    source: str
    crossing_phase_rad: float | None = None  # the crossing model's through phase (None: no model)
    crossing_extra_um: float = 0.0  # added to a path through a crossing (removed cross-state MZI, swap slot)
    crossing_residual_rad: float = 0.0
    pair_extra_um: tuple[float, float] | None = None  # loss-matched passthrough (down, up); None: lossless coupler
    pair_residual_rad: float = 0.0

    def record(self) -> dict[str, Any]:
        """As ``layout.json`` keeps it (JSON types: the pair's lengths as a list)."""
        out = asdict(self)
        if out["pair_extra_um"] is not None:
            out["pair_extra_um"] = list(out["pair_extra_um"])
        return out


def _t(sd: Mapping[tuple[str, str], Any], a: str, b: str) -> complex:
    v = sd.get((a, b), sd.get((b, a), 0.0))
    return complex(np.asarray(v).ravel()[0])


def probe_coupler(
    model: Callable[..., Any], ports: tuple[str, str, str, str], wl: float = WL0_UM, **kwargs: Any
) -> CouplerProbe:
    """Probe a 2×2 coupler model at ``wl``; ``ports`` = (west-bottom, west-top, east-top, east-bottom).

    Raises:
        ValueError: when the model is not c·B or c·P·B (a 50:50 coupler up to one factor) to 1e-6.
    """
    wb, wt, et, eb = ports
    sd = model(wl=wl, **kwargs)
    m = np.array([[_t(sd, wt, et), _t(sd, wb, et)], [_t(sd, wt, eb), _t(sd, wb, eb)]])  # out (t, b) ← in (t, b)
    b = np.array([[1, 1j], [1j, 1]]) / math.sqrt(2)
    best = None
    for arm, ideal in (("top", b), ("bottom", b[::-1])):
        c = complex(np.vdot(ideal, m) / np.vdot(ideal, ideal))
        dev = float(np.max(np.abs(m / c - ideal))) if abs(c) > 0 else math.inf
        if best is None or dev < best.deviation:
            best = CouplerProbe(arm, cmath.phase(c), abs(c) / math.sqrt(2), dev)  # type: ignore[arg-type]
    assert best is not None
    if best.deviation > _TOL:
        raise ValueError(
            f"coupler model is not a 50:50 coupler c·B or c·P·B at {wl} µm (off by {best.deviation:.3g}): "
            f"S (top, bottom) = {np.round(m, 6).tolist()}"
        )
    return best


def slot_extra_length(
    coupler_phase_rad: float,
    coupler_length_um: float,
    neff: float,
    wl_um: float = WL0_UM,
    min_um: float = -100.0,
    max_um: float = 100.0,
) -> tuple[float, float]:
    """(extra length in µm, residual phase in rad) of a passthrough / removed-MZI path.

    The MZI's reference path has two couplers (phase 2ψ) where the plain slot has 2·L_c of waveguide:
    the extra length ΔL must satisfy β·(2·L_c + ΔL) ≡ 2ψ (mod 2π), β = 2π·n_eff/λ. ΔL is an even number
    of nm (it is split over two verticals) in [``min_um``, ``max_um``]: the one with the smallest phase
    error, then the shortest. Exact (residual 0) whenever the target is a whole number of 2 nm modulo
    an exact number of waves (cspdk: ψ = 0, L_c = 82.5 µm: ΔL = −10 µm, as 155 µm = 238 waves at 2.38).
    """
    return matching_length(2 * coupler_phase_rad, 2 * coupler_length_um, neff, wl_um, min_um, max_um)


def matching_length(
    phase_rad: float,
    length_um: float,
    neff: float,
    wl_um: float = WL0_UM,
    min_um: float = -100.0,
    max_um: float = 100.0,
    step_nm: int = 2,
) -> tuple[float, float]:
    """(ΔL in µm, a multiple of ``step_nm`` nm in [``min_um``, ``max_um``]; residual phase in rad) with
    β·(``length_um`` + ΔL) ≡ ``phase_rad``: a plain path standing in for a device of that length and phase."""
    lam = Fraction(str(wl_um)) / Fraction(str(neff))  # one wave in µm (exact decimals)
    target = Fraction(phase_rad / (2 * math.pi)).limit_denominator(10**6) * lam - Fraction(str(length_um))
    step = step_nm * Fraction(str(GRID_UM))
    best: tuple[float, float, float] | None = None
    k_lo = math.floor((min_um - target) / lam) - 1
    k_hi = math.ceil((max_um - target) / lam) + 1
    for k in range(k_lo, k_hi + 1):
        want = target + k * lam
        n = round(want / step)
        got = n * step
        if not min_um <= got <= max_um:
            continue
        err = abs(float(wrap_phase(2 * math.pi * float((got - want) / lam) + math.pi)) - math.pi)
        key = (round(err, 12), abs(float(got)), float(got))
        if best is None or key < best:
            best = key
    if best is None:
        raise ValueError(f"no extra length in [{min_um}, {max_um}] µm")
    return round(best[2], 3), best[0]


def heater_offset(
    heater_model: Callable[..., Any], straight_model: Callable[..., Any], length_um: float, wl: float = WL0_UM
) -> float:
    """δ (rad, in [0, 2π)): phase of the PDK's heater at zero drive against its straight of ``length_um``."""

    def call(model: Callable[..., Any]) -> complex:
        params = inspect.signature(model).parameters
        kw = {k: 0.0 for k in ("voltage", "phase") if k in params}
        return _t(model(wl=wl, length=length_um, **kw), "o1", "o2")

    return float(wrap_phase(cmath.phase(call(heater_model) / call(straight_model))))


def pdk_convention(
    models: Mapping[str, Callable[..., Any]],
    names: Mapping[str, str | None],
    coupler_ports: tuple[str, str, str, str],
    coupler_length_um: float,
    neff: float,
    v_fan_um: float,
    wl_um: float = WL0_UM,
    heater_length_um: float = 100.0,
    pdk_name: str = "pdk",
    crossing_ports: tuple[str, str] | None = None,
    crossing_length_um: float = 0.0,
    coupler_sep_um: float = 0.0,
) -> PdkConvention | None:
    """The convention on a PDK's models (``names``: role → cell name, as :data:`gf_prune.pdk.CELL_ROLES`);
    None when it has no coupler model (its chip is then built as for ideal couplers).

    ΔL is searched in [−4·v_fan, +2·v_fan]: a passthrough's verticals may shrink to zero, or grow by half
    their length. A crossing model (``crossing_ports`` = its west and east port) is probed for its through
    phase ψ_x: a path through it gets ΔL_x with β·ΔL_x ≡ β·L_x − ψ_x (in [0, 2·v_fan]), since the layout counts
    the crossing as L_x of waveguide. A lossy coupler (|c| < 1) gets loss-matched passthroughs: two couplers in
    series, c²·i, the path raised by ``coupler_sep_um`` and back; ``pair_extra_um`` = (ΔL down, ΔL up) with
    β·(ΔL + sep) ≡ −π/2 on the 1 nm grid (an odd ΔL takes a bend a few nm larger, :func:`_shim_bend`)."""
    coupler = models.get(str(names.get("coupler")))
    if coupler is None:
        return None
    probe = probe_coupler(coupler, coupler_ports, wl_um)
    extra, residual = slot_extra_length(probe.phase_rad, coupler_length_um, neff, wl_um, -4 * v_fan_um, 2 * v_fan_um)
    heater, straight = models.get(str(names.get("heater"))), models.get(str(names.get("straight")))
    offset = heater_offset(heater, straight, heater_length_um, wl_um) if heater and straight else 0.0
    xing = models.get(str(names.get("crossing")))
    x_phase, x_extra, x_res = None, 0.0, 0.0
    if xing is not None and crossing_ports is not None:
        x_phase = cmath.phase(_t(xing(wl=wl_um), *crossing_ports))
        x_extra, x_res = matching_length(-x_phase, -crossing_length_um, neff, wl_um, 0.0, 2 * v_fan_um)
    pair, pair_res = None, 0.0
    if probe.amplitude * math.sqrt(2) < 1 - 1e-9 and coupler_sep_um > 0:
        # ΔL ≤ 0: the pair's bumps stay shallower than a plain passthrough's (a removed MZI's outward path above)
        x, pair_res = matching_length(-math.pi / 2, coupler_sep_um, neff, wl_um, -2 * v_fan_um, 0.0, 1)
        pair = (x, x)
    return PdkConvention(
        pair_extra_um=pair,
        pair_residual_rad=pair_res,
        crossing_phase_rad=x_phase,
        crossing_extra_um=x_extra,
        crossing_residual_rad=x_res,
        theta_arm=probe.theta_arm,
        coupler_phase_rad=probe.phase_rad,
        coupler_amplitude=probe.amplitude,
        coupler_deviation=probe.deviation,
        extra_length_um=extra,
        extra_residual_rad=residual,
        heater_offset_rad=offset if abs(offset - 2 * math.pi) > 1e-12 else 0.0,
        heater_length_um=heater_length_um,
        source=f"{pdk_name} SAX models {names.get('coupler')!r}, {names.get('heater')!r}, "
        f"{names.get('straight')!r} at λ = {wl_um} µm",
    )


def coupler_model(theta_arm: ThetaArm, phase_rad: float, ports: tuple[str, str, str, str]) -> Callable[..., Any]:
    """Lossless ideal SAX model of the probed coupler: e^{iψ}·B (``"top"``) or e^{iψ}·P·B (``"bottom"``),
    on the cell's own ports, flat in λ."""
    import jax.numpy as jnp
    import sax

    wb, wt, et, eb = ports
    c = cmath.exp(1j * phase_rad) / math.sqrt(2)
    bar, cross = (c, 1j * c) if theta_arm == "top" else (1j * c, c)

    def pdk_coupler(*, wl: Any = WL0_UM) -> sax.SDict:
        one = jnp.ones_like(jnp.asarray(wl, dtype=float))
        return sax.reciprocal({(wt, et): bar * one, (wb, eb): bar * one, (wt, eb): cross * one, (wb, et): cross * one})

    return pdk_coupler


def crossing_model(phase_rad: float, ports: tuple[str, str, str, str]) -> Callable[..., Any]:
    """Lossless ideal SAX model of a probed crossing, ``ports`` = (west, north, east, south): e^{iψ_x} straight
    through (west↔east, north↔south), flat in λ."""
    import jax.numpy as jnp
    import sax

    w, n, e, so = ports
    t = cmath.exp(1j * phase_rad)

    def pdk_crossing(*, wl: Any = WL0_UM) -> sax.SDict:
        one = jnp.ones_like(jnp.asarray(wl, dtype=float))
        return sax.reciprocal({(w, e): t * one, (n, so): t * one})

    return pdk_crossing
