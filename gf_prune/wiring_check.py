"""Connectivity and spacing of the heater wiring, read back from the GDS (klayout.db).

:func:`check_wiring` extracts the metal nets of a wired chip with ``klayout.db.LayoutToNetlist``:
each metal and via layer of the PDK's heater via stack (``via_stack_heater_mtop``: generic M2, VIA2,
M3; cspdk PAD) is merged and followed through the vias; the heater metal itself (a resistor) is not
a conductor here. Then:

- every pad (TEXT label ``pad_N…``/``pad_S…`` at its centre) lies on a net;
- a signal pad's net holds exactly one heater terminal, that of the heater the pad table names,
  and no other pad; a ground pad's net holds heater terminals only of heaters whose other terminal
  is on their own signal pad;
- every live heater (TEXT label ``{instance}_{kind}``) has one terminal on its signal pad and the
  other on a ground pad;
- metal of different nets on the routing layer is at least ``min_spacing`` apart
  (:func:`gf_prune.wiring.min_metal_spacing` cites the number per PDK).

A heater terminal is where the via stack's lowest metal overlaps the heater metal, at either end
of the heater (generic: M2, only in via stacks; cspdk: PAD, where a route crossing the heater lies
between the two ends). Each failure names the
pad or heater instance and the place (µm).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gdsfactory as gf
import klayout.db as kdb

from gf_prune.naming import LABEL_PATTERN

__all__ = ["WiringCheck", "check_wiring", "stack_layers"]

_PAD = re.compile(r"^pad_[NS]\d+$")
_HEATER = re.compile(LABEL_PATTERN)
TEXT_LAYER = (66, 0)


@dataclass
class WiringCheck:
    """Result of :func:`check_wiring`; truthy when there is no problem."""

    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def __bool__(self) -> bool:
        return self.ok

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": self.problems[:50], "n_problems": len(self.problems), **self.counts}


def _layer_tuple(layer: Any) -> tuple[int, int]:
    info = gf.get_layer_info(layer)
    return int(info.layer), int(info.datatype)


def stack_layers(via_stack: Any = "via_stack_heater_mtop", heater_xs: Any = "heater_metal") -> dict[str, Any]:
    """Metal and via layers of the active PDK's heater via stack, the heater layer, the routing layer."""
    pdk = gf.get_active_pdk()
    names = {tuple(layer): layer.name for layer in pdk.layers}
    heater = _layer_tuple(gf.get_cross_section(heater_xs).layer)
    routing = _layer_tuple(gf.get_cross_section("metal_routing").layer)
    layers = [tuple(x) for x in gf.get_component(via_stack).layers if tuple(x) != heater]
    vias = [x for x in layers if names.get(x, "").upper().startswith("VIA")]
    metals = [x for x in layers if x not in vias]
    if routing not in metals:
        metals.append(routing)
    return {"metals": metals, "vias": vias, "heater": heater, "routing": routing}


