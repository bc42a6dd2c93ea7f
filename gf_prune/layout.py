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
order of magnitude faster for large meshes.
"""

from __future__ import annotations

import csv
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import gdsfactory as gf
import numpy as np

from gf_prune.io import atomic_output, recorded_path
from gf_prune.phases import HEATER_COLUMNS, NetworkPhases
from gf_prune.physics import P_PI_MW_DEFAULT

PRUNED_MZI_CHOICES = ("remove", "bar")


def activate_pdk() -> None:
    """Activate gdsfactory's generic PDK unless a PDK is already active."""
    try:
        gf.get_active_pdk()
    except ValueError:
        gf.gpdk.PDK.activate()


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
    **chip_kwargs: Any,
) -> gf.Component:
    """The chip of ``net`` (no files written). ``slot_settings``/``att_settings`` swap cells
    (``{"coupler": ..., "heater": ...}``); other keywords go to :func:`network_chip`."""
    from gf_prune.components.mesh import network_chip

    if pruned_mzi not in PRUNED_MZI_CHOICES:
        raise ValueError(f"pruned_mzi must be one of {PRUNED_MZI_CHOICES}, got {pruned_mzi!r}")
    _check_network(net)
    activate_pdk()
    bias = net.layers[0].bias_amp is not None
    sizes = (net.layers[0].n_in - int(bias), *(layer.n_out for layer in net.layers))
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


