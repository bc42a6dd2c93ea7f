"""A user edits the GDS: one live MZI moved by 0.5 µm is named, with the gap its ports left,
by verification from the file and through the CLI (``gf-prune verify DIR`` exits non-zero).

The GDS is edited with klayout.db alone (as a user's script or KLayout would), and read back
by the verification; the reference gap is the move itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import klayout.db as kdb
import numpy as np
import pytest
from conftest import random_network

from gf_prune.layout import compile_network
from gf_prune.verify import verify_dir


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A compiled chip with its phases, and the names of its live MZIs (interior and on a mesh edge)."""
    out = tmp_path_factory.mktemp("chip")
    net = random_network((4, 4, 3), 0.5, 3, sigma_live=(0.9, 0.5), gain=1.7)
    compile_network(net, out, png=False)
    net.save(out / "phases.npz")
    return out, net


def live_mzis(net) -> list[str]:
    names = []
    for li, layer in enumerate(net.layers):
        for m in ("V", "U"):
            mp = getattr(layer, m)
            for k in np.flatnonzero(mp.theta_live | mp.phi_live):
                names.append(f"mzi_{m}{li}_c{mp.topo.cols[k]}_r{mp.topo.rows[k]}")
    return names


def move_instance(src: Path, dst: Path, name: str, dx: float, dy: float) -> None:
    """Move the instance called ``name`` by (dx, dy) µm in its parent cell, with klayout.db only."""
    ly = kdb.Layout()
    ly.read(str(src))
    hits = [inst for cell in ly.each_cell() for inst in cell.each_inst() if inst.property(0) == name]
    assert len(hits) == 1, name
    hits[0].transform(kdb.DTrans(dx, dy))
    dst.mkdir(parents=True, exist_ok=True)
    ly.write(str(dst / "network.gds"))


def copy_run(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "phases.npz").write_bytes((src / "phases.npz").read_bytes())


def gap_in(message: str) -> float:
    m = re.search(r"gap ([0-9.]+) µm", message)
    assert m, message
    return float(m.group(1))


@pytest.mark.parametrize(
    ("target", "dx", "dy"),
    [("mzi_V0_c1_r1", 0.5, 0.0), ("mzi_U0_c2_r2", 0.0, -0.5), ("mzi_V0_c0_r0", -0.5, 0.0)],  # last: on the mesh's edge
)
def test_moved_mzi_is_named_with_the_gap(written, tmp_path, target, dx, dy):
    out, net = written
    assert target in live_mzis(net)
    copy_run(out, tmp_path)
    move_instance(out / "network.gds", tmp_path, target, dx, dy)
    res = verify_dir(tmp_path, sweep=False)
    assert not res["passed"]
    first = res["culprits"][0]
    assert f"/{target}:" in first and "lost their partner" in first
    assert gap_in(first) == pytest.approx(np.hypot(dx, dy), abs=1e-3)
    assert f"dx {dx:+.3f}, dy {dy:+.3f}" in first
    assert "no single slot or net to blame" not in " ".join(res["culprits"])
    if target.endswith("c0_r0"):  # its inputs are the mesh's own ports
        assert "the cell's port in0" in first


def test_the_unedited_file_still_verifies(written):
    out, _ = written
    res = verify_dir(out, sweep=False)
    assert res["passed"] and not res["culprits"]


@pytest.mark.slow  # a subprocess that loads the data set: ~17 s on a loaded 2-core machine
def test_cli_verify_exits_nonzero_naming_the_moved_instance(written, tmp_path):
    out, _ = written
    copy_run(out, tmp_path)
    move_instance(out / "network.gds", tmp_path, "mzi_V0_c1_r1", 0.5, 0.0)
    exe = Path(sys.executable).with_name("gf-prune")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([str(exe), "verify", str(tmp_path)], capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode != 0
    text = " ".join((res.stderr + res.stdout).split())  # rich may wrap long lines
    assert "mzi_V0_c1_r1" in text and "lost their partner" in text
    assert gap_in(text) == pytest.approx(0.5, abs=1e-3)
    assert "Traceback" not in text
