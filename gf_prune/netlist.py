"""Recursive netlists of gf_prune layouts: extraction (fast), loading, comparison.

:func:`extract_netlist` returns the same dict as gdsfactory's
``get_netlist_recursive`` (``Component.get_netlist(recursive=True)``) an order of
magnitude faster for large meshes; :func:`load_netlist` takes a component, a GDS
file or a run folder. Only public gdsfactory/kfactory API is used.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "activate_pdk",
    "core_cell",
    "extract_netlist",
    "load_netlist",
    "netlist_cache_path",
    "netlist_equal",
    "top_cell",
]


def extract_netlist(
    component: Any,
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
        import gdsfactory as gf
        import kfactory as kf

        activate_pdk()
        previous = kf.config.logfilter.regex
        if previous is None:  # a GDS built in this process clashes by name with its own cells: harmless
            kf.config.logfilter.regex = r"Name conflict"
        try:
            layout = gf.import_gds(path, rename_duplicated_cells=True)
        finally:
            kf.config.logfilter.regex = previous
    try:  # the layout compiler's extractor: same dict as get_netlist(recursive=True), faster
        recnet = extract_netlist(layout)
    except ValueError:
        recnet = layout.get_netlist(recursive=True)
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
