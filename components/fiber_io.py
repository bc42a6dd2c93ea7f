"""Optical I/O cells: a column of grating couplers on a fibre-array pitch, with an alignment loopback.

The array faces east (+x): every grating's waveguide port points east at x = 0, grating ``i`` at
y = −i·pitch. With ``loopback``, two more gratings sit one pitch beyond each end (the array's outermost
channels, the usual alignment pair) and are joined by a waveguide that runs behind (west of) the
column, so it crosses no signal route::

        ┌──────────────────────┐
        │  ┌─(gc)──────────────┘  loopback_gc0   (y = +pitch)   fibre port loopback1
        │  │ (gc)── o0                    gc0    (y = 0)        fibre port f0
        │  │ (gc)── o1                    gc1    (y = −pitch)   fibre port f1
        │  │  ⋮
        │  └─(gc)──────────────┐  loopback_gc1   (y = −n·pitch) fibre port loopback2
        └──────────────────────┘
             x = 0

Ports: ``o{i}`` (optical, facing east) and ``f{i}`` (the grating's fibre port, where the fibre of
channel ``i`` sits), ``loopback1`` / ``loopback2`` (fibre ports of the loopback pair). Instance names:
``gc{i}``, ``loopback_gc0``, ``loopback_gc1``. The grating comes from the active PDK by spec.
"""

from __future__ import annotations

__all__ = ["FIBER_PITCH_UM", "fiber_array", "grating_ports"]

import gdsfactory as gf
from gdsfactory.component import Component
from gdsfactory.typings import ComponentSpec, CrossSectionSpec

from gf_prune.naming import name_unnamed_instances

FIBER_PITCH_UM = 127.0
"""Standard fibre-array pitch (µm)."""


def grating_ports(gc: Component) -> tuple[str, str]:
    """(waveguide port, fibre port) names of a grating coupler: its optical port and its other (vertical) port."""
    optical = [p.name for p in gc.ports if p.port_type == "optical"]
    fibre = [p.name for p in gc.ports if p.port_type != "optical" and p.port_type != "electrical"]
    if len(optical) != 1 or len(fibre) != 1:
        raise ValueError(
            f"grating coupler {gc.name!r} needs one optical and one fibre port, has "
            f"{[(p.name, p.port_type) for p in gc.ports]}"
        )
    return optical[0], fibre[0]


@gf.cell
def fiber_array(
    n: int = 4,
    pitch: float = FIBER_PITCH_UM,
    grating: ComponentSpec = "grating_coupler_elliptical",
    loopback: bool = True,
    cross_section: CrossSectionSpec = "strip",
    bend: ComponentSpec = "bend_euler",
    clearance: float = 10.0,
) -> Component:
    """Column of ``n`` gratings facing east on ``pitch``, plus (``loopback``) an outermost pair joined by a waveguide.

    Args:
        n: signal channels.
        pitch: fibre-array pitch (µm).
        grating: grating coupler spec (one optical and one fibre port, e.g. ``vertical_te``).
        loopback: add the alignment pair at positions −1 and n.
        cross_section: waveguide of the loopback.
        bend: bend spec of the loopback.
        clearance: gap between the loopback waveguide and the gratings (µm).
    """
    if n < 1:
        raise ValueError(f"a fibre array needs at least one channel, got n={n}")
    if pitch <= 0:
        raise ValueError(f"pitch must be positive, got {pitch}")
    gc = gf.get_component(grating)
    wg, fibre = grating_ports(gc)
    c = Component()
    rows = [(f"gc{i}", -i * pitch, f"o{i}", f"f{i}") for i in range(n)]
    if loopback:
        rows += [("loopback_gc0", pitch, None, "loopback1"), ("loopback_gc1", -n * pitch, None, "loopback2")]
    refs = {}
    for name, y, port, fport in rows:
        ref = c.add_ref(gc, name=name)
        # turn the grating so that its waveguide port faces east, and put that port at (0, y)
        ref.drotate(-float(ref.ports[wg].orientation))
        ref.dmove(tuple(ref.ports[wg].center), (0.0, y))
        refs[name] = ref
        if port is not None:
            c.add_port(port, port=ref.ports[wg])
        c.add_port(fport, port=ref.ports[fibre])
    c.info["n"] = n
    c.info["pitch"] = pitch
    if loopback:
        xs = gf.get_cross_section(cross_section)
        radius = float(xs.radius or 10.0)
        a, b = refs["loopback_gc0"], refs["loopback_gc1"]
        x_back = min(a.dxmin, b.dxmin) - clearance - radius
        x_front = 2 * radius + clearance
        y_top = max(r.dymax for r in refs.values()) + clearance + radius
        y_bot = min(r.dymin for r in refs.values()) - clearance - radius
        gf.routing.route_single(
            c,
            a.ports[wg],
            b.ports[wg],
            cross_section=cross_section,
            bend=bend,
            waypoints=[
                (x_front, pitch),
                (x_front, y_top),
                (x_back, y_top),
                (x_back, y_bot),
                (x_front, y_bot),
                (x_front, -n * pitch),
            ],
        )
        name_unnamed_instances(c, "loopback")
    return c
