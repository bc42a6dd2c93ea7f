"""The region checks take their layers and minima from the active PDK, pass on generated chips,
and catch a deliberate violation of every rule kind, naming the instance and the location.

References: the PDKs' own objects (cross-sections, ``constants``, cspdk's ``tech.TECH``), read here
independently of :mod:`gf_prune.design_rules`.
"""

from __future__ import annotations

import warnings
from functools import partial

import gdsfactory as gf
import pytest
from conftest import random_network

from gf_prune.design_rules import pdk_rules
from gf_prune.geometry_checks import check_layout
from gf_prune.pdk import clear_cells

warnings.filterwarnings("ignore", message="Unconnected ports")


@pytest.fixture
def generic():
    """The generic PDK, switched to as the layout stage does (no cell cached under another PDK survives)."""
    from gf_prune.pdk import pdk_cells

    pdk_cells("generic")
    return pdk_rules()


@pytest.fixture
def cspdk():
    """cspdk active for one test; cells cached under it are dropped after (and before: the generic
    PDK's cells share names with cspdk's)."""
    pytest.importorskip("cspdk")
    from cspdk.si220.cband import PDK

    clear_cells()
    PDK.activate()
    try:
        yield pdk_rules()
    finally:
        clear_cells()
        gf.gpdk.PDK.activate()


def one(result, kind):
    hits = [v for v in result.violations if v.kind == kind]
    assert hits, f"no {kind} violation in {result.summary()}"
    return hits[0]


def test_rules_are_the_generic_pdks_own_figures(generic):
    pdk = gf.get_active_pdk()
    assert generic.pdk == "generic"
    assert generic["wg_width"].layer == generic["wg_space"].layer == (1, 0)  # LAYER.WG
    assert generic["heater_width"].layer == (47, 0)  # LAYER.HEATER
    assert generic["metal_space"].layer == (49, 0)  # metal_routing: LAYER.M3
    assert generic["heater_width"].value == pdk.get_cross_section("heater_metal").width
    assert generic["metal_width"].value == 1.0  # gplugins' deck for the generic layers: M3 width
    assert generic["metal_space"].value == pdk.constants.metal_spacing
    assert generic["pad_size"].value == min(pdk.constants.pad_size)
    assert generic["pad_space"].value == pdk.constants.pad_pitch - max(pdk.constants.pad_size)
    assert all(r.source for r in generic.rules)
    assert "gplugins" in generic["wg_width"].source


def test_rules_are_cspdks_own_figures(cspdk):
    from cspdk.si220.cband.tech import LAYER, TECH

    assert cspdk.pdk == "cspdk.si220.cband"
    assert cspdk["wg_width"].layer == tuple(LAYER.WG) == (3, 0)
    assert cspdk["wg_width"].value == TECH.width and cspdk["wg_space"].value == TECH.gap_strip
    assert cspdk["heater_width"].layer == tuple(LAYER.HEATER) and cspdk["heater_width"].value == TECH.width_heater
    assert cspdk["metal_width"].layer == tuple(LAYER.PAD) and cspdk["metal_width"].value == TECH.width_metal
    assert cspdk["pad_size"].layer == tuple(LAYER.PAD) and cspdk["pad_size"].value == 90.0  # cspdk pad() default
    assert "TECH.gap_strip" in cspdk["wg_space"].source


def _rect_cell(name: str, layer, boxes) -> gf.Component:
    c = gf.Component(name)
    for x0, y0, x1, y1 in boxes:
        c.add_polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], layer=layer)
    return c


@pytest.mark.parametrize(
    ("kind", "layer_rule", "boxes"),
    [
        ("wg_width", "wg_width", [(0, 0, 20, 0.15)]),  # a 0.15 µm waveguide
        ("wg_space", "wg_space", [(0, 0, 20, 0.5), (0, 0.6, 20, 1.1)]),  # two cores 0.1 µm apart
        ("heater_width", "heater_width", [(0, 0, 50, 1.0)]),  # 1 µm heater metal
        ("heater_spacing", "heater_space", [(0, 0, 50, 3), (0, 6, 50, 9)]),  # heaters 3 µm apart
        ("metal_width", "metal_width", [(0, 0, 100, 0.6)]),  # a 0.6 µm route
        ("metal_space", "metal_space", [(0, 0, 100, 10), (0, 14, 100, 24)]),  # routes 4 µm apart
    ],
)
def test_a_deliberate_violation_is_caught_with_instance_and_location(generic, kind, layer_rule, boxes):
    top = gf.Component(f"top_{kind}")
    bad = _rect_cell(f"bad_{kind}", generic[layer_rule].layer, boxes)
    ref = top.add_ref(bad, name="culprit")
    ref.dmove((1000, 2000))
    v = one(check_layout(top), kind)
    assert "culprit" in " ".join(v.instances) and "culprit" in str(v)
    assert 1000 <= v.x <= 1100 and 2000 <= v.y <= 2025
    assert f"({v.x:.3f}, {v.y:.3f})" in str(v)


