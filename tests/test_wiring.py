"""Heater wiring: pads north/south of the core, one pad per live heater, shared grounds; the
connectivity check read back from the GDS catches shorts, cuts and spacing faults."""

from __future__ import annotations

import math
import warnings
from itertools import pairwise

import gdsfactory as gf
import klayout.db as kdb
import pytest
from conftest import random_network

from gf_prune.naming import heater_label, heater_port
from gf_prune.wiring import PAD_COLUMNS, WiringError, add_wiring, heater_resistance, min_metal_spacing
from gf_prune.wiring_check import check_wiring, stack_layers

warnings.filterwarnings("ignore", message="Unconnected ports")


@pytest.fixture(autouse=True)
def generic_pdk():
    gf.gpdk.PDK.activate()
    yield
    gf.gpdk.PDK.activate()


def _wired(net, tmp_path, name="wired", **kw):
    from gf_prune.layout import build_network

    chip = build_network(net, compact=True)
    top = gf.Component(name)
    core = top.add_ref(chip, name="core")
    res = add_wiring(top, core, net, **kw)
    gds = tmp_path / f"{name}.gds"
    top.write_gds(gds)
    return top, core, res, gds


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    gf.gpdk.PDK.activate()
    net = random_network((4, 4, 4), p_live=0.5, seed=1)
    top, core, res, gds = _wired(net, tmp_path_factory.mktemp("wiring"))
    return net, top, core, res, gds


def _live(net):
    return {f"{r['instance']}_{r['kind']}": r for r in net.heater_rows() if not r["pruned"]}


def test_every_live_heater_has_its_own_pad_and_one_ground(small):
    net, _top, _core, res, _gds = small
    live = _live(net)
    signal = [r for r in res.rows if r["kind"] != "ground"]
    ground = [r for r in res.rows if r["kind"] == "ground"]
    assert sorted(r["net"] for r in signal) == sorted(live)  # one pad each, pruned heaters none
    returns = [h for r in ground for h in r["heater_instance"].split(";")]
    assert sorted(returns) == sorted(live)  # every heater returns through exactly one ground pad
    assert all(len(r["heater_instance"].split(";")) <= 8 for r in ground)
    assert res.figures["heaters_wired"] == len(live)
    assert res.figures["pads"] == len(res.rows) == len(signal) + len(ground)
    assert all(set(r) == set(PAD_COLUMNS) for r in res.rows)


def test_pads_on_north_and_south_edges_within_core_x_on_probe_pitch(small):
    _net, _top, core, res, _gds = small
    bb = core.dbbox()
    ys = [r["y_um"] for r in res.rows]
    assert all(y > bb.top or y < bb.bottom for y in ys)
    assert any(y > bb.top for y in ys) and any(y < bb.bottom for y in ys)
    half = gf.get_component("pad").dxsize / 2
    assert all(bb.left <= r["x_um"] - half and r["x_um"] + half <= bb.right for r in res.rows)
    assert 100 <= res.figures["pad_pitch_um"] <= 150
    row0 = sorted(r["x_um"] for r in res.rows if abs(r["y_um"] - max(ys)) < 1e-6)
    gaps = {round(b - a, 3) for a, b in pairwise(row0)}
    assert gaps == {res.figures["pad_pitch_um"]}


def test_current_and_voltage_follow_p_equals_i2r(small):
    _net, _top, _core, res, _gds = small
    r_ohm, source = heater_resistance()
    assert "4.36" in source  # generic PDK: no heater resistance, V_pi default
    assert r_ohm == pytest.approx(4.36**2 / 0.025)
    for row in res.rows:
        if row["kind"] == "ground":
            continue
        p_w = row["power_mw"] * 1e-3
        assert row["voltage_V"] * row["current_mA"] * 1e-3 == pytest.approx(p_w, rel=1e-9, abs=1e-15)
        assert row["voltage_V"] ** 2 / r_ohm == pytest.approx(p_w, rel=1e-9, abs=1e-15)
        assert row["power_mw"] == pytest.approx(25.0 * row["phase_rad"] / math.pi)
    for g in (r for r in res.rows if r["kind"] == "ground"):
        heaters = set(g["heater_instance"].split(";"))
        mine = [r["current_mA"] for r in res.rows if r["kind"] != "ground" and r["net"] in heaters]
        assert g["current_mA"] == pytest.approx(sum(mine))
    assert res.figures["ground_current_mA_max"] == pytest.approx(
        max(r["current_mA"] for r in res.rows if r["kind"] == "ground")
    )


