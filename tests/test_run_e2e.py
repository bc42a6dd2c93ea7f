"""`gf-prune run` end to end on a reduced config, through the real CLI: the contract files,
skipped stages on a re-run, and an interrupted run that leaves the earlier output intact."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REDUCED = """
train:
  epochs: 150
prune:
  max_rounds: 2
  max_steps: 2
  finetune_epochs: 20
  soft_epochs: 5
robustness:
  trials: 16
  sigma_ps: [0.0, 0.01]
  bits: [6]
  sigma_bs: [0.0]
  loss_db: [0.0, 0.5]
  crosstalk: [0.0]
"""

CONTRACT_KEYS = [
    "accuracy.dense",
    "accuracy.pruned",
    "accuracy.sax",
    "phases.total_uv",
    "phases.pruned_uv",
    "phases.total_all",
    "phases.pruned_all",
    "power_mw.dense",
    "power_mw.pruned",
    "mzis.total",
    "mzis.removed",
    "mzis.bar",
    "verify.max_rel_error",
    "convention.zero_state",
]
HEATER_COLUMNS = ["layer", "mesh", "column", "row", "kind", "phase_rad", "power_mw", "pruned", "instance"]


def gf_prune(*args: str, **kw) -> subprocess.Popen | subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "gf_prune.cli", *args], capture_output=True, text=True, env=env, timeout=900, **kw
    )


def get(d: dict, dotted: str):
    for part in dotted.split("."):
        d = d[part]
    return d


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("e2e")
    cfg = base / "reduced.yaml"
    cfg.write_text(REDUCED)
    out = base / "out"
    res = gf_prune("run", "--out", str(out), "--config", str(cfg))
    assert res.returncode == 0, res.stderr[-3000:]
    return out


def test_contract_files_exist(run_dir):
    for name in ("report.json", "network.gds", "heaters.csv", "weights.npz", "report.html", "layout.png"):
        assert (run_dir / name).is_file() and (run_dir / name).stat().st_size > 0, name
    assert not list(run_dir.parent.glob(".out.partial-*")), "staging folder left behind"


def test_report_json_contract(run_dir):
    report = json.loads((run_dir / "report.json").read_text())
    for key in CONTRACT_KEYS:
        assert get(report, key) is not None, key
    for key in ("accuracy.dense", "accuracy.pruned", "accuracy.sax"):
        assert 0.0 <= get(report, key) <= 1.0
    assert report["phases"]["total_uv"] == 1290 and report["phases"]["total_all"] == 1374
    assert report["power_mw"]["pruned"] <= report["power_mw"]["dense"]
    assert report["verify"]["max_rel_error"] <= 1e-6
    assert report["accuracy"]["sax"] == pytest.approx(report["accuracy"]["pruned"])
    assert report["convention"]["zero_state"] == "bar"
    for stage in ("train", "prune", "layout", "verify", "robustness", "report"):
        assert report["timings_s"][stage] >= 0.0


def test_heater_table_matches_report(run_dir):
    report = json.loads((run_dir / "report.json").read_text())
    with (run_dir / "heaters.csv").open() as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == [*HEATER_COLUMNS, "slot", "x_um", "y_um"]  # placement columns (issue 13)
        rows = list(reader)
    assert len(rows) == report["phases"]["total_all"]
    pruned = sum(r["pruned"].lower() == "true" for r in rows)
    assert pruned == report["phases"]["pruned_all"]
    power = sum(float(r["power_mw"]) for r in rows)
    assert power == pytest.approx(report["power_mw"]["pruned"], rel=1e-9)
    for r in rows:
        if r["pruned"].lower() == "true":
            assert float(r["phase_rad"]) == 0.0 and float(r["power_mw"]) == 0.0


def test_weights_npz_reproduces_pruned_accuracy(run_dir):
    from gf_prune.model import PhotonicMLP

    report = json.loads((run_dir / "report.json").read_text())
    with np.load(run_dir / "weights.npz") as z:
        mats = [z[f"W{i}"] for i in range(3)]
        x, y = z["X_test"], z["y_test"]
    assert [m.shape for m in mats] == [(16, 16), (16, 16), (10, 16)]
    import torch

    pred = PhotonicMLP.predict_from_matrices(mats, torch.as_tensor(x))
    assert float((pred.numpy() == y).mean()) == pytest.approx(report["accuracy"]["pruned"])


def _strings(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)
    elif isinstance(obj, str):
        yield obj


def test_recorded_paths_are_relative_and_valid_after_the_swap(run_dir):
    """No output file names the staging folder (gone after the swap) or any absolute path into
    the tmp folder; every recorded path exists relative to the output folder."""
    base = str(run_dir.parent)
    written = sorted(p for p in run_dir.iterdir() if p.suffix in (".json", ".csv", ".html"))
    assert {"report.json", "layout.json", "robustness.json", "heaters.csv", "report.html"} <= {p.name for p in written}
    for p in written:
        text = p.read_text()
        assert ".partial-" not in text, p.name
        assert base not in text and str(run_dir.parent.resolve()) not in text, p.name
    layout = json.loads((run_dir / "layout.json").read_text())
    assert layout["files"]["gds"] == "network.gds"
    for name in layout["files"].values():
        assert (run_dir / name).is_file(), name
    robust = json.loads((run_dir / "robustness.json").read_text())
    report = json.loads((run_dir / "report.json").read_text())
    for summary in (robust, report["robustness"]):
        assert summary["config"]["heater_gds"] == "network.gds"
        for source in summary["heater_positions"].values():
            assert source.startswith("gds:network.gds"), source
    for p in written:
        if p.suffix == ".json":
            for s in _strings(json.loads(p.read_text())):
                if s.endswith((".gds", ".csv", ".png", ".json", ".npz", ".pt", ".html")) and " " not in s:
                    assert (run_dir / s).is_file(), (p.name, s)


def test_rerun_skips_unchanged_stages(run_dir):
    cfg = run_dir.parent / "reduced.yaml"
    before = (run_dir / "model_dense.pt").read_bytes()
    res = gf_prune("run", "--out", str(run_dir), "--config", str(cfg))
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads((run_dir / "report.json").read_text())
    for stage in ("train", "prune", "layout", "verify", "robustness"):
        assert report["timings_s"][stage] == 0.0, stage
    assert (run_dir / "model_dense.pt").read_bytes() == before


def test_interrupted_run_keeps_earlier_output(run_dir, tmp_path):
    cfg = tmp_path / "slow.yaml"
    cfg.write_text(REDUCED.replace("epochs: 150\n", "epochs: 5000\n", 1))
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gf_prune.cli", "run", "--out", str(run_dir), "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not list(run_dir.parent.glob(".out.partial-*")):
        time.sleep(0.5)
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err
    assert not list(run_dir.parent.glob(".out.partial-*"))
    after = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    assert after == before
