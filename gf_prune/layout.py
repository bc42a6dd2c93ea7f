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

from gf_prune.io import atomic_output, recorded_path
from gf_prune.netlist import activate_pdk, extract_netlist, netlist_equal
from gf_prune.phases import HEATER_COLUMNS, NetworkPhases
from gf_prune.physics import P_PI_MW_DEFAULT

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
    **chip_kwargs: Any,
) -> gf.Component:
    """The chip of ``net`` (no files written). ``slot_settings``/``att_settings`` swap cells
    (``{"coupler": ..., "heater": ...}``); other keywords go to :func:`network_chip`."""
    from gf_prune.components.mesh import network_chip

    if net.mesh_kind == "butterfly":  # stage columns + crossings (components/butterfly.py)
        from gf_prune.components.butterfly import butterfly_chip as network_chip

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
        "crossings": sum(layer.V.topo.n_crossings + layer.U.topo.n_crossings for layer in net.layers),
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
