"""report.html, its figures and the atomic writers: the designer-facing contract of docs/design.md."""

from __future__ import annotations

import base64
import contextlib
import csv
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from gf_prune import plots
from gf_prune.io import atomic_output, atomic_write_bytes, atomic_write_json, atomic_write_text, recorded_path
from gf_prune.mesh import topology
from gf_prune.phases import HEATER_COLUMNS, LayerPhases, MeshPhases, NetworkPhases, SigmaPhases
from gf_prune.report import write_report

CHROMIUM = "/usr/bin/chromium"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def random_network(sizes: tuple[int, ...], p_pruned: float, seed: int) -> NetworkPhases:
    """A network with uniform phases and independent random θ/φ masks."""
    rng = np.random.default_rng(seed)

    def mesh(n: int) -> MeshPhases:
        m = topology(n, "clements").n_mzis
        return MeshPhases(
            n,
            "clements",
            rng.uniform(0, 2 * np.pi, m),
            rng.uniform(0, 2 * np.pi, m),
            rng.random(m) >= p_pruned,
            rng.random(m) >= p_pruned,
        )

    layers = []
    for n_in, n_out in itertools.pairwise(sizes):
        k = min(n_in, n_out)
        sigma = SigmaPhases(
            rng.uniform(0, np.pi, k), rng.uniform(0, 2 * np.pi, k), rng.random(k) >= p_pruned, rng.random(k) >= p_pruned
        )
        layers.append(LayerPhases(n_in, n_out, mesh(n_in), sigma, mesh(n_out)))
    return NetworkPhases(layers, meta={"sizes": list(sizes)})


def contract_report() -> dict:
    """report.json with every key docs/design.md names (values made up, recognisable in the HTML)."""
    return {
        "accuracy": {"dense": 0.9761, "pruned": 0.9512, "sax": 0.9509},
        "phases": {"total_uv": 1290, "pruned_uv": 1101, "total_all": 1374, "pruned_all": 1166},
        "power_mw": {"dense": 31415.9, "pruned": 4321.0},
        "mzis": {"total": 687, "removed": 412, "bar": 0},
        "verify": {"max_rel_error": 3.2e-13},
        "convention": {"zero_state": "bar", "pruned_mzi": "remove"},
        "pruning": {"method": "lth", "ranking": "circular distance from 0 (wrap-aware)", "scope": "layer-wise"},
        "timings_s": {"train": 12.5, "prune": 201.5, "layout": 9.0, "verify": 5.5, "robustness": 30.0},
        "rounds": [
            {"round": i, "accuracy": 0.976 - 0.002 * i, "sparsity_uv": 1 - 0.9**i, "sparsity_all": 1 - 0.905**i}
            | ({"power_mw": 31415.9 * 0.88**i} if i != 2 else {})
            for i in range(6)
        ],
    }


def write_heaters_csv(net: NetworkPhases, path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=HEATER_COLUMNS)
        w.writeheader()
        w.writerows(net.heater_rows())


def tiny_png(path: Path, colour: str) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.add_patch(plt.Rectangle((0.1, 0.1), 0.8, 0.8, color=colour))
    fig.savefig(path, dpi=60)
    plt.close(fig)


