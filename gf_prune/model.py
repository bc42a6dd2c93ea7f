"""The SC-IPNN in torch: SVD layers W = U Σ V† whose parameters are the physical phases.

Each phase is an ``nn.Parameter`` with a boolean mask buffer beside it (``V_theta`` and
``V_theta_mask``, …), the way ``torch.nn.utils.prune`` keeps ``weight`` and
``weight_mask``. A pruned phase is exactly 0 in the forward pass, its gradient is 0,
and :meth:`SVDLayer.apply_masks` zeroes the stored value after optimiser steps.
"""

from __future__ import annotations

import itertools
import math
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gf_prune.mesh import (
    MESH_KINDS,
    MeshTopology,
    decompose,
    mesh_unitaries_one_zeroed,
    mesh_unitary_torch,
    padded_size,
    topology,
)
from gf_prune.phases import LayerPhases, MeshPhases, NetworkPhases, SigmaPhases
from gf_prune.physics import (
    TWO_PI,
    ZeroState,
    attenuator_element,
    attenuator_theta,
    attenuator_transfer,
    check_zero_state,
    mzi_transfer_torch,
)

MESHES = ("V", "S", "U")
KINDS = ("theta", "phi")
INITS = ("uniform", "zero")
MODEL_FORMAT = "gf_prune.model/1"


def _zero_grad_hook(layer: nn.Module, name: str):
    """Gradient hook that multiplies by the layer's mask buffer ``name`` as it is when the hook runs
    (``module.to(device)`` replaces buffers: a captured tensor would be stale and on the old device)."""
    ref = weakref.ref(layer)

    def hook(grad: torch.Tensor) -> torch.Tensor:
        owner = ref()
        return grad if owner is None else grad * getattr(owner, name)

    return hook


