"""Geometry checks of a layout with klayout.db regions (not by eye).

:func:`check_layout` walks the hierarchy of a GDS (or a gdsfactory component) once
per distinct cell and reports, with the cell, the instances and coordinates:

- ``overlap`` / ``spacing``: waveguides (``wg_layer``) of two sibling instances that
  overlap or come closer than ``min_wg_spacing`` anywhere except at the port where
  they are joined — two pieces of different nets touching;
- ``heater_spacing``: heater metal (``heater_layer``, flattened over the whole chip)
  of two different heaters closer than ``min_heater_spacing``;
- ``dangling``: an optical port of an instance that meets no other port and is not
  a port of its parent cell (every optical port connected).

Sibling pairs are checked in the frame of the first instance and cached by
(cell, cell, relative transformation), so a mesh of repeated slots costs little.

The layers and minima of the region (DRC-style) checks come from the active PDK
(:func:`gf_prune.design_rules.pdk_rules`, which cites where each figure comes from):

- ``wg_width`` / ``wg_space``: waveguide core narrower / closer than the PDK allows
  (merged, so two abutting pieces are one shape; terminator tips and grating
  couplers, tapered on purpose, are exempt: ``exempt_cells``);
- ``heater_width`` and ``heater_spacing`` (the ``heater_space`` rule) on the heater metal;
- ``metal_width`` / ``metal_space``: the routing metal (routes, pads, via tops);
- ``pad_size`` / ``pad_space``: the window of each instance of the PDK's pad cell.

Each violation names the instance path(s) of the shapes involved (``layer0/U0/mzi_U0_c3_r5/theta``)
and the location in the top cell (µm). :func:`port_gaps` pairs every optical port that
lost its partner with the nearest one that faces it: the gap of a moved instance.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import klayout.db as kdb

NON_OPTICAL = frozenset({"electrical", "pad", "dc", "placement"})
"""gdsfactory port types that carry no light (a pad's ``pad`` port, heater contacts): never ``dangling``."""

if TYPE_CHECKING:
    from gf_prune.design_rules import DesignRules

EXEMPT_CELLS: tuple[str, ...] = ("terminator", "grating_coupler")
"""Cells tapered on purpose (absorbing tips) or drawn by the foundry (couplers): no waveguide width/space check."""


@dataclass(frozen=True)
class Violation:
    """One failed check: what, where (µm, in ``cell`` coordinates) and which instances."""

    kind: str
    cell: str
    x: float
    y: float
    instances: tuple[str, ...]
    detail: str = ""

    def __str__(self) -> str:
        return (
            f"{self.kind} in {self.cell} at ({self.x:.3f}, {self.y:.3f}) µm: {', '.join(self.instances)} {self.detail}"
        )


@dataclass
class GeometryResult:
    """Outcome of :func:`check_layout`; truthy when every check passed."""

    violations: list[Violation] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    checked: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    rules: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def __bool__(self) -> bool:
        return self.ok

    def summary(self, limit: int = 10) -> str:
        if self.ok:
            return f"geometry checks passed ({self.checked})"
        lines = [f"{len(self.violations)} geometry violations ({self.counts}):"]
        lines += [f"  {v}" for v in self.violations[:limit]]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "counts": dict(self.counts),
            "checked": dict(self.checked),
            "timings_s": dict(self.timings_s),
            "rules": list(self.rules),
            "violations": [asdict(v) for v in self.violations[:100]],
        }


def _load(layout: Any) -> tuple[Any, str | None]:
    """(top cell, name of a temporary KCLayout to drop) from a component or a GDS path.

    A GDS is read into a fresh kfactory layout (ports, instance names and settings
    come back from the file), so it never clashes with cells built in this process.
    """
    if isinstance(layout, str | Path):
        import uuid

        import kfactory as kf

        name = f"gf_prune_check_{uuid.uuid4().hex[:8]}"
        kcl = kf.KCLayout(name)
        kcl.read(str(layout))
        tops = kcl.layout.top_cells()
        if len(tops) != 1:
            raise ValueError(f"{layout}: expected one top cell, found {[t.name for t in tops]}")
        return kcl[tops[0].cell_index()], name
    return layout, None


