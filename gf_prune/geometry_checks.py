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
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import klayout.db as kdb


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
    wg_layer: tuple[int, int] = (1, 0),
    heater_layer: tuple[int, int] = (47, 0),
    min_wg_spacing: float = 0.5,
    min_heater_spacing: float = 10.0,
    max_violations: int = 1000,
    open_cells: tuple[str, ...] = ("terminator",),
) -> GeometryResult:
    """Run the checks of this module on ``layout`` (a GDS path or a component).

    Args:
        layout: path of a GDS written by gdsfactory (ports and instance names are
            read back from it) or a ``gf.Component``.
        wg_layer: waveguide core layer.
        heater_layer: heater metal layer.
        min_wg_spacing: smallest allowed gap between waveguides of different pieces (µm).
        min_heater_spacing: smallest allowed gap between two heaters (µm).
        max_violations: stop collecting after this many.
        open_cells: cells (name prefixes) whose inside may end in open ports, e.g. a
            terminator's absorbing tip; their own ports are still checked.
    """
    comp, tmp_kcl = _load(layout)
    try:
        return _check(comp, wg_layer, heater_layer, min_wg_spacing, min_heater_spacing, max_violations, open_cells)
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
            port_cache[ci] = [
                (
                    p.name,
                    p.base.trans or p.base.dcplx_trans.s_trans().to_itype(dbu),
                    p.base.cross_section.width,
                    p.port_type,
                )
                for p in kcl[ci].ports
            ]
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
        pb = {(rel * t).disp for _, t, _, ty in ports(cb) if ty != "electrical"}
        for _, t, w, ty in ports(ca):
            if ty != "electrical" and t.disp in pb:
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
                if ty == "electrical":
                    continue
                q = t * pt
                port_map[q.disp.x, q.disp.y].append((inst.name or "?", pname, q.angle, w, ty))
        for pname, pt, w, ty in ports(ci):
            if ty != "electrical":
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
                    (),
                    f"heaters {ep.distance() * dbu:.3f} µm apart (< {min_heater_spacing})",
                )
            )
    result.counts = dict(counts)
    result.checked = {"cells": len(seen), "sibling_pairs": n_pairs, "heater_polygons": n_heaters}
    return result
