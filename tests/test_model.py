"""SVD layers on phases, the SC-IPNN, its file format and deterministic training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from gf_prune.data import Dataset
from gf_prune.mesh import mesh_unitary, topology
from gf_prune.model import PhotonicMLP, SVDLayer, modulus_softplus
from gf_prune.phases import NetworkPhases
from gf_prune.physics import attenuator_transfer
from gf_prune.train import TrainConfig, accuracy, fit


def rel(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def random_complex(shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape) + 1j * rng.normal(size=shape)


def numpy_layer_matrix(layer: SVDLayer) -> np.ndarray:
    """Independent float64 reference: U · Σ · V† from the layer's (masked) phases."""

    def ph(mesh, kind):
        return layer.phase(mesh, kind).detach().numpy()

    zs = layer.zero_state
    u = mesh_unitary(topology(layer.n_out, layer.mesh_kind), ph("U", "theta"), ph("U", "phi"), None, zs)
    if layer.screen is not None:
        u = np.exp(1j * layer.screen.detach().numpy())[:, None] * u
    vh = mesh_unitary(topology(layer.n_in, layer.mesh_kind), ph("V", "theta"), ph("V", "phi"), None, zs)
    sigma = np.zeros((layer.n_out, layer.n_in), dtype=complex)
    k = layer.k
    sigma[range(k), range(k)] = attenuator_transfer(ph("S", "theta"), ph("S", "phi"), zs) * float(layer.gain.detach())
    return u @ sigma @ vh


# ----------------------------------------------------------------------------- SVD layer


@pytest.mark.parametrize("zero_state", ["bar", "cross"])
@pytest.mark.parametrize("mesh_kind", ["clements", "reck"])
@pytest.mark.parametrize(("n_in", "n_out"), [(16, 16), (16, 10), (10, 16), (1, 3)])
def test_layer_realises_u_sigma_vh(n_in, n_out, mesh_kind, zero_state):
    g = torch.Generator().manual_seed(n_in * 100 + n_out)
    layer = SVDLayer(n_in, n_out, mesh_kind, zero_state, generator=g)
    with torch.no_grad():
        layer.log_gain.fill_(0.3)
    w = layer.matrix().detach().numpy()
    assert w.shape == (n_out, n_in)
    np.testing.assert_allclose(w, numpy_layer_matrix(layer), atol=1e-12)
    x = torch.tensor(random_complex((5, n_in), 1))
    np.testing.assert_allclose(layer(x).detach().numpy(), x.numpy() @ w.T, atol=1e-12)


def test_layer_meshes_are_unitary():
    layer = SVDLayer(12, 7, generator=torch.Generator().manual_seed(3))
    u, vh = (m.detach().numpy() for m in layer.unitaries())
    for m in (u, vh):
        np.testing.assert_allclose(m.conj().T @ m, np.eye(len(m)), atol=1e-12)


def test_zero_init_is_near_bar():
    layer = SVDLayer(8, 8, init="zero", init_std=0.0)
    np.testing.assert_allclose(np.abs(layer.matrix().detach().numpy()), np.eye(8), atol=1e-12)


@pytest.mark.parametrize("zero_state", ["bar", "cross"])
@pytest.mark.parametrize("mesh_kind", ["clements", "reck"])
@pytest.mark.parametrize(("n_out", "n_in"), [(16, 16), (10, 16), (16, 10)])
def test_from_matrix_reproduces_w(n_out, n_in, mesh_kind, zero_state):
    w = random_complex((n_out, n_in), n_out + n_in)
    layer = SVDLayer.from_matrix(w, mesh_kind, zero_state)
    assert rel(layer.matrix().detach().numpy(), w) <= 1e-6
    assert layer.n_in == n_in and layer.n_out == n_out


@pytest.mark.parametrize(("n_out", "n_in"), [(16, 16), (10, 16), (16, 10)])
def test_from_matrix_without_output_phases_keeps_modulus(n_out, n_in):
    w = random_complex((n_out, n_in), 7)
    layer = SVDLayer.from_matrix(w, output_phases=False)
    assert layer.screen is None
    x = random_complex((20, n_in), 8)
    got = layer(torch.tensor(x)).abs().detach().numpy()
    assert rel(got, np.abs(x @ w.T)) <= 1e-6


def test_from_matrix_rank_deficient_and_zero():
    w = np.outer(random_complex(6, 1), random_complex(4, 2))  # rank 1
    assert rel(SVDLayer.from_matrix(w).matrix().detach().numpy(), w) <= 1e-6
    assert np.abs(SVDLayer.from_matrix(np.zeros((3, 3))).matrix().detach().numpy()).max() <= 1e-12