def test_routes_of_two_instances_too_close_name_both(generic):
    top = gf.Component("two_routes")
    wire = gf.components.straight(length=100, cross_section="metal_routing")
    a = top.add_ref(wire, name="route_a")
    b = top.add_ref(wire, name="route_b")
    b.dmove((0, 14))  # 10 µm wires, 4 µm apart (< metal_spacing 10)
    v = one(check_layout(top), "metal_space")
    assert set(v.instances) == {"route_a", "route_b"}
    assert 0 <= v.x <= 100 and 5 <= v.y <= 9
    assert a.dbbox().top < v.y + 5


def test_pad_window_too_small_and_pads_too_close(generic, tmp_path):
    top = gf.Component("pads")
    top.add_ref(gf.get_component("pad", size=(50, 50)), name="pad_small").dmove((0, 0))
    big = gf.get_component("pad")  # 100 µm, the generic default
    top.add_ref(big, name="pad_west").dmove((500, 0))
    top.add_ref(big, name="pad_east").dmove((610, 0))  # 10 µm gap < pad_pitch − pad_size = 20
    array = top.add_ref(gf.components.pad_array(pad="pad", columns=3, column_pitch=150), name="probe_row")
    array.dmove((0, 1000))  # three pads at a 150 µm pitch: fine, and not a pad itself
    res = check_layout(top)
    small = one(res, "pad_size")
    assert small.instances == ("pad_small",) and abs(small.x) < 1 and abs(small.y) < 1
    close = one(res, "pad_space")
    assert set(close.instances) == {"pad_west", "pad_east"} and 550 < close.x < 560
    assert res.checked["pads"] == 6
    assert res.counts["pad_space"] == 1 and res.counts["pad_size"] == 1
    top.write_gds(tmp_path / "pads.gds")  # the same read back from the file, as the layout stage does
    again = check_layout(tmp_path / "pads.gds")
    assert again.counts == res.counts and one(again, "pad_size").instances == ("pad_small",)


def test_a_generated_cspdk_chip_passes_and_a_thin_waveguide_fails(cspdk, tmp_path):
    from gf_prune.layout import build_network

    net = random_network((16, 16, 16, 10), p_live=0.3, seed=0)
    cells = {"coupler": "mmi2x2", "heater": "straight_heater_metal", "heater_ports": ("l_e2", "r_e2")}
    term = partial(gf.components.terminator, doping_layers=(), cross_section_input="strip")  # cspdk has none
    chip = build_network(net, slot_settings=cells, att_settings={**cells, "terminator": term}, terminator=term)
    chip.write_gds(tmp_path / "cspdk.gds")
    res = check_layout(tmp_path / "cspdk.gds")
    assert res.ok, res.summary()
    assert res.checked["pdk"] == "cspdk.si220.cband" and res.checked["heater_metal_polygons"] > 0
    assert res.checked["rules"]["wg_width"] == 0.45
    # a 0.4 µm waveguide passes the generic deck (0.2) but not cspdk's 0.45
    top = gf.Component("thin_cspdk")
    top.add_ref(_rect_cell("thin_wg", (3, 0), [(0, 0, 30, 0.4)]), name="thin")
    assert one(check_layout(top), "wg_width").instances == ("thin",)


def test_default_chip_reports_the_rules_it_used(tmp_path, generic):
    from gf_prune.layout import compile_network

    net = random_network((6, 6, 4), p_live=0.5, seed=2)
    fig = compile_network(net, tmp_path, png=False)
    geo = fig["geometry"]
    assert geo["ok"], geo["violations"][:3]
    assert {r["name"] for r in geo["rules"]} == {r.name for r in generic.rules}
    assert all(r["source"] for r in geo["rules"])
    assert geo["timings_s"]["region_checks"] >= 0
