"""Importing a user's trained layers: exact |W x|, clear errors for bias / non-unitary / NaN."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import unitary_group
from torch import nn

from gf_prune.importer import load_weights_file, model_from_linears, model_from_matrices, model_from_svd


def test_linears_are_realised_up_to_output_phases():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(6, 5, bias=False), nn.ReLU(), nn.Linear(5, 3, bias=False))
    net = model_from_linears(mlp).to_phases()
    x = np.random.default_rng(1).normal(size=(7, 6))
    w0 = mlp[0].weight.detach().numpy().astype(np.float64)
    ref = np.abs(x @ w0.T)
    got = np.abs(x @ net.matrices()[0].T)
    assert np.abs(ref - got).max() <= 1e-10 * np.abs(ref).max()
    assert [lp.n_out for lp in net.layers] == [5, 3]


def test_linear_bias_maps_to_the_optical_bias_mode(tmp_path):
    """An nn.Linear with a bias becomes a layer one V input wider; |W' [x; 1]| = |W x + b| exactly."""
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3, bias=False))
    model = model_from_linears(mlp)
    assert model.bias and [layer.n_in for layer in model.layers] == [5, 6]
    net = model.to_phases()
    assert net.bias_amps == [1.0, 1.0]
    x = np.random.default_rng(1).normal(size=(9, 4))
    ref = np.abs(mlp[0](torch.as_tensor(x, dtype=torch.float32)).detach().numpy().astype(np.float64))
    w0 = net.matrices()[0]
    got = np.abs(np.concatenate([x, np.ones((9, 1))], axis=1) @ w0.T)
    assert np.abs(ref - got).max() <= 1e-5 * np.abs(ref).max()
    assert np.abs(w0[:, -1]).max() > 0 and np.allclose(np.abs(net.matrices()[1][:, -1]), 0, atol=1e-12)
    # the same through the model's own forward pass (bias appended by the network)
    h = model.layers[0](torch.as_tensor(x))
    assert np.abs(np.abs(h.detach().numpy()) - ref).max() <= 1e-5 * np.abs(ref).max()
    # a state dict with biases and a weights.npz with bias_amp{i} both import to the bias mode
    torch.save(mlp.state_dict(), tmp_path / "sd.pt")
    assert load_weights_file(tmp_path / "sd.pt").bias
    np.savez(tmp_path / "w.npz", W0=w0, W1=net.matrices()[1], bias_amp0=2.0, bias_amp1=2.0)
    m2 = load_weights_file(tmp_path / "w.npz")
    assert [float(a) for a in m2.bias_amps()] == [2.0, 2.0]
    np.savez(tmp_path / "bad.npz", W0=w0, W1=net.matrices()[1], bias_amp0=2.0)
    with pytest.raises(ValueError, match="bias_amp1"):
        load_weights_file(tmp_path / "bad.npz")


def test_svd_factors_must_be_unitary():
    u = unitary_group.rvs(4, random_state=0)
    bad = u.copy()
    bad[0, 0] += 0.1
    with pytest.raises(ValueError, match=r"U0 is not unitary: ‖U†U − I‖_F = \d"):
        model_from_svd([(bad, np.ones(4), u)])
    m = model_from_svd([(u, np.array([2.0, 1.0, 0.5, 0.1]), u.conj().T)])
    assert m.layers[0].n_in == 4


def test_bad_matrices():
    with pytest.raises(ValueError, match="NaN"):
        model_from_matrices([np.full((3, 3), np.nan)])
    with pytest.raises(ValueError, match="W1 has 4 inputs but W0 has 3 outputs"):
        model_from_matrices([np.ones((3, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match="2-D"):
        model_from_matrices([np.ones(3)])


def test_weights_file_formats(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 5)) + 1j * rng.normal(size=(4, 5))
    np.savez(tmp_path / "w.npz", W0=w)
    m = load_weights_file(tmp_path / "w.npz")
    x = rng.normal(size=(3, 5))
    assert np.allclose(np.abs(x @ m.to_phases().matrices()[0].T), np.abs(x @ w.T), atol=1e-10)
    np.savez(tmp_path / "junk.npz", A=np.ones(3))
    with pytest.raises(ValueError, match="expected arrays W0"):
        load_weights_file(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError):
        load_weights_file(tmp_path / "none.npz")