def layout_figures(net: NetworkPhases, chip: gf.Component, pruned_mzi: str) -> dict[str, Any]:
    """Area, MZI and heater counts of the pruned layout and of the dense one.

    ``mzis.bar`` counts every MZI kept unpowered (both phases pruned): mesh MZIs when
    ``pruned_mzi="bar"`` (``bar_mesh``) plus Σ attenuators (``unpowered_attenuators``,
    never removed). Removing an MZI keeps its slot, so the dense and pruned chips
    have the same footprint.
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
    return {
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
        "dense": {"mzis_built": mzis_uv + atts, "heaters": 2 * (mzis_uv + atts), "area_um2": area},
        "pruned": {"mzis_built": mzis_uv + atts - removed, "heaters": theta + phi, "area_um2": area},
        "zero_state": net.zero_state,
        "mesh_kind": net.mesh_kind,
    }


# ----------------------------------------------------------------------------- files


def _atomic(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path`` (:func:`gf_prune.io.atomic_output`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        write(tmp)


def write_heater_table(net: NetworkPhases, path: str | Path, p_pi_mw: float = P_PI_MW_DEFAULT) -> None:
    """``heaters.csv``: one row per phase shifter (``phases.HEATER_COLUMNS``)."""

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(HEATER_COLUMNS))
            w.writeheader()
            for row in net.heater_rows(p_pi_mw):
                w.writerow({**row, "phase_rad": f"{row['phase_rad']:.12g}", "power_mw": f"{row['power_mw']:.12g}"})

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
) -> dict[str, Any]:
    """Compile ``net`` into ``out_dir``: ``network.gds``, ``heaters.csv``, ``layout.png``, ``layout.json``.

    Returns the layout figures (:func:`layout_figures`) plus ``timings_s`` and the
    written ``files``; with ``check`` (default) also ``geometry``: the result of
    :func:`gf_prune.geometry_checks.check_layout` on the written GDS (``geometry.ok``;
    violations are reported, not raised).
    """
    t0 = time.perf_counter()
    chip = build_network(net, pruned_mzi, pitch, slot_settings, att_settings)
    t1 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gds = out / "network.gds"
    _atomic(gds, lambda tmp: chip.write_gds(tmp))
    t2 = time.perf_counter()
    write_heater_table(net, out / "heaters.csv", p_pi_mw)
    figures = layout_figures(net, chip, pruned_mzi)
    files = {"gds": recorded_path(gds, out), "heaters": recorded_path(out / "heaters.csv", out)}
    if png:
        write_png(gds, out / "layout.png")
        files["png"] = recorded_path(out / "layout.png", out)
    t3 = time.perf_counter()
    figures["timings_s"] = {"build": t1 - t0, "write_gds": t2 - t1, "tables_png": t3 - t2}
    if check:
        from gf_prune.geometry_checks import check_layout

        result = check_layout(gds)
        figures["geometry"] = result.to_dict()
        figures["timings_s"]["geometry_checks"] = time.perf_counter() - t3
    files["figures"] = recorded_path(out / "layout.json", out)
    figures["files"] = files
    _atomic(out / "layout.json", lambda tmp: tmp.write_text(json.dumps(figures, indent=2)))
    return figures


# ----------------------------------------------------------------------------- fast netlist


def extract_netlist(
    component: gf.Component,
    on_multi_connect: str = "error",
    leaf_cells: tuple[str, ...] = ("straight_heater", "terminator"),
) -> dict[str, Any]:
    """gdsfactory's recursive netlist of ``component``, extracted fast.

    Same dict as ``component.get_netlist(recursive=True)`` (cells named by
    gdsfactory's ``CountedNetlistNamer``, instances by its ``SmartNamer``, ports
    matched by position, width, type and — for non-electrical ports — opposite
    orientation), but every cell's settings are serialised once, not per instance,
    and port positions are integer transformations. A cell holding array or off-grid
    instances is handed to gdsfactory's extractor. Cells whose function name starts
    with one of ``leaf_cells`` (phase shifters, terminators) are leaves: their inside
    (heater metal, vias, tapers) is not part of the optical netlist.
    """
    from gdsfactory import get_netlist as gn
    from gdsfactory.serialization import clean_value_json

    namer = gn.CountedNetlistNamer(gn.function_namer)
    inst_namer = gn.SmartNamer(gn.function_namer)
    dumps: dict[int, dict[str, Any]] = {}
    port_cache: dict[int, list[tuple[str, Any, int, str]]] = {}
    recnet: dict[str, Any] = {}

    def cell_ports(cell: Any) -> list[tuple[str, Any, int, str]]:
        key = cell.cell_index()
        if key not in port_cache:
            ports = [(p.name, p.base.trans, p.base.cross_section.width, p.port_type) for p in cell.ports]
            if any(p[1] is None for p in ports):
                raise ValueError(f"extract_netlist: cell {cell.name!r} has off-grid ports")
            port_cache[key] = ports
        return port_cache[key]

    def insert(cell: Any) -> str:
        name = namer(cell)
        if name in recnet:
            return name
        if any(i.na > 1 or i.nb > 1 or i.is_complex() for i in cell.insts):
            # arrays (e.g. a heater's via stack) or off-grid instances: gdsfactory's own extraction
            before = set(recnet)
            gn._insert_netlist(
                recnet, cell, on_multi_connect, "ignore", inst_namer, gn.function_namer, namer,
                gn._default_port_matcher, recursive=True,
            )  # fmt: skip
            for key in set(recnet) - before:
                recnet[key] = clean_value_json(recnet[key])
            return name
        net: dict[str, Any] = {"instances": {}, "placements": {}, "ports": {}, "nets": []}
        recnet[name] = net
        buckets: dict[tuple[int, int], list[tuple[str, int, int, str]]] = defaultdict(list)
        for inst in sorted(cell.insts, key=lambda i: i.name or ""):
            sub = inst.cell
            iname = inst_namer(inst)
            key = sub.cell_index()
            if key not in dumps:
                d = gn._dump_instance(
                    {
                        "component": gn.function_namer(sub),
                        "array": None,
                        "settings": sub.settings.model_dump(),
                        "info": sub.info.model_dump(),
                        "virtual": False,
                    }
                )
                if len(sub.insts) and not gn.function_namer(sub).startswith(leaf_cells):
                    d["component"] = insert(sub)
                dumps[key] = clean_value_json(d)
            net["instances"][iname] = dict(dumps[key])
            t = inst.dcplx_trans
            net["placements"][iname] = {
                "x": round(t.disp.x, 3),
                "y": round(t.disp.y, 3),
                "rotation": round(t.angle, 3),
                "mirror": t.is_mirror(),
            }
            it = inst.trans
            for pname, ptrans, width, ptype in cell_ports(sub):
                pt = it * ptrans
                buckets[pt.disp.x, pt.disp.y].append((f"{iname},{pname}", pt.angle, width, ptype))
        for pname, ptrans, width, ptype in cell_ports(cell):
            # top-level ports face the instance port they expose: flip them
            buckets[ptrans.disp.x, ptrans.disp.y].append((pname, (ptrans.angle + 2) % 4, width, ptype))
        for (x, y), ports in buckets.items():
            if len(ports) < 2:
                continue
            pairs = [
                (a, b)
                for i, a in enumerate(ports)
                for b in ports[i + 1 :]
                if a[3] == b[3] and a[2] == b[2] and (a[3] == "electrical" or (a[1] - b[1]) % 4 == 2)
            ]
            if len(pairs) > 1 and on_multi_connect == "error":
                where = f"({x * cell.kcl.dbu:.3f}, {y * cell.kcl.dbu:.3f})"
                raise ValueError(f"{name}: more than two ports meet at {where}: {[p[0] for p in ports]}")
            for a, b in pairs:
                p1, p2 = sorted((a[0], b[0]))
                if "," not in p1:
                    net["ports"][p1] = p2
                elif "," not in p2:
                    net["ports"][p2] = p1
                else:
                    net["nets"].append({"p1": p1, "p2": p2})
        net["nets"].sort(key=lambda n: (n["p1"], n["p2"]))
        return name

    insert(component)
    return recnet


def netlist_equal(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Differences between two recursive netlists (nets compared as sets); [] if equal."""
    diffs = []
    if set(a) != set(b):
        diffs.append(f"cells differ: {sorted(set(a) ^ set(b))}")
    for name in set(a) & set(b):
        na, nb = a[name], b[name]
        for key in ("instances", "placements", "ports"):
            if na.get(key, {}) != nb.get(key, {}):
                ka, kb = na.get(key, {}), nb.get(key, {})
                bad = [k for k in set(ka) | set(kb) if ka.get(k) != kb.get(k)]
                diffs.append(f"{name}.{key}: {sorted(bad)[:5]}")
        sa = {(n["p1"], n["p2"]) for n in na.get("nets", [])}
        sb = {(n["p1"], n["p2"]) for n in nb.get("nets", [])}
        if sa != sb:
            diffs.append(f"{name}.nets: {sorted(sa ^ sb)[:5]}")
    return diffs
