"""Butterfly (PSNN-style) meshes: stage columns of MZI slots, permutations drawn with crossings.

A butterfly mesh (:func:`gf_prune.mesh.topology` with ``kind="butterfly"``) has log₂N stages of
N/2 MZIs on the pairs (0, 1), (2, 3), … and a fixed waveguide permutation after every stage but
the last. Here each stage is one column of MZI slots exactly as in
:func:`gf_prune.components.mesh.mesh` (same slot cells, same names ``mzi_V0_c{stage}_r{row}``), and
each permutation is drawn as a sequence of *swap columns* (odd–even transposition sort of the
permutation, :func:`swap_schedule`): in a swap column, a pair of adjacent modes that must exchange
goes through a :func:`crossing_swap` slot (two waveguides through the PDK's ``crossing`` cell), every
other mode through a :func:`~gf_prune.components.mzi.passthrough` of the same width. The number of
crossings is the permutation's inversion count (the minimum for a planar drawing).

Phase balance: a swap slot's two paths and the passthrough have the same optical length
(``g.ref_length`` of the permutation geometry: same bends, same straights, the crossing counted by
its port-to-port length as its SAX model does), so every path through a swap column, and therefore
through one whole permutation, adds the same phase. The SAX check proves it.

Padding: a layer whose width is not a power of two uses the next power of two
(:func:`gf_prune.mesh.padded_size`); the dark modes' unused inputs/outputs end in terminators
``pad_{V|U}{ℓ}_{in|out}{r}`` and are not ports of the layer.

Names (:mod:`gf_prune.naming`): ``xing_V0_s{stage}_k{step}_r{row}`` (swap slot on modes row, row + 1),
``pwg_V0_s{stage}_k{step}_r{row}`` (waveguide), ``pad_U2_out12`` (terminator of a dark mode).
"""

from __future__ import annotations

__all__ = ["butterfly_chip", "butterfly_layer", "butterfly_mesh", "crossing_swap", "crossing_swap_pdk", "swap_schedule"]

from typing import Any

import gdsfactory as gf
import numpy as np
from gdsfactory.component import Component
from gdsfactory.typings import ComponentSpec, CrossSectionSpec
from gf_prune.components.mesh import (
    _abut_blocks,
    _chip_states,
    _expose_heaters,
    _stack_layers,
    _without,
    heater_ports,
    sigma_column,
)
from gf_prune.components.mzi import (
    BIAS_LENGTH_UM,
    PDK_VARIANTS,
    _check_end,
    _cross_path,
    _expose,
    _nm,
    _shim_bend,
    _wg_width,
    attenuator,
    mzi_removed,
    mzi_unit,
    passthrough,
    pdk_variant,
    slot_geometry,
)

from gf_prune.mesh import MeshKind, padded_size, topology
from gf_prune.naming import (
    mode_port,
    pad_instance,
    permutation_instance,
    slot_instance,
)
from gf_prune.physics import ZeroState

PERM_HEATER_LENGTH = 10.0
"""``heater_length`` of the permutation geometry (µm): only sets the swap-column width."""
PERM_HEATER_MARGIN = 5.0


def swap_schedule(perm: Any) -> list[list[int]]:
    """Swap columns that realise ``perm`` (position p → perm[p]) by adjacent exchanges.

    Odd–even transposition sort; each column lists the top rows r of the pairs (r, r + 1) that cross.
    Every pair that crosses is an inversion, so the total is the inversion count. Empty columns are
    skipped.
    """
    target = [int(x) for x in np.asarray(perm)]
    n = len(target)
    cols: list[list[int]] = []
    step = 0
    idle = 0
    while idle < 2:
        swaps = [r for r in range(step % 2, n - 1, 2) if target[r] > target[r + 1]]
        for r in swaps:
            target[r], target[r + 1] = target[r + 1], target[r]
        if swaps:
            cols.append(swaps)
            idle = 0
        else:
            idle += 1
        step += 1
    if target != sorted(target):  # pragma: no cover
        raise AssertionError("swap schedule does not sort the permutation")
    return cols


def _heater_ports(cell: Component, trans: Any = None) -> list[tuple[str, Any, Any]]:
    """Every heater port below ``cell`` (:func:`gf_prune.components.mesh.heater_ports` through butterfly cells)."""
    return heater_ports(cell, trans, ("butterfly_mesh", "butterfly_layer", "sigma_column"))


