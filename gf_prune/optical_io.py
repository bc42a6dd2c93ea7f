"""Optical I/O of the chip: every network port to a grating coupler on a fibre-array pitch, plus a loopback.

:func:`add_fiber_io` adds to a top cell that holds the network chip as a reference (the instance named
:data:`gf_prune.naming.CORE_INSTANCE`): one :func:`gf_prune.components.fiber_io.fiber_array` WEST of
the core for the inputs ``l{ℓ}_in{r}`` (with the alignment loopback pair at its outermost channels) and
one EAST for the outputs ``l{ℓ}_out{r}``, both ``margin`` µm clear of the core, each port routed to its
grating with ``gf.routing.route_bundle`` (ports kept in y order, so no route crosses another). The
gratings come from the active PDK by spec (``grating_coupler_elliptical``), so do the waveguides.

:func:`chip_with_io` is the minimal top cell (core at the origin + I/O); :func:`write_port_table`
writes ``ports.csv`` (:data:`PORT_COLUMNS`): where each fibre sits (the grating's fibre port) and which
network port it serves.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import gdsfactory as gf
from gdsfactory.component import Component
from gdsfactory.typings import ComponentSpec, CrossSectionSpec

from gf_prune.naming import CORE_INSTANCE, fiber_array_instance, name_unnamed_instances, parse_mode_port

__all__ = [
    "LOSS_COLUMNS",
    "PORT_COLUMNS",
    "add_fiber_io",
    "add_io",
    "chip_with_io",
    "write_loss_table",
    "write_port_table",
]

PORT_COLUMNS = ("name", "layer", "side", "mode", "x_um", "y_um", "kind", "array", "channel")
"""``ports.csv``: network port served (or ``loopback1/2``), its layer, mesh side (in|out), mode (row),
fibre position (µm, the grating's fibre port on the top cell), ``signal|bias|loopback``, fibre array
(west|east) and channel in that array (from the array cell's top end)."""


EDGE_TOL_UM = 5.0
"""A port closer than this to the outermost port of its side is on the core's edge (routed from where it is)."""


def _fan(n: int, radius: float, separation: float) -> float:
    """x room a bundle of ``n`` routes needs to fan from the mode pitch to the fibre pitch (µm)."""
    return 6 * radius + n * separation + 20.0


def _to_edge(
    top: Component, ports: list[Any], x_edge: float, straight: ComponentSpec, xs: CrossSectionSpec
) -> list[Any]:
    """Each port carried straight out to ``x_edge``, the core's bounding box (a layer narrower than the chip,
    or a padded mode's terminator, leaves the port inside the core's x span: a bundle turning there would
    cut through the core). Ports within :data:`EDGE_TOL_UM` of it are routed from where they are."""
    out = []
    for p in ports:
        length = round(abs(x_edge - float(p.center[0])), 3)
        if length < EDGE_TOL_UM:  # at the edge (a cladding or a bend may stick out a little)
            out.append(p)
            continue
        s = top.add_ref(gf.get_component(straight, length=length, cross_section=xs), name=f"to_edge_{p.name}")
        s.connect("o1", p)
        out.append(s.ports["o2"])
    return out


def add_fiber_io(
    top: Component,
    core: Any,
    pitch: float = 127.0,
    grating: ComponentSpec = "grating_coupler_elliptical",
    cross_section: CrossSectionSpec = "strip",
    bend: ComponentSpec = "bend_euler",
    loopback: bool = True,
    margin: float | None = None,
    separation: float = 5.0,
    bias: bool | None = None,
    straight: ComponentSpec = "straight",
) -> list[dict[str, Any]]:
    """Grating couplers WEST (inputs) and EAST (outputs) of ``core``, routed; returns the port-table rows.

    Args:
        top: the cell to add to (holds ``core``).
        core: reference of the network chip in ``top`` (optical ports ``l{ℓ}_in{r}``/``l{ℓ}_out{r}``).
        pitch: fibre-array pitch (µm).
        grating: grating coupler spec of the active PDK.
        cross_section, bend, straight: waveguide of the routes.
        loopback: alignment loopback at the west array's outermost channels.
        margin: gap between the core's bounding box and the arrays' waveguide ports (µm);
            default: room for the fan-out of the larger bundle.
        separation: spacing of the routes in a bundle (µm).
        bias: the last input of every layer is the bias mode (default: the core cell's ``bias`` setting).
    """
    from gf_prune.components.fiber_io import fiber_array

    optical = [p for p in core.ports if p.port_type == "optical"]
    parsed = {p.name: parse_mode_port(p.name) for p in optical}
    if not optical or any(mp is None or mp.layer is None for mp in parsed.values()):
        bad = [n for n, mp in parsed.items() if mp is None or mp.layer is None] or ["(no optical port)"]
        raise ValueError(f"core ports must be named l{{layer}}_in{{r}} / l{{layer}}_out{{r}}: {bad[:5]}")
    for p in optical:
        want = 180.0 if parsed[p.name].direction == "in" else 0.0
        if abs((float(p.orientation) - want + 180.0) % 360.0 - 180.0) > 1e-6:
            side = "west" if want else "east"
            raise ValueError(
                f"core port {p.name} faces {p.orientation:g}°: gratings go {side} of the core only "
                "(inputs must face west, outputs east — a chip stacked in y)"
            )
    bb = core.dbbox()
    west_x = [float(p.center[0]) for p in optical if parsed[p.name].direction == "in"]
    east_x = [float(p.center[0]) for p in optical if parsed[p.name].direction == "out"]
    x_min = min(float(p.center[0]) for p in optical)
    if any(x - x_min > EDGE_TOL_UM for x in west_x) or (west_x and east_x and max(west_x) >= min(east_x)):
        raise ValueError(
            "gratings go west and east of the core only: every input must sit on the core's west edge and "
            f"every output east of all inputs (inputs at x = {sorted(set(west_x))[:4]}; "
            "a chip stacked in y, not side by side)"
        )
    if bias is None:
        bias = bool(getattr(core.cell, "settings", {}).get("bias", False)) if hasattr(core, "cell") else False
    n_in = {}
    for mp in parsed.values():
        if mp.direction == "in":
            n_in[mp.layer] = max(n_in.get(mp.layer, 0), mp.row + 1)
    xs = gf.get_cross_section(cross_section)
    radius = float(xs.radius or 10.0)
    sides = {
        "west": sorted((p for p in optical if parsed[p.name].direction == "in"), key=lambda p: -p.center[1]),
        "east": sorted((p for p in optical if parsed[p.name].direction == "out"), key=lambda p: -p.center[1]),
    }
    if margin is None:
        margin = _fan(max(len(v) for v in sides.values()), radius, separation)
    rows: list[dict[str, Any]] = []
    for side, ports in sides.items():
        if not ports:
            continue
        n = len(ports)
        ys = [float(p.center[1]) for p in ports]
        y_top = round((max(ys) + min(ys)) / 2 + (n - 1) * pitch / 2, 3)
        cell = fiber_array(
            n=n,
            pitch=pitch,
            grating=grating,
            loopback=loopback and side == "west",
            cross_section=cross_section,
            bend=bend,
        )
        ref = top.add_ref(cell, name=fiber_array_instance(side))
        if side == "west":
            ref.dmove((0.0, 0.0), (round(bb.left - margin, 3), y_top))
        else:  # turned by 180°: channel 0 at the bottom, waveguide ports facing west
            ref.drotate(180)
            ref.dmove(tuple(ref.ports["o0"].center), (round(bb.right + margin, 3), round(y_top - (n - 1) * pitch, 3)))
        array_ports = sorted((ref.ports[f"o{i}"] for i in range(n)), key=lambda p: -p.center[1])
        gf.routing.route_bundle(
            top,
            _to_edge(top, ports, bb.left if side == "west" else bb.right, straight, cross_section),
            array_ports,
            cross_section=cross_section,
            bend=bend,
            separation=separation,
            start_straight_length=radius,  # no bend right at a port: the joined pieces stay apart
            end_straight_length=radius,
            sort_ports=False,
            on_collision=None,
        )
        name_unnamed_instances(top, f"route_{side}")
        for p, ap in zip(ports, array_ports, strict=True):
            mp = parsed[p.name]
            i = int(str(ap.name)[1:])
            fx, fy = ref.ports[f"f{i}"].center
            top.add_port(f"fiber_{p.name}", port=ref.ports[f"f{i}"])  # the chip's optical I/O
            kind = "bias" if bias and mp.direction == "in" and mp.row == n_in[mp.layer] - 1 else "signal"
            rows.append(
                {
                    "name": p.name,
                    "layer": mp.layer,
                    "side": mp.direction,
                    "mode": mp.row,
                    "x_um": round(float(fx), 3),
                    "y_um": round(float(fy), 3),
                    "kind": kind,
                    "array": side,
                    "channel": i,
                }
            )
        if loopback and side == "west":
            for pname, ch in (("loopback1", -1), ("loopback2", n)):
                fx, fy = ref.ports[pname].center
                rows.append(
                    {
                        "name": pname,
                        "layer": "",
                        "side": "",
                        "mode": "",
                        "x_um": round(float(fx), 3),
                        "y_um": round(float(fy), 3),
                        "kind": "loopback",
                        "array": side,
                        "channel": ch,
                    }
                )
                top.add_port(pname, port=ref.ports[pname])
    return rows


@gf.cell
def chip_io(
    core: ComponentSpec,
    pitch: float = 127.0,
    grating: ComponentSpec = "grating_coupler_elliptical",
    cross_section: CrossSectionSpec = "strip",
    bend: ComponentSpec = "bend_euler",
    loopback: bool = True,
    margin: float | None = None,
    separation: float = 5.0,
) -> Component:
    """Top cell: ``core`` at the origin as instance ``core`` plus :func:`add_fiber_io` (same arguments).

    The core's electrical (heater) ports are re-exported under their names, so the chip file still has
    every live heater as a port; ``info["ports"]`` holds the port-table rows.
    """
    c = Component()
    ref = c.add_ref(gf.get_component(core), name=CORE_INSTANCE)
    rows = add_fiber_io(
        c, ref, pitch, grating, cross_section, bend, loopback=loopback, margin=margin, separation=separation
    )
    for p in ref.ports:
        if p.port_type == "electrical":
            c.ports.add_port(port=p, name=p.name, keep_mirror=True)
    c.info["ports"] = rows
    return c


def chip_with_io(core_cell: Component, **io: Any) -> tuple[Component, list[dict[str, Any]]]:
    """(:func:`chip_io` of ``core_cell``, its port-table rows)."""
    top = chip_io(core=core_cell, **io)
    return top, [dict(r) for r in top.info["ports"]]


def write_port_table(rows: list[dict[str, Any]], path: str | Path) -> None:
    """``ports.csv`` (:data:`PORT_COLUMNS`), written atomically."""
    from gf_prune.io import atomic_output

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp, tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(PORT_COLUMNS))
        w.writeheader()
        for row in rows:
            w.writerow({k: row[k] for k in PORT_COLUMNS})


LOSS_COLUMNS = (
    "input",
    "output",
    "kind",
    "min_dB",
    "max_dB",
    "min_mmis",
    "max_mmis",
    "min_length_um",
    "max_length_um",
    "max_bends",
    "max_crossings",
    "max_heaters",
    "gratings",
)
"""``loss_budget.csv``: per (input, output) fibre pair the least and most lossy path (:mod:`gf_prune.loss_budget`)."""


def write_loss_table(budget: dict[str, Any], path: str | Path) -> None:
    """``loss_budget.csv`` (:data:`LOSS_COLUMNS`) from :func:`gf_prune.loss_budget.loss_budget`, written atomically."""
    from gf_prune.io import atomic_output

    path = Path(path)
    with atomic_output(path) as tmp, tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(LOSS_COLUMNS))
        w.writeheader()
        for d in budget["pairs"]:
            lo, hi = d["min_path"], d["max_path"]
            w.writerow(
                {
                    "input": d["input"],
                    "output": d["output"],
                    "kind": d["kind"],
                    "min_dB": f"{d['min_dB']:.4f}",
                    "max_dB": f"{d['max_dB']:.4f}",
                    "min_mmis": lo["mmis"],
                    "max_mmis": hi["mmis"],
                    "min_length_um": f"{lo['length_um']:.3f}",
                    "max_length_um": f"{hi['length_um']:.3f}",
                    "max_bends": hi["bends"],
                    "max_crossings": hi["crossings"],
                    "max_heaters": hi["heaters"],
                    "gratings": hi["gratings"],
                }
            )


