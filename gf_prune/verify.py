"""SAX verification: the laid-out circuit computes the trained network.

Netlist (from the ``gf.Component`` or read back from ``network.gds``) → physical
SAX models (:mod:`gf_prune.sax_models`) → S-matrix of every mesh, every SVD layer
(with Σ) and the chip → compared with the trained matrices of a
:class:`~gf_prune.phases.NetworkPhases`::

    err = min_α ‖S − e^{iα}·M‖_F / ‖M‖_F        (one global phase per mesh / layer)

The fast path (:class:`CompiledCircuit`) never JIT-compiles the circuit. It walks
the recursive netlist once, groups the instances of each cell, and evaluates

* a leaf cell group with its model called once on arrays (every instance's length
  and heater phase stacked — the model is vectorised, not traced per instance);
* a composite cell group by a batched solve of its own connectivity: dense
  ``numpy.linalg.solve`` for small cells (an MZI is a batch of 8128 16×16
  systems at N = 128), one sparse ``klujax`` solve with a symbolic analysis kept
  from compile time for large ones (a mesh).

The waves entering every instance port ``a`` satisfy ``(I − C·S)·a = C_ext·u`` and
the outputs are ``y = C_extᵀ·S·a`` (as in ``sax.backends.klu``). New heater
phases (or a new wavelength) only re-run the numbers: :meth:`CompiledCircuit.evaluate`.
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

from gf_prune import sax_models
from gf_prune.sax_models import WL0_UM, UnmodelledCellError

DENSE_MAX_UNKNOWNS = 96
"""Cells with at most this many instance ports are solved densely (batched numpy)."""

TOL_DEFAULT = 1e-6
"""Pass threshold on the relative Frobenius error at the design wavelength."""

Netlist = Mapping[str, Any]
RecursiveNetlist = Mapping[str, Netlist]


# ============================================================================ engine


@dataclass
class _Group:
    """Instances of one cell inside a parent cell."""

    component: str
    names: list[str]
    leaf: sax_models.CellModel | None  # None: composite (``sub``)
    sub: _Cell | None
    static: dict[str, np.ndarray]  # leaf: stacked model kwargs, shape (m,)
    ports: list[str]  # optical ports of the cell, in S order
    pattern: np.ndarray  # (p, p) bool: structurally non-zero S entries
    slot_offset: np.ndarray  # (m,) offset of each instance's heater slots in the parent's slot vector
    n_slots: int  # heater slots per instance


@dataclass
class _Cell:
    """A composite cell, compiled: groups, assembly indices, solver."""

    name: str
    ports: list[str]  # external optical ports, in S order
    groups: list[_Group]
    slots: list[tuple[str, ...]]  # heater paths below this cell (instance names, last = heater)
    n_unknowns: int
    # assembly: values of S entries, concatenated over groups, go to these positions
    s_rows: np.ndarray  # global output-port index of each S entry
    s_cols: np.ndarray  # global input-port index
    a_rows: np.ndarray  # rows in A = I − C·S of the connected S entries
    a_cols: np.ndarray
    a_sel: np.ndarray  # which S entries are connected (index into the concatenation)
    ext_in: np.ndarray  # global port index of each external port (as an input)
    ext_sel: np.ndarray  # S entries whose row is an external port
    ext_out: np.ndarray  # which external port each of those rows is
    symbolic: Any = None
    pattern: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)


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

    ``slots`` lists every heater as its instance path from the top cell; pass one
    phase per slot to :meth:`evaluate`.
    """

    def __init__(
        self,
        recnet: RecursiveNetlist,
        top: str | None = None,
        cell_models: Mapping[str, sax_models.CellModel] | None = None,
    ) -> None:
        t0 = time.perf_counter()
        self.recnet = recnet
        self.cell_models = dict(sax_models.CELL_MODELS if cell_models is None else cell_models)
        self.top_name = top or _find_top(recnet)
        self._cells: dict[str, _Cell] = {}
        self._leaf_ports: dict[str, list[str]] = {}
        self.top = self._compile(self.top_name, is_top=True)
        self.slots = self.top.slots
        self.ports = self.top.ports
        self.compile_s = time.perf_counter() - t0

    # ------------------------------------------------------------------ compile
    def _leaf_info(self, component: str, cm: sax_models.CellModel) -> tuple[list[str], np.ndarray]:
        sd = cm.model(**({"phase": 0.0} if cm.heater else {}))
        ports = sorted({p for pair in sd for p in pair})
        idx = {p: i for i, p in enumerate(ports)}
        pat = np.zeros((len(ports), len(ports)), dtype=bool)
        for p1, p2 in sd:
            pat[idx[p2], idx[p1]] = True  # S[out, in] for key (in, out)
        return ports, pat

    def _compile(self, name: str, is_top: bool = False) -> _Cell:
        if name in self._cells:
            return self._cells[name]
        net = self.recnet[name]
        by_comp: dict[str, list[str]] = {}
        for inst, spec in net.get("instances", {}).items():
            by_comp.setdefault(spec["component"], []).append(inst)
        groups: list[_Group] = []
        slots: list[tuple[str, ...]] = []
        inst_ports: dict[str, dict[str, int]] = {}  # instance → port → global index
        n = 0
        s_rows, s_cols = [], []
        for comp in sorted(by_comp):
            names = sorted(by_comp[comp])
            if comp in self.cell_models:
                cm = self.cell_models[comp]
                ports, pat = self._leaf_info(comp, cm)
                static_rows = []
                for inst in names:
                    spec = net["instances"][inst]
                    try:
                        static_rows.append(cm.kwargs(spec.get("settings", {}) or {}, spec.get("info", {}) or {}))
                    except UnmodelledCellError as e:
                        raise UnmodelledCellError(f"{e} (cell {comp!r}, instance {name}/{inst})") from None
                static = {k: np.array([r[k] for r in static_rows], dtype=float) for k in static_rows[0]}
                n_slots = 1 if cm.heater else 0
                sub = None
            elif comp in self.recnet:
                sub = self._compile(comp)
                cm = None
                ports, pat, static, n_slots = sub.ports, self._pattern(sub), {}, len(sub.slots)
            else:
                raise UnmodelledCellError(
                    f"no SAX model for cell {comp!r} (instance {name}/{names[0]}); "
                    "register one with gf_prune.sax_models.register"
                )
            offsets = np.arange(len(names)) * n_slots + len(slots)
            for inst in names:
                if cm is not None and cm.heater:
                    slots.append((inst,))
                elif sub is not None:
                    slots.extend((inst, *s) for s in sub.slots)
            rr, cc = np.nonzero(pat)
            for j, inst in enumerate(names):
                inst_ports[inst] = {p: n + i for i, p in enumerate(ports)}
                s_rows.append(n + rr)
                s_cols.append(n + cc)
                n += len(ports)
            groups.append(_Group(comp, names, cm, sub, static, ports, pat, offsets, n_slots))
        s_rows_a = np.concatenate(s_rows) if s_rows else np.zeros(0, int)
        s_cols_a = np.concatenate(s_cols) if s_cols else np.zeros(0, int)

        # connectivity: optical nets only (electrical ports are not in any model)
        partner = np.full(n, -1)
        warnings: list[str] = []
        for net_ in net.get("nets", []):
            (i1, p1), (i2, p2) = _split(net_["p1"]), _split(net_["p2"])
            g1, g2 = inst_ports.get(i1, {}).get(p1), inst_ports.get(i2, {}).get(p2)
            if g1 is None or g2 is None:
                if (g1 is None) != (g2 is None):
                    warnings.append(f"{name}: net {net_['p1']} ↔ {net_['p2']} joins an optical and a non-optical port")
                continue
            if partner[g1] >= 0 or partner[g2] >= 0:
                raise ValueError(f"{name}: optical port connected twice ({net_['p1']} ↔ {net_['p2']})")
            partner[g1], partner[g2] = g2, g1
        ext_ports, ext_idx = [], []
        for ext, ip in net.get("ports", {}).items():
            inst, p = _split(ip)
            g = inst_ports.get(inst, {}).get(p)
            if g is None:
                continue  # electrical
            ext_ports.append(ext)
            ext_idx.append(g)
        order = _port_order(ext_ports)
        ext_ports = [ext_ports[i] for i in order]
        ext_in = np.array([ext_idx[i] for i in order], dtype=np.int64)
        is_ext = np.zeros(n, dtype=bool)
        is_ext[ext_in] = True
        dangling = np.flatnonzero((partner < 0) & ~is_ext)
        for g in dangling[:20]:
            inst = next(i for i, m in inst_ports.items() if g in m.values())
            port = next(p for p, v in inst_ports[inst].items() if v == g)
            warnings.append(f"{name}: optical port {inst},{port} is not connected (light is lost there)")
        a_sel = np.flatnonzero(partner[s_rows_a] >= 0)
        a_rows = partner[s_rows_a[a_sel]]
        a_cols = s_cols_a[a_sel]
        ext_pos = np.full(n, -1)
        ext_pos[ext_in] = np.arange(ext_in.size)
        ext_sel = np.flatnonzero(ext_pos[s_rows_a] >= 0)
        ext_out = ext_pos[s_rows_a[ext_sel]]
        cell = _Cell(
            name,
            ext_ports,
            groups,
            slots,
            n,
            s_rows_a,
            s_cols_a,
            a_rows,
            a_cols,
            a_sel,
            ext_in,
            ext_sel,
            ext_out,
            warnings=warnings,
        )
        if n > DENSE_MAX_UNKNOWNS:
            ai = np.concatenate([a_rows, np.arange(n)]).astype(np.int32)
            aj = np.concatenate([a_cols, np.arange(n)]).astype(np.int32)
            cell.a_i, cell.a_j = jnp.asarray(ai), jnp.asarray(aj)  # type: ignore[attr-defined]
            cell.symbolic = klujax.analyze(cell.a_i, cell.a_j, n)  # type: ignore[attr-defined]
        self._cells[name] = cell
        return cell

    def _pattern(self, cell: _Cell) -> np.ndarray:
        """Structural non-zeros of a composite cell's S (from one probe evaluation)."""
        if cell.pattern is None:
            rng = np.random.default_rng(0)
            s = self._eval_cell(cell, WL0_UM, rng.uniform(0, 2 * np.pi, (1, len(cell.slots))))
            cell.pattern = np.abs(s[0]) > 0
        return cell.pattern

    # ------------------------------------------------------------------ evaluate
    def _eval_leaf(self, g: _Group, wl: float, phases: np.ndarray | None, batch: int) -> np.ndarray:
        """(batch, m, p, p) S of a leaf group; ``phases`` (batch, m) or None."""
        assert g.leaf is not None
        kw = {k: jnp.asarray(v)[None, :] for k, v in g.static.items()}
        if g.leaf.heater:
            kw["phase"] = jnp.asarray(phases)
        sd = _jit_model(g.leaf.model)(wl=wl, **kw)
        m = len(g.names)
        out = np.zeros((batch, m, len(g.ports), len(g.ports)), dtype=np.complex128)
        idx = {p: i for i, p in enumerate(g.ports)}
        for (p1, p2), v in sd.items():
            out[:, :, idx[p2], idx[p1]] = np.broadcast_to(np.asarray(v), (batch, m))
        return out

    def _eval_cell(self, cell: _Cell, wl: float, phases: np.ndarray) -> np.ndarray:
        """(B, P, P) S-matrix of ``cell`` for heater phases ``phases`` (B, n_slots)."""
        batch = phases.shape[0]
        vals = []
        for g in cell.groups:
            m = len(g.names)
            if g.n_slots:
                take = g.slot_offset[:, None] + np.arange(g.n_slots)[None, :]  # (m, n_slots)
                ph = phases[:, take]  # (B, m, n_slots)
            else:
                ph = None
            if g.leaf is not None:
                s = self._eval_leaf(g, wl, None if ph is None else ph[..., 0], batch)
            else:
                sub_ph = np.zeros((batch * m, 0)) if ph is None else ph.reshape(batch * m, g.n_slots)
                s = self._eval_cell(g.sub, wl, sub_ph).reshape(batch, m, len(g.ports), len(g.ports))
            rr, cc = np.nonzero(g.pattern)
            vals.append(s[:, :, rr, cc].reshape(batch, -1))
        sx = np.concatenate(vals, axis=1) if vals else np.zeros((batch, 0), complex)
        return self._solve(cell, sx)

    def _solve(self, cell: _Cell, sx: np.ndarray) -> np.ndarray:
        batch, n, n_ext = sx.shape[0], cell.n_unknowns, cell.ext_in.size
        rhs = np.zeros((n, n_ext), dtype=np.complex128)
        rhs[cell.ext_in, np.arange(n_ext)] = 1.0
        if cell.symbolic is None:
            a = np.zeros((batch, n, n), dtype=np.complex128)
            a[:, np.arange(n), np.arange(n)] = 1.0
            np.add.at(a, (slice(None), cell.a_rows, cell.a_cols), -sx[:, cell.a_sel])
            x = np.linalg.solve(a, np.broadcast_to(rhs, (batch, n, n_ext)))
        else:
            ax = np.concatenate([-sx[:, cell.a_sel], np.ones((batch, n))], axis=1)
            x = np.asarray(
                klujax.solve_with_symbol(
                    cell.a_i,  # type: ignore[attr-defined]
                    cell.a_j,  # type: ignore[attr-defined]
                    jnp.asarray(ax),
                    jnp.asarray(np.broadcast_to(rhs, (batch, n, n_ext))),
                    cell.symbolic,
                )
            )
        # y[out, :] = Σ_entries(row = ext out) S_entry · a[col, :]
        y = np.zeros((batch, n_ext, n_ext), dtype=np.complex128)
        contrib = sx[:, cell.ext_sel, None] * x[:, cell.s_cols[cell.ext_sel], :]
        np.add.at(y, (slice(None), cell.ext_out), contrib)
        return y

    def evaluate(self, phases: Sequence[float] | np.ndarray | None = None, wl: float = WL0_UM) -> np.ndarray:
        """S-matrix of the top cell (ports in :attr:`ports` order) for one phase per slot."""
        ph = np.zeros(len(self.slots)) if phases is None else np.asarray(phases, dtype=float)
        if ph.shape != (len(self.slots),):
            raise ValueError(f"expected {len(self.slots)} heater phases, got shape {ph.shape}")
        return self._eval_cell(self.top, float(wl), ph[None, :])[0]

    def evaluate_children(
        self, phases: Sequence[float] | np.ndarray | None = None, wl: float = WL0_UM
    ) -> dict[str, tuple[list[str], np.ndarray]]:
        """Local S-matrix of every composite instance of the top cell: name → (ports, S)."""
        ph = np.zeros(len(self.slots)) if phases is None else np.asarray(phases, dtype=float)
        out: dict[str, tuple[list[str], np.ndarray]] = {}
        for g in self.top.groups:
            m = len(g.names)
            if g.n_slots:
                take = g.slot_offset[:, None] + np.arange(g.n_slots)[None, :]
                sub_ph = ph[take]
            else:
                sub_ph = np.zeros((m, 0))
            if g.leaf is not None:
                s = self._eval_leaf(g, float(wl), None if not g.n_slots else sub_ph[None, :, 0], 1)[0]
            else:
                s = self._eval_cell(g.sub, float(wl), sub_ph)
            for j, inst in enumerate(g.names):
                out[inst] = (g.ports, s[j])
        return out

    @property
    def warnings(self) -> list[str]:
        return [w for c in self._cells.values() for w in c.warnings]


_JIT_CACHE: dict[Callable, Callable] = {}


def _jit_model(model: Callable) -> Callable:
    if model not in _JIT_CACHE:
        _JIT_CACHE[model] = jax.jit(model)
    return _JIT_CACHE[model]


def _port_order(names: list[str]) -> list[int]:
    """Natural order of port names (o2 before o10)."""

    def key(i: int) -> tuple:
        return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", names[i]))

    return sorted(range(len(names)), key=key)


def _find_top(recnet: RecursiveNetlist) -> str:
    used = {spec["component"] for net in recnet.values() for spec in net.get("instances", {}).values()}
    tops = [name for name in recnet if name not in used]
    if len(tops) != 1:
        raise ValueError(f"cannot tell the top cell of the netlist: candidates {tops}")
    return tops[0]