@gf.cell
def crossing_swap(
    pitch: float = 100.0,
    zero_state: ZeroState = "bar",
    heater_length: float = PERM_HEATER_LENGTH,
    heater_margin: float = PERM_HEATER_MARGIN,
    bias_length: float = BIAS_LENGTH_UM,
    coupler: ComponentSpec = "mmi2x2",
    crossing: ComponentSpec = "crossing",
    straight: ComponentSpec = "straight",
    bend: ComponentSpec = "bend_euler",
    cross_section: CrossSectionSpec = "strip",
) -> Component:
    """Two-mode swap slot: o1 (top in) → o4 (bottom out) and o2 (bottom in) → o3 (top out) through
    one ``crossing`` (instance ``x``), each path exactly as long as the passthrough of the same
    arguments (``g.ref_length``): 8 bends, straights, the crossing's port-to-port length.

    The geometry is that of :func:`~gf_prune.components.mzi.mzi_removed` for ``zero_state="cross"``
    without its quarter wave. Ports as an MZI slot (o1/o2 west top/bottom, o3/o4 east top/bottom).
    """
    return _crossing_swap(**locals())


@gf.cell
def crossing_swap_pdk(
    pitch: float = 100.0,
    zero_state: ZeroState = "bar",
    heater_length: float = PERM_HEATER_LENGTH,
    heater_margin: float = PERM_HEATER_MARGIN,
    bias_length: float = BIAS_LENGTH_UM,
    coupler: ComponentSpec = "mmi2x2",
    crossing: ComponentSpec = "crossing",
    straight: ComponentSpec = "straight",
    bend: ComponentSpec = "bend_euler",
    cross_section: CrossSectionSpec = "strip",
    crossing_extra: float = 0.0,
) -> Component:
    """:func:`crossing_swap` with ``crossing_extra`` (µm) on both paths: a PDK crossing whose model phase is not its
    length's (:mod:`gf_prune.pdk_convention`)."""
    return _crossing_swap(**locals())


def _crossing_swap(
    pitch: float = 100.0,
    zero_state: ZeroState = "bar",
    heater_length: float = PERM_HEATER_LENGTH,
    heater_margin: float = PERM_HEATER_MARGIN,
    bias_length: float = BIAS_LENGTH_UM,
    coupler: ComponentSpec = "mmi2x2",
    crossing: ComponentSpec = "crossing",
    straight: ComponentSpec = "straight",
    bend: ComponentSpec = "bend_euler",
    cross_section: CrossSectionSpec = "strip",
    crossing_extra: float = 0.0,
) -> Component:
    """Builds :func:`crossing_swap` and :func:`crossing_swap_pdk`."""
    g = slot_geometry(
        pitch=pitch,
        heater_length=heater_length,
        heater_margin=heater_margin,
        zero_state=zero_state,
        bias_length=bias_length,
        coupler=coupler,
        bend=bend,
        cross_section=cross_section,
    )
    c = Component()
    b = gf.get_component(bend, cross_section=cross_section)
    w = _wg_width(straight, cross_section)
    xc = gf.get_component(crossing)
    target_nm = _nm(round(g.ref_length, 3)) + _nm(crossing_extra)
    ports: dict[str, Any] = {}
    for path in ("a", "b"):
        shim = None
        scratch = Component()
        if _cross_path(scratch, g, xc, path, straight, b, cross_section, w, target_nm, None) % 2:
            shim, _ = _shim_bend(bend, cross_section, 1)
        scratch.delete()
        _cross_path(c, g, xc, path, straight, b, cross_section, w, target_nm, shim, ports)
    for k in ("o1", "o2"):
        ports[k].orientation = 180
    _check_end(ports["o3"], g.width, 0.0, "swap top output")
    _expose(c, ports)
    c.info["width"] = g.width
    c.info["ref_length"] = round(g.ref_length + crossing_extra, 3)
    c.info["crossings"] = 1
    return c


PDK_VARIANTS[crossing_swap] = (crossing_swap_pdk, ("crossing_extra",))


