"""Recursive netlists of gf_prune layouts: extraction (fast), reading a GDS, loading, comparison.

:func:`extract_netlist` returns the same dict as gdsfactory's
``get_netlist_recursive`` (``Component.get_netlist(recursive=True)``) an order of
magnitude faster for large meshes; :func:`read_gds_netlist` returns what
``extract_netlist(gf.import_gds(path))`` returns, reading the file with ``klayout.db``
alone (about 5× faster at 64 modes: no gdsfactory ``Component``, no port objects);
:func:`load_netlist` takes a component, a GDS file or a run folder.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "UnreadableLayoutError",
    "activate_pdk",
    "core_cell",
    "extract_netlist",
    "load_netlist",
    "netlist_cache_path",
    "netlist_equal",
    "read_gds_netlist",
    "top_cell",
]


LEAF_CELLS = ("straight_heater", "terminator")
"""Cells whose inside (heater metal, vias, tapers) is not part of the optical netlist."""


def extract_netlist(
    component: Any,
    on_multi_connect: str = "error",
    leaf_cells: tuple[str, ...] = LEAF_CELLS,
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
            sub = gn.get_netlist_recursive(
                cell,
                on_multi_connect=on_multi_connect,  # type: ignore[arg-type]
                on_dangling_port="ignore",
                instance_namer=inst_namer,
                component_namer=gn.function_namer,
                netlist_namer=namer,
            )
            for key, value in sub.items():
                recnet.setdefault(key, value)
            return name
        net: dict[str, Any] = {"instances": {}, "placements": {}, "ports": {}, "nets": []}
        recnet[name] = net
        buckets: dict[tuple[int, int], list[tuple[str, int, int, str]]] = defaultdict(list)
        for inst in sorted(cell.insts, key=lambda i: i.name or ""):
            sub = inst.cell
            iname = inst_namer(inst)
            key = sub.cell_index()
            if key not in dumps:
                d = {
                    "component": gn.function_namer(sub),
                    "settings": sub.settings.model_dump(),
                    "info": sub.info.model_dump(),
                }
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
        _connect(net, buckets, cell_ports(cell), name, on_multi_connect, cell.kcl.dbu)
        return name

    insert(component)
    return recnet


def _connect(
    net: dict[str, Any],
    buckets: dict[tuple[int, int], list[tuple[str, int, int, str]]],
    cell_ports: list[tuple[str, Any, int, str]],
    name: str,
    on_multi_connect: str,
    dbu: float,
) -> None:
    """Nets and exposed ports of one cell from its instance ports bucketed by position (gdsfactory's rule:
    same place, type and width, and — optical — opposite orientation)."""
    for pname, ptrans, width, ptype in cell_ports:
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
            where = f"({x * dbu:.3f}, {y * dbu:.3f})"
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


class UnreadableLayoutError(ValueError):
    """A GDS that :func:`read_gds_netlist` does not read itself (gdsfactory's importer then does)."""


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def read_gds_netlist(
    path: str | Path,
    on_multi_connect: str = "error",
    leaf_cells: tuple[str, ...] = LEAF_CELLS,
) -> dict[str, Any]:
    """Recursive netlist of a GDS file, read with ``klayout.db`` alone.

    The same dict as ``extract_netlist(gf.import_gds(path))`` — cells, instance names,
    settings, info, placements, exposed ports and nets — from the same data: the
    instances, their transformations and ``PROPID.NAME`` properties in the file, and each
    cell's kfactory metadata (function name, settings, info, ports with their
    transformation, cross-section and type) that gdsfactory writes into the GDS and its
    importer reads back. It skips building a gdsfactory ``Component`` and a port object per
    port. Anything it does not reproduce exactly (an instance without a clean explicit name,
    arrays, off-grid instances or ports, cells without metadata, several top cells) raises
    :class:`UnreadableLayoutError`: :func:`load_netlist` then takes gdsfactory's path.
    """
    import klayout.db as kdb
    from gdsfactory.serialization import clean_value_json
    from kfactory.settings import Info, KCellSettings

    layout = kdb.Layout()
    layout.read(str(path))
    tops = layout.top_cells()
    if len(tops) != 1:
        raise UnreadableLayoutError(f"{path}: {len(tops)} top cells")
    widths = {
        m.name.removeprefix("kfactory:cross_section:"): m.value.get("width")
        for m in layout.each_meta_info()
        if m.name.startswith("kfactory:cross_section:")
    }
    meta: dict[int, tuple[str, dict[str, Any], dict[str, Any], _PortTable]] = {}

    def cell_meta(key: int) -> tuple[str, dict[str, Any], dict[str, Any], _PortTable]:
        if key not in meta:
            cell = layout.cell(key)
            fields: dict[str, Any] = {}
            ports: dict[str, dict[str, Any]] = {}
            for m in cell.each_meta_info():
                if m.name.startswith("kfactory:ports:"):
                    ports[m.name.removeprefix("kfactory:ports:")] = m.value
                else:
                    fields[m.name] = m.value
            plist = []
            for k in sorted(ports):  # kfactory's order (keys compared as strings)
                v = ports[k]
                width, t = widths.get(v.get("cross_section")), v.get("trans")
                if t is None or width is None:
                    raise UnreadableLayoutError(f"cell {cell.name}: port {v.get('name')!r} off-grid or unknown width")
                plist.append((v["name"], t.disp.x, t.disp.y, t.angle, width, v["port_type"]))
            base = fields.get("kfactory:function_name") or fields.get("kfactory:basename") or cell.name
            settings = KCellSettings(**fields.get("kfactory:settings", {})).model_dump()
            info = Info(**fields.get("kfactory:info", {})).model_dump()
            meta[key] = (base, settings, info, _PortTable.of(plist))
        return meta[key]

    used: set[str] = set()
    names: dict[int, str] = {}

    def cell_name(key: int) -> str:  # gdsfactory's CountedNetlistNamer
        if key not in names:
            base = name = cell_meta(key)[0]
            if base in used:
                stem = base if re.sub("[0-9]*$", "", base) == base else f"{base}_"
                index = 2
                while (name := f"{stem}{index}") in used:
                    index += 1
            names[key] = name
            used.add(name)
        return names[key]

    dumps: dict[int, dict[str, Any]] = {}
    recnet: dict[str, Any] = {}

    def insert(key: int) -> str:
        name = cell_name(key)
        if name in recnet:
            return name
        cell = layout.cell(key)
        net: dict[str, Any] = {"instances": {}, "placements": {}, "ports": {}, "nets": []}
        recnet[name] = net
        insts = []
        for inst in cell.each_inst():
            iname, sub = inst.property(0), inst.cell_index  # kfactory's PROPID.NAME
            base = cell_meta(sub)[0]
            if not isinstance(iname, str) or not _NAME.fullmatch(iname) or iname.startswith(f"{base}_"):
                raise UnreadableLayoutError(f"cell {cell.name}: an instance of {base} has no plain name")
            if inst.is_regular_array() or inst.is_complex():
                raise UnreadableLayoutError(f"cell {cell.name}: instance {iname} is an array or off-grid")
            insts.append((iname, sub, inst.trans, inst.dcplx_trans))
        insts.sort(key=lambda t: t[0])
        for iname, sub, _, t in insts:
            base, settings, info, _ = cell_meta(sub)
            if sub not in dumps:
                d = {"component": base, "settings": settings, "info": info}
                if layout.cell(sub).child_cells() and not base.startswith(leaf_cells):
                    d["component"] = insert(sub)
                dumps[sub] = clean_value_json(d)
            net["instances"][iname] = dict(dumps[sub])
            net["placements"][iname] = {
                "x": round(t.disp.x, 3),
                "y": round(t.disp.y, 3),
                "rotation": round(t.angle, 3),
                "mirror": t.is_mirror(),
            }
        _connect_tables(
            net, insts, [cell_meta(i[1])[3] for i in insts], cell_meta(key)[3], name, on_multi_connect, layout.dbu
        )
        return name

    insert(tops[0].cell_index())
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


@dataclass(frozen=True)
class _PortTable:
    """A cell's ports as arrays (kfactory's order): name, x, y (dbu), angle (×90°), width (dbu), type."""

    names: list[str]
    x: np.ndarray
    y: np.ndarray
    angle: np.ndarray
    width: np.ndarray
    kind: list[str]

    @classmethod
    def of(cls, ports: list[tuple[str, int, int, int, int, str]]) -> _PortTable:
        cols = list(zip(*ports, strict=True)) if ports else [[] for _ in range(6)]
        return cls(
            list(cols[0]),
            *(np.asarray(c, dtype=np.int64) for c in cols[1:5]),
            list(cols[5]),  # type: ignore[arg-type]
        )


def _connect_tables(
    net: dict[str, Any],
    insts: list[tuple[str, int, Any, Any]],
    tables: list[_PortTable],
    own: _PortTable,
    name: str,
    on_multi_connect: str,
    dbu: float,
) -> None:
    """:func:`_connect` for instance ports given as arrays: every port placed by numpy, ports grouped by
    position with one sort; the records keep :func:`_connect`'s order, so its pairs and errors are the same."""
    kinds = {k: i for i, k in enumerate(sorted({k for t in [*tables, own] for k in t.kind}))}
    counts = np.array([t.x.size for t in tables] + [own.x.size], dtype=np.int64)
    rec_inst = np.repeat(np.arange(counts.size), counts)  # last index: the cell's own ports
    rec_port = np.arange(rec_inst.size) - np.repeat(np.cumsum(counts) - counts, counts)
    cat = [*tables, own]
    px = np.concatenate([t.x for t in cat])
    py = np.concatenate([t.y for t in cat])
    pa = np.concatenate([t.angle for t in cat])
    width = np.concatenate([t.width for t in cat])
    kind = np.array([kinds[k] for t in cat for k in t.kind], dtype=np.int64)
    tr = np.array([(t.disp.x, t.disp.y, t.angle, t.is_mirror()) for _, _, t, _ in insts] + [(0, 0, 2, False)])
    dx, dy, rot, mirror = (tr[rec_inst, i].astype(np.int64) for i in range(4))
    own_rec = rec_inst == len(insts)
    py_m = np.where(mirror == 1, -py, py)  # kdb.Trans: mirror at the x axis, then rotate
    xr = np.choose(rot % 4, [px, -py_m, -px, py_m])
    yr = np.choose(rot % 4, [py_m, px, -py_m, -px])
    x, y = np.where(own_rec, px, dx + xr), np.where(own_rec, py, dy + yr)
    angle = np.where(own_rec, (pa + 2) % 4, (rot + np.where(mirror == 1, -pa, pa)) % 4)
    elec = kinds.get("electrical", -1)

    def label(r: int) -> str:
        i, p = int(rec_inst[r]), int(rec_port[r])
        return cat[i].names[p] if i == len(insts) else f"{insts[i][0]},{cat[i].names[p]}"

    def match(a: int, b: int) -> bool:
        return bool(kind[a] == kind[b] and width[a] == width[b] and (kind[a] == elec or (angle[a] - angle[b]) % 4 == 2))

    order = np.lexsort((y, x))  # stable: a position's records stay in insertion order
    xs, ys = x[order], y[order]
    new = np.concatenate([[True], (xs[1:] != xs[:-1]) | (ys[1:] != ys[:-1])]) if order.size else np.zeros(0, bool)
    starts = np.flatnonzero(new)
    sizes = np.diff(np.concatenate([starts, [order.size]]))
    pairs: list[tuple[int, int]] = []
    two = starts[sizes == 2]
    a, b = order[two], order[two + 1]
    ok = (kind[a] == kind[b]) & (width[a] == width[b]) & ((kind[a] == elec) | ((angle[a] - angle[b]) % 4 == 2))
    pairs += list(zip(a[ok].tolist(), b[ok].tolist(), strict=True))
    groups = [order[s : s + k] for s, k in zip(starts[sizes > 2], sizes[sizes > 2], strict=True)]
    for recs in sorted(groups, key=lambda g: int(g.min())):
        recs = np.sort(recs)
        found = [(int(p), int(q)) for i, p in enumerate(recs) for q in recs[i + 1 :] if match(int(p), int(q))]
        if len(found) > 1 and on_multi_connect == "error":
            where = f"({x[recs[0]] * dbu:.3f}, {y[recs[0]] * dbu:.3f})"
            raise ValueError(f"{name}: more than two ports meet at {where}: {[label(int(r)) for r in recs]}")
        pairs += found
    for p, q in pairs:
        p1, p2 = sorted((label(p), label(q)))
        if "," not in p1:
            net["ports"][p1] = p2
        elif "," not in p2:
            net["ports"][p2] = p1
        else:
            net["nets"].append({"p1": p1, "p2": p2})
    net["nets"].sort(key=lambda n: (n["p1"], n["p2"]))


NETLIST_CACHE_VERSION = 1
"""Bumped whenever :func:`extract_netlist` changes what it returns (old caches are then ignored)."""


def netlist_cache_path(gds: str | Path) -> Path:
    """Where :func:`load_netlist` keeps the netlist read back from ``gds``: ``<stem>.netlist.json`` beside it."""
    gds = Path(gds)
    return gds.with_name(f"{gds.stem}.netlist.json")


def _cache_key(path: Path) -> dict[str, Any]:
    import hashlib

    import gdsfactory as gf

    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"gds_sha256": h.hexdigest(), "gdsfactory": gf.__version__, "version": NETLIST_CACHE_VERSION}


