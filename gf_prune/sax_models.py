"""Physical SAX models of the gdsfactory cells a gf_prune layout is made of.

Every model is a small pure function returning a SAX ``SDict`` (jit-able, arrays
broadcast), in the shape of ``sax.models.straight``. Waveguides carry
``exp(i·2π·n_eff(λ)·L/λ)`` with the layout's real length ``L`` and first-order
group-index dispersion; the coupler is the convention's ``B = [[1, i], [i, 1]]/√2``
(:func:`gf_prune.physics.coupler_matrix`) times the phase of its own length; a
heater is its waveguide times ``e^{i·phase}``.

They are registered the way a gdsfactory PDK registers its models
(``gf.Pdk(..., models=models())``): a dict from the cell's netlist name to its
model. Which cell setting becomes which model parameter is written out, per cell,
in :data:`CELL_MODELS` (a :class:`CellModel` each). A cell without an entry, or a
cross-section without known indices, is an error that names it: nothing falls back
silently to an idealised model.

Port naming is gdsfactory's ("optical" strategy): 2×2 couplers have ``o1``
west-bottom, ``o2`` west-top, ``o3`` east-top, ``o4`` east-bottom; mode 0 of the
convention is the top waveguide, so the bar paths are o2→o3 and o1→o4.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import sax

from gf_prune.physics import NEFF_DESIGN, WL0_UM

sax.set_port_naming_strategy("optical")
jax.config.update("jax_enable_x64", True)  # sax does this on import; the check needs float64

NEFF_STRIP = NEFF_DESIGN
"""Effective index of the 500 nm Si strip at ``WL0_UM``: the design index of the π bias
(:func:`gf_prune.physics.bias_length_um`)."""

NG_STRIP = 4.2
"""Group index of the 500 nm Si strip (dispersion around ``WL0_UM``)."""


class UnmodelledCellError(KeyError):
    """A netlist cell (or cross-section) has no SAX model in gf_prune."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unmodelled cell"


@dataclass(frozen=True)
class Waveguide:
    """Modal indices of one cross-section at ``wl0`` (µm)."""

    neff: float = NEFF_STRIP
    ng: float = NG_STRIP
    wl0: float = WL0_UM
    loss_dB_cm: float = 0.0


STRIP = Waveguide()
CROSS_SECTIONS: dict[str, Waveguide] = {
    "strip": STRIP,
    "strip_heater_metal": STRIP,
    "strip_heater_metal_undercut": STRIP,
}
"""Cross-section name → indices. The heater cross-sections share the strip core."""


# ----------------------------------------------------------------------------- physics


def _transmission(wl: Any, wl0: Any, neff: Any, ng: Any, length: Any, loss_dB_cm: Any) -> Any:
    """Complex field transmission of a waveguide of ``length`` µm (group-index dispersion)."""
    wl = jnp.asarray(wl)
    neff_wl = neff - (wl - wl0) * (ng - neff) / wl0
    amplitude = 10 ** (-1e-4 * loss_dB_cm * length / 20)
    return amplitude * jnp.exp(2j * jnp.pi * neff_wl * length / wl)


def straight(
    *,
    wl: Any = WL0_UM,
    wl0: Any = WL0_UM,
    neff: Any = NEFF_STRIP,
    ng: Any = NG_STRIP,
    length: Any = 10.0,
    loss_dB_cm: Any = 0.0,
) -> sax.SDict:
    """Dispersive waveguide of optical path ``length`` (straights, bends, tapers).

    ```{svgbob}
     o1 =========== o2
    ```

    Args:
        wl: wavelength (µm).
        wl0: wavelength at which ``neff`` and ``ng`` are given (µm).
        neff: effective index at ``wl0``.
        ng: group index at ``wl0``.
        length: path length along the waveguide (µm), as in the netlist.
        loss_dB_cm: propagation loss (dB/cm).

    Returns:
        reciprocal SDict ``{("o1", "o2"): t}``, ``t = 10^(−loss·L/20)·exp(i·2π·n_eff(λ)·L/λ)``.

    >>> s = straight(wl=1.55, neff=2.5, length=0.31)  # half a wavelength in the guide
    >>> complex(s["o1", "o2"]).real.__round__(12)
    -1.0
    """
    t = _transmission(wl, wl0, neff, ng, length, loss_dB_cm)
    return sax.reciprocal({("o1", "o2"): t})