def test_generated_chip_has_no_connectivity_or_spacing_problem(small):
    _net, _top, _core, res, gds = small
    chk = check_wiring(gds, res.rows, min_metal_spacing())
    assert chk.ok, chk.problems
    assert chk.counts["pads"] == len(res.rows)


@pytest.mark.parametrize(
    ("sizes", "p_live", "seed", "pruned_mzi"),
    [
        ((4, 4, 4), 0.3, 2, "remove"),
        ((6, 6), 0.6, 3, "remove"),
        ((8, 8, 4), 0.25, 4, "bar"),
        ((5, 3), 0.5, 6, "remove"),
    ],
)
def test_random_pruned_chips_wire_with_no_problem(tmp_path, sizes, p_live, seed, pruned_mzi):
    from gf_prune.layout import build_network

    net = random_network(sizes, p_live=p_live, seed=seed)
    top = gf.Component(f"fuzz_{seed}")
    core = top.add_ref(build_network(net, pruned_mzi, compact=pruned_mzi == "remove"), name="core")
    res = add_wiring(top, core, net)
    gds = tmp_path / "fuzz.gds"
    top.write_gds(gds)
    chk = check_wiring(gds, res.rows, min_metal_spacing())
    assert chk.ok, chk.problems[:5]
    assert res.figures["heaters_wired"] == len(_live(net))


@pytest.mark.slow
@pytest.mark.parametrize(("sizes", "p_live"), [((16, 16, 16, 10), 0.14), ((64, 64), 0.15)])
def test_large_pruned_chips_wire_with_no_problem(tmp_path, sizes, p_live):
    net = random_network(sizes, p_live=p_live, seed=11)
    _top, _core, res, gds = _wired(net, tmp_path, name=f"large_{sizes[0]}")
    chk = check_wiring(gds, res.rows, min_metal_spacing())
    assert chk.ok, chk.problems[:5]
    assert res.figures["pads_within_core_x"]
    assert res.figures["heaters_per_ground_max"] <= 8


def _edit_routing(gds, out, edit):
    ly = kdb.Layout()
    ly.read(str(gds))
    li = ly.layer(*stack_layers()["routing"])
    edit(ly, ly.top_cell(), li)
    ly.write(str(out))
    return out


def test_a_drawn_metal_box_between_two_pads_is_reported_as_a_short(small, tmp_path):
    _net, _top, _core, res, gds = small
    top_row = max(r["y_um"] for r in res.rows)
    a, b = sorted((r for r in res.rows if r["y_um"] == top_row), key=lambda r: r["x_um"])[:2]

    def short(ly, cell, li):
        box = kdb.DBox(a["x_um"], a["y_um"] - 5, b["x_um"], a["y_um"] + 5)
        cell.shapes(li).insert(box)

    bad = _edit_routing(gds, tmp_path / "short.gds", short)
    chk = check_wiring(bad, res.rows, min_metal_spacing())
    assert not chk.ok
    text = "\n".join(chk.problems)
    assert f"pad {a['pad']}" in text and b["pad"] in text and "shorted" in text
    assert f"({a['x_um']:.1f}, {a['y_um']:.1f})" in text


def test_a_cut_route_is_reported_with_the_pad_and_the_heater(small, tmp_path):
    _net, _top, _core, res, gds = small
    pad_h = gf.get_component("pad").dysize
    row0 = min(r["y_um"] for r in res.rows if r["y_um"] > 0)  # north row nearest the core: fed from below
    sig = next(r for r in res.rows if r["kind"] != "ground" and r["y_um"] == row0)
    y_edge = sig["y_um"] - pad_h / 2 - 6

    def cut(ly, cell, li):
        region = kdb.Region(cell.begin_shapes_rec(li))
        gap = kdb.Region(kdb.DBox(sig["x_um"] - 20, y_edge - 2, sig["x_um"] + 20, y_edge + 2).to_itype(ly.dbu))
        flat = region - gap
        cell.flatten(True)
        cell.shapes(li).clear()
        cell.shapes(li).insert(flat)

    bad = _edit_routing(gds, tmp_path / "cut.gds", cut)
    chk = check_wiring(bad, res.rows, min_metal_spacing())
    text = "\n".join(chk.problems)
    assert f"pad {sig['pad']}" in text and "reaches no heater terminal" in text
    assert f"heater {sig['net']}" in text and "reaches no pad" in text


