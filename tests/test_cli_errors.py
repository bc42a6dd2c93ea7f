"""Bad input through the real CLI, in a subprocess: one clear line, non-zero exit, no traceback,
no half-written files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

GF_PRUNE = [sys.executable, "-m", "gf_prune.cli"]


def cli(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run([*GF_PRUNE, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def assert_user_error(res: subprocess.CompletedProcess, *needles: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def write_cfg(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(text)
    return p


def test_unknown_config_key_is_named(tmp_path):
    cfg = write_cfg(tmp_path, "train:\n  epochs: 1\n  learning_rate: 0.1\n")
    res = cli("train", "--out", str(tmp_path / "o"), "--config", str(cfg))
    assert_user_error(res, "train.learning_rate", "unknown key")
    assert not (tmp_path / "o" / "model_dense.pt").exists()


def test_missing_config_file(tmp_path):
    res = cli("run", "--out", str(tmp_path / "o"), "--config", str(tmp_path / "missing.yaml"))
    assert_user_error(res, "config file not found", "missing.yaml")
    assert not (tmp_path / "o").exists()


def test_corrupt_config_file(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_bytes(b"\xff\xfe\x00garbage: [")
    assert_user_error(cli("train", "--out", str(tmp_path / "o"), "--config", str(cfg)), "cfg.yaml")


def test_nan_data_is_rejected(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 16))
    x[3, 2] = np.nan
    np.savez(tmp_path / "d.npz", X=x, y=np.arange(40) % 4)
    cfg = write_cfg(tmp_path, f"data:\n  source: {tmp_path / 'd.npz'}\ntrain:\n  epochs: 1\n")
    assert_user_error(cli("train", "--out", str(tmp_path / "o"), "--config", str(cfg)), "NaN")


def test_wrong_shaped_data_is_rejected(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.ones((40, 16)), y=np.zeros(39, dtype=int))
    cfg = write_cfg(tmp_path, f"data:\n  source: {tmp_path / 'd.npz'}\ntrain:\n  epochs: 1\n")
    assert_user_error(cli("train", "--out", str(tmp_path / "o"), "--config", str(cfg)), "one label per sample")


def test_data_width_must_match_model(tmp_path):
    x = np.random.default_rng(0).normal(size=(80, 9))
    np.savez(tmp_path / "d.npz", X=x, y=np.arange(80) % 4)
    src = f"data:\n  source: {tmp_path / 'd.npz'}\ntrain:\n  epochs: 1\n"
    cfg = write_cfg(tmp_path, src + "model:\n  sizes: [16, 16, 4]\n")
    assert_user_error(cli("train", "--out", str(tmp_path / "o"), "--config", str(cfg)), "model.sizes[0]")
    cfg = write_cfg(tmp_path, src + "model:\n  sizes: [9, 8, 3]\n")
    assert_user_error(cli("train", "--out", str(tmp_path / "o"), "--config", str(cfg)), "4 classes")
    assert not (tmp_path / "o" / "model_dense.pt").exists()


def test_prune_checks_classes_against_output_modes(tmp_path):
    """`gf-prune prune MODEL` with data of more classes than the model's output modes: refused before work."""
    from gf_prune.model import PhotonicMLP

    x = np.random.default_rng(0).normal(size=(80, 6))
    np.savez(tmp_path / "d.npz", X=x, y=np.arange(80) % 4)
    PhotonicMLP((6, 4, 3), bias=True).save(tmp_path / "m.pt")
    cfg = write_cfg(tmp_path, f"data:\n  source: {tmp_path / 'd.npz'}\n")
    r = cli("prune", str(tmp_path / "m.pt"), "--out", str(tmp_path / "o"), "--config", str(cfg))
    assert_user_error(r, "3 output modes", "4 classes")
    assert not (tmp_path / "o" / "phases.npz").exists()