def heater(
    *,
    wl: Any = WL0_UM,
    wl0: Any = WL0_UM,
    neff: Any = NEFF_STRIP,
    ng: Any = NG_STRIP,
    length: Any = 100.0,
    loss_dB_cm: Any = 0.0,
    phase: Any = 0.0,
) -> sax.SDict:
    """Thermo-optic phase shifter: its waveguide times ``e^{i·phase}``.

    ```{svgbob}
         [heater]
     o1 =========== o2
    ```

    Args:
        wl, wl0, neff, ng, length, loss_dB_cm: as :func:`straight` (the heated waveguide).
        phase: programmed heater phase (rad), taken as constant in λ.

    Returns:
        reciprocal SDict ``{("o1", "o2"): t·e^{i·phase}}``.

    >>> s0, s1 = heater(length=100.0), heater(length=100.0, phase=0.5)
    >>> round(float(jnp.angle(s1["o1", "o2"] / s0["o1", "o2"])), 12)
    0.5
    """
    t = _transmission(wl, wl0, neff, ng, length, loss_dB_cm) * jnp.exp(1j * jnp.asarray(phase))
    return sax.reciprocal({("o1", "o2"): t})


def mmi2x2(
    *,
    wl: Any = WL0_UM,
    wl0: Any = WL0_UM,
    neff: Any = NEFF_STRIP,
    ng: Any = NG_STRIP,
    length: Any = 25.5,
    loss_dB_cm: Any = 0.0,
) -> sax.SDict:
    """50:50 2×2 coupler of the convention: real bar, +i cross, times its length's phase.

    ```{svgbob}
          +-------------+
     o2 --|   top       |-- o3
          |             |
     o1 --|   bottom    |-- o4
          +-------------+
    ```

    Args:
        wl, wl0, neff, ng, loss_dB_cm: as :func:`straight`.
        length: port-to-port length of the device (µm): tapers plus MMI body.

    Returns:
        reciprocal SDict: bar (o2→o3, o1→o4) ``t/√2``, cross (o2→o4, o1→o3) ``i·t/√2``.

    >>> s = mmi2x2(length=0.0)
    >>> round(complex(s["o2", "o4"]).imag ** 2, 12)
    0.5
    """
    t = _transmission(wl, wl0, neff, ng, length, loss_dB_cm) / math.sqrt(2.0)
    return sax.reciprocal(
        {
            ("o2", "o3"): t,
            ("o1", "o4"): t,
            ("o2", "o4"): 1j * t,
            ("o1", "o3"): 1j * t,
        }
    )


def crossing(
    *,
    wl: Any = WL0_UM,
    wl0: Any = WL0_UM,
    neff: Any = NEFF_STRIP,
    ng: Any = NG_STRIP,
    length: Any = 8.0,
    loss_dB_cm: Any = 0.0,
    insertion_loss_dB: Any = 0.0,
    crosstalk_dB: Any = None,
) -> sax.SDict:
    """Waveguide crossing: west↔east and north↔south, each through ``length``.

    Ideal by default (lossless, no crosstalk: the ≤ 1e-6 verification uses this). A real crossing:
    ``insertion_loss_dB`` (e.g. ≈ 0.1–0.2 dB for a Si MMI crossing) scales each through path, and
    ``crosstalk_dB`` (e.g. −40) couples each arm into the two perpendicular ports with that power ratio.

    ```{svgbob}
              o2
              |
     o1 ------+------ o3
              |
              o4
    ```

    Args:
        wl, wl0, neff, ng, loss_dB_cm: as :func:`straight`.
        length: port-to-port length of each arm (µm).

    Returns:
        reciprocal SDict ``{("o1", "o3"): t, ("o2", "o4"): t}``.
    """
    t = _transmission(wl, wl0, neff, ng, length, loss_dB_cm) * 10 ** (-insertion_loss_dB / 20)
    sd = {("o1", "o3"): t, ("o2", "o4"): t}
    if crosstalk_dB is not None:
        x = t * 10 ** (crosstalk_dB / 20)
        sd.update({("o1", "o2"): x, ("o1", "o4"): x, ("o3", "o2"): x, ("o3", "o4"): x})
    return sax.reciprocal(sd)


def terminator(*, wl: Any = WL0_UM) -> sax.SDict:
    """Perfect absorber on one port (no reflection).

    ```{svgbob}
     o1 ====>|
    ```

    Args:
        wl: wavelength (µm), only for the output's shape.

    Returns:
        SDict ``{("o1", "o1"): 0}``.
    """
    return {("o1", "o1"): jnp.zeros_like(jnp.asarray(wl), dtype=complex)}


# ----------------------------------------------------------------------------- registry


Settings = Mapping[str, Any]


