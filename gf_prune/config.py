"""Validated run configuration (pydantic): an unknown or mistyped key is named in the error."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gf_prune.physics import P_PI_MW_DEFAULT


class ConfigError(ValueError):
    """A configuration file or value that cannot be used; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    source: str = Field(
        "digits",
        description="'digits' (bundled, FFT-16), 'digits-fft64', or a path: .npz (X, y[, X_test, y_test] or "
        "Keras MNIST), .npy (+ _y.npy), .csv, or an MNIST idx folder — recognised by content",
    )
    seed: int = Field(0, description="fixes the train/validation/test split")
    val_fraction: float = Field(0.15, gt=0.0, lt=0.5, description="stratified validation split of the training data")
    label_column: str | None = Field(None, description="CSV: the label column (default: label/target/class/y)")
    images: bool = Field(False, description="reshape square feature counts into images (then FFT)")
    fft_block: int = Field(4, ge=1, description="central block of the centred 2-D FFT of images (4 → 16 features)")
    standardize: bool = Field(True, description="z-score feature rows with training-split statistics")
    encoding: Literal["unit_norm", "scale"] = Field(
        "scale",
        description="amplitude encoding of feature rows: one training-set scale that keeps each sample's norm "
        "(default, measured: README) or per-sample unit norm",
    )


class ModelConfig(_Section):
    sizes: list[int] | None = Field(
        None, min_length=2, description="signal widths; default [n_features, *hidden, n_classes] from the data"
    )
    hidden: list[int] = Field(default_factory=lambda: [16, 16], description="hidden widths when sizes is not given")
    bias: Literal["auto"] | bool = Field(
        "auto", description="optical bias mode (last V input); auto: on for feature rows, off for image FFTs"
    )
    mesh_kind: Literal["clements", "reck", "butterfly"] = "clements"
    zero_state: Literal["bar", "cross"] = "bar"
    init: Literal["uniform", "zero"] = Field("zero", description="zero-power init: phases N(0, init_std)")
    init_std: float | Literal["auto"] = Field(
        "auto",
        description="std (rad) of the zero-power init; auto: 0.5 for Fourier features of images, "
        "2.0 for feature rows (measured: docs/design.md, README)",
    )

    @field_validator("init_std")
    @classmethod
    def _positive_std(cls, v: float | str) -> float | str:
        if not isinstance(v, str) and not v > 0:
            raise ValueError(f"init_std must be > 0 or 'auto', got {v}")
        return v

    @field_validator("hidden")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(h < 1 for h in v):
            raise ValueError(f"hidden widths must be ≥ 1, got {v}")
        return v


class TrainSection(_Section):
    epochs: int = Field(600, ge=1, description="most dense epochs (also each lottery-ticket round's budget)")
    lr: float | Literal["auto"] = Field(
        "auto",
        description="Adam learning rate (also the lottery-ticket rounds'); auto: 0.1 for Fourier features of "
        "images with ≥ 64 inputs, else 0.02 (measured: README)",
    )
    batch_size: int | None = Field(None, ge=1, description="mini-batch size (None: full batch)")
    patience: int | None = Field(
        None,
        ge=1,
        description="early stopping: epochs without a lower validation loss (None: off, the default — measured on "
        "digits: 100 stopped at dense validation 92.1 % vs 94.6 % for the full cosine schedule); best kept",
    )

    @field_validator("lr")
    @classmethod
    def _positive_lr(cls, v: float | str) -> float | str:
        if not isinstance(v, str) and not v > 0:
            raise ValueError(f"lr must be > 0 or 'auto', got {v}")
        return v


class LayoutSection(_Section):
    enabled: bool = True
    pruned_mzi: Literal["remove", "bar"] = "remove"
    compact: bool = True
    """Live MZIs in the earliest physical column their modes allow (only with ``pruned_mzi: remove``;
    ``bar`` keeps every slot): :mod:`gf_prune.compaction`."""
    pdk: str = Field("generic", description="'generic', 'cspdk' or a module path exposing PDK (gf_prune.pdk)")

    @field_validator("pdk")
    @classmethod
    def _pdk(cls, v: str) -> str:
        import importlib.util

        from gf_prune.pdk import BUILTIN_PDKS, check_pdk_name

        check_pdk_name(v)
        if v not in BUILTIN_PDKS:
            try:
                found = importlib.util.find_spec(v) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                raise ValueError(f"no module {v!r} to import (a PDK module exposing PDK)")
        return v

    io: bool = True
    """Optical I/O: grating couplers on a 127 µm fibre pitch west and east of the chip (held as instance
    ``core``), an alignment loopback, ``ports.csv`` and the loss budget (:mod:`gf_prune.optical_io`)."""
    route: bool = True
    """Pads north/south of the chip and a metal route per live heater (:mod:`gf_prune.wiring`):
    ``network_wired.gds``, ``pads.csv``; ``false`` skips it."""


