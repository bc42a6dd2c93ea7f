"""Meshes, the SVD layer and the network chip: slot cells abutting in columns, no routes.

Placement rule: mode ``r`` runs at y = −r·pitch; column ``c`` of a mesh starts at
x = c·W (W = slot width of :func:`gf_prune.components.mzi.slot_geometry`). Every
column holds, for each MZI of the topology, one two-mode slot named exactly
``phases.instance_name(layer, mesh, col, row)`` (``mzi_V0_c3_r5``), and for each
mode no MZI touches a :func:`~gf_prune.components.mzi.passthrough` named
``pass_V0_c3_r4``. Slots of one column have identical width and optical length
(heaters off), so a column adds one common phase.

Hierarchy and names (what the netlist shows)::

    network_chip ── layer{ℓ} (svd_layer) ── V{ℓ} (mesh) ── mzi_V{ℓ}_c{c}_r{r} (mzi_unit | mzi_removed)
                                        │               └─ pass_V{ℓ}_c{c}_r{r} (passthrough)
                                        ├─ S{ℓ} (sigma_column) ── att_S{ℓ}_r{r} (attenuator)
                                        │                      └─ term_V{ℓ}_r{r} / term_U{ℓ}_r{r} (terminator)
                                        └─ U{ℓ} (mesh) ── mzi_U{ℓ}_c{c}_r{r} ...

Heaters are the sub-instances ``theta`` / ``phi`` of a slot (see
:func:`~gf_prune.components.mzi.mzi_unit`); a heater's path is e.g.
``layer0/V0/mzi_V0_c3_r5/theta``.

Ports: meshes, Σ columns and SVD layers have optical ``in{r}`` (west) and ``out{r}``
(east) only; the chip has ``l{ℓ}_in{r}``, ``l{ℓ}_out{r}`` and, for every live
heater, electrical ``{instance}_{theta|phi}_e1`` / ``_e2`` (``port_type="electrical"``,
not connected to any child port, so absent from the optical netlist). Every live
heater is labelled ``{instance}_{theta|phi}`` on the ``TEXT`` layer (66/0) at its
``e1``. ``mesh(..., with_heater_ports=True)`` exports the electrical ports at mesh
level too (~1 ms of netlist extraction per port).

Slot states (one character per MZI, in topology order): ``"3"`` θ and φ heaters,
``"2"`` θ only, ``"1"`` φ only, ``"0"`` no heater (unpowered MZI, fixed bar/cross),
``"x"`` removed (plain waveguides of matched phase).
"""

from __future__ import annotations

__all__ = ["heater_ports", "mesh", "network_chip", "sigma_column", "slot_states", "svd_layer"]

from typing import Any

import gdsfactory as gf
import kfactory as kf
import numpy as np
from gdsfactory.component import Component
from gdsfactory.typings import ComponentSpec
from gf_prune.components.mzi import attenuator, mzi_removed, mzi_unit, passthrough, pdk_variant

from gf_prune.mesh import MeshKind, topology
from gf_prune.naming import (
    block_instance,
    chip_port,
    heater_label,
    heater_port,
    instance_port,
    is_slot,
    layer_instance,
    mode_port,
    parse_mode_port,
    passthrough_instance,
    slot_heater_port,
    slot_instance,
    terminator_instance,
)
from gf_prune.physics import ZeroState

TEXT_LAYER = (66, 0)


def slot_states(theta_live: Any, phi_live: Any, pruned_mzi: str = "remove") -> str:
    """Slot state string from live masks: ``"3" "2" "1" "0"`` or ``"x"`` (both pruned and removed)."""
    if pruned_mzi not in ("remove", "bar"):
        raise ValueError(f"pruned_mzi must be 'remove' or 'bar', got {pruned_mzi!r}")
    t = np.asarray(theta_live, dtype=bool)
    p = np.asarray(phi_live, dtype=bool)
    code = 2 * t.astype(int) + p.astype(int)
    return "".join("x" if (k == 0 and pruned_mzi == "remove") else str(k) for k in code)


def _without(d: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in keys}