def test_metal_closer_than_the_rule_is_reported_with_its_place(small, tmp_path):
    _net, _top, _core, res, gds = small
    s = min_metal_spacing()
    sig = next(r for r in res.rows if r["kind"] != "ground")
    half = gf.get_component("pad").dxsize / 2
    x = sig["x_um"] + half + s / 2  # a sliver beside the pad, half the rule away

    def sliver(ly, cell, li):
        cell.shapes(li).insert(kdb.DBox(x, sig["y_um"] - 2, x + 1, sig["y_um"] + 2))

    bad = _edit_routing(gds, tmp_path / "space.gds", sliver)
    chk = check_wiring(bad, res.rows, s)
    assert chk.counts["spacing_violations"] >= 1
    assert any("metal spacing" in p and f"{sig['y_um']:.1f}" in p for p in chk.problems)


def test_a_live_heater_without_its_port_is_named(tmp_path):
    net = random_network((4, 4), p_live=0.5, seed=3)
    top = gf.Component("no_core_ports")
    core = top.add_ref(gf.Component("empty_core"), name="core")
    with pytest.raises(WiringError, match=r"live heater (mzi|att)_\w+ (theta|phi): the core has no port"):
        add_wiring(top, core, net)


def test_a_channel_too_narrow_names_its_heaters():
    net = random_network((8, 8), p_live=1.0, seed=0)
    from gf_prune.layout import build_network

    top = gf.Component("narrow")
    core = top.add_ref(build_network(net, compact=True), name="core")
    with pytest.raises(WiringError, match=r"channel x = .* needs \d+ tracks .* heaters mzi_"):
        add_wiring(top, core, net, route_width=10.0, min_spacing=60.0)


# ----------------------------------------------------------------------------- cspdk


