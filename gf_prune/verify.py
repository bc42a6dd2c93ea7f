"""SAX verification: the laid-out circuit computes the trained network.

Netlist (from the ``gf.Component`` or read back from ``network.gds``,
:mod:`gf_prune.netlist`) → physical SAX models (:mod:`gf_prune.sax_models`) → S-matrix
of every mesh, every SVD layer (with Σ) and the chip → compared with the trained
matrices of a :class:`~gf_prune.phases.NetworkPhases`::

    err = min_α ‖S − e^{iα}·M‖_F / ‖M‖_F        (one global phase per mesh / layer)

Three modules, the way SAX keeps its backends apart from its circuits: the general
circuit engine (:mod:`gf_prune.circuit`, :class:`CompiledCircuit`: batched leaf models,
dense/SuperLU/KLU solves, no circuit JIT), the diagnosis of a failure
(:mod:`gf_prune.diagnosis`, :func:`diagnose_block`: the first wrong slot or net in light
order, and the heater that is off) and this thin stage (:class:`Verifier`,
:func:`verify`, :func:`verify_dir`), which re-exports the public names of both.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gf_prune import sax_models
from gf_prune.circuit import CompiledCircuit, Netlist, RecursiveNetlist
from gf_prune.diagnosis import _Hierarchy, diagnose_block, find_blocks, rel_error, slot_tag
from gf_prune.naming import HEATER_KINDS, chip_port, mode_port, parse_mode_port, slot_instance
from gf_prune.netlist import core_cell, load_netlist
from gf_prune.sax_models import WL0_UM

__all__ = [
    "TOL_DEFAULT",
    "CompiledCircuit",
    "Netlist",
    "RecursiveNetlist",
    "Verifier",
    "VerifyResult",
    "diagnose_block",
    "load_netlist",
    "plot_sweep",
    "rel_error",
    "slot_phases",
    "slot_tag",
    "verify",
    "verify_dir",
]

TOL_DEFAULT = 1e-6
"""Pass threshold on the relative Frobenius error at the design wavelength."""


# ============================================================================ verification


def _block(ports: list[str], s: np.ndarray, n_out: int, n_in: int, layer: int | None = None) -> np.ndarray:
    """Transmission block out{r} ← in{r'} of an S-matrix with ports named ``[l{ℓ}_]in{r}/out{r}``."""
    pos: dict[tuple[str, int], int] = {}
    for i, p in enumerate(ports):
        mp = parse_mode_port(p)
        if mp and (layer is None or mp.layer == layer):
            pos[(mp.direction, mp.row)] = i
    try:
        rows = [pos[("out", r)] for r in range(n_out)]
        cols = [pos[("in", r)] for r in range(n_in)]
    except KeyError as e:
        where = f"layer {layer} " if layer is not None else ""
        raise ValueError(f"{where}port {e.args[0][0]}{e.args[0][1]} missing from the layout ({ports[:6]}…)") from None
    return s[np.ix_(rows, cols)]


@dataclass
class VerifyResult:
    """Outcome of :func:`verify` at one wavelength (plus the optional sweep)."""

    wl: float
    tol: float
    per_mesh: list[dict[str, Any]]  # layer, mesh (V|S|U), instance path, rel_error
    per_layer: list[dict[str, Any]]  # layer, rel_error (W = U·Σ·V† without gain)
    chip_rel_error: float
    layer_matrices: list[np.ndarray]  # SAX layer matrices, global phase removed, no gain
    culprits: list[str]  # failing instances/nets, first = the first in light order
    problems: list[str]  # heater table vs layout mismatches, netlist warnings
    timings_s: dict[str, float]
    sweep: dict[str, Any] | None = None
    matrices: dict[str, np.ndarray] = field(default_factory=dict)  # "V0", "S0", "U0", "W0", …, "chip": SAX S blocks

    @property
    def max_rel_error(self) -> float:
        errs = [d["rel_error"] for d in self.per_mesh] + [d["rel_error"] for d in self.per_layer]
        return float(max([*errs, self.chip_rel_error]))

    @property
    def passed(self) -> bool:
        return self.max_rel_error <= self.tol and not self.culprits

    @property
    def culprit(self) -> str | None:
        return self.culprits[0] if self.culprits else None

    def to_dict(self, with_matrices: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "wavelength_um": self.wl,
            "max_rel_error": self.max_rel_error,
            "chip_rel_error": self.chip_rel_error,
            "tolerance": self.tol,
            "passed": self.passed,
            "culprit": self.culprit,
            "culprits": self.culprits[:50],
            "problems": self.problems[:50],
            "per_mesh": self.per_mesh,
            "per_layer": self.per_layer,
            "timings_s": self.timings_s,
        }
        if self.sweep is not None:
            d["sweep"] = self.sweep
        if with_matrices and self.layer_matrices:
            d["layer_matrices"] = [np.asarray(m) for m in self.layer_matrices]
        return d


def slot_phases(cc: CompiledCircuit, net: Any) -> tuple[np.ndarray, list[str]]:
    """One programmed phase per heater slot of ``cc`` from a :class:`NetworkPhases`.

    Returns (phases, problems): a heater whose phase is pruned gets 0 and is reported;
    a live phase without a heater in the layout is reported (its MZI will fail).
    """
    from gf_prune.physics import wrap_phase

    values = np.zeros(len(cc.slots))
    problems: list[str] = []
    seen: set[tuple] = set()
    for i, path in enumerate(cc.slots):
        kind = path[-1]
        tag = slot_tag(path[-2]) if len(path) >= 2 else None
        if tag is None or kind not in HEATER_KINDS:
            problems.append(f"heater {'/'.join(path)} is not the theta/phi heater of an MZI or attenuator")
            continue
        layer, mesh, col, row = tag
        try:
            lp = net.layers[layer]
            if mesh == "S":
                k, m = row, lp.S
            else:
                m = getattr(lp, mesh)
                k = m.topo.index(col, row)
            raw, live = float(getattr(m, kind)[k]), bool(getattr(m, f"{kind}_live")[k])
        except (IndexError, KeyError):
            problems.append(f"heater {'/'.join(path)} has no phase in the network")
            continue
        seen.add((layer, mesh, col, row, kind))
        if live:
            values[i] = float(wrap_phase(raw))
        else:
            problems.append(f"heater {path[-2]}/{kind} is built but its phase is pruned (driven at 0)")
    for li, mesh, col, row, kind, _raw, live in net.iter_phases():
        if live and (li, mesh, col, row, kind) not in seen:
            problems.append(f"live phase {kind} of {slot_instance(li, mesh, col, row)} has no heater in the layout")
    return values, problems


def _expected(net: Any, li: int, mesh: str) -> np.ndarray:
    lp = net.layers[li]
    zs = net.zero_state
    if mesh in ("V", "U"):
        return getattr(lp, mesh).unitary(zs)
    if mesh == "S":
        sig = np.zeros((lp.n_out, lp.n_in), dtype=complex)
        sig[np.arange(lp.S.k), np.arange(lp.S.k)] = lp.S.transmissions(zs)
        return sig
    return lp.matrix(zs, with_gain=False)


def _shape(net: Any, li: int, mesh: str) -> tuple[int, int]:
    lp = net.layers[li]
    return {"V": (lp.V.n, lp.V.n), "U": (lp.U.n, lp.U.n)}.get(mesh, (lp.n_out, lp.n_in))


class Verifier:
    """A layout compiled once against a network; :meth:`check` at any λ or phases.

    Args:
        layout: ``gf.Component``, ``.gds`` path, folder with ``network.gds``, or a
            recursive netlist dict.
        net: the :class:`~gf_prune.phases.NetworkPhases` that was laid out.
        netlist_cache: for a GDS file, keep the netlist read back from it beside it and reuse
            it while the file's bytes are unchanged (:func:`gf_prune.netlist.load_netlist`).
        feed_forward: :class:`CompiledCircuit`'s choice (False: every cell factorised, the
            engine before substitution — for comparisons).
    """

    def __init__(
        self,
        layout: Any,
        net: Any,
        cell_models: Mapping[str, sax_models.CellModel] | None = None,
        netlist_cache: bool = False,
        feed_forward: bool = True,
    ) -> None:
        t0 = time.perf_counter()
        self.net = net
        self.layout = layout
        self._gaps: list[Any] | None = None
        self.recnet = load_netlist(layout, cache=netlist_cache)
        t1 = time.perf_counter()
        # a tape-out top (optical I/O, pads) holds the network as instance ``core``: verify that
        self.cc = CompiledCircuit(
            self.recnet, top=core_cell(self.recnet), cell_models=cell_models, feed_forward=feed_forward
        )
        self.hier = _Hierarchy(self.cc)
        self.blocks = find_blocks(self.hier, net)
        self.phases, self.problems = slot_phases(self.cc, net)
        self.problems += self.cc.warnings
        self.timings_s = {"netlist": t1 - t0, "compile": time.perf_counter() - t1}

    def port_gaps(self) -> list[Any]:
        """Ports of the layout that lost their partner, with the gap (:func:`gf_prune.geometry_checks.port_gaps`),
        read from the GDS or component once; empty for a netlist dict."""
        if self._gaps is None:
            from gf_prune.geometry_checks import port_gaps

            src = self.layout
            if isinstance(src, str | Path) and Path(src).is_dir():
                src = Path(src) / "network.gds"
            self._gaps = [] if isinstance(src, Mapping) else port_gaps(src)
        return self._gaps

    def layer_matrices(self, wl: float = WL0_UM, phases: np.ndarray | None = None) -> list[np.ndarray]:
        """Each layer's n_out × n_in matrix from SAX (no gain; raw, global phase kept)."""
        s = self.cc.evaluate(self.phases if phases is None else phases, wl)
        return [self._layer_block(s, li) for li in range(len(self.net.layers))]

    def _chip_prefixed(self) -> bool:
        return any((mp := parse_mode_port(p)) is not None and mp.layer is not None for p in self.cc.ports)

    def check(self, wl: float = WL0_UM, tol: float = TOL_DEFAULT, diagnose: bool = True) -> VerifyResult:
        """Compare every mesh, Σ column, layer and the chip with the network at ``wl``.

        A block or chip port that no instance port meets any more (an instance moved off it in the
        GDS) leaves no matrix to compare: the result fails with the instances that lost their
        partner and the gap (:meth:`port_gaps`), or the missing port."""
        try:
            return self._check(wl, tol, diagnose)
        except ValueError as e:
            if "missing from the layout" not in str(e):
                raise
            from gf_prune.diagnosis import lost_partners

            culprits = []
            for path in dict.fromkeys(self.blocks.values()):
                if not path:
                    continue
                cell, _ = self.cc.locate(path)
                recnet = self.cc.recnet[cell.name]
                optical = {inst: set(g.ports) for g in cell.groups for inst in g.names}
                culprits += [
                    f"{'/'.join(path)}/{inst}: {'ports' if len(ports) > 1 else 'port'} {', '.join(ports)} lost "
                    f"{'their' if len(ports) > 1 else 'its'} partner{detail}"
                    for inst, ports, detail in lost_partners(recnet, optical, self.port_gaps())
                ]
            return VerifyResult(wl, tol, [], [], float("inf"), [], culprits or [str(e)], [*self.problems, str(e)], {})

    def _check(self, wl: float, tol: float, diagnose: bool) -> VerifyResult:
        t0 = time.perf_counter()
        ev = self.cc.evaluate_all(self.phases, wl)
        per_mesh, per_layer = [], []
        blocks: dict[str, np.ndarray] = {}
        for (li, mesh), path in self.blocks.items():
            if mesh == "W":
                continue
            ports, s = ev.at(path)
            blocks[f"{mesh}{li}"] = _block(ports, s, *_shape(self.net, li, mesh))
            err, _ = rel_error(blocks[f"{mesh}{li}"], _expected(self.net, li, mesh))
            per_mesh.append({"layer": li, "mesh": mesh, "instance": "/".join(path), "rel_error": err})
        s_chip = ev.cell_s[self.cc.top_name][0]
        mats, chip_err = [], 0.0
        for li in range(len(self.net.layers)):
            blk = self._layer_block(s_chip, li)
            blocks[f"W{li}"] = blk
            err, alpha = rel_error(blk, _expected(self.net, li, "W"))
            per_layer.append({"layer": li, "rel_error": err})
            mats.append(blk * np.exp(-1j * alpha))
            chip_err = max(chip_err, err)
        chip_err = max(chip_err, self._crosstalk(s_chip))
        t_eval = time.perf_counter() - t0
        culprits: list[str] = []
        if diagnose:
            for d in per_mesh:
                if d["rel_error"] > tol:
                    path = self.blocks[(d["layer"], d["mesh"])]
                    culprits += diagnose_block(ev, path, self.net, tol, self.port_gaps()) or [
                        f"{d['instance']}: error {d['rel_error']:.3g}, no single slot or net to blame"
                    ]
        culprits += [p for p in self.problems if "has no heater" in p]
        timings = {**self.timings_s, "evaluate": t_eval, "diagnose": time.perf_counter() - t0 - t_eval}
        blocks["chip"] = s_chip
        return VerifyResult(
            wl, tol, per_mesh, per_layer, chip_err, mats, culprits, list(self.problems), timings, matrices=blocks
        )

    def _layer_block(self, s_chip: np.ndarray, li: int) -> np.ndarray:
        lp = self.net.layers[li]
        return _block(self.cc.ports, s_chip, lp.n_out, lp.n_in, layer=li if self._chip_prefixed() else None)

    def _crosstalk(self, s_chip: np.ndarray) -> float:
        """Light between separate layer blocks of the chip (must be none)."""
        if not self._chip_prefixed():
            return 0.0
        off = s_chip.copy()
        for li, lp in enumerate(self.net.layers):
            rows = [self.cc.ports.index(chip_port(li, mode_port("out", r))) for r in range(lp.n_out)]
            cols = [self.cc.ports.index(chip_port(li, mode_port("in", r))) for r in range(lp.n_in)]
            off[np.ix_(rows, cols)] = 0
        outs = [i for i, p in enumerate(self.cc.ports) if "_out" in p]
        ins = [i for i, p in enumerate(self.cc.ports) if "_in" in p]
        return float(np.linalg.norm(off[np.ix_(outs, ins)]))

    def sweep(self, wls: Sequence[float] | None = None) -> dict[str, Any]:
        """Relative error of every layer and the chip versus wavelength (µm)."""
        if wls is None:  # every 5 nm, plus a few points close to the design wavelength
            near = WL0_UM + np.array([-2e-3, -5e-4, -1e-4, 1e-4, 5e-4, 2e-3])
            wls = np.unique(np.round(np.concatenate([np.linspace(1.50, 1.60, 21), near]), 9))
        wls = np.asarray(wls, dtype=float)
        layers: list[list[float]] = [[] for _ in self.net.layers]
        expected = [_expected(self.net, li, "W") for li in range(len(self.net.layers))]  # the same at every λ
        for s in self.cc.evaluate_sweep(self.phases, wls):
            for li, want in enumerate(expected):
                layers[li].append(rel_error(self._layer_block(s, li), want)[0])
        chip = np.max(np.array(layers), axis=0)
        return {
            "wavelength_um": [float(w) for w in wls],
            "layer_rel_error": [[float(e) for e in errs] for errs in layers],
            "chip_rel_error": [float(e) for e in chip],
        }


def plot_sweep(sweep: Mapping[str, Any], path: str | Path, tol: float = TOL_DEFAULT) -> Path:
    """Relative error vs λ of each layer and the chip, log scale, written to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gf_prune.io import atomic_output

    wl = np.asarray(sweep["wavelength_um"]) * 1e3
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
    ax.semilogy(wl, np.maximum(sweep["chip_rel_error"], 1e-17), "-", color="0.6", lw=4, label="chip (worst layer)")
    for li, errs in enumerate(sweep["layer_rel_error"]):
        ax.semilogy(wl, np.maximum(errs, 1e-17), "o-", ms=2.5, lw=1, label=f"layer {li}")
    ax.axhline(tol, color="r", ls="--", lw=1, label=f"tolerance {tol:g}")
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel(r"$\|S - e^{i\alpha}W\|_F\,/\,\|W\|_F$")
    ax.set_title("SAX layout vs trained network")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def verify(
    layout: Any,
    net: Any,
    wl: float = WL0_UM,
    tol: float = TOL_DEFAULT,
    sweep: bool = False,
    plot: str | Path | None = None,
    netlist_cache: bool = False,
    cell_models: Mapping[str, sax_models.CellModel] | None = None,
) -> VerifyResult:
    """Check that ``layout`` (Component, .gds, folder or recursive netlist) realises ``net``.

    Returns a :class:`VerifyResult`: per-mesh, per-layer and chip relative errors after
    one global phase each, ``max_rel_error``, ``passed``, the SAX layer matrices and,
    on a mismatch, ``culprit`` — the first slot or net whose local transfer is wrong.
    With ``sweep`` the error is also computed over 1.50–1.60 µm (and plotted to ``plot``).
    """
    v = Verifier(layout, net, cell_models=cell_models, netlist_cache=netlist_cache)
    res = v.check(wl, tol)
    if sweep and res.per_layer:
        t0 = time.perf_counter()
        res.sweep = v.sweep()
        res.timings_s["sweep"] = time.perf_counter() - t0
        if plot is not None:
            plot_sweep(res.sweep, plot, tol)
    return res


def verify_dir(out_dir: str | Path, wl: float = WL0_UM, sweep: bool = True, tol: float = TOL_DEFAULT) -> dict[str, Any]:
    """``gf-prune verify DIR``: check DIR/network.gds against DIR/phases.npz.

    Writes ``DIR/wavelength_sweep.png`` when ``sweep``; the netlist read back from the GDS is kept in
    ``DIR/network.netlist.json`` and reused while the GDS bytes are unchanged. Returns :meth:`VerifyResult.to_dict`
    with ``layer_matrices`` (list of complex arrays, no gain) for the accuracy check. A chip laid out with
    ``layout.pdk`` (recorded in ``DIR/layout.json``) is read back with that PDK active and checked with
    the ideal models on its waveguide indices (:meth:`gf_prune.pdk.PdkCells.cell_models`).
    """
    from gf_prune.phases import NetworkPhases

    out_dir = Path(out_dir)
    phases = out_dir / "phases.npz"
    if not phases.is_file():
        raise FileNotFoundError(f"missing file {phases} (run `gf-prune prune` first)")
    net = NetworkPhases.load(phases)
    png = out_dir / "wavelength_sweep.png" if sweep else None
    models = None
    recorded = _recorded_pdk(out_dir)
    if recorded is not None:
        from gf_prune.pdk import pdk_cells

        models = pdk_cells(recorded).cell_models()
    res = verify(out_dir / "network.gds", net, wl, tol, sweep, png, netlist_cache=True, cell_models=models)
    return res.to_dict(with_matrices=True)


def _recorded_pdk(out_dir: Path) -> str | None:
    """``layout.pdk`` recorded in ``out_dir/layout.json`` (None: not recorded, a chip of the active PDK)."""
    import json

    path = out_dir / "layout.json"
    if not path.is_file():
        return None
    try:
        rec = json.loads(path.read_text()).get("pdk")
    except (OSError, ValueError, AttributeError):
        return None
    return rec.get("pdk") if isinstance(rec, dict) else None