def _copy_ports(c: Component, ref: Any, names: list[tuple[str, str]]) -> list[Any]:
    """Re-export ports of ``ref`` as ``c`` ports (``(ref_port, new_name)`` pairs).

    kfactory's ``Ports.add_port`` (a copy of the port record, instance transformation
    applied): ``Component.add_port`` costs ~1 ms a port, which dominates a 64-mode mesh.
    """
    return [c.ports.add_port(port=ref.ports[src], name=name, keep_mirror=True) for src, name in names]


def _expose_heaters(c: Component, ref: Any, inst: str, kinds: list[str], ports: bool) -> None:
    """Label each live heater ``{inst}_{kind}`` at its ``e1``; export ``{inst}_{kind}_e1/_e2`` if ``ports``."""
    import klayout.db as kdb

    key = ref.cell.name  # cell names encode all settings (index numbers may be reused)
    cache = _HEATER_PORT_CACHE.setdefault(id(c.kcl), {})
    if key not in cache:
        cache[key] = {p.name: p.base.trans for p in ref.cell.ports if p.port_type == "electrical"}
    trans = cache[key]
    shapes = c.kdb_cell.shapes(c.kcl.layer(*TEXT_LAYER))
    for kind in kinds:
        if ports:
            _copy_ports(c, ref, [(slot_heater_port(kind, e), heater_port(inst, kind, e)) for e in (1, 2)])
        d = (ref.trans * trans[slot_heater_port(kind, 1)]).disp
        shapes.insert(kdb.Text(heater_label(inst, kind), kdb.Trans(d)))


_HEATER_PORT_CACHE: dict[int, dict[str, dict[str, Any]]] = {}


BLOCK_CELLS = ("mesh", "sigma_column", "svd_layer")
"""Name prefixes of the cells that hold slots (walked for heater ports)."""


def heater_ports(
    cell: Component, trans: Any = None, blocks: tuple[str, ...] = BLOCK_CELLS
) -> list[tuple[str, Any, Any]]:
    """Every heater port below ``cell``: ``(name, kdb.Trans in cell coordinates, port record)``.

    Walks the cells whose names start with one of ``blocks`` (mesh/Σ cells, whose slot instances carry
    ``{kind}_e1/_e2`` ports) and names each ``{slot instance}_{kind}_e1/_e2`` — the names
    :func:`network_chip` exports.
    """
    import klayout.db as kdb

    trans = trans if trans is not None else kdb.Trans()
    out: list[tuple[str, Any, Any]] = []
    for inst in cell.insts:
        sub = inst.cell
        ports = [p for p in sub.ports if p.port_type == "electrical"]
        t = trans * inst.trans
        if ports and is_slot(inst.name):
            out += [(instance_port(inst.name, p.name), t * p.base.trans, p.base) for p in ports]
        elif sub.name.startswith(blocks):
            out += heater_ports(sub, t, blocks)
    return out


