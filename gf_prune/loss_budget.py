"""Insertion-loss budget of every optical path of a chip, counted from its netlist.

The chip as built is walked through its recursive netlist (:func:`gf_prune.netlist.extract_netlist`):
every leaf instance on a path adds its loss — a grating coupler, an MMI's excess loss, a crossing, a
bend, and the propagation loss of its waveguide length (straights, bends, heaters, tapers). A removed
MZI is therefore waveguides, a live one two MMIs, and a compacted mesh has fewer slots. Light splits at
every MMI, so an input reaches an output over many paths: :func:`loss_budget` gives, per (input,
output) pair of fibre ports, the least and the most lossy path with its element counts, and the worst
path of the chip. Splitting ratios are not losses: an MMI counts its excess loss only
(−10·log10 Σ_out |S_out,in|²), the phases and the 3 dB split being the network's computation.

Figures (:class:`LossFigures`, at λ = 1.55 µm): taken from the active PDK's SAX models where it has them
(cspdk: ``PDK.models["straight"]``, ``["bend_euler"]``, ``["mmi2x2"]``, ``["grating_coupler_elliptical"]``,
``["crossing"]`` evaluated at 1.55 µm), else :data:`ASSUMED_FIGURES` — named assumptions, marked
``"assumed"`` in every output (gdsfactory's generic PDK has no models).

Leaf transfers follow gdsfactory's port convention: two-port cells ``o1 ↔ o2``; 2×2 couplers/MMIs
``o1, o2 ↔ o3, o4``; 1×2 ``o1 ↔ o2, o3``; crossings ``o1 ↔ o3``, ``o2 ↔ o4``; a grating's optical port
↔ its fibre port; a terminator absorbs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["ASSUMED_FIGURES", "LossFigures", "Tally", "loss_budget", "pdk_figures"]

WL_UM = 1.55

ASSUMED_FIGURES: dict[str, float] = {
    "propagation_dB_cm": 2.0,
    "bend_dB": 0.01,
    "mmi_dB": 0.3,
    "grating_dB": 3.5,
    "crossing_dB": 0.2,
}
"""Figures used where the PDK gives none: typical silicon-photonics MPW values, ASSUMED (not measured,
not from a PDK): strip propagation 2 dB/cm, 0.01 dB excess per 90° Euler bend, 0.3 dB MMI excess loss,
3.5 dB per grating coupler, 0.2 dB per crossing."""

BEND_MODEL_LENGTH_UM = 10.0
"""Length (µm) at which a PDK's bend model is evaluated to find its excess loss per 90° bend."""

_MODEL_OF = {
    "propagation_dB_cm": "straight",
    "bend_dB": "bend_euler",
    "mmi_dB": "mmi2x2",
    "grating_dB": "grating_coupler_elliptical",
    "crossing_dB": "crossing",
}


@dataclass(frozen=True)
class LossFigures:
    """Loss figures of one PDK at :data:`WL_UM` (dB; propagation in dB/cm) and where each comes from."""

    propagation_dB_cm: float
    bend_dB: float
    mmi_dB: float
    grating_dB: float
    crossing_dB: float
    sources: tuple[tuple[str, str], ...] = ()
    pdk: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sources"] = dict(self.sources)
        return d

    @property
    def assumed(self) -> list[str]:
        return [k for k, v in self.sources if v.startswith("assumed")]


def _db(power: float) -> float:
    return float(-10.0 * math.log10(max(power, 1e-300)))


def _s2(sd: Mapping[Any, Any], a: str, b: str) -> float:
    v = sd.get((a, b), sd.get((b, a), 0.0))
    return float(np.abs(np.asarray(v)).ravel()[0] ** 2)


def _from_model(key: str, model: Any) -> float:
    """One figure (dB, or dB/cm) from a SAX model evaluated at 1.55 µm."""
    if key == "propagation_dB_cm":
        return _db(_s2(model(wl=WL_UM, length=1e4), "o1", "o2"))
    if key == "bend_dB":  # the whole bend's loss; pdk_figures subtracts the propagation over its length
        return _db(_s2(model(wl=WL_UM, length=BEND_MODEL_LENGTH_UM), "o1", "o2"))
    if key == "mmi_dB":
        sd = model(wl=WL_UM)
        return _db(_s2(sd, "o1", "o3") + _s2(sd, "o1", "o4"))
    if key == "grating_dB":
        sd = model(wl=WL_UM)
        ports = sorted({p for pair in sd for p in pair})
        return _db(max(_s2(sd, a, b) for a in ports for b in ports if a < b))
    if key == "crossing_dB":
        return _db(_s2(model(wl=WL_UM), "o1", "o3"))
    raise KeyError(key)


