"""Import your own trained torch MLP and compile its linear layers to a chip.

Each ``nn.Linear`` becomes one SVD layer; a non-zero bias b becomes the optical bias mode (one more V
input driven by a constant field: W' = [W | b] at unit amplitude). The nonlinearity between layers stays
yours (here: ReLU in the electronic domain).

    .venv/bin/python examples/import_torch_mlp.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from gf_prune.data import load_digits_fft16
from gf_prune.importer import model_from_linears


def train_user_mlp() -> nn.Sequential:
    torch.manual_seed(0)
    data = load_digits_fft16()
    x = torch.cat([data.X_train.real, data.X_train.imag], 1).float()[:, ::2]  # 16 real features
    mlp = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 10))
    opt = torch.optim.Adam(mlp.parameters(), lr=0.02)
    for _ in range(200):
        opt.zero_grad()
        nn.functional.cross_entropy(mlp(x), data.y_train).backward()
        opt.step()
    return mlp


def main() -> None:
    mlp = train_user_mlp()
    photonic = model_from_linears(mlp)  # one SVD layer (V† mesh, Σ, U mesh) per nn.Linear
    net = photonic.to_phases()
    for i, (lin, w) in enumerate(zip([m for m in mlp if isinstance(m, nn.Linear)], net.matrices(), strict=True)):
        x = np.random.default_rng(i).normal(size=(5, lin.in_features))
        ref = np.abs(x @ lin.weight.detach().numpy().T + lin.bias.detach().numpy())
        xb = np.concatenate([x, np.ones((5, 1))], axis=1)  # the bias mode at unit amplitude
        print(f"layer {i}: max | |Wx + b| − |W_mesh [x; 1]| | = {np.abs(ref - np.abs(xb @ w.T)).max():.2e}")
    out = Path("out/imported")
    out.mkdir(parents=True, exist_ok=True)
    from gf_prune.layout import compile_network

    figures = compile_network(net, out)
    print("layout:", figures)
    from gf_prune.verify import verify

    res = verify(out / "network.gds", net)
    print(f"SAX max relative error {res.max_rel_error:.2e}, passed: {res.passed}")


if __name__ == "__main__":
    main()
