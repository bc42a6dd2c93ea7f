"""Per-round checkpoints of a pruning run, and its resumption after a kill.

After every pruning record (round 0 = dense, then one per round/step) the prune stage writes
``prune_checkpoint.pt`` into its output folder (atomically): every record so far, the model's
state dict (phases and masks) at that record and the torch RNG state. The file carries a key
(the prune stage's fingerprint: its config sections and the bytes of ``model_dense.pt``); a
checkpoint with another key is ignored.

Resuming is a *replay*: the pruning method runs again from the start, but while records from the
checkpoint are pending, training (:func:`gf_prune.prune.train_phases` without an epoch callback)
is skipped and each record call takes the checkpointed record and restores the model's state and
the RNG state instead of measuring. The method's control flow (which round, when to stop) thus
follows the same path as before, and after the last checkpointed record the run computes exactly
what the uninterrupted run computed next (training re-seeds torch at every call, and the RNG state
is restored too). A record whose step label differs from the checkpoint's raises
:class:`ResumeMismatch` (the caller then starts afresh). Records made *inside* one training run
(the gradual method's milestones) are re-trained: that run cannot be skipped part-way.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_NAME = "prune_checkpoint.pt"
FORMAT = "gf_prune.prune_checkpoint/1"

_ACTIVE: PruneCheckpoint | None = None


class ResumeMismatch(RuntimeError):
    """The replayed run took another path than the checkpointed one."""


def replaying() -> bool:
    """Whether a checkpoint replay is in progress in this process (training is then skipped)."""
    return _ACTIVE is not None and _ACTIVE.pending > 0


class PruneCheckpoint:
    """Writes a pruning run's records and states after every record; replays them on resume.

    Use as a context manager around :func:`gf_prune.prune.run_pruning` (it makes the checkpoint the
    active one of the process, which :func:`replaying` asks).
    """

    def __init__(self, path: str | Path, key: str) -> None:
        self.path, self.key = Path(path), key
        self.saved: list[dict[str, Any]] = []
        self.pos = 0
        if self.path.is_file():
            try:
                blob = torch.load(self.path, map_location="cpu", weights_only=False)
            except Exception:  # a corrupt or foreign file: start afresh
                blob = None
            if isinstance(blob, dict) and blob.get("format") == FORMAT and blob.get("key") == key:
                self.saved = list(blob.get("entries", []))

    @property
    def pending(self) -> int:
        return len(self.saved) - self.pos

    @property
    def resumed_rounds(self) -> int:
        return len(self.saved)

    def __enter__(self) -> PruneCheckpoint:
        global _ACTIVE
        _ACTIVE = self
        return self

    def __exit__(self, *exc: object) -> None:
        global _ACTIVE
        _ACTIVE = None

    def replay(self, model: torch.nn.Module, index: int, info: dict[str, Any]) -> dict[str, Any] | None:
        """The checkpointed record ``index`` (model and RNG state restored), or None when not replaying."""
        if self.pos >= len(self.saved):
            return None
        entry = self.saved[self.pos]
        rec = entry["record"]
        if rec.get("round") != index or rec.get("step") != info.get("step"):
            raise ResumeMismatch(
                f"checkpoint record {self.pos} is {rec.get('step')!r} but the run made {info.get('step')!r}"
            )
        model.load_state_dict(entry["state"])
        if entry.get("rng") is not None:
            torch.set_rng_state(entry["rng"])
        self.pos += 1
        return copy.deepcopy(rec)

    def save(self, records: list[dict[str, Any]], states: list[dict[str, Any]]) -> None:
        """Write every record so far with its state (no-op while replaying: the file already has them)."""
        if self.pending > 0:
            return
        from gf_prune.io import atomic_output

        n_old = len(self.saved)
        for rec, st in zip(records[n_old:], states[n_old:], strict=True):
            self.saved.append({"record": copy.deepcopy(rec), "state": st, "rng": torch.get_rng_state()})
        self.pos = len(self.saved)
        with atomic_output(self.path) as tmp:
            torch.save({"format": FORMAT, "key": self.key, "entries": self.saved}, tmp)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