@pytest.fixture(scope="module")
def out_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder as the pipeline leaves it; the λ sweep and robustness pictures are missing."""
    out = tmp_path_factory.mktemp("run")
    net = random_network((6, 6, 4), 0.5, seed=1)
    net.save(out / "phases.npz")
    random_network((6, 6, 4), 0.0, seed=2).save(out / "phases_dense.npz")
    write_heaters_csv(net, out / "heaters.csv")
    (out / "report.json").write_text(json.dumps(contract_report()))
    tiny_png(out / "layout.png", "#3355aa")
    write_report(out)
    return out


@pytest.fixture(scope="module")
def page(out_folder: Path) -> str:
    return (out_folder / "report.html").read_text(encoding="utf-8")


# ---------------------------------------------------------------------- the page
def test_summary_shows_contract_figures(page: str) -> None:
    for text in ("97.61 %", "95.12 %", "95.09 %", "1101 / 1290", "1166 / 1374", "3.20e-13", "412 removed"):
        assert text in page, text
    assert "31.416 W" in page and "4321.0 mW" in page
    assert "86.2 % saved" in page  # 1 − 4321/31415.9
    assert "lth" in page and "wrap-aware" in page and "bar" in page


def test_power_table_per_layer_and_mesh(out_folder: Path, page: str) -> None:
    net = NetworkPhases.load(out_folder / "phases.npz")
    total = sum(r["power_mw"] for r in net.heater_rows())
    power = page[page.index('id="power"') : page.index('id="mesh-maps"')].split("<details>")[0]
    assert power.count("<tr>") == 1 + 2 * 3 + 1  # header, (V, Σ, U) × 2 layers, the sum
    assert f"<b>{total:.1f} mW</b>" in power or f"<b>{total / 1000:.3f} W</b>" in power


def test_timings_per_stage_are_listed(page: str) -> None:
    timings = page[page.index('id="timings"') :]
    for stage in ("train", "prune", "layout", "verify", "robustness"):
        assert f"<td>{stage}</td>" in timings
    assert "258.5 s (4.3 min)" in timings  # sum of stages


def test_heater_counts_come_from_heaters_csv(out_folder: Path, page: str) -> None:
    with open(out_folder / "heaters.csv") as f:
        rows = list(csv.DictReader(f))
    live = sum(r["pruned"] == "False" for r in rows)
    assert f"{live} powered / {len(rows)} phase shifters" in page


def test_rounds_table_tolerates_a_missing_power(page: str) -> None:
    rounds = page[page.index('id="rounds"') : page.index('id="power"')]
    assert rounds.count("<tr>") == 1 + 6
    assert "—" in rounds  # round 2 has no power


def test_every_picture_is_embedded_as_a_png(out_folder: Path, page: str) -> None:
    embedded = dict(re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"[^>]*data-file="([^"]+)"', page))
    by_file = {name: base64.b64decode(data) for data, name in embedded.items()}
    assert set(by_file) == {"rounds.png", "mesh_maps.png", "power_bars.png", "layout.png"}
    for name, data in by_file.items():
        assert data.startswith(PNG_MAGIC)
        assert data == (out_folder / name).read_bytes()


def test_missing_pictures_are_named(page: str) -> None:
    assert "No <code>wavelength_sweep.png</code>" in page
    assert "No <code>robustness.png</code>" in page


def test_page_fetches_nothing_from_outside(page: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "<script" not in page


def test_report_json_values_are_escaped(tmp_path: Path) -> None:
    report = contract_report() | {"name": "<script>alert(1)</script>"}
    html_text = write_report(tmp_path, report).read_text()
    assert "<script>" not in html_text and "&lt;script&gt;" in html_text


def test_report_without_json_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"report\.json"):
        write_report(tmp_path)
    assert not (tmp_path / "report.html").exists()


def test_failed_report_keeps_the_previous_page(tmp_path: Path) -> None:
    old = write_report(tmp_path, contract_report()).read_bytes()
    (tmp_path / "report.json").write_text("[1, 2, 3]")
    with pytest.raises(ValueError, match="JSON object"):
        write_report(tmp_path)
    assert (tmp_path / "report.html").read_bytes() == old
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_prune_stage_records_and_best_round(tmp_path: Path) -> None:
    """rounds.json as the prune stage writes it: {"summary", "records"} with acc_test, removable_mzis."""
    records = [
        {
            "round": i,
            "step": f"round {i}",
            "acc_test": 0.97 - 0.01 * i,
            "acc_train": 0.99,
            "sparsity_uv": 0.1 * i,
            "sparsity_theta_uv": 0.12 * i,
            "sparsity_phi_uv": 0.08 * i,
            "sparsity_all": 0.09 * i,
            "power_mw": 1000.0 - 100 * i,
            "removable_mzis": 7 * i,
        }
        for i in range(4)
    ]
    rounds_json = {"format": "x", "summary": {"method": "lth", "best_round": 2}, "records": records}
    (tmp_path / "rounds.json").write_text(json.dumps(rounds_json))
    report = {k: v for k, v in contract_report().items() if k not in ("rounds", "pruning")}
    report["pruning"] = dict(rounds_json["summary"])  # as the pipeline writes it (gf_prune.schema.Pruning)
    text = write_report(tmp_path, report).read_text()
    rounds = text[text.index('id="rounds"') : text.index('id="power"')]
    assert rounds.count("<tr>") == 1 + 4
    assert "2 ★" in rounds and "round 3" in rounds and "94.0 %" in rounds and "24.0 % / 16.0 %" in rounds
    assert '<td class="num">21</td>' in rounds  # removable MZIs of round 3
    assert (tmp_path / "rounds.png").read_bytes().startswith(PNG_MAGIC)


def test_stage_rounds_png_is_kept(tmp_path: Path) -> None:
    tiny_png(tmp_path / "rounds.png", "#aa3355")
    before = (tmp_path / "rounds.png").read_bytes()
    write_report(tmp_path, contract_report())
    assert (tmp_path / "rounds.png").read_bytes() == before


def test_verify_json_details_are_shown(tmp_path: Path) -> None:
    verify = {
        "max_rel_error": 2.5e-3,
        "tolerance": 1e-6,
        "passed": False,
        "culprit": "mzi_U1_c3_r5",
        "problems": ["mzi_U1_c3_r5: θ heater missing"],
        "per_mesh": [{"layer": 0, "mesh": "V", "rel_error": 1e-13}, {"layer": 1, "mesh": "U", "rel_error": 2.5e-3}],
        "per_layer": [{"layer": 0, "rel_error": 1.1e-13}, {"layer": 1, "rel_error": 2.4e-3}],
    }
    (tmp_path / "verify.json").write_text(json.dumps(verify))
    report = contract_report()
    report["verify"] = {"max_rel_error": 2.5e-3}
    text = write_report(tmp_path, report).read_text()
    section = text[text.index('id="verification"') : text.index('id="robustness"')]
    assert "FAILED" in section and "mzi_U1_c3_r5" in section and "θ heater missing" in section
    assert section.count("2.50e-03") >= 2 and "2.40e-03" in section
    assert "✗" in text[: text.index('id="timings"')]  # the summary flags it too


def test_layout_json_fills_the_mzi_figures(tmp_path: Path) -> None:
    layout = {
        "area_um2": 2.5e7,
        "width_um": 17820.0,
        "height_um": 1599.25,
        "pruned_mzi": "remove",
        "mzis": {"total": 237, "built": 100, "removed": 137, "bar": 0},
    }
    (tmp_path / "layout.json").write_text(json.dumps(layout))
    report = {k: v for k, v in contract_report().items() if k != "mzis"}
    text = write_report(tmp_path, report).read_text()
    assert "137 / 237" in text  # the summary's MZIs-removed figure
    section = text[text.index('id="layout"') : text.index('id="verification"')]
    assert "17.820 mm × 1.599 mm" in section and "25.000 mm²" in section and "remove" in section


def test_robustness_summary_is_tabulated(tmp_path: Path) -> None:
    band = {"mean": 0.9, "p5": 0.85, "p95": 0.95, "std": 0.03}
    rob = {
        "config": {"trials": 1000},
        "units": {"sigma_ps": "π rad"},
        "clean": {"dense": 0.97, "pruned": 0.95},
        "sweeps": {
            "sigma_ps": {"parameter": "sigma_ps", "values": [0.0, 0.01], "dense": [band, band], "pruned": [band, band]}
        },
        "combined": {"dense": band, "pruned": {"mean": 0.8, "p5": 0.7, "p95": 0.88}},
        "layer_sensitivity": {
            "setting": {},
            "dense": [{"drop": 0.01}, {"drop": 0.02}],
            "pruned": [{"drop": 0.05}, {"drop": 0.1}],
        },
    }
    (tmp_path / "robustness.json").write_text(json.dumps(rob))
    tiny_png(tmp_path / "robustness.png", "#55aa33")
    text = write_report(tmp_path, contract_report()).read_text()
    section = text[text.index('id="robustness"') : text.index('id="files"')]
    assert 'data-file="robustness.png"' in section
    assert "97.0 %" in section and "80.0 %" in section and "(70.0–88.0)" in section
    assert "sigma_ps (π rad)" in section and "10.0 points" in section


# ---------------------------------------------------------------------- the figures
def test_mesh_map_status_and_power_match_the_heater_table() -> None:
    net = random_network((5, 4), 0.5, seed=3)
    maps = plots.mesh_maps(net)
    removed = sum(int((m.status == plots.REMOVED).sum()) for m in maps)
    expected_removed = sum(
        int(np.sum(~np.asarray(getattr(layer, name).theta_live) & ~np.asarray(getattr(layer, name).phi_live)))
        for layer in net.layers
        for name in ("V", "S", "U")
    )
    assert removed == expected_removed
    total_power = sum(float(m.power_mw.sum()) for m in maps)
    assert total_power == pytest.approx(sum(r["power_mw"] for r in net.heater_rows()), rel=1e-12)


def test_plot_rounds_accepts_sparse_and_nested_records(tmp_path: Path) -> None:
    records = [{}, {"round": 1, "accuracy": {"test": 0.9}}, {"round": 2, "sparsity": {"uv": 0.3}, "power_mw": 10.0}]
    path = plots.plot_rounds(records, tmp_path / "r.png")
    assert path.read_bytes().startswith(PNG_MAGIC)
    assert plots.plot_rounds([], tmp_path / "empty.png").is_file()


def test_power_bars_with_dense_reference(tmp_path: Path) -> None:
    pruned, dense = random_network((4, 4), 0.5, 4), random_network((4, 4), 0.0, 5)
    assert plots.plot_power_bars(pruned, tmp_path / "bars.png", dense=dense).read_bytes().startswith(PNG_MAGIC)
    rows = plots.power_breakdown(pruned)
    assert [(r["layer"], r["mesh"]) for r in rows] == [(0, "V"), (0, "S"), (0, "U")]


# ---------------------------------------------------------------------- atomic writers
def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")
    atomic_write_text(target, "new ✓")
    assert target.read_text(encoding="utf-8") == "new ✓"
    atomic_write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


@pytest.mark.parametrize("exc", [RuntimeError("writer failed"), KeyboardInterrupt()])
def test_atomic_output_failure_keeps_old_file_and_leaves_no_temp(tmp_path: Path, exc: BaseException) -> None:
    target = tmp_path / "network.gds"
    target.write_bytes(b"complete old chip")
    with pytest.raises(type(exc)), atomic_output(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".gds"
        tmp.write_bytes(b"half a chi")
        raise exc
    assert target.read_bytes() == b"complete old chip"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["network.gds"]


def test_atomic_output_without_old_file_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_output(tmp_path / "weights.npz") as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_atomic_json_refuses_nan_without_touching_the_file(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    atomic_write_json(target, {"ok": 1})
    with pytest.raises(ValueError):
        atomic_write_json(target, {"accuracy": float("nan")})
    assert json.loads(target.read_text()) == {"ok": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_atomic_write_into_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_write_bytes(tmp_path / "nope" / "x.bin", b"x")
    assert list(tmp_path.iterdir()) == []


def test_recorded_paths_are_relative_to_the_output_folder(tmp_path: Path) -> None:
    out = tmp_path / ".out.partial-123"
    assert recorded_path(out / "network.gds", out) == "network.gds"
    assert recorded_path(out / "sub" / "a.png", out) == "sub/a.png"
    assert recorded_path(str(out / "network.gds"), str(out)) == "network.gds"
    assert recorded_path(tmp_path / "chip.gds", out) == str(tmp_path / "chip.gds")  # outside: as given


def test_new_files_are_readable_by_others(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "heaters.csv", "layer\n")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


# ---------------------------------------------------------------------- a real browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_report_renders_in_headless_chromium(out_folder: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "shot.png"
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path))
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--screenshot={shot}",
        "--window-size=1280,2000",
        (out_folder / "report.html").resolve().as_uri(),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # chromium and its helper processes, nothing else
        proc.communicate()
        pytest.fail("headless chromium did not finish within 120 s")
    finally:
        with contextlib.suppress(ProcessLookupError):  # helpers left behind by chromium's own session
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(profile, ignore_errors=True)
    assert shot.is_file(), f"chromium wrote no screenshot: {err.decode(errors='replace')[-2000:]}"
    with Image.open(shot) as im:
        assert im.size == (1280, 2000)
        rgb = np.asarray(im.convert("RGB"), dtype=np.int16)
    assert rgb.std() > 10  # not a blank page
    # the dark header band is drawn at the top, and the embedded pictures add many colours
    assert rgb[:40].mean() < 120
    assert len(np.unique(rgb.reshape(-1, 3)[::7], axis=0)) > 50
