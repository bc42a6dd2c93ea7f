"""Layout compaction: live MZIs in the earliest physical column, removed MZIs leave no slot.

References: the logical mesh product (``mesh_unitary``, removed MZIs as their passive 2×2), the
SAX simulation of the compacted GDS, and the class predictions of the trained matrices.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from gf_prune.components.mesh import slot_states
from test_verify import random_network  # tests/ is on sys.path (pytest rootdir insertion)

from gf_prune.compaction import place_mesh, place_network, placement_unitary
from gf_prune.layout import compile_network
from gf_prune.mesh import mesh_unitary, topology
from gf_prune.model import PhotonicMLP
from gf_prune.naming import parse_slot
from gf_prune.verify import verify


@pytest.mark.parametrize("kind", ["clements", "reck"])
@pytest.mark.parametrize("n", [2, 5, 8, 16])
def test_placed_mesh_is_the_logical_mesh_exactly(n, kind):
    """Slot by slot (built MZIs and π delays only) = column by column with every removed MZI."""
    rng = np.random.default_rng(n)
    topo = topology(n, kind)
    for _ in range(20):
        live = rng.random((2, topo.n_mzis)) < rng.uniform(0.05, 0.9)
        theta, phi = (np.where(lv, rng.uniform(0, 2 * np.pi, topo.n_mzis), 0.0) for lv in live)
        p = place_mesh(topo, slot_states(*live))
        ref = mesh_unitary(topo, theta, phi)
        assert np.abs(placement_unitary(topo, theta, phi, p) - ref).max() < 1e-12
        assert p.n_slots <= max(topo.n_cols, 1) + 1
        assert all((s < 0) == (st == "x") for s, st in zip(p.slots, slot_states(*live), strict=True))


def test_an_mzi_follows_its_predecessors_on_both_modes():
    topo = topology(8, "clements")
    rng = np.random.default_rng(1)
    live = rng.random((2, topo.n_mzis)) < 0.3
    p = place_mesh(topo, slot_states(*live))
    last = [-1] * topo.n
    for k in range(topo.n_mzis):
        if p.slots[k] < 0:
            continue
        r = int(topo.rows[k])
        assert p.slots[k] > max(last[r], last[r + 1])
        last[r] = last[r + 1] = p.slots[k]


def test_dense_mesh_keeps_its_columns_and_bar_keeps_every_slot():
    topo = topology(6, "clements")
    assert place_mesh(topo, "3" * topo.n_mzis).n_slots == topo.n_cols
    net = random_network((6, 6), p_live=0.2, seed=2)
    for v, u in place_network(net, "bar", compact=True):
        assert not v.compact and not u.compact
        assert v.n_slots == u.n_slots == topo.n_cols


@pytest.fixture(scope="module")
def compacted(tmp_path_factory):
    out = tmp_path_factory.mktemp("compact")
    net = random_network((8, 8, 6), p_live=0.25, seed=5)
    figures = compile_network(net, out, png=False)
    return net, out, figures


def test_compacted_chip_is_shorter_and_reports_columns_and_areas(compacted):
    _, out, figures = compacted
    cols = figures["columns"]
    assert set(cols) == {"V0", "U0", "V1", "U1"}
    assert sum(c["physical"] for c in cols.values()) < sum(c["logical"] for c in cols.values())
    area = figures["area_mm2"]
    assert area["compacted"] < area["pruned"] == area["dense"]
    assert json.loads((out / "layout.json").read_text())["area_mm2"] == area


def test_compacted_chip_verifies_in_sax_with_the_same_predictions(compacted):
    net, out, _ = compacted
    res = verify(out / "network.gds", net)
    assert res.max_rel_error <= 1e-6, res.max_rel_error
    x = torch.randn(200, 8, dtype=torch.complex128)
    mats = [np.asarray(w) * lp.S.gain for w, lp in zip(res.layer_matrices, net.layers, strict=True)]
    pred = PhotonicMLP.predict_from_matrices(mats, x, net.bias_amps)
    ref = PhotonicMLP.predict_from_matrices(net.matrices(), x, net.bias_amps)
    assert bool((pred == ref).all())


def test_heater_table_keeps_the_logical_column_and_adds_slot_and_position(compacted):
    net, out, _ = compacted
    rows = list(csv.DictReader((out / "heaters.csv").open()))
    assert list(rows[0])[-3:] == ["slot", "x_um", "y_um"]
    placements = place_network(net)
    moved = 0
    for row in rows:
        slot = parse_slot(row["instance"])
        assert slot.column == int(row["column"])  # instance names keep the logical column
        if row["mesh"] == "S":
            continue
        v, u = placements[int(row["layer"])]
        m = getattr(net.layers[int(row["layer"])], row["mesh"])
        k = m.topo.index(int(row["column"]), int(row["row"]))
        assert int(row["slot"]) == (v if row["mesh"] == "V" else u).slots[k]
        moved += int(row["slot"]) not in (-1, int(row["column"]))
        assert (row["x_um"] == "") == (row["pruned"] == "True")
    assert moved > 0