class SVDLayer(nn.Module):
    """One photonic linear layer ``y = U · Σ · V† · x`` on MZI meshes.

    Args:
        n_in: input modes (V mesh size).
        n_out: output modes (U mesh size); Σ holds k = min(n_in, n_out) attenuators.
        mesh_kind: ``"clements"``, ``"reck"`` or ``"butterfly"`` (a butterfly mesh is padded to the next
            power of two, :func:`gf_prune.mesh.padded_size`; the extra modes are dark).
        zero_state: MZI state at zero heater power (see :mod:`gf_prune.physics`).
        init: ``"uniform"`` (phases U[0, 2π), θ of Σ U[0, π]) or ``"zero"``
            (zero-power init: every phase N(0, init_std), meshes near their bar state).
        init_std: standard deviation (rad) of the ``"zero"`` init.
        output_phases: add an output phase screen after U (only needed to match a
            complex W exactly; the modulus detection ignores it).
        generator: torch RNG for the initial phases.
        bias: the last of the ``n_in`` V inputs is an optical bias mode: :meth:`forward` takes
            ``n_in − 1`` signal fields and appends a constant field of amplitude ``bias_amp`` (a tap of
            the same laser; trained like the phases, no heater).
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        mesh_kind: str = "clements",
        zero_state: ZeroState = "bar",
        init: str = "uniform",
        init_std: float = 0.1,
        output_phases: bool = False,
        generator: torch.Generator | None = None,
        bias: bool = False,
    ) -> None:
        super().__init__()
        if not (isinstance(n_in, int) and isinstance(n_out, int) and n_in >= 1 and n_out >= 1):
            raise ValueError(f"layer sizes must be integers ≥ 1, got {n_in!r} → {n_out!r}")
        if bias and n_in < 2:
            raise ValueError(f"a layer with a bias mode needs n_in ≥ 2 (signal + bias), got {n_in}")
        if mesh_kind not in MESH_KINDS:
            raise ValueError(f"mesh_kind must be one of {MESH_KINDS}, got {mesh_kind!r}")
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        self.n_in, self.n_out, self.k = n_in, n_out, min(n_in, n_out)
        self.mesh_kind = mesh_kind
        self.zero_state = check_zero_state(zero_state)
        self.topo_V: MeshTopology = topology(padded_size(n_in, mesh_kind), mesh_kind)  # type: ignore[arg-type]
        self.topo_U: MeshTopology = topology(padded_size(n_out, mesh_kind), mesh_kind)  # type: ignore[arg-type]
        sizes = {"V": self.topo_V.n_mzis, "S": self.k, "U": self.topo_U.n_mzis}
        for mesh in MESHES:
            for kind in KINDS:
                n = sizes[mesh]
                if init == "uniform":
                    hi = math.pi if (mesh == "S" and kind == "theta") else TWO_PI
                    val = torch.rand(n, generator=generator, dtype=torch.float64) * hi
                else:
                    val = torch.randn(n, generator=generator, dtype=torch.float64) * init_std
                p = nn.Parameter(val)
                self.register_parameter(f"{mesh}_{kind}", p)
                mask = torch.ones(n, dtype=torch.bool)
                self.register_buffer(f"{mesh}_{kind}_mask", mask)
                p.register_hook(_zero_grad_hook(self, f"{mesh}_{kind}_mask"))
        self.log_gain = nn.Parameter(torch.zeros((), dtype=torch.float64))
        # optical bias mode: the last V input carries a constant field of (trained) amplitude bias_amp
        self.bias_amp = nn.Parameter(torch.ones((), dtype=torch.float64)) if bias else None
        self.screen = nn.Parameter(torch.zeros(self.topo_U.n, dtype=torch.float64)) if output_phases else None
        self.fit_residual: float | None = None  # set by from_matrix on a non-universal (butterfly) mesh

    # ------------------------------------------------------------------ phases
    def phase(self, mesh: str, kind: str) -> torch.Tensor:
        """Effective (masked) phase vector of ``mesh`` ∈ U|S|V, ``kind`` ∈ theta|phi."""
        return getattr(self, f"{mesh}_{kind}") * getattr(self, f"{mesh}_{kind}_mask")

    def phase_items(self) -> Iterator[tuple[str, str, nn.Parameter, torch.Tensor]]:
        """(mesh, kind, parameter, mask) for the six phase vectors."""
        for mesh in MESHES:
            for kind in KINDS:
                yield mesh, kind, getattr(self, f"{mesh}_{kind}"), getattr(self, f"{mesh}_{kind}_mask")

    @torch.no_grad()
    def apply_masks(self) -> None:
        """Force every pruned phase to exactly 0 (call after optimiser steps)."""
        for _, _, p, mask in self.phase_items():
            p.masked_fill_(~mask, 0.0)

    @torch.no_grad()
    def set_mask(self, mesh: str, kind: str, mask: torch.Tensor) -> None:
        """Replace a mask in place (hooks keep pointing at the buffer) and zero pruned phases."""
        buf = getattr(self, f"{mesh}_{kind}_mask")
        if mask.shape != buf.shape:
            raise ValueError(f"mask for {mesh}_{kind} must have shape {tuple(buf.shape)}, got {tuple(mask.shape)}")
        buf.copy_(mask.to(torch.bool))
        self.apply_masks()

    # ------------------------------------------------------------------ matrices
    @property
    def gain(self) -> torch.Tensor:
        return self.log_gain.exp()

    def sigma(self) -> torch.Tensor:
        """Complex Σ transmissions times the gain, shape (k,)."""
        t = mzi_transfer_torch(self.phase("S", "theta"), self.phase("S", "phi"), self.zero_state)
        return attenuator_element(t, self.zero_state) * self.gain

    def unitaries(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(U, V†) realised by the two meshes."""
        v = mesh_unitary_torch(self.topo_V, self.phase("V", "theta"), self.phase("V", "phi"), None, self.zero_state)
        u = mesh_unitary_torch(
            self.topo_U, self.phase("U", "theta"), self.phase("U", "phi"), self.screen, self.zero_state
        )
        return u, v

    def matrix(self) -> torch.Tensor:
        """Complex n_out × n_in matrix W = U Σ V†."""
        return self._matrix_from(*self.unitaries())

    def matrices_one_zeroed(self, mesh: str, kind: str, idx: torch.Tensor) -> torch.Tensor:
        """W with one phase set to 0, for many candidates: ``kind`` of ``mesh``'s MZI ``idx[b]`` zeroed in
        candidate b → (B, n_out, n_in). Meshes by rank-2 updates (:func:`mesh_unitaries_one_zeroed`);
        column meshes only (Clements, Reck): a butterfly's permutations are not columns."""
        if self.mesh_kind not in ("clements", "reck"):
            raise NotImplementedError(f"rank-2 candidate updates need a column mesh, not {self.mesh_kind!r}")
        u, vh = self.unitaries()
        u, vh = u[: self.n_out], vh[:, : self.n_in]
        sigma = self.sigma()
        k = self.k
        if mesh == "S":
            th, ph = self.phase("S", "theta"), self.phase("S", "phi")
            th = th.expand(len(idx), -1).clone()
            ph = ph.expand(len(idx), -1).clone()
            (th if kind == "theta" else ph)[torch.arange(len(idx)), idx] = 0.0
            s = attenuator_element(mzi_transfer_torch(th, ph, self.zero_state), self.zero_state) * self.gain
            return (u[:, :k] * s.unsqueeze(-2)) @ vh[:k, :]
        topo = self.topo_V if mesh == "V" else self.topo_U
        m = mesh_unitaries_one_zeroed(
            topo, self.phase(mesh, "theta"), self.phase(mesh, "phi"), kind, idx, self.zero_state
        )
        if mesh == "V":
            return (u[:, :k] * sigma) @ m[:, :k, : self.n_in]
        if self.screen is not None:
            m = torch.polar(torch.ones_like(self.screen), self.screen).unsqueeze(-1) * m
        return (m[:, : self.n_out, :k] * sigma) @ vh[:k, :]

    def _matrix_from(self, u: torch.Tensor, vh: torch.Tensor) -> torch.Tensor:
        k = self.k
        return (u[: self.n_out, :k] * self.sigma()) @ vh[:k, : self.n_in]

    @property
    def bias(self) -> bool:
        return self.bias_amp is not None

    @property
    def n_signal(self) -> int:
        """Signal inputs: ``n_in`` less the bias mode."""
        return self.n_in - int(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, n_signal) complex → (batch, n_out) complex (the bias field appended when on)."""
        return network_fields([self.matrix()], x, [self.bias_amp])

    # ------------------------------------------------------------------ conversion
    def to_phases(self) -> LayerPhases:
        def arr(mesh: str, kind: str) -> np.ndarray:
            return getattr(self, f"{mesh}_{kind}").detach().cpu().numpy().copy()

        def live(mesh: str, kind: str) -> np.ndarray:
            return getattr(self, f"{mesh}_{kind}_mask").cpu().numpy().copy()

        def mesh_phases(mesh: str, n: int) -> MeshPhases:
            return MeshPhases(
                n, self.mesh_kind, arr(mesh, "theta"), arr(mesh, "phi"), live(mesh, "theta"), live(mesh, "phi")
            )

        s = SigmaPhases(
            arr("S", "theta"), arr("S", "phi"), live("S", "theta"), live("S", "phi"), float(self.gain.detach())
        )
        amp = float(self.bias_amp.detach()) if self.bias_amp is not None else None
        return LayerPhases(
            self.n_in, self.n_out, mesh_phases("V", self.topo_V.n), s, mesh_phases("U", self.topo_U.n), bias_amp=amp
        )

    @classmethod
    def from_phases(cls, lp: LayerPhases, mesh_kind: str = "clements", zero_state: ZeroState = "bar") -> SVDLayer:
        layer = cls(lp.n_in, lp.n_out, mesh_kind, zero_state, bias=lp.bias_amp is not None)
        with torch.no_grad():
            if layer.bias_amp is not None:
                layer.bias_amp.fill_(float(lp.bias_amp))
            for mesh in MESHES:
                src = getattr(lp, mesh)
                for kind in KINDS:
                    getattr(layer, f"{mesh}_{kind}").copy_(torch.as_tensor(getattr(src, kind)))
                    getattr(layer, f"{mesh}_{kind}_mask").copy_(torch.as_tensor(getattr(src, f"{kind}_live")))
            layer.log_gain.fill_(math.log(lp.S.gain))
        layer.apply_masks()
        return layer

    @classmethod
    def from_matrix(
        cls,
        w: Any,
        mesh_kind: str = "clements",
        zero_state: ZeroState = "bar",
        output_phases: bool = True,
        bias_amp: float | None = None,
        max_residual: float = 1e-4,
    ) -> SVDLayer:
        """Layer realising a complex (n_out × n_in) matrix W = U Σ V† via SVD + mesh decomposition.

        With ``output_phases=False`` the result equals W up to output phases (|W x| exact). With
        ``bias_amp`` the last column of W is the bias mode's (driven at that amplitude).

        A butterfly mesh is not universal: the layer is fitted to W by optimisation
        (:meth:`fit_matrix`); the relative residual is kept in ``layer.fit_residual`` and a fit worse
        than ``max_residual`` raises ValueError naming it (never a silently different matrix).
        """
        w = np.asarray(w)
        if w.ndim != 2 or min(w.shape) < 1:
            raise ValueError(f"W must be a 2-D (n_out × n_in) matrix, got shape {w.shape}")
        w = w.astype(np.complex128)
        if not np.all(np.isfinite(w)):
            raise ValueError("W contains NaN or infinite entries")
        n_out, n_in = w.shape
        if mesh_kind == "butterfly":
            layer = cls.fit_matrix(w, mesh_kind, zero_state, bias_amp=bias_amp)
            res = float(layer.fit_residual or 0.0)
            if not res <= max_residual:
                raise ValueError(
                    f"a butterfly mesh cannot realise this {n_out}×{n_in} matrix: best fit leaves a relative "
                    f"residual ‖W_fit − W‖/‖W‖ = {res:.3g} > {max_residual:g} (butterfly meshes are not "
                    "universal); use mesh_kind clements or reck, or accept the fit with a larger max_residual"
                )
            if not output_phases:
                layer.screen = None
            return layer
        u, s, vh = np.linalg.svd(w)
        smax = float(s[0]) if s[0] > 0 else 1.0
        _, vt, vp, vscreen = decompose(vh, mesh_kind, zero_state)  # type: ignore[arg-type]
        _, ut, up, uscreen = decompose(u, mesh_kind, zero_state)  # type: ignore[arg-type]
        k = min(n_in, n_out)
        st = attenuator_theta(np.clip(s[:k] / smax, 0.0, 1.0))
        sp = (vscreen[:k] - np.angle(attenuator_transfer(st, 0.0, zero_state))) % TWO_PI
        layer = cls(n_in, n_out, mesh_kind, zero_state, output_phases=output_phases, bias=bias_amp is not None)
        with torch.no_grad():
            if layer.bias_amp is not None:
                layer.bias_amp.fill_(float(bias_amp))
            for name, val in (
                ("V_theta", vt),
                ("V_phi", vp),
                ("U_theta", ut),
                ("U_phi", up),
                ("S_theta", st),
                ("S_phi", sp),
            ):
                getattr(layer, name).copy_(torch.as_tensor(val))
            layer.log_gain.fill_(math.log(smax))
            if layer.screen is not None:
                layer.screen.copy_(torch.as_tensor(uscreen))
        return layer

    @classmethod
    def fit_matrix(
        cls,
        w: Any,
        mesh_kind: str = "butterfly",
        zero_state: ZeroState = "bar",
        bias_amp: float | None = None,
        steps: int = 200,
        restarts: int = 2,
        seed: int = 0,
    ) -> SVDLayer:
        """Layer (with an output screen) whose W best fits ``w``, by L-BFGS on all its phases and gain.

        ``layer.fit_residual`` is the relative error ‖W_layer − W‖_F / ‖W‖_F of the best of
        ``restarts`` random starts.
        """
        w_t = torch.as_tensor(np.asarray(w, dtype=np.complex128))
        n_out, n_in = w_t.shape
        norm = float(torch.linalg.norm(w_t)) or 1.0
        g = torch.Generator().manual_seed(seed)
        best: tuple[float, dict[str, Any]] | None = None
        for _ in range(max(1, restarts)):
            layer = cls(n_in, n_out, mesh_kind, zero_state, output_phases=True, generator=g, bias=bias_amp is not None)
            if layer.bias_amp is not None:
                layer.bias_amp.requires_grad_(False).fill_(float(bias_amp))
            with torch.no_grad():
                layer.log_gain.fill_(math.log(max(float(np.linalg.norm(np.asarray(w), 2)), 1e-12)))
            params = [p for p in layer.parameters() if p.requires_grad]
            opt = torch.optim.LBFGS(
                params,
                lr=1,
                max_iter=steps,
                line_search_fn="strong_wolfe",
                tolerance_grad=1e-14,
                tolerance_change=1e-24,
            )

            def closure(layer: SVDLayer = layer, opt: Any = opt) -> torch.Tensor:
                opt.zero_grad()
                loss = (layer.matrix() - w_t).abs().pow(2).sum() / norm**2
                loss.backward()
                return loss

            for _ in range(3):  # L-BFGS restarts its curvature memory: helps the last digits
                opt.step(closure)
            with torch.no_grad():
                err = float(torch.linalg.norm(layer.matrix() - w_t)) / norm
            if best is None or err < best[0]:
                best = (err, {k: v.detach().clone() for k, v in layer.state_dict().items()})
        assert best is not None
        layer = cls(n_in, n_out, mesh_kind, zero_state, output_phases=True, bias=bias_amp is not None)
        layer.load_state_dict(best[1])
        with torch.no_grad():
            for _, _, p, _ in layer.phase_items():
                p.copy_(p % TWO_PI)
        layer.fit_residual = best[0]
        return layer

    @classmethod
    def from_linear(cls, linear: nn.Linear, **kwargs: Any) -> SVDLayer:
        """Layer with the same outputs as a trained ``nn.Linear`` (real or complex).

        A non-zero bias b maps to the optical bias mode: W' = [W | b] driven at unit bias amplitude.
        """
        w = linear.weight.detach().cpu().numpy()
        if linear.bias is not None and bool(torch.any(linear.bias != 0)):
            b = linear.bias.detach().cpu().numpy().reshape(-1, 1)
            return cls.from_matrix(np.concatenate([w, b], axis=1), bias_amp=1.0, **kwargs)
        return cls.from_matrix(w, **kwargs)


def _plain_svd_layers(layers: Sequence[nn.Module]) -> bool:
    """True if every layer computes its output exactly as SVDLayer does (no overridden matrix path)."""
    return all(
        isinstance(layer, SVDLayer)
        and type(layer).forward is SVDLayer.forward
        and type(layer).matrix is SVDLayer.matrix
        and type(layer).unitaries is SVDLayer.unitaries
        for layer in layers
    )


def _batched_unitaries(layers: Sequence[SVDLayer]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(U, V†) of every layer, as SVDLayer.unitaries() gives them, with all meshes of one
    (size, kind, zero_state) stacked into a single :func:`mesh_unitary_torch` call."""
    groups: dict[tuple[int, str, str], list[tuple[int, str]]] = {}
    for li, layer in enumerate(layers):
        for mesh, topo in (("V", layer.topo_V), ("U", layer.topo_U)):
            groups.setdefault((topo.n, layer.mesh_kind, layer.zero_state), []).append((li, mesh))
    out: dict[tuple[int, str], torch.Tensor] = {}
    for (n, kind, zs), items in groups.items():
        theta = torch.stack([layers[li].phase(mesh, "theta") for li, mesh in items])
        phi = torch.stack([layers[li].phase(mesh, "phi") for li, mesh in items])
        mats = mesh_unitary_torch(topology(n, kind), theta, phi, None, zs)  # type: ignore[arg-type]
        for i, key in enumerate(items):
            out[key] = mats[i]
    result = []
    for li, layer in enumerate(layers):
        u = out[(li, "U")]
        if layer.screen is not None:
            u = torch.polar(torch.ones_like(layer.screen), layer.screen).unsqueeze(-1) * u
        result.append((u, out[(li, "V")]))
    return result


