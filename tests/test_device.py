"""``--device`` / the config's ``device``: an unavailable device is refused in one line before any work;
``cpu`` named explicitly is bit-identical to the default; the device reaches every training loop and the
Monte-Carlo, and the torch code holds no hidden CPU tensors (checked on the ``meta`` device)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_cli_errors import assert_user_error, cli, write_cfg

from gf_prune import device as devmod
from gf_prune.config import ConfigError, RunConfig, validate
from gf_prune.data import Dataset
from gf_prune.device import DeviceError, resolve_device
from gf_prune.imperfections import Imperfections
from gf_prune.model import PhotonicMLP, SVDLayer
from gf_prune.train import TrainConfig, fit


@pytest.fixture
def cpu_only(monkeypatch):
    """This machine as a CPU-only one, whatever it has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def one_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def tiny_data(seed: int = 0) -> Dataset:
    """60/30/30 samples of 4 complex features in 3 classes (a class-dependent mean: learnable)."""
    g = np.random.default_rng(seed)

    def part(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % 3
        x = g.normal(size=(n, 4)) + 1j * g.normal(size=(n, 4)) + 2.0 * np.eye(4)[y]
        return x / np.linalg.norm(x, axis=1, keepdims=True), y

    (xt, yt), (xv, yv), (xs, ys) = part(60), part(30), part(30)
    return Dataset.from_tensors("tiny", xt, yt, xs, ys, xv, yv)


# ----------------------------------------------------------------------------- refusals


def test_cpu_is_the_default_and_always_available(cpu_only):
    assert RunConfig().device == "cpu"
    assert resolve_device(None) == resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:7", "mps"])
def test_missing_accelerator_names_device_and_what_is_available(cpu_only, name):
    with pytest.raises(DeviceError, match=rf"device '{name}' is not available on this machine \(available: cpu\)"):
        resolve_device(name)


def test_gpu_index_beyond_the_machine(one_gpu):
    assert resolve_device("cuda") == torch.device("cuda", 0)
    with pytest.raises(DeviceError, match=r"'cuda:7' is not available .*\(available: cpu, cuda:0\)"):
        resolve_device("cuda:7")


@pytest.mark.parametrize("name", ["gpu", "GPU", "cuda:x", "  ", "cpu cuda", "meta", "cuda:-1"])
def test_not_a_usable_torch_device(name):
    with pytest.raises(DeviceError, match=rf"{name!r} is not one of cpu, cuda, cuda:N, mps"):
        resolve_device(name)


def test_config_device_typo_names_the_key():
    with pytest.raises(ConfigError, match=r"device: .*'gpu' is not one of cpu, cuda, cuda:N, mps"):
        validate(RunConfig, {"device": "gpu"})
    assert validate(RunConfig, {"device": "cuda:3"}).device == "cuda:3"  # availability: checked at run time


@pytest.mark.parametrize(
    "cmd",
    ["run", "train", pytest.param("prune", marks=pytest.mark.slow), pytest.param("robustness", marks=pytest.mark.slow)],
)
def test_cli_refuses_a_missing_gpu_before_any_output(tmp_path, cmd):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    out = tmp_path / "o"
    args = [cmd, str(out)] if cmd == "robustness" else [cmd, "--out", str(out)]
    if cmd == "robustness":
        out.mkdir()  # robustness needs an existing folder; nothing may be written into it
    assert_user_error(cli(*args, "--device", "cuda"), "device 'cuda'", "available: cpu")
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
def test_cli_device_typo_and_config_gpu(tmp_path):
    assert_user_error(cli("train", "--out", str(tmp_path / "o"), "--device", "gpu"), "'gpu'", "not one of cpu, cuda")
    if not torch.cuda.is_available():
        cfg = write_cfg(tmp_path, "device: cuda:7\ntrain: {epochs: 1}\n")
        assert_user_error(cli("run", "--out", str(tmp_path / "o"), "--config", str(cfg)), "'cuda:7'", "available")
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- cpu named = default


def test_fit_on_explicit_cpu_is_bit_identical():
    data = tiny_data()
    runs = []
    for device in (None, "cpu"):
        m = PhotonicMLP([4, 5, 3], init="zero", init_std=0.5, seed=1)
        res = fit(m, data, TrainConfig(epochs=15, lr=0.05, batch_size=16, seed=2, device=device))
        runs.append((res.history, {k: v.clone() for k, v in m.state_dict().items()}))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])