def _xs(settings: Settings, key: str = "cross_section") -> dict[str, float]:
    """Indices of the cell's cross-section (error naming an unknown one)."""
    name = settings.get(key, "strip")
    if not isinstance(name, str) or name not in CROSS_SECTIONS:
        raise UnmodelledCellError(
            f"cross-section {name!r} has no effective/group index in gf_prune.sax_models.CROSS_SECTIONS"
        )
    w = CROSS_SECTIONS[name]
    return {"neff": w.neff, "ng": w.ng, "wl0": w.wl0, "loss_dB_cm": w.loss_dB_cm}


def _length_from_settings(settings: Settings, info: Settings) -> dict[str, float]:
    return {"length": float(settings["length"])}


def _length_from_info(settings: Settings, info: Settings) -> dict[str, float]:
    if "length" not in info:
        raise UnmodelledCellError("bend has no 'length' in its netlist info; cannot model its phase")
    return {"length": float(info["length"])}


def _mmi_length(settings: Settings, info: Settings) -> dict[str, float]:
    return {"length": 2.0 * float(settings.get("length_taper", 10.0)) + float(settings.get("length_mmi", 5.5))}


def _crossing_length(settings: Settings, info: Settings) -> dict[str, float]:
    # gdsfactory's crossing spans 8 µm port to port (ports at x = ±4 µm)
    return {"length": float(info.get("length", 8.0))}


def _none(settings: Settings, info: Settings) -> dict[str, float]:
    return {}


@dataclass(frozen=True)
class CellModel:
    """A cell's SAX model and the explicit mapping of its settings to model parameters.

    ``params(settings, info)`` returns the geometric keyword arguments (lengths);
    ``xs_key`` names the setting holding the optical cross-section (indices and
    dispersion come from :data:`CROSS_SECTIONS`), or ``None`` for models without a
    waveguide; ``heater`` marks a phase shifter (its ``phase`` comes from the
    trained network, not from the netlist); ``absorber`` marks a perfect absorber (every
    entry of its model is zero by construction): light entering it is lost, and the circuit
    engine may treat it as a port without entries (no zero-valued reflection to loop through).
    """

    model: Callable[..., sax.SDict]
    params: Callable[[Settings, Settings], dict[str, float]]
    xs_key: str | None = "cross_section"
    heater: bool = False
    ports: tuple[str, ...] = field(default=("o1", "o2"))
    absorber: bool = False

    def kwargs(self, settings: Settings, info: Settings | None = None) -> dict[str, float]:
        """Model keyword arguments for one instance (without ``wl`` and ``phase``)."""
        kw = dict(self.params(settings, info or {}))
        if self.xs_key is not None:
            kw.update(_xs(settings, self.xs_key))
        return kw


_X4 = ("o1", "o2", "o3", "o4")

CELL_MODELS: dict[str, CellModel] = {
    "straight": CellModel(straight, _length_from_settings),
    "taper": CellModel(straight, _length_from_settings, xs_key="cross_section"),
    "bend_euler": CellModel(straight, _length_from_info),
    "bend_circular": CellModel(straight, _length_from_info),
    "bend_s": CellModel(straight, _length_from_info),
    "mmi2x2": CellModel(mmi2x2, _mmi_length, ports=_X4),
    "crossing": CellModel(crossing, _crossing_length, xs_key=None, ports=_X4),
    "straight_heater_metal": CellModel(heater, _length_from_settings, heater=True),
    "straight_heater_metal_undercut": CellModel(heater, _length_from_settings, heater=True),
    "terminator": CellModel(terminator, _none, xs_key=None, ports=("o1",), absorber=True),
}
"""Netlist cell name → model and settings mapping. Extend with :func:`register`."""


def register(name: str, cell_model: CellModel) -> None:
    """Register (or replace) the model of cell ``name`` — e.g. a user PDK's heater."""
    CELL_MODELS[name] = cell_model


def cell_model(component: str, instance: str | None = None) -> CellModel:
    """The :class:`CellModel` of netlist cell ``component``; raises naming it if absent."""
    try:
        return CELL_MODELS[component]
    except KeyError:
        where = f" (instance {instance!r})" if instance else ""
        raise UnmodelledCellError(
            f"no SAX model for cell {component!r}{where}; register one with gf_prune.sax_models.register"
        ) from None


def models() -> dict[str, Callable[..., sax.SDict]]:
    """``{cell name: model}`` for ``gf.Pdk(models=...)`` / ``sax.circuit(models=...)``."""
    return {name: cm.model for name, cm in CELL_MODELS.items()}


def is_heater(component: str) -> bool:
    """True if cell ``component`` is modelled as a phase shifter."""
    return component in CELL_MODELS and CELL_MODELS[component].heater