def load_netlist(layout: Any, cache: bool = False) -> dict[str, Any]:
    """Recursive netlist of a ``gf.Component``, a ``.gds`` file, a folder holding
    ``network.gds``, or an already extracted recursive netlist (returned as is).

    With ``cache`` (a file only), the netlist read back from the GDS is kept in
    :func:`netlist_cache_path`, keyed by the SHA-256 of the GDS bytes (and the gdsfactory and
    extractor versions): the file is read back once, and every later check of the same bytes
    reuses that read (``gf-prune verify`` again, the λ sweep, a re-run). A changed GDS, a
    missing or unreadable cache file means reading the GDS again.
    """
    if isinstance(layout, Mapping):
        return dict(layout)
    key = cache_file = None
    if isinstance(layout, str | Path):
        path = Path(layout)
        if path.is_dir():
            path = path / "network.gds"
        if not path.is_file():
            raise FileNotFoundError(f"missing layout file {path}")
        if cache:
            key, cache_file = _cache_key(path), netlist_cache_path(path)
            try:
                stored = json.loads(cache_file.read_text())
                if stored.get("key") == key:
                    return stored["netlist"]
            except (OSError, ValueError, AttributeError):
                pass
        try:
            recnet = read_gds_netlist(path)
        except UnreadableLayoutError:
            layout = _import_gds(path)
        else:
            return _cached(recnet, key, cache_file)
    try:  # the layout compiler's extractor: same dict as get_netlist(recursive=True), faster
        recnet = extract_netlist(layout)
    except ValueError:
        recnet = layout.get_netlist(recursive=True)
    return _cached(recnet, key, cache_file)