def test_stage_train_and_prune_on_explicit_cpu_are_bit_identical(tmp_path):
    from gf_prune.pipeline import stage_prune, stage_train

    data = tiny_data()
    prune = {"dense_epochs": 8, "finetune_epochs": 4, "soft_epochs": 2, "max_rounds": 1, "max_steps": 1}
    outs = []
    for i, extra in enumerate(({}, {"device": "cpu"})):
        cfg = validate(RunConfig, {"model": {"hidden": [5]}, "train": {"epochs": 8}, "prune": prune, **extra})
        out = tmp_path / str(i)
        out.mkdir()
        stage_train(out, cfg, data)
        stage_prune(out, cfg, data)
        outs.append(out)
    for name in ("model_dense.pt", "model_pruned.pt"):
        a, b = (torch.load(o / name, weights_only=True)["state_dict"] for o in outs)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    a, b = (np.load(o / "phases.npz") for o in outs)
    assert sorted(a.files) == sorted(b.files) and all(np.array_equal(a[k], b[k]) for k in a.files)


def test_monte_carlo_on_explicit_cpu_is_bit_identical():
    from gf_prune.montecarlo import monte_carlo_accuracy

    data = tiny_data()
    m = PhotonicMLP([4, 5, 3], init="zero", init_std=0.8, seed=0)
    imp = Imperfections(sigma_ps=0.05, sigma_bs=0.02, loss_db=0.2, bits=6, crosstalk=0.01)
    a = monte_carlo_accuracy(m, data.X_test, data.y_test, imp, trials=20, seed=3)
    b = monte_carlo_accuracy(m, data.X_test, data.y_test, imp, trials=20, seed=3, device="cpu")
    assert np.array_equal(a, b)


# ----------------------------------------------------------------------------- the device threaded through


def test_network_and_monte_carlo_hold_no_hidden_cpu_tensors():
    """On ``meta`` any tensor made on the CPU by the forward pass, the backward pass or the perturbed
    meshes would raise a device mismatch: every one follows the model's device."""
    from gf_prune.montecarlo import perturbed_matrices

    for kind, sizes in (("clements", [4, 6, 3]), ("clements", [20, 20, 3]), ("reck", [5, 4]), ("butterfly", [6, 5])):
        m = PhotonicMLP(sizes, kind, init="zero", init_std=0.3, bias=True).to("meta")
        x = torch.zeros(7, sizes[0], dtype=torch.complex128, device="meta")
        loss = torch.nn.functional.nll_loss(m(x), torch.zeros(7, dtype=torch.long, device="meta"))
        loss.backward()
        assert loss.device.type == "meta" and m.layers[0].V_theta.grad.device.type == "meta"
        imp = Imperfections(sigma_ps=0.01, sigma_bs=0.01, loss_db=0.1, bits=6, crossing_loss_db=0.1)
        imp = imp.model_copy(update={"loss_compensation": False, "waveguide_loss_db": 0.01})
        mats = perturbed_matrices(m, imp, trials=3)
        assert all(w.device.type == "meta" and w.shape[0] == 3 for w in mats), kind


