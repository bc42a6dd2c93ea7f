"""Imperfection models of the robustness stage and their configuration.

Pure models (phase quantisation by the DAC, insertion loss, couplers off 50:50 via
:func:`gf_prune.physics.mzi_elements`) and the pydantic configuration of a sweep
(:class:`Imperfections`, :class:`RobustnessConfig`); each parameter, its unit and the
source of its default are tabulated in :mod:`gf_prune.robustness`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gf_prune.physics import TWO_PI, check_zero_state, coupler_matrix, mzi_elements

__all__ = [
    "FabricationConfig",
    "FinetuneConfig",
    "Imperfections",
    "RobustnessConfig",
    "coupler_matrix_split",
    "load_config",
    "loss_amplitude",
    "mzi_elements_split",
    "quantize_phase",
]


def coupler_matrix_split(r: float) -> np.ndarray:
    """General lossless 2×2 coupler: :func:`gf_prune.physics.coupler_matrix` (kept for its name)."""
    return coupler_matrix(r)


def mzi_elements_split(
    theta: Any, phi: Any, r_in: Any, r_out: Any, zero_state: str = "bar"
) -> tuple[Any, Any, Any, Any]:
    """MZI elements with coupler bar coefficients ``r_in``/``r_out``: :func:`gf_prune.physics.mzi_elements`."""
    return mzi_elements(theta, phi, check_zero_state(zero_state), r_in=r_in, r_out=r_out)


def quantize_phase(phase: Any, bits: int) -> Any:
    """Phase rounded to the nearest of 2^bits uniform levels on [0, 2π), result in [0, 2π) (rad).

    >>> float(quantize_phase(torch.tensor(3.0), 2))  # levels 0, π/2, π, 3π/2
    3.141592653589793
    """
    if int(bits) < 1:
        raise ValueError(f"bits must be ≥ 1, got {bits}")
    step = TWO_PI / (2 ** int(bits))
    return (torch.round((phase % TWO_PI) / step) * step) % TWO_PI


def loss_amplitude(loss_db: Any) -> Any:
    """Field amplitude factor of an insertion loss in dB: 10^(−IL/20) (power 10^(−IL/10))."""
    return 10.0 ** (-loss_db / 20.0)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Imperfections(_Strict):
    """One imperfection setting (all off by default). Units in the field descriptions."""

    sigma_ps: float = Field(0.0, ge=0, description="phase error std in units of π rad (live phases)")
    bits: int | None = Field(None, ge=1, le=32, description="phase DAC resolution (bits on [0, 2π)); None: exact")
    sigma_bs: float = Field(0.0, ge=0, le=0.5, description="coupler field-split error std: r = 1/√2 + σ·N(0,1)")
    loss_db: float = Field(0.0, ge=0, description="mean insertion loss per built MZI / attenuator (dB)")
    loss_rel_sigma: float = Field(0.2, ge=0, description="non-uniformity: IL std = loss_rel_sigma·loss_db")
    waveguide_loss_db: float = Field(0.0, ge=0, description="loss of a removed MZI / empty column slot (dB)")
    crossing_loss_db: float = Field(
        0.0,
        ge=0,
        description="insertion loss per waveguide crossing of a butterfly permutation (dB); 0.1–0.2 dB is typical "
        "of silicon multimode-interference crossings (assumption, order of foundry PDK crossing cells)",
    )
    crosstalk: float = Field(0.0, ge=0, le=1, description="κ_ref: crosstalk fraction at crosstalk_ref_um")
    crosstalk_ref_um: float = Field(50.0, gt=0, description="distance at which the coupling is κ_ref (µm)")
    crosstalk_decay_um: float = Field(30.0, gt=0, description="exponential decay length of the coupling (µm)")
    crosstalk_cutoff_um: float = Field(300.0, ge=0, description="no coupling beyond this distance (µm)")
    crosstalk_into_pruned: bool = Field(True, description="unheated (pruned) arms still receive neighbours' heat")
    loss_compensation: bool = Field(
        True, description="recalibrate each layer's off-chip gain for the nominal (mean) path loss"
    )
    include_sigma: bool = Field(True, description="perturb the Σ attenuators too (not only U and V)")
    pruned_mzi: Literal["remove", "bar"] = Field(
        "remove", description="removed MZIs have no couplers/heaters (waveguide loss only); 'bar': kept unpowered"
    )

    @property
    def is_random(self) -> bool:
        return self.sigma_ps > 0 or self.sigma_bs > 0 or (self.loss_db > 0 and self.loss_rel_sigma > 0)

    @property
    def is_clean(self) -> bool:
        return (
            self.sigma_ps == 0
            and self.bits is None
            and self.sigma_bs == 0
            and self.loss_db == 0
            and self.waveguide_loss_db == 0
            and self.crossing_loss_db == 0
            and self.crosstalk == 0
        )


class FinetuneConfig(_Strict):
    """Noise-aware fine-tuning of the pruned network (off unless ``enabled``)."""

    enabled: bool = False
    noise: Imperfections = Field(default_factory=lambda: Imperfections(sigma_ps=0.01))
    epochs: int = Field(60, ge=0)
    lr: float = Field(0.005, gt=0)
    trials_per_step: int = Field(8, ge=1)
    seed: int = 0


class FabricationConfig(_Strict):
    """Passive fabrication errors + calibration of the live heaters (:mod:`gf_prune.fabrication`); off unless
    ``enabled`` (each trial runs an Adam calibration: seconds, not milliseconds)."""

    enabled: bool = False
    sigmas: list[float] = Field(default_factory=lambda: [0.005, 0.01, 0.02], description="passive error std (π rad)")
    trials: int = Field(10, ge=1, description="fabricated chips per σ")
    steps: int = Field(150, ge=1, description="Adam steps of the calibration")


class RobustnessConfig(_Strict):
    """What :func:`run_robustness` sweeps. Unknown keys are errors that name the key."""

    trials: int = Field(200, ge=1, description="Monte-Carlo trials per random setting")
    seed: int = 0
    batch_trials: int = Field(250, ge=1, description="trials evaluated per batch (memory bound)")
    sigma_ps: list[float] = Field(default_factory=lambda: [0.0, 0.0025, 0.005, 0.01, 0.02, 0.03])
    bits: list[int] = Field(default_factory=lambda: [3, 4, 5, 6, 8])
    sigma_bs: list[float] = Field(default_factory=lambda: [0.0, 0.01, 0.02, 0.04, 0.08])
    loss_db: list[float] = Field(default_factory=lambda: [0.0, 0.1, 0.25, 0.5, 1.0])
    crosstalk: list[float] = Field(default_factory=lambda: [0.0, 0.005, 0.01, 0.02, 0.05])
    base: Imperfections = Field(default_factory=Imperfections, description="fixed settings under every sweep")
    combined: Imperfections = Field(
        default_factory=lambda: Imperfections(
            sigma_ps=0.005, bits=8, sigma_bs=0.01, loss_db=0.25, crosstalk=0.01, crossing_loss_db=0.15
        ),
        description="all imperfections at once (cf. arXiv:2207.10835); crossings only matter on butterfly meshes",
    )
    layer_sensitivity: Imperfections = Field(default_factory=lambda: Imperfections(sigma_ps=0.01))
    heater_gds: str | None = Field(None, description="GDS whose text labels give heater positions (µm)")
    column_pitch_um: float | None = Field(
        None, gt=0, description="grid fallback: MZI column pitch (µm); None: the layout's slot width"
    )
    row_pitch_um: float = Field(100.0, gt=0, description="grid fallback: waveguide pitch (µm), assumed")
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig)
    fabrication: FabricationConfig = Field(default_factory=FabricationConfig)
    plots: bool = True

    @field_validator("sigma_ps", "sigma_bs", "loss_db", "crosstalk")
    @classmethod
    def _non_negative(cls, v: list[float]) -> list[float]:
        if any((not math.isfinite(x)) or x < 0 for x in v):
            raise ValueError("values must be finite and ≥ 0")
        return v

    @field_validator("bits")
    @classmethod
    def _bits(cls, v: list[int]) -> list[int]:
        if any(b < 1 or b > 32 for b in v):
            raise ValueError("bits must be in 1…32")
        return v


def load_config(config: RobustnessConfig | dict | str | Path | None) -> RobustnessConfig:
    """A :class:`RobustnessConfig` from an object, a dict, or a .json/.yaml file.

    Raises ValueError whose message names the offending key (e.g. ``finetune.epochs``).
    """
    if isinstance(config, RobustnessConfig):
        return config
    if config is None:
        return RobustnessConfig()
    if isinstance(config, str | Path):
        path = Path(config)
        if not path.is_file():
            raise FileNotFoundError(f"robustness config not found: {path}")
        text = path.read_text()
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            config = yaml.safe_load(text) or {}
        else:
            config = json.loads(text)
    if not isinstance(config, dict):
        raise ValueError(f"robustness config must be a mapping, got {type(config).__name__}")
    try:
        return RobustnessConfig.model_validate(config)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "<root>"
        raise ValueError(f"robustness config: bad key {key!r}: {err['msg']}") from None
