"""Circuit engine: S-matrices of a recursive netlist, every cell solved once per batch.

The general half of the SAX verification (:mod:`gf_prune.verify`), knowing nothing of
meshes or MZIs, the way SAX keeps ``sax.backends`` apart from ``sax.circuit``.
:class:`CompiledCircuit` never JIT-compiles the circuit. It walks the recursive netlist
once and plans one batch per cell and per model:

* every leaf model (straight, bend, coupler, heater, crossing, terminator) is called
  **once per evaluation** on the stacked lengths/phases of all its instances in the
  whole chip (one small XLA compile per model, nothing per instance);
* every composite cell (MZI slot, passthrough, mesh, Σ column, layer, chip) is then
  solved bottom-up, all its instances in one batch: by substitution in light order
  when no light comes back (:mod:`gf_prune.cascade`: every gf_prune cell — O(N²) per
  vector for an N-mode mesh, nothing to compile, wavelengths batched), otherwise by
  dense ``numpy.linalg.solve`` for
  small systems (nothing to compile), SciPy SuperLU one system at a time for rare
  mid-size ones (a 16-mode mesh), one batched sparse ``klujax`` solve with the
  symbolic analysis kept from compile time for frequent or huge ones (8128 MZI slots,
  a 128-mode mesh).

The waves entering every instance port ``a`` satisfy ``(I − C·S)·a = C_ext·u`` and
the outputs are ``y = C_extᵀ·S·a`` (as in ``sax.backends.klu``). New heater phases
(or a new wavelength) only re-run the numbers: :meth:`CompiledCircuit.evaluate`.
:meth:`CompiledCircuit.flat_netlist` gives the same circuit as one flat netlist for
the reference ``sax.circuit(..., backend="klu")`` (equal to ~1e-15).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import klujax
import numpy as np
from scipy.sparse import coo_matrix

from gf_prune import cascade, sax_models
from gf_prune.sax_models import WL0_UM, UnmodelledCellError

__all__ = ["CompiledCircuit", "Netlist", "RecursiveNetlist"]

DENSE_MAX_FLOPS = 1e8
"""A cell (n instance ports, occurring count times) is solved densely (batched
``numpy.linalg.solve``, nothing to compile) when count·n³ stays below this; above it
sparsely: SuperLU per system for rare cells, one batched KLU solve (``klujax``, whose
first call per shape costs ~0.4 s of XLA compilation) for frequent ones."""

DENSE_MAX_BYTES = 256 * 2**20
"""…and when the dense batch of systems fits in this much memory."""

SPLU_MAX_BATCH = 16
"""Larger cells occurring at most this often are factorised one by one (scipy SuperLU,
no compilation); more frequent ones in one batched KLU solve."""

SPLU_MAX_UNKNOWNS = 16384
"""…if they have at most this many instance ports (KLU's block-triangular ordering wins
on a 128-mode mesh's 33 k unknowns)."""

SWEEP_CHUNK_BYTES = 16 * 2**20
"""Working set of one pass of a wavelength sweep on a substituted circuit (see
:attr:`CompiledCircuit.sweep_chunk`). Measured on a 64-64-10 chip on the shared 2-core machine (27 points,
best of 3): 1.19 s one wavelength per pass, 0.48 s three (this bound's choice), 1.41 s all 27."""

Netlist = Mapping[str, Any]
RecursiveNetlist = Mapping[str, Netlist]


@dataclass
class _Group:
    """Instances of one cell inside a parent cell."""

    component: str
    names: list[str]
    leaf: sax_models.CellModel | None  # None: composite (``sub``)
    sub: str | None  # composite cell name
    static: dict[str, np.ndarray]  # leaf: model kwargs per instance, shape (m,)
    ports: list[str]  # optical ports of the cell, in S order
    pat_r: np.ndarray  # structural non-zeros of the cell's S: output port index
    pat_c: np.ndarray  # … input port index
    slot_offset: np.ndarray  # (m,) offset of each instance's heater slots in the parent's slots
    n_slots: int  # heater slots per instance
    start: int = 0  # leaf: offset in its model's global batch; composite: first row in the sub-cell's batch


@dataclass
class _Cell:
    """A composite cell, compiled: groups, assembly indices, solver, batch plan."""

    name: str
    ports: list[str]  # external optical ports, in S order
    groups: list[_Group]
    slots: list[tuple[str, ...]]  # heater paths below this cell (instance names, last = heater)
    n_unknowns: int
    s_rows: np.ndarray  # global output-port index of each S entry (concatenated over groups)
    s_cols: np.ndarray  # global input-port index
    a_rows: np.ndarray  # rows in A = I − C·S of the connected S entries
    a_cols: np.ndarray
    a_sel: np.ndarray  # which S entries are connected
    ext_in: np.ndarray  # global port index of each external port
    ext_sel: np.ndarray  # S entries whose output is an external port
    ext_out: np.ndarray  # which external port each of those is
    pat_r: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    pat_c: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    solver: str = "dense"  # "cascade" (substitution), "dense" (batched numpy), "splu" (scipy), "klu" (klujax)
    feed: cascade.Cascade | None = None  # substitution order of a feed-forward cell
    csc: Any = None
    a_i: Any = None
    a_j: Any = None
    symbolic: Any = None
    count: int = 0  # instances of this cell in the whole (flattened) circuit
    gather: Any = None  # sparse (external port × S entry) sum of the output waves, built on first use
    warnings: list[str] = field(default_factory=list)


@dataclass
class _ModelBatch:
    """Every leaf instance of one model in the circuit, evaluated in one call."""

    model: Callable[..., Any]
    heater: bool
    keys: list[tuple[str, str]]  # SDict keys (in, out) of the structural non-zeros
    static: dict[str, list[np.ndarray]] = field(default_factory=dict)
    slot_index: list[np.ndarray] = field(default_factory=list)
    size: int = 0
    arrays: dict[str, Any] = field(default_factory=dict)
    phase_index: np.ndarray | None = None
    expand: np.ndarray | None = None  # instance → row of its cell's parameters (None: one row each)
    expand_parts: list[np.ndarray] = field(default_factory=list)
    rows: int = 0  # parameter rows, when instances share them


def _split(ip: str) -> tuple[str, str]:
    inst, port = ip.split(",")
    return inst, port


class CompiledCircuit:
    """A recursive gdsfactory netlist compiled for fast, repeated SAX evaluation.

    Args:
        recnet: ``component.get_netlist(recursive=True)``.
        top: name of the top cell (default: the one no other cell instantiates).
        cell_models: cell name → :class:`~gf_prune.sax_models.CellModel`
            (default :data:`gf_prune.sax_models.CELL_MODELS`). A cell that is neither
            modelled nor in the netlist raises :class:`~gf_prune.sax_models.UnmodelledCellError`.
        feed_forward: solve cells without loops or reflections by substitution
            (:mod:`gf_prune.cascade`; absorbers, whose entries are zero, get none); False
            factorises every cell (dense/SuperLU/KLU) with every model entry, as before the
            substitution existed — the reference the tests compare with.

    ``slots`` lists every heater as its instance path from the top cell; pass one
    phase per slot to :meth:`evaluate`. Compiling does no numerical work beyond the
    symbolic KLU analysis of each large cell; every model is called once per
    evaluation on all its instances in the circuit.
    """

    def __init__(
        self,
        recnet: RecursiveNetlist,
        top: str | None = None,
        cell_models: Mapping[str, sax_models.CellModel] | None = None,
        feed_forward: bool = True,
    ) -> None:
        t0 = time.perf_counter()
        self.recnet = recnet
        self.feed_forward = feed_forward
        self.cell_models = dict(sax_models.CELL_MODELS if cell_models is None else cell_models)
        self.top_name = top or _find_top(recnet)
        self._cells: dict[str, _Cell] = {}
        self._leaf: dict[str, tuple[list[str], np.ndarray, np.ndarray, list[tuple[str, str]]]] = {}
        self.top = self._compile(self.top_name)
        self.slots = self.top.slots
        self.ports = self.top.ports
        self._plan()
        self.compile_s = time.perf_counter() - t0

    # ------------------------------------------------------------------ compile
    def _leaf_info(self, component: str) -> tuple[list[str], np.ndarray, np.ndarray, list[tuple[str, str]]]:
        """Ports, structural pattern (out, in) and SDict keys of a leaf model."""
        if component not in self._leaf:
            cm = self.cell_models[component]
            sd = jax.eval_shape(lambda: cm.model(**({"phase": 0.0} if cm.heater else {})))  # trace only
            ports = sorted({p for pair in sd for p in pair}, key=_natural)
            idx = {p: i for i, p in enumerate(ports)}
            keys = sorted(sd, key=lambda k: (idx[k[1]], idx[k[0]]))
            if cm.absorber and self.feed_forward:  # its entries are zero: none (a loop through two is no loop)
                keys = []
            pat_r = np.array([idx[o] for _, o in keys], dtype=np.int64)
            pat_c = np.array([idx[i] for i, _ in keys], dtype=np.int64)
            self._leaf[component] = (ports, pat_r, pat_c, keys)
        return self._leaf[component]

    def _compile(self, name: str) -> _Cell:
        if name in self._cells:
            return self._cells[name]
        net = self.recnet[name]
        by_comp: dict[str, list[str]] = {}
        for inst, spec in net.get("instances", {}).items():
            by_comp.setdefault(spec["component"], []).append(inst)
        groups: list[_Group] = []
        slots: list[tuple[str, ...]] = []
        inst_ports: dict[str, dict[str, int]] = {}
        n = 0
        s_rows, s_cols = [], []
        for comp in sorted(by_comp):
            names = sorted(by_comp[comp], key=_natural)
            if comp in self.cell_models:
                cm = self.cell_models[comp]
                ports, pat_r, pat_c, _ = self._leaf_info(comp)
                rows = []
                for inst in names:
                    spec = net["instances"][inst]
                    try:
                        rows.append(cm.kwargs(spec.get("settings", {}) or {}, spec.get("info", {}) or {}))
                    except UnmodelledCellError as e:
                        raise UnmodelledCellError(f"{e} (cell {comp!r}, instance {name}/{inst})") from None
                static = {k: np.array([r[k] for r in rows], dtype=float) for k in rows[0]}
                sub_name, n_slots = None, 1 if cm.heater else 0
            elif comp in self.recnet:
                sub = self._compile(comp)
                cm, sub_name, static, n_slots = None, comp, {}, len(sub.slots)
                ports, pat_r, pat_c = sub.ports, sub.pat_r, sub.pat_c
            else:
                raise UnmodelledCellError(
                    f"no SAX model for cell {comp!r} (instance {name}/{names[0]}); "
                    "register one with gf_prune.sax_models.register"
                )
            offsets = np.arange(len(names)) * n_slots + len(slots)
            for inst in names:
                if cm is not None and cm.heater:
                    slots.append((inst,))
                elif sub_name is not None:
                    slots.extend((inst, *s) for s in self._cells[sub_name].slots)
                inst_ports[inst] = {p: n + i for i, p in enumerate(ports)}
                s_rows.append(n + pat_r)
                s_cols.append(n + pat_c)
                n += len(ports)
            groups.append(_Group(comp, names, cm, sub_name, static, list(ports), pat_r, pat_c, offsets, n_slots))
        s_rows_a = np.concatenate(s_rows) if s_rows else np.zeros(0, np.int64)
        s_cols_a = np.concatenate(s_cols) if s_cols else np.zeros(0, np.int64)

        # connectivity: optical nets only (electrical ports are in no model)
        partner = np.full(n, -1)
        warnings: list[str] = []
        for net_ in net.get("nets", []):
            (i1, p1), (i2, p2) = _split(net_["p1"]), _split(net_["p2"])
            g1, g2 = inst_ports.get(i1, {}).get(p1), inst_ports.get(i2, {}).get(p2)
            if g1 is None or g2 is None:
                if (g1 is None) != (g2 is None) and (i1 in inst_ports and i2 in inst_ports):
                    warnings.append(f"{name}: net {net_['p1']} ↔ {net_['p2']} joins an optical and a non-optical port")
                continue
            if partner[g1] >= 0 or partner[g2] >= 0:
                raise ValueError(f"{name}: optical port connected twice ({net_['p1']} ↔ {net_['p2']})")
            partner[g1], partner[g2] = g2, g1
        ext_ports, ext_idx = [], []
        for ext, ip in net.get("ports", {}).items():
            inst, p = _split(ip)
            g = inst_ports.get(inst, {}).get(p)
            if g is not None:
                ext_ports.append(ext)
                ext_idx.append(g)
        order = sorted(range(len(ext_ports)), key=lambda i: _natural(ext_ports[i]))
        ext_ports = [ext_ports[i] for i in order]
        ext_in = np.array([ext_idx[i] for i in order], dtype=np.int64)
        is_ext = np.zeros(n, dtype=bool)
        is_ext[ext_in] = True
        owner = {g: (inst, p) for inst, m in inst_ports.items() for p, g in m.items()}
        for g in np.flatnonzero((partner < 0) & ~is_ext)[:20]:
            inst, port = owner[int(g)]
            warnings.append(f"{name}: optical port {inst},{port} is not connected (light is lost there)")
        a_sel = np.flatnonzero(partner[s_rows_a] >= 0)
        ext_pos = np.full(n, -1)
        ext_pos[ext_in] = np.arange(ext_in.size)
        ext_sel = np.flatnonzero(ext_pos[s_rows_a] >= 0)
        cell = _Cell(
            name,
            ext_ports,
            groups,
            slots,
            n,
            s_rows_a,
            s_cols_a,
            partner[s_rows_a[a_sel]],
            s_cols_a[a_sel],
            a_sel,
            ext_in,
            ext_sel,
            ext_pos[s_rows_a[ext_sel]],
            warnings=warnings,
        )
        cell.pat_r, cell.pat_c = _structural_pattern(n, s_rows_a, s_cols_a, partner, ext_in)
        self._cells[name] = cell
        return cell

    def _plan(self) -> None:
        """Batch plan: how many times each cell occurs, and where each group's values live."""
        order = _topological(self.top_name, {c.name: [g.sub for g in c.groups if g.sub] for c in self._cells.values()})
        slot_idx: dict[str, list[np.ndarray]] = {self.top_name: [np.arange(len(self.slots))[None, :]]}
        rows: dict[str, int] = {name: 0 for name in order}
        self._batches: dict[Callable, _ModelBatch] = {}
        self._cells[self.top_name].count = 1
        for name in order:
            cell = self._cells[name]
            idx = np.concatenate(slot_idx.get(name, [np.zeros((0, len(cell.slots)), np.int64)]), axis=0)
            cell.count = idx.shape[0]
            for g in cell.groups:
                m = len(g.names)
                take = (g.slot_offset[:, None] + np.arange(g.n_slots)[None, :]).ravel()
                sub_idx = idx[:, take].reshape(cell.count * m, g.n_slots)
                if g.sub is not None:
                    g.start = rows[g.sub]
                    rows[g.sub] += cell.count * m
                    slot_idx.setdefault(g.sub, []).append(sub_idx)
                    continue
                assert g.leaf is not None
                key = g.leaf.model
                if key not in self._batches:
                    self._batches[key] = _ModelBatch(g.leaf.model, g.leaf.heater, self._leaf_info(g.component)[3])
                b = self._batches[key]
                if b.keys != self._leaf_info(g.component)[3]:
                    raise ValueError(f"model of {g.component!r} returns other ports than its other uses")
                g.start = b.size
                b.size += cell.count * m
                shared = self.feed_forward and not b.heater  # every copy of the cell: the same parameters
                for k, v in g.static.items():
                    every = v if shared else np.broadcast_to(v[None, :], (cell.count, m)).ravel()
                    b.static.setdefault(k, []).append(every)
                if shared:  # instance (copy-major) → its row among the cell's own m rows
                    b.expand_parts.append(np.tile(b.rows + np.arange(m), cell.count))
                    b.rows += m
                if b.heater:
                    b.slot_index.append(sub_idx[:, 0] if g.n_slots else np.full(cell.count * m, -1))
        for name in order:  # choose each cell's solver, now that the batch sizes are known
            cell = self._cells[name]
            n = cell.n_unknowns
            ai = np.concatenate([cell.a_rows, np.arange(n)])
            aj = np.concatenate([cell.a_cols, np.arange(n)])
            if self.feed_forward:
                cell.feed = cascade.plan(
                    n,
                    cell.a_rows,
                    cell.a_cols,
                    cell.a_sel,
                    cell.ext_in,
                    cell.ext_sel,
                    cell.s_cols[cell.ext_sel],
                    cell.ext_out,
                )
            if cell.feed is not None:
                cell.solver = "cascade"
            elif cell.count * n**3 <= DENSE_MAX_FLOPS and cell.count * n * n * 16 <= DENSE_MAX_BYTES:
                cell.solver = "dense"
            elif cell.count <= SPLU_MAX_BATCH and n <= SPLU_MAX_UNKNOWNS:
                cell.solver = "splu"  # SuperLU, one system at a time: nothing to compile
                csc = coo_matrix((np.arange(ai.size) + 1.0, (ai, aj)), shape=(n, n)).tocsc()
                cell.csc = (csc.indices, csc.indptr, csc.data.astype(np.int64) - 1)
            else:
                cell.solver = "klu"  # one batched KLU solve (XLA compiles once per shape)
                cell.a_i, cell.a_j = jnp.asarray(ai.astype(np.int32)), jnp.asarray(aj.astype(np.int32))
                cell.symbolic = klujax.analyze(cell.a_i, cell.a_j, n)
        for b in self._batches.values():
            sizes = {k: sum(a.size for a in v) for k, v in b.static.items()}
            bad = [k for k, s in sizes.items() if s != (b.rows if b.expand_parts else b.size)]
            if bad:
                raise ValueError(f"model {b.model.__name__} gets parameters {bad} from only some of its cells")
            b.arrays = {k: jnp.asarray(np.concatenate(v)) for k, v in b.static.items()}
            if b.heater:
                b.phase_index = np.concatenate(b.slot_index)
            elif b.expand_parts:  # each cell's parameters evaluated once, not once per copy of the cell
                b.expand = np.concatenate(b.expand_parts)
        self._order = order

    # ------------------------------------------------------------------ evaluate
    def evaluate_all(self, phases: Sequence[float] | np.ndarray | None = None, wl: float = WL0_UM) -> _Evaluation:
        """Every cell's S for every instance, and every leaf model's values, at ``wl``."""
        cell_s, leaf_vals = self._evaluate(self._phases(phases), np.array([float(wl)]))
        return _Evaluation(self, {k: v[0] for k, v in cell_s.items()}, {k: v[0] for k, v in leaf_vals.items()})

    def evaluate_sweep(
        self, phases: Sequence[float] | np.ndarray | None, wls: Sequence[float] | np.ndarray, chunk: int | None = None
    ) -> np.ndarray:
        """Top-cell S at every wavelength of ``wls``: shape (len(wls), P, P), ``chunk`` wavelengths per solve.

        By default (:attr:`sweep_chunk`) substituted circuits take as many wavelengths per pass as keep
        the largest batch's working set under :data:`SWEEP_CHUNK_BYTES` (every numpy step then serves
        several wavelengths); factorised ones one at a time (measured: at 64 modes on the 2-core
        machine, 8 wavelengths took 5.8 s one at a time, 11.1 s four per solve — the sparse solves do not
        share work across wavelengths)."""
        ph = self._phases(phases)
        wls = np.asarray(wls, dtype=float).ravel()
        chunk = self.sweep_chunk if chunk is None else max(1, int(chunk))
        out = [self._evaluate(ph, wls[i : i + chunk])[0][self.top_name][:, 0] for i in range(0, wls.size, chunk)]
        return np.concatenate(out, axis=0)

    @property
    def sweep_chunk(self) -> int:
        """Wavelengths per pass in :meth:`evaluate_sweep`: the working set of the largest batched solve
        (instances × per-system bytes) kept under :data:`SWEEP_CHUNK_BYTES`; 1 if any cell is factorised."""
        if any(c.feed is None for c in self._cells.values()):
            return 1
        per_wl = max(c.count * c.feed.bytes_per_system(len(c.ports)) for c in self._cells.values() if c.feed)
        return max(1, int(SWEEP_CHUNK_BYTES // max(1, per_wl)))

    def _phases(self, phases: Sequence[float] | np.ndarray | None) -> np.ndarray:
        ph = np.zeros(len(self.slots)) if phases is None else np.asarray(phases, dtype=float)
        if ph.shape != (len(self.slots),):
            raise ValueError(f"expected {len(self.slots)} heater phases, got shape {ph.shape}")
        if not np.all(np.isfinite(ph)):
            raise ValueError("heater phases contain NaN or infinite values")
        return ph

    def _evaluate(self, ph: np.ndarray, wls: np.ndarray) -> tuple[dict[str, np.ndarray], dict[Callable, np.ndarray]]:
        """cell name → S (W, count, P, P) and model → values (W, size, n_keys) at the W wavelengths."""
        n_wl = wls.size
        leaf_vals: dict[Callable, np.ndarray] = {}
        for key, b in self._batches.items():
            if not b.keys:  # an absorber: nothing to evaluate
                leaf_vals[key] = np.zeros((n_wl, b.size, 0), dtype=np.complex128)
                continue
            kw = dict(b.arrays)
            if b.heater:
                assert b.phase_index is not None
                kw["phase"] = jnp.asarray(np.where(b.phase_index >= 0, ph[np.maximum(b.phase_index, 0)], 0.0))
            rows = b.size if b.expand is None else b.rows
            vals = np.empty((n_wl, rows, len(b.keys)), dtype=np.complex128)
            for i, wl in enumerate(wls):  # one wavelength per call: one XLA compile per model, whatever the batch
                sd = _jit_model(b.model)(wl=jnp.asarray([[wl]]), **kw)
                for j, k in enumerate(b.keys):
                    vals[i, :, j] = np.broadcast_to(np.asarray(sd[k])[0], (rows,))
            leaf_vals[key] = vals if b.expand is None else vals[:, b.expand]
        cell_s: dict[str, np.ndarray] = {}
        for name in reversed(self._order):
            cell = self._cells[name]
            parts = []
            for g in cell.groups:
                rows = slice(g.start, g.start + cell.count * len(g.names))
                if g.leaf is not None:
                    v = leaf_vals[g.leaf.model][:, rows]
                else:
                    v = cell_s[g.sub][:, rows][..., g.pat_r, g.pat_c]
                parts.append(v.reshape(n_wl * cell.count, -1))
            sx = np.concatenate(parts, axis=1) if parts else np.zeros((n_wl * cell.count, 0), complex)
            s_cell = self._solve(cell, sx)
            cell_s[name] = s_cell.reshape(n_wl, cell.count, *s_cell.shape[1:])
        return cell_s, leaf_vals

    def _solve(self, cell: _Cell, sx: np.ndarray) -> np.ndarray:
        """Batched S of ``cell`` from its instances' S entries ``sx`` (B, n_entries)."""
        batch, n, n_ext = sx.shape[0], cell.n_unknowns, cell.ext_in.size
        if cell.feed is not None:
            return cell.feed.solve(sx, n_ext)
        rhs = np.zeros((n, n_ext), dtype=np.complex128)
        rhs[cell.ext_in, np.arange(n_ext)] = 1.0
        if cell.solver == "dense":
            a = np.zeros((batch, n, n), dtype=np.complex128)
            a[:, np.arange(n), np.arange(n)] = 1.0
            a[:, cell.a_rows, cell.a_cols] = -sx[:, cell.a_sel]  # (row, col) pairs are unique
            x = np.linalg.solve(a, np.broadcast_to(rhs, (batch, n, n_ext)))
        elif cell.solver == "splu":
            from scipy.sparse import csc_matrix
            from scipy.sparse.linalg import splu

            indices, indptr, order = cell.csc
            ax = np.concatenate([-sx[:, cell.a_sel], np.ones((batch, n))], axis=1)
            mats = [csc_matrix((ax[b, order], indices, indptr), shape=(n, n)) for b in range(batch)]
            x = np.stack([splu(m, permc_spec="MMD_AT_PLUS_A").solve(rhs) for m in mats])
        else:
            ax = np.concatenate([-sx[:, cell.a_sel], np.ones((batch, n))], axis=1)
            x = np.asarray(
                klujax.solve_with_symbol(
                    cell.a_i,
                    cell.a_j,
                    jnp.asarray(ax),
                    jnp.asarray(np.broadcast_to(rhs, (batch, n, n_ext))),
                    cell.symbolic,
                )
            )
        # y[out, :] = Σ over S entries whose output is ext port `out`: S_entry · a[entry input, :]
        contrib = sx[:, cell.ext_sel, None] * x[:, cell.s_cols[cell.ext_sel], :]  # (B, E, n_ext)
        if cell.gather is None:  # sparse: each entry feeds one external port (a dense E-wide matmul is O(E·P²))
            from scipy.sparse import csr_matrix

            e = cell.ext_sel.size
            cell.gather = csr_matrix((np.ones(e), (cell.ext_out, np.arange(e))), shape=(n_ext, e))
        y = cell.gather @ contrib.transpose(1, 0, 2).reshape(cell.ext_sel.size, batch * n_ext)
        return np.ascontiguousarray(y.reshape(n_ext, batch, n_ext).transpose(1, 0, 2))

    def evaluate(self, phases: Sequence[float] | np.ndarray | None = None, wl: float = WL0_UM) -> np.ndarray:
        """S-matrix of the top cell (ports in :attr:`ports` order) for one phase per slot."""
        return self.evaluate_all(phases, wl).cell_s[self.top_name][0]

    def locate(self, path: Sequence[str]) -> tuple[_Cell, int]:
        """(compiled cell, row in its batch) of the composite instance at ``path``."""
        cell, row = self.top, 0
        for inst in path:
            g, j = _child(cell, inst)
            if g.sub is None:
                raise KeyError(f"{'/'.join(path)} is a leaf, not a cell")
            row = g.start + row * len(g.names) + j
            cell = self._cells[g.sub]
        return cell, row

    def flat_netlist(self, phases: Sequence[float] | np.ndarray | None = None, sep: str = "__") -> dict[str, Any]:
        """The same circuit as one flat SAX netlist (every leaf an instance ``a__b__c``).

        Instance settings are the model keyword arguments (lengths, indices, heater
        ``phase``); electrical ports and nets are left out. This is the input of the
        reference ``sax.circuit(..., backend="klu")`` the fast path is checked against.
        """
        ph = np.zeros(len(self.slots)) if phases is None else np.asarray(phases, dtype=float)
        slot_phase = {sep.join(s): float(p) for s, p in zip(self.slots, ph, strict=True)}
        instances: dict[str, Any] = {}
        connections: dict[str, str] = {}

        def resolve(cell: _Cell, prefix: str, inst: str, port: str) -> str | None:
            g, _ = _child(cell, inst)
            if g.sub is None:
                return f"{prefix}{inst},{port}"
            sub = self._cells[g.sub]
            target = self.recnet[g.sub].get("ports", {}).get(port)
            if target is None or port not in sub.ports:
                return None
            i2, p2 = _split(target)
            return resolve(sub, f"{prefix}{inst}{sep}", i2, p2)

        def walk(cell: _Cell, prefix: str) -> None:
            for g in cell.groups:
                for j, inst in enumerate(g.names):
                    if g.leaf is not None:
                        settings = {k: float(v[j]) for k, v in g.static.items()}
                        if g.leaf.heater:
                            settings["phase"] = slot_phase[f"{prefix}{inst}"]
                        instances[f"{prefix}{inst}"] = {"component": g.component, "settings": settings}
                    else:
                        walk(self._cells[g.sub], f"{prefix}{inst}{sep}")
            ports_of = {inst: set(g.ports) for g in cell.groups for inst in g.names}
            for net_ in self.recnet[cell.name].get("nets", []):
                (i1, p1), (i2, p2) = _split(net_["p1"]), _split(net_["p2"])
                if p1 in ports_of.get(i1, ()) and p2 in ports_of.get(i2, ()):
                    a, b = resolve(cell, prefix, i1, p1), resolve(cell, prefix, i2, p2)
                    if a and b:
                        connections[a] = b

        walk(self.top, "")
        ports = {}
        for ext in self.ports:
            i, p = _split(self.recnet[self.top.name]["ports"][ext])
            ports[ext] = resolve(self.top, "", i, p)
        return {"instances": instances, "connections": connections, "ports": ports}

    def cell(self, name: str) -> _Cell:
        return self._cells[name]

    @property
    def warnings(self) -> list[str]:
        return [w for c in self._cells.values() for w in c.warnings]


@dataclass
class _Evaluation:
    """Result of :meth:`CompiledCircuit.evaluate_all`: S of every cell instance."""

    cc: CompiledCircuit
    cell_s: dict[str, np.ndarray]  # cell name → (count, P, P)
    leaf_vals: dict[Callable, np.ndarray]  # model → (size, n_keys)

    def at(self, path: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """(ports, S) of the composite instance at ``path`` (() = the top cell)."""
        cell, row = self.cc.locate(path)
        return cell.ports, self.cell_s[cell.name][row]

    def children(self, path: Sequence[str]) -> tuple[_Cell, dict[str, tuple[list[str], np.ndarray]]]:
        """Local (ports, S) of every instance directly inside the cell at ``path``."""
        cell, row = self.cc.locate(path)
        out: dict[str, tuple[list[str], np.ndarray]] = {}
        for g in cell.groups:
            m = len(g.names)
            for j, inst in enumerate(g.names):
                r = g.start + row * m + j
                if g.sub is not None:
                    out[inst] = (g.ports, self.cell_s[g.sub][r])
                else:
                    assert g.leaf is not None
                    s = np.zeros((len(g.ports), len(g.ports)), dtype=complex)
                    s[g.pat_r, g.pat_c] = self.leaf_vals[g.leaf.model][r]
                    out[inst] = (g.ports, s)
        return cell, out


def _child(cell: _Cell, inst: str) -> tuple[_Group, int]:
    for g in cell.groups:
        if inst in g.names:
            return g, g.names.index(inst)
    raise KeyError(f"no instance {inst!r} in cell {cell.name!r}")


def _structural_pattern(
    n: int, s_rows: np.ndarray, s_cols: np.ndarray, partner: np.ndarray, ext_in: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(out, in) external port pairs joined by some path through the cell's graph."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import breadth_first_order

    # nodes: 0..n−1 wave entering port i, n..2n−1 wave leaving port i
    conn = np.flatnonzero(partner >= 0)
    src = np.concatenate([s_cols, n + conn])
    dst = np.concatenate([n + s_rows, partner[conn]])
    graph = coo_matrix((np.ones(src.size), (src, dst)), shape=(2 * n, 2 * n)).tocsr()
    ext_pos = np.full(2 * n, -1)
    ext_pos[n + ext_in] = np.arange(ext_in.size)
    rows, cols = [], []
    for e, start in enumerate(ext_in):
        reached = breadth_first_order(graph, int(start), directed=True, return_predecessors=False)
        outs = ext_pos[reached]
        outs = np.sort(outs[outs >= 0])
        rows.append(outs)
        cols.append(np.full(outs.size, e))
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64)


def _topological(top: str, children: Mapping[str, list[str]]) -> list[str]:
    """Cells reachable from ``top``, every parent before its children."""
    seen: set[str] = set()
    post: list[str] = []

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for c in children.get(name, []):
            visit(c)
        post.append(name)

    visit(top)
    return post[::-1]


_JIT_CACHE: dict[Callable, Callable] = {}


def _jit_model(model: Callable) -> Callable:
    if model not in _JIT_CACHE:
        _JIT_CACHE[model] = jax.jit(model)
    return _JIT_CACHE[model]


def _natural(name: str) -> tuple:
    """Natural sort key (o2 before o10)."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name))


def _find_top(recnet: RecursiveNetlist) -> str:
    used = {spec["component"] for net in recnet.values() for spec in net.get("instances", {}).values()}
    tops = [name for name in recnet if name not in used]
    if len(tops) != 1:
        raise ValueError(f"cannot tell the top cell of the netlist: candidates {tops}")
    return tops[0]
