"""Layers and minimum width/space of the region checks, read from the active gdsfactory PDK.

Neither PDK that gf_prune supports ships a DRC deck: gdsfactory's generic PDK carries a
``GenericConstants`` table (``gf.get_active_pdk().constants``) and cross-sections; cspdk
(CORNERSTONE si220, ``cspdk/si220/cband/tech.py``) a ``TECH`` table, cross-sections and routing
strategies, and its klayout technology (``si220/klayout/tech.lyt``) only a connectivity
(HEATER–PAD), no rules. So every rule below is the smallest figure the PDK itself states or
draws for that layer, and :func:`pdk_rules` records where it came from (``Rule.source``):

================  ======================  ============================  ==================================
rule              layer from              generic PDK                   cspdk si220 (C band)
================  ======================  ============================  ==================================
``wg_width``      xs ``strip``            0.2: gplugins' DRC deck for   0.45: TECH.width (its ``strip``;
                                          the generic layer map         no narrower waveguide drawn)
``wg_space``      xs ``strip``            0.2: gplugins' DRC deck for   0.27: ``TECH.gap_strip`` (the gap
                                          the generic layer map         of its strip couplers)
``heater_width``  xs ``heater_metal``     2.5: ``heater_metal`` width   2.5: TECH.width_heater
``heater_space``  xs ``heater_metal``     10: constants.metal_spacing   10: gf_prune's thermal margin
                                                                        (cspdk states none)
``metal_width``   xs ``metal_routing``    1.0: gplugins' DRC deck, M3   10: TECH.width_metal
``metal_space``   xs ``metal_routing``    10: constants.metal_spacing   5: ``route_astar_metal`` pitch 15
                                                                        − ``metal_routing`` width 10
``pad_size``      the PDK's ``pad`` cell  80: constants.pad_size        90: ``pad`` cell's default size
``pad_space``     the PDK's ``pad`` cell  20: constants.pad_pitch −     5: = ``metal_space`` (the pads are
                                          pad_size                      the routing metal, PAD)
================  ======================  ============================  ==================================

A user PDK gets the same lookups: its cross-sections' layers and widths, its ``constants``
(``metal_spacing``, ``pad_size``, ``pad_pitch``) and, where its package has a ``tech.TECH``
(``gap_strip``), that; what it lacks falls back to the generic figure, and says so in ``source``.
Widths and spaces are checked with a 2 nm allowance (gdsfactory snaps every point to the 1 nm
grid, so a drawn 0.5 µm bend measures 0.498 µm in places). gdsfactory's own heater narrows its
waveguide to 0.468 µm in a transition, so for the generic PDK the waveguide width is the deck's
0.2 µm, not the 0.5 µm of ``strip``. CORNERSTONE publishes a KLayout deck per platform
(``drc_rules.lydrc`` in its cornerstone-pdk repository); cspdk 1.4.2 does not ship it.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["DesignRules", "Rule", "pdk_rules"]

GPLUGINS_WG_RULE_UM = 0.2
"""``check_width``/``check_space`` of layer WG in gplugins' DRC deck for the generic layer map
(``gplugins/klayout/drc/write_drc.py``): the generic PDK's only stated waveguide rule."""
GPLUGINS_M3_WIDTH_UM = 1.0
"""``check_width(layer="M3", value=1.0)`` in the same deck: the generic PDK's only stated minimum width of
its routing metal (``metal_routing`` is drawn on M3 at 10 µm, a drawing default, not a minimum)."""
HEATER_SPACE_DEFAULT_UM = 10.0
"""gf_prune's heater-to-heater margin (thermal crosstalk) where a PDK states no metal spacing."""
SNAP_UM = 0.002
"""Allowance on every width/space rule: one step of gdsfactory's 1 nm grid on each edge."""


@dataclass(frozen=True)
class Rule:
    """One minimum (µm) on one GDS layer, with where the figure came from."""

    name: str
    layer: tuple[int, int]
    value: float
    source: str


@dataclass(frozen=True)
class DesignRules:
    """The rules of one PDK: see the module table. ``pad_cell`` is the PDK's pad cell name."""

    pdk: str
    rules: tuple[Rule, ...]
    pad_cell: str = "pad"

    def __getitem__(self, name: str) -> Rule:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(f"no rule {name!r} (have {[r.name for r in self.rules]})")

    def table(self) -> list[dict[str, Any]]:
        """Rows for ``layout.json`` / the report: name, layer, value (µm), source."""
        return [{**asdict(r), "layer": list(r.layer)} for r in self.rules]


def _layer(pdk: Any, spec: Any) -> tuple[int, int]:
    import gdsfactory as gf

    idx = gf.get_layer(spec)
    info = gf.kcl.layout.get_info(idx)
    return int(info.layer), int(info.datatype)


