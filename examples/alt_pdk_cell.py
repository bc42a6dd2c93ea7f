"""Compile the same pruned network with another coupler and heater: the PDK swap.

    .venv/bin/python examples/alt_pdk_cell.py [OUT_DIR]

The cells take specs, so a foundry's MMI, heater, crossing or cross-section goes in
through ``slot_settings`` (MZI slots, removed MZIs, passthroughs) and ``att_settings``
(Σ attenuators) without touching gf_prune. Here: a longer MMI with a wider gap
(a ``functools.partial`` of gdsfactory's ``mmi2x2``) and gdsfactory's
``straight_heater_metal_simple`` in place of the undercut heater. The slot geometry
(fan-in, bumps, passthrough length) follows the new coupler automatically; the
geometry checks and the heater count are then compared with the default build.
For the SAX check, register a model for the new heater's netlist name
(``gf_prune.sax_models.register``).
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from functools import partial
from itertools import pairwise
from pathlib import Path

import gdsfactory as gf
import klayout.db as kdb
import numpy as np

from gf_prune.layout import activate_pdk, compile_network
from gf_prune.mesh import topology
from gf_prune.phases import LayerPhases, MeshPhases, NetworkPhases, SigmaPhases

warnings.filterwarnings("ignore", message="Unconnected ports")


def pruned_network(sizes=(8, 8, 4), p_live=0.4, seed=0) -> NetworkPhases:
    """Random phases, random pruning masks (pruned phases are 0)."""
    rng = np.random.default_rng(seed)

    def phases(k):
        t, p = rng.random(k) < p_live, rng.random(k) < p_live
        return np.where(t, rng.uniform(0, 2 * np.pi, k), 0.0), np.where(p, rng.uniform(0, 2 * np.pi, k), 0.0), t, p

    layers = [
        LayerPhases(
            a,
            b,
            MeshPhases(a, "clements", *phases(topology(a).n_mzis)),
            SigmaPhases(*phases(min(a, b))),
            MeshPhases(b, "clements", *phases(topology(b).n_mzis)),
        )
        for a, b in pairwise(sizes)
    ]
    return NetworkPhases(layers)


def main() -> None:
    activate_pdk()
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="gf_prune_alt_"))
    net = pruned_network()
    my_pdk = {
        "coupler": partial(gf.components.mmi2x2, length_mmi=8.0, gap_mmi=0.3),
        "heater": "straight_heater_metal_simple",
        "heater_ports": ("l_e2", "r_e2"),
    }
    default = compile_network(net, out / "default", check=True)
    swapped = compile_network(net, out / "alt_pdk", check=True, slot_settings=my_pdk, att_settings=my_pdk)
    for name, fig in (("default", default), ("alt PDK", swapped)):
        print(
            f"{name:>8}: {fig['width_um']:.0f} × {fig['height_um']:.0f} µm, "
            f"{fig['mzis']['built']} MZIs built ({fig['mzis']['removed']} removed), "
            f"{fig['heaters']['pruned']} heaters, geometry ok: {fig['geometry']['ok']}"
        )
    assert swapped["geometry"]["ok"], swapped["geometry"]["violations"][:3]
    assert swapped["heaters"] == default["heaters"]
    ly = kdb.Layout()
    ly.read(str(out / "alt_pdk" / "network.gds"))
    it, n = ly.top_cell().begin_instances_rec(), 0
    while not it.at_end():
        n += ly.cell(it.inst_cell().cell_index()).name.startswith("straight_heater_metal_simple")
        it.next()
    print(f"straight_heater_metal_simple placements in the alt-PDK GDS: {n}")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
