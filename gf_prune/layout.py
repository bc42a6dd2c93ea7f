"""Layout compiler: a :class:`~gf_prune.phases.NetworkPhases` → gdsfactory chip, GDS, heater table.

``compile_network(net, out_dir)`` writes, each atomically (temporary name, then rename):

- ``network.gds`` — the chip (:func:`gf_prune.components.network_chip`);
- ``heaters.csv`` — one row per phase shifter, columns ``phases.HEATER_COLUMNS``;
  ``instance`` is the GDS instance name of the MZI/attenuator slot holding it
  (the heater itself is its sub-instance ``theta`` or ``phi``);
- ``layout.png`` — a picture of the layout (klayout, headless);
- ``layout.json`` — the layout figures also returned as a dict.

A pruned phase has no heater metal; an MZI whose θ and φ are both pruned is
``"remove"``-d (plain waveguides of matched phase) or kept ``"bar"`` (unpowered MZI).
Σ attenuators are never removed. :func:`extract_netlist` returns gdsfactory's
recursive netlist (same format as ``Component.get_netlist(recursive=True)``) an
order of magnitude faster for large meshes (it lives in :mod:`gf_prune.netlist`,
re-exported here).
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import gdsfactory as gf
import numpy as np

from gf_prune.compaction import MeshPlacement, compaction_summary, place_network
from gf_prune.io import atomic_output, recorded_path
from gf_prune.netlist import activate_pdk, extract_netlist, netlist_equal
from gf_prune.phases import HEATER_COLUMNS, NetworkPhases, instance_name
from gf_prune.physics import P_PI_MW_DEFAULT, heater_power_mw, wrap_phase

__all__ = [
    "activate_pdk",
    "build_network",
    "compile_network",
    "extract_netlist",
    "layout_figures",
    "netlist_equal",
    "write_heater_table",
    "write_png",
]

PRUNED_MZI_CHOICES = ("remove", "bar")


def _states(net: NetworkPhases, pruned_mzi: str) -> tuple[tuple[str, str, str], ...]:
    from gf_prune.components.mesh import slot_states

    out = []
    for layer in net.layers:
        v = slot_states(layer.V.theta_live, layer.V.phi_live, pruned_mzi)
        s = slot_states(layer.S.theta_live, layer.S.phi_live, "bar")
        u = slot_states(layer.U.theta_live, layer.U.phi_live, pruned_mzi)
        out.append((v, s, u))
    return tuple(out)


def _check_network(net: NetworkPhases) -> None:
    if not net.layers:
        raise ValueError("the network has no layers")
    bias = [layer.bias_amp is not None for layer in net.layers]
    if any(bias) and not all(bias):
        raise ValueError(f"either every layer has the bias mode or none: {bias}")
    for li, layer in enumerate(net.layers):
        n_signal = layer.n_in - int(bias[li])
        if li and n_signal != net.layers[li - 1].n_out:
            raise ValueError(
                f"layer {li} has {n_signal} signal inputs but layer {li - 1} has n_out={net.layers[li - 1].n_out}"
            )
        for name in ("V", "S", "U"):
            m = getattr(layer, name)
            for attr in ("theta", "phi"):
                a = np.asarray(getattr(m, attr), dtype=float)
                if not np.all(np.isfinite(a)):
                    raise ValueError(f"layer {li} mesh {name}: {attr} contains NaN or infinite phases")


def build_network(
    net: NetworkPhases,
    pruned_mzi: str = "remove",
    pitch: float = 100.0,
    slot_settings: dict[str, Any] | None = None,
    att_settings: dict[str, Any] | None = None,
    compact: bool = False,
    placements: list[tuple[MeshPlacement, MeshPlacement]] | None = None,
    **chip_kwargs: Any,
) -> gf.Component:
    """The chip of ``net`` (no files written). ``slot_settings``/``att_settings`` swap cells
    (``{"coupler": ..., "heater": ...}``); other keywords go to :func:`network_chip`.

    ``compact``: each live MZI in the earliest physical column its modes allow, removed MZIs
    leave no slot (only with ``pruned_mzi="remove"``; :mod:`gf_prune.compaction`); or pass the
    ``placements`` of :func:`gf_prune.compaction.place_network` directly."""
    from gf_prune.components.mesh import network_chip

    if net.mesh_kind == "butterfly":  # stage columns + crossings (components/butterfly.py)
        from gf_prune.components.butterfly import butterfly_chip as network_chip

    if pruned_mzi not in PRUNED_MZI_CHOICES:
        raise ValueError(f"pruned_mzi must be one of {PRUNED_MZI_CHOICES}, got {pruned_mzi!r}")
    _check_network(net)
    activate_pdk()
    bias = net.layers[0].bias_amp is not None
    sizes = (net.layers[0].n_in - int(bias), *(layer.n_out for layer in net.layers))
    if placements is None and compact:
        placements = place_network(net, pruned_mzi, compact=True)
    if placements is not None and any(p.compact for pair in placements for p in pair):
        chip_kwargs["placements"] = tuple(
            (v.slots, v.signs, u.slots, u.signs, v.in_delays, u.in_delays) for v, u in placements
        )
    return network_chip(
        bias=bias,
        sizes=sizes,
        kind=net.mesh_kind,
        states=_states(net, pruned_mzi),
        pitch=pitch,
        zero_state=net.zero_state,
        slot_settings=slot_settings,
        att_settings=att_settings,
        **chip_kwargs,
    )


def _uncompacted_bbox(chip: gf.Component, placements: list[tuple[MeshPlacement, MeshPlacement]]) -> tuple[float, float]:
    """(width, height) in µm the chip would have with every mesh at its logical column count.

    Layers are stacked in y and left-aligned (:func:`network_chip`): the width is the widest layer,
    each layer's width grows by (logical − physical) slot widths of its V and U meshes.
    """
    from gf_prune.naming import block_instance, layer_instance

    bb = chip.dbbox()
    grown = []
    for li, (v, u) in enumerate(placements):
        cell = chip.insts[layer_instance(li)].cell
        w_slot = float(cell.insts[block_instance(li, "V")].cell.info["slot_width"])
        width = float(cell.info["width"]) + w_slot * (v.logical_cols - v.n_slots + u.logical_cols - u.n_slots)
        grown.append((float(cell.info["width"]), width))
    widest_now = max(a for a, _ in grown)
    return float(bb.width()) - widest_now + max(b for _, b in grown), float(bb.height())


def layout_figures(
    net: NetworkPhases,
    chip: gf.Component,
    pruned_mzi: str,
    placements: list[tuple[MeshPlacement, MeshPlacement]] | None = None,
) -> dict[str, Any]:
    """Area, MZI and heater counts of the pruned layout and of the dense one.

    ``mzis.bar`` counts every MZI kept unpowered (both phases pruned): mesh MZIs when
    ``pruned_mzi="bar"`` (``bar_mesh``) plus Σ attenuators (``unpowered_attenuators``,
    never removed). Without compaction a removed MZI keeps its slot, so the dense and pruned
    chips have the same footprint; with ``placements`` (:mod:`gf_prune.compaction`) the figures
    add ``area_mm2.dense/pruned/compacted`` (dense = pruned = every logical column; compacted =
    the chip as built) and ``columns`` (per mesh: logical and physical columns, π delays).
    """
    mzis_uv = sum(layer.V.topo.n_mzis + layer.U.topo.n_mzis for layer in net.layers)
    atts = sum(layer.S.k for layer in net.layers)
    removable = sum(int(layer.V.removable.sum() + layer.U.removable.sum()) for layer in net.layers)
    meshes = [m for layer in net.layers for m in (layer.V, layer.S, layer.U)]
    theta = sum(int(np.sum(m.theta_live)) for m in meshes)
    phi = sum(int(np.sum(m.phi_live)) for m in meshes)
    unpowered_att = sum(int(np.sum(~layer.S.theta_live & ~layer.S.phi_live)) for layer in net.layers)
    removed = removable if pruned_mzi == "remove" else 0
    bar_mesh = removable if pruned_mzi == "bar" else 0
    bb = chip.dbbox()
    area = float(bb.width() * bb.height())
    placements = placements if placements is not None else place_network(net, pruned_mzi, compact=False)
    w_full, h_full = _uncompacted_bbox(chip, placements)
    area_full = w_full * h_full
    comp = compaction_summary(placements)
    extra = {
        "area_mm2": {"dense": area_full * 1e-6, "pruned": area_full * 1e-6, "compacted": area * 1e-6},
        "compact": comp["compact"],
        "columns": comp["columns"],
        "columns_total": {"logical": comp["logical_total"], "physical": comp["physical_total"]},
        "pi_delays": comp["pi_delays"],
    }
    return {
        **extra,
        "area_um2": area,
        "width_um": float(bb.width()),
        "height_um": float(bb.height()),
        "pruned_mzi": pruned_mzi,
        "mzis": {
            "total": mzis_uv + atts,
            "mesh": mzis_uv,
            "attenuators": atts,
            "removed": removed,
            "bar": bar_mesh + unpowered_att,
            "bar_mesh": bar_mesh,
            "unpowered_attenuators": unpowered_att,
            "built": mzis_uv + atts - removed,
        },
        "heaters": {"dense": 2 * (mzis_uv + atts), "pruned": theta + phi, "theta": theta, "phi": phi},
        "dense": {"mzis_built": mzis_uv + atts, "heaters": 2 * (mzis_uv + atts), "area_um2": area_full},
        "pruned": {"mzis_built": mzis_uv + atts - removed, "heaters": theta + phi, "area_um2": area},
        "zero_state": net.zero_state,
        "mesh_kind": net.mesh_kind,
        "crossings": sum(layer.V.topo.n_crossings + layer.U.topo.n_crossings for layer in net.layers),
    }


# ----------------------------------------------------------------------------- files


def _atomic(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path`` (:func:`gf_prune.io.atomic_output`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        write(tmp)


PLACEMENT_COLUMNS = ("slot", "x_um", "y_um")
"""Columns ``heaters.csv`` adds with a chip: the physical column of the slot (−1: MZI not built) and
the heater's centre on the chip (midpoint of its two electrical ports; empty for a pruned heater)."""


