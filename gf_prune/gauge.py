"""Gauge moves: zero phases (and their heater power) without changing what the network computes.

An SVD layer realises W = U Σ V†. The factorisation is free up to diagonal phases,
``U·D`` and ``D*·Σ`` (Σ's φ absorbs ``D*``), and the output phases of U are discarded by the
modulus nonlinearity / |·|² detection that follows every layer. A diagonal phase screen at the
input of an MZI moves through it exactly (φ on the top input, :mod:`gf_prune.physics`)::

    T(θ, φ) · diag(e^{ia}, e^{ib}) = e^{ib} · T(θ, φ + a − b)

so a screen ``d`` at the input of the U mesh shifts every φ of U by a difference of two of its
entries, leaves a screen on U's output (dropped by the modulus, or added to ``SVDLayer.screen`` when
the layer has one, which keeps W exact) and shifts Σ's φ by ``−d``. Seen as a graph — one node per
entry of ``d`` and one ``ground`` node, one edge per U φ (between the two entries it differences) and one
per Σ φ (entry to ground) — any spanning forest of edges can be set exactly to 0 at once. Pruned phases
are edges that must stay 0; they enter the forest first. Each layer thus yields up to ``n_out`` zeroed
phases for free (``n_out − 1`` in U and one in Σ), chosen greedily by the heater power they burn.

:func:`gauge_layer` keeps V out of it: V's input is the (fixed) data or a real, positive softplus output,
and an output screen of V† cannot move backwards through a mixing MZI whose external heater sits on its
input. :func:`gauge_layer_full` (the conditional gauge) goes further: once an MZI's θ is pruned it is a bar
(or cross) state, ``diag(−e^{iφ}, 1)``, and its φ is only a phase on one waveguide that can move
**downstream** — into the next live φ, into Σ, or out to the detected outputs — in V as in U. With one
potential per waveguide segment of the layer and one edge per φ (U, V and Σ), any spanning forest is zeroed
exactly; MZIs that act on nothing detected (dead) are pruned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from gf_prune.mesh import MeshTopology
from gf_prune.model import PhotonicMLP, SVDLayer
from gf_prune.physics import wrap_phase, wrap_to_pi


@dataclass
class GaugeResult:
    """What a gauge move did: phases set to exactly 0 per layer and the heater phase sum before/after."""

    zeroed_uv: list[int] = field(default_factory=list)
    zeroed_sigma: list[int] = field(default_factory=list)
    pruned_uv: int = 0
    pruned_sigma: int = 0
    zeroed_v: list[int] = field(default_factory=list)  # full gauge: V φ's zeroed per layer
    conditional: list[int] = field(default_factory=list)  # full gauge: φ's zeroed on θ-pruned MZIs
    dead_phases: list[int] = field(default_factory=list)  # full gauge: phases of dead MZIs pruned

    @property
    def total_zeroed(self) -> int:
        return sum(self.zeroed_uv) + sum(self.zeroed_sigma)


def _u_edges(layer: SVDLayer) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Edges (a, b) of each U-mesh φ (φ'_k = φ_k + d_a − d_b) and the final screen's node per mode."""
    topo = layer.topo_U
    s = np.arange(topo.n)
    edges = []
    col = 0
    for k in range(topo.n_mzis):  # MZIs are ordered by (column, row): light order, disjoint per column
        while topo.perms and int(topo.cols[k]) > col:  # butterfly: the screen follows the waveguides
            s[topo.perms[col]] = s.copy()
            col += 1
        r = int(topo.rows[k])
        edges.append((int(s[r]), int(s[r + 1])))
        s[r] = s[r + 1]
    return edges, s