def modulus_softplus(z: torch.Tensor) -> torch.Tensor:
    """Softplus-type modulus nonlinearity between layers: f(z) = log(1 + e^{|z|}) (phase dropped)."""
    return nn.functional.softplus(z.abs())


def network_fields(matrices: Sequence[Any], x: torch.Tensor, bias_amps: Sequence[Any] | None = None) -> torch.Tensor:
    """The one forward pass of the SC-IPNN: output fields of the network whose layers are ``matrices``.

    Between layers the modulus-softplus; with a bias mode (``bias_amps[i]`` not None) a constant-amplitude
    field is appended as the **last** input of layer ``i``, so ``matrices[i]`` is n_out × (n_in + 1).
    Matrices may carry leading batch dimensions (e.g. Monte-Carlo trials, shape (T, n_out, n_in)): the
    result then has shape (T, batch, n_out).
    """
    h = x.to(torch.complex128)
    for i, w in enumerate(matrices):
        w = w if isinstance(w, torch.Tensor) else torch.as_tensor(np.asarray(w))
        if i:
            h = modulus_softplus(h).to(torch.complex128)
        amp = None if bias_amps is None else bias_amps[i]
        if amp is not None:
            amp = (amp if isinstance(amp, torch.Tensor) else torch.tensor(float(amp), dtype=torch.float64)).to(
                torch.complex128
            )
            h = torch.cat([h, amp.expand((*h.shape[:-1], 1))], dim=-1)
        h = h @ w.to(torch.complex128).transpose(-1, -2)
    return h


