"""The training recipe's ``auto`` values: the learning rate follows the kind and width of the input."""

from __future__ import annotations

import numpy as np
import pytest

from gf_prune.config import ConfigError, RunConfig, validate
from gf_prune.data import Dataset, load_dataset
from gf_prune.pipeline import LR_DEFAULT, LR_WIDE_FOURIER, train_lr


@pytest.fixture(scope="module")
def fft64() -> Dataset:
    return load_dataset("digits-fft64")


def feature_rows(d: int) -> Dataset:
    g = np.random.default_rng(0)
    x, y = g.normal(size=(30, d)) + 0j, np.arange(30) % 3
    return Dataset.from_tensors("rows", x, y, x, y, x, y)


def test_auto_lr_by_input(digits, fft64):
    auto = RunConfig()
    assert auto.train.lr == "auto"
    assert fft64.n_features == 64 and not fft64.feature_rows
    assert train_lr(auto, fft64) == LR_WIDE_FOURIER > LR_DEFAULT
    assert train_lr(auto, digits) == LR_DEFAULT == 0.02  # FFT-16: unchanged
    assert train_lr(auto, feature_rows(64)) == LR_DEFAULT  # feature rows of any width: unchanged


def test_explicit_lr_wins(fft64):
    assert train_lr(validate(RunConfig, {"train": {"lr": 0.03}}), fft64) == 0.03


@pytest.mark.parametrize("bad", [-1, 0, "fast"])
def test_bad_lr_names_the_key(bad):
    with pytest.raises(ConfigError, match=r"train\.lr"):
        validate(RunConfig, {"train": {"lr": bad}})


def fourier_like(n_features: int) -> Dataset:
    """A tiny set that says it holds Fourier features of images (``kind: fft``)."""
    from gf_prune.data import Preprocessing

    rows = feature_rows(n_features)
    side = round(n_features**0.5)
    rows.preprocessing = Preprocessing("fft", side * side, [0, 1, 2], fft_block=side, image_shape=(side, side))
    return rows


def test_train_stage_and_pruning_use_the_resolved_lr(tmp_path, monkeypatch):
    import gf_prune.prune as prune_mod
    from gf_prune.pipeline import read_json, stage_prune, stage_train

    data = fourier_like(64)
    assert not data.feature_rows and train_lr(RunConfig(), data) == LR_WIDE_FOURIER
    cfg = validate(RunConfig, {"model": {"hidden": [3]}, "train": {"epochs": 2}})
    stage_train(tmp_path, cfg, data)
    assert read_json(tmp_path / "train.json")["lr"] == LR_WIDE_FOURIER
    seen = {}

    class Stop(Exception):
        pass

    def spy(model, data, config, **kw):
        seen.update(lr=config.lr, dense_epochs=config.dense_epochs)
        raise Stop

    monkeypatch.setattr(prune_mod, "run_pruning", spy)
    with pytest.raises(Stop):
        stage_prune(tmp_path, cfg, data)
    assert seen == {"lr": LR_WIDE_FOURIER, "dense_epochs": 2}
    with pytest.raises(Stop):  # an explicit prune.lr wins
        stage_prune(tmp_path, validate(RunConfig, {**cfg.model_dump(), "prune": {"lr": 0.03}}), data)
    assert seen["lr"] == 0.03