def heater_placement(
    net: NetworkPhases, chip: gf.Component, placements: list[tuple[MeshPlacement, MeshPlacement]]
) -> dict[tuple[int, str, int, int, str], dict[str, Any]]:
    """``(layer, mesh, column, row, kind)`` → ``{"slot", "x_um", "y_um"}`` for every phase shifter."""
    from gf_prune.naming import heater_port

    ports = {p.name: p for p in chip.ports if p.port_type == "electrical"}
    out: dict[tuple[int, str, int, int, str], dict[str, Any]] = {}
    for li, mesh_name, c, r, kind, _raw, live in net.iter_phases():
        if mesh_name == "S":
            slot = 0
        else:
            v, u = placements[li]
            m = getattr(net.layers[li], mesh_name)
            slot = (v if mesh_name == "V" else u).slots[m.topo.index(c, r)]
        inst = instance_name(li, mesh_name, c, r)
        e1, e2 = ports.get(heater_port(inst, kind, 1)), ports.get(heater_port(inst, kind, 2))
        xy = ("", "")
        if live and e1 is not None and e2 is not None:
            xy = tuple(f"{(a + b) / 2:.3f}" for a, b in zip(e1.center, e2.center, strict=True))
        out[(li, mesh_name, c, r, kind)] = {"slot": slot, "x_um": xy[0], "y_um": xy[1]}
    return out