@pytest.mark.parametrize(("n_in", "n_out"), [(16, 10), (10, 16), (16, 16)])
def test_from_linear_reproduces_outputs(n_in, n_out):
    torch.manual_seed(0)
    lin = nn.Linear(n_in, n_out, bias=False).double()
    w = lin.weight.detach().numpy()
    assert rel(SVDLayer.from_linear(lin).matrix().detach().numpy(), w) <= 1e-6
    layer = SVDLayer.from_linear(lin, output_phases=False)
    x = torch.randn(30, n_in, dtype=torch.float64)
    assert rel(layer(x).abs().detach().numpy(), lin(x).abs().detach().numpy()) <= 1e-6


def test_from_linear_float32():
    torch.manual_seed(1)
    lin = nn.Linear(8, 5, bias=False)
    assert rel(SVDLayer.from_linear(lin).matrix().detach().numpy(), lin.weight.detach().double().numpy()) <= 1e-6


def test_from_linear_bias_becomes_the_bias_mode():
    torch.manual_seed(0)
    lin = nn.Linear(4, 3, bias=True)
    layer = SVDLayer.from_linear(lin)
    assert layer.bias and layer.n_in == 5 and layer.n_signal == 4
    x = torch.randn(6, 4, dtype=torch.float64)
    ref = (x @ lin.weight.detach().double().T + lin.bias.detach().double()).abs()
    torch.testing.assert_close(layer(x).abs(), ref, rtol=1e-5, atol=1e-6)


