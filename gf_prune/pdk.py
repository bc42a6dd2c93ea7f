"""The chip's cells from the active gdsfactory PDK: ``layout.pdk = generic | cspdk | <module>``.

:func:`pdk_cells` activates a PDK and resolves, by spec, every cell a gf_prune chip is made of
(:class:`PdkCells`): the 2×2 coupler and its port order, the phase-shifter heater and its two
electrical ports, straight, 90° bend, waveguide cross-section, crossing and terminator — and, for
the tape-out helpers, grating coupler, pad, via stack, metal routing cross-section and the heater's
resistance — together with the waveguide's effective and group index at the design wavelength and
the π bias length on the 1 nm grid that follows from them (:func:`gf_prune.physics.bias_length_um`).

- ``generic``: gdsfactory's generic PDK, exactly today's chip (the cells' own defaults).
- ``cspdk``: CORNERSTONE Si 220 nm C band, ``cspdk.si220.cband`` (installed by ``bootstrap.sh``).
  Its waveguide indices come from its SAX model of the strip straight
  (``cspdk/si220/cband/models/waveguides.py::straight_strip``: n_eff = 2.38, n_g = 4.30 at 1.55 µm,
  read back here by evaluating ``PDK.models["straight"]``); the π bias is then
  119·λ/(2·n_eff) = 38.750 µm, exact on the grid. It has no terminator: gdsfactory's
  ``terminator`` (a taper to a 0.2 µm tip, without its doping layer) on the PDK's strip is used.
- any dotted module path exposing ``PDK`` (a ``gf.Pdk``), the way foundry PDKs do. Cell names are
  the generic ones unless the module sets ``GF_PRUNE_CELLS = {"coupler": "my_mmi", ...}`` (keys of
  :data:`CELL_ROLES`); the indices come from its ``straight`` SAX model, or ``GF_PRUNE_NEFF`` /
  ``GF_PRUNE_NG``.

A PDK that lacks a cell the chip needs is one :class:`PdkError` naming the cell(s) and the PDK.
The SAX check of a non-generic chip uses gf_prune's ideal models on the PDK's own n_eff
(:meth:`PdkCells.cell_models`), so ≤ 1e-6 proves the geometry, not the foundry's devices.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field, replace
from functools import cache, partial
from typing import Any

import gdsfactory as gf

from gf_prune.pdk_convention import PdkConvention, pdk_convention
from gf_prune.physics import NEFF_DESIGN, WL0_UM, bias_length_um

__all__ = ["BUILTIN_PDKS", "CELL_ROLES", "PdkCells", "PdkError", "check_pdk_name", "pdk_cells"]

BUILTIN_PDKS: dict[str, str] = {"generic": "gdsfactory.gpdk", "cspdk": "cspdk.si220.cband"}
"""``layout.pdk`` short names → the module exposing ``PDK``."""

CELL_ROLES: dict[str, str] = {
    "coupler": "mmi2x2",
    "heater": "straight_heater_metal",
    "straight": "straight",
    "bend": "bend_euler",
    "cross_section": "strip",
    "crossing": "crossing",
    "terminator": "terminator",
    "grating_coupler": "grating_coupler_elliptical",
    "pad": "pad",
    "via_stack": "via_stack_heater_mtop",
    "metal_routing": "metal_routing",
}
"""Role → default cell (or cross-section) name, looked up in the PDK. The first five are required."""

_REQUIRED = ("coupler", "heater", "straight", "bend", "cross_section")
_CROSS_SECTION_ROLES = ("cross_section", "metal_routing")


class PdkError(ValueError):
    """A PDK that cannot be used for the chip (unknown, not importable, or missing a cell)."""


@dataclass(frozen=True)
class PdkCells:
    """The chip's cells resolved from one PDK (specs: names for generic, the PDK's functions otherwise).

    ``coupler_ports`` = (west-bottom, west-top, east-top, east-bottom) as :func:`mzi_unit` expects;
    ``bias_length_cross_um``: the bias whose half is a quarter wave (a removed cross-state MZI's +i);
    ``heater_ports`` = the heater's two electrical ports; ``neff``/``ng`` at ``wl_um`` with their
    ``index_source``; ``bias_length_um`` = the π bias on the grid; ``fan_in_delays``: where a
    compacted mesh may put a removed MZI's π into an MZI's input (:func:`gf_prune.compaction.place_mesh`);
    ``terminator_source`` says where the terminator came from. ``None``: the PDK has no such cell.
    """

    pdk: str
    pdk_name: str
    coupler: Any
    coupler_ports: tuple[str, str, str, str]
    heater: Any
    heater_ports: tuple[str, str]
    straight: Any
    bend: Any
    cross_section: str
    crossing: Any
    terminator: Any
    terminator_source: str
    grating_coupler: Any
    pad: Any
    via_stack: Any
    metal_routing: str | None
    heater_resistance_ohm: float | None
    neff: float
    ng: float
    index_source: str
    wl_um: float
    bias_length_um: float
    bias_length_cross_um: float
    wg_layer: tuple[int, int]
    heater_layer: tuple[int, int]
    fan_in_delays: bool | str = True
    names: dict[str, str | None] = field(default_factory=dict)
    convention: PdkConvention | None = None

    @property
    def is_generic(self) -> bool:
        return self.pdk == "generic"

    def slot_settings(self, zero_state: str = "bar") -> dict[str, Any] | None:
        """``slot_settings`` of :func:`gf_prune.layout.build_network`; None for generic (the cells' defaults)."""
        if self.is_generic:
            return None
        cv = self.convention
        extra = {"extra_length": cv.extra_length_um, "crossing_extra": cv.crossing_extra_um} if cv is not None else {}
        if cv is not None and cv.pair_extra_um is not None:
            extra.update({"loss_pair": tuple(cv.pair_extra_um), "terminator": self.terminator})
        return {**self._common(zero_state), "crossing": self.crossing, **{k: v for k, v in extra.items() if v}}

    def att_settings(self, zero_state: str = "bar") -> dict[str, Any] | None:
        """``att_settings`` (Σ attenuators); None for generic."""
        if self.is_generic:
            return None
        return {**self._common(zero_state), "terminator": self.terminator}

    def chip_kwargs(self) -> dict[str, Any]:
        """Further keywords of :func:`network_chip` (the Σ column's terminators); {} for generic."""
        return {} if self.is_generic else {"terminator": self.terminator}

    def _common(self, zero_state: str) -> dict[str, Any]:
        bias = self.bias_length_um if zero_state == "bar" else self.bias_length_cross_um
        arm = self.convention.theta_arm if self.convention is not None else "top"
        return {
            **({"theta_arm": arm} if arm != "top" else {}),
            "coupler": self.coupler,
            "coupler_ports": self.coupler_ports,
            "heater": self.heater,
            "heater_ports": self.heater_ports,
            "straight": self.straight,
            "bend": self.bend,
            "cross_section": self.cross_section,
            "bias_length": bias,
        }

    def cell_models(self) -> dict[str, Any] | None:
        """Ideal SAX models (:mod:`gf_prune.sax_models`) keyed by this PDK's netlist names, on its own
        waveguide indices; None for generic (the default :data:`~gf_prune.sax_models.CELL_MODELS`).

        Lengths are the netlist's (straights: ``settings.length``, bends: ``info.length``, heater:
        ``settings.length``); the coupler and crossing count by their port-to-port length, measured on
        the cells. A straight, bend or heater on another cross-section is an error naming it."""
        if self.is_generic:
            return None
        from gf_prune import sax_models as sm

        wg = sm.Waveguide(neff=self.neff, ng=self.ng, wl0=self.wl_um)
        xs = self.cross_section
        base = sm.CELL_MODELS
        out = dict(base)

        def on_wg(role: str, cm: sm.CellModel, length: Any) -> None:
            name = self.names[role]
            if name is not None:
                out[_netlist_name(getattr(self, role))] = replace(cm, params=_OnWaveguide(length, wg, xs), xs_key=None)

        on_wg("straight", base["straight"], "settings")
        on_wg("bend", base["bend_euler"], "info")
        on_wg("heater", base["straight_heater_metal"], "settings")
        cp = gf.get_component(self.coupler)
        if self.convention is None:
            on_wg("coupler", base["mmi2x2"], _span(cp, self.coupler_ports[1], self.coupler_ports[2]))
        else:  # the PDK coupler's own phase and port frame, lossless (gf_prune.pdk_convention)
            from gf_prune.pdk_convention import coupler_model

            cv = self.convention
            model = coupler_model(cv.theta_arm, cv.coupler_phase_rad, self.coupler_ports)
            ports = tuple(sorted(self.coupler_ports))
            out[_netlist_name(self.coupler)] = sm.CellModel(model, lambda s, i: {}, xs_key=None, ports=ports)
        if self.crossing is not None and (self.convention is None or self.convention.crossing_phase_rad is None):
            xc = gf.get_component(self.crossing)
            on_wg("crossing", base["crossing"], _span(xc, "o1", "o3"))
        elif self.crossing is not None:  # the PDK crossing's own through phase, lossless
            from gf_prune.pdk_convention import crossing_model

            ports = _crossing_ports(gf.get_component(self.crossing))
            model = crossing_model(self.convention.crossing_phase_rad, ports)
            out[_netlist_name(self.crossing)] = sm.CellModel(
                model, lambda s, i: {}, xs_key=None, ports=tuple(sorted(ports))
            )
        out[_netlist_name(self.terminator)] = base["terminator"]
        return out

    def record(self) -> dict[str, Any]:
        """What ``layout.json`` keeps under ``pdk`` (the verify stage re-activates ``pdk`` from it)."""
        return {
            "pdk": self.pdk,
            "name": self.pdk_name,
            "cells": dict(self.names),
            "coupler_ports": list(self.coupler_ports),
            "heater_ports": list(self.heater_ports),
            "terminator": self.terminator_source,
            "heater_resistance_ohm": self.heater_resistance_ohm,
            "neff": self.neff,
            "ng": self.ng,
            "index_source": self.index_source,
            "wavelength_um": self.wl_um,
            "bias_length_um": self.bias_length_um,
            "bias_length_cross_um": self.bias_length_cross_um,
            "fan_in_delays": self.fan_in_delays,
            **({"convention": self.convention.record()} if self.convention is not None else {}),
        }


@dataclass(frozen=True)
class _OnWaveguide:
    """Model keywords of a PDK cell: its length (``"settings"``, ``"info"`` or fixed µm) on the PDK's guide."""

    length: Any
    wg: Any
    xs: str

    def __call__(self, settings: Any, info: Any) -> dict[str, float]:
        from gf_prune.sax_models import UnmodelledCellError

        x = settings.get("cross_section", self.xs)
        if isinstance(x, str) and x != self.xs:
            raise UnmodelledCellError(f"cross-section {x!r} is not the PDK's waveguide {self.xs!r}")
        if self.length in ("settings", "info"):
            src = settings if self.length == "settings" else info
            if "length" not in src:
                raise UnmodelledCellError(f"no 'length' in the cell's {self.length}; cannot model its phase")
            length = float(src["length"])
        else:
            length = float(self.length)
        w = self.wg
        return {"length": length, "neff": w.neff, "ng": w.ng, "wl0": w.wl0, "loss_dB_cm": w.loss_dB_cm}


def _span(comp: Any, a: str, b: str) -> float:
    """Port-to-port x distance (µm) of ``comp``."""
    return round(abs(comp.ports[b].center[0] - comp.ports[a].center[0]), 3)


def _netlist_name(spec: Any) -> str:
    """The name a cell built from ``spec`` has in gdsfactory's netlist (its function name)."""
    from gdsfactory.get_netlist import function_namer

    return function_namer(gf.get_component(spec))


# ----------------------------------------------------------------------------- resolution


def check_pdk_name(pdk: str) -> str:
    """``pdk`` if it names a built-in PDK or looks like a dotted module path, else a ValueError."""
    if not isinstance(pdk, str) or not pdk.strip():
        raise ValueError(f"must be 'generic', 'cspdk' or a module path exposing PDK, got {pdk!r}")
    if pdk in BUILTIN_PDKS:
        return pdk
    if not all(part.isidentifier() for part in pdk.split(".")):
        raise ValueError(f"must be 'generic', 'cspdk' or a dotted module path exposing PDK, got {pdk!r}")
    return pdk


def _load(pdk: str) -> tuple[Any, Any]:
    """(module, gf.Pdk) of ``pdk``."""
    module_name = BUILTIN_PDKS.get(pdk, pdk)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = " (run ./bootstrap.sh: it installs cspdk)" if pdk == "cspdk" else ""
        raise PdkError(f"layout.pdk {pdk!r}: cannot import {module_name!r}: {exc}{hint}") from None
    obj = getattr(module, "PDK", None)
    if not isinstance(obj, gf.Pdk):
        raise PdkError(f"layout.pdk {pdk!r}: module {module_name!r} exposes no PDK (a gdsfactory Pdk)")
    return module, obj


def _coupler_ports(comp: Any) -> tuple[str, str, str, str]:
    """(west-bottom, west-top, east-top, east-bottom) optical ports of a 2×2 coupler, from its geometry."""
    ports = [p for p in comp.ports if p.port_type == "optical"]
    west = sorted((p for p in ports if round(p.orientation) % 360 == 180), key=lambda p: p.center[1])
    east = sorted((p for p in ports if round(p.orientation) % 360 == 0), key=lambda p: p.center[1])
    if len(west) != 2 or len(east) != 2:
        raise PdkError(f"coupler {comp.name!r} is not a 2×2 with two west and two east optical ports")
    return (west[0].name, west[1].name, east[1].name, east[0].name)


def _crossing_ports(comp: Any) -> tuple[str, str, str, str]:
    """(west, north, east, south) optical ports of a crossing, from its geometry."""
    by = {round(p.orientation) % 360: p.name for p in comp.ports if p.port_type == "optical"}
    if set(by) != {0, 90, 180, 270}:
        raise PdkError(f"crossing {comp.name!r} has no west, north, east and south optical port")
    return (by[180], by[90], by[0], by[270])


def _heater_ports(comp: Any) -> tuple[str, str]:
    """The heater's two electrical ports: ``l_e2``/``r_e2`` (gdsfactory's) if present, else the outermost two."""
    names = [p.name for p in comp.ports if p.port_type == "electrical"]
    if {"l_e2", "r_e2"} <= set(names):
        return ("l_e2", "r_e2")
    elec = sorted((p for p in comp.ports if p.port_type == "electrical"), key=lambda p: p.center[0])
    if len(elec) < 2:
        raise PdkError(f"heater {comp.name!r} has fewer than two electrical ports")
    return (elec[0].name, elec[-1].name)


def _indices(pdk: str, module: Any, obj: Any, xs: str, wl: float) -> tuple[float, float, str]:
    """(n_eff, n_g, source) of the PDK's waveguide at ``wl`` µm."""
    if pdk == "generic":
        from gf_prune.sax_models import NG_STRIP

        return NEFF_DESIGN, NG_STRIP, "gf_prune.physics.NEFF_DESIGN / gf_prune.sax_models.NG_STRIP (design index)"
    if hasattr(module, "GF_PRUNE_NEFF"):
        ng = float(getattr(module, "GF_PRUNE_NG", 4.2))
        return float(module.GF_PRUNE_NEFF), ng, f"{module.__name__}.GF_PRUNE_NEFF"
    model = (obj.models or {}).get("straight")
    if model is None:
        raise PdkError(f"PDK {obj.name!r} has no SAX model 'straight' (nor GF_PRUNE_NEFF) for the waveguide's n_eff")
    neff = _model_neff(model, wl, xs)
    dwl = 1e-4
    ng = neff - wl * (_model_neff(model, wl + dwl, xs) - _model_neff(model, wl - dwl, xs)) / (2 * dwl)
    return round(neff, 6), round(ng, 6), f"{obj.name} SAX model 'straight' at λ = {wl} µm"


def _model_neff(model: Any, wl: float, xs: str, length: float = 0.1) -> float:
    """n_eff(λ) from a straight model's phase over a short length (unambiguous for n_eff < λ/length)."""
    import inspect

    import numpy as np

    kw = {"cross_section": xs} if "cross_section" in inspect.signature(model).parameters else {}
    s = model(wl=wl, length=length, **kw)
    t = complex(np.asarray(s["o1", "o2"]))
    return (math.atan2(t.imag, t.real) % (2 * math.pi)) * wl / (2 * math.pi * length)


def _resolve(obj: Any, names: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Role → the PDK's cell function (or cross-section name); the required roles it lacks."""
    found: dict[str, Any] = {}
    missing = []
    for role, name in names.items():
        table = obj.cross_sections if role in _CROSS_SECTION_ROLES else obj.cells
        if name in table:
            found[role] = name if role in _CROSS_SECTION_ROLES else table[name]
        elif role in _REQUIRED:
            missing.append(f"{name!r} ({role.replace('_', ' ')})")
        else:
            found[role] = None
    return found, missing


def _layer(obj: Any, name: str, default: tuple[int, int]) -> tuple[int, int]:
    layers = obj.layers
    if layers is None or not hasattr(layers, name):
        return default
    v = getattr(layers, name)
    return (int(v.layer), int(v.datatype)) if hasattr(v, "layer") else tuple(int(x) for x in v)[:2]  # type: ignore[return-value]


def _fan_in_delays_fit(cells: PdkCells, pitch: float, heater_margin: float) -> bool | str:
    """Which π delays a fan-in can take (:func:`gf_prune.compaction.place_mesh`'s ``in_delays``): True (a
    larger bend), ``"unheated"`` (a bump in a plain phase section) or False (passthroughs only)."""
    from gf_prune.components.mzi import _DelayBump, _fan_in_delay, slot_geometry

    g = slot_geometry(
        pitch=pitch,
        heater_margin=heater_margin,
        bias_length=cells.bias_length_um,
        coupler=cells.coupler,
        bend=cells.bend,
        cross_section=cells.cross_section,
    )
    delay = _fan_in_delay(cells.bend, cells.cross_section, g)
    return "unheated" if isinstance(delay, _DelayBump) else delay is not None


def _mzi_defaults() -> dict[str, Any]:
    import inspect

    from gf_prune.components.mzi import mzi_unit

    params = inspect.signature(mzi_unit).parameters
    return {k: params[k].default for k in ("coupler_ports", "heater_ports")}


_GENERIC_PORTS = _mzi_defaults()
"""Port orders of the generic cells: :func:`mzi_unit`'s defaults (gdsfactory's ``mmi2x2`` and
``straight_heater_metal``; checked against their geometry in tests/test_pdk.py). The generic heater's
``info.resistance`` is 0 (no sheet resistance given): ``heater_resistance_ohm`` is None."""


@cache
def _cells(pdk: str, wl_um: float, pitch: float, heater_margin: float) -> PdkCells:
    module, obj = _load(pdk)
    _activate(obj)
    names = dict(CELL_ROLES)
    names.update(getattr(module, "GF_PRUNE_CELLS", {}) or {})
    found, missing = _resolve(obj, names)
    if missing:
        raise PdkError(f"PDK {obj.name!r} (layout.pdk = {pdk!r}) has no cell {', '.join(missing)} that the chip needs")
    term_source = f"the PDK's {names['terminator']!r}"
    if found["terminator"] is None:
        xs = found["cross_section"]
        found["terminator"] = partial(gf.components.terminator, cross_section_input=xs, doping_layers=())
        term_source = "gdsfactory's terminator (taper to a 0.2 µm tip, no doping layer) on the PDK's waveguide"
    neff, ng, source = _indices(pdk, module, obj, found["cross_section"], wl_um)
    generic = pdk == "generic"
    spec = {k: (names[k] if generic and found[k] is not None else found[k]) for k in found}
    if generic:
        spec["terminator"] = names["terminator"]
    if generic:  # the cells' own defaults; nothing is built here, so the chip's GDS is today's, byte for byte
        coupler_ports, heater_ports, res = _GENERIC_PORTS["coupler_ports"], _GENERIC_PORTS["heater_ports"], 0.0
    else:
        heater = gf.get_component(spec["heater"], length=100.0)
        coupler_ports, heater_ports = _coupler_ports(gf.get_component(spec["coupler"])), _heater_ports(heater)
        res = float(heater.info.get("resistance", 0) or 0)
    cells = PdkCells(
        pdk=pdk,
        pdk_name=obj.name,
        coupler=spec["coupler"],
        coupler_ports=coupler_ports,
        heater=spec["heater"],
        heater_ports=heater_ports,
        straight=spec["straight"],
        bend=spec["bend"],
        cross_section=spec["cross_section"],
        crossing=spec["crossing"],
        terminator=spec["terminator"],
        terminator_source=term_source,
        grating_coupler=spec["grating_coupler"],
        pad=spec["pad"],
        via_stack=spec["via_stack"],
        metal_routing=spec["metal_routing"],
        heater_resistance_ohm=res if res > 0 else None,
        neff=neff,
        ng=ng,
        index_source=source,
        wl_um=wl_um,
        bias_length_um=bias_length_um(wl_um, neff) if generic else bias_length_um(wl_um, neff, half_waves=None),
        bias_length_cross_um=bias_length_um(wl_um, neff, half_waves=1 if generic else None, quarter_wave=True),
        wg_layer=_layer(obj, "WG", (1, 0)),
        heater_layer=_layer(obj, "HEATER", (47, 0)),
        names={k: (names[k] if found.get(k) is not None else None) for k in names},
    )
    if generic:
        return cells
    cells = replace(cells, convention=_convention(obj, cells, pitch, heater_margin))
    return replace(cells, fan_in_delays=_fan_in_delays_fit(cells, pitch, heater_margin))


def _convention(obj: Any, cells: PdkCells, pitch: float, heater_margin: float) -> PdkConvention | None:
    """The convention on the PDK's own models (:func:`gf_prune.pdk_convention.pdk_convention`); None without
    a coupler model. A coupler model that is no 50:50 coupler is a :class:`PdkError`."""
    from gf_prune.components.mzi import slot_geometry

    g = slot_geometry(
        pitch=pitch, heater_margin=heater_margin, bias_length=cells.bias_length_um, coupler=cells.coupler,
        bend=cells.bend, cross_section=cells.cross_section,
    )  # fmt: skip
    lc = _span(gf.get_component(cells.coupler), cells.coupler_ports[1], cells.coupler_ports[2])
    xw = xe = None
    lx = 0.0
    if cells.crossing is not None:
        xc = gf.get_component(cells.crossing)
        xw, _, xe, _ = _crossing_ports(xc)
        lx = _span(xc, xw, xe)
    try:
        return pdk_convention(
            dict(obj.models or {}), cells.names, cells.coupler_ports, lc, cells.neff, g.v_fan, cells.wl_um,
            g.heater_length, obj.name, (xw, xe) if xw else None, lx, g.coupler_sep,
        )  # fmt: skip
    except ValueError as exc:
        raise PdkError(f"PDK {obj.name!r}: {exc}") from None


def pdk_cells(
    pdk: str = "generic", wl_um: float = WL0_UM, pitch: float = 100.0, heater_margin: float = 16.0
) -> PdkCells:
    """Activate ``pdk`` (``generic``, ``cspdk`` or a module path exposing ``PDK``) and return its cells.

    Resolved once per process and argument set; activation happens on every call, and a switch from
    another PDK clears gdsfactory's cell cache (:func:`_activate`): build one PDK's chips, then the other's.

    Raises:
        PdkError: unknown or unimportable PDK, no ``PDK`` in the module, or a required cell missing
            (one message naming every missing cell and the PDK).
    """
    try:
        check_pdk_name(pdk)
    except ValueError as exc:
        raise PdkError(f"layout.pdk {exc}") from None
    _activate(_load(pdk)[1])
    return _cells(pdk, float(wl_um), float(pitch), float(heater_margin))


def _activate(obj: Any) -> None:
    """Activate ``obj``; switching from another PDK first clears gdsfactory's cell cache.

    gdsfactory caches cells by their arguments, and specs such as ``"strip"`` or ``"mmi2x2"`` mean
    different things in two PDKs: a cell cached under one would be reused under the other. So a
    switch drops every cell built so far (Components held from before it are no longer valid).
    """
    try:
        current = gf.get_active_pdk().name
    except ValueError:
        current = None
    if current is not None and current != obj.name:
        clear_cells()
    obj.activate()


def clear_cells() -> None:
    """Drop every cell built so far: gdsfactory's ``clear_cache`` prunes the cells; the cell functions' own
    caches (kfactory keeps one per function) and gf_prune's delay bends are emptied too, or they would hand
    out destroyed cells."""
    import kfactory as kf

    from gf_prune.components.mzi import _DELAY_BENDS

    gf.clear_cache()
    _DELAY_BENDS.clear()
    for factories in (kf.kcl.factories, kf.kcl.virtual_factories):
        for factory in factories.values():
            factory.cache.clear()