class VerifySection(_Section):
    enabled: bool = True
    wavelength_um: float = Field(1.55, gt=0)
    sweep: bool = True
    tolerance: float = Field(1e-6, gt=0)
    foundry: Literal["auto"] | bool = Field(
        "auto",
        description="simulate the chip with the PDK's own SAX models and tune its phases (gf_prune.foundry): "
        "auto = when that PDK has models (gdsfactory's generic PDK has none: skipped, nothing computed)",
    )
    foundry_pdk: str | None = Field(
        None, description="PDK whose models simulate the chip: 'cspdk' or a module with PDK; None = layout.pdk"
    )
    foundry_fit_epochs: int = Field(300, ge=0, description="tuning: Adam steps on the layers' fidelity (no data)")
    foundry_tune_epochs: int = Field(400, ge=0, description="tuning: Adam steps on the training loss")
    foundry_lr: float = Field(0.1, gt=0, description="tuning: Adam step size (rad)")
    foundry_sweep: bool = True


class PruneConfigError(ValueError):
    """A pruning configuration with an unknown key or a bad value; the message names them."""


class PruneConfig(BaseModel):
    """Configuration of one pruning run (validated; unknown keys are errors).

    The defaults are the recommended method (best measured on digits-FFT16, ``benchmarks/bench_prune.py``,
    row ``lth_hybrid``): layer-wise lottery tickets (train 600 epochs, prune the 10 % lowest wrap-aware
    phases of each layer, 25 % after 10 rounds, rewind to the initial phases, retrain) while the accuracy
    stays within ``max_loss``; from the last good ticket on, steps of 1 % ranked by measured loss saliency,
    each chosen set first shrunk softly for 40 epochs, then fixed and fine-tuned for 200 epochs. Before every
    round and step (issue 12, measured on seeds 0–2: 75.1 % vs 69.8 % U/V at ≤ 1 point on validation, 3.07 vs
    4.23 W at ≤ 5 points; not better on every seed — README "Pruning frontier"),
    Σ attenuators within 2 % of full transmission are switched off (``sigma_tol``) and the full conditional
    gauge runs (``gauge_full``); after the search the exact gauge is applied to every round (``final_gauge``).
    The search runs within ``max_loss`` (5 points); the network handed on is the sparsest round within
    ``select_loss`` (1 point) on validation. Warm
    restarts (``restarts`` > 1) at lr 0.02 destabilise Adam on phases (measured: 600 epochs from the
    initial phases with two cycles end at 31 % accuracy), so one cosine cycle is the default.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    method: Literal[
        "magnitude_oneshot",
        "magnitude_iterative",
        "lth",
        "gradual",
        "weight_domain",
        "l0",
        "obs",
        "imp_slr",
        "colt",
        "slimming",
    ] = "lth"
    ranking: Literal["wrap", "magnitude", "saliency"] = "wrap"
    scope: Literal["layer", "global"] = "layer"
    prune_sigma: bool = False
    complete_mzis: float = Field(0.0, ge=0.0, le=1.0, description="score discount when the MZI partner is pruned")
    gauge: bool = True
    gauge_full: bool = Field(
        True,
        description="gauge over V, Σ and U, θ-pruned MZIs as phase screens, dead MZIs pruned (gauge_network_full)",
    )
    final_gauge: bool = Field(
        True, description="after the search, apply the exact full gauge to every round (predictions unchanged)"
    )
    sigma_tol: float = Field(
        0.02, ge=0.0, lt=1.0, description="Σ pruning: switch off attenuators with |t| ≥ 1 − sigma_tol (0: off)"
    )
    # dense training (the model passed in is the initialisation; 0 epochs: it is already trained)
    dense_epochs: int = Field(600, ge=0)
    lr: float = Field(0.02, gt=0.0)
    lr_min_factor: float = Field(0.05, gt=0.0, le=1.0)
    # fine-tuning after a pruning step
    finetune_epochs: int = Field(200, ge=0)
    finetune_lr: float = Field(0.02, gt=0.0)
    restarts: int = Field(1, ge=1, description="cosine cycles (warm restarts) per fine-tuning")
    shrink: float = Field(0.1, ge=0.0, description="weight of the mean circular distance of live phases in the loss")
    power_aware: float = Field(
        0.5, ge=0.0, description="weight of the mean negative part of live phases (they wrap to ~2π: costly)"
    )
    # stopping
    max_loss: float = Field(0.05, ge=0.0, le=1.0, description="largest accepted validation-accuracy drop (fraction)")
    select_loss: float | None = Field(
        0.01,
        ge=0.0,
        le=1.0,
        description="validation-accuracy budget of the network handed on (None: max_loss); the search runs on max_loss",
    )
    target_sparsity: float | None = Field(None, gt=0.0, lt=1.0, description="stop at this U/V phase sparsity")
    max_rounds: int = Field(16, ge=0, description="most pruning rounds (LTH rounds, iterative steps)")
    max_steps: int = Field(40, ge=0, description="most continuation steps (gradual, lth_continue)")
    # magnitude baseline
    alphas: list[float] = Field(default_factory=lambda: [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0])
    alpha: float = Field(1.0, gt=0.0)
    steps: int = Field(10, ge=1)
    # lottery tickets
    rate: float = Field(0.1, gt=0.0, lt=1.0)
    rate_late: float = Field(0.25, gt=0.0, lt=1.0)
    rounds_early: int = Field(10, ge=0)
    lth_continue: bool = Field(
        True, description="after the last good ticket, continue in extra_step steps without rewinding"
    )
    # gradual
    schedule: Literal["cubic", "one_cycle"] = "cubic"
    final_sparsity: float = Field(0.85, gt=0.0, lt=1.0)
    gradual_epochs: int = Field(1000, ge=1)
    prune_every: int = Field(10, ge=1)
    start_frac: float = Field(0.1, ge=0.0, lt=1.0)
    end_frac: float = Field(0.7, gt=0.0, le=1.0)
    extra_step: float = Field(0.01, gt=0.0, lt=1.0, description="U/V sparsity added per continuation step")
    milestones: float = Field(0.1, ge=0.0, lt=1.0, description="record a round each time the schedule gains this")
    soft_epochs: int = Field(40, ge=0, description="epochs of soft shrinking of the chosen phases before fixing them")
    soft_weight: float = Field(1.0, gt=0.0)
    step_ranking: Literal["wrap", "magnitude", "saliency", "obs"] | None = Field(
        "saliency", description="ranking of the continuation steps (None: same as ranking; obs: OBS + compensation)"
    )
    round_patience: int | None = Field(
        None, ge=1, description="early stopping on validation loss inside each lottery-ticket round (None: off)"
    )
    distill: float = Field(0.0, ge=0.0, description="weight of KL(dense ‖ pruned) during fine-tuning (0: off)")
    # learned gates (method l0, gf_prune.prune_methods.l0_method)
    l0_lambdas: list[float] = Field(
        default_factory=lambda: [4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0], description="L0 stages"
    )
    l0_epochs: int = Field(200, ge=1, description="epochs of gate training per L0 stage")
    l0_group: float = Field(0.5, ge=0.0, description="weight of the per-MZI group term (whole MZIs removable)")
    l0_init: float = Field(2.0, description="initial gate logit (open)")
    # network slimming (method slimming)
    slim_l1: list[float] = Field(default_factory=lambda: [0.05, 0.1, 0.2], description="L1 weights on Σ amplitudes")
    slim_threshold: float = Field(0.05, gt=0.0, lt=1.0, description="cut a mode below this fraction of the max |t|")
    # second order (method obs, step_ranking obs: gf_prune.prune_methods.obs_prune)
    obs_sparsities: list[float] = Field(default_factory=lambda: [0.3, 0.5, 0.6, 0.7, 0.8], description="one-shot")
    obs_samples: int = Field(256, ge=1, description="samples of the empirical Fisher")
    obs_damp: float = Field(0.01, gt=0.0, description="Fisher damping, relative to its mean diagonal")
    # weight-domain contrast
    weight_sparsities: list[float] = Field(default_factory=lambda: [0.1, 0.3, 0.5, 0.7, 0.9])
    # power model, reproducibility
    p_pi_mw: float = Field(P_PI_MW_DEFAULT, gt=0.0)
    seed: int = 0
    saliency_samples: int = Field(512, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> PruneConfig:
        if self.ranking == "saliency" and self.method.startswith("magnitude"):
            raise ValueError("ranking='saliency' needs method 'lth' or 'gradual' (magnitude uses α·σ thresholds)")
        if self.method in ("lth", "colt") and self.dense_epochs == 0:
            raise ValueError(
                "method 'lth' retrains dense_epochs per round from the initial phases: dense_epochs must be > 0"
            )
        if self.start_frac >= self.end_frac:
            raise ValueError(f"start_frac ({self.start_frac}) must be < end_frac ({self.end_frac})")
        for name in ("alphas", "weight_sparsities"):
            vals = getattr(self, name)
            if not vals or any(not (math.isfinite(v) and v > 0) for v in vals):
                raise ValueError(f"{name} must be a non-empty list of positive numbers, got {vals}")
        if any(v >= 1 for v in self.weight_sparsities):
            raise ValueError(f"weight_sparsities must lie in (0, 1), got {self.weight_sparsities}")
        return self

    @classmethod
    def parse(cls, data: dict[str, Any] | PruneConfig | None = None, **overrides: Any) -> PruneConfig:
        """Validate a dict (plus keyword overrides); raise :class:`PruneConfigError` naming each bad key/value."""
        if isinstance(data, PruneConfig):
            data = data.model_dump()
        merged = {**(data or {}), **overrides}
        try:
            return cls(**merged)
        except ValidationError as exc:
            raise PruneConfigError(_prune_error_lines(exc)) from None


def _prune_error_lines(exc: ValidationError) -> str:
    """One line per problem: ``prune config: <key>: <message> (got <value>)``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ())) or "(config)"
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = f"unknown key (known keys: {', '.join(PruneConfig.model_fields)})"
        got = err.get("input")
        got_s = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"prune config: {loc}: {msg}{got_s}")
    return "\n".join(lines)


