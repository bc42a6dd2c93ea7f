"""Which loss of cspdk's models costs a cspdk chip's fidelity, once its convention is the PDK's own.

Reads ``DIR/network.gds``, ``DIR/phases.npz`` and ``DIR/layout.json`` of a chip laid out with ``layout.pdk:
cspdk`` (and the run's ``run_config.json`` for the data) and simulates it at the phases ``heaters.csv``
programs (trained − the heater offset in ``layout.json``) with cspdk's models, then with their losses set to 0
(all, the MMIs' ``loss_dB`` only, the waveguides' ``loss_dB_cm`` only). Prints a table; nothing asserted.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_pdk_convention.py DIR
"""

from __future__ import annotations

import argparse
import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _without(model: Callable[..., Any], keys: tuple[str, ...]) -> Callable[..., Any]:
    kw = {k: 0.0 for k in keys if k in inspect.signature(model).parameters}
    f = functools.partial(model, **kw)
    f.__name__, f.__module__ = model.__name__, model.__module__  # type: ignore[attr-defined]
    return f


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="folder of a chip laid out with layout.pdk: cspdk")
    args = ap.parse_args()

    from gf_prune.foundry import FoundryCheck, _split_arrays, layout_heater_offset
    from gf_prune.foundry_models import foundry_cell_models, load_pdk_models
    from gf_prune.netlist import load_netlist
    from gf_prune.phases import NetworkPhases
    from gf_prune.pipeline import get_data, read_run_config

    test = _split_arrays(get_data(read_run_config(args.out)), "test")
    net = NetworkPhases.load(args.out / "phases.npz")
    recnet = load_netlist(args.out / "network.gds", cache=True)
    name, models = load_pdk_models("cspdk")
    offset = layout_heater_offset(args.out, "cspdk")
    cases = [
        ("cspdk", ()),
        ("losses 0", ("loss_dB", "loss_dB_cm")),
        ("MMI loss 0 (waveguides 3 dB/cm)", ("loss_dB",)),
        ("waveguide loss 0 (MMI 0.3 dB)", ("loss_dB_cm",)),
    ]
    print(f"heater offset programmed away: {offset:.4f} rad; test split {len(test[1])} images")
    print("| cspdk models | 1 − fidelity per layer | 1 − fidelity, free output phases | power (dB) | test | "
          "test, loss-compensated |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for label, keys in cases:
        ms = {k: _without(v, keys) for k, v in models.items()} if keys else models
        fc = FoundryCheck(recnet, net, foundry_cell_models(recnet, ms, name), heater_offset_rad=offset)
        fig = fc.figures(fc.matrices(), test)
        per = fig["per_layer"]
        one = " / ".join(f"{1 - p['fidelity']:.2e}" for p in per)
        det = " / ".join(f"{1 - p['fidelity_detected']:.2e}" for p in per)
        pw = " / ".join(f"{p['power_dB']:.2f}" for p in per)
        print(f"| {label} | {one} | {det} | {pw} | {fig['accuracy']:.3f} | {fig['accuracy_loss_compensated']:.3f} |")


if __name__ == "__main__":
    main()
