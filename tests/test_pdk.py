"""``layout.pdk``: the chip's cells from the active PDK (generic, cspdk, a user's module)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import gdsfactory as gf
import klayout.db as kdb
import numpy as np
import pytest
from conftest import random_network
from gf_prune.components.mesh import slot_states

from gf_prune.compaction import place_mesh, placement_unitary
from gf_prune.config import ConfigError, load_config
from gf_prune.mesh import mesh_unitary, topology
from gf_prune.pdk import PdkError, pdk_cells
from gf_prune.physics import GRID_UM, bias_length_um

warnings.filterwarnings("ignore", message="Unconnected ports")
REPO = Path(__file__).resolve().parents[1]
CSPDK_STRIP = (2.38, 4.30)
"""cspdk 1.4.2, cspdk/si220/cband/models/waveguides.py::straight_strip (neff=2.38, ng=4.30 at wl0 = 1.55 µm)."""


@pytest.fixture(autouse=True)
def _generic_after():
    yield
    pdk_cells("generic")  # back to the generic PDK, clearing the cells built under another one


def _layers(gds: Path) -> set[tuple[int, int]]:
    ly = kdb.Layout()
    ly.read(str(gds))
    return {
        (info.layer, info.datatype)
        for li, info in zip(ly.layer_indexes(), ly.layer_infos(), strict=True)
        if not ly.top_cell().begin_shapes_rec(li).at_end()
    }


# ----------------------------------------------------------------------------- set-up and resolution


def test_cspdk_is_installed_and_activates():
    from cspdk.si220.cband import PDK

    cells = pdk_cells("cspdk")
    assert gf.get_active_pdk().name == PDK.name == cells.pdk_name == "cspdk.si220.cband"
    assert cells.coupler is PDK.cells["mmi2x2"] and cells.heater is PDK.cells["straight_heater_metal"]
    assert cells.heater_ports == ("l_e2", "r_e2") and cells.coupler_ports == ("o1", "o2", "o3", "o4")
    assert (cells.cross_section, cells.metal_routing) == ("strip", "metal_routing")
    assert cells.pad is PDK.cells["pad"] and cells.via_stack is PDK.cells["via_stack_heater_mtop"]
    assert cells.grating_coupler is PDK.cells["grating_coupler_elliptical"]
    assert "terminator" not in PDK.cells and "gdsfactory's terminator" in cells.terminator_source
    assert cells.wg_layer == (3, 0) and cells.heater_layer == (39, 0)
    assert cells.heater_resistance_ohm is None  # its straight_heater_metal reports info.resistance = 0


def test_cspdk_indices_are_those_of_its_straight_model():
    """Independent of the 0.1 µm probe pdk.py uses: the model's phase over 10 µm and its slope in λ."""
    from cspdk.si220.cband import PDK

    cells = pdk_cells("cspdk")
    assert (cells.neff, cells.ng) == CSPDK_STRIP
    model, length = PDK.models["straight"], 10.0
    for wl in (1.549, 1.55, 1.551):
        t = complex(np.asarray(model(wl=wl, length=length)["o1", "o2"]))
        neff_wl = cells.neff - (wl - 1.55) * (cells.ng - cells.neff) / 1.55
        expected = 2 * math.pi * neff_wl * length / wl
        assert abs(np.angle(t * np.exp(-1j * expected))) < 1e-9


def test_pi_bias_is_exact_on_the_grid_with_the_pdk_index():
    assert bias_length_um() == 0.31  # generic: unchanged
    assert bias_length_um(1.55, 2.5, half_waves=None) == 0.31
    for neff, half_waves in ((2.38, 119), (2.34, 117)):
        length = bias_length_um(1.55, neff, half_waves=None)
        assert length == 38.75
        assert length == pytest.approx(half_waves * 1.55 / (2 * neff), abs=1e-12)
        nm = round(length / GRID_UM)
        assert abs(nm * GRID_UM - length) < 1e-12 and nm % 2 == 0  # its half (each vertical) on the grid too
        phase = 2 * math.pi * neff * length / 1.55
        assert abs(math.remainder(phase - math.pi, 2 * math.pi)) < 1e-9
    assert pdk_cells("cspdk").bias_length_um == 38.75
    # a removed cross-state MZI needs ΔL/2 = a quarter wave (+i): half_waves ≡ 1 (mod 4)
    for neff, half_waves in ((2.38, 357), (2.34, 117), (2.5, 1)):
        length = bias_length_um(1.55, neff, half_waves=None, quarter_wave=True)
        assert length == pytest.approx(half_waves * 1.55 / (2 * neff), abs=1e-12)
        quarter = np.exp(2j * math.pi * neff * (length / 2) / 1.55)
        assert abs(quarter - 1j) < 1e-9
    with pytest.raises(ValueError, match="round n_eff"):
        bias_length_um(1.55, 2.3456, half_waves=None)