def check_layout(
    layout: Any,
    wg_layer: tuple[int, int] | None = None,
    heater_layer: tuple[int, int] | None = None,
    min_wg_spacing: float = 0.5,
    min_heater_spacing: float | None = None,
    max_violations: int = 1000,
    open_cells: tuple[str, ...] = ("terminator",),
    rules: DesignRules | None = None,
    exempt_cells: tuple[str, ...] = EXEMPT_CELLS,
) -> GeometryResult:
    """Run the checks of this module on ``layout`` (a GDS path or a component).

    Args:
        layout: path of a GDS written by gdsfactory (ports and instance names are
            read back from it) or a ``gf.Component``.
        wg_layer: waveguide core layer (default: the ``wg_width`` rule's layer).
        heater_layer: heater metal layer (default: the ``heater_width`` rule's layer).
        min_wg_spacing: smallest allowed gap between waveguides of different pieces (µm):
            gf_prune's own margin against coupling between nets, stricter than a foundry's space.
        min_heater_spacing: smallest allowed gap between two heaters (µm; default: the
            ``heater_space`` rule).
        max_violations: stop collecting after this many.
        open_cells: cells (name prefixes) whose inside may end in open ports, e.g. a
            terminator's absorbing tip; their own ports are still checked.
        rules: the rule table (default: :func:`~gf_prune.design_rules.pdk_rules` of the active PDK).
        exempt_cells: cells (name prefixes) left out of the width/space checks of the
            waveguide layer: tapered tips and the foundry's own couplers.
    """
    from gf_prune.design_rules import pdk_rules

    rules = rules or pdk_rules()
    wg_layer = wg_layer or rules["wg_width"].layer
    heater_layer = heater_layer or rules["heater_width"].layer
    if min_heater_spacing is None:
        min_heater_spacing = rules["heater_space"].value
    min_wg_spacing = max(min_wg_spacing, rules["wg_space"].value)
    comp, tmp_kcl = _load(layout)
    try:
        result = _check(comp, wg_layer, heater_layer, min_wg_spacing, min_heater_spacing, max_violations, open_cells)
        t0 = time.perf_counter()
        _region_checks(comp, rules, result, max_violations, exempt_cells)
        result.checked["rules"] = {r.name: r.value for r in rules.rules}
        result.checked["pdk"] = rules.pdk
        result.rules = rules.table()
        result.timings_s["region_checks"] = time.perf_counter() - t0
        return result
    finally:
        if tmp_kcl is not None:
            import kfactory as kf

            kf.kcls.pop(tmp_kcl, None)


