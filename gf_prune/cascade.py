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


DENSE_FAN_IN = 8
"""A sum whose targets take at least this many terms each on average, over at least a quarter of its
(target, source) pairs, is one batched matmul (an SVD layer's V→Σ and U columns); others are padded
fan-in sums (a mesh column: two terms per target)."""


@dataclass(frozen=True)
class _Sum:
    """``y[t] = Σ_{edges j → t} w[edge]·a[j]`` for one group of targets, batched over systems.

    ``dense`` False: ``sources``/``edges`` are (fan-in, targets), padded with the zero row of ``a``
    and the zero weight (edge −1). ``dense`` True: ``sources`` are the distinct source rows,
    ``edges``/``rows``/``cols`` list each edge with its target and source position (a matmul).
    """

    targets: np.ndarray
    sources: np.ndarray
    edges: np.ndarray
    dense: bool = False
    rows: np.ndarray | None = None
    cols: np.ndarray | None = None

    def apply(self, w: np.ndarray, a: np.ndarray) -> np.ndarray:
        """(targets, B, k) from weights ``w`` (edges + 1, B; zero row last) and waves ``a`` (rows, B, k)."""
        if self.dense:
            assert self.rows is not None and self.cols is not None
            d = np.zeros((w.shape[1], self.targets.size, self.sources.size), dtype=np.complex128)
            d[:, self.rows, self.cols] = w[self.edges].T
            return np.matmul(d, a[self.sources].transpose(1, 0, 2)).transpose(1, 0, 2)
        acc = w[self.edges[0], :, None] * a[self.sources[0]]
        for src, e in zip(self.sources[1:], self.edges[1:], strict=True):
            acc += w[e, :, None] * a[src]
        return acc


def _sum(targets: np.ndarray, sources: np.ndarray, edges: np.ndarray, pad_row: int) -> _Sum:
    """The weighted sum over edges ``sources → targets`` (each pair at most once), dense or padded."""
    order = np.argsort(targets, kind="stable")
    t, s, e = targets[order], sources[order], edges[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(t)) + 1])
    fan = np.diff(np.concatenate([starts, [t.size]]))
    uniq, cols = np.unique(s, return_inverse=True)
    if t.size >= DENSE_FAN_IN * starts.size and 4 * t.size >= starts.size * uniq.size:
        rows = np.repeat(np.arange(starts.size), fan)
        return _Sum(t[starts], uniq, e, True, rows, cols.ravel())
    width = int(fan.max())
    slot = np.arange(t.size) - np.repeat(starts, fan)
    col = np.repeat(np.arange(starts.size), fan)
    src_pad = np.full((width, starts.size), pad_row, dtype=np.int64)  # pad: the zero row
    edge_pad = np.full((width, starts.size), -1, dtype=np.int64)  # pad: the zero weight (last row)
    src_pad[slot, col], edge_pad[slot, col] = s, e
    return _Sum(t[starts], src_pad, edge_pad)


