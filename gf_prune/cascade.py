"""Feed-forward solve of a cell's connectivity: substitution in light order, no factorisation.

A backend of :mod:`gf_prune.circuit`, beside its dense, SuperLU and KLU solves. The waves
``a`` entering the instance ports of a cell satisfy ``a = C·S·a + C_ext·u`` and its outputs
are ``y = C_extᵀ·S·a``. When no wave can come back to a port it has passed (no
reflections, no loops: every gf_prune slot, mesh, Σ column, SVD layer and chip), the
graph ``a_j → a_i`` of the non-zeros of ``C·S`` is acyclic, and ``a`` follows by
substitution, one depth level at a time::

    a[level 0] = C_ext·u                                    (the cell's inputs; 0 elsewhere)
    a[level k] = Σ_{j → i} (C·S)_{ij} · a_j                 (every j on a lower level)

One multiply-add per structural non-zero and right-hand side: O(N²) per vector for an
N-mode mesh (N columns × N modes), O(N³) for its S-matrix. Nothing is compiled or
factorised, the sums are exact products (no pivoting), and a batch of systems of the
same cell (its instances × wavelengths) shares every step. The unknowns split into the
weakly connected parts of that graph (east- and westbound light of a mesh never meet),
each solved with only the inputs that feed it; an output entry fed straight by an input
is copied. :func:`plan` returns ``None`` for a cell with a cycle; the circuit factorises
that one as before.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

__all__ = ["Cascade", "Part", "plan"]

MAX_BYTES = 128 * 2**20
"""Working set of one batch of substitutions (unknowns × batch × inputs, complex128); larger
batches are solved in chunks."""


@dataclass(frozen=True)
class Part:
    """One weakly connected part of a cell's wave graph, in local unknown numbers.

    ``levels``: per depth ≥ 1, ``(targets, sources, edges)`` with ``sources``/``edges`` of shape
    (fan-in, targets): source unknown and edge number of each incoming edge (padding: the
    zero row ``n`` and edge −1). ``ins``: (local unknown, external port position) of the inputs
    feeding it; ``outs``: output S entries leaving from it (cell entry numbers), their
    local source unknown and external port position.
    """

    n: int
    levels: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]
    in_nodes: np.ndarray
    in_ports: np.ndarray
    out_entries: np.ndarray
    out_src: np.ndarray
    out_ports: np.ndarray

    def solve(self, weights: np.ndarray, out_w: np.ndarray, n_ports: int) -> np.ndarray:
        """Output waves (B, n_ports, len(in_ports)) of this part for a unit wave at each of its inputs.

        Args:
            weights: (E + 1, B) weight of every edge of the cell, a zero row last (padding).
            out_w: (len(out_entries), B) values of this part's output S entries.
        """
        batch, k = weights.shape[1], self.in_nodes.size
        a = np.zeros((self.n + 1, batch, k), dtype=np.complex128)  # row n: the zero padding row
        a[self.in_nodes, :, np.arange(k)] = 1.0
        for targets, sources, edges in self.levels:
            acc = weights[edges[0], :, None] * a[sources[0]]
            for s, e in zip(sources[1:], edges[1:], strict=True):
                acc += weights[e, :, None] * a[s]
            a[targets] = acc
        y = np.zeros((batch, n_ports, k), dtype=np.complex128)
        contrib = out_w[:, :, None] * a[self.out_src]  # (E_out, B, k)
        order = np.argsort(self.out_ports, kind="stable")
        ports = self.out_ports[order]
        starts = np.concatenate([[0], np.flatnonzero(np.diff(ports)) + 1]) if ports.size else ports
        if ports.size:
            y[:, ports[starts], :] = np.add.reduceat(contrib[order], starts, axis=0).transpose(1, 0, 2)
        return y

    def chunk(self) -> int:
        """Systems per batch that keep the working set under :data:`MAX_BYTES`."""
        return max(1, int(MAX_BYTES // max(1, (self.n + 1) * self.in_nodes.size * 16)))


@dataclass(frozen=True)
class Cascade:
    """Substitution plan of one cell: its parts and the output entries fed straight by an input.

    ``edge_entry``: the S entry of each edge (its weight); ``direct``: (entry, output port,
    input port) of every output S entry whose source is an external input.
    """

    edge_entry: np.ndarray
    parts: tuple[Part, ...]
    direct: tuple[np.ndarray, np.ndarray, np.ndarray]
    depth: int

    def solve(self, sx: np.ndarray, n_ports: int) -> np.ndarray:
        """S (B, P, P) of the cell from its instances' S entries ``sx`` (B, n_entries)."""
        batch = sx.shape[0]
        s = np.zeros((batch, n_ports, n_ports), dtype=np.complex128)
        entries, outs, ins = self.direct
        s[:, outs, ins] = sx[:, entries]  # (out, in) pairs of direct entries are distinct
        if not self.parts:
            return s
        weights = np.zeros((self.edge_entry.size + 1, batch), dtype=np.complex128)
        weights[:-1] = sx[:, self.edge_entry].T
        for part in self.parts:
            out_w = sx[:, part.out_entries].T
            step = part.chunk()
            for b0 in range(0, batch, step):
                b1 = min(batch, b0 + step)
                y = part.solve(weights[:, b0:b1], out_w[:, b0:b1], n_ports)
                s[b0:b1, :, part.in_ports] += y
        return s