def _check(
    comp: Any,
    wg_layer: tuple[int, int],
    heater_layer: tuple[int, int],
    min_wg_spacing: float,
    min_heater_spacing: float,
    max_violations: int,
    open_cells: tuple[str, ...],
) -> GeometryResult:
    kcl = comp.kcl
    ly: kdb.Layout = kcl.layout
    dbu = ly.dbu
    li_wg = ly.find_layer(*wg_layer)
    li_ht = ly.find_layer(*heater_layer)
    s_wg = round(min_wg_spacing / dbu)
    result = GeometryResult()
    counts: dict[str, int] = defaultdict(int)
    port_cache: dict[int, list[tuple[str, kdb.Trans, int, str]]] = {}
    pair_cache: dict[tuple[int, int, str], list[tuple[str, kdb.Box]]] = {}

    def add(v: Violation) -> None:
        counts[v.kind] += 1
        if len(result.violations) < max_violations:
            result.violations.append(v)

    def ports(ci: int) -> list[tuple[str, kdb.Trans, int, str]]:
        if ci not in port_cache:
            port_cache[ci] = _cell_ports(kcl, ci, dbu)
        return port_cache[ci]

    def pair_violations(ca: int, cb: int, rel: kdb.Trans) -> list[tuple[str, kdb.Box]]:
        key = (ca, cb, str(rel))
        if key in pair_cache:
            return pair_cache[key]
        if li_wg is None:
            return []
        # only the shapes near the other instance matter (big children: whole meshes)
        box_a = ly.cell(ca).bbox(li_wg).enlarged(s_wg, s_wg)
        box_b = ly.cell(cb).bbox(li_wg).transformed(rel).enlarged(s_wg, s_wg)
        window = box_a & box_b
        if window.empty():
            pair_cache[key] = []
            return []
        ra = kdb.Region(ly.cell(ca).begin_shapes_rec_overlapping(li_wg, window)).merged()
        rb = kdb.Region(ly.cell(cb).begin_shapes_rec_overlapping(li_wg, window.transformed(rel.inverted())))
        rb = rb.merged().transformed(rel)
        zone_boxes = []
        pb = {(rel * t).disp for _, t, _, ty in ports(cb) if ty not in NON_OPTICAL}
        for _, t, w, ty in ports(ca):
            if ty not in NON_OPTICAL and t.disp in pb:
                h = w // 2 + s_wg + 2
                zone_boxes.append(kdb.Box(t.disp.x - h, t.disp.y - h, t.disp.x + h, t.disp.y + h))
        zones = kdb.Region()
        for z in zone_boxes:
            zones.insert(z)
        out: list[tuple[str, kdb.Box]] = []
        both = ra & rb
        overlap = both - zones
        for poly in overlap.each():
            out.append(("overlap", poly.bbox()))
        near = kdb.Region()
        if s_wg > 0:
            for ep in ra.separation_check(rb, s_wg).each():
                box = ep.bbox()
                if any(z.contains(box.p1) and z.contains(box.p2) for z in zone_boxes):
                    continue  # the two pieces are joined here
                if not overlap.is_empty() and overlap.interacting(kdb.Region(box.enlarged(1, 1))).count():
                    continue  # already reported as an overlap
                near.insert(box.enlarged(1, 1))
        for poly in near.merged().each():
            out.append(("spacing", poly.bbox()))
        pair_cache[key] = out
        return out

    seen: set[int] = set()
    n_pairs = 0

    def walk(cell: Any) -> None:
        nonlocal n_pairs
        ci = cell.cell_index()
        if ci in seen:
            return
        seen.add(ci)
        insts = list(cell.insts)
        if not insts:
            return
        for inst in insts:
            walk(inst.cell)
        items = []
        port_map: dict[tuple[int, int], list[tuple[str, str, int, int, str]]] = defaultdict(list)
        for inst in insts:
            sub_ci = inst.cell.cell_index()
            t = inst.trans
            box = inst.instance.bbox(li_wg) if li_wg is not None else kdb.Box()
            items.append((inst.name or f"#{sub_ci}", sub_ci, t, box))
            for pname, pt, w, ty in ports(sub_ci):
                if ty in NON_OPTICAL:
                    continue
                q = t * pt
                port_map[q.disp.x, q.disp.y].append((inst.name or "?", pname, q.angle, w, ty))
        for pname, pt, w, ty in ports(ci):
            if ty not in NON_OPTICAL:
                port_map[pt.disp.x, pt.disp.y].append(("<cell>", pname, (pt.angle + 2) % 4, w, ty))
        # every optical instance port meets another (or is exported by the cell)
        for (x, y), plist in port_map.items() if not cell.name.startswith(open_cells) else ():
            for a in plist:
                if a[0] == "<cell>":
                    continue
                ok = any(b is not a and b[4] == a[4] and b[3] == a[3] and (b[2] - a[2]) % 4 == 2 for b in plist)
                if not ok:
                    add(Violation("dangling", cell.name, x * dbu, y * dbu, (a[0],), f"port {a[1]} is not connected"))
        # sibling waveguides: sweep over x-sorted boxes
        items.sort(key=lambda it: it[3].left)
        active: list[tuple[str, int, kdb.Trans, kdb.Box]] = []
        for it in items:
            name, sub_ci, t, box = it
            if box.empty():
                continue
            big = box.enlarged(s_wg, s_wg)
            active = [a for a in active if a[3].right + s_wg >= box.left]
            for other in active:
                if not big.overlaps(other[3]) and not big.touches(other[3]):
                    continue
                n_pairs += 1
                oname, oci, ot, _ = other
                rel = ot.inverted() * t
                for kind, vbox in pair_violations(oci, sub_ci, rel):
                    c = (ot * vbox).center()
                    add(
                        Violation(
                            kind, cell.name, c.x * dbu, c.y * dbu, (oname, name), f"({vbox.width() * dbu:.3f} µm)"
                        )
                    )
            active.append(it)

    walk(comp)
    # heaters, flattened: different heaters must keep their distance
    n_heaters = 0
    if li_ht is not None:
        top = ly.cell(comp.cell_index())
        heaters = kdb.Region(top.begin_shapes_rec(li_ht)).merged()
        n_heaters = heaters.count()
        s_ht = round(min_heater_spacing / dbu)
        for ep in heaters.isolated_check(s_ht).each():
            c = ep.bbox().center()
            add(
                Violation(
                    "heater_spacing",
                    comp.name,
                    c.x * dbu,
                    c.y * dbu,
                    _locate(ly, top, li_ht, ep.bbox()),
                    f"heaters {ep.distance() * dbu:.3f} µm apart (< {min_heater_spacing})",
                )
            )
    result.counts = dict(counts)
    result.checked = {"cells": len(seen), "sibling_pairs": n_pairs, "heater_polygons": n_heaters}
    return result