def _budget_summary(budget: dict[str, Any]) -> dict[str, Any]:
    """What ``layout.json`` keeps of a loss budget: worst/best path, loopback, per layer, the figures used."""
    from gf_prune.naming import parse_mode_port

    per_layer: dict[str, dict[str, float]] = {}
    for d in budget["pairs"]:
        mp = parse_mode_port(d["input"])
        key = str(mp.layer if mp else "?")
        cur = per_layer.setdefault(key, {"min_dB": d["min_dB"], "max_dB": d["max_dB"]})
        cur["min_dB"], cur["max_dB"] = min(cur["min_dB"], d["min_dB"]), max(cur["max_dB"], d["max_dB"])
    return {
        "wavelength_um": budget["wavelength_um"],
        "worst": budget["worst"],
        "best": budget["best"],
        "loopback": budget["loopback"],
        "per_layer": per_layer,
        "n_pairs": budget["n_pairs"],
        "figures": budget["figures"],
        "assumed": budget["assumed"],
    }


def add_io(
    core_cell: Component, out_dir: str | Path, **io: Any
) -> tuple[Component, list[dict[str, Any]], dict[str, Any]]:
    """The layout stage's I/O step, before the GDS is written: :func:`chip_with_io` and ``ports.csv``.

    Returns (top, port-table rows, figures): ``ports`` (channels per array), ``fibers``, ``pitch_um``,
    ``grating``, ``top_um`` (size of the top cell), ``timings_s``, ``files``. :func:`io_budget` completes them.
    """
    import time

    t0 = time.perf_counter()
    top, rows = chip_with_io(core_cell, **io)
    write_port_table(rows, Path(out_dir) / "ports.csv")
    bb = top.dbbox()
    count = {s: sum(1 for r in rows if r["array"] == s and r["kind"] != "loopback") for s in ("west", "east")}
    figures = {
        "enabled": True,
        "pitch_um": float(io.get("pitch", 127.0)),
        "grating": str(io.get("grating", "grating_coupler_elliptical")),
        "ports": {**count, "loopback": sum(1 for r in rows if r["kind"] == "loopback")},
        "fibers": len(rows),
        "top_um": [round(float(bb.width()), 3), round(float(bb.height()), 3)],
        "timings_s": {"route": time.perf_counter() - t0},
        "files": {"ports": "ports.csv"},
    }
    return top, rows, figures


def io_budget(gds: str | Path, rows: list[dict[str, Any]], figures: dict[str, Any]) -> dict[str, Any]:
    """Loss budget of the written ``gds`` (netlist read back and cached beside it for the SAX check):
    ``loss_budget.csv`` beside it, ``figures["loss_budget_db"]`` (:func:`_budget_summary`); returns ``figures``."""
    import time

    from gf_prune.loss_budget import loss_budget

    t0 = time.perf_counter()
    gds = Path(gds)
    budget = loss_budget(gds, rows, cache=True)
    write_loss_table(budget, gds.parent / "loss_budget.csv")
    figures["files"]["loss_budget"] = "loss_budget.csv"
    figures["loss_budget_db"] = _budget_summary(budget)
    figures["timings_s"]["loss_budget"] = time.perf_counter() - t0
    return figures