def programmed_heater_rows(
    net: NetworkPhases, p_pi_mw: float = P_PI_MW_DEFAULT, phase_offset_rad: float = 0.0
) -> list[dict[str, Any]]:
    """``net.heater_rows`` with each live heater's ``phase_rad`` = wrap(phase − ``phase_offset_rad``) and its
    ``power_mw``: what to program where the PDK's heater adds the offset itself (``heaters.csv``; a pad table
    should take its phases from here too)."""
    rows = net.heater_rows(p_pi_mw)
    if phase_offset_rad:
        for row in rows:
            if not row["pruned"]:
                row["phase_rad"] = float(wrap_phase(row["phase_rad"] - phase_offset_rad))
                row["power_mw"] = float(heater_power_mw(row["phase_rad"], p_pi_mw))
    return rows


def write_heater_table(
    net: NetworkPhases,
    path: str | Path,
    p_pi_mw: float = P_PI_MW_DEFAULT,
    placement: dict[tuple[int, str, int, int, str], dict[str, Any]] | None = None,
    phase_offset_rad: float = 0.0,
) -> None:
    """``heaters.csv``: one row per phase shifter (``phases.HEATER_COLUMNS``; with ``placement``
    from :func:`heater_placement` also ``slot, x_um, y_um``). ``phase_offset_rad``: a live heater's
    ``phase_rad`` (and ``power_mw``) is ``wrap(phase − offset)``, what to program where the PDK's heater
    itself adds ``offset`` (:attr:`gf_prune.pdk_convention.PdkConvention.heater_offset_rad`)."""
    cols = list(HEATER_COLUMNS) + (list(PLACEMENT_COLUMNS) if placement is not None else [])

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            for row in programmed_heater_rows(net, p_pi_mw, phase_offset_rad):
                extra = {}
                if placement is not None:
                    extra = placement[(row["layer"], row["mesh"], row["column"], row["row"], row["kind"])]
                w.writerow(
                    {**row, **extra, "phase_rad": f"{row['phase_rad']:.12g}", "power_mw": f"{row['power_mw']:.12g}"}
                )

    _atomic(Path(path), write)