# ---------------------------------------------------------------------------- PDK rules


def _record(result: GeometryResult, v: Violation, max_violations: int) -> None:
    result.counts[v.kind] = result.counts.get(v.kind, 0) + 1
    if len(result.violations) < max_violations:
        result.violations.append(v)


def _inst_path(ly: kdb.Layout, it: kdb.RecursiveShapeIterator | kdb.RecursiveInstanceIterator) -> str:
    """Instance names from the top cell down to the current shape/instance (``layer0/U0/mzi_U0_c3_r5``)."""
    names = []
    for el in it.path():
        name = el.inst().property(0)
        names.append(str(name) if name is not None else ly.cell(el.cell_inst().cell_index).name)
    return "/".join(names)


def _locate(ly: kdb.Layout, top: kdb.Cell, li: int, box: kdb.Box, limit: int = 2) -> tuple[str, ...]:
    """Instance paths of the shapes on layer ``li`` that touch ``box`` (top-cell coordinates)."""
    out: list[str] = []
    it = top.begin_shapes_rec_touching(li, box.enlarged(1, 1))
    while not it.at_end() and len(out) < limit:
        path = _inst_path(ly, it) or top.name
        if path not in out:
            out.append(path)
        it.next()
    return tuple(out)


def _layer_region(ly: kdb.Layout, top: kdb.Cell, li: int, exempt: tuple[str, ...] = ()) -> kdb.Region:
    it = top.begin_shapes_rec(li)
    for prefix in exempt:
        it.unselect_cells(f"{prefix}*")
    return kdb.Region(it)


def _width_space(
    ly: kdb.Layout,
    top: kdb.Cell,
    rule: Any,
    kind: str,
    result: GeometryResult,
    max_violations: int,
    exempt: tuple[str, ...] = (),
    region: kdb.Region | None = None,
) -> int:
    """Width (``kind="width"``, projection metric) or space (euclidean) of one layer against ``rule``;
    returns the number of polygons checked."""
    from gf_prune.design_rules import SNAP_UM

    li = ly.find_layer(*rule.layer)
    if li is None:
        return 0
    if region is None:
        region = _layer_region(ly, top, li, exempt)
    d = round((rule.value - SNAP_UM) / ly.dbu)
    if d <= 0 or region.is_empty():
        return 0
    if kind == "width":
        pairs = region.width_check(d, False, kdb.Metrics.Projection)
    else:
        pairs = region.space_check(d, False, kdb.Metrics.Euclidian)
    for ep in pairs.each():
        box = ep.bbox()
        c = box.center()
        _record(
            result,
            Violation(
                rule.name,
                top.name,
                c.x * ly.dbu,
                c.y * ly.dbu,
                _locate(ly, top, li, box),
                f"{kind} {ep.distance() * ly.dbu:.3f} µm < {rule.value:g} µm (layer {rule.layer[0]}/{rule.layer[1]})",
            ),
            max_violations,
        )
    return region.count()


