"""Progress through a pipe (CI, nohup, a Ray worker): plain lines, one per pruning record and
about one per 10 % of dense training, instead of silence between 'running' and 'done'."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

TINY = """
train:
  epochs: 30
prune:
  max_rounds: 2
  max_steps: 1
  finetune_epochs: 3
  soft_epochs: 1
layout:
  enabled: false
robustness:
  enabled: false
"""


def test_piped_run_prints_a_line_per_pruning_record(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "GF_PRUNE_PROGRESS"}
    res = subprocess.run(
        [sys.executable, "-m", "gf_prune.cli", "run", "--out", str(out), "--config", str(cfg)],
        capture_output=True,  # both pipes: not a terminal
        text=True,
        timeout=600,
        env={**env, "OMP_NUM_THREADS": "1", "COLUMNS": "200"},
    )
    assert res.returncode == 0, res.stderr[-3000:]
    lines = res.stderr.splitlines()
    records = json.loads((out / "rounds.json").read_text())["records"]
    prune = [ln for ln in lines if ln.startswith("[prune] ") and "pruned," in ln]
    assert len(prune) == len(records) >= 2, res.stderr
    pattern = re.compile(r"^\[prune\] (.+): U/V (\d+\.\d)% pruned, acc_(val|test) (\d\.\d{3}), (\d+\.\d) s elapsed")
    for ln, rec in zip(prune, records, strict=True):
        m = pattern.match(ln)
        assert m, ln
        assert m.group(1) == rec["step"]
        assert float(m.group(2)) == round(100 * rec["sparsity_uv"], 1)
    assert all("more (≤ " in ln and " s left)" in ln for ln in prune[1:-1]), prune  # an estimate after the first
    epochs = [ln for ln in lines if ln.startswith("[train] epoch ")]
    assert 8 <= len(epochs) <= 11 and epochs[-1].startswith("[train] epoch 30/30"), epochs
    assert "\x1b[" not in res.stderr  # no terminal control codes in a log