@dataclass(frozen=True)
class Part:
    """One weakly connected part of a cell's wave graph, in local unknown numbers.

    ``levels``: one :class:`_Sum` per depth ≥ 1 (targets: local unknowns); ``outputs``: a
    :class:`_Sum` whose targets are the external ports its output S entries leave by.
    ``in_nodes``/``in_ports``: the inputs feeding it (local unknown, external port position).
    Weights are rows of the cell's weight table (:attr:`Cascade.entries`).
    """

    n: int
    levels: tuple[_Sum, ...]
    outputs: _Sum
    in_nodes: np.ndarray
    in_ports: np.ndarray

    def solve(self, w: np.ndarray, n_ports: int) -> np.ndarray:
        """Output waves (B, n_ports, len(in_ports)) for a unit wave at each of this part's inputs.

        Args:
            w: (entries + 1, B) the cell's weight table, a zero row last (padding).
        """
        batch, k = w.shape[1], self.in_nodes.size
        a = np.zeros((self.n + 1, batch, k), dtype=np.complex128)  # row n: the zero padding row
        a[self.in_nodes, :, np.arange(k)] = 1.0
        for level in self.levels:
            a[level.targets] = level.apply(w, a)
        y = np.zeros((n_ports, batch, k), dtype=np.complex128)
        y[self.outputs.targets] = self.outputs.apply(w, a)
        return y.transpose(1, 0, 2)

    def chunk(self) -> int:
        """Systems per batch that keep the working set under :data:`MAX_BYTES`."""
        return max(1, int(MAX_BYTES // max(1, (self.n + 1) * self.in_nodes.size * 16)))


@dataclass(frozen=True)
class Cascade:
    """Substitution plan of one cell: its parts and the output entries fed straight by an input.

    ``entries``: the S entry behind each row of the weight table (edges, then outputs);
    ``direct``: (entry, output port, input port) of every output S entry whose source is an
    external input without incoming edges (its S value is the cell's S value).
    """

    entries: np.ndarray
    parts: tuple[Part, ...]
    direct: tuple[np.ndarray, np.ndarray, np.ndarray]
    depth: int

    def bytes_per_system(self, n_ports: int) -> int:
        """Working set of one system: the S-matrix and the waves of its largest part."""
        waves = max([(p.n + 1) * p.in_nodes.size for p in self.parts], default=0)
        return 16 * (n_ports * n_ports + waves)

    def solve(self, sx: np.ndarray, n_ports: int) -> np.ndarray:
        """S (B, P, P) of the cell from its instances' S entries ``sx`` (B, n_entries)."""
        batch = sx.shape[0]
        s = np.zeros((batch, n_ports, n_ports), dtype=np.complex128)
        entries, outs, ins = self.direct
        s[:, outs, ins] = sx[:, entries]  # (out, in) pairs of direct entries are distinct
        if not self.parts:
            return s
        w = np.zeros((self.entries.size + 1, batch), dtype=np.complex128)
        w[:-1] = sx[:, self.entries].T
        for part in self.parts:
            step = part.chunk()
            for b0 in range(0, batch, step):
                b1 = min(batch, b0 + step)
                s[b0:b1, :, part.in_ports] += part.solve(w[:, b0:b1], n_ports)
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
    pairs = np.unique(np.stack([dst, src]), axis=1).shape[1] if dst.size else 0
    outs = np.unique(np.stack([out_ports, out_src]), axis=1).shape[1] if out_src.size else 0
    if pairs < dst.size or outs < out_src.size:
        return None  # two terms between one pair of ports: not one instance's S (the factorised solve adds them)
    direct = (port_of[out_src] >= 0) & ~has_in[out_src]
    direct_t = (out_entries[direct], out_ports[direct], port_of[out_src[direct]])
    _, label = connected_components(
        coo_matrix((np.ones(dst.size), (dst, src)), shape=(n, n)), directed=False, return_labels=True
    )
    edge_part = label[dst]
    parts = []
    entries = [np.asarray(edge_entry)]
    n_rows = dst.size
    for p in np.unique(edge_part):
        nodes = np.flatnonzero(label == p)
        local = np.full(n, -1, dtype=np.int64)
        local[nodes] = np.arange(nodes.size)
        mine = np.flatnonzero(edge_part == p)
        sel = np.flatnonzero(~direct & (label[out_src] == p))
        in_nodes = nodes[port_of[nodes] >= 0]
        if not sel.size or not in_nodes.size:
            continue  # light from outside never reaches an output through this part
        levels = _levels(nodes.size, local[dst[mine]], local[src[mine]], mine, depth[dst[mine]])
        outputs = _sum(out_ports[sel], local[out_src[sel]], n_rows + np.arange(sel.size), nodes.size)
        entries.append(out_entries[sel])
        n_rows += sel.size
        parts.append(Part(nodes.size, levels, outputs, local[in_nodes], port_of[in_nodes]))
    return Cascade(np.concatenate(entries), tuple(parts), direct_t, int(depth.max(initial=0)))


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


def _levels(n: int, dst: np.ndarray, src: np.ndarray, edges: np.ndarray, depth: np.ndarray) -> tuple[_Sum, ...]:
    """One :class:`_Sum` per depth level ≥ 1 (the zero padding row is ``n``)."""
    order = np.argsort(depth, kind="stable")
    dst, src, edges, depth = dst[order], src[order], edges[order], depth[order]
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(depth)) + 1, [depth.size]])
    return tuple(_sum(dst[e0:e1], src[e0:e1], edges[e0:e1], n) for e0, e1 in itertools.pairwise(bounds.tolist()))