def _pad_windows(ly: kdb.Layout, top: kdb.Cell, li: int, pad_cell: str) -> list[tuple[str, kdb.Box]]:
    """(instance path, window box in top coordinates) of every placement of the PDK's pad cell."""
    pads = [
        ci
        for ci in range(ly.cells())
        if ly.is_valid_cell_index(ci)
        and (ly.cell(ci).name == pad_cell or ly.cell(ci).name.startswith(f"{pad_cell}_"))
        and not ly.cell(ci).bbox(li).empty()
    ]
    # a container of pads (``pad_array``) matches the name too: keep the innermost pad cells only
    pads = [ci for ci in pads if not any(other in pads for other in ly.cell(ci).called_cells())]
    if not pads:
        return []
    out = []
    it = kdb.RecursiveInstanceIterator(ly, top)
    it.targets = pads
    it.all_targets_enabled = False
    while not it.at_end():
        if it.inst_cell().cell_index() in pads:
            box = it.inst_cell().bbox(li).transformed(it.trans() * it.current_inst_element().specific_trans())
            name = it.current_inst_element().inst().property(0)
            path = "/".join(p for p in (_inst_path(ly, it), str(name) if name is not None else "") if p)
            out.append((path or it.inst_cell().name, box))
        it.next()
    return out


def _pad_checks(ly: kdb.Layout, top: kdb.Cell, rules: DesignRules, result: GeometryResult, max_violations: int) -> int:
    if not rules.pad_cell:
        return 0
    size, space = rules["pad_size"], rules["pad_space"]
    li = ly.find_layer(*size.layer)
    if li is None:
        return 0
    from gf_prune.design_rules import SNAP_UM

    pads = _pad_windows(ly, top, li, rules.pad_cell)
    dbu = ly.dbu
    for name, box in pads:
        w, h = box.width() * dbu, box.height() * dbu
        if min(w, h) < size.value - SNAP_UM:
            c = box.center()
            _record(
                result,
                Violation(
                    size.name, top.name, c.x * dbu, c.y * dbu, (name,), f"window {w:.3f} × {h:.3f} µm < {size.value:g}"
                ),
                max_violations,
            )
    d = round((space.value - SNAP_UM) / dbu)
    ordered = sorted(pads, key=lambda p: p[1].left)
    for i, (na, a) in enumerate(ordered):  # sweep in x: pads are few and spread out
        for nb, b in ordered[i + 1 :]:
            if b.left - a.right >= d:
                break
            dx = max(b.left - a.right, a.left - b.right, 0)
            dy = max(b.bottom - a.top, a.bottom - b.top, 0)
            gap = (dx * dx + dy * dy) ** 0.5
            if gap < d:
                c = (a + b).center()
                _record(
                    result,
                    Violation(
                        space.name,
                        top.name,
                        c.x * dbu,
                        c.y * dbu,
                        (na, nb),
                        f"{gap * dbu:.3f} µm apart < {space.value:g}",
                    ),
                    max_violations,
                )
    return len(pads)


def _first_placement(ly: kdb.Layout, top: kdb.Cell, ci: int) -> tuple[str, kdb.ICplxTrans, int]:
    """(instance path, transformation into the top cell, number of placements) of cell ``ci``."""
    if ci == top.cell_index():
        return top.name, kdb.ICplxTrans(), 1
    it = kdb.RecursiveInstanceIterator(ly, top)
    it.targets = [ci]
    it.all_targets_enabled = False
    first: tuple[str, kdb.ICplxTrans] | None = None
    n = 0
    while not it.at_end():
        if it.inst_cell().cell_index() == ci:
            n += 1
            if first is None:
                el = it.current_inst_element()
                name = el.inst().property(0)
                path = "/".join(p for p in (_inst_path(ly, it), str(name) if name is not None else "") if p)
                first = (path, it.trans() * el.specific_trans())
        it.next()
    return (first[0], kdb.ICplxTrans(first[1]), n) if first else (ly.cell(ci).name, kdb.ICplxTrans(), 0)