def plan(
    n: int,
    dst: np.ndarray,
    src: np.ndarray,
    edge_entry: np.ndarray,
    ext_in: np.ndarray,
    out_entries: np.ndarray,
    out_src: np.ndarray,
    out_ports: np.ndarray,
) -> Cascade | None:
    """Substitution plan of a cell; None if its wave graph has a cycle.

    Args:
        n: unknowns (instance ports).
        dst, src, edge_entry: edges ``a[src] → a[dst]`` and the S entry giving each its weight.
        ext_in: unknown fed by each external port (port position = index).
        out_entries, out_src, out_ports: S entries that leave the cell, their source unknown
            and the external port they leave by.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    dst, src = np.asarray(dst, dtype=np.int64), np.asarray(src, dtype=np.int64)
    depth = _depths(n, dst, src)
    has_in = np.bincount(dst, minlength=n) > 0
    if depth is None or has_in[ext_in].any():  # a loop, or an input port that is also fed from inside
        return None
    port_of = np.full(n, -1, dtype=np.int64)
    port_of[ext_in] = np.arange(ext_in.size)
    direct = (port_of[out_src] >= 0) & ~has_in[out_src]
    direct_t = (out_entries[direct], out_ports[direct], port_of[out_src[direct]])
    if np.unique(direct_t[1] * max(1, ext_in.size) + direct_t[2]).size < direct_t[0].size:
        return None  # two entries from one input to one output: not one instance's S (the factorised solve adds them)
    _, label = connected_components(
        coo_matrix((np.ones(dst.size), (dst, src)), shape=(n, n)), directed=False, return_labels=True
    )
    edge_part = label[dst]
    parts = []
    for p in np.unique(edge_part):
        nodes = np.flatnonzero(label == p)
        local = np.full(n, -1, dtype=np.int64)
        local[nodes] = np.arange(nodes.size)
        mine = np.flatnonzero(edge_part == p)
        sel = ~direct & (label[out_src] == p)
        in_nodes = nodes[port_of[nodes] >= 0]
        if not sel.any() or not in_nodes.size:
            continue  # light from outside never reaches an output through this part
        levels = _levels(nodes.size, local[dst[mine]], local[src[mine]], mine, depth[dst[mine]])
        parts.append(
            Part(
                nodes.size,
                levels,
                local[in_nodes],
                port_of[in_nodes],
                out_entries[sel],
                local[out_src[sel]],
                out_ports[sel],
            )
        )
    return Cascade(np.asarray(edge_entry), tuple(parts), direct_t, int(depth.max(initial=0)))


def _depths(n: int, dst: np.ndarray, src: np.ndarray) -> np.ndarray | None:
    """Longest-path depth of every unknown (Kahn's algorithm, one numpy step per level); None if cyclic."""
    remaining = np.bincount(dst, minlength=n)
    out_order = np.argsort(src, kind="stable")
    out_ptr = np.concatenate([[0], np.cumsum(np.bincount(src, minlength=n))])
    depth = np.full(n, -1, dtype=np.int64)
    frontier = np.flatnonzero(remaining == 0)
    level = 0
    while frontier.size:
        depth[frontier] = level
        lo, hi = out_ptr[frontier], out_ptr[frontier + 1]
        counts = hi - lo
        total = int(counts.sum())
        if total == 0:
            break
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
        targets = dst[out_order[np.repeat(lo - offsets, counts) + np.arange(total)]]
        remaining -= np.bincount(targets, minlength=n)
        cand = np.unique(targets)
        frontier = cand[remaining[cand] == 0]
        level += 1
    return None if np.any(depth < 0) else depth


def _levels(
    n: int, dst: np.ndarray, src: np.ndarray, edges: np.ndarray, depth: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]:
    """Per depth level: targets and their incoming (source, edge) padded to the level's fan-in."""
    order = np.lexsort((dst, depth))
    dst, src, edges, depth = dst[order], src[order], edges[order], depth[order]
    out = []
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(depth)) + 1, [depth.size]])
    for e0, e1 in itertools.pairwise(bounds.tolist()):
        t = dst[e0:e1]
        starts = np.concatenate([[0], np.flatnonzero(np.diff(t)) + 1])
        fan = np.diff(np.concatenate([starts, [t.size]]))
        k = int(fan.max())
        sources = np.full((k, starts.size), n, dtype=np.int64)  # pad: the zero row
        edge_idx = np.full((k, starts.size), -1, dtype=np.int64)  # pad: the zero weight (last row)
        slot = np.arange(t.size) - np.repeat(starts, fan)
        col = np.repeat(np.arange(starts.size), fan)
        sources[slot, col] = src[e0:e1]
        edge_idx[slot, col] = edges[e0:e1]
        out.append((t[starts], sources, edge_idx))
    return tuple(out)