@gf.cell
def mesh(
    n: int = 4,
    kind: MeshKind = "clements",
    states: str | None = None,
    layer: int = 0,
    mesh_name: str = "U",
    pitch: float = 100.0,
    zero_state: ZeroState = "bar",
    slot: ComponentSpec = mzi_unit,
    removed: ComponentSpec = mzi_removed,
    through: ComponentSpec = passthrough,
    slot_settings: dict[str, Any] | None = None,
    with_heater_ports: bool = False,
    slots: tuple[int, ...] | None = None,
    signs: tuple[tuple[int, int], ...] = (),
    in_delays: tuple[tuple[int, int], ...] = (),
) -> Component:
    """N-mode Clements or Reck mesh of abutting slots (see the module docstring).

    Args:
        n: number of modes.
        kind: "clements" or "reck" (:func:`gf_prune.mesh.topology`).
        states: one state character per MZI (topology order); None = all heaters.
        layer, mesh_name: used only for instance and port names.
        pitch: mode pitch (µm).
        zero_state: "bar" or "cross".
        slot: MZI cell spec (called with ``theta_heater``, ``phi_heater``).
        removed: removed-MZI cell spec; through: single-mode passthrough spec.
        slot_settings: extra keyword arguments for all three (heater, coupler, ...).
        with_heater_ports: export the heaters' electrical ports (labels are always
            added). Off by default: ~1 ms of netlist extraction per port;
            :func:`network_chip` exports them once, at the top.
        slots: physical column (slot) of each MZI in topology order, −1 = not built
            (:func:`gf_prune.compaction.place_mesh`); None = every MZI in its logical column.
            Instance names keep the logical column; passthroughs are named by their slot.
        signs: ``(slot, mode)`` of passthroughs built with a passive π delay
            (``through(bias=True)``): where a compacted mesh keeps a removed MZI's π.
        in_delays: ``(k, input)`` of MZIs built with a π delay on their top (0) / bottom (1)
            input (``slot(in_delay=...)``).
    """
    topo = topology(n, kind)  # type: ignore[arg-type]
    states = states if states is not None else "3" * topo.n_mzis
    if len(states) != topo.n_mzis or set(states) - set("3210x"):
        raise ValueError(f"states must be {topo.n_mzis} characters of '3210x', got {len(states)}")
    kw = dict(slot_settings or {})
    common = {"pitch": pitch, "zero_state": zero_state, **kw}
    pair = ("loss_pair", "terminator")
    slot_kw = _without(common, "crossing", "extra_length", "crossing_extra", *pair)
    through_kw = _without(common, "crossing", "heater", "heater_ports", "theta_arm", "crossing_extra")
    through_kw = through_kw if "loss_pair" in kw else _without(through_kw, "coupler_ports")
    removed_kw = _without(common, "heater", "heater_ports", "coupler_ports", "theta_arm", *pair)
    slot, through = pdk_variant(slot, slot_kw), pdk_variant(through, through_kw)
    removed = pdk_variant(removed, removed_kw)
    cells = {
        s: gf.get_component(slot, theta_heater=s in "32", phi_heater=s in "31", **slot_kw) for s in set(states) - {"x"}
    }
    if "x" in states:
        cells["x"] = gf.get_component(removed, **removed_kw)
    delay_of: dict[int, tuple[bool, bool]] = {}
    for k, j in in_delays:
        d = delay_of.get(k, (False, False))
        delay_of[k] = (d[0] or j == 0, d[1] or j == 1)
    for k, d in delay_of.items():
        if (states[k], d) not in cells:
            cells[(states[k], d)] = gf.get_component(
                slot, theta_heater=states[k] in "32", phi_heater=states[k] in "31", in_delay=d, **slot_kw
            )
    up = gf.get_component(through, up=True, **through_kw)
    down = gf.get_component(through, up=False, **through_kw)
    delayed = {r0: gf.get_component(through, up=r0, bias=True, **through_kw) for r0 in {m == 0 for _, m in signs}}
    width = float(up.info["width"])
    c = Component()
    where = [int(x) for x in (topo.cols if slots is None else slots)]
    if len(where) != topo.n_mzis:
        raise ValueError(f"slots must have {topo.n_mzis} entries, got {len(where)}")
    if any(w < 0 and st != "x" for w, st in zip(where, states, strict=True)):
        raise ValueError("only removed MZIs ('x') may be left unbuilt (slot −1)")
    n_cols = max([1, topo.n_cols if slots is None else 0, *(w + 1 for w in where), *(s + 1 for s, _ in signs)])
    sign_at = set(signs)
    by_col: list[dict[int, int]] = [{} for _ in range(n_cols)]
    for k in range(topo.n_mzis):
        if where[k] >= 0:
            by_col[where[k]][int(topo.rows[k])] = k
    for col in range(n_cols):
        x = col * width
        rows = by_col[col]
        covered = set(rows) | {r + 1 for r in rows}
        if any(s == col and m in covered for s, m in sign_at):
            raise ValueError(f"a π delay in slot {col} sits on a mode an MZI of that slot uses")
        for r, k in sorted(rows.items()):
            name = slot_instance(layer, mesh_name, int(topo.cols[k]), r)
            cell = cells[(states[k], delay_of[k])] if k in delay_of else cells[states[k]]
            ref = c.add_ref(cell, name=name)
            ref.dmove((x, -r * pitch))
            if states[k] != "x":
                _expose_heaters(c, ref, name, list(cell.info["heaters"]), with_heater_ports)
            if col == 0:
                c.add_port(mode_port("in", r), port=ref.ports["o1"])
                c.add_port(mode_port("in", r + 1), port=ref.ports["o2"])
            if col == n_cols - 1:
                c.add_port(mode_port("out", r), port=ref.ports["o3"])
                c.add_port(mode_port("out", r + 1), port=ref.ports["o4"])
        for r in range(n):
            if r in covered:
                continue
            cell = delayed[r == 0] if (col, r) in sign_at else (up if r == 0 else down)
            ref = c.add_ref(cell, name=passthrough_instance(layer, mesh_name, col, r))
            ref.dmove((x, -r * pitch))
            if col == 0:
                c.add_port(mode_port("in", r), port=ref.ports["o1"])
            if col == n_cols - 1:
                c.add_port(mode_port("out", r), port=ref.ports["o2"])
    c.info["width"] = n_cols * width
    c.info["slot_width"] = width
    c.info["slots"] = n_cols
    c.info["logical_cols"] = max(topo.n_cols, 1)
    c.info["n_mzis"] = topo.n_mzis
    c.info["removed"] = states.count("x")
    c.info["unpowered"] = states.count("0")
    c.info["heaters"] = sum({"3": 2, "2": 1, "1": 1}.get(s, 0) for s in states)
    return c