def _cells_outside(ly: kdb.Layout, top: kdb.Cell, exempt: tuple[str, ...]) -> list[int]:
    """Every cell reachable from ``top`` without entering a cell whose name starts with ``exempt``."""
    seen, stack = {top.cell_index()}, [top.cell_index()]
    while stack:
        for child in ly.cell(stack.pop()).each_child_cell():
            if child not in seen and not ly.cell(child).name.startswith(exempt):
                seen.add(child)
                stack.append(child)
    return sorted(seen)


def _per_cell(
    ly: kdb.Layout,
    top: kdb.Cell,
    rules: tuple[Any, ...],
    result: GeometryResult,
    max_violations: int,
    exempt: tuple[str, ...],
) -> int:
    """Width/space rules of one layer checked on each distinct cell's own shapes (merged), once per cell.

    Hierarchical: a mesh of repeated slots costs one check per slot cell. Gaps between the shapes
    of two sibling instances are the sibling check's (``spacing``, at least the rule's space).
    A violation names the cell's first placement (instance path) and says how many there are.
    """
    from gf_prune.design_rules import SNAP_UM

    li = ly.find_layer(*rules[0].layer)
    if li is None:
        return 0
    n = 0
    for ci in _cells_outside(ly, top, exempt):
        cell = ly.cell(ci)
        if cell.shapes(li).is_empty():
            continue
        region = kdb.Region(cell.shapes(li))
        n += region.count()
        for rule in rules:
            d = round((rule.value - SNAP_UM) / ly.dbu)
            if rule.name.endswith("width"):
                pairs = region.width_check(d, False, kdb.Metrics.Projection)
                what = "width"
            else:
                pairs = region.space_check(d, False, kdb.Metrics.Euclidian)
                what = "space"
            if pairs.is_empty():
                continue
            path, trans, count = _first_placement(ly, top, ci)
            for ep in pairs.each():
                c = trans * ep.bbox().center()
                more = f", and the same in its {count - 1} other placements" if count > 1 else ""
                _record(
                    result,
                    Violation(
                        rule.name,
                        top.name,
                        c.x * ly.dbu,
                        c.y * ly.dbu,
                        (path,),
                        f"{what} {ep.distance() * ly.dbu:.3f} µm < {rule.value:g} µm (layer "
                        f"{rule.layer[0]}/{rule.layer[1]}, cell {cell.name}{more})",
                    ),
                    max_violations,
                )
    return n


def _region_checks(
    comp: Any, rules: DesignRules, result: GeometryResult, max_violations: int, exempt: tuple[str, ...]
) -> None:
    """The width/space/pad rules of the PDK: waveguides cell by cell, metals and pads flattened."""
    ly: kdb.Layout = comp.kcl.layout
    top = ly.cell(comp.cell_index())
    n: dict[str, int] = {}
    n["wg_polygons"] = _per_cell(ly, top, (rules["wg_width"], rules["wg_space"]), result, max_violations, exempt)
    n["heater_metal_polygons"] = _width_space(ly, top, rules["heater_width"], "width", result, max_violations)
    li_mt = ly.find_layer(*rules["metal_width"].layer)
    mt = _layer_region(ly, top, li_mt) if li_mt is not None else None
    n["metal_polygons"] = _width_space(ly, top, rules["metal_width"], "width", result, max_violations, region=mt)
    _width_space(ly, top, rules["metal_space"], "space", result, max_violations, region=mt)
    n["pads"] = _pad_checks(ly, top, rules, result, max_violations)
    result.checked.update(n)