def pdk_figures(pdk: Any = None, overrides: Mapping[str, float] | None = None) -> LossFigures:
    """:class:`LossFigures` of ``pdk`` (default: the active one): its SAX models at 1.55 µm where present,
    else :data:`ASSUMED_FIGURES`; ``overrides`` (same keys) win over both."""
    import gdsfactory as gf

    pdk = pdk if pdk is not None else gf.get_active_pdk()
    models = dict(getattr(pdk, "models", None) or {})
    name = str(getattr(pdk, "name", "") or "")
    values: dict[str, float] = {}
    sources: dict[str, str] = {}
    for key, model_name in _MODEL_OF.items():
        model = models.get(model_name)
        if model is not None:
            try:
                values[key] = _from_model(key, model)
                sources[key] = f"{name} PDK.models[{model_name!r}] at {WL_UM} µm"
                continue
            except Exception as e:  # a model with another signature: fall back, and say so
                sources[key] = f"assumed ({name} model {model_name!r} not usable: {type(e).__name__})"
        else:
            sources[key] = f"assumed ({name or 'this'} PDK has no SAX model {model_name!r})"
        values[key] = ASSUMED_FIGURES[key]
    if not sources["bend_dB"].startswith("assumed"):  # a bend's excess over the propagation along it
        values["bend_dB"] = max(0.0, values["bend_dB"] - values["propagation_dB_cm"] * BEND_MODEL_LENGTH_UM * 1e-4)
    for key, v in (overrides or {}).items():
        if key not in ASSUMED_FIGURES:
            raise ValueError(f"unknown loss figure {key!r}; known: {sorted(ASSUMED_FIGURES)}")
        values[key], sources[key] = float(v), "given"
    values = {k: round(v, 9) + 0.0 for k, v in values.items()}  # no -0.0 or 4e-16 from float round-off
    return LossFigures(**values, sources=tuple(sources.items()), pdk=name)


# ----------------------------------------------------------------------------- path counting

TALLY_FIELDS = ("dB", "length_um", "bends", "mmis", "gratings", "crossings", "heaters")


@dataclass(frozen=True)
class Tally:
    """Loss and element counts of one path (added along the path)."""

    dB: float = 0.0
    length_um: float = 0.0
    bends: int = 0
    mmis: int = 0
    gratings: int = 0
    crossings: int = 0
    heaters: int = 0

    def __add__(self, o: Tally) -> Tally:
        return Tally(*(getattr(self, f) + getattr(o, f) for f in TALLY_FIELDS))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["dB"], d["length_um"] = round(self.dB, 6), round(self.length_um, 3)
        return d


Span = tuple[Tally, Tally]  # (least lossy path, most lossy path)


def _merge(a: Span | None, b: Span) -> Span:
    if a is None:
        return b
    return (a[0] if a[0].dB <= b[0].dB else b[0], a[1] if a[1].dB >= b[1].dB else b[1])


def _length(settings: Mapping[str, Any], info: Mapping[str, Any]) -> float:
    for src in (info, settings):
        v = src.get("length")
        if isinstance(v, int | float):
            return float(v)
    return 0.0


def _leaf(component: str, settings: Mapping[str, Any], info: Mapping[str, Any], fig: LossFigures) -> dict[str, dict]:
    """``{port_in: {port_out: Tally}}`` of one leaf cell."""
    name = component.lower()
    prop = fig.propagation_dB_cm * 1e-4

    def two_port(t: Tally) -> dict[str, dict]:
        return {"o1": {"o2": t}, "o2": {"o1": t}}

    if name.startswith("terminator"):
        return {}
    if "grating" in name:
        t = Tally(dB=fig.grating_dB, gratings=1)
        return two_port(t)
    if "crossing" in name:
        t = Tally(dB=fig.crossing_dB, crossings=1)
        return {"o1": {"o3": t}, "o3": {"o1": t}, "o2": {"o4": t}, "o4": {"o2": t}}
    if "mmi1x2" in name:
        t = Tally(dB=fig.mmi_dB, mmis=1)
        return {"o1": {"o2": t, "o3": t}, "o2": {"o1": t}, "o3": {"o1": t}}
    if "mmi" in name or name.startswith("coupler"):
        t = Tally(dB=fig.mmi_dB, mmis=1)
        return {
            a: {b: t for b in (("o3", "o4") if a in ("o1", "o2") else ("o1", "o2"))} for a in ("o1", "o2", "o3", "o4")
        }
    length = _length(settings, info)
    if name.startswith("bend"):
        n90 = info.get("route_info_n_bend_90", 1 if "euler" in name or "circular" in name else 0)
        nb = round(float(n90)) if name.startswith(("bend_euler", "bend_circular")) else 0
        return two_port(Tally(dB=fig.bend_dB * nb + prop * length, length_um=length, bends=nb))
    if name.startswith("straight_heater"):
        return two_port(Tally(dB=prop * length, length_um=length, heaters=1))
    if name.startswith(("straight", "taper", "wire", "extend")):
        return two_port(Tally(dB=prop * length, length_um=length))
    raise ValueError(f"loss budget: no rule for leaf cell {component!r} (settings {dict(settings)})")