@gf.cell
def sigma_column(
    k: int = 4,
    n_in: int = 4,
    n_out: int = 4,
    states: str | None = None,
    layer: int = 0,
    pitch: float = 100.0,
    zero_state: ZeroState = "bar",
    att: ComponentSpec = attenuator,
    terminator: ComponentSpec = "terminator",
    att_settings: dict[str, Any] | None = None,
    with_heater_ports: bool = False,
) -> Component:
    """Σ column: ``k`` attenuators ``att_S{layer}_r{r}`` on modes 0..k−1 (internal pitch
    ``pitch/2``); V outputs k..n_in−1 end in terminators ``term_V{layer}_r{r}`` and U
    inputs k..n_out−1 in ``term_U{layer}_r{r}``. Ports ``in{r}`` (r < n_in), ``out{r}`` (r < n_out).
    States as :func:`mesh` (``"x"`` is not allowed: an attenuator is never removed)."""
    states = states if states is not None else "3" * k
    if len(states) != k or set(states) - set("3210"):
        raise ValueError(f"Σ states must be {k} characters of '3210', got {states!r}")
    kw = {"pitch": round(pitch / 2, 3), "zero_state": zero_state, **(att_settings or {})}
    att = pdk_variant(att, kw)
    cells = {s: gf.get_component(att, theta_heater=s in "32", phi_heater=s in "31", **kw) for s in set(states)}
    term = gf.get_component(terminator)
    # an empty Σ column (k = 0) still separates the V terminators from the U ones
    width = float(cells[states[0]].ports["o2"].center[0]) if k else 2 * float(term.xsize) + 20.0
    c = Component()
    for r in range(k):
        name = slot_instance(layer, "S", 0, r)
        ref = c.add_ref(cells[states[r]], name=name)
        ref.dmove((0, -r * pitch))
        _expose_heaters(c, ref, name, list(cells[states[r]].info["heaters"]), with_heater_ports)
        c.add_port(mode_port("in", r), port=ref.ports["o1"])
        c.add_port(mode_port("out", r), port=ref.ports["o2"])
    for r in range(k, n_in):
        ref = c.add_ref(term, name=terminator_instance(layer, "V", r))  # faces west, body inside the column
        ref.dmove((0, -r * pitch))
        c.add_port(mode_port("in", r), port=ref.ports["o1"])
    for r in range(k, n_out):
        ref = c.add_ref(term, name=terminator_instance(layer, "U", r))  # faces east
        ref.drotate(180)
        ref.dmove((width, -r * pitch))
        c.add_port(mode_port("out", r), port=ref.ports["o1"])
    c.info["width"] = width
    return c


def _abut_blocks(c: Component, layer: int, v: Component, s: Component, u: Component) -> dict[str, Any]:
    """Place the V mesh, the Σ column and the U mesh of one layer side by side, abutting; their references."""
    refs = {}
    x = 0.0
    for mesh_name, cell in (("V", v), ("S", s), ("U", u)):
        ref = c.add_ref(cell, name=block_instance(layer, mesh_name))
        ref.dmovex(x)
        x += float(cell.info["width"])
        refs[mesh_name] = ref
    return refs