@gf.cell
def heater_grid_core(rows: tuple[tuple[str, str], ...], per_row: int = 4, pitch_y: float = 100.0) -> gf.Component:
    """A stand-in core of the active PDK's ``straight_heater_metal`` cells, one per (instance, kind),
    with the network chip's port and label names (``naming.heater_port``/``heater_label``)."""
    c = gf.Component()
    for k, (inst, kind) in enumerate(rows):
        h = c.add_ref(gf.get_component("straight_heater_metal"), name=f"{inst}_{kind}")
        h.dmove((-h.dbbox().left + (k % per_row) * (h.dxsize + 120.0), -(k // per_row) * pitch_y))
        e = sorted((p for p in h.ports if p.port_type == "electrical"), key=lambda p: p.center[0])
        for i, p in enumerate(e, start=1):
            c.add_port(heater_port(inst, kind, i), port=p)
        c.add_label(heater_label(inst, kind), position=tuple(e[0].center), layer=(66, 0))
    return c


def _cspdk_case(out_dir: str) -> dict:
    """Wire a stand-in core of cspdk heaters for a small network, and a real ``layout.pdk: cspdk`` chip
    (with its optical I/O) through ``compile_network``; run in a fresh process (cells built under the
    generic PDK share names with cspdk's in gdsfactory's cache)."""
    from cspdk.si220.cband import PDK

    from gf_prune.design_rules import pdk_rules

    PDK.activate()
    net = random_network((4, 4), p_live=0.4, seed=5)
    rows = tuple((r["instance"], r["kind"]) for r in net.heater_rows() if not r["pruned"])
    top = gf.Component("cspdk_wired")
    core = top.add_ref(heater_grid_core(rows), name="core")
    res = add_wiring(top, core, net)
    gds = f"{out_dir}/cspdk.gds"
    top.write_gds(gds)
    chk = check_wiring(gds, res.rows, min_metal_spacing())
    from gf_prune.layout import compile_network

    real = compile_network(random_network((4, 6, 3), p_live=0.4, seed=3), out_dir, pdk="cspdk", png=False, route=True)
    return {
        "chip": {"ok": real["wiring"]["ok"], "problems": real["wiring"]["check"]["problems"], "pads": real["pads"]},
        "problems": chk.problems,
        "pads": chk.counts["pads"],
        "live": len(rows),
        "spacing": min_metal_spacing(),
        "rule": {"value": pdk_rules()["metal_space"].value, "source": pdk_rules()["metal_space"].source},
        "routing": list(stack_layers()["routing"]),
        "figures": res.figures,
    }


@pytest.mark.slow
def test_cspdk_small_network_routes_with_no_problem(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("cspdk.si220.cband")
    here = Path(__file__).parent
    code = (
        f"import sys, json; sys.path.insert(0, {str(here)!r}); from test_wiring import _cspdk_case; "
        f"print('RESULT=' + json.dumps(_cspdk_case({str(tmp_path)!r})))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT=", 1)[1])
    assert out["problems"] == []
    assert out["chip"]["ok"] and out["chip"]["problems"] == [] and out["chip"]["pads"] > 0  # layout.pdk=cspdk chip
    assert out["spacing"] == out["rule"]["value"]  # design_rules: cspdk's router pitch 15 − width 10
    assert "route_astar_metal" in out["rule"]["source"]
    assert out["routing"] == [41, 0]  # PAD: pads, contacts and routes on one metal
    assert out["figures"]["heaters_wired"] == out["live"] > 0
    assert out["pads"] == out["figures"]["pads"]
    assert "from the PDK model straight_heater_metal" in out["figures"]["heater_resistance_source"]


# ----------------------------------------------------------------------------- compile_network


def test_compile_network_with_route_writes_pads_csv_and_figures(tmp_path):
    import csv
    import json

    from gf_prune.layout import compile_network

    net = random_network((4, 4), p_live=0.5, seed=7)
    figs = compile_network(net, tmp_path, png=False, route=True)
    with (tmp_path / "pads.csv").open() as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert tuple(reader.fieldnames) == PAD_COLUMNS
    saved = json.loads((tmp_path / "layout.json").read_text())
    for key in ("pads", "heaters_wired", "pads_dense", "die_mm", "standard_die"):
        assert saved[key] == figs[key]
    assert saved["pads"] == len(rows) and saved["heaters_wired"] == len(_live(net))
    assert saved["pads_dense"] > saved["pads"]
    assert saved["wiring"]["ok"] and saved["wiring"]["check"]["n_problems"] == 0
    assert (tmp_path / "network_wired.gds").is_file() and (tmp_path / "network.gds").is_file()
    die = saved["standard_die"]
    assert die["pads"] == 31 and die["size_mm"] == [11.47, 4.9]  # the PDK's die_with_pads defaults
    assert die["fits"] == (saved["pads"] <= 31 and saved["die_mm"][0] <= 11.47 and saved["die_mm"][1] <= 4.9)


def test_the_hand_off_gds_passes_the_pdk_rules_and_the_report_says_so(tmp_path):
    """network_wired.gds (I/O, pads, routes) gets the same rule checks as network.gds; the report's tape-out
    section shows them, and the pad map is drawn from pads.csv and heaters.csv."""
    import csv

    from gf_prune.layout import compile_network
    from gf_prune.plots import plot_pad_map
    from gf_prune.report_html import tapeout_body

    net = random_network((6, 6, 4), p_live=0.4, seed=3)
    figs = compile_network(net, tmp_path, png=False, route=True, io=True)
    assert figs["geometry"]["ok"] and figs["wiring"]["geometry"]["ok"], figs["wiring"]["geometry"].get("violations")
    checked = figs["wiring"]["geometry"]["checked"]
    assert checked["pads"] == figs["pads"]  # every pad window was seen by the pad rules
    html = tapeout_body(figs, {})
    assert html.count("0 violations") == 3  # both GDS files and the pad ↔ heater connectivity
    assert f"= {figs['pads']} / {figs['pads_dense']}" in html
    with (tmp_path / "ports.csv").open() as f:
        assert str(sum(1 for _ in csv.DictReader(f))) in html  # every fibre counted
    png = plot_pad_map(tmp_path / "pads.csv", tmp_path / "heaters.csv", tmp_path / "pad_map.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_route_false_is_the_config_switch_and_writes_no_pads(tmp_path):
    from gf_prune.config import RunConfig
    from gf_prune.layout import compile_network

    assert RunConfig().layout.route is True
    assert RunConfig.model_validate({"layout": {"route": False}}).layout.route is False
    net = random_network((4, 4), p_live=0.5, seed=7)
    figs = compile_network(net, tmp_path, png=False, route=False)
    assert not (tmp_path / "pads.csv").exists() and "pads" not in figs


def test_a_chip_with_every_heater_pruned_gets_no_pad(tmp_path):
    net = random_network((4, 4), p_live=0.0, seed=1)
    _top, _core, res, gds = _wired(net, tmp_path, name="all_pruned")
    assert res.rows == [] and res.figures["pads"] == 0 and res.figures["heaters_wired"] == 0
    assert check_wiring(gds, res.rows, min_metal_spacing()).ok


def test_standard_die_fit_is_said_both_ways(small, tmp_path):
    big = small[3].figures["standard_die"]
    assert small[3].figures["pads"] > 31 and not big["fits"]
    assert f"{small[3].figures['pads']} pads > 31" in big["split"] and "at least 2 standard dies" in big["split"]
    net = random_network((4, 4), p_live=0.15, seed=2)
    _top, _core, res, _gds = _wired(net, tmp_path, name="tiny")
    fig = res.figures
    assert fig["pads"] <= 31 and fig["die_mm"][0] <= 11.47 and fig["die_mm"][1] <= 4.9
    assert fig["standard_die"]["fits"] and fig["standard_die"]["split"] == "fits one standard die"


def test_gdsfactory_router_draws_the_same_plan_with_no_problem(tmp_path):
    net = random_network((4, 4), p_live=0.5, seed=9)
    _t, _c, paths, _g = _wired(net, tmp_path, name="by_paths")
    _t, _c, res, gds = _wired(net, tmp_path, name="by_gf", router="gdsfactory")
    by_gf, by_paths = res.figures["routes"], paths.figures["routes"]
    assert by_gf["gdsfactory_route_single"] > by_gf["drawn_paths"]  # a jog shorter than a corner is drawn
    assert by_gf["gdsfactory_route_single"] + by_gf["drawn_paths"] == by_paths["drawn_paths"]
    assert check_wiring(gds, res.rows, min_metal_spacing()).ok
    assert [(r["pad"], r["net"], r["x_um"], r["y_um"]) for r in res.rows] == [
        (r["pad"], r["net"], r["x_um"], r["y_um"]) for r in paths.rows
    ]
    with pytest.raises(ValueError, match="router must be one of"):
        _wired(net, tmp_path, name="bad_router", router="astar")


def test_pads_csv_programs_the_same_phases_as_heaters_csv_on_cspdk(tmp_path):
    """cspdk's heater adds its own phase at 0 V: heaters.csv says what to program on that GDS, and every
    signal pad of pads.csv must carry the very same phase and power for its heater."""
    import csv

    pytest.importorskip("cspdk")
    from gf_prune.layout import compile_network
    from gf_prune.pdk import pdk_cells

    try:
        figs = compile_network(
            random_network((4, 4), p_live=0.5, seed=7), tmp_path, png=False, pdk="cspdk", io=False, route=True
        )
        assert figs["pdk"]["convention"]["heater_offset_rad"] != 0  # the case this test is about
        with (tmp_path / "heaters.csv").open() as f:
            heaters = {(r["instance"], r["kind"]): r for r in csv.DictReader(f) if r["pruned"] == "False"}
        with (tmp_path / "pads.csv").open() as f:
            signal = [r for r in csv.DictReader(f) if r["kind"] != "ground"]
        assert len(signal) == len(heaters) > 0
        for pad in signal:
            h = heaters[(pad["heater_instance"], pad["kind"])]
            assert float(pad["phase_rad"]) == pytest.approx(float(h["phase_rad"]), abs=1e-9)
            assert float(pad["power_mw"]) == pytest.approx(float(h["power_mw"]), abs=1e-9)
    finally:
        pdk_cells("generic")  # back to the generic PDK (drops the cells cached under cspdk)