class _Walker:
    """Per cell of a recursive netlist: least/most lossy path between every pair of its ports."""

    def __init__(self, recnet: Mapping[str, Any], fig: LossFigures) -> None:
        self.recnet = recnet
        self.fig = fig
        self.cells: dict[str, dict[str, dict[str, Span]]] = {}
        self.leaves: dict[str, dict[str, dict[str, Span]]] = {}

    def child(self, spec: Mapping[str, Any]) -> dict[str, dict[str, Span]]:
        comp = spec["component"]
        if comp in self.recnet:
            return self.cell(comp)
        key = json.dumps([comp, spec.get("settings", {}), spec.get("info", {})], sort_keys=True, default=str)
        if key not in self.leaves:
            raw = _leaf(comp, spec.get("settings", {}) or {}, spec.get("info", {}) or {}, self.fig)
            self.leaves[key] = {a: {b: (t, t) for b, t in outs.items()} for a, outs in raw.items()}
        return self.leaves[key]

    def cell(self, name: str) -> dict[str, dict[str, Span]]:
        if name in self.cells:
            return self.cells[name]
        net = self.recnet[name]
        insts = net.get("instances", {})
        conn: dict[str, str] = {}
        for n in net.get("nets", []):
            conn[n["p1"]], conn[n["p2"]] = n["p2"], n["p1"]
        exported = {v: k for k, v in net.get("ports", {}).items()}
        memo: dict[str, dict[str, Span]] = {}
        busy: set[str] = set()

        def reach(ip: str) -> dict[str, Span]:
            """Cell ports reached from instance port ``ip`` entered from outside the instance."""
            if ip in memo:
                return memo[ip]
            if ip in busy:
                raise ValueError(f"loss budget: optical loop through {name}/{ip}")
            busy.add(ip)
            inst, port = ip.split(",", 1)
            out: dict[str, Span] = {}
            for p_out, span in self.child(insts[inst]).get(port, {}).items():
                nxt = f"{inst},{p_out}"
                if nxt in exported:
                    out[exported[nxt]] = _merge(out.get(exported[nxt]), span)
                if nxt in conn:
                    for q, sub in reach(conn[nxt]).items():
                        out[q] = _merge(out.get(q), (span[0] + sub[0], span[1] + sub[1]))
            busy.discard(ip)
            memo[ip] = out
            return out

        self.cells[name] = {p: reach(ip) for p, ip in net.get("ports", {}).items() if "," in ip}
        return self.cells[name]


def loss_budget(
    layout: Any,
    port_rows: list[Mapping[str, Any]] | None = None,
    figures: LossFigures | None = None,
    top: str | None = None,
    cache: bool = False,
) -> dict[str, Any]:
    """Insertion loss of every fibre-to-fibre path of ``layout`` (component, GDS or recursive netlist).

    Inputs are the top cell's optical ports named ``fiber_l{ℓ}_in{r}`` (:func:`gf_prune.optical_io.add_fiber_io`),
    outputs ``fiber_l{ℓ}_out{r}``; ``loopback1 → loopback2`` is reported apart. Returns ``{"figures", "pairs":
    [{"input", "output", "min_dB", "max_dB", "min_path", "max_path"}], "worst": {...}, "best": {...},
    "per_input": {...}, "loopback": {...}}`` (paths as :class:`Tally` dicts). ``port_rows`` (``ports.csv`` rows)
    only label the ports' kind (signal/bias); ``cache``: keep the netlist read back from a GDS beside it
    (:func:`gf_prune.netlist.load_netlist`; the SAX check reuses it).
    """
    from gf_prune.netlist import load_netlist, top_cell

    fig = figures if figures is not None else pdk_figures()
    recnet = load_netlist(layout, cache=cache)
    top = top or top_cell(recnet)
    transfer = _Walker(recnet, fig).cell(top)
    kind = {str(r["name"]): str(r.get("kind", "")) for r in (port_rows or [])}
    ins = sorted((p for p in transfer if p.startswith("fiber_") and "_in" in p), key=_natural)
    pairs = []
    for p in ins:
        for q, (lo, hi) in sorted(transfer[p].items(), key=lambda kv: _natural(kv[0])):
            if not (q.startswith("fiber_") and "_out" in q):
                continue
            src, dst = p.removeprefix("fiber_"), q.removeprefix("fiber_")
            pairs.append(
                {
                    "input": src,
                    "output": dst,
                    "kind": kind.get(src, ""),
                    "min_dB": round(lo.dB, 6),
                    "max_dB": round(hi.dB, 6),
                    "min_path": lo.to_dict(),
                    "max_path": hi.to_dict(),
                }
            )
    if not pairs:
        raise ValueError(f"loss budget: no fibre-to-fibre path in {top} (ports {sorted(transfer)[:6]}…)")
    worst = max(pairs, key=lambda d: d["max_dB"])
    best = min(pairs, key=lambda d: d["min_dB"])
    loop = transfer.get("loopback1", {}).get("loopback2")
    return {
        "wavelength_um": WL_UM,
        "figures": fig.to_dict(),
        "assumed": fig.assumed,
        "n_pairs": len(pairs),
        "worst": {k: worst[k] for k in ("input", "output", "max_dB", "max_path")},
        "best": {k: best[k] for k in ("input", "output", "min_dB", "min_path")},
        "loopback": loop[0].to_dict() if loop else None,
        "pairs": pairs,
    }


def _natural(s: str) -> list[Any]:
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]
