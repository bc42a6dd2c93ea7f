"""Static heater power and phase counts of a (pruned) network, from its :class:`NetworkPhases`.

Power model (docs/design.md, one formula in :func:`gf_prune.physics.heater_power_mw`):
a live heater burns ``P_π · (phase mod 2π) / π``; a pruned heater (phase fixed at 0) burns nothing.

Phases are counted two ways:

- ``uv``: the MZI phases of the U and V meshes only (1290 for a 16-16-16-10 Clements network,
  the count of Banerjee et al.);
- ``all``: U, V and the Σ attenuators (1374 for 16-16-16-10).

θ and φ are counted apart, per layer and per mesh (``U``, ``S``, ``V``). An MZI is *removable* when its
θ and φ are both pruned: it is then a fixed passive 2×2 (bar at zero power) that the compiler can replace.

>>> from gf_prune.model import PhotonicMLP
>>> rep = power_report(PhotonicMLP().to_phases())
>>> rep["phases"]["total_uv"], rep["phases"]["total_all"]
(1290, 1374)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gf_prune.phases import NetworkPhases
from gf_prune.physics import P_PI_MW_DEFAULT, phase_power_mw

MESH_NAMES = ("V", "S", "U")
PHASE_KINDS = ("theta", "phi")


def _check_finite(net: NetworkPhases) -> None:
    for li, mesh, col, row, kind, raw, live in net.iter_phases():
        if live and not math.isfinite(raw):
            raise ValueError(f"NaN or infinite phase: layer {li}, mesh {mesh}, column {col}, row {row}, {kind}")


def _mesh_arrays(net: NetworkPhases, li: int, mesh: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    m = getattr(net.layers[li], mesh)
    return {
        kind: (np.asarray(getattr(m, kind), dtype=np.float64), np.asarray(getattr(m, f"{kind}_live"), bool))
        for kind in PHASE_KINDS
    }


def power_report(net: NetworkPhases, p_pi_mw: float = P_PI_MW_DEFAULT) -> dict[str, Any]:
    """Phase counts, static power and removable MZIs of a network.

    Args:
        net: the network's phases (live masks say what is pruned).
        p_pi_mw: heater power for a π phase shift (mW).

    Returns:
        nested dict: ``phases`` (``total_uv``, ``pruned_uv``, ``live_uv``, ``sparsity_uv``, the same for
        ``all``, θ/φ splits ``theta_uv``/``phi_uv``/``theta_all``/``phi_all``, and ``per_layer``),
        ``power_mw`` (``total``, ``uv``, ``sigma``, ``theta``, ``phi``, ``per_layer``) and ``mzis``
        (``total`` and ``removable`` U/V MZIs, ``sigma_total``, ``sigma_removable``).

    Raises:
        ValueError: a live phase is NaN or infinite, or ``p_pi_mw`` ≤ 0.
    """
    if not p_pi_mw > 0:
        raise ValueError(f"p_pi_mw must be > 0, got {p_pi_mw}")
    _check_finite(net)
    per_layer = []
    tot = {"uv": [0, 0], "all": [0, 0], "theta_uv": [0, 0], "phi_uv": [0, 0], "theta_all": [0, 0], "phi_all": [0, 0]}
    pw = {"uv": 0.0, "sigma": 0.0, "theta": 0.0, "phi": 0.0}
    mzis = {"total": 0, "removable": 0, "sigma_total": 0, "sigma_removable": 0}
    for li in range(len(net.layers)):
        layer_rec: dict[str, Any] = {}
        for mesh in MESH_NAMES:
            arrays = _mesh_arrays(net, li, mesh)
            mesh_rec: dict[str, Any] = {}
            mesh_power = 0.0
            for kind, (phase, live) in arrays.items():
                n, pruned = int(live.size), int((~live).sum())
                p = float(phase_power_mw(phase, live, p_pi_mw).sum())
                mesh_rec[kind] = {"total": n, "pruned": pruned, "power_mw": p}
                mesh_power += p
                pw[kind] += p
                for key in (("uv", f"{kind}_uv") if mesh != "S" else ()) + ("all", f"{kind}_all"):
                    tot[key][0] += n
                    tot[key][1] += pruned
            removable = int((~arrays["theta"][1] & ~arrays["phi"][1]).sum())
            n_mzi = int(arrays["theta"][1].size)
            mesh_rec["mzis"] = n_mzi
            mesh_rec["removable_mzis"] = removable
            mesh_rec["power_mw"] = mesh_power
            if mesh == "S":
                pw["sigma"] += mesh_power
                mzis["sigma_total"] += n_mzi
                mzis["sigma_removable"] += removable
            else:
                pw["uv"] += mesh_power
                mzis["total"] += n_mzi
                mzis["removable"] += removable
            layer_rec[mesh] = mesh_rec
        layer_rec["power_mw"] = sum(layer_rec[m]["power_mw"] for m in MESH_NAMES)
        per_layer.append(layer_rec)
    phases: dict[str, Any] = {}
    for key, (n, pruned) in tot.items():
        phases[f"total_{key}"] = n
        phases[f"pruned_{key}"] = pruned
        phases[f"live_{key}"] = n - pruned
        phases[f"sparsity_{key}"] = pruned / n if n else 0.0
    phases["per_layer"] = [{m: {k: dict(rec[m][k]) for k in PHASE_KINDS} for m in MESH_NAMES} for rec in per_layer]
    return {
        "phases": phases,
        "power_mw": {
            "total": pw["uv"] + pw["sigma"],
            "uv": pw["uv"],
            "sigma": pw["sigma"],
            "theta": pw["theta"],
            "phi": pw["phi"],
            "per_layer": [
                {"total": rec["power_mw"], **{m: rec[m]["power_mw"] for m in MESH_NAMES}} for rec in per_layer
            ],
        },
        "mzis": mzis,
        "p_pi_mw": float(p_pi_mw),
    }


def static_power_mw(net: NetworkPhases, p_pi_mw: float = P_PI_MW_DEFAULT) -> float:
    """Total static heater power (mW) of all live phases, Σ included."""
    return float(power_report(net, p_pi_mw)["power_mw"]["total"])


def removable_mzis(net: NetworkPhases) -> int:
    """Number of U/V mesh MZIs whose θ and φ are both pruned."""
    return int(power_report(net)["mzis"]["removable"])