def write_png(gds: str | Path, path: str | Path, width: int = 2000, height: int | None = None) -> None:
    """Render a GDS to PNG with klayout's LayoutView (headless); ``height`` follows the aspect ratio."""
    import klayout.db as kdb
    import klayout.lay as lay

    if height is None:
        ly = kdb.Layout()
        ly.read(str(gds))
        box = ly.top_cell().dbbox()
        height = int(min(2 * width, max(300, width * box.height() / max(box.width(), 1e-9) * 1.05)))

    def write(tmp: Path) -> None:
        view = lay.LayoutView()
        view.set_config("background-color", "#ffffff")
        view.set_config("grid-visible", "false")
        view.set_config("text-visible", "false")
        view.load_layout(str(gds), True)
        view.max_hier()
        view.zoom_fit()
        view.save_image(str(tmp), width, height)

    _atomic(Path(path), write)


def compile_network(
    net: NetworkPhases,
    out_dir: str | Path,
    pruned_mzi: str = "remove",
    pitch: float = 100.0,
    p_pi_mw: float = P_PI_MW_DEFAULT,
    png: bool = True,
    check: bool = True,
    slot_settings: dict[str, Any] | None = None,
    att_settings: dict[str, Any] | None = None,
    compact: bool = True,
    pdk: str | None = None,
    io: bool = True,
    io_settings: dict[str, Any] | None = None,
    route: bool = False,
) -> dict[str, Any]:
    """Compile ``net`` into ``out_dir``: ``network.gds``, ``heaters.csv``, ``layout.png``, ``layout.json``.

    ``pdk`` (``layout.pdk``): ``"generic"``, ``"cspdk"`` or a module path exposing ``PDK``; it is activated
    and its cells (:func:`gf_prune.pdk.pdk_cells`) fill ``slot_settings``/``att_settings`` where not given;
    ``layout.json`` records it under ``pdk``. None: whatever PDK is active (generic if none).

    ``io`` (default): ``network.gds`` is a top cell holding the network chip as instance ``core`` (at
    the origin, so every coordinate is the core's) with grating couplers on a 127 µm fibre pitch WEST
    and EAST of it and an alignment loopback (:mod:`gf_prune.optical_io`, ``io_settings`` go to
    :func:`~gf_prune.optical_io.add_fiber_io`); writes ``ports.csv`` and ``loss_budget.csv``
    (:mod:`gf_prune.loss_budget`) and adds ``io`` and ``loss_budget_db`` to the figures.

    ``route``: also pads and heater routes (:func:`gf_prune.wiring.write_wired`): ``network_wired.gds``
    (``network.gds``'s top, or the bare chip as instance ``core``, with pads NORTH and SOUTH and the
    routes), ``pads.csv``, and ``pads``, ``heaters_wired``, ``pads_dense``, ``die_mm``, ``standard_die``,
    ``wiring`` in the figures.

    ``compact`` (default; only with ``pruned_mzi="remove"`` and ``zero_state="bar"``): live MZIs in
    the earliest physical column their modes allow (:mod:`gf_prune.compaction`). The network laid
    out is ``net`` itself, exactly: no phase changes, the removed MZIs' π are kept as passive delays.

    Returns the layout figures (:func:`layout_figures`) plus ``timings_s`` and the
    written ``files``; with ``check`` (default) also ``geometry``: the result of
    :func:`gf_prune.geometry_checks.check_layout` on the written GDS (``geometry.ok``;
    violations are reported, not raised).
    """
    t0 = time.perf_counter()
    cells, chip_kw, layers = None, {}, {}
    if pdk is not None:
        from gf_prune.pdk import pdk_cells

        cells = pdk_cells(pdk, pitch=pitch)
        slot_settings = cells.slot_settings(net.zero_state) if slot_settings is None else slot_settings
        att_settings = cells.att_settings(net.zero_state) if att_settings is None else att_settings
        chip_kw, layers = cells.chip_kwargs(), {"wg_layer": cells.wg_layer, "heater_layer": cells.heater_layer}
    in_delays = cells.fan_in_delays if cells is not None else True
    placements = place_network(net, pruned_mzi, compact=compact, in_delays=in_delays)
    chip = build_network(net, pruned_mzi, pitch, slot_settings, att_settings, placements=placements, **chip_kw)
    t1 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    top, ports, io_figures = chip, [], None
    if io:
        from gf_prune.optical_io import add_io, io_budget

        top, ports, io_figures = add_io(chip, out, **(io_settings or {}))
    t_io = time.perf_counter()
    gds = out / "network.gds"
    _atomic(gds, lambda tmp: top.write_gds(tmp))
    t_gds = time.perf_counter()
    if io_figures is not None:
        io_figures = io_budget(gds, ports, io_figures)
    t2 = time.perf_counter()
    offset = cells.convention.heater_offset_rad if cells is not None and cells.convention is not None else 0.0
    write_heater_table(net, out / "heaters.csv", p_pi_mw, heater_placement(net, chip, placements), offset)
    figures = layout_figures(net, chip, pruned_mzi, placements)
    files = {"gds": recorded_path(gds, out), "heaters": recorded_path(out / "heaters.csv", out)}
    if io_figures is not None:
        files.update({k: recorded_path(out / v, out) for k, v in io_figures.pop("files").items()})
        figures["loss_budget_db"] = io_figures.pop("loss_budget_db")
        figures["io"] = io_figures
    if png:
        write_png(gds, out / "layout.png")
        files["png"] = recorded_path(out / "layout.png", out)
    t3 = time.perf_counter()
    figures["timings_s"] = {
        "build": t1 - t0,
        "io": t_io - t1 + t2 - t_gds,  # gratings, routes, ports.csv; loss budget
        "write_gds": t_gds - t_io,
        "tables_png": t3 - t2,
    }
    if check:
        from gf_prune.geometry_checks import check_layout

        result = check_layout(gds, **layers)
        figures["geometry"] = result.to_dict()
        figures["timings_s"]["geometry_checks"] = time.perf_counter() - t3
    if cells is not None:
        figures["pdk"] = cells.record()
    if route:
        from gf_prune.wiring import write_wired

        figures.update(
            write_wired(net, chip, out, p_pi_mw, check=check, base=top if io else None, phase_offset_rad=offset)
        )
        wired = out / "network_wired.gds"
        if wired.is_file() and figures.get("wiring", {}).get("files"):
            t4 = time.perf_counter()
            if check:  # the PDK's rules on the hand-off GDS too: routes and pads included
                from gf_prune.geometry_checks import check_layout

                figures["wiring"]["geometry"] = check_layout(wired, **layers).to_dict()
            if png:
                write_png(wired, out / "layout_wired.png")
                files["png_wired"] = recorded_path(out / "layout_wired.png", out)
            figures["wiring"]["timings_s"]["geometry_png"] = time.perf_counter() - t4
    files["figures"] = recorded_path(out / "layout.json", out)
    figures["files"] = files
    _atomic(out / "layout.json", lambda tmp: tmp.write_text(json.dumps(figures, indent=2)))
    return figures
