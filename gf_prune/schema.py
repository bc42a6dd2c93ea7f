"""The typed report schema: what ``report.json`` holds (docs/design.md, "Contracts") and what the report reads.

The pipeline validates every report against :class:`Report` before writing it, so a missing or mistyped
contract key is a bug caught where it is made; :mod:`gf_prune.report` and :mod:`gf_prune.plots` read the same
names (:data:`RECORD_KEYS`, :data:`PRUNING_KEYS`). Sections allow extra keys: add, never rename.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class RoundRecord(_Open):
    """One pruning round (``rounds.json`` records, ``report.json`` ``rounds``)."""

    round: int
    step: str | None = None
    acc_val: float = Field(description="validation accuracy: what chooses the round")
    acc_test: float = Field(description="test accuracy: reported only")
    acc_train: float
    sparsity_uv: float
    sparsity_all: float
    power_mw: float
    removable_mzis: int


class Accuracy(_Open):
    dense: float | None = Field(description="test accuracy of the dense network")
    pruned: float = Field(description="test accuracy of the laid-out (pruned) network")
    sax: float | None = Field(None, description="test accuracy of the SAX-simulated layout")
    foundry: float | None = Field(None, description="test accuracy with the PDK's own models (gf_prune.foundry)")
    foundry_tuned: float | None = Field(None, description="the same after layout-in-the-loop tuning")
    val_dense: float | None = None
    val_pruned: float | None = None


class Phases(_Open):
    total_uv: int
    pruned_uv: int
    total_all: int
    pruned_all: int


class PowerMw(_Open):
    dense: float | None
    pruned: float


class Mzis(_Open):
    total: int
    removed: int
    bar: int


class Verify(_Open):
    max_rel_error: float | None = None


class Convention(_Open):
    zero_state: Literal["bar", "cross"]


class DataInfo(_Open):
    source: str
    n_train: int
    n_val: int
    n_test: int


class Pruning(_Open):
    method: str | None = None
    ranking: str | None = None
    best_round: int | None = None
    config: dict[str, Any] = Field(default_factory=dict)


class Report(_Open):
    """``report.json``."""

    selection: Literal["validation"]
    seed: int
    accuracy: Accuracy
    phases: Phases
    power_mw: PowerMw
    mzis: Mzis
    verify: Verify
    convention: Convention
    data: DataInfo
    pruning: Pruning
    rounds: list[RoundRecord]
    timings_s: dict[str, float]


RECORD_KEYS = {
    "round": "round",
    "accuracy": "acc_test",
    "val_accuracy": "acc_val",
    "train_accuracy": "acc_train",
    "sparsity_uv": "sparsity_uv",
    "sparsity_all": "sparsity_all",
    "power": "power_mw",
    "removable": "removable_mzis",
}
"""Names of a round record's fields, by what they mean (read by the report and the plots)."""

PRUNING_KEYS = {
    "method": "pruning.method",
    "ranking": "pruning.ranking",
    "scope": "pruning.config.scope",
    "best_round": "pruning.best_round",
}
"""Dotted report keys of the pruning summary."""