def _xs(pdk: Any, name: str) -> tuple[tuple[int, int], float]:
    try:
        xs = pdk.get_cross_section(name)
    except (ValueError, KeyError) as e:
        raise ValueError(f"PDK {pdk.name!r} has no cross-section {name!r}, which the rule checks need") from e
    return _layer(pdk, xs.layer), float(xs.width)


def _tech(pdk: Any) -> Any:
    """The PDK package's ``tech.TECH`` table (cspdk has one), else None."""
    try:
        return importlib.import_module(f"{pdk.name}.tech").TECH
    except (ImportError, AttributeError, ValueError):
        return None


def _constant(pdk: Any, name: str) -> Any:
    constants = getattr(pdk, "constants", None)
    return getattr(constants, name, None) if constants is not None else None


def pdk_rules(pdk: Any = None) -> DesignRules:
    """The rule table of ``pdk`` (default: ``gf.get_active_pdk()``); see the module docstring."""
    import gdsfactory as gf

    pdk = pdk or gf.get_active_pdk()
    name = pdk.name
    tech = _tech(pdk)
    wg_layer, wg_w = _xs(pdk, "strip")
    ht_layer, ht_w = _xs(pdk, "heater_metal")
    mt_layer, mt_w = _xs(pdk, "metal_routing")
    deck = "gplugins DRC deck for the generic layer map (klayout/drc/write_drc.py)"
    if name == "generic" or getattr(tech, "width", None) is None:
        rules = [Rule("wg_width", wg_layer, GPLUGINS_WG_RULE_UM, f"{deck}: WG width")]
    else:  # cspdk's TECH.width is the width of its 'strip'
        rules = [Rule("wg_width", wg_layer, min(wg_w, float(tech.width)), f"{name}: tech.TECH.width ('strip')")]
    gap = getattr(tech, "gap_strip", None)
    if gap is not None:
        rules.append(Rule("wg_space", wg_layer, float(gap), f"{name}: tech.TECH.gap_strip"))
    else:
        rules.append(Rule("wg_space", wg_layer, GPLUGINS_WG_RULE_UM, f"{deck}: WG space"))
    rules.append(Rule("heater_width", ht_layer, ht_w, f"{name}: width of cross-section 'heater_metal'"))
    spacing = _constant(pdk, "metal_spacing")
    if spacing is not None:
        rules.append(Rule("heater_space", ht_layer, float(spacing), f"{name}: constants.metal_spacing"))
    else:
        rules.append(
            Rule("heater_space", ht_layer, HEATER_SPACE_DEFAULT_UM, "gf_prune thermal margin (PDK states none)")
        )
    if name == "generic":
        rules.append(Rule("metal_width", mt_layer, GPLUGINS_M3_WIDTH_UM, f"{deck}: M3 width"))
    else:
        rules.append(Rule("metal_width", mt_layer, mt_w, f"{name}: width of cross-section 'metal_routing'"))
    router = (getattr(pdk, "routing_strategies", None) or {}).get("route_astar_metal")
    router_pitch = getattr(router, "keywords", {}).get("spacing") if router is not None else None
    if spacing is not None:
        metal_space, src = float(spacing), f"{name}: constants.metal_spacing"
    elif router_pitch is not None and router_pitch > mt_w:
        metal_space = float(router_pitch) - mt_w
        src = f"{name}: routing_strategies['route_astar_metal'] pitch {router_pitch} − 'metal_routing' width {mt_w}"
    else:
        metal_space, src = HEATER_SPACE_DEFAULT_UM, "gf_prune default (PDK states no metal spacing)"
    rules.append(Rule("metal_space", mt_layer, metal_space, src))
    try:
        pad = gf.get_component("pad")
    except ValueError:  # a PDK without pads: no pad rules (the chip has none to check)
        return DesignRules(name, tuple(rules), pad_cell="")
    drawn = [li for li in pad.kcl.layer_indexes() if not pad.bbox(li).empty()]
    pad_li = min(drawn, key=lambda li: pad.dbbox(li).area())  # the opening, where the cell draws one
    pad_layer = _layer(pdk, pad_li)
    size = _constant(pdk, "pad_size")
    if size is not None:
        pad_min, psrc = float(min(size)), f"{name}: constants.pad_size"
    else:
        pb = pad.dbbox(pad_li)
        pad_min, psrc = float(min(pb.width(), pb.height())), f"{name}: default size of cell 'pad'"
    rules.append(Rule("pad_size", pad_layer, pad_min, psrc))
    pitch = _constant(pdk, "pad_pitch")
    if pitch is not None and size is not None and pitch > max(size):
        rules.append(
            Rule("pad_space", pad_layer, float(pitch) - float(max(size)), f"{name}: constants.pad_pitch − pad_size")
        )
    else:
        rules.append(Rule("pad_space", pad_layer, metal_space, f"= metal_space ({src})"))
    return DesignRules(name, tuple(rules), pad_cell=str(pad.function_name or "pad"))