def test_generic_cells_are_the_cells_defaults():
    from gf_prune.pdk import _coupler_ports, _heater_ports

    cells = pdk_cells("generic")
    assert cells.slot_settings() is None and cells.att_settings() is None and cells.chip_kwargs() == {}
    assert cells.cell_models() is None and cells.fan_in_delays and cells.bias_length_um == 0.31
    assert _coupler_ports(gf.get_component("mmi2x2")) == cells.coupler_ports
    assert _heater_ports(gf.get_component("straight_heater_metal", length=100)) == cells.heater_ports
    assert (cells.neff, cells.wg_layer, cells.heater_layer) == (2.5, (1, 0), (47, 0))


def _user_pdk(tmp_path: Path, name: str, body: str, monkeypatch) -> None:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    monkeypatch.syspath_prepend(str(tmp_path))


def test_user_pdk_without_a_coupler_names_the_cell_and_the_pdk(tmp_path, monkeypatch):
    _user_pdk(
        tmp_path,
        "nocoupler_pdk",
        """
        import gdsfactory as gf
        g = gf.gpdk.PDK
        PDK = gf.Pdk(name="nocoupler", cells={k: v for k, v in g.cells.items() if k != "mmi2x2"},
                     cross_sections=g.cross_sections, layers=g.layers)
        """,
        monkeypatch,
    )
    with pytest.raises(PdkError) as exc:
        pdk_cells("nocoupler_pdk")
    msg = str(exc.value)
    assert "'mmi2x2' (coupler)" in msg and "nocoupler" in msg and "heater" not in msg


def test_user_pdk_module_with_renamed_cells_builds_and_verifies(tmp_path, monkeypatch):
    """A user's module: its own cell names (GF_PRUNE_CELLS) and index (GF_PRUNE_NEFF); fan-in π delays fit."""
    from gf_prune.layout import compile_network
    from gf_prune.verify import verify

    _user_pdk(
        tmp_path,
        "renamed_pdk",
        """
        import gdsfactory as gf
        g = gf.gpdk.PDK
        cells = {k: v for k, v in g.cells.items() if k not in ("mmi2x2", "straight_heater_metal")}
        cells.update(my_mmi=g.cells["mmi2x2"], my_heater=g.cells["straight_heater_metal"])
        PDK = gf.Pdk(name="renamed", cells=cells, cross_sections=g.cross_sections, layers=g.layers)
        GF_PRUNE_CELLS = {"coupler": "my_mmi", "heater": "my_heater"}
        GF_PRUNE_NEFF, GF_PRUNE_NG = 2.5, 4.2
        """,
        monkeypatch,
    )
    cells = pdk_cells("renamed_pdk")
    assert gf.get_active_pdk().name == "renamed" and cells.names["coupler"] == "my_mmi"
    assert cells.bias_length_um == 0.31 and cells.fan_in_delays and cells.index_source.endswith("GF_PRUNE_NEFF")
    net = random_network((4, 4), p_live=0.4, seed=2)
    fig = compile_network(net, tmp_path / "chip", pdk="renamed_pdk", png=False)
    assert fig["geometry"]["ok"] and fig["pdk"]["name"] == "renamed"
    res = verify(tmp_path / "chip" / "network.gds", net, cell_models=cells.cell_models())
    assert res.max_rel_error <= 1e-6, res.max_rel_error