@gf.cell
def butterfly_mesh(
    n: int = 4,
    states: str | None = None,
    layer: int = 0,
    mesh_name: str = "U",
    pitch: float = 100.0,
    zero_state: ZeroState = "bar",
    slot: ComponentSpec = mzi_unit,
    removed: ComponentSpec = mzi_removed,
    through: ComponentSpec = passthrough,
    swap: ComponentSpec = crossing_swap,
    slot_settings: dict[str, Any] | None = None,
    perm_settings: dict[str, Any] | None = None,
    with_heater_ports: bool = False,
) -> Component:
    """N-mode butterfly mesh (N a power of two): MZI stage columns and swap columns between them.

    Args:
        n: modes (a power of two).
        states: one slot state per MZI (``"3210x"``, as :func:`gf_prune.components.mesh.mesh`).
        layer, mesh_name: for names only.
        pitch, zero_state, slot, removed, through, slot_settings: as :func:`~gf_prune.components.mesh.mesh`.
        swap: the crossing slot cell; perm_settings: extra arguments of the swap/passthrough cells
            of the permutation columns (default a narrow geometry, ``heater_length`` 10 µm).
        with_heater_ports: export the heaters' electrical ports.
    """
    topo = topology(n, "butterfly")
    states = states if states is not None else "3" * topo.n_mzis
    if len(states) != topo.n_mzis or set(states) - set("3210x"):
        raise ValueError(f"states must be {topo.n_mzis} characters of '3210x', got {len(states)}")
    kw = dict(slot_settings or {})
    common = {"pitch": pitch, "zero_state": zero_state, **kw}
    slot_kw = _without(common, "crossing", "extra_length", "crossing_extra", "loss_pair", "terminator")
    removed_kw = _without(common, "heater", "heater_ports", "coupler_ports", "theta_arm", "loss_pair", "terminator")
    slot, removed = pdk_variant(slot, slot_kw), pdk_variant(removed, removed_kw)
    cells = {
        s: gf.get_component(slot, theta_heater=s in "32", phi_heater=s in "31", **slot_kw) for s in set(states) - {"x"}
    }
    if "x" in states:
        cells["x"] = gf.get_component(removed, **removed_kw)
    pkw = {
        "heater_length": PERM_HEATER_LENGTH,
        "heater_margin": PERM_HEATER_MARGIN,
        **_without(
            common,
            "heater",
            "heater_ports",
            "coupler_ports",
            "heater_length",
            "heater_margin",
            "theta_arm",
            "extra_length",
            "loss_pair",
            "terminator",
        ),
        **(perm_settings or {}),
    }
    xing = gf.get_component(pdk_variant(swap, pkw), **pkw)
    pw = {up: gf.get_component(through, up=up, **_without(pkw, "crossing", "crossing_extra")) for up in (True, False)}
    slot_w = float(next(iter(cells.values())).info["width"]) if cells else 0.0
    perm_w = float(xing.info["width"])
    c = Component()
    x = 0.0
    n_cross = 0
    n_swap_cols = 0
    for stage in range(max(topo.n_cols, 1)):
        ks = np.flatnonzero(topo.cols == stage)
        for k in ks:
            r = int(topo.rows[k])
            name = slot_instance(layer, mesh_name, stage, r)
            ref = c.add_ref(cells[states[k]], name=name)
            ref.dmove((x, -r * pitch))
            if states[k] != "x":
                _expose_heaters(c, ref, name, list(cells[states[k]].info["heaters"]), with_heater_ports)
            if stage == 0:
                c.add_port(mode_port("in", r), port=ref.ports["o1"])
                c.add_port(mode_port("in", r + 1), port=ref.ports["o2"])
            if stage == topo.n_cols - 1:
                c.add_port(mode_port("out", r), port=ref.ports["o3"])
                c.add_port(mode_port("out", r + 1), port=ref.ports["o4"])
        x += slot_w
        if topo.perms is None or stage >= len(topo.perms):
            continue
        for step, swaps in enumerate(swap_schedule(topo.perms[stage])):
            crossed = set(swaps) | {r + 1 for r in swaps}
            for r in swaps:
                ref = c.add_ref(xing, name=permutation_instance(layer, mesh_name, stage, step, r, True))
                ref.dmove((x, -r * pitch))
            for r in range(n):
                if r not in crossed:
                    ref = c.add_ref(pw[r == 0], name=permutation_instance(layer, mesh_name, stage, step, r, False))
                    ref.dmove((x, -r * pitch))
            x += perm_w
            n_cross += len(swaps)
            n_swap_cols += 1
    if n == 1:  # no MZI at all: one plain waveguide
        ref = c.add_ref(pw[True], name=permutation_instance(layer, mesh_name, 0, 0, 0, False))
        c.add_port(mode_port("in", 0), port=ref.ports["o1"])
        c.add_port(mode_port("out", 0), port=ref.ports["o2"])
        x = perm_w
    c.info["width"] = round(x, 3)
    c.info["slot_width"] = slot_w
    c.info["perm_width"] = perm_w
    c.info["n_mzis"] = topo.n_mzis
    c.info["crossings"] = n_cross
    c.info["swap_columns"] = n_swap_cols
    c.info["removed"] = states.count("x")
    c.info["unpowered"] = states.count("0")
    c.info["heaters"] = sum({"3": 2, "2": 1, "1": 1}.get(s, 0) for s in states)
    return c