def _import_gds(path: Path) -> Any:
    """gdsfactory's own import of a GDS (a ``Component``)."""
    import gdsfactory as gf
    import kfactory as kf

    activate_pdk()
    previous = kf.config.logfilter.regex
    if previous is None:  # a GDS built in this process clashes by name with its own cells: harmless
        kf.config.logfilter.regex = r"Name conflict"
    try:
        return gf.import_gds(path, rename_duplicated_cells=True)
    finally:
        kf.config.logfilter.regex = previous


def _cached(recnet: dict[str, Any], key: dict[str, Any] | None, cache_file: Path | None) -> dict[str, Any]:
    """``recnet``, kept in ``cache_file`` under ``key`` when given (returned as read back from JSON)."""
    if cache_file is not None:
        from gf_prune.io import atomic_write_text

        try:  # JSON round trip: the cached netlist is exactly what a later call returns
            text = json.dumps({"key": key, "netlist": recnet})
        except TypeError:
            return recnet
        atomic_write_text(cache_file, text)
        return json.loads(text)["netlist"]
    return recnet


def top_cell(recnet: Mapping[str, Any]) -> str:
    """Name of the one cell of a recursive netlist that no other cell instantiates."""
    used = {spec["component"] for net in recnet.values() for spec in net.get("instances", {}).values()}
    tops = [name for name in recnet if name not in used]
    if len(tops) != 1:
        raise ValueError(f"cannot tell the top cell of the netlist: candidates {tops}")
    return tops[0]


def core_cell(recnet: Mapping[str, Any]) -> str | None:
    """Netlist cell of the network chip when the top cell wraps it as instance ``core``
    (:data:`gf_prune.naming.CORE_INSTANCE`: a tape-out top with optical I/O and pads), else None."""
    from gf_prune.naming import CORE_INSTANCE

    spec = recnet.get(top_cell(recnet), {}).get("instances", {}).get(CORE_INSTANCE)
    return spec["component"] if spec and spec.get("component") in recnet else None


def activate_pdk() -> None:
    """Activate gdsfactory's generic PDK unless a PDK is already active."""
    import gdsfactory as gf

    try:
        gf.get_active_pdk()
    except ValueError:
        gf.gpdk.PDK.activate()
