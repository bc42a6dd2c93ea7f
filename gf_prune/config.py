"""Validated run configuration (pydantic): an unknown or mistyped key is named in the error."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ConfigError(ValueError):
    """A configuration file or value that cannot be used; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    source: str = Field("digits", description="'digits' (bundled) or a path to an MNIST idx folder / .npz / .npy")
    seed: int = 0


class ModelConfig(_Section):
    sizes: list[int] = Field(default_factory=lambda: [16, 16, 16, 10], min_length=2)
    mesh_kind: Literal["clements", "reck"] = "clements"
    zero_state: Literal["bar", "cross"] = "bar"
    init: Literal["uniform", "zero"] = Field("zero", description="zero-power init: phases N(0, init_std)")
    init_std: float = Field(0.5, gt=0)
    seed: int = 0


class TrainSection(_Section):
    epochs: int = Field(600, ge=1, description="dense epochs (also each lottery-ticket round's budget)")
    lr: float = Field(0.02, gt=0)
    batch_size: int | None = Field(None, ge=1)
    seed: int = 0


class LayoutSection(_Section):
    enabled: bool = True
    pruned_mzi: Literal["remove", "bar"] = "remove"


class VerifySection(_Section):
    enabled: bool = True
    wavelength_um: float = Field(1.55, gt=0)
    sweep: bool = True
    tolerance: float = Field(1e-6, gt=0)


class RunConfig(_Section):
    """Everything ``gf-prune run`` needs; every field has a default (the built-in run)."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainSection = Field(default_factory=TrainSection)
    prune: dict[str, Any] = Field(default_factory=dict, description="pruning method config (gf_prune.prune)")
    layout: LayoutSection = Field(default_factory=LayoutSection)
    verify: VerifySection = Field(default_factory=VerifySection)
    robustness: dict[str, Any] = Field(default_factory=dict, description="robustness config (gf_prune.robustness)")
    p_pi_mw: float = Field(25.0, gt=0, description="heater power for a π phase (mW)")


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