@gf.cell
def svd_layer(
    n_in: int = 4,
    n_out: int = 4,
    kind: MeshKind = "clements",
    v_states: str | None = None,
    s_states: str | None = None,
    u_states: str | None = None,
    layer: int = 0,
    pitch: float = 100.0,
    zero_state: ZeroState = "bar",
    slot: ComponentSpec = mzi_unit,
    removed: ComponentSpec = mzi_removed,
    through: ComponentSpec = passthrough,
    att: ComponentSpec = attenuator,
    terminator: ComponentSpec = "terminator",
    slot_settings: dict[str, Any] | None = None,
    att_settings: dict[str, Any] | None = None,
    placement: tuple[Any, ...] | None = None,
) -> Component:
    """SVD layer W = U·Σ·V†: mesh ``V{layer}`` (n_in modes) → ``S{layer}`` → mesh ``U{layer}``.

    The three blocks abut (V's ``out{r}`` = Σ's ``in{r}``, Σ's ``out{r}`` = U's ``in{r}``).
    Ports: ``in{r}`` (r < n_in), ``out{r}`` (r < n_out) and every live heater's
    electrical ports, re-exported under the same names as in :func:`mesh`.
    ``placement``: ``(v_slots, v_signs, u_slots, u_signs[, v_in_delays, u_in_delays])`` of a compacted layer
    (:func:`gf_prune.compaction.place_network`; see :func:`mesh`), None = logical columns.
    """
    k = min(n_in, n_out)
    kw = {"pitch": pitch, "zero_state": zero_state, "slot": slot, "removed": removed, "through": through}
    vp: dict[str, Any] = {}
    up_: dict[str, Any] = {}
    if placement is not None:
        delays = tuple(placement[4:6]) if len(placement) > 4 else ((), ())
        vp = {"slots": placement[0], "signs": placement[1], **({"in_delays": delays[0]} if delays[0] else {})}
        up_ = {"slots": placement[2], "signs": placement[3], **({"in_delays": delays[1]} if delays[1] else {})}
    v = mesh(n=n_in, kind=kind, states=v_states, layer=layer, mesh_name="V", slot_settings=slot_settings, **kw, **vp)
    u = mesh(n=n_out, kind=kind, states=u_states, layer=layer, mesh_name="U", slot_settings=slot_settings, **kw, **up_)
    s = sigma_column(
        k=k,
        n_in=n_in,
        n_out=n_out,
        states=s_states,
        layer=layer,
        pitch=pitch,
        zero_state=zero_state,
        att=att,
        terminator=terminator,
        att_settings=att_settings,
    )
    c = Component()
    refs = _abut_blocks(c, layer, v, s, u)
    for r in range(n_in):
        c.add_port(mode_port("in", r), port=refs["V"].ports[mode_port("in", r)])
    for r in range(n_out):
        c.add_port(mode_port("out", r), port=refs["U"].ports[mode_port("out", r)])
    c.info["width"] = sum(float(cell.info["width"]) for cell in (v, s, u))
    c.info["v_width"] = float(v.info["width"])
    c.info["s_width"] = float(s.info["width"])
    return c


def _chip_states(sizes: tuple[int, ...], stack: str, states: Any) -> tuple[Any, ...]:
    """Check a chip's ``sizes`` and ``stack``; per-layer slot states (all heaters built when None)."""
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least two entries, got {sizes!r}")
    if stack not in ("x", "y"):
        raise ValueError(f"stack must be 'x' or 'y', got {stack!r}")
    return tuple(states) if states is not None else tuple((None, None, None) for _ in range(len(sizes) - 1))