class _BoxIndex:
    """Polygons bucketed by a coarse grid of their bounding boxes (lookups near a box)."""

    def __init__(self, polys: list[Any], cell: int = 200_000) -> None:
        self.cell = cell
        self.grid: dict[tuple[int, int], list[Any]] = {}
        for q in polys:
            for key in self._keys(q.bbox()):
                self.grid.setdefault(key, []).append(q)

    def _keys(self, b: Any) -> list[tuple[int, int]]:
        c = self.cell
        return [(i, j) for i in range(b.left // c, b.right // c + 1) for j in range(b.bottom // c, b.top // c + 1)]

    def overlapping(self, box: Any) -> list[Any]:
        seen: dict[int, Any] = {}
        for key in self._keys(box):
            for q in self.grid.get(key, ()):
                seen[id(q)] = q
        return list(seen.values())


def _net_at(l2n: kdb.LayoutToNetlist, layers: list[Any], pt: kdb.DPoint) -> Any:
    for layer in layers:
        net = l2n.probe_net(layer, pt)
        if net is not None:
            return net
    return None


def check_wiring(
    gds: str | Path,
    pad_rows: list[dict[str, Any]],
    min_spacing: float,
    layers: dict[str, Any] | None = None,
) -> WiringCheck:
    """Check the wiring of ``gds`` against the pad table ``pad_rows`` (``pads.csv`` rows)."""
    layers = layers or stack_layers()
    ly = kdb.Layout()
    ly.read(str(gds))
    top = ly.top_cell()
    flat = kdb.Layout()  # only the conductors, flat: one circuit, nets keyed by cluster id
    flat.dbu = ly.dbu
    ftop = flat.create_cell("wiring")
    for lay in (*layers["metals"], *layers["vias"]):
        ftop.shapes(flat.layer(*lay)).insert(kdb.Region(top.begin_shapes_rec(ly.layer(*lay))))
    l2n = kdb.LayoutToNetlist(kdb.RecursiveShapeIterator(flat, ftop, []))
    metals = [l2n.make_layer(flat.layer(*m), f"m{i}") for i, m in enumerate(layers["metals"])]
    vias = [l2n.make_layer(flat.layer(*v), f"v{i}") for i, v in enumerate(layers["vias"])]
    for m in metals:
        l2n.connect(m)
    for v in vias:
        l2n.connect(v)
        for m in metals:
            l2n.connect(v, m)
    l2n.extract_netlist()
    dbu = ly.dbu
    texts = kdb.Texts(top.begin_shapes_rec(ly.layer(*TEXT_LAYER)))
    pads, heater_labels = {}, {}
    for t in texts.each():
        s = t.string
        pos = kdb.DPoint(t.x * dbu, t.y * dbu)
        if _PAD.match(s):
            pads[s] = pos
        elif (m := _HEATER.match(s)) is not None:
            heater_labels[f"{m['instance']}_{m['kind']}"] = pos
    problems: list[str] = []

    # heater terminals: via-stack metal over the heater metal, nearest the label first
    heat = kdb.Region(top.begin_shapes_rec(ly.layer(*layers["heater"]))).merged()
    lowest = [m for m in layers["metals"] if m != layers["routing"]] or [layers["routing"]]
    touch = (kdb.Region(top.begin_shapes_rec(ly.layer(*lowest[0]))).merged() & heat).merged()
    polys = _BoxIndex(list(heat.each()))
    pieces = _BoxIndex(list(touch.each()))
    term_net: dict[str, list[Any]] = {}
    net_terms: dict[int, list[str]] = {}
    for name, pos in heater_labels.items():
        p = kdb.Point(round(pos.x / dbu), round(pos.y / dbu))
        near = kdb.Box(p, p).enlarged(kdb.Vector(1000, 1000))
        hp = next((q for q in polys.overlapping(near) if q.bbox().enlarged(kdb.Vector(1000, 1000)).contains(p)), None)
        if hp is None:
            problems.append(f"heater {name} at ({pos.x:.1f}, {pos.y:.1f}) µm: no heater metal under its label")
            continue
        # the two ends along the heater's long axis (a route crossing the heater lies between them)
        hb = hp.bbox()
        axis = 0 if hb.width() >= hb.height() else 1
        mine = sorted(
            (q for q in pieces.overlapping(hb) if q.bbox().overlaps(hb)),
            key=lambda q: (q.bbox().center().x, q.bbox().center().y)[axis],
        )
        if len(mine) < 2:
            problems.append(f"heater {name} at ({pos.x:.1f}, {pos.y:.1f}) µm: {len(mine)} metal contact(s), expected 2")
            continue
        mine = sorted([mine[0], mine[-1]], key=lambda q: q.bbox().center().distance(p))
        nets = [_net_at(l2n, metals, kdb.DPoint(q.bbox().center().x * dbu, q.bbox().center().y * dbu)) for q in mine]
        term_net[name] = nets
        for k, n in enumerate(nets):
            if n is not None:
                net_terms.setdefault(n.cluster_id, []).append(f"{name}.t{k + 1}")

    pad_net: dict[str, Any] = {}
    net_pads: dict[int, list[str]] = {}
    for name, pos in pads.items():
        n = _net_at(l2n, metals, pos)
        pad_net[name] = n
        if n is None:
            problems.append(f"pad {name} at ({pos.x:.1f}, {pos.y:.1f}) µm: no metal under the pad's label")
            continue
        net_pads.setdefault(n.cluster_id, []).append(name)

    expected = {str(r["pad"]): r for r in pad_rows}
    for name in sorted(set(expected) - set(pads)):
        r = expected[name]
        problems.append(
            f"pad {name} of {r['net']} at ({float(r['x_um']):.1f}, {float(r['y_um']):.1f}) µm: not in the GDS"
        )
    signal_of: dict[str, str] = {}
    for name, pos in sorted(pads.items()):
        n = pad_net[name]
        if n is None:
            continue
        where = f"pad {name} at ({pos.x:.1f}, {pos.y:.1f}) µm"
        others = [q for q in net_pads[n.cluster_id] if q != name]
        if others:
            problems.append(f"{where}: shorted to pad(s) {', '.join(others)}")
        terms = net_terms.get(n.cluster_id, [])
        row = expected.get(name)
        if row is None:
            problems.append(f"{where}: not in the pad table")
            continue
        if row["kind"] == "ground":
            want = set(str(row["heater_instance"]).split(";"))
            got = {t.rsplit(".", 1)[0] for t in terms}
            if not terms:
                problems.append(f"{where} (ground): reaches no heater terminal")
            if got - want:
                problems.append(f"{where} (ground): also reaches {', '.join(sorted(got - want))}")
            if want - got:
                problems.append(f"{where} (ground): does not reach {', '.join(sorted(want - got))}")
            continue
        heater = str(row["net"])
        if len(terms) != 1:
            what = "no heater terminal" if not terms else f"{len(terms)} heater terminals ({', '.join(terms)})"
            problems.append(f"{where} (heater {heater}): reaches {what}, expected exactly one")
        elif terms[0].rsplit(".", 1)[0] != heater:
            problems.append(f"{where}: reaches {terms[0]}, the pad table says heater {heater}")
        else:
            signal_of[heater] = name
    for name, nets in sorted(term_net.items()):
        on_pad = [bool(n is not None and net_pads.get(n.cluster_id)) for n in nets]
        if not all(on_pad):
            pos = heater_labels[name]
            k = on_pad.index(False) + 1
            problems.append(f"heater {name} at ({pos.x:.1f}, {pos.y:.1f}) µm: terminal t{k} reaches no pad")

    spacing = kdb.Region(top.begin_shapes_rec(ly.layer(*layers["routing"]))).merged()
    pairs = spacing.isolated_check(round(min_spacing / dbu))
    for ep in pairs.each():
        c = ep.bbox().center()
        problems.append(
            f"metal spacing {ep.distance() * dbu:.2f} µm < {min_spacing:g} µm at ({c.x * dbu:.1f}, {c.y * dbu:.1f}) µm"
        )
    counts = {"pads": len(pads), "heaters": len(heater_labels), "spacing_violations": pairs.count()}
    return WiringCheck(problems, counts)
