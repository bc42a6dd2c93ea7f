"""A foundry PDK's own SAX models as leaf models of the circuit engine.

:func:`foundry_cell_models` maps every leaf cell of a chip's netlist to the active (or a named)
PDK's SAX model — ``cspdk.si220.cband.PDK.models`` for CORNERSTONE — as a
:class:`~gf_prune.sax_models.CellModel` that :class:`~gf_prune.circuit.CompiledCircuit` takes:

- the model is found by the cell's netlist name (``mmi2x2``, ``straight``, ``bend_euler``,
  ``straight_heater_metal``; aliases in :data:`MODEL_ALIASES`, e.g. gdsfactory's
  ``straight_heater_metal_undercut``);
- each instance's settings, then its netlist ``info`` (a bend's ``length``), are filtered to the
  model's signature: numbers become per-instance model arguments; a text setting (``cross_section``)
  must be one value for all instances of the cell and is bound to the model;
- a heater's programmed phase becomes the model's drive by the model's own relation, read off the
  model by probing it (cspdk's ``straight_heater_metal``: ``Δφ = π·voltage/vpi``, so
  ``voltage = vpi·phase/π``); a model that takes ``phase`` gets it directly;
- only the optical ports (``o1``, ``o2``, …) of a model are kept (cspdk's heater also returns its
  electrical ``l_e*``/``r_e*`` pairs);
- a cell the PDK has no model for (``terminator``) keeps gf_prune's ideal model
  (:data:`gf_prune.sax_models.CELL_MODELS`) and the fallback is recorded as a warning.
"""

from __future__ import annotations

import importlib
import inspect
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax.numpy as jnp
import numpy as np

from gf_prune import sax_models
from gf_prune.sax_models import WL0_UM, CellModel, UnmodelledCellError

__all__ = ["MODEL_ALIASES", "FoundryModels", "HeaterDrive", "foundry_cell_models", "load_pdk_models"]

MODEL_ALIASES: dict[str, tuple[str, ...]] = {
    "straight_heater_metal_undercut": ("straight_heater_metal",),
    "bend_euler_sc": ("bend_euler",),
    "straight_sc": ("straight",),
}
"""Netlist cell name → PDK model names to try after the cell's own name."""

PDK_ALIASES = {"cspdk": "cspdk.si220.cband"}
"""Short PDK names → the module that exposes ``PDK`` (a ``gf.Pdk`` with ``models``)."""

_OPTICAL = re.compile(r"o\d+")
_DRIVE_PARAMS = ("voltage", "vpi", "phase")


def load_pdk_models(pdk: Any) -> tuple[str, dict[str, Callable[..., Any]]]:
    """(name, SAX models) of a PDK: a ``gf.Pdk``, ``"cspdk"``, ``"active"`` or a module path with ``PDK``.

    ``"generic"`` (gdsfactory's generic PDK) has no models: an empty dict.
    """
    if isinstance(pdk, str):
        if pdk == "active":
            import gdsfactory as gf

            obj = gf.get_active_pdk()
            return str(obj.name), dict(obj.models or {})
        if pdk == "generic":
            import gdsfactory as gf

            return "generic", dict(gf.gpdk.PDK.models or {})
        path = PDK_ALIASES.get(pdk, pdk)
        module = _import_keeping_active_pdk(pdk, path)
        obj = getattr(module, "PDK", None)
        models = getattr(obj, "models", None) if obj is not None else getattr(module, "models", None)
        if callable(models):
            models = models()
        if not isinstance(models, Mapping):
            raise ValueError(f"PDK module {path!r} has no PDK.models mapping of SAX models")
        return pdk, dict(models)
    return str(getattr(pdk, "name", "pdk")), dict(getattr(pdk, "models", None) or {})


def _import_keeping_active_pdk(pdk: str, path: str) -> Any:
    """Import a PDK module for its models only: importing ``cspdk.si220.cband`` activates that PDK,
    so the PDK active before (or none) is restored — the layout keeps its own cells."""
    import gdsfactory.pdk as gpdk

    before = gpdk._ACTIVE_PDK
    try:
        return importlib.import_module(path)
    except ImportError as exc:
        raise ValueError(f"cannot import the PDK {pdk!r} ({path}): {exc}") from None
    finally:
        if gpdk._ACTIVE_PDK is not before:
            if before is None:
                gpdk._ACTIVE_PDK = None
            else:
                before.activate()


