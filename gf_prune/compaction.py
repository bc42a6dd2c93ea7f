"""Layout compaction: each live MZI in the earliest physical column (slot) its two modes allow.

A mesh's topology fixes a *logical* column for every MZI (:func:`gf_prune.mesh.topology`).
With ``pruned_mzi="remove"`` most MZIs are removed, and a live MZI only has to come after
the live MZIs that share one of its modes: two MZIs on disjoint modes commute, so placing
the live ones "as soon as possible" keeps the product of the mesh and needs far fewer
physical columns (``slot`` in :mod:`gf_prune.naming`). Removed MZIs leave no slot.

What a removed MZI leaves behind: with ``zero_state="bar"`` it is the fixed passive 2×2
``T(0, 0) = diag(−1, 1)`` (docs/design.md, "zero_state and the π bias"), a π on its top mode.
Compaction keeps that π exactly, as a passive delay: a passthrough slot with the same
extra length ``bias_length`` as the MZI's own bias (``passthrough(bias=True)``), placed on that
mode in the first physical column after the last live MZI on it; where the next live MZI on
that mode follows in the very next column, the π goes into that MZI's input fan-in instead
(``mzi_unit(in_delay=...)``: a bend a few hundred nm larger, same footprint). Two π on one mode
between the same live MZIs cancel. So the laid-out
mesh realises the trained matrix exactly — no phase is re-programmed, ``phases.npz`` and
``weights.npz`` stay the network that was trained and pruned, every heater burns what it burned
before — and the SAX check of the compacted GDS proves it (≤ 1e-6).

(The alternative, absorbing each π into a live φ or pushing it through θ → −θ into the detected
outputs, re-programs heaters: ±P_π per absorbed π, and a θ-only MZI cannot take a π on one
input without an arbitrary common phase that the next φ-less MZI cannot absorb. The passive
delays cost nothing but a π-delay passthrough or fan-in; :func:`compaction_summary` counts them.)

``zero_state="cross"`` removes an MZI as a waveguide crossing (a swap, not a diagonal): it is not
compacted here (every slot kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gf_prune.mesh import MeshTopology, mesh_unitary
from gf_prune.physics import mzi_transfer

__all__ = ["MeshPlacement", "compaction_summary", "place_mesh", "place_network", "placement_unitary"]


@dataclass(frozen=True)
class MeshPlacement:
    """Physical placement of one mesh's MZIs.

    Attributes:
        slots: physical column of each MZI (topology order); −1 = not built (removed).
        signs: ``(slot, mode)`` of every π-delay passthrough (a removed MZI's passive phase).
        in_delays: ``(k, input)`` of every MZI built with a π delay on its top (0) or bottom (1)
            input (``mzi_unit(in_delay=...)``), where no passthrough is left for the π.
        n_slots: physical columns of the mesh.
        logical_cols: columns of the topology (the dense mesh).
        compact: whether the mesh was compacted (else ``slots`` = the logical columns).
    """

    slots: tuple[int, ...]
    signs: tuple[tuple[int, int], ...]
    n_slots: int
    logical_cols: int
    compact: bool
    in_delays: tuple[tuple[int, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "logical": self.logical_cols,
            "physical": self.n_slots,
            "pi_delays": len(self.signs) + len(self.in_delays),
        }


def place_mesh(
    topo: MeshTopology,
    states: str,
    zero_state: str = "bar",
    compact: bool = True,
    in_delays: bool | str = True,
) -> MeshPlacement:
    """Place a mesh's MZIs (``states`` as :func:`gf_prune.components.mesh.slot_states`).

    Without ``compact`` (or for ``zero_state="cross"``) every MZI keeps its logical column.
    Compacted, MZIs are taken in topology order (a valid light order). ``free[m]`` is the first
    column after the last live MZI on mode m; ``pending[m]`` is 1 while an odd number of removed MZIs'
    π wait on mode m for a π-delay passthrough. A removed MZI (``"x"``) toggles ``pending`` of its top
    mode. A live MZI goes to ``max(free[r], free[r+1])``; a π that must sit before it goes into a
    passthrough of that mode if there is one, else into the MZI's own input (``in_delay``). A π need
    not sit before an MZI it commutes with — one whose θ is pruned (diagonal) or
    one with a π on both inputs — it is carried past it and placed later. Whatever is pending at the
    end goes into the passthroughs after the last MZI on its mode (one extra column if there is none).

    ``in_delays=False``: never an MZI's input, a π waits in a passthrough (the MZI goes one column later
    where there is none): for a PDK whose π delay is too long for a fan-in (:mod:`gf_prune.pdk`);
    ``"unheated"``: only an input without a heater (the bottom one, or the top one with φ pruned), where
    the delay is a bump in the plain phase section (``components.mzi._DelayBump``).
    """
    if len(states) != topo.n_mzis:
        raise ValueError(f"states must have {topo.n_mzis} characters, got {len(states)}")
    logical = max(topo.n_cols, 1)
    if not compact or zero_state != "bar" or topo.n_mzis == 0:
        return MeshPlacement(tuple(int(c) for c in topo.cols), (), logical, logical, False)
    n = topo.n
    free = [0] * n
    pending = [0] * n
    slots = [-1] * topo.n_mzis
    signs: list[tuple[int, int]] = []
    delays: list[tuple[int, int]] = []
    for k in range(topo.n_mzis):  # topology order = (column, row): every MZI after its predecessors
        r = int(topo.rows[k])
        if states[k] == "x":
            pending[r] ^= 1
            continue
        modes = (r, r + 1)
        # a π commutes with an MZI whose θ is pruned (diagonal: bar) and a π on both inputs with any MZI
        diagonal = states[k] in "10"  # θ pruned: T(0, φ) = diag(−e^{iφ}, 1)
        passes = diagonal or (pending[r] and pending[r + 1])
        s = max(free[r], free[r + 1])
        room = [bool(pending[m]) and free[m] <= s - 1 for m in modes]
        place = room if diagonal else [all(room) or not passes] * 2
        unheated = in_delays == "unheated"
        allowed = (in_delays is True or (unheated and states[k] not in "31"), in_delays is True or unheated)
        fan_in = [pending[m] and here and not ok for m, here, ok in zip(modes, place, room, strict=True)]
        if any(f and not a for f, a in zip(fan_in, allowed, strict=True)):
            s += 1  # one column later: every pending mode then has a passthrough before the MZI
            room = [bool(pending[m]) for m in modes]
            place = room if diagonal else [all(room) or not passes] * 2
        for j, (m, here, has_room) in enumerate(zip(modes, place, room, strict=True)):
            if pending[m] and here:
                if has_room:
                    signs.append((free[m], m))
                else:
                    delays.append((k, j))
                pending[m] = 0
            free[m] = s + 1
        slots[k] = s
    n_slots = max(max(free), 1)
    if any(pending[m] and free[m] >= n_slots for m in range(n)):
        n_slots += 1  # a π after the last column: one more column of passthroughs
    signs += [(free[m], m) for m in range(n) if pending[m]]
    return MeshPlacement(tuple(slots), tuple(sorted(signs)), n_slots, logical, True, tuple(delays))


def place_network(
    net: Any, pruned_mzi: str = "remove", compact: bool = True, in_delays: bool | str = True
) -> list[tuple[MeshPlacement, MeshPlacement]]:
    """(V, U) placements of every layer of a :class:`~gf_prune.phases.NetworkPhases`.

    Compaction applies only with ``pruned_mzi="remove"`` (``"bar"`` keeps every slot) and to column meshes
    (Clements, Reck): a butterfly's stages are separated by fixed permutations. ``in_delays``: as
    :func:`place_mesh`.
    """
    from gf_prune.components.mesh import slot_states

    out = []
    do = compact and pruned_mzi == "remove" and net.mesh_kind in ("clements", "reck")  # not across permutations
    for layer in net.layers:
        pair = []
        for m in (layer.V, layer.U):
            states = slot_states(m.theta_live, m.phi_live, pruned_mzi)
            pair.append(place_mesh(m.topo, states, net.zero_state, do, in_delays))
        out.append((pair[0], pair[1]))
    return out


def placement_unitary(
    topo: MeshTopology, theta: Any, phi: Any, placement: MeshPlacement, zero_state: str = "bar"
) -> np.ndarray:
    """The matrix of the mesh as placed: slot by slot, built MZIs and π delays only (numpy reference).

    A second route to the same product as :func:`gf_prune.mesh.mesh_unitary` (which walks the
    logical columns with every removed MZI as its passive 2×2): used to test :func:`place_mesh`.
    """
    theta = np.asarray(theta, dtype=float)
    phi = np.asarray(phi, dtype=float)
    if not placement.compact:
        return mesh_unitary(topo, theta, phi, None, zero_state)  # type: ignore[arg-type]
    t = mzi_transfer(theta, phi, zero_state)
    u = np.eye(topo.n, dtype=np.complex128)
    slots = np.asarray(placement.slots)
    for s in range(placement.n_slots):
        for k in np.flatnonzero(slots == s):
            r = int(topo.rows[k])
            for kk, j in placement.in_delays:
                if kk == k:
                    u[r + j] = -u[r + j]
            top, bot = u[r].copy(), u[r + 1].copy()
            u[r] = t[k, 0, 0] * top + t[k, 0, 1] * bot
            u[r + 1] = t[k, 1, 0] * top + t[k, 1, 1] * bot
        for ss, m in placement.signs:
            if ss == s:
                u[m] = -u[m]
    return u


def compaction_summary(placements: list[tuple[MeshPlacement, MeshPlacement]]) -> dict[str, Any]:
    """``layout.columns`` (per mesh: logical and physical columns, π delays) and totals."""
    cols: dict[str, Any] = {}
    for li, (v, u) in enumerate(placements):
        cols[f"V{li}"] = v.to_dict()
        cols[f"U{li}"] = u.to_dict()
    compact = any(p.compact for pair in placements for p in pair)
    return {
        "compact": compact,
        "columns": cols,
        "logical_total": sum(c["logical"] for c in cols.values()),
        "physical_total": sum(c["physical"] for c in cols.values()),
        "pi_delays": sum(c["pi_delays"] for c in cols.values()),
    }
