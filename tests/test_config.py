"""Config validation: defaults, and errors that name the bad key."""

from __future__ import annotations

import pytest

from gf_prune.config import ConfigError, RunConfig, load_config


def test_defaults_are_the_reference_setup():
    cfg = load_config(None)
    assert cfg.model.sizes is None and cfg.model.hidden == [16, 16]  # 16 → 16 → 16 → 10 from the digits data
    assert cfg.model.bias == "auto" and cfg.seed == 0 and cfg.data.val_fraction == 0.15
    assert cfg.model.mesh_kind == "clements"
    assert cfg.model.zero_state == "bar"
    assert cfg.p_pi_mw == 25.0
    assert cfg.data.source == "digits"


def test_yaml_round_trip(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("train:\n  epochs: 7\nmodel:\n  zero_state: cross\n")
    cfg = load_config(p)
    assert cfg.train.epochs == 7 and cfg.model.zero_state == "cross"
    assert isinstance(cfg, RunConfig)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("train:\n  epoch: 3\n", "train.epoch: unknown key"),
        ("trian:\n  epochs: 3\n", "trian: unknown key"),
        ("train:\n  lr: -1\n", "train.lr"),
        ("model:\n  zero_state: diagonal\n", "model.zero_state"),
        ("model:\n  sizes: [16]\n", "model.sizes"),
        ("layout:\n  pruned_mzi: delete\n", "layout.pruned_mzi"),
        ("p_pi_mw: zero\n", "p_pi_mw"),
        ("prune:\n  method: bogus\n", "prune.method"),
        ("prune:\n  learning_rate: 0.1\n", "prune.learning_rate: unknown key"),
        ("model:\n  bias: sometimes\n", "model.bias"),
        ("model:\n  hidden: [16, 0]\n", "model.hidden"),
        ("data:\n  val_fraction: 0.7\n", "data.val_fraction"),
        ("data:\n  encoding: polar\n", "data.encoding"),
        ("model:\n  seed: 3\n", "model.seed: unknown key"),
    ],
)
def test_bad_key_or_value_is_named(tmp_path, text, named):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_config(p)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    p = tmp_path / "c.yaml"
    p.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)
    p.write_text("- a list\n- not a mapping\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(p)
