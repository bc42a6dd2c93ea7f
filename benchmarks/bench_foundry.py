"""Foundry-model figures of a run folder, and where the foundry models part from the layout's convention.

Reads ``DIR/network.gds`` and ``DIR/phases.npz`` of a finished ``gf-prune run`` (the default data) and
simulates the chip with cspdk's models at the trained phases, then with those models changed one
difference at a time, to say which difference costs the fidelity (printed; nothing asserted):

- ``cspdk``: the PDK's models as ``verify.foundry`` uses them;
- ``+ heater offset``: every heater driven at ``phase − δ``, δ = the phase of cspdk's heater at 0 V
  against cspdk's straight of the same length (its heater waveguide has n_eff 2.34, the straights 2.38);
- ``one index``: straights, bends and heaters all n_eff 2.5 / n_g 4.3 (the index the layout's π bias and
  π delays are designed at), the MMI given the phase of its 25.5 µm port-to-port length;
- ``coupler phase``: the same with each MMI multiplied by −i (cspdk's ``mmi2x2`` is i·(D·B·D), B the
  convention's coupler, D = diag(1, −1): every MZI then carries −1 against a passthrough slot);
- each figure also against T·D_g (D_g = diag((−1)^m) on the inputs), which is what an MZI mesh built
  on D·B·D couplers realises.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_foundry.py DIR
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="folder of a finished gf-prune run")
    args = ap.parse_args()

    import jax.numpy as jnp
    import sax.models as sm

    from gf_prune.foundry import FoundryCheck, _split_arrays, fidelity_detected
    from gf_prune.foundry_models import FoundryModels, foundry_cell_models, load_pdk_models
    from gf_prune.netlist import load_netlist
    from gf_prune.phases import NetworkPhases
    from gf_prune.physics import wrap_phase
    from gf_prune.pipeline import get_data, read_run_config
    from gf_prune.sax_models import CellModel

    data = get_data(read_run_config(args.out))
    test = _split_arrays(data, "test")
    net = NetworkPhases.load(args.out / "phases.npz")
    recnet = load_netlist(args.out / "network.gds", cache=True)
    name, models = load_pdk_models("cspdk")
    fm = foundry_cell_models(recnet, models, name)
    heater = next(k for k, v in fm.cell_models.items() if v.heater)
    mmi = fm.cell_models["mmi2x2"]
    h0 = complex(fm.cell_models[heater].model(wl=1.55, length=100.0, phase=0.0)["o1", "o2"])
    s0 = complex(fm.cell_models["straight"].model(wl=1.55, length=100.0)["o1", "o2"])
    offset = float(np.angle(h0 / s0))

    def one_index(coupler: complex) -> dict[str, CellModel]:
        def wg(*, wl: float = 1.55, length: float = 10.0) -> dict:
            return sm.straight(wl=wl, wl0=1.55, length=length, neff=2.5, ng=4.3, loss_dB_cm=3.0)

        def ht(*, wl: float = 1.55, length: float = 10.0, phase: float = 0.0) -> dict:
            return {k: v * jnp.exp(1j * phase) for k, v in wg(wl=wl, length=length).items()}

        def cp(*, wl: float = 1.55) -> dict:
            t = wg(wl=wl, length=25.5)["o1", "o2"] * coupler
            return {k: v * t for k, v in mmi.model(wl=wl).items()}

        cms = dict(fm.cell_models)
        cms["straight"] = CellModel(wg, lambda s, i: {"length": float(s["length"])}, xs_key=None)
        cms["bend_euler"] = CellModel(wg, lambda s, i: {"length": float(i["length"])}, xs_key=None)
        cms[heater] = CellModel(ht, lambda s, i: {"length": float(s["length"])}, xs_key=None, heater=True)
        cms["mmi2x2"] = CellModel(cp, lambda s, i: {}, xs_key=None, ports=mmi.ports)
        return cms

    cases = [
        ("cspdk", fm.cell_models, 0.0),
        ("+ heater offset", fm.cell_models, offset),
        ("one index (2.5), MMI length", one_index(1.0), 0.0),
        ("+ coupler phase −i", one_index(-1j), 0.0),
    ]
    print(f"heater offset δ = {offset:.4f} rad; test split {len(test[1])} images")
    print("| case | fidelity (free output phases) per layer | the same vs T·D_g | test accuracy | s |")
    print("|---|---|---|---|---|")
    for label, cms, off in cases:
        t0 = time.perf_counter()
        fc = FoundryCheck(recnet, net, FoundryModels(label, cms))
        mats = fc.matrices(wrap_phase(fc.phases - off))
        fig = fc.figures(mats, test)
        f = " / ".join(f"{p['fidelity_detected']:.3f}" for p in fig["per_layer"])
        fd = " / ".join(
            f"{fidelity_detected(t @ np.diag((-1.0) ** np.arange(t.shape[1])), w):.3f}"
            for t, w in zip(fc.trained, mats, strict=True)
        )
        print(f"| {label} | {f} | {fd} | {fig['accuracy']:.3f} | {time.perf_counter() - t0:.1f} |")


if __name__ == "__main__":
    main()