def _stack_layers(
    c: Component,
    cells: list[Component],
    rows: list[int],
    *,
    bias: bool,
    stack: str,
    layer_gap: float,
    pitch: float,
    heaters: Any = None,
) -> None:
    """Place SVD-layer cells as ``layer{ℓ}`` in ``c``: side by side (``stack="x"``) or each below the last
    (``"y"``, ``rows[ℓ]`` mode rows high); re-export their optical ports as ``l{ℓ}_*``, label each bias
    input ``bias`` and export every live heater's electrical ports (found by ``heaters``, default
    :func:`heater_ports`)."""
    x = 0.0
    for li, cell in enumerate(cells):
        ref = c.add_ref(cell, name=layer_instance(li))
        if stack == "x":
            ref.dmovex(x)
            x += float(cell.info["width"]) + layer_gap
        else:
            ref.dmovey(x)
            x -= (rows[li] - 1) * pitch + 2 * pitch + layer_gap
        _copy_ports(c, ref, [(p.name, chip_port(li, p.name)) for p in cell.ports if p.port_type != "electrical"])
        if bias:  # the bias mode's input: a tap of the same laser at a fixed amplitude
            n_in = sum(1 for p in cell.ports if (mp := parse_mode_port(p.name)) and mp.direction == "in")
            c.add_label("bias", position=tuple(c.ports[chip_port(li, f"in{n_in - 1}")].center), layer=TEXT_LAYER)
    for name, t, base in (heaters or heater_ports)(c):
        c.ports.add_port(port=kf.Port(base=base.model_copy(update={"trans": t})), name=name, keep_mirror=True)


@gf.cell
def network_chip(
    sizes: tuple[int, ...] = (4, 4),
    kind: MeshKind = "clements",
    states: tuple[tuple[str | None, str | None, str | None], ...] | None = None,
    pitch: float = 100.0,
    zero_state: ZeroState = "bar",
    layer_gap: float = 200.0,
    stack: str = "y",
    slot: ComponentSpec = mzi_unit,
    removed: ComponentSpec = mzi_removed,
    through: ComponentSpec = passthrough,
    att: ComponentSpec = attenuator,
    terminator: ComponentSpec = "terminator",
    slot_settings: dict[str, Any] | None = None,
    att_settings: dict[str, Any] | None = None,
    bias: bool = False,
    placements: tuple[tuple[Any, ...], ...] | None = None,
) -> Component:
    """Network chip: SVD layers ``layer{ℓ}`` in sequence, ``layer_gap`` µm apart.

    Layers are separate optical blocks (the nonlinearity between layers is off-chip,
    O-E-O). ``stack="y"`` (default) puts layer ℓ+1 below layer ℓ, left-aligned, so
    every input is on the west edge and every output on the east edge; ``"x"`` puts
    them side by side. Ports: ``l{ℓ}_in{r}``, ``l{ℓ}_out{r}`` (optical) and every live heater's
    ``{instance}_{theta|phi}_e1/_e2`` (electrical; instance names carry the layer).

    Args:
        sizes: mode counts (n_0, n_1, …): layer ℓ maps n_ℓ → n_{ℓ+1}.
        bias: every layer has one more V input, the optical bias mode (layer ℓ maps n_ℓ + 1 → n_{ℓ+1});
            its input port ``l{ℓ}_in{n_ℓ}`` is labelled ``bias`` on the TEXT layer.
        states: per layer (v_states, s_states, u_states); None = all heaters built.
        placements: per layer ``(v_slots, v_signs, u_slots, u_signs)`` of a compacted chip
            (:func:`gf_prune.compaction.place_network`); None = every MZI in its logical column.
        other arguments: as :func:`svd_layer`.
    """
    states = _chip_states(sizes, stack, states)
    n_layers = len(states)
    c = Component()
    cells: list[Component] = []
    rows: list[int] = []
    for li in range(n_layers):
        vs, ss, us = states[li]
        n_in = sizes[li] + int(bias)
        cell = svd_layer(
            n_in=n_in,
            n_out=sizes[li + 1],
            kind=kind,
            v_states=vs,
            s_states=ss,
            u_states=us,
            layer=li,
            pitch=pitch,
            zero_state=zero_state,
            slot=slot,
            removed=removed,
            through=through,
            att=att,
            terminator=terminator,
            slot_settings=slot_settings,
            att_settings=att_settings,
            **({"placement": placements[li]} if placements is not None else {}),
        )
        cells.append(cell)
        rows.append(max(n_in, sizes[li + 1]))
    _stack_layers(c, cells, rows, bias=bias, stack=stack, layer_gap=layer_gap, pitch=pitch)
    return c