# ---------------------------------------------------------------------------- lost partners


@dataclass(frozen=True)
class PortGap:
    """An optical port of ``instance`` (in ``cell``) that meets no partner, and the nearest port
    that faces it (``partner``, ``<cell>`` for the cell's own port): ``dx, dy`` = this port's
    position minus the partner's (µm), ``x, y`` = this port's position in ``cell`` coordinates."""

    cell: str
    instance: str
    port: str
    partner: str
    partner_port: str
    gap: float
    dx: float
    dy: float
    x: float
    y: float


def port_gaps(layout: Any, max_gap: float = 20.0) -> list[PortGap]:
    """Every optical port of an instance that lost its partner (nothing meets it where it is),
    paired with the nearest unmatched port within ``max_gap`` µm that faces it (same width, type,
    opposite direction): the gap left by an instance moved in the GDS. Ports with no such
    neighbour are left out (a terminator's open tip is not a lost partner)."""
    comp, tmp_kcl = _load(layout)
    try:
        return _port_gaps(comp, max_gap)
    finally:
        if tmp_kcl is not None:
            import kfactory as kf

            kf.kcls.pop(tmp_kcl, None)


def _cell_ports(kcl: Any, ci: int, dbu: float) -> list[tuple[str, kdb.Trans, int, str]]:
    """(name, transformation in dbu, width, port type) of every port of cell ``ci``."""
    return [
        (p.name, p.base.trans or p.base.dcplx_trans.s_trans().to_itype(dbu), p.base.cross_section.width, p.port_type)
        for p in kcl[ci].ports
    ]


def _port_gaps(comp: Any, max_gap: float) -> list[PortGap]:
    kcl = comp.kcl
    dbu = kcl.layout.dbu
    cache: dict[int, list[tuple[str, kdb.Trans, int, str]]] = {}

    def ports(ci: int) -> list[tuple[str, kdb.Trans, int, str]]:
        if ci not in cache:
            cache[ci] = [p for p in _cell_ports(kcl, ci, dbu) if p[3] not in NON_OPTICAL]
        return cache[ci]

    out: list[PortGap] = []
    seen: set[int] = set()
    limit = max_gap / dbu

    def walk(cell: Any) -> None:
        if cell.cell_index() in seen:
            return
        seen.add(cell.cell_index())
        insts = list(cell.insts)
        for inst in insts:
            walk(inst.cell)
        # (owner, port, x, y, angle the partner must face, width, type)
        entries = []
        for inst in insts:
            for name, pt, w, ty in ports(inst.cell.cell_index()):
                q = inst.trans * pt
                entries.append((inst.name or "?", name, q.disp.x, q.disp.y, q.angle, w, ty))
        for name, pt, w, ty in ports(cell.cell_index()):
            entries.append(("<cell>", name, pt.disp.x, pt.disp.y, (pt.angle + 2) % 4, w, ty))

        def meets(a: tuple, b: tuple) -> bool:
            return a[5] == b[5] and a[6] == b[6] and (a[4] - b[4]) % 4 == 2

        at: dict[tuple[int, int], list[tuple]] = defaultdict(list)
        for e in entries:
            at[e[2], e[3]].append(e)
        lonely = [e for e in entries if not any(b is not e and meets(e, b) for b in at[e[2], e[3]])]
        for a in lonely:
            if a[0] == "<cell>":
                continue
            best = None
            for b in lonely:
                if b is a or b[0] == a[0] or not meets(a, b):
                    continue
                d = ((a[2] - b[2]) ** 2 + (a[3] - b[3]) ** 2) ** 0.5
                if d <= limit and (best is None or d < best[0]):
                    best = (d, b)
            if best is not None:
                d, b = best
                out.append(
                    PortGap(
                        cell.name,
                        a[0],
                        a[1],
                        b[0],
                        b[1],
                        d * dbu,
                        (a[2] - b[2]) * dbu,
                        (a[3] - b[3]) * dbu,
                        a[2] * dbu,
                        a[3] * dbu,
                    )
                )

    walk(comp)
    return out
