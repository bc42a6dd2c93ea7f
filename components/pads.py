"""Probe pads for the heaters' metal routing, from the active PDK's own cells.

A probe pad is the PDK's ``pad`` cell; where the pad's metal is not the routing metal
(``metal_routing``'s layer), a ``via_stack`` of the PDK joins them. Both gdsfactory's generic
PDK and cspdk have these names (``pad``: 100 µm on M3 / 90 µm on PAD; ``metal_routing``: M3 / PAD),
so on both the pad sits on the routing metal directly and no via is drawn.

::

        ┌───────────┐
        │           │   pad (PDK cell), port "e1" at its centre, facing south
        │     +     │   TEXT label = the pad's name (checked by gf_prune.wiring_check)
        │           │
        └───────────┘
"""

from __future__ import annotations

import gdsfactory as gf
from gdsfactory.typings import ComponentSpec, CrossSectionSpec

__all__ = ["probe_pad", "routing_layer"]


def routing_layer(cross_section: CrossSectionSpec = "metal_routing") -> tuple[int, int]:
    """(layer, datatype) of the routing metal of ``cross_section`` in the active PDK."""
    xs = gf.get_cross_section(cross_section)
    info = gf.get_layer_info(xs.layer)
    return int(info.layer), int(info.datatype)


@gf.cell
def probe_pad(
    pad: ComponentSpec = "pad",
    via_stack: ComponentSpec = "via_stack",
    cross_section: CrossSectionSpec = "metal_routing",
) -> gf.Component:
    """The PDK's ``pad``, centred on (0, 0), with one electrical port ``e1`` on the routing metal.

    Args:
        pad: the PDK's bond/probe pad cell.
        via_stack: joins the pad metal to the routing metal when their layers differ
            (drawn at the pad's size; unused when they are the same layer).
        cross_section: the routing metal's cross-section (its layer and width).
    """
    c = gf.Component()
    ref = c << gf.get_component(pad)
    ref.dcenter = (0, 0)
    xs = gf.get_cross_section(cross_section)
    size = (float(ref.dxsize), float(ref.dysize))
    pad_layers = {tuple(layer) for layer in gf.get_component(pad).layers}
    if routing_layer(cross_section) not in pad_layers:
        vs = c << gf.get_component(via_stack, size=size)
        vs.dcenter = (0, 0)
    c.add_port("e1", center=(0, -size[1] / 2), width=xs.width, orientation=270, layer=xs.layer, port_type="electrical")
    c.info["size_um"] = size
    return c