class RunConfig(_Section):
    """Everything ``gf-prune run`` needs; every field has a default (the built-in run)."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainSection = Field(default_factory=TrainSection)
    prune: PruneConfig = Field(default_factory=PruneConfig, description="pruning method (gf_prune.prune)")
    layout: LayoutSection = Field(default_factory=LayoutSection)
    verify: VerifySection = Field(default_factory=VerifySection)
    robustness: dict[str, Any] = Field(default_factory=dict, description="robustness config (gf_prune.robustness)")
    p_pi_mw: float = Field(P_PI_MW_DEFAULT, gt=0, description="heater power for a π phase (mW)")
    seed: int = Field(0, description="sets the initial phases, the training order and the pruning")
    device: str = Field(
        "cpu",
        description="torch device of training, pruning and the Monte-Carlo: cpu (default), cuda, cuda:N, mps "
        "(gf_prune.device; results equal the CPU's to float tolerance)",
    )

    @field_validator("device")
    @classmethod
    def _device_name(cls, v: str) -> str:
        return check_device_name(v)


DEVICE_NAME = re.compile(r"cpu|cuda(:[0-9]+)?|mps")
"""Devices gf_prune can run on (the syntax; whether this machine has one: :func:`gf_prune.device.resolve_device`)."""


def check_device_name(name: str) -> str:
    """``name`` if it names a device gf_prune can run on, else ValueError naming it (torch-free)."""
    if not isinstance(name, str) or not DEVICE_NAME.fullmatch(name):
        raise ValueError(f"device {name!r} is not one of cpu, cuda, cuda:N, mps")
    return name


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line naming every bad key: ``train.lr: Input should be greater than 0``."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in (prefix, *err["loc"]) if str(x))
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def validate(model: type[BaseModel], data: dict[str, Any], prefix: str = "") -> Any:
    """``model.model_validate(data)`` with a ConfigError naming the bad keys."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid config: {format_validation_error(exc, prefix)}") from None


def load_config(path: str | Path | None) -> RunConfig:
    """Read a YAML (or JSON) config file; ``None`` gives the defaults."""
    if path is None:
        return RunConfig()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({type(exc).__name__})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a mapping of sections, got {type(data).__name__}")
    return validate(RunConfig, data)