@dataclass(frozen=True)
class HeaterDrive:
    """How a phase becomes the heater model's drive: ``voltage = vpi·(phase/π)**(1/power)``."""

    param: str  # "voltage" or "phase"
    vpi: float = 1.0
    power: int = 1  # 1: Δφ = π·V/vpi; 2: Δφ = π·(V/vpi)²

    def drive(self, phase: Any) -> Any:
        if self.param == "phase":
            return phase
        x = jnp.asarray(phase) / math.pi
        return self.vpi * (x if self.power == 1 else jnp.sqrt(jnp.maximum(x, 0.0)))

    def describe(self) -> str:
        if self.param == "phase":
            return "phase passed to the model as is"
        law = "π·V/vpi" if self.power == 1 else "π·(V/vpi)²"
        inv = "vpi·phase/π" if self.power == 1 else "vpi·√(phase/π)"
        return f"model's Δφ = {law}: voltage = {inv}, vpi = {self.vpi:g} V"


def _optical(sd: Mapping[tuple[str, str], Any]) -> dict[tuple[str, str], Any]:
    return {k: v for k, v in sd.items() if _OPTICAL.fullmatch(k[0]) and _OPTICAL.fullmatch(k[1])}


def _through(sd: Mapping[tuple[str, str], Any]) -> complex:
    return complex(np.asarray(sd[("o1", "o2")]).ravel()[0])


def _probe_drive(model: Callable[..., Any], params: Mapping[str, inspect.Parameter]) -> HeaterDrive | str:
    """The drive law of a heater model, read off the model (or why it cannot be)."""
    if "phase" in params:
        return HeaterDrive("phase")
    if "voltage" not in params:
        return "takes neither 'phase' nor 'voltage'"
    vpi = params["vpi"].default if "vpi" in params else 1.0
    if not isinstance(vpi, int | float) or vpi <= 0:
        return f"has no usable default vpi ({vpi!r})"
    try:
        t = [_through(model(wl=WL0_UM, voltage=v)) for v in (0.0, vpi / 2, vpi)]
    except Exception as exc:  # a model that cannot be called alone
        return f"could not be probed ({type(exc).__name__}: {exc})"
    d_half = float(np.angle(t[1] / t[0]))
    d_full = abs(float(np.angle(t[2] / t[0])))
    same_loss = abs(abs(t[1]) - abs(t[0])) < 1e-9 * abs(t[0]) and abs(abs(t[2]) - abs(t[0])) < 1e-9 * abs(t[0])
    if abs(d_full - math.pi) > 1e-9 or not same_loss:
        return f"does not give a lossless π at voltage = vpi (Δφ = {d_full:.6g})"
    for power, expect in ((1, math.pi / 2), (2, math.pi / 4)):
        if abs(d_half - expect) < 1e-9:
            return HeaterDrive("voltage", float(vpi), power)
    return f"has a drive law that is neither linear nor quadratic (Δφ(vpi/2) = {d_half:.6g})"


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


@dataclass
class FoundryModels:
    """Leaf models for :class:`~gf_prune.circuit.CompiledCircuit` and how each cell was mapped."""

    pdk: str
    cell_models: dict[str, CellModel]
    mapping: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def fallbacks(self) -> list[str]:
        """Cells simulated with gf_prune's ideal model because the PDK has none."""
        return sorted(k for k, v in self.mapping.items() if v["source"] == "ideal")