def test_fit_runs_its_loop_on_the_device_and_brings_the_model_home(monkeypatch):
    """``TrainConfig.device``: the model is sent there before the loop, home around ``after_epoch`` and after
    the loop; the batches go to the device. The moves are recorded by a mock ``model.to`` (a model on ``meta``
    holds no values to bring back); the loss is a CPU stand-in."""
    import gf_prune.train as train_mod

    monkeypatch.setattr(train_mod, "accuracy", lambda model, x, y: 0.0)  # no values on meta
    events: list[tuple[str, ...]] = []
    m = PhotonicMLP([4, 5, 3], init="zero", seed=0)
    m.to = lambda dev: events.append(("to", str(dev))) or m  # type: ignore[method-assign]

    def objective(model, x, y):
        events.append(("batch", x.device.type, y.device.type))
        return torch.ones((), requires_grad=True) * 1.0

    cfg = TrainConfig(epochs=2, batch_size=30, device="meta")
    fit(m, tiny_data(), cfg, objective=objective, after_epoch=lambda e, model: events.append(("after_epoch",)))
    batch = ("batch", "meta", "meta")
    epoch = [batch, batch, ("to", "cpu"), ("after_epoch",), ("to", "meta")]
    assert events == [("to", "meta"), *epoch, *epoch, ("to", "cpu")]


def test_pipeline_passes_the_device_to_every_loop(tmp_path, monkeypatch):
    """train, each of pruning's training loops and every Monte-Carlo call get the config's device."""
    import gf_prune.montecarlo as mc_mod
    import gf_prune.pipeline as pipe
    import gf_prune.prune as prune_mod
    import gf_prune.robustness as rob_mod
    from gf_prune.train import fit as real_fit

    monkeypatch.setattr(devmod, "available_devices", lambda: ["cpu", "cuda:0"])
    devices: dict[str, set[str | None]] = {"train": set(), "prune": set(), "mc": set()}

    def spy(stage):
        def f(model, data, cfg=None, *a, **kw):
            devices[stage].add(cfg.device)
            return real_fit(model, data, TrainConfig(**{**cfg.__dict__, "device": None}), *a, **kw)

        return f

    real_mc = mc_mod.monte_carlo_accuracy

    def mc_spy(*a, device=None, **kw):
        if len(a) > 9:
            a, device = a[:9], a[9]
        devices["mc"].add(device)
        return real_mc(*a, **kw)

    monkeypatch.setattr(pipe, "fit", spy("train"))
    monkeypatch.setattr(prune_mod, "fit", spy("prune"))
    monkeypatch.setattr(rob_mod, "monte_carlo_accuracy", mc_spy)
    data = tiny_data()
    prune = {"dense_epochs": 4, "finetune_epochs": 2, "soft_epochs": 2, "max_rounds": 1, "max_steps": 1}
    rob = {"trials": 3, "plots": False, "sigma_ps": [0.01], "bits": [8], "sigma_bs": [0.01], "loss_db": [0.1]}
    rob["crosstalk"] = [0.0]
    cfg = validate(
        RunConfig,
        {"model": {"hidden": [5]}, "train": {"epochs": 4}, "prune": prune, "robustness": rob, "device": "cuda"},
    )
    pipe.stage_train(tmp_path, cfg, data)
    pipe.stage_prune(tmp_path, cfg, data)
    pipe.stage_robustness(tmp_path, cfg, data)
    assert devices == {"train": {"cuda:0"}, "prune": {"cuda:0"}, "mc": {"cuda:0"}}


def test_mask_hook_follows_the_buffer_after_a_move():
    """``module.to(device)`` replaces mask buffers; the gradient hook must use the new one (a captured
    tensor would be stale, and on the old device)."""
    layer = SVDLayer(4, 4, init="zero", init_std=0.5)
    layer._apply(lambda t: t.clone())  # what .to(another device) does to buffers: new tensors
    mask = torch.ones(layer.V_theta.numel(), dtype=torch.bool)
    mask[1] = False
    layer.set_mask("V", "theta", mask)
    (layer.V_theta**2).sum().backward()  # the raw parameter: only the hook can zero the pruned gradient
    assert layer.V_theta.grad[1] == 0 and bool((layer.V_theta.grad[mask] != 0).any())


def test_a_model_saved_from_any_device_loads_on_cpu(tmp_path):
    m = PhotonicMLP([4, 5, 3], init="zero", seed=0)
    m.save(tmp_path / "m.pt")
    blob = torch.load(tmp_path / "m.pt", weights_only=True)
    assert all(v.device.type == "cpu" for v in blob["state_dict"].values())
    loaded, _ = PhotonicMLP.load(tmp_path / "m.pt")
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), loaded.state_dict().values(), strict=True))