@pytest.mark.parametrize("bad", ["no such pdk", "", "not_a_module_here.pdk"])
def test_unknown_pdk_is_one_error(bad):
    with pytest.raises(PdkError, match=r"layout\.pdk"):
        pdk_cells(bad)


@pytest.mark.parametrize("value", ["'no such'", "42", "nomodule_xyz.cband", "[cspdk]"])
def test_bad_layout_pdk_in_a_config_names_the_key(tmp_path, value):
    p = tmp_path / "cfg.yaml"
    p.write_text(f"layout:\n  pdk: {value}\n")
    with pytest.raises(ConfigError, match=r"layout\.pdk"):
        load_config(p)
    assert load_config(REPO / "examples" / "cspdk.yaml").layout.pdk == "cspdk"


def test_compaction_with_restricted_fan_in_delays_keeps_the_mesh_product():
    rng = np.random.default_rng(5)
    for trial in range(20):
        topo = topology(8, "clements")
        tl, pl = rng.random(topo.n_mzis) < 0.35, rng.random(topo.n_mzis) < 0.35
        theta, phi = (
            np.where(tl, rng.uniform(0, 2 * np.pi, topo.n_mzis), 0),
            np.where(pl, rng.uniform(0, 6, topo.n_mzis), 0),
        )
        states = slot_states(tl, pl, "remove")
        with_d, without = place_mesh(topo, states), place_mesh(topo, states, in_delays=False)
        unheated = place_mesh(topo, states, in_delays="unheated")
        assert without.in_delays == () and without.n_slots >= unheated.n_slots >= with_d.n_slots, trial
        assert all(j == 1 or states[k] not in "31" for k, j in unheated.in_delays)  # never beside a φ heater
        ref = mesh_unitary(topo, theta, phi, None, "bar")
        for placed in (without, unheated):
            np.testing.assert_allclose(placement_unitary(topo, theta, phi, placed), ref, atol=1e-12)


# ----------------------------------------------------------------------------- chips


def test_cspdk_chip_passes_geometry_and_verifies(tmp_path):
    """A small pruned network laid out with cspdk cells: geometry clean, SAX ≤ 1e-6 (the PDK's n_eff)."""
    from gf_prune.layout import compile_network
    from gf_prune.verify import verify_dir

    net = random_network((4, 6, 3), p_live=0.4, seed=3)
    out = tmp_path / "cs"
    out.mkdir()
    net.save(out / "phases.npz")
    fig = compile_network(net, out, pdk="cspdk", png=False)
    assert fig["geometry"]["ok"], fig["geometry"]["violations"][:3]
    assert fig["pdk"]["pdk"] == "cspdk" and fig["pdk"]["bias_length_um"] == 38.75
    assert fig["pdk"]["fan_in_delays"] == "unheated"  # a 38.75 µm π delay: a bump in a plain input section
    assert fig["heaters"]["pruned"] == sum(
        int(m.theta_live.sum() + m.phi_live.sum()) for lp in net.layers for m in (lp.V, lp.S, lp.U)
    )
    layers = _layers(out / "network.gds")
    assert (3, 0) in layers and (39, 0) in layers and (1, 0) not in layers  # cspdk's WG and HEATER, no generic core
    pdk_cells("generic")  # the verify stage must re-activate the recorded PDK itself
    res = verify_dir(out, sweep=False)
    assert res["passed"] and res["max_rel_error"] <= 1e-6, res["max_rel_error"]
    # the same classes: |·| between layers (the modulus nonlinearity), argmax |W x|² at the end
    from gf_prune.verify import _expected

    x = np.random.default_rng(0).normal(size=(net.layers[0].n_in, 200)) + 0j
    y_sax, y_ref = x, x
    for li, w_sax in enumerate(res["layer_matrices"]):
        y_sax, y_ref = np.abs(np.asarray(w_sax) @ y_sax), np.abs(_expected(net, li, "W") @ y_ref)
    assert np.array_equal(np.argmax(y_sax, 0), np.argmax(y_ref, 0))


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind, zero_state, compact",
    [("clements", "cross", True), ("butterfly", "bar", True), ("reck", "bar", True), ("clements", "bar", False)],
)
def test_cspdk_chip_of_every_mesh_kind_verifies(tmp_path, kind, zero_state, compact):
    """Removed MZIs kept as cells (no compaction, butterfly, cross) need the inward bumps and the +i bias."""
    from gf_prune.layout import compile_network
    from gf_prune.verify import verify

    sizes = (4, 4) if kind == "butterfly" else (4, 4, 3)
    net = random_network(sizes, p_live=0.4, seed=4, zero_state=zero_state, kind=kind)
    fig = compile_network(net, tmp_path, pdk="cspdk", png=False, compact=compact)
    assert fig["geometry"]["ok"], fig["geometry"]["violations"][:3]
    assert fig["mzis"]["removed"] > 0
    res = verify(tmp_path / "network.gds", net, cell_models=pdk_cells("cspdk").cell_models())
    assert res.passed and res.max_rel_error <= 1e-6, res.max_rel_error


