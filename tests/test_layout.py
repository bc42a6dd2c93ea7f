"""The compiled layout, read back from its GDS with klayout, matches the phases:
one heater per live phase and none for a pruned one, removed MZIs as the masks say,
heaters.csv names the GDS instances, ports survive the round trip, and the geometry
checks pass on the default network and fail on an overlapping layout."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import gdsfactory as gf
import klayout.db as kdb
import numpy as np
import pytest
from conftest import random_network
from gdsfactory.get_netlist import get_netlist_recursive
from gf_prune.components import mzi_unit, passthrough

from gf_prune.geometry_checks import check_layout
from gf_prune.layout import activate_pdk, build_network, compile_network
from gf_prune.mesh import topology
from gf_prune.netlist import extract_netlist, netlist_equal
from gf_prune.phases import HEATER_COLUMNS, NetworkPhases

activate_pdk()
warnings.filterwarnings("ignore", message="Unconnected ports")


def gds_instances(path: Path) -> list[tuple[str, str, str]]:
    """(parent instance name, instance name, cell name) of every placement in the GDS, via klayout.db."""
    ly = kdb.Layout()
    ly.read(str(path))
    top = ly.top_cell()
    out = []
    it = top.begin_instances_rec()
    while not it.at_end():
        inst = it.current_inst_element().inst()
        parent = it.path()[-1].inst().property(0) if it.path() else None
        out.append((parent, inst.property(0), ly.cell(inst.cell_index).name))
        it.next()
    return out


def is_heater(cell_name: str) -> bool:
    return cell_name.startswith("straight_heater_metal")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    net = random_network((6, 5, 4), p_live=0.5, seed=1)
    out = tmp_path_factory.mktemp("layout")
    figures = compile_network(net, out, pruned_mzi="remove")
    return net, out, figures


def live_count(net: NetworkPhases) -> int:
    return sum(int(m.theta_live.sum() + m.phi_live.sum()) for layer in net.layers for m in (layer.V, layer.S, layer.U))


def test_files_are_written_without_temporaries(compiled):
    _, out, figures = compiled
    assert sorted(p.name for p in out.iterdir()) == [
        "heaters.csv",
        "layout.json",
        "layout.png",
        "loss_budget.csv",
        "network.gds",
        "network.netlist.json",  # read back for the loss budget, reused by the SAX check
        "ports.csv",
    ]
    assert (out / figures["files"]["png"]).stat().st_size > 1000
    # recorded relative to the output folder, so they stay valid when the folder is renamed
    assert figures["files"] == {
        "gds": "network.gds",
        "heaters": "heaters.csv",
        "png": "layout.png",
        "figures": "layout.json",
        "ports": "ports.csv",
        "loss_budget": "loss_budget.csv",
    }


def test_heater_count_in_gds_equals_live_phases(compiled):
    net, out, figures = compiled
    heaters = [i for i in gds_instances(out / "network.gds") if is_heater(i[2])]
    assert len(heaters) == live_count(net) == figures["heaters"]["pruned"]
    assert {h[1] for h in heaters} <= {"theta", "phi"}


def test_pruned_phase_has_no_heater_and_csv_names_gds_instances(compiled):
    net, out, _ = compiled
    placed = {(parent, name): cell for parent, name, cell in gds_instances(out / "network.gds")}
    slots = {parent for parent, _ in placed}
    with (out / "heaters.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == (*HEATER_COLUMNS, "slot", "x_um", "y_um")
    assert len(rows) == len(net.heater_rows())
    for row in rows:
        pruned = row["pruned"] == "True"
        removed = False
        if row["mesh"] in "UV":
            m = getattr(net.layers[int(row["layer"])], row["mesh"])
            removed = bool(m.removable[m.topo.index(int(row["column"]), int(row["row"]))])
        if removed:  # compacted chip: a removed MZI is not built at all (slot −1)
            assert row["instance"] not in slots and row["slot"] == "-1"
            continue
        assert row["instance"] in slots, row["instance"]
        cell = placed[(row["instance"], row["kind"])]
        assert is_heater(cell) != pruned, (row["instance"], row["kind"], cell)


def test_figures_count_dense_and_pruned(compiled):
    net, _, fig = compiled
    assert fig["mzis"]["total"] == sum(
        topology(layer.n_in).n_mzis + topology(layer.n_out).n_mzis + min(layer.n_in, layer.n_out)
        for layer in net.layers
    )
    assert fig["mzis"]["built"] == fig["mzis"]["total"] - fig["mzis"]["removed"] == fig["pruned"]["mzis_built"]
    assert fig["heaters"]["theta"] + fig["heaters"]["phi"] == fig["heaters"]["pruned"] < fig["heaters"]["dense"]
    assert fig["area_um2"] == pytest.approx(fig["width_um"] * fig["height_um"]) and fig["area_um2"] > 0
    assert fig["geometry"]["ok"]


def test_removed_mzis_match_masks(compiled, tmp_path):
    """Compacted (default): a removed MZI is not built at all; ``compact=False``: plain waveguides in its slot."""
    net, out, figures = compiled
    removable = sum(int(layer.V.removable.sum() + layer.U.removable.sum()) for layer in net.layers)
    cells = [cell for _, name, cell in gds_instances(out / "network.gds") if name and name.startswith("mzi_")]
    assert not any(c.startswith("mzi_removed") for c in cells)
    assert len(cells) == figures["mzis"]["mesh"] - removable
    assert removable == figures["mzis"]["removed"]
    compile_network(net, tmp_path, pruned_mzi="remove", png=False, check=False, compact=False)
    cells = [cell for _, name, cell in gds_instances(tmp_path / "network.gds") if name and name.startswith("mzi_")]
    assert sum(c.startswith("mzi_removed") for c in cells) == removable
    assert len(cells) == figures["mzis"]["mesh"]


def test_bar_choice_keeps_unpowered_mzis(tmp_path):
    net = random_network((4, 4), p_live=0.4, seed=5)
    fig = compile_network(net, tmp_path, pruned_mzi="bar", png=False)
    cells = [cell for _, name, cell in gds_instances(tmp_path / "network.gds") if name and name.startswith("mzi_")]
    assert not any(c.startswith("mzi_removed") for c in cells)
    assert fig["mzis"]["removed"] == 0
    assert fig["mzis"]["bar"] >= sum(int(m.removable.sum()) for m in (net.layers[0].V, net.layers[0].U))


def test_gds_reads_back_with_the_same_ports(compiled):
    import kfactory as kf

    net, out, _ = compiled
    chip = build_network(net, compact=True)
    kcl = kf.KCLayout("test_layout_readback")
    try:
        kcl.read(str(out / "network.gds"))
        top = kcl[kcl.layout.top_cell().cell_index()]
        core = next(i for i in top.insts if i.name == "core")  # the chip, at the origin of the I/O top cell
        assert core.trans == kf.kdb.Trans()
        back = core.cell
        want = {p.name: (p.base.trans, p.port_type) for p in chip.ports}
        got = {p.name: (p.base.trans, p.port_type) for p in back.ports}
        assert got == want
        assert {"l0_in0", "l0_in5", "l1_out3"} <= set(got)
        live = [f"{r['instance']}_{r['kind']}_e1" for r in net.heater_rows() if not r["pruned"]]
        assert set(live) <= set(got)
        top_ports = {p.name: (p.base.trans, p.port_type) for p in top.ports}
        assert {k: want[k] for k in live} == {k: top_ports[k] for k in live}  # heaters stay ports of the file
        assert {"fiber_l0_in0", "fiber_l1_out3", "loopback1", "loopback2"} <= set(top_ports)
    finally:
        kf.kcls.pop("test_layout_readback", None)


def test_fast_netlist_equals_gdsfactory():
    net = random_network((4, 3), p_live=0.5, seed=2)
    layer = build_network(net).insts["layer0"].cell
    assert netlist_equal(get_netlist_recursive(layer), extract_netlist(layer, leaf_cells=())) == []
    optical = extract_netlist(layer)  # default: heaters and terminators are leaves
    assert "terminator" not in optical and set(optical) < set(get_netlist_recursive(layer))


@pytest.mark.parametrize("zero_state", ["bar", pytest.param("cross", marks=pytest.mark.slow)])
def test_geometry_checks_pass_on_the_default_network(tmp_path, zero_state):
    net = random_network((16, 16, 16, 10), p_live=0.4, seed=0, zero_state=zero_state)
    fig = compile_network(net, tmp_path, png=False, check=True)
    assert fig["geometry"]["ok"], fig["geometry"]["violations"][:5]
    assert fig["geometry"]["checked"]["heater_polygons"] == live_count(net)


def test_geometry_checks_fail_on_an_overlapping_layout():
    c = gf.Component()
    a = c.add_ref(mzi_unit(), name="mzi_a")
    b = c.add_ref(mzi_unit(), name="mzi_b")
    b.dmove((0, -50))  # half a pitch: b's top arm runs over a's bottom arm
    p = c.add_ref(passthrough(), name="pass_c")
    p.dmove((395, 0))
    for name, ref, port in (("i0", a, "o1"), ("i1", a, "o2"), ("o1", a, "o4"), ("o2", p, "o2")):
        c.add_port(name, port=ref.ports[port])
    result = check_layout(c)
    assert not result.ok
    kinds = {v.kind for v in result.violations}
    assert "overlap" in kinds
    bad = next(v for v in result.violations if v.kind == "overlap")
    assert set(bad.instances) == {"mzi_a", "mzi_b"} and -100 <= bad.y <= -50
    dangling = {v.instances[0] for v in result.violations if v.kind == "dangling"}
    assert dangling == {"mzi_b"}


def test_heaters_too_close_fail():
    c = gf.Component()
    h = gf.components.straight_heater_metal(length=100)
    c.add_ref(h, name="h1")
    r = c.add_ref(h, name="h2")
    r.dmove((0, 14))  # metal 11 µm wide: 3 µm gap
    result = check_layout(c, min_heater_spacing=10.0, min_wg_spacing=0.5)
    assert "heater_spacing" in {v.kind for v in result.violations}


def test_bad_inputs_are_refused(tmp_path):
    net = random_network((4, 4))
    with pytest.raises(ValueError, match="pruned_mzi"):
        compile_network(net, tmp_path, pruned_mzi="drop")
    net.layers[0].U.theta[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        compile_network(net, tmp_path)
    assert not any(tmp_path.iterdir())


def test_reck_network_compiles_clean(tmp_path):
    net = random_network((6, 6, 3), p_live=0.5, seed=4, kind="reck")
    fig = compile_network(net, tmp_path, png=False)
    assert fig["geometry"]["ok"], fig["geometry"]["violations"][:5]
    assert fig["mesh_kind"] == "reck"
    heaters = [i for i in gds_instances(tmp_path / "network.gds") if is_heater(i[2])]
    assert len(heaters) == live_count(net)
