"""Diagnosis of a failed verification: which slot or net of a block is wrong.

:func:`diagnose_block` names the first slot (in the order light meets it) whose local
transfer differs from the convention (:mod:`gf_prune.physics`) after the block's
common phase, or the first optical net that joins two different modes; for an MZI
whose transfer is a convention MZI with other phases it names the heater (θ/φ) and
its offset (:func:`gf_prune.physics.mzi_phases`). Slots are found by their names
(:mod:`gf_prune.naming`); the S-matrices come from :mod:`gf_prune.circuit`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gf_prune.circuit import CompiledCircuit, _Cell, _Evaluation, _split
from gf_prune.naming import (
    SLOT_IN_PORTS,
    SLOT_OUT_PORTS,
    parse_mode_port,
    parse_passthrough,
    parse_slot,
    row_of,
)
from gf_prune.physics import mzi_transfer, wrap_to_pi

__all__ = ["diagnose_block", "find_blocks", "lost_partners", "rel_error", "slot_tag"]


def slot_tag(name: str) -> tuple[int, str, int, int] | None:
    """(layer, mesh, column, row) of an MZI or attenuator instance name, else None
    (:func:`gf_prune.naming.parse_slot` as a tuple)."""
    slot = parse_slot(name)
    return None if slot is None else (slot.layer, slot.mesh, slot.column, slot.row)


class _Hierarchy:
    """Navigation of a :class:`CompiledCircuit` by instance path."""

    def __init__(self, cc: CompiledCircuit) -> None:
        self.cc = cc
        self._tags: dict[str, frozenset] = {}

    def tags(self, cell: _Cell) -> frozenset:
        """(layer, mesh) of every MZI/attenuator instance below ``cell``."""
        if cell.name not in self._tags:
            acc: set = set()
            for g in cell.groups:
                for inst in g.names:
                    t = slot_tag(inst)
                    if t is not None:
                        acc.add(t[:2])
                    elif g.sub is not None:
                        acc |= self.tags(self.cc.cell(g.sub))
            self._tags[cell.name] = frozenset(acc)
        return self._tags[cell.name]

    def find(self, want: frozenset, cell: _Cell | None = None, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
        """Highest instance paths whose subtree holds exactly the slots ``want`` (and is not a slot)."""
        cell = cell or self.cc.top
        hits = []
        for g in cell.groups:
            if g.sub is None:
                continue
            for inst in g.names:
                if slot_tag(inst) is not None:
                    continue
                sub = self.cc.cell(g.sub)
                t = self.tags(sub)
                if t == want:
                    hits.append((*path, inst))
                elif want <= t:
                    hits.extend(self.find(want, sub, (*path, inst)))
        return hits


def rel_error(s: np.ndarray, m: np.ndarray) -> tuple[float, float]:
    """(min_α ‖S − e^{iα}M‖_F / ‖M‖_F, α): relative error after one global phase."""
    ip = np.vdot(m, s)
    alpha = float(np.angle(ip)) if abs(ip) > 0 else 0.0
    den = float(np.linalg.norm(m))
    err = float(np.linalg.norm(s - np.exp(1j * alpha) * m)) / (den if den > 0 else 1.0)
    return err, alpha


def _expected_slot(net: Any, name: str) -> np.ndarray | None:
    """Expected local transfer (out ← in) of a slot instance in the convention."""
    from gf_prune.physics import attenuator_transfer

    tag = slot_tag(name)
    zs = net.zero_state
    if tag is None:
        return np.ones((1, 1), dtype=complex) if parse_passthrough(name) is not None else None
    layer, mesh, col, row = tag
    lp = net.layers[layer]
    if mesh == "S":
        return np.array([[attenuator_transfer(lp.S.theta_eff[row], lp.S.phi_eff[row], zs)]])
    m = getattr(lp, mesh)
    k = m.topo.index(col, row)
    return mzi_transfer(m.theta_eff[k], m.phi_eff[k], zs)


def _local_block(name: str, ports: list[str], s: np.ndarray) -> np.ndarray:
    idx = {p: i for i, p in enumerate(ports)}
    if _is_mzi(name):
        return s[np.ix_([idx[p] for p in SLOT_OUT_PORTS], [idx[p] for p in SLOT_IN_PORTS])]
    return s[np.ix_([idx["o2"]], [idx["o1"]])]


def _common_phase(alphas: np.ndarray, cells: Sequence[str], ok: np.ndarray) -> float:
    """The phase the slots of a block share (its columns' common phase).

    Only slots whose local transfer has the right shape vote; among the phases they
    agree on, the one shared by the most different cells wins (a wrong cell is wrong
    in all its instances, however many), then the one shared by the most slots.
    """
    z = np.exp(1j * alphas)
    voters = np.flatnonzero(ok) if np.any(ok) else np.arange(z.size)
    keys = np.round(np.stack([z[voters].real, z[voters].imag], 1), 6)
    _, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = inv.ravel()
    score = [
        (len({cells[voters[i]] for i in np.flatnonzero(inv == g)}), int(np.sum(inv == g)), g)
        for g in range(inv.max() + 1)
    ]
    best = max(score)[2]
    return float(np.angle(np.mean(z[voters[inv == best]])))


def _is_mzi(name: str) -> bool:
    slot = parse_slot(name)
    return slot is not None and slot.mesh != "S"


def _slot_order(name: str) -> tuple:
    slot = parse_slot(name) or parse_passthrough(name)
    return slot.light_order if slot is not None else (1 << 30, 0, 0, 0)


def _port_row(name: str, port: str) -> int | None:
    """Mode (row) a slot port lies on, from the slot's name and port (components/mzi.py)."""
    tag = slot_tag(name)
    if tag is not None:
        row = tag[3]
        if tag[1] == "S":
            return row
        if port in SLOT_IN_PORTS:
            return row + SLOT_IN_PORTS.index(port)
        if port in SLOT_OUT_PORTS:
            return row + SLOT_OUT_PORTS.index(port)
        return None
    return row_of(name)


def lost_partners(
    recnet: Mapping[str, Any], optical: Mapping[str, set[str]], gaps: Sequence[Any] | None = None
) -> list[tuple[str, list[str], str]]:
    """Instances of one cell whose optical ports meet no other port (in no net, not exported):
    ``(instance, ports, detail)``, the instance with the most lost ports first. With ``gaps``
    (:func:`gf_prune.geometry_checks.port_gaps` of the layout) the detail gives the gap to the
    nearest facing port and the move it implies; an instance whose lost ports all face ports of
    an instance already named (the neighbours of a moved one) is folded into that message."""
    linked = {n[k] for n in recnet.get("nets", []) for k in ("p1", "p2")} | set(recnet.get("ports", {}).values())
    lost = {inst: sorted(p for p in ports if f"{inst},{p}" not in linked) for inst, ports in optical.items()}
    lost = {i: ps for i, ps in lost.items() if ps}
    by_port = {(g.instance, g.port): g for g in gaps or () if g.instance in optical}
    out: list[tuple[str, list[str], str]] = []
    named: set[str] = set()
    for inst in sorted(lost, key=lambda i: (-len(lost[i]), _slot_order(i))):
        ports = lost[inst]
        found = [by_port[(inst, p)] for p in ports if (inst, p) in by_port]
        if found and all(g.partner in named for g in found) and len(found) == len(ports):
            continue
        named.add(inst)
        detail = ""
        if found:
            gap = float(np.median([g.gap for g in found]))
            dx, dy = float(np.median([g.dx for g in found])), float(np.median([g.dy for g in found]))
            partners = ", ".join(
                f"the cell's port {g.partner_port}" if g.partner == "<cell>" else f"{g.partner},{g.partner_port}"
                for g in found
            )
            x, y = found[0].x, found[0].y
            detail = (
                f": gap {gap:.3f} µm to {partners} (port {found[0].port} at ({x:.3f}, {y:.3f}) µm in its cell "
                f"{found[0].cell} is off its partner by dx {dx:+.3f}, dy {dy:+.3f} µm: moved?)"
            )
        out.append((inst, ports, detail))
    return out


def diagnose_block(
    ev: _Evaluation, path: tuple[str, ...], net: Any, tol: float, gaps: Sequence[Any] | None = None
) -> list[str]:
    """Slots (MZIs, removed MZIs, passthroughs, attenuators) and nets of one mesh/Σ block that
    are wrong: first the instances whose ports lost their partner (:func:`lost_partners`, with
    the gap when ``gaps`` from the layout's geometry are given), then the rest in the order
    light meets them."""
    cell, children = ev.children(path)
    where = "/".join(path)
    found: list[tuple[tuple, str]] = []
    # connectivity: every optical net joins one mode to itself, and ports sit on their mode
    recnet = ev.cc.recnet[cell.name]
    optical = {inst: set(ports) for inst, (ports, _) in children.items()}
    broken = [
        f"{where}/{inst}: {'ports' if len(ports) > 1 else 'port'} {', '.join(ports)} lost "
        f"{'their' if len(ports) > 1 else 'its'} partner{detail}"
        for inst, ports, detail in lost_partners(recnet, optical, gaps)
    ]
    for net_ in recnet.get("nets", []):
        (i1, p1), (i2, p2) = _split(net_["p1"]), _split(net_["p2"])
        if p1 not in optical.get(i1, ()) or p2 not in optical.get(i2, ()):
            continue
        r1, r2 = _port_row(i1, p1), _port_row(i2, p2)
        if r1 is not None and r2 is not None and r1 != r2:
            found.append(
                (min(_slot_order(i1), _slot_order(i2)), f"{where}: net {i1},{p1} ↔ {i2},{p2} joins mode {r1} to {r2}")
            )
    for ext, ip in recnet.get("ports", {}).items():
        mp = parse_mode_port(ext)
        inst, p = _split(ip)
        if mp and p in optical.get(inst, ()):
            r = _port_row(inst, p)
            if r is not None and r != mp.row:
                found.append((_slot_order(inst), f"{where}: port {ext} is {inst},{p} on mode {r}"))
    # local transfers against the convention, after the block's common phase
    items = []
    for inst, (ports, s) in children.items():
        t = _expected_slot(net, inst)
        if t is None:
            continue
        try:
            local = _local_block(inst, ports, s)
        except KeyError:
            found.append((_slot_order(inst), f"{where}/{inst}: ports {ports} are not the slot ports"))
            continue
        items.append((inst, local, t))
    if items:
        fits = [rel_error(loc, t) for _, loc, t in items]
        comp = {inst: g.component for g in cell.groups for inst in g.names}
        ref = _common_phase(
            np.array([a for _, a in fits]), [comp[i] for i, _, _ in items], np.array([e <= tol for e, _ in fits])
        )
        for (inst, loc, t), (shape_err, a) in zip(items, fits, strict=True):
            err = float(np.linalg.norm(loc - np.exp(1j * ref) * t) / max(np.linalg.norm(t), 1e-300))
            if err > tol and (shape_err > tol or not broken):  # a block with open ports has no common phase
                what = "transfer" if shape_err > tol else f"phase (off by {np.angle(np.exp(1j * (a - ref))):+.3g} rad)"
                hint = _heater_hint(net, inst, loc * np.exp(-1j * ref), tol) if _is_mzi(inst) else ""
                found.append((_slot_order(inst), f"{where}/{inst}: local {what} wrong, error {err:.3g}{hint}"))
    return broken + [msg for _, msg in sorted(found, key=lambda x: x[0])]


def _heater_hint(net: Any, inst: str, local: np.ndarray, tol: float) -> str:
    """If ``local`` is a convention MZI with other phases, name the heater(s) that are off."""
    from gf_prune.physics import mzi_phases

    layer, mesh, col, row = slot_tag(inst)  # type: ignore[misc]
    m = getattr(net.layers[layer], mesh)
    k = m.topo.index(col, row)
    try:
        theta, phi = mzi_phases(local, net.zero_state, atol=tol * 10)
    except ValueError:
        return ""
    parts = []
    for kind, got, want in (("theta", theta, m.theta_eff[k]), ("phi", phi, m.phi_eff[k])):
        d = float(wrap_to_pi(got - want))
        if abs(d) > tol:
            parts.append(f"{kind} heater off by {d:+.4g} rad")
    return f" ({', '.join(parts)})" if parts else ""


def find_blocks(hier: _Hierarchy, net: Any) -> dict[tuple[int, str], tuple[str, ...]]:
    """Instance path of every mesh / Σ column / layer of the network in the layout."""
    out: dict[tuple[int, str], tuple[str, ...]] = {}
    for li, _lp in enumerate(net.layers):
        for mesh in ("V", "S", "U"):
            hits = hier.find(frozenset({(li, mesh)}))
            if len(hits) != 1:
                raise ValueError(f"layout has {len(hits)} cells holding exactly the {mesh}{li} slots (expected 1)")
            out[(li, mesh)] = hits[0]
        hits = hier.find(frozenset({(li, "V"), (li, "S"), (li, "U")}))
        out[(li, "W")] = hits[0] if len(hits) == 1 else ()
    return out