def test_bias_mode_round_trips_through_phases_and_save(tmp_path):
    model = PhotonicMLP((5, 4, 3), init="zero", init_std=0.5, seed=2, bias=True)
    with torch.no_grad():
        model.layers[1].bias_amp.fill_(0.7)
    assert [layer.n_in for layer in model.layers] == [6, 5]
    x = torch.as_tensor(random_complex((8, 5), 3))
    back = PhotonicMLP.from_phases(model.to_phases())
    torch.testing.assert_close(back(x), model(x))
    model.save(tmp_path / "m.pt")
    loaded, _ = PhotonicMLP.load(tmp_path / "m.pt")
    torch.testing.assert_close(loaded(x), model(x))
    # the network built from its matrices with the bias amplitudes computes the same fields
    net = model.to_phases()
    torch.testing.assert_close(
        PhotonicMLP.fields_from_matrices(net.matrices(), x, net.bias_amps), model.fields(x), rtol=1e-10, atol=1e-12
    )
    # an independent reference: append the bias field by hand, layer by layer
    h = x
    for i, w in enumerate(net.matrices()):
        if i:
            h = torch.nn.functional.softplus(h.abs()).to(torch.complex128)
        h = torch.cat([h, torch.full((len(h), 1), net.bias_amps[i], dtype=torch.complex128)], 1) @ torch.as_tensor(w).T
    torch.testing.assert_close(h, model.fields(x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "bad", [np.zeros(4), np.zeros((2, 2, 2)), np.zeros((0, 3)), np.array([[1.0, np.nan], [0.0, 1.0]])]
)
def test_from_matrix_bad_input(bad):
    with pytest.raises(ValueError, match="W"):
        SVDLayer.from_matrix(bad)


@pytest.mark.parametrize(
    "kwargs",
    [dict(n_in=0, n_out=3), dict(n_in=4, n_out=4, mesh_kind="hex"), dict(n_in=4, n_out=4, init="normal")],
)
def test_layer_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        SVDLayer(**kwargs)


def test_layer_bad_zero_state():
    with pytest.raises(ValueError, match="zero_state"):
        SVDLayer(4, 4, zero_state="open")


# ----------------------------------------------------------------------------- masks


def _prune_some(model: PhotonicMLP, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    masks = {}
    for li, mesh, kind, p, _ in model.phase_items():
        m = torch.rand(p.shape, generator=g) > 0.4
        model.layers[li].set_mask(mesh, kind, m)
        masks[f"{li}.{mesh}_{kind}"] = m
    return masks


def test_pruned_phases_stay_zero_under_adam():
    torch.manual_seed(0)
    model = PhotonicMLP(seed=1)
    masks = _prune_some(model)
    x = torch.randn(64, 16, dtype=torch.complex128)
    y = torch.randint(0, 10, (64,))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(30):
        opt.zero_grad()
        nn.functional.nll_loss(model(x), y).backward()
        for li, mesh, kind, p, _ in model.phase_items():
            m = masks[f"{li}.{mesh}_{kind}"]
            assert torch.all(p.grad[~m] == 0), "a pruned phase received a gradient"
            assert torch.any(p.grad[m] != 0)
        opt.step()
        model.apply_masks()
    for li, mesh, kind, p, _ in model.phase_items():
        m = masks[f"{li}.{mesh}_{kind}"]
        assert torch.all(p[~m] == 0.0)
        assert torch.all(model.layers[li].phase(mesh, kind)[~m] == 0.0)


def test_pruned_phase_is_zero_in_forward_even_before_apply_masks():
    layer = SVDLayer(4, 4, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(6, dtype=torch.bool)
    mask[2] = False
    with torch.no_grad():
        layer.V_theta_mask.copy_(mask)  # mask changed, stored value still non-zero
    assert layer.V_theta[2] != 0 and layer.phase("V", "theta")[2] == 0
    np.testing.assert_allclose(layer.matrix().detach().numpy(), numpy_layer_matrix(layer), atol=1e-12)


def test_set_mask_checks_shape():
    layer = SVDLayer(4, 4)
    with pytest.raises(ValueError, match="shape"):
        layer.set_mask("U", "phi", torch.ones(5, dtype=torch.bool))


# ----------------------------------------------------------------------------- addressing and counts


def test_every_phase_addressable_and_counted():
    model = PhotonicMLP((16, 16, 16, 10))
    net = model.to_phases()
    rows = list(net.iter_phases())
    keys = [(li, mesh, c, r, kind) for li, mesh, c, r, kind, _, _ in rows]
    assert len(keys) == len(set(keys)) == 1374
    assert sum(1 for k in keys if k[1] in ("U", "V")) == 1290
    assert sum(1 for k in keys if k[1] == "S") == 84
    assert sum(p.numel() for *_, p, _ in model.phase_items()) == 1374
    # each address points at the model's own parameter value
    for li, mesh, c, r, kind, raw, live in rows[::37]:
        layer = model.layers[li]
        k = r if mesh == "S" else getattr(layer, f"topo_{mesh}").index(c, r)
        assert getattr(layer, f"{mesh}_{kind}")[k].item() == raw and live
    heaters = net.heater_rows()
    assert len(heaters) == 1374 and len({h["instance"] + h["kind"] for h in heaters}) == 1374


# ----------------------------------------------------------------------------- conversion and files


def test_to_phases_from_phases_round_trip(tmp_path):
    model = PhotonicMLP(seed=4)
    _prune_some(model, 2)
    net = model.to_phases()
    back = PhotonicMLP.from_phases(net)
    x = torch.tensor(random_complex((9, 16), 3))
    torch.testing.assert_close(back(x), model(x), rtol=0, atol=1e-12)
    for (_, _, _, p, m), (_, _, _, q, n) in zip(model.phase_items(), back.phase_items(), strict=True):
        assert torch.equal(p, q) and torch.equal(m, n)
    for w_t, w_np in zip(model.matrices(), net.matrices(), strict=True):
        np.testing.assert_allclose(w_t.detach().numpy(), w_np, atol=1e-12)
    net.save(tmp_path / "phases.npz")
    again = NetworkPhases.load(tmp_path / "phases.npz")
    for a, b in zip(again.matrices(), net.matrices(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_save_load_round_trip(tmp_path):
    model = PhotonicMLP((16, 12, 10), mesh_kind="reck", zero_state="cross", seed=5)
    _prune_some(model, 1)
    path = tmp_path / "model.pt"
    model.save(path, note="hello")
    loaded, blob = PhotonicMLP.load(path)
    assert blob["note"] == "hello" and loaded.config == model.config
    x = torch.tensor(random_complex((11, 16), 5))
    assert torch.equal(loaded(x), model(x))
    for (_, _, _, p, m), (_, _, _, q, n) in zip(model.phase_items(), loaded.phase_items(), strict=True):
        assert torch.equal(p, q) and torch.equal(m, n)


def test_load_rejects_nan_phases(tmp_path):
    model = PhotonicMLP(seed=0)
    path = tmp_path / "model.pt"
    model.save(path)
    blob = torch.load(path, weights_only=True)
    blob["state_dict"]["layers.1.U_phi"][3] = float("nan")
    torch.save(blob, path)
    with pytest.raises(ValueError, match="NaN"):
        PhotonicMLP.load(path)


def test_load_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        PhotonicMLP.load(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a readable"):
        PhotonicMLP.load(junk)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match="format"):
        PhotonicMLP.load(foreign)


def test_mlp_bad_sizes():
    with pytest.raises(ValueError, match="sizes"):
        PhotonicMLP((16,))
    with pytest.raises(ValueError, match="sizes"):
        PhotonicMLP((16, 0, 10))


def test_forward_is_log_probabilities():
    model = PhotonicMLP(seed=0)
    out = model(torch.tensor(random_complex((7, 16), 0)))
    assert out.shape == (7, 10)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(7, dtype=torch.float64))


# ----------------------------------------------------------------------------- training


def tiny_data(seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    centres = random_complex((3, 16), 42)
    y = rng.integers(0, 3, 60)
    x = centres[y] + 0.3 * random_complex((60, 16), seed + 1)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    t = torch.as_tensor
    return Dataset.from_tensors("tiny", t(x[:36]), t(y[:36]), t(x[48:]), t(y[48:]), t(x[36:48]), t(y[36:48]))


def test_training_is_deterministic():
    data = tiny_data()
    results, phases = [], []
    for _ in range(2):
        model = PhotonicMLP((16, 8, 3), seed=3)
        results.append(fit(model, data, TrainConfig(epochs=5, lr=0.05, batch_size=16, seed=7)))
        phases.append([p.detach().clone() for *_, p, _ in model.phase_items()])
    for a, b in zip(*phases, strict=True):
        assert torch.equal(a, b)
    assert results[0].history == results[1].history and len(results[0].history) == 5


def test_training_on_digits_is_deterministic():
    from gf_prune.data import load_digits_fft16

    data = load_digits_fft16()
    runs = []
    for _ in range(2):
        model = PhotonicMLP(seed=0)
        fit(model, data, TrainConfig(epochs=2))
        runs.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(runs[0], runs[1])


def test_training_lowers_loss_and_keeps_masks():
    data = tiny_data(1)
    model = PhotonicMLP((16, 8, 3), seed=0)
    masks = _prune_some(model, 5)
    res = fit(model, data, TrainConfig(epochs=40, lr=0.05))
    assert res.history[-1] < res.history[0]
    assert 0.0 <= res.val_acc <= 1.0 and res.train_acc == accuracy(model, data.X_train, data.y_train)
    for li, mesh, kind, p, _ in model.phase_items():
        assert torch.all(p[~masks[f"{li}.{mesh}_{kind}"]] == 0.0)


def test_fit_rejects_bad_config():
    with pytest.raises(ValueError):
        fit(PhotonicMLP((16, 3)), tiny_data(), TrainConfig(epochs=1, lr=0.0))


def test_gain_is_positive_scalar():
    layer = SVDLayer(4, 4)
    assert layer.gain.item() == pytest.approx(math.exp(0.0))


@pytest.mark.parametrize("mesh_kind", ["clements", "reck"])
def test_batched_network_matrices_equal_per_layer(mesh_kind):
    """PhotonicMLP builds all same-size meshes in one batch: same W and fields as layer by layer."""
    model = PhotonicMLP((16, 16, 12, 16, 10), mesh_kind=mesh_kind, seed=9)
    _prune_some(model, 3)
    model.layers[1] = SVDLayer.from_matrix(random_complex((12, 16), 4), mesh_kind)  # one layer with a screen
    for w, layer in zip(model.matrices(), model.layers, strict=True):
        torch.testing.assert_close(w, layer.matrix(), rtol=0, atol=1e-13)
    x = torch.tensor(random_complex((6, 16), 2))
    h = x
    for i, layer in enumerate(model.layers):
        h = layer(modulus_softplus(h).to(torch.complex128) if i else h)
    torch.testing.assert_close(model.fields(x), h, rtol=0, atol=1e-12)
    loss = model(x).sum()
    loss.backward()
    assert all(p.grad is not None for *_, p, _ in model.phase_items())


def test_custom_layer_subclass_uses_its_own_forward():
    class Doubled(SVDLayer):
        def forward(self, x):
            return 2 * super().forward(x)

    model = PhotonicMLP((4, 3), seed=0)
    plain = model.fields(torch.ones(1, 4, dtype=torch.complex128))
    doubled = Doubled(4, 3)
    doubled.load_state_dict(model.layers[0].state_dict())
    model.layers[0] = doubled
    torch.testing.assert_close(model.fields(torch.ones(1, 4, dtype=torch.complex128)), 2 * plain)


def test_load_rejects_inconsistent_file(tmp_path):
    model = PhotonicMLP(seed=0)
    path = tmp_path / "model.pt"
    model.save(path)
    blob = torch.load(path, weights_only=True)
    blob["config"]["sizes"] = [16, 12, 10]  # weights no longer fit the declared sizes
    torch.save(blob, path)
    with pytest.raises(ValueError, match="inconsistent"):
        PhotonicMLP.load(path)
    del blob["state_dict"]
    torch.save(blob, path)
    with pytest.raises(ValueError, match="inconsistent"):
        PhotonicMLP.load(path)


def test_phases_file_bad_input(tmp_path):
    net = PhotonicMLP(seed=0).to_phases()
    with pytest.raises(FileNotFoundError):
        NetworkPhases.load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable"):
        NetworkPhases.load(tmp_path / "junk.npz")
    net.layers[1].U.phi[2] = np.nan
    net.save(tmp_path / "nan.npz")
    with pytest.raises(ValueError, match=r"layer 1 mesh U has NaN or infinite phi"):
        NetworkPhases.load(tmp_path / "nan.npz")
    net.layers[1].U.phi = np.zeros(3)
    net.save(tmp_path / "short.npz")
    with pytest.raises(ValueError, match="shape"):
        NetworkPhases.load(tmp_path / "short.npz")
