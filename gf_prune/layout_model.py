"""The laid-out chip as a differentiable JAX function of its heater phases.

:class:`LayoutModel` takes a :class:`~gf_prune.circuit.CompiledCircuit` (any leaf models: the ideal
ones of :mod:`gf_prune.sax_models` or a foundry PDK's, :mod:`gf_prune.foundry_models`) and gives every
SVD layer's transfer matrix as a JAX function of the heater phases, at one wavelength:

* A *heater cell* (an MZI slot or Σ attenuator: a cell whose own instances include heaters) is
  feed-forward and passes each heater at most once on every path, so its S-matrix is multilinear in
  the heaters' phasors: ``S(φ₁, …, φ_k) = Σ_A C_A · Π_{j∈A} e^{iφ_j}`` over subsets A of its k heaters.
  The 2^k coefficient matrices ``C_A`` of every heater cell of the chip come from 2^k evaluations of
  the circuit engine with each cell's heaters at 0 or π (a Hadamard transform), once.
* Every cell above them (mesh, Σ column, SVD layer, chip) is composed feed-forward: the waves are
  propagated from the cell's west inputs through its instances in topological levels (one gather,
  one batched small matmul, one scatter per level and instance shape), O(N²) per input vector.

The result equals the engine's S-matrix at the same phases to ~1e-13 (:meth:`LayoutModel.max_deviation`),
and its gradient with respect to the phases is exact: what layout-in-the-loop tuning needs
(:mod:`gf_prune.foundry`). The wave directions are found from the cell's inputs (``in{r}`` ports,
:func:`gf_prune.naming.parse_mode_port`); reflections are assumed absent (true of every model here).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gf_prune.circuit import CompiledCircuit, _Cell, _split
from gf_prune.naming import parse_mode_port
from gf_prune.sax_models import WL0_UM

__all__ = ["LayoutModel"]

MAX_LOCAL_HEATERS = 4
"""Heater cells with more heaters than this (2^k engine evaluations) are refused."""


@dataclass
class _Group:
    """Instances of one kind at one level of a composed cell, evaluated together."""

    kind: str  # "coef" (heater cells), "const" (no heater below), "sub" (a composed child)
    in_idx: np.ndarray  # (m, n_in) receiving-port rows of the field table
    out_dst: np.ndarray  # (m, n_out) rows the outputs are written to
    coef: np.ndarray | None = None  # coef: (m, 2^k, n_out, n_in)
    ph_idx: np.ndarray | None = None  # coef: (m, k) heater indices into the phase vector (−1: none)
    const: np.ndarray | None = None  # const: (m, n_out, n_in)
    sub: _Plan | None = None  # sub: plan of the single child


@dataclass
class _Plan:
    """A composite cell instance composed feed-forward from its children, for given input ports."""

    name: str
    n_rows: int  # field-table rows: receiving ports, then external outputs, then one dump row
    src_rows: np.ndarray  # (E,) rows of the external inputs
    out_rows: np.ndarray  # (P_out,) rows of the external outputs
    out_ports: list[str]
    levels: list[list[_Group]]
    stack: tuple[np.ndarray, ...] | None = None  # no sub-cells: every level padded to one shape (lax.scan)


class LayoutModel:
    """Every layer matrix of a compiled chip as a JAX function of the heater phases (see the module).

    Args:
        cc: the compiled circuit (its :attr:`~gf_prune.circuit.CompiledCircuit.slots` order is the
            phase vector's order).
        wl: wavelength (µm) of the coefficients.
        inputs: names of the top cell's input ports (default: every ``[l{ℓ}_]in{r}`` port).
    """

    def __init__(self, cc: CompiledCircuit, wl: float = WL0_UM, inputs: Sequence[str] | None = None) -> None:
        self.cc = cc
        self.wl = float(wl)
        self.inputs = list(inputs) if inputs is not None else [p for p in cc.ports if _is_input(p)]
        if not self.inputs:
            raise ValueError(f"the top cell {cc.top_name!r} has no input ports named in<r> or l<ℓ>_in<r>")
        self.n_phases = len(cc.slots)
        self._local, self._k = self._local_heaters()
        self._evals = self._pattern_evaluations()
        self.plan = self._build(cc.top, (), [cc.ports.index(p) for p in self.inputs])
        self._fn = jax.jit(self._compose)

    # ------------------------------------------------------------------ set-up
    def _local_heaters(self) -> tuple[np.ndarray, int]:
        """Index of each heater among its cell's own heaters, and the largest count."""
        local = np.zeros(self.n_phases, dtype=np.int64)
        k = 0
        for i, path in enumerate(self.cc.slots):
            cell, _ = self.cc.locate(path[:-1]) if len(path) > 1 else (self.cc.top, 0)
            j = cell.slots.index((path[-1],))
            local[i] = j
            k = max(k, len(cell.slots))
        if k > MAX_LOCAL_HEATERS:
            raise ValueError(f"a cell holds {k} heaters of its own (at most {MAX_LOCAL_HEATERS} supported)")
        return local, k

    def _pattern_evaluations(self) -> list[Any]:
        """The engine's evaluation with every cell's heater j at π·x_j, for x in {0, 1}^k."""
        out = []
        for x in itertools.product((0, 1), repeat=self._k):
            ph = np.pi * np.asarray(x, dtype=float)[self._local] if self._k else np.zeros(self.n_phases)
            out.append(self.cc.evaluate_all(ph, self.wl))
        return out

    def _coefficients(self, cell: _Cell, row: int) -> np.ndarray:
        """C_A (2^k, P, P) of the heater cell at ``row`` of ``cell``'s batch (bit j of A: heater j)."""
        k = len(cell.slots)
        s = np.stack([ev.cell_s[cell.name][row] for ev in self._evals])  # (2^K, P, P), x in product order
        xs = np.array(list(itertools.product((0, 1), repeat=self._k)), dtype=np.int64)
        coefs = []
        for a in range(2**k):
            bits = np.array([(a >> j) & 1 for j in range(k)] + [0] * (self._k - k), dtype=np.int64)
            sign = (-1.0) ** (xs @ bits)
            keep = np.all(xs[:, k:] == 0, axis=1)  # heaters beyond this cell's k do not exist here
            coefs.append(np.tensordot(sign[keep], s[keep], axes=1) / 2**k)
        return np.stack(coefs)

    def _build(self, cell: _Cell, path: tuple[str, ...], in_ports: list[int]) -> _Plan:
        """Plan of the composite ``cell`` at ``path`` with light entering at its ports ``in_ports``."""
        net = self.cc.recnet[cell.name]
        child: dict[str, tuple[Any, int]] = {}  # instance → (group, index in group)
        for g in cell.groups:
            for j, inst in enumerate(g.names):
                child[inst] = (g, j)
        partner: dict[tuple[str, str], tuple[str, str]] = {}
        for n in net.get("nets", []):
            a, b = _split(n["p1"]), _split(n["p2"])
            partner[a], partner[b] = b, a
        ext_of: dict[tuple[str, str], int] = {}
        for ext, ip in net.get("ports", {}).items():
            if ext in cell.ports:
                ext_of[_split(ip)] = cell.ports.index(ext)
        port_at = {i: ip for ip, i in ext_of.items()}

        # breadth-first from the inputs: which ports of each child receive light, which emit it
        receiving: dict[str, set[str]] = {}
        queue = [port_at[i] for i in in_ports if i in port_at]
        for inst, p in queue:
            receiving.setdefault(inst, set()).add(p)
        emitting: dict[str, list[str]] = {}
        level: dict[str, int] = {}
        seen_q = 0
        while seen_q < len(queue):
            inst, p = queue[seen_q]
            seen_q += 1
            g, _ = child[inst]
            pidx = g.ports.index(p)
            outs = [g.ports[r] for r, c in zip(g.pat_r, g.pat_c, strict=True) if c == pidx and r != pidx]
            for q in outs:
                if q in receiving.get(inst, ()):
                    continue  # a backward path (reflection-free models: carries nothing)
                if q not in emitting.setdefault(inst, []):
                    emitting[inst].append(q)
                    nxt = partner.get((inst, q))
                    if nxt is not None and nxt[0] in child and nxt[1] not in receiving.get(nxt[0], set()):
                        receiving.setdefault(nxt[0], set()).add(nxt[1])
                        queue.append(nxt)
        # levels: an instance comes after every instance that feeds it
        feeds: dict[str, set[str]] = {inst: set() for inst in receiving}
        for inst, qs in emitting.items():
            for q in qs:
                nxt = partner.get((inst, q))
                if nxt is not None and nxt[0] in feeds:
                    feeds[nxt[0]].add(inst)
        for inst in _topological(feeds):
            level[inst] = 1 + max((level[f] for f in feeds[inst]), default=-1)

        # field table rows: every receiving port, then the external outputs, then a dump row
        rows: dict[tuple[str, str], int] = {}
        for inst in sorted(receiving):
            for p in sorted(receiving[inst]):
                rows[(inst, p)] = len(rows)
        out_ports = sorted({ext_of[(inst, q)] for inst, qs in emitting.items() for q in qs if (inst, q) in ext_of})
        out_row = {e: len(rows) + k for k, e in enumerate(out_ports)}
        dump = len(rows) + len(out_ports)

        def dest(inst: str, q: str) -> int:
            if (inst, q) in ext_of and ext_of[(inst, q)] in out_row:
                return out_row[ext_of[(inst, q)]]
            nxt = partner.get((inst, q))
            return rows.get(nxt, dump) if nxt is not None else dump

        buckets: dict[tuple, list[str]] = {}
        for inst in receiving:
            g, _ = child[inst]
            ins = tuple(sorted(receiving[inst]))
            outs = tuple(sorted(emitting.get(inst, [])))
            if not outs:
                continue  # an absorber (terminator) or a dead end
            kind = "const" if g.sub is None or not self.cc.cell(g.sub).slots else "sub"
            if kind == "sub" and _is_heater_cell(self.cc.cell(g.sub)):
                kind = "coef"
            key = (level[inst], kind, g.component, ins, outs) if kind != "sub" else (level[inst], kind, inst)
            buckets.setdefault(key, []).append(inst)
        levels: dict[int, list[_Group]] = {}
        for key, insts in sorted(buckets.items(), key=lambda kv: (kv[0][0], str(kv[0][1:]))):
            lvl, kind = key[0], key[1]
            g, _ = child[insts[0]]
            ins = sorted(receiving[insts[0]])
            outs = sorted(emitting[insts[0]])
            ri = [g.ports.index(p) for p in ins]
            ro = [g.ports.index(q) for q in outs]
            in_idx = np.array([[rows[(i, p)] for p in ins] for i in insts], dtype=np.int64)
            out_dst = np.array([[dest(i, q) for q in outs] for i in insts], dtype=np.int64)
            grp = _Group(kind, in_idx, out_dst)
            if kind == "sub":
                grp.sub = self._build(self.cc.cell(g.sub), (*path, insts[0]), ri)
                grp.out_dst = np.array([[dest(insts[0], q) for q in grp.sub.out_ports]], dtype=np.int64)
            elif kind == "coef":
                sub = self.cc.cell(g.sub)
                rows_b = [self.cc.locate((*path, i))[1] for i in insts]
                grp.coef = np.stack([self._coefficients(sub, r)[:, ro][:, :, ri] for r in rows_b])
                grp.ph_idx = np.array([self._heater_indices((*path, i), sub) for i in insts], dtype=np.int64)
            else:
                evs = self._evals[0]
                if g.sub is None:
                    _, local = evs.children(path)
                    mats = [local[i][1][np.ix_(ro, ri)] for i in insts]
                else:
                    mats = [evs.cell_s[g.sub][self.cc.locate((*path, i))[1]][np.ix_(ro, ri)] for i in insts]
                grp.const = np.stack(mats)
            levels.setdefault(lvl, []).append(grp)
        levels = {k: self._merge(v) for k, v in levels.items()}
        src_rows = np.array([rows.get(port_at[i], dump) if i in port_at else dump for i in in_ports], dtype=np.int64)
        plan = _Plan(
            cell.name,
            dump + 1,
            src_rows,
            np.array([out_row[e] for e in out_ports], dtype=np.int64),
            [cell.ports[e] for e in out_ports],
            [levels[k] for k in sorted(levels)],
        )
        if plan.levels and not any(g.kind == "sub" for lv in plan.levels for g in lv):
            plan.stack = self._stack(plan.levels, dump)
        return plan

    def _stack(self, levels: list[list[_Group]], dump: int) -> tuple[np.ndarray, ...]:
        """Every level's groups padded into (L, M, …) arrays: one scanned step instead of L·shapes
        operations (padding reads and writes the dump row with zero coefficients)."""
        n_in = max(g.in_idx.shape[1] for lv in levels for g in lv)
        n_out = max(g.out_dst.shape[1] for lv in levels for g in lv)
        m = max(sum(g.in_idx.shape[0] for g in lv) for lv in levels)
        n_lv, n_coef = len(levels), 2**self._k
        in_idx = np.full((n_lv, m, n_in), dump, dtype=np.int64)
        out_dst = np.full((n_lv, m, n_out), dump, dtype=np.int64)
        coef = np.zeros((n_lv, m, n_coef, n_out, n_in), dtype=complex)
        ph_idx = np.full((n_lv, m, self._k), -1, dtype=np.int64)
        for li, lv in enumerate(levels):
            k = 0
            for g in lv:
                assert g.coef is not None and g.ph_idx is not None
                n, i, o = g.in_idx.shape[0], g.in_idx.shape[1], g.out_dst.shape[1]
                in_idx[li, k : k + n, :i] = g.in_idx
                out_dst[li, k : k + n, :o] = g.out_dst
                coef[li, k : k + n, :, :o, :i] = g.coef
                ph_idx[li, k : k + n] = g.ph_idx
                k += n
        return in_idx, out_dst, coef, ph_idx

    def _merge(self, groups: list[_Group]) -> list[_Group]:
        """One ``coef`` group per instance shape at a level (constants as coefficient C_∅ only): few,
        larger operations, which keeps the XLA compilation of the composition short."""
        out = [g for g in groups if g.kind == "sub"]
        by_shape: dict[tuple[int, int], list[_Group]] = {}
        for g in groups:
            if g.kind != "sub":
                by_shape.setdefault((g.in_idx.shape[1], g.out_dst.shape[1]), []).append(g)
        n_coef = 2**self._k
        for (n_in, n_out), gs in by_shape.items():
            coefs, idx = [], []
            for g in gs:
                if g.kind == "const":
                    assert g.const is not None
                    c = np.zeros((g.const.shape[0], n_coef, n_out, n_in), dtype=complex)
                    c[:, 0] = g.const
                    coefs.append(c)
                    idx.append(np.full((g.const.shape[0], self._k), -1, dtype=np.int64))
                else:
                    assert g.coef is not None and g.ph_idx is not None
                    c = np.zeros((g.coef.shape[0], n_coef, n_out, n_in), dtype=complex)
                    c[:, : g.coef.shape[1]] = g.coef
                    coefs.append(c)
                    idx.append(g.ph_idx)
            out.append(
                _Group(
                    "coef",
                    np.concatenate([g.in_idx for g in gs]),
                    np.concatenate([g.out_dst for g in gs]),
                    coef=np.concatenate(coefs),
                    ph_idx=np.concatenate(idx),
                )
            )
        return out

    def _heater_indices(self, path: tuple[str, ...], cell: _Cell) -> list[int]:
        """Global phase index of each of the heater cell's own heaters, padded with −1 to k."""
        idx = [self._slot_index[(*path, s[0])] for s in cell.slots]
        return idx + [-1] * (self._k - len(idx))

    @property
    def _slot_index(self) -> dict[tuple[str, ...], int]:
        if not hasattr(self, "_slot_index_cache"):
            self._slot_index_cache = {tuple(p): i for i, p in enumerate(self.cc.slots)}
        return self._slot_index_cache

    # ------------------------------------------------------------------ evaluate
    def _run(self, plan: _Plan, phasors: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
        """Output waves (P_out, E) of ``plan`` for input waves ``x`` (E_in, E) at its inputs."""
        f = jnp.zeros((plan.n_rows, x.shape[1]), dtype=jnp.complex128)
        f = f.at[plan.src_rows].add(x)
        if plan.stack is not None:

            def level(f: jnp.ndarray, arrays: tuple[jnp.ndarray, ...]) -> tuple[jnp.ndarray, None]:
                in_idx, out_dst, coef, ph_idx = arrays
                m = jnp.einsum("ma,maoi->moi", _factors(phasors[ph_idx]), coef)
                y = jnp.einsum("moi,mie->moe", m, f[in_idx])
                return f.at[out_dst.ravel()].set(y.reshape(-1, y.shape[-1])), None

            f, _ = jax.lax.scan(level, f, tuple(jnp.asarray(a) for a in plan.stack))
            return f[plan.out_rows]
        for groups in plan.levels:
            for g in groups:
                if g.kind == "sub":
                    assert g.sub is not None
                    y = self._run(g.sub, phasors, f[g.in_idx[0]])[None]
                else:
                    if g.kind == "coef":
                        assert g.coef is not None and g.ph_idx is not None
                        m = jnp.einsum("ma,maoi->moi", _factors(phasors[g.ph_idx]), g.coef)
                    else:
                        m = jnp.asarray(g.const)
                    y = jnp.einsum("moi,mie->moe", m, f[g.in_idx])
                f = f.at[g.out_dst.ravel()].set(y.reshape(-1, y.shape[-1]))
        return f[plan.out_rows]

    def _compose(self, phases: jnp.ndarray) -> jnp.ndarray:
        phasors = jnp.concatenate([jnp.exp(1j * phases), jnp.ones(1, dtype=jnp.complex128)])
        eye = jnp.eye(len(self.inputs), dtype=jnp.complex128)
        return self._run(self.plan, phasors, eye)

    def transfer(self, phases: Any) -> jnp.ndarray:
        """(outputs × inputs) transfer of the top cell: rows :attr:`outputs`, columns :attr:`inputs`."""
        return self._fn(jnp.asarray(phases, dtype=jnp.float64))

    @property
    def outputs(self) -> list[str]:
        return self.plan.out_ports

    def blocks(self, t: jnp.ndarray, shapes: Sequence[tuple[int, int]]) -> list[jnp.ndarray]:
        """Each layer's n_out × n_in block of a top-cell transfer ``t`` (ports ``[l{ℓ}_]in/out{r}``)."""
        ins = {(mp.layer, mp.row): i for i, p in enumerate(self.inputs) if (mp := parse_mode_port(p))}
        outs = {(mp.layer, mp.row): i for i, p in enumerate(self.outputs) if (mp := parse_mode_port(p))}
        layered = any(k[0] is not None for k in ins)
        res = []
        for li, (n_out, n_in) in enumerate(shapes):
            key = li if layered else None
            try:
                r = np.array([outs[(key, r)] for r in range(n_out)])
                c = np.array([ins[(key, r)] for r in range(n_in)])
            except KeyError as e:
                raise ValueError(f"layer {li}: port {e.args[0]} missing from the chip") from None
            res.append(t[r][:, c])
        return res

    def max_deviation(self, phases: Any, wl: float | None = None) -> float:
        """Largest |entry| difference between this model's transfer and the engine's S at ``phases``."""
        s = self.cc.evaluate(np.asarray(phases, dtype=float), self.wl if wl is None else wl)
        rows = [self.cc.ports.index(p) for p in self.outputs]
        cols = [self.cc.ports.index(p) for p in self.inputs]
        return float(np.max(np.abs(np.asarray(self.transfer(phases)) - s[np.ix_(rows, cols)])))


def _factors(e: jnp.ndarray) -> jnp.ndarray:
    """(m, 2^k) products Π_{j∈A} e_j of the phasors (m, k) (index −1 points at an appended 1)."""
    fac = jnp.ones((e.shape[0], 1), dtype=jnp.complex128)
    for j in range(e.shape[1]):
        fac = jnp.concatenate([fac, fac * e[:, j : j + 1]], axis=1)
    return fac


def _is_input(port: str) -> bool:
    mp = parse_mode_port(port)
    return mp is not None and mp.direction == "in"


def _is_heater_cell(cell: _Cell) -> bool:
    return any(g.leaf is not None and g.leaf.heater for g in cell.groups)


def _topological(feeds: dict[str, set[str]]) -> list[str]:
    done: set[str] = set()
    out: list[str] = []

    def visit(n: str, stack: frozenset = frozenset()) -> None:
        if n in done:
            return
        if n in stack:
            raise ValueError(f"the circuit is not feed-forward: a loop passes {n!r}")
        for f in sorted(feeds.get(n, ())):
            visit(f, stack | {n})
        done.add(n)
        out.append(n)

    for n in sorted(feeds):
        visit(n)
    return out