def _gds_hash(tmp_path: Path, pdk: str | None) -> str:
    code = textwrap.dedent(
        f"""
        import sys, warnings; sys.path.insert(0, {str(REPO / "tests")!r}); warnings.filterwarnings("ignore")
        from conftest import random_network
        from gf_prune.layout import compile_network
        kw = {{"pdk": {pdk!r}}} if {pdk!r} else {{}}
        compile_network(random_network((4, 5, 3), p_live=0.4, seed=7), {str(tmp_path / str(pdk))!r},
                        png=False, check=False, **kw)
        """
    )
    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=300)
    return hashlib.sha256((tmp_path / str(pdk) / "network.gds").read_bytes()).hexdigest()


def test_generic_pdk_gives_the_same_gds_bytes(tmp_path):
    """``layout.pdk: generic`` builds exactly the chip of the generic defaults (same bytes, fresh processes)."""
    assert _gds_hash(tmp_path, "generic") == _gds_hash(tmp_path, None)


@pytest.mark.slow
def test_cli_layout_and_verify_with_the_cspdk_config(tmp_path):
    net = random_network((4, 4, 3), p_live=0.5, seed=11)
    net.save(tmp_path / "phases.npz")
    out = tmp_path / "chip"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "gf_prune.cli"]
    cfg = str(REPO / "examples" / "cspdk.yaml")
    res = subprocess.run(
        [*cmd, "layout", str(tmp_path / "phases.npz"), "--out", str(out), "--config", cfg],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    rec = json.loads((out / "layout.json").read_text())
    assert rec["pdk"]["name"] == "cspdk.si220.cband" and rec["geometry"]["ok"]
    res = subprocess.run([*cmd, "verify", str(out)], capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert float(res.stdout.split("max relative error")[1].split()[0]) <= 1e-6


@pytest.mark.slow
def test_cli_layout_with_an_unusable_pdk_is_one_line_and_writes_nothing(tmp_path):
    random_network((4, 3), p_live=0.5, seed=1).save(tmp_path / "phases.npz")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("layout:\n  pdk: json\n")  # importable, but exposes no PDK
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "gf_prune.cli",
            "layout",
            str(tmp_path / "phases.npz"),
            "--out",
            str(out),
            "--config",
            str(cfg),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1 and "layout.pdk 'json'" in lines[0] and "PDK" in lines[0], res.stderr
    assert not out.exists()


def test_switching_pdk_and_back_leaves_no_destroyed_cell_behind(tmp_path):
    """A compacted chip (π-delay bends cached by gf_prune) under generic, then cspdk, then generic again in one
    process: the switch drops every cached cell, including the delay bends, so the third build works."""
    from conftest import random_network

    from gf_prune.layout import compile_network
    from gf_prune.pdk import clear_cells

    net = random_network((6, 6, 4), p_live=0.3, seed=2)
    compile_network(net, tmp_path / "before", pdk="generic", png=False, io=False)
    clear_cells()  # what tests and users call to start afresh: no cache may keep a pruned cell
    for i, pdk in enumerate(("generic", "cspdk", "generic")):
        fig = compile_network(net, tmp_path / str(i), pdk=pdk, png=False, io=False)
        assert fig["geometry"]["ok"]
        assert fig["pi_delays"] > 0  # the cached delay bends are in play
