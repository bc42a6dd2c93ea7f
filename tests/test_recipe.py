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
