"""`gf-prune sweep` (grid validation, a 2-trial sweep on Ray, restart skips finished trials) and resumable
runs (a run SIGKILLed after pruning round k resumes without recomputing rounds ≤ k, same final phases)."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gf_prune.config import ConfigError
from gf_prune.sweep import expand, load_sweep, pareto

TINY = """
train:
  epochs: 150
prune:
  method: lth
  max_rounds: {rounds}
  lth_continue: false
  max_loss: 1.0
layout:
  enabled: false
robustness:
  enabled: false
"""


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "gf_prune.cli", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------- validation (fast, no Ray)


@pytest.mark.parametrize(
    ("grid", "needle"),
    [
        ("prune.methd: [lth]", "prune.methd"),
        ("prune.method: [lth, bogus]", "prune.method"),
        ("model.hidden: [[16], x]", "model.hidden"),
        ("prune.max_loss: [0.1, 2.0]", "prune.max_loss"),
        ("seed.x: [1]", "seed.x"),
        ("nosuch.key: [1]", "nosuch"),
        ("model.bias: [auto, maybe]", "model.bias"),
    ],
)
def test_grid_errors_name_the_key(tmp_path, grid, needle):
    cfg = write(tmp_path / "s.yaml", f"sweep:\n  grid:\n    {grid}\n")
    with pytest.raises(ConfigError, match=re.escape(needle)):
        expand(*load_sweep(cfg))


def test_sweep_section_errors(tmp_path):
    for text, needle in [
        ("train: {epochs: 3}\n", "no `sweep:` section"),
        ("sweep:\n  gird: {prune.method: [lth]}\n", "sweep.gird"),
        ("sweep:\n  seeds: [0, a]\n", "sweep.seeds"),
        ("sweep:\n  grid: {prune.method: lth}\n", "sweep.grid.prune.method"),
        ("sweep:\n  random: {samples: 2, params: {prune.rate: {normal: [0, 1]}}}\n", "prune.rate"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(needle)):
            expand(*load_sweep(write(tmp_path / "s.yaml", text)))


def test_expand_grid_random_seeds(tmp_path):
    cfg = write(
        tmp_path / "s.yaml",
        "train: {epochs: 7}\nsweep:\n  grid:\n    prune.method: [lth, gradual]\n"
        "  random:\n    samples: 2\n    params:\n      prune.rate: {uniform: [0.05, 0.2]}\n  seeds: [0, 1, 2]\n",
    )
    trials = expand(*load_sweep(cfg))
    assert len(trials) == 2 * 2 * 3
    assert len({t.id for t in trials}) == 12
    assert all(t.config["train"]["epochs"] == 7 for t in trials)
    assert {t.config["seed"] for t in trials} == {0, 1, 2}
    assert all(0.05 <= t.config["prune"]["rate"] <= 0.2 for t in trials)
    assert expand(*load_sweep(cfg))[5].id == trials[5].id  # stable ids: a restart finds its trials
    # a trial runs its config as written: unset keys keep their meaning (dense_epochs follows train.epochs)
    assert "dense_epochs" not in trials[0].raw.get("prune", {}) and trials[0].raw["seed"] in (0, 1, 2)


def test_pareto_front():
    pts = [(10.0, 0.9), (5.0, 0.8), (12.0, 0.85), (5.0, 0.9)]
    assert pareto(pts, maximize_x=False) == [3]
    assert sorted(pareto(pts, maximize_x=True)) == [0, 2]


def test_unreachable_address_fails_before_trials(tmp_path):
    cfg = write(tmp_path / "s.yaml", TINY.format(rounds=1) + "sweep:\n  seeds: [0]\n")
    res = cli("sweep", str(cfg), "--out", str(tmp_path / "o"), "--address", "127.0.0.1:1", timeout=120)
    assert res.returncode == 2
    assert "error: cannot reach the Ray cluster at 127.0.0.1:1" in res.stderr
    assert not (tmp_path / "o").exists()


def test_bad_grid_cli_one_line_exit_2(tmp_path):
    cfg = write(tmp_path / "s.yaml", "sweep:\n  grid:\n    prune.max_loss: [fast]\n")
    res = cli("sweep", str(cfg), "--out", str(tmp_path / "o"), timeout=120)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "prune.max_loss" in lines[0]


def test_plain_run_does_not_import_ray():
    code = (
        "import sys, gf_prune.cli, gf_prune.pipeline, gf_prune.prune, gf_prune.report, gf_prune.checkpoint;"
        "print('ray' in sys.modules)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.stdout.strip() == "False", res.stderr


# ----------------------------------------------------------------------------- a tiny sweep on Ray


@pytest.mark.slow  # ~70 s on the 2-core machine
def test_two_trial_sweep_then_restart_skips(tmp_path):
    pytest.importorskip("ray")
    cfg = write(
        tmp_path / "s.yaml",
        TINY.format(rounds=1) + "sweep:\n  grid:\n    prune.max_loss: [0.05, 0.5]\n  seeds: [0]\n",
    )
    out = tmp_path / "sw"
    res = cli("sweep", str(cfg), "--out", str(out), "--workers", "2")
    assert res.returncode == 0, res.stderr[-3000:]
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert len(rows) == 2
    assert {r["prune.max_loss"] for r in rows} == {"0.05", "0.5"}
    for r in rows:
        assert r["status"] == "ok" and r["seed"] == "0"
        for col in ("acc_val_dense", "acc_val_pruned", "acc_test_dense", "acc_test_pruned", "sparsity_uv"):
            assert 0.0 <= float(r[col]) <= 1.0, col
        assert float(r["power_pruned_mw"]) <= float(r["power_dense_mw"])
        assert (out / r["report"]).is_file()
    page = (out / "sweep.html").read_text()
    links = re.findall(r"href='([^']+)'", page)
    assert links and all((out / link).is_file() for link in links)
    assert "Pareto" in page and "data:image/png;base64," in page
    # trials that differ only in prune settings trained once: both train stages have one fingerprint
    fps = {json.loads((out / "trials" / r["trial"] / "stages.json").read_text())["train"]["fingerprint"] for r in rows}
    assert len(fps) == 1 and len(list((out / "cache" / "train").iterdir())) == 2  # entry + its lock file
    mtimes = {r["trial"]: (out / "trials" / r["trial"] / "report.json").stat().st_mtime_ns for r in rows}

    again = cli("sweep", str(cfg), "--out", str(out), "--workers", "2")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "2 trials already finished (skipped)" in again.stderr
    assert {r["trial"]: (out / "trials" / r["trial"] / "report.json").stat().st_mtime_ns for r in rows} == mtimes


def test_failed_trial_recorded_sweep_goes_on(tmp_path):
    """A trial that fails (here: a data file that does not exist for one grid value) is a row with its error."""
    pytest.importorskip("ray")
    cfg = write(
        tmp_path / "s.yaml",
        TINY.format(rounds=1) + "sweep:\n  grid:\n    data.source: [digits, /nonexistent/file.npz]\n  seeds: [0]\n",
    )
    out = tmp_path / "sw"
    res = cli("sweep", str(cfg), "--out", str(out), "--workers", "2")
    assert res.returncode == 1, res.stderr[-3000:]
    rows = {r["data.source"]: r for r in csv.DictReader((out / "sweep.csv").open())}
    assert rows["digits"]["status"] == "ok"
    assert rows["/nonexistent/file.npz"]["status"] == "failed"
    assert "nonexistent" in rows["/nonexistent/file.npz"]["error"]


# ----------------------------------------------------------------------------- kill and resume


@pytest.mark.slow  # ~80 s: two tiny runs through the CLI
def test_killed_run_resumes_after_round_k(tmp_path):
    k = 2
    cfg = write(tmp_path / "tiny.yaml", TINY.format(rounds=4))
    ref = cli("run", "--out", str(tmp_path / "ref"), "--config", str(cfg))
    assert ref.returncode == 0, ref.stderr[-3000:]

    out, log1 = tmp_path / "out", tmp_path / "first.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with log1.open("w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gf_prune.cli", "run", "--out", str(out), "--config", str(cfg)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.time() + 300
        while f"round {k}:" not in log1.read_text() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert f"round {k}:" in log1.read_text()
    assert f"round {k + 2}:" not in log1.read_text()  # killed mid-way (round k+1 may have finished meanwhile)
    stale = list(tmp_path.glob(".out.partial-*"))
    assert len(stale) == 1 and (stale[0] / "prune_checkpoint.pt").is_file()

    res = cli("run", "--out", str(out), "--config", str(cfg))
    assert res.returncode == 0, res.stderr[-3000:]
    log = res.stderr
    assert "resuming the killed run" in log
    assert "[train] unchanged, skipped" in log
    for r in range(1, k + 1):  # no round ≤ k is recomputed
        assert re.search(rf"\[prune\] round {r}: resumed from checkpoint \(not recomputed\)", log), log
        assert not re.search(rf"\[prune\] round {r}: U/V", log), log
    assert re.search(r"\[prune\] round 4: U/V", log)
    assert not list(tmp_path.glob(".out.partial-*"))
    assert not (out / "prune_checkpoint.pt").exists()
    a, b = np.load(tmp_path / "ref" / "phases.npz"), np.load(out / "phases.npz")
    assert sorted(a.files) == sorted(b.files)
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    ra = json.loads((tmp_path / "ref" / "rounds.json").read_text())["records"]
    rb = json.loads((out / "rounds.json").read_text())["records"]
    assert ra == rb


class _Killed(Exception):
    pass


def test_prune_checkpoint_replays_rounds_in_process(tmp_path):
    """Fast version of the kill test: pruning stopped after round k resumes from its checkpoint, replays
    rounds ≤ k without training and ends with the same records and phases as an uninterrupted run."""
    import torch

    from gf_prune import prune as pr
    from gf_prune.checkpoint import PruneCheckpoint
    from gf_prune.data import load_dataset
    from gf_prune.model import PhotonicMLP

    data = load_dataset("digits", 0)
    init = PhotonicMLP([16, 8, 10], seed=0)
    dense = PhotonicMLP([16, 8, 10], seed=0)
    dense.load_state_dict(init.state_dict())
    pr.train_phases(dense, data, 30, 0.02, seed=0)
    cfg = {"method": "lth", "max_rounds": 3, "lth_continue": False, "max_loss": 1.0, "dense_epochs": 30}
    ref = pr.run_pruning(init, data, cfg, trained=dense)

    path, k = tmp_path / "ck.pt", 2

    def stop_after_k(rec):
        if rec["round"] == k:
            raise _Killed

    with pytest.raises(_Killed), PruneCheckpoint(path, "key") as ck:
        pr.run_pruning(init, data, cfg, trained=dense, checkpoint=ck, progress=stop_after_k)
    assert PruneCheckpoint(path, "other key").resumed_rounds == 0  # another run's checkpoint is ignored

    seen, fits = [], []
    real_fit = pr.fit
    pr.fit = lambda *a, **kw: fits.append(1) or real_fit(*a, **kw)
    try:
        with PruneCheckpoint(path, "key") as ck:
            assert ck.resumed_rounds == k + 1
            res = pr.run_pruning(init, data, cfg, trained=dense, checkpoint=ck, progress=seen.append)
    finally:
        pr.fit = real_fit
    assert [bool(r.get("resumed")) for r in seen] == [True] * (k + 1) + [False] * (len(seen) - k - 1)
    assert len(fits) == len(seen) - (k + 1)  # one training per recomputed round, none for replayed ones
    assert res.records == ref.records
    for a, b in zip(res.model.state_dict().values(), ref.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_stale_staging_of_live_process_is_left_alone(tmp_path):
    from gf_prune.pipeline import clean_stale_staging

    live = tmp_path / f".out.partial-{os.getppid()}"
    live.mkdir()
    dead = [tmp_path / f".out.partial-{pid}" for pid in (2**22 + 11, 2**22 + 12)]
    for i, d in enumerate(dead):
        d.mkdir()
        (d / ".x.abc.tmp.json").write_text("half")
        os.utime(d, (1000 + i, 1000 + i))
    old = tmp_path / f".out.old-{2**22 + 13}"
    old.mkdir()
    got = clean_stale_staging(tmp_path, "out")
    assert got == dead[1]  # the newest dead one is reused, the older removed
    assert not dead[0].exists() and not old.exists() and live.exists()
    assert not (got / ".x.abc.tmp.json").exists()


def test_variants_and_example_config():
    base, spec = load_sweep(Path(__file__).parent.parent / "examples" / "sweep_prune_methods.yaml")
    trials = expand(base, spec)
    assert len(trials) == len(spec.variants) * 3
    by = {(t.overrides["variant"], t.overrides["seed"]): t.config for t in trials}
    assert by[("magnitude_iterative", 1)]["prune"]["method"] == "magnitude_iterative"
    assert by[("magnitude_iterative", 1)]["prune"]["finetune_epochs"] == 100  # merged from the anchor
    assert by[("recommended", 2)]["prune"]["method"] == "lth" and by[("recommended", 2)]["seed"] == 2
    assert by[("gradual", 0)]["train"]["epochs"] == 600  # the base outside `sweep:`