def _leaf_instances(recnet: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for net in recnet.values():
        for spec in net.get("instances", {}).values():
            if spec["component"] not in recnet:
                out.setdefault(spec["component"], []).append(spec)
    return out


def _pdk_cell_model(
    cell: str, model: Callable[..., Any], specs: list[dict[str, Any]], heater: bool
) -> tuple[CellModel, dict[str, Any]] | str:
    """A CellModel calling the PDK ``model`` for every instance in ``specs`` (or why it cannot)."""
    sig = inspect.signature(model)
    params = {
        k: p
        for k, p in sig.parameters.items()
        if k != "wl" and p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    }
    drive: HeaterDrive | None = None
    if heater:
        probed = _probe_drive(model, params)
        if isinstance(probed, str):
            return f"its heater model {probed}"
        drive = probed
    numeric: list[str] = []
    static: dict[str, Any] = {}
    for k in params:
        if k in _DRIVE_PARAMS and heater:
            continue
        values = [spec.get("settings", {}).get(k, (spec.get("info") or {}).get(k)) for spec in specs]
        if all(_number(v) for v in values):
            numeric.append(k)
        elif all(v is not None and not _number(v) for v in values):
            distinct = {str(v) for v in values}
            if len(distinct) > 1:
                return f"its instances differ in the text setting {k!r} ({sorted(distinct)})"
            static[k] = values[0]

    def params_of(settings: Mapping[str, Any], info: Mapping[str, Any]) -> dict[str, float]:
        return {k: float(settings[k] if k in settings else info[k]) for k in numeric}

    def call(**kw: Any) -> Any:
        wl = kw.pop("wl", WL0_UM)
        if drive is not None:
            kw[drive.param] = drive.drive(kw.pop("phase", 0.0))
            if drive.param == "voltage" and "vpi" in params:
                kw["vpi"] = drive.vpi
        return _optical(model(wl=wl, **static, **kw))

    call.__name__ = f"pdk_{cell}"
    kw_only = inspect.Parameter.KEYWORD_ONLY
    sig_params = [inspect.Parameter("wl", kw_only, default=WL0_UM)]
    sig_params += [inspect.Parameter("phase", kw_only, default=0.0)] if heater else []
    sig_params += [inspect.Parameter(k, kw_only, default=params[k].default) for k in numeric]
    call.__signature__ = inspect.Signature(sig_params)  # type: ignore[attr-defined]  # what sax.circuit reads
    try:
        ports = tuple(sorted({p for pair in call(**({"phase": 0.0} if heater else {})) for p in pair}))
    except Exception as exc:  # e.g. a cross-section the model does not know
        return f"cannot be called with the layout's settings {static} ({type(exc).__name__}: {exc})"
    info = {
        "source": "pdk",
        "model": f"{getattr(model, '__module__', '?')}.{getattr(model, '__name__', '?')}",
        "numeric": numeric,
        "static": {k: str(v) for k, v in static.items()},
    }
    if drive is not None:
        info["drive"] = drive.describe()
    return CellModel(call, params_of, xs_key=None, heater=heater, ports=ports), info


def foundry_cell_models(
    recnet: Mapping[str, Any],
    models: Mapping[str, Callable[..., Any]],
    pdk: str = "pdk",
    fallback: Mapping[str, CellModel] | None = None,
) -> FoundryModels:
    """Map every leaf cell of ``recnet`` to the PDK's model, or to the ideal ``fallback`` (warning).

    Raises :class:`~gf_prune.sax_models.UnmodelledCellError` naming a cell that neither has.
    """
    fallback = sax_models.CELL_MODELS if fallback is None else fallback
    fm = FoundryModels(pdk, {})
    for cell, specs in sorted(_leaf_instances(recnet).items()):
        heater = cell in fallback and fallback[cell].heater
        names = (cell, *MODEL_ALIASES.get(cell, ()))
        found = next((n for n in names if n in models), None)
        why = f"{pdk} has no model for it"
        if found is not None:
            got = _pdk_cell_model(cell, models[found], specs, heater)
            if not isinstance(got, str):
                fm.cell_models[cell], fm.mapping[cell] = got
                fm.mapping[cell]["pdk_model"] = found
                continue
            why = f"{pdk}'s model {found!r}: {got}"
        if cell not in fallback:
            raise UnmodelledCellError(f"cell {cell!r}: {why}, and gf_prune has no ideal model for it")
        fm.cell_models[cell] = fallback[cell]
        fm.mapping[cell] = {"source": "ideal", "reason": why}
        fm.warnings.append(f"cell {cell!r} ({len(specs)} instances) simulated with gf_prune's ideal model: {why}")
    return fm