class _Forest:
    """Union-find over nodes 0..n (node n is ground)."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[ra] = rb
        return True


@torch.no_grad()
def gauge_layer(layer: SVDLayer, prune: bool = True, prune_sigma: bool = False) -> tuple[int, int]:
    """Zero up to ``n_out`` phases of one layer by a screen at the U mesh's input.

    Args:
        layer: the layer, changed in place.
        prune: mark the zeroed U φ's as pruned (mask off); they stay exactly 0 afterwards.
        prune_sigma: also mark a zeroed Σ φ as pruned (else it stays live, at value 0).

    Returns:
        (number of U φ's zeroed, number of Σ φ's zeroed). Already-pruned phases are not counted.
    """
    n, k = layer.topo_U.n, layer.k  # a padded (butterfly) U mesh: its dark inputs are free nodes too
    ground = n
    edges, final = _u_edges(layer)
    u_phi = layer.U_phi.detach().clone()
    u_live = layer.U_phi_mask.clone()
    s_phi = layer.S_phi.detach().clone()
    s_live = layer.S_phi_mask.clone()
    for name, vec in (("U_phi", u_phi), ("S_phi", s_phi)):
        if not bool(torch.all(torch.isfinite(vec))):
            raise ValueError(f"NaN or infinite phase in {name}: cannot apply a gauge move")
    # all edges: (kind, index, a, b, phase, live)
    all_edges = [("U", i, a, b, float(u_phi[i]), bool(u_live[i])) for i, (a, b) in enumerate(edges)]
    all_edges += [("S", j, j, ground, float(s_phi[j]), bool(s_live[j])) for j in range(k)]
    forest = _Forest(n + 1)
    chosen = []
    for e in all_edges:  # pruned edges are constraints (value 0): in first
        if not e[5]:
            forest.union(e[2], e[3])
            chosen.append(e)
    live_u = sorted((e for e in all_edges if e[5] and e[0] == "U"), key=lambda e: -float(wrap_phase(e[4])))
    live_s = sorted((e for e in all_edges if e[5] and e[0] == "S"), key=lambda e: -float(wrap_phase(e[4])))
    zeroed = []
    for e in live_u + live_s:
        if forest.union(e[2], e[3]):
            chosen.append(e)
            zeroed.append(e)
    # solve the node potentials d on the forest: U edge: d_b = d_a + φ; Σ edge: d_j = φ_s
    adj: dict[int, list[tuple[int, float]]] = {i: [] for i in range(n + 1)}
    for kind, _, a, b, ph, _ in chosen:
        if kind == "U":
            adj[a].append((b, ph))  # d_b − d_a = φ
            adj[b].append((a, -ph))
        else:
            adj[ground].append((a, ph))  # d_j − d_ground = φ_s
            adj[a].append((ground, -ph))
    d = np.full(n + 1, np.nan)
    for root in [ground, *range(n)]:
        if not np.isnan(d[root]):
            continue
        d[root] = 0.0
        stack = [root]
        while stack:
            x = stack.pop()
            for y, delta in adj[x]:
                if np.isnan(d[y]):
                    d[y] = d[x] + delta
                    stack.append(y)
    d = d[:n]
    a_idx = torch.as_tensor([a for a, _ in edges], dtype=torch.long)
    b_idx = torch.as_tensor([b for _, b in edges], dtype=torch.long)
    dt = torch.as_tensor(d, dtype=torch.float64)
    if len(edges):
        layer.U_phi.add_(dt[a_idx] - dt[b_idx])
    layer.S_phi.sub_(dt[:k])
    if layer.screen is not None:
        layer.screen.add_(dt[torch.as_tensor(final, dtype=torch.long)])
    n_u = n_s = 0
    for kind, i, _, _, ph, _ in zeroed:  # exact zeros (the sums above leave ~1e-16)
        if kind == "U":
            layer.U_phi[i] = 0.0
            if prune:
                layer.U_phi_mask[i] = False
            n_u += 1
        else:
            layer.S_phi[i] = 0.0
            if prune and prune_sigma:
                layer.S_phi_mask[i] = False
            n_s += int(ph != 0.0)
    # keep the other moved phases in a compact range: a 2π shift changes nothing
    for p in (layer.U_phi, layer.S_phi):
        p.copy_(torch.where(p.abs() > math.pi, wrap_to_pi(p), p))
    layer.apply_masks()
    return n_u, n_s


@torch.no_grad()
def gauge_network(model: PhotonicMLP, prune: bool = True, prune_sigma: bool = False) -> GaugeResult:
    """Apply :func:`gauge_layer` to every layer; the network's outputs do not change.

    Each layer's W changes at most by a diagonal phase screen on its output (``D·W``), which the modulus
    nonlinearity and the |·|² detection discard; a layer with an output ``screen`` keeps W exactly.
    """
    res = GaugeResult()
    for layer in model.layers:
        n_u, n_s = gauge_layer(layer, prune=prune, prune_sigma=prune_sigma)
        res.zeroed_uv.append(n_u)
        res.zeroed_sigma.append(n_s)
    res.pruned_uv = sum(res.zeroed_uv) if prune else 0
    res.pruned_sigma = sum(res.zeroed_sigma) if (prune and prune_sigma) else 0
    return res


# --------------------------------------------------------------------------- full (conditional) gauge


def _mzi_kind(theta_live: bool, zero_state: str) -> str:
    """How an MZI passes a phase screen: ``mix`` (θ live), ``bar`` / ``cross`` (θ pruned, fixed at 0)."""
    if theta_live:
        return "mix"
    return "bar" if zero_state == "bar" else "cross"


def _dead_mzis(topo: MeshTopology, lit_in: np.ndarray, seen_out: np.ndarray) -> np.ndarray:
    """MZIs of a mesh whose inputs are both dark or whose outputs both reach only discarded modes."""
    lit = lit_in.copy()
    lit_before = np.zeros((topo.n_mzis, 2), bool)
    for k in range(topo.n_mzis):
        r = int(topo.rows[k])
        lit_before[k] = lit[r], lit[r + 1]
        lit[r] = lit[r + 1] = lit[r] or lit[r + 1]
    seen = seen_out.copy()
    seen_after = np.zeros((topo.n_mzis, 2), bool)
    for k in range(topo.n_mzis - 1, -1, -1):
        r = int(topo.rows[k])
        seen_after[k] = seen[r], seen[r + 1]
        seen[r] = seen[r + 1] = seen[r] or seen[r + 1]
    return ~lit_before.any(1) | ~seen_after.any(1)


def _power_units(phase: float) -> float:
    """Heater power of a phase in units of P_π (a value within 1e-12 of 0 mod 2π burns nothing)."""
    w = phase % (2 * math.pi)
    return 0.0 if (w < 1e-12 or 2 * math.pi - w < 1e-12) else w / math.pi


def _shift_potentials(
    edges: list[tuple[str, int, int, int]],
    cls: Any,
    phis: dict[str, torch.Tensor],
    live: dict[str, torch.Tensor],
    th_live: dict[str, torch.Tensor],
    n: int,
    ground: int,
    prune_sigma: bool,
    power_neutral: bool,
) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """Greedy spanning forest of φ edges with explicit potentials ``x`` (``φ' = φ + x_u − x_v``).

    Pruned edges join first (they stay 0). Each live edge joining two components is zeroed by shifting one
    of the two components (never the ground's) by a constant; the shift that costs the other live edges
    least heater power is taken, and with ``power_neutral`` the edge is zeroed only when the total heater
    power does not grow (a moved phase that lands just below 0 would cost almost 2·P_π).
    """
    uv = [(cls(a), cls(b)) for _, _, a, b in edges]
    phi0 = np.array([float(phis[m][i]) for m, i, _, _ in edges])
    is_live = np.array([bool(live[m][i]) for m, i, _, _ in edges])
    x = np.zeros(n)
    forest = _Forest(n)
    members: dict[int, list[int]] = {}
    incident: dict[int, list[int]] = {}
    for e, (u, v) in enumerate(uv):
        incident.setdefault(u, []).append(e)
        if v != u:
            incident.setdefault(v, []).append(e)

    def join(u: int, v: int) -> None:
        ru, rv = forest.find(u), forest.find(v)
        if ru != rv:
            mu, mv = members.pop(ru, [ru]), members.pop(rv, [rv])
            forest.union(ru, rv)
            members[forest.find(rv)] = mu + mv

    for e, (u, v) in enumerate(uv):
        if not is_live[e]:
            join(u, v)
    zeroed_e = np.zeros(len(edges), bool)

    def cur(e: int) -> float:
        u, v = uv[e]
        return phi0[e] + x[u] - x[v]

    def delta(root: int, shift: float, skip: int) -> float:
        nodes = set(members.get(root, [root]))
        d = 0.0
        seen = set()
        for node in nodes:
            for e in incident.get(node, []):
                if e in seen or e == skip or not is_live[e] or zeroed_e[e]:
                    continue
                seen.add(e)
                u, v = uv[e]
                s = (shift if u in nodes else 0.0) - (shift if v in nodes else 0.0)
                if s:
                    d += _power_units(cur(e) + s) - _power_units(cur(e))
        return d

    cand = []
    for e, (mesh, i, _, _) in enumerate(edges):
        u, v = uv[e]
        if is_live[e] and u != v:
            completes = mesh != "S" and not bool(th_live[mesh][i])
            first = 0 if (prune_sigma or mesh != "S") else 1
            cand.append(((first, -int(completes), -_power_units(phi0[e])), e))
    g = ground
    for _, e in sorted(cand, key=lambda c: c[0]):
        u, v = uv[e]
        ru, rv, rg = forest.find(u), forest.find(v), forest.find(g)
        if ru == rv:
            continue
        d = cur(e)  # x_v − x_u must grow by d: shift v's component by +d or u's by −d
        options = [(delta(r, s, e), r, s) for r, s in ((rv, d), (ru, -d)) if r != rg]
        cost, root, shift = min(options, key=lambda o: o[0])
        if power_neutral and cost - _power_units(d) > 1e-12:
            continue
        for node in members.get(root, [root]):
            x[node] += shift
        join(u, v)
        zeroed_e[e] = True
    return x, [(edges[e][0], edges[e][1]) for e in np.flatnonzero(zeroed_e)]


@dataclass
class FullGaugeCounts:
    """What :func:`gauge_layer_full` freed in one layer."""

    zeroed_v: int = 0
    zeroed_u: int = 0
    zeroed_sigma: int = 0
    conditional: int = 0  # φ zeroed on an MZI whose θ is pruned (the MZI becomes removable)
    dead_mzis: int = 0  # MZIs that carry no light or reach only discarded outputs: θ and φ pruned
    dead_phases: int = 0


@torch.no_grad()
def gauge_layer_full(
    layer: SVDLayer,
    prune: bool = True,
    prune_sigma: bool = False,
    dead: bool = True,
    power_neutral: bool = True,
    cut_tol: float = 0.0,
) -> FullGaugeCounts:
    """The exact gauge of one layer over V, Σ and U, with θ-pruned MZIs as phase screens.

    Every waveguide segment of the layer (between two MZI columns) gets a potential ``x``; each element is
    replaced by ``e^{−i·x_out} · element · e^{i·x_in}``. That changes nothing the detection sees when the
    V mesh's inputs keep ``x = 0`` (the data, or a real softplus output) and the U mesh's outputs are free
    (the modulus / |·|² detection drops them; a layer's ``screen`` absorbs them, keeping W exact). An
    element stays an element of the convention only under constraints (docs/design.md, one MZI
    ``T(θ, φ) = B·diag(e^{i(θ+b)}, 1)·B·diag(e^{iφ}, 1)``; Clements et al., Optica 2016, for
    ``T(θ,φ)·diag(e^{ia}, e^{ib}) = e^{ib}·T(θ, φ+a−b)``):

    - a mixing MZI (θ live): both outputs and the bottom input share one potential; ``φ' = φ + x_top_in − x_bot_in``;
    - an MZI whose θ is pruned with ``zero_state="bar"``: ``T = diag(−e^{iφ}, 1)`` is a screen on the top
      waveguide: the bottom potential passes, ``φ' = φ + x_top_in − x_top_out`` — its φ can leave
      **downstream** into the next live φ, into Σ, or out to the detected outputs;
    - θ pruned with ``zero_state="cross"``: ``T = [[0, i], [i·e^{iφ}, 0]]``: ``x_top_out = x_bot_in``,
      ``φ' = φ + x_top_in − x_bot_out``;
    - a Σ attenuator (its through element ∝ e^{iφ}): ``φ' = φ + x_V_out − x_U_in``;
    - U inputs beyond ``k`` carry no light and V outputs beyond ``k`` are discarded: their potentials are free.

    With each φ an edge between two potentials, any spanning forest of edges can be zeroed exactly at once;
    pruned φ's (value 0) enter the forest first as constraints, then live ones by preference: φ's on MZIs
    whose θ is pruned (the MZI becomes removable), then by the heater power they burn; each zeroing shifts
    the potentials of one side of the edge, and is skipped when that would raise the total heater power.
    With ``dead``, an MZI that carries no light (both inputs dark) or whose outputs reach only discarded
    modes has θ and φ pruned (exact: it does not act on anything detected).

    Args:
        layer: changed in place.
        prune: mark zeroed U/V φ's pruned (mask off); with ``prune_sigma`` also zeroed Σ φ's.
        prune_sigma: see ``prune``; also ranks Σ φ's with the mesh φ's (else mesh φ's go first).
        dead: prune dead MZIs.
        cut_tol: a Σ attenuator transmitting ``|t| ≤ cut_tol`` cuts its mode (structured pruning): the MZIs
            that then reach only cut modes (V) or carry only their darkness (U) are dead.
        power_neutral: zero a φ only when the heater power of the phases it moves does not grow in total
            (each zeroing shifts the potentials of one side; the cheaper side is taken).

    Returns:
        :class:`FullGaugeCounts` (already-pruned phases are not counted).
    """
    zs = layer.zero_state
    counts = FullGaugeCounts()
    for name in ("V_phi", "U_phi", "S_phi"):
        if not bool(torch.all(torch.isfinite(getattr(layer, name)))):
            raise ValueError(f"NaN or infinite phase in {name}: cannot apply a gauge move")
    k = layer.k
    meshes = (("V", layer.topo_V), ("U", layer.topo_U))
    # a mode whose Σ transmits nothing (|cos(θ/2)| ≤ cut_tol, network slimming) is cut like the modes beyond k
    amp = torch.cos(layer.phase("S", "theta") / 2).abs().numpy()
    passes = np.zeros(max(layer.n_in, layer.n_out), bool)
    passes[:k] = amp > cut_tol
    dead_masks = {
        "V": _dead_mzis(layer.topo_V, np.ones(layer.n_in, bool), passes[: layer.n_in]),
        "U": _dead_mzis(layer.topo_U, passes[: layer.n_out], np.ones(layer.n_out, bool)),
    }
    if dead:
        for mesh, _ in meshes:
            dm = torch.as_tensor(dead_masks[mesh])
            for kind in ("theta", "phi"):
                m = getattr(layer, f"{mesh}_{kind}_mask")
                counts.dead_phases += int((m & dm).sum())
                m &= ~dm
            counts.dead_mzis += int(dm.sum())
        layer.apply_masks()
    # segments: 0 is ground (V inputs)
    n_seg = [1]

    def new() -> int:
        n_seg[0] += 1
        return n_seg[0] - 1

    merges: list[tuple[int, int]] = []
    edges: list[tuple[str, int, int, int]] = []  # (mesh, index, u, v): φ' = φ + x_u − x_v
    seg_out: dict[str, np.ndarray] = {}
    start = {"V": np.zeros(layer.n_in, dtype=np.int64)}
    u_in = np.array([new() for _ in range(layer.n_out)], dtype=np.int64)
    for mesh, topo in meshes:
        s = start["V"].copy() if mesh == "V" else u_in.copy()
        th_mask = getattr(layer, f"{mesh}_theta_mask")
        for i in range(topo.n_mzis):
            r = int(topo.rows[i])
            it, ib = int(s[r]), int(s[r + 1])
            ot, ob = new(), new()
            s[r], s[r + 1] = ot, ob
            if dead and dead_masks[mesh][i]:
                continue  # acts on nothing detected: no constraint
            kind = _mzi_kind(bool(th_mask[i]), zs)
            if kind == "mix":
                merges += [(ot, ob), (ob, ib)]
                edges.append((mesh, i, it, ib))
            elif kind == "bar":
                merges.append((ob, ib))
                edges.append((mesh, i, it, ot))
            else:
                merges.append((ot, ib))
                edges.append((mesh, i, it, ob))
        seg_out[mesh] = s
        if mesh == "V":
            for j in range(k):
                edges.append(("S", j, int(s[j]), int(u_in[j])))
    eq = _Forest(n_seg[0])
    for a, b in merges:
        eq.union(a, b)

    def cls(a: int) -> int:
        return eq.find(a)

    phis = {m: getattr(layer, f"{m}_phi").detach().clone() for m in ("V", "U", "S")}
    live = {m: getattr(layer, f"{m}_phi_mask").clone() for m in ("V", "U", "S")}
    th_live = {m: getattr(layer, f"{m}_theta_mask").clone() for m in ("V", "U", "S")}
    x, zeroed = _shift_potentials(edges, cls, phis, live, th_live, n_seg[0], cls(0), prune_sigma, power_neutral)
    for mesh, i, a, b in edges:
        getattr(layer, f"{mesh}_phi")[i] += float(x[cls(a)] - x[cls(b)])
    if layer.screen is not None:
        out = torch.as_tensor([x[cls(int(a))] for a in seg_out["U"]], dtype=torch.float64)
        layer.screen.add_(out)
    for mesh, i in zeroed:
        getattr(layer, f"{mesh}_phi")[i] = 0.0
        if mesh == "S":
            counts.zeroed_sigma += int(float(phis[mesh][i]) != 0.0)
            if prune and prune_sigma:
                layer.S_phi_mask[i] = False
            continue
        if mesh == "V":
            counts.zeroed_v += 1
        else:
            counts.zeroed_u += 1
        counts.conditional += int(not bool(th_live[mesh][i]))
        if prune:
            getattr(layer, f"{mesh}_phi_mask")[i] = False
    for name in ("V_phi", "U_phi", "S_phi"):
        p = getattr(layer, name)
        p.copy_(torch.where(p.abs() > math.pi, wrap_to_pi(p), p))
    layer.apply_masks()
    return counts


@torch.no_grad()
def gauge_network_full(
    model: PhotonicMLP,
    prune: bool = True,
    prune_sigma: bool = False,
    dead: bool = True,
    power_neutral: bool = True,
    cut_tol: float = 0.0,
) -> GaugeResult:
    """:func:`gauge_layer_full` on every layer; predictions do not change (each W changes at most by a
    diagonal phase screen on its output, ``|D·W·x| = |W·x|``; a layer with a ``screen`` keeps W exactly).

    ``GaugeResult.zeroed_uv`` counts U and V φ's zeroed per layer (``conditional`` of them on θ-pruned
    MZIs), ``dead_phases`` the phases of dead MZIs pruned.
    """
    if any(layer.mesh_kind not in ("clements", "reck") for layer in model.layers):
        # the full gauge walks columns of adjacent pairs; a butterfly's permutations (and padded modes) are
        # handled by the basic gauge, which follows the light through them
        return gauge_network(model, prune=prune, prune_sigma=prune_sigma)
    res = GaugeResult()
    for layer in model.layers:
        c = gauge_layer_full(
            layer, prune=prune, prune_sigma=prune_sigma, dead=dead, power_neutral=power_neutral, cut_tol=cut_tol
        )
        res.zeroed_uv.append(c.zeroed_u + c.zeroed_v)
        res.zeroed_sigma.append(c.zeroed_sigma)
        res.zeroed_v.append(c.zeroed_v)
        res.conditional.append(c.conditional)
        res.dead_phases.append(c.dead_phases)
    res.pruned_uv = (sum(res.zeroed_uv) if prune else 0) + sum(res.dead_phases)
    res.pruned_sigma = sum(res.zeroed_sigma) if (prune and prune_sigma) else 0
    return res