@gf.cell
def butterfly_layer(
    n_in: int = 4,
    n_out: int = 4,
    v_states: str | None = None,
    s_states: str | None = None,
    u_states: str | None = None,
    layer: int = 0,
    pitch: float = 100.0,
    zero_state: ZeroState = "bar",
    slot: ComponentSpec = mzi_unit,
    removed: ComponentSpec = mzi_removed,
    through: ComponentSpec = passthrough,
    swap: ComponentSpec = crossing_swap,
    att: ComponentSpec = attenuator,
    terminator: ComponentSpec = "terminator",
    slot_settings: dict[str, Any] | None = None,
    att_settings: dict[str, Any] | None = None,
    perm_settings: dict[str, Any] | None = None,
) -> Component:
    """SVD layer on butterfly meshes: ``V{ℓ}`` (padded to a power of two) → ``S{ℓ}`` → ``U{ℓ}``.

    As :func:`gf_prune.components.mesh.svd_layer`; a padded mesh's dark inputs (V, modes ≥ n_in) and
    dark outputs (U, modes ≥ n_out) end in terminators ``pad_*``. Ports ``in{r}`` (r < n_in),
    ``out{r}`` (r < n_out).
    """
    mv, mu = padded_size(n_in, "butterfly"), padded_size(n_out, "butterfly")
    k = min(n_in, n_out)
    kw = {
        "pitch": pitch,
        "zero_state": zero_state,
        "slot": slot,
        "removed": removed,
        "through": through,
        "swap": swap,
        "slot_settings": slot_settings,
        "perm_settings": perm_settings,
    }
    v = butterfly_mesh(n=mv, states=v_states, layer=layer, mesh_name="V", **kw)
    u = butterfly_mesh(n=mu, states=u_states, layer=layer, mesh_name="U", **kw)
    s = sigma_column(
        k=k,
        n_in=mv,
        n_out=mu,
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
    term = gf.get_component(terminator)
    for r in range(n_in, mv):
        t = c.add_ref(term, name=pad_instance(layer, "V", mode_port("in", r)))
        t.connect("o1", refs["V"].ports[mode_port("in", r)])
    for r in range(n_out, mu):
        t = c.add_ref(term, name=pad_instance(layer, "U", mode_port("out", r)))
        t.connect("o1", refs["U"].ports[mode_port("out", r)])
    for r in range(n_in):
        c.add_port(mode_port("in", r), port=refs["V"].ports[mode_port("in", r)])
    for r in range(n_out):
        c.add_port(mode_port("out", r), port=refs["U"].ports[mode_port("out", r)])
    c.info["width"] = sum(float(cell.info["width"]) for cell in (v, s, u))
    c.info["v_width"] = float(v.info["width"])
    c.info["s_width"] = float(s.info["width"])
    c.info["crossings"] = int(v.info["crossings"]) + int(u.info["crossings"])
    c.info["modes"] = max(mv, mu)
    return c


@gf.cell
def butterfly_chip(
    sizes: tuple[int, ...] = (4, 4),
    states: tuple[tuple[str | None, str | None, str | None], ...] | None = None,
    pitch: float = 100.0,
    zero_state: ZeroState = "bar",
    layer_gap: float = 200.0,
    stack: str = "y",
    slot: ComponentSpec = mzi_unit,
    removed: ComponentSpec = mzi_removed,
    through: ComponentSpec = passthrough,
    swap: ComponentSpec = crossing_swap,
    att: ComponentSpec = attenuator,
    terminator: ComponentSpec = "terminator",
    slot_settings: dict[str, Any] | None = None,
    att_settings: dict[str, Any] | None = None,
    perm_settings: dict[str, Any] | None = None,
    bias: bool = False,
    kind: MeshKind = "butterfly",
) -> Component:
    """Network chip of butterfly SVD layers; same ports, names and arguments as
    :func:`gf_prune.components.mesh.network_chip` (``kind`` must be ``"butterfly"``)."""
    if kind != "butterfly":
        raise ValueError(f"butterfly_chip builds butterfly meshes only, got kind={kind!r}")
    states = _chip_states(sizes, stack, states)
    n_layers = len(states)
    c = Component()
    cells: list[Component] = []
    crossings = 0
    for li in range(n_layers):
        vs, ss, us = states[li]
        n_in = sizes[li] + int(bias)
        cell = butterfly_layer(
            n_in=n_in,
            n_out=sizes[li + 1],
            v_states=vs,
            s_states=ss,
            u_states=us,
            layer=li,
            pitch=pitch,
            zero_state=zero_state,
            slot=slot,
            removed=removed,
            through=through,
            swap=swap,
            att=att,
            terminator=terminator,
            slot_settings=slot_settings,
            att_settings=att_settings,
            perm_settings=perm_settings,
        )
        crossings += int(cell.info["crossings"])
        cells.append(cell)
    rows = [int(cell.info["modes"]) for cell in cells]
    _stack_layers(c, cells, rows, bias=bias, stack=stack, layer_gap=layer_gap, pitch=pitch, heaters=_heater_ports)
    c.info["crossings"] = crossings
    return c
