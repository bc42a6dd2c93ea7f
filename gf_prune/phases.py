"""Plain phase description of a trained SVD network: what every later stage reads.

A network is a list of SVD layers. Layer ℓ maps ``n_in`` → ``n_out`` modes as::

    x ──► mesh "V" (n_in modes, realises V†) ──► Σ column (k = min(n_in, n_out)
          attenuator MZIs on modes 0..k−1, times a scalar gain) ──► mesh "U" (n_out modes) ──► y

V† outputs k..n_in−1 are terminated; U inputs k..n_out−1 receive no light.
Every phase is addressed as (layer, mesh U|S|V, column, row, kind theta|phi) and its
GDS instance is named by :func:`instance_name`. A pruned phase is exactly 0 (``live`` False).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gf_prune.mesh import MeshTopology, mesh_unitary, padded_size, topology
from gf_prune.naming import slot_instance
from gf_prune.physics import (
    P_PI_MW_DEFAULT,
    ZeroState,
    attenuator_transfer,
    check_zero_state,
    heater_power_mw,
    wrap_phase,
)

HEATER_COLUMNS = ("layer", "mesh", "column", "row", "kind", "phase_rad", "power_mw", "pruned", "instance")


def instance_name(layer: int, mesh: str, col: int, row: int) -> str:
    """Stable GDS instance name of an MZI: ``mzi_V0_c3_r5``; Σ attenuators ``att_S0_r3``
    (:func:`gf_prune.naming.slot_instance`; ``col`` is the logical mesh column)."""
    return slot_instance(layer, mesh, col, row)


class _LiveMasks:
    """Effective phases of θ/φ arrays with live masks (a pruned phase is exactly 0)."""

    theta: np.ndarray
    phi: np.ndarray
    theta_live: np.ndarray
    phi_live: np.ndarray

    @property
    def theta_eff(self) -> np.ndarray:
        return np.where(self.theta_live, self.theta, 0.0)

    @property
    def phi_eff(self) -> np.ndarray:
        return np.where(self.phi_live, self.phi, 0.0)

    @property
    def removable(self) -> np.ndarray:
        """MZIs whose θ and φ are both pruned (a fixed passive 2×2)."""
        return ~self.theta_live & ~self.phi_live


@dataclass
class MeshPhases(_LiveMasks):
    """Phases of one MZI mesh (``theta``, ``phi`` per MZI, in topology order)."""

    n: int
    kind: str
    theta: np.ndarray
    phi: np.ndarray
    theta_live: np.ndarray
    phi_live: np.ndarray

    @property
    def topo(self) -> MeshTopology:
        return topology(self.n, self.kind)  # type: ignore[arg-type]

    def unitary(self, zero_state: ZeroState = "bar") -> np.ndarray:
        """The N×N matrix this mesh realises (pruned phases at 0), float64."""
        return mesh_unitary(self.topo, self.theta_eff, self.phi_eff, None, zero_state)


@dataclass
class SigmaPhases(_LiveMasks):
    """Σ column: k attenuator MZIs and a scalar gain (not on chip)."""

    theta: np.ndarray
    phi: np.ndarray
    theta_live: np.ndarray
    phi_live: np.ndarray
    gain: float = 1.0

    @property
    def k(self) -> int:
        return int(self.theta.size)

    def transmissions(self, zero_state: ZeroState = "bar") -> np.ndarray:
        """Complex field transmission of each attenuator (without the gain)."""
        return attenuator_transfer(self.theta_eff, self.phi_eff, zero_state)


@dataclass
class LayerPhases:
    """One SVD layer. ``n_in`` counts every V input; with a bias mode (``bias_amp`` not None) the last
    of them carries a constant field of amplitude ``bias_amp``."""

    n_in: int
    n_out: int
    V: MeshPhases
    S: SigmaPhases
    U: MeshPhases
    bias_amp: float | None = None

    def matrix(self, zero_state: ZeroState = "bar", with_gain: bool = True) -> np.ndarray:
        """Complex n_out × n_in matrix W = U · Σ · V† of this layer."""
        k = self.S.k
        # a padded (butterfly) mesh is wider than the layer: its extra modes are dark
        sigma = np.zeros((self.U.n, self.V.n), dtype=np.complex128)
        sigma[np.arange(k), np.arange(k)] = self.S.transmissions(zero_state) * (self.S.gain if with_gain else 1.0)
        return (self.U.unitary(zero_state) @ sigma @ self.V.unitary(zero_state))[: self.n_out, : self.n_in]


class _Unreadable(ValueError):
    """Why a phases file cannot be read, in a few words (the caller names the file)."""


def _unreadable_reason(exc: BaseException) -> str:
    """A short, un-nested reason for a failed :meth:`NetworkPhases.load` (no path, no inner message)."""
    import zipfile

    if isinstance(exc, _Unreadable):
        return str(exc)
    if isinstance(exc, EOFError):
        return "empty file"
    if isinstance(exc, zipfile.BadZipFile):
        return "corrupt zip archive"
    if isinstance(exc, ValueError) and "pickled" in str(exc):  # np.load's answer to a non-numpy file
        return "not a zip/npz archive"
    if isinstance(exc, AttributeError | TypeError) and "context manager" in str(exc):  # np.load gave one array
        return "a single .npy array, not an npz archive"
    if isinstance(exc, UnicodeDecodeError | json.JSONDecodeError):
        return "corrupt header"
    if isinstance(exc, KeyError):
        return f"missing {exc.args[0]!r}" if exc.args else "missing entry"
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


@dataclass
class NetworkPhases:
    """All phases of a network, the convention they are in, and the nonlinearity's name."""

    layers: list[LayerPhases]
    zero_state: str = "bar"
    mesh_kind: str = "clements"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_zero_state(self.zero_state)

    def matrices(self) -> list[np.ndarray]:
        """Every layer's W (n_out × n_in, the bias mode's column last at unit bias)."""
        return [layer.matrix(self.zero_state) for layer in self.layers]  # type: ignore[arg-type]

    @property
    def bias_amps(self) -> list[float | None]:
        """Each layer's bias-mode amplitude (None: no bias mode)."""
        return [layer.bias_amp for layer in self.layers]

    def iter_phases(self):
        """Yield (layer, mesh, column, row, kind, raw_phase, live) for every phase shifter."""
        for li, layer in enumerate(self.layers):
            for mesh_name in ("V", "S", "U"):
                if mesh_name == "S":
                    s = layer.S
                    for r in range(s.k):
                        yield li, "S", 0, r, "theta", float(s.theta[r]), bool(s.theta_live[r])
                        yield li, "S", 0, r, "phi", float(s.phi[r]), bool(s.phi_live[r])
                    continue
                m: MeshPhases = getattr(layer, mesh_name)
                topo = m.topo
                for k in range(topo.n_mzis):
                    c, r = int(topo.cols[k]), int(topo.rows[k])
                    yield li, mesh_name, c, r, "theta", float(m.theta[k]), bool(m.theta_live[k])
                    yield li, mesh_name, c, r, "phi", float(m.phi[k]), bool(m.phi_live[k])

    def heater_rows(self, p_pi_mw: float = P_PI_MW_DEFAULT) -> list[dict[str, Any]]:
        """One row per phase shifter with the docs/design.md heater-table columns."""
        rows = []
        for li, mesh_name, c, r, kind, raw, live in self.iter_phases():
            phase = float(wrap_phase(raw)) if live else 0.0
            rows.append(
                {
                    "layer": li,
                    "mesh": mesh_name,
                    "column": c,
                    "row": r,
                    "kind": kind,
                    "phase_rad": phase,
                    "power_mw": float(heater_power_mw(phase, p_pi_mw)),
                    "pruned": not live,
                    "instance": instance_name(li, mesh_name, c, r),
                }
            )
        return rows

    # ------------------------------------------------------------------ file format
    def save(self, path: str | Path) -> None:
        """Write ``.npz`` (arrays) with a JSON header inside; see :meth:`load`."""
        arrays: dict[str, np.ndarray] = {}
        header = {
            "format": "gf_prune.phases/1",
            "zero_state": self.zero_state,
            "mesh_kind": self.mesh_kind,
            "meta": self.meta,
            "layers": [],
        }
        for li, layer in enumerate(self.layers):
            lh = {"n_in": layer.n_in, "n_out": layer.n_out, "gain": float(layer.S.gain)}
            if layer.bias_amp is not None:
                lh["bias_amp"] = float(layer.bias_amp)
            header["layers"].append(lh)
            for mesh_name in ("V", "S", "U"):
                m = getattr(layer, mesh_name)
                for attr in ("theta", "phi", "theta_live", "phi_live"):
                    arrays[f"L{li}_{mesh_name}_{attr}"] = np.asarray(getattr(m, attr))
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> NetworkPhases:
        if not Path(path).is_file():
            raise FileNotFoundError(f"phases file not found: {path}")
        try:
            net = cls._load(path)
        except Exception as exc:  # text file, empty file, corrupt zip, foreign npz, bad header
            raise ValueError(f"{path}: not a readable gf_prune phases file ({_unreadable_reason(exc)})") from None
        for li, layer in enumerate(net.layers):
            for mesh_name, size in (
                ("V", layer.V.topo.n_mzis),
                ("S", min(layer.n_in, layer.n_out)),
                ("U", layer.U.topo.n_mzis),
            ):
                m = getattr(layer, mesh_name)
                for attr in ("theta", "phi", "theta_live", "phi_live"):
                    arr = np.asarray(getattr(m, attr))
                    if arr.shape != (size,):
                        raise ValueError(
                            f"{path}: layer {li} {mesh_name}.{attr} has shape {arr.shape}, expected ({size},)"
                        )
                    if attr in ("theta", "phi") and not np.all(np.isfinite(arr)):
                        raise ValueError(f"{path}: layer {li} mesh {mesh_name} has NaN or infinite {attr} phases")
        return net

    @classmethod
    def _load(cls, path: str | Path) -> NetworkPhases:
        with np.load(path, allow_pickle=False) as z:
            if "header" not in z.files:
                raise _Unreadable(f"no gf_prune header; arrays: {', '.join(z.files[:8]) or 'none'}")
            header = json.loads(bytes(z["header"]).decode())
            if not isinstance(header, dict) or header.get("format") != "gf_prune.phases/1":
                raise _Unreadable("header is not gf_prune.phases/1")
            layers = []
            for li, lh in enumerate(header["layers"]):
                get = {k: z[k] for k in z.files if k.startswith(f"L{li}_")}

                def mesh_args(name: str, get: dict = get, li: int = li) -> dict[str, np.ndarray]:
                    return {a: get[f"L{li}_{name}_{a}"] for a in ("theta", "phi", "theta_live", "phi_live")}

                layers.append(
                    LayerPhases(
                        lh["n_in"],
                        lh["n_out"],
                        MeshPhases(padded_size(lh["n_in"], header["mesh_kind"]), header["mesh_kind"], **mesh_args("V")),
                        SigmaPhases(**mesh_args("S"), gain=lh["gain"]),
                        MeshPhases(
                            padded_size(lh["n_out"], header["mesh_kind"]), header["mesh_kind"], **mesh_args("U")
                        ),
                        bias_amp=lh.get("bias_amp"),
                    )
                )
        return cls(layers, header["zero_state"], header["mesh_kind"], header.get("meta", {}))
