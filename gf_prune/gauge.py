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

The V mesh has no such freedom: its input is the (fixed) data or a real, positive softplus output, and
an output screen of V† cannot move backwards through an MZI whose external heater sits on its input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from gf_prune.model import PhotonicMLP, SVDLayer
from gf_prune.physics import wrap_phase, wrap_to_pi


@dataclass
class GaugeResult:
    """What a gauge move did: phases set to exactly 0 per layer and the heater phase sum before/after."""

    zeroed_uv: list[int] = field(default_factory=list)
    zeroed_sigma: list[int] = field(default_factory=list)
    pruned_uv: int = 0
    pruned_sigma: int = 0

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