def test_single_class_data_is_refused_before_training(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.random.default_rng(0).normal(size=(50, 5)), y=np.zeros(50, dtype=int))
    cfg = write_cfg(tmp_path, f"data:\n  source: {tmp_path / 'd.npz'}\n")
    r = cli("run", "--out", str(tmp_path / "o"), "--config", str(cfg))
    assert_user_error(r, "class")
    assert not (tmp_path / "o").exists()


def test_missing_data_file(tmp_path):
    cfg = write_cfg(tmp_path, f"data:\n  source: {tmp_path / 'nothere.npz'}\n")
    assert_user_error(cli("train", "--out", str(tmp_path / "o"), "--config", str(cfg)), "not found", "nothere.npz")


def test_corrupt_model_file(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"this is not a torch file")
    assert_user_error(cli("prune", str(bad), "--out", str(tmp_path / "o")), "not a readable gf_prune model")
    assert not (tmp_path / "o" / "model_dense.pt").exists()


def test_missing_model_file(tmp_path):
    assert_user_error(cli("layout", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "o")), "not found")


def test_corrupt_phases_file(tmp_path):
    bad = tmp_path / "phases.npz"
    bad.write_bytes(b"PK\x03\x04 truncated zip")
    res = cli("layout", str(bad), "--out", str(tmp_path / "o"))
    assert_user_error(res, "phases.npz")


def test_bad_pruned_mzi_option(tmp_path):
    res = cli("layout", str(tmp_path / "p.npz"), "--out", str(tmp_path / "o"), "--pruned-mzi", "delete")
    assert res.returncode != 0
    assert "Traceback" not in res.stderr


def test_verify_missing_folder(tmp_path):
    assert_user_error(cli("verify", str(tmp_path / "none")), "output folder not found")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert_user_error(cli("run", "--out", str(ro / "o")), "not writable")
    finally:
        ro.chmod(0o700)


def test_output_path_is_a_file(tmp_path):
    f = tmp_path / "o"
    f.write_text("keep me")
    cfg = write_cfg(tmp_path, "train:\n  epochs: 1\n")
    assert_user_error(cli("run", "--out", str(f), "--config", str(cfg)), "not a folder")
    assert f.read_text() == "keep me"


def test_output_parent_is_a_file(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    res = cli("run", "--out", str(blocker / "o"))
    assert_user_error(res, "Not a directory")
    assert blocker.read_text() == "a file where a folder should be"


def test_bad_prune_key_is_named_before_training(tmp_path):
    cfg = write_cfg(tmp_path, "prune:\n  methd: lth\n")
    res = cli("run", "--out", str(tmp_path / "o"), "--config", str(cfg))
    assert_user_error(res, "methd")
    assert not (tmp_path / "o").exists()


def test_bad_robustness_value_is_named(tmp_path):
    cfg = write_cfg(tmp_path, "robustness:\n  trials: 0\n")
    assert_user_error(cli("run", "--out", str(tmp_path / "o"), "--config", str(cfg)), "trials")


def _foreign_npz(p: Path) -> None:
    np.savez(p, X=np.ones((4, 3)), y=np.arange(4))


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("text.npz", lambda p: p.write_text("hello, not numpy\n"), "not a zip/npz archive"),
        ("empty.npz", lambda p: p.write_bytes(b""), "empty file"),
        ("foreign.npz", _foreign_npz, "no gf_prune header"),
        ("text.pt", lambda p: p.write_text("hello, not torch\n"), "not a torch archive"),
    ],
)
def test_unreadable_layout_input_is_named_once(tmp_path, name, make, reason):
    """One line, said once: the file and what is wrong with it; no nested '(ValueError: …)'."""
    bad = tmp_path / name
    make(bad)
    res = cli("layout", str(bad), "--out", str(tmp_path / "o"))
    assert_user_error(res, name, reason, "not a readable gf_prune")
    line = res.stderr.strip()
    assert line.count(name) == 1, line
    assert line.count("not a readable") == 1, line
    assert "(ValueError:" not in line and "pickled" not in line, line
    assert not (tmp_path / "o" / "network.gds").exists()