class PhotonicMLP(nn.Module):
    """SC-IPNN: SVD layers with a modulus-softplus between them, |·|² detection, LogSoftmax.

    ``sizes`` are the signal widths (features, hidden…, classes). With ``bias=True`` every layer gets
    one more V input, the optical bias mode (its last input), so layer ℓ's meshes are
    (sizes[ℓ] + 1) → sizes[ℓ + 1]. ``forward`` returns log-probabilities (use with ``nn.NLLLoss``).
    """

    def __init__(
        self,
        sizes: Sequence[int] = (16, 16, 16, 10),
        mesh_kind: str = "clements",
        zero_state: ZeroState = "bar",
        init: str = "uniform",
        init_std: float = 0.1,
        seed: int = 0,
        bias: bool = False,
    ) -> None:
        super().__init__()
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must list ≥ 2 positive layer widths, got {sizes}")
        self.config = {
            "sizes": sizes,
            "mesh_kind": mesh_kind,
            "zero_state": zero_state,
            "init": init,
            "init_std": float(init_std),
            "seed": int(seed),
            "bias": bool(bias),
        }
        g = torch.Generator().manual_seed(seed)
        self.layers = nn.ModuleList(
            SVDLayer(a + int(bias), b, mesh_kind, zero_state, init, init_std, generator=g, bias=bool(bias))
            for a, b in itertools.pairwise(sizes)
        )

    @property
    def bias(self) -> bool:
        return bool(self.config.get("bias", False))

    def bias_amps(self) -> list[torch.Tensor | None]:
        """Each layer's bias-mode amplitude (None for a layer without one)."""
        return [layer.bias_amp for layer in self.layers]

    @property
    def zero_state(self) -> ZeroState:
        return self.config["zero_state"]

    def fields(self, x: torch.Tensor) -> torch.Tensor:
        """Complex output fields of the last layer."""
        h = x.to(torch.complex128)
        if not _plain_svd_layers(self.layers):
            for i, layer in enumerate(self.layers):
                if i:
                    h = modulus_softplus(h).to(torch.complex128)
                h = layer(h)
            return h
        return network_fields(self.matrices(), h, self.bias_amps())  # = layer(h), meshes built in one batch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.fields(x).abs() ** 2, dim=-1)

    @staticmethod
    def fields_from_matrices(
        matrices: Sequence[Any], x: torch.Tensor, bias_amps: Sequence[Any] | None = None
    ) -> torch.Tensor:
        """Output fields of the same network built from given layer matrices (e.g. SAX's)."""
        return network_fields(matrices, x, bias_amps)

    @staticmethod
    @torch.no_grad()
    def predict_from_matrices(
        matrices: Sequence[Any], x: torch.Tensor, bias_amps: Sequence[Any] | None = None
    ) -> torch.Tensor:
        """Predicted classes of the network whose layers are ``matrices`` (gain included)."""
        return (network_fields(matrices, x, bias_amps).abs() ** 2).argmax(-1)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x).argmax(-1)

    def apply_masks(self) -> None:
        for layer in self.layers:
            layer.apply_masks()

    def phase_items(self) -> Iterator[tuple[int, str, str, nn.Parameter, torch.Tensor]]:
        """(layer, mesh, kind, parameter, mask) for every phase vector of the network."""
        for li, layer in enumerate(self.layers):
            for mesh, kind, p, m in layer.phase_items():
                yield li, mesh, kind, p, m

    def matrices(self) -> list[torch.Tensor]:
        """Every layer's W; all same-size meshes of the network go through one batched mesh build."""
        if not _plain_svd_layers(self.layers):
            return [layer.matrix() for layer in self.layers]
        return [
            layer._matrix_from(u, vh)
            for layer, (u, vh) in zip(self.layers, _batched_unitaries(self.layers), strict=True)
        ]

    def to_phases(self) -> NetworkPhases:
        return NetworkPhases(
            [layer.to_phases() for layer in self.layers],
            self.config["zero_state"],
            self.config["mesh_kind"],
            {"nonlinearity": "modulus_softplus", "config": self.config},
        )

    @classmethod
    def from_phases(cls, net: NetworkPhases) -> PhotonicMLP:
        bias = net.layers[0].bias_amp is not None
        sizes = [net.layers[0].n_in - int(bias)] + [lp.n_out for lp in net.layers]
        model = cls(sizes, net.mesh_kind, net.zero_state, bias=bias)  # type: ignore[arg-type]
        for i, lp in enumerate(net.layers):
            model.layers[i] = SVDLayer.from_phases(lp, net.mesh_kind, net.zero_state)  # type: ignore[arg-type]
        return model

    # ------------------------------------------------------------------ file format
    def save(self, path: str | Path, **extra: Any) -> None:
        """Save ``{format, config, state_dict, **extra}`` with torch.save (loadable weights_only), from the CPU
        whatever the model's device."""
        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        torch.save({"format": MODEL_FORMAT, "config": self.config, "state_dict": state, **extra}, str(path))

    @classmethod
    def load(cls, path: str | Path) -> tuple[PhotonicMLP, dict[str, Any]]:
        """Load a model saved by :meth:`save`; returns (model, the saved dict)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        try:
            blob = torch.load(str(path), weights_only=True, map_location="cpu")
        except Exception as exc:  # corrupt or foreign file
            import zipfile

            why = type(exc).__name__ if zipfile.is_zipfile(path) else "not a torch archive"
            raise ValueError(f"{path}: not a readable gf_prune model ({why})") from exc
        if not isinstance(blob, dict) or blob.get("format") != MODEL_FORMAT:
            raise ValueError(f"{path}: not a gf_prune model file (expected format {MODEL_FORMAT})")
        try:
            model = cls(**dict(blob["config"]))
            model.load_state_dict(blob["state_dict"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # config and weights disagree
            raise ValueError(f"{path}: model file is inconsistent: {str(exc).splitlines()[0]}") from exc
        for _, _, _, p, _ in model.phase_items():
            if not torch.all(torch.isfinite(p)):
                raise ValueError(f"{path}: model contains NaN or infinite phases")
        return model, blob
