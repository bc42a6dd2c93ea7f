"""The designer-facing report: one self-contained ``report.html`` per output folder.

:func:`write_report` reads ``report.json`` (the contract of docs/design.md) and whatever the
other stages left in the folder, and writes ``report.html``: a summary table (accuracy
dense / pruned / SAX, phases, heaters, MZIs, static power, verification error,
convention, pruning method, timings), the per-round table and plot, heater power per
mesh, mesh maps of pruned and removed MZIs, the layout picture, the λ sweep and the
robustness curves. Images are embedded as base64 ``data:`` URIs and the CSS is
inline, so the page opens offline and can be mailed as one file. Anything missing is
skipped with a note saying which file was looked for.

Files looked for in the folder (all optional except ``report.json``)::

    report.json                          the contract (or pass ``report=``)
    rounds.json                          per-round records: a list, or {"records": [...]} as the prune
                                         stage writes it (else report["rounds"] / ["pruning"]["records"])
    phases.npz                           NetworkPhases of the laid-out network
    phases_dense.npz                     NetworkPhases before pruning
    heaters.csv                          heater table (counts of live / pruned heaters)
    mesh_maps.png, power_bars.png        redrawn here from the phases npz
    rounds.png                           the prune stage's; drawn here from the records if absent
    layout.png, wavelength_sweep.png, robustness.png, robustness_layers.png   from the other stages
    verify.json                          per-mesh / per-layer errors (merged under report["verify"])
    layout.json                          chip size, MZIs built / removed / bar, heaters (under report["layout"])
    robustness.json                      robustness summary (else report["robustness"])
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gf_prune.io import atomic_write_text
from gf_prune.physics import P_PI_MW_DEFAULT
from gf_prune.report_html import (  # noqa: F401 (re-exported)
    VERIFY_TOL_DEFAULT,
    _acc_band,
    _e,
    _figure,
    _first,
    _flatten,
    _int,
    _json_section,
    _kv_table,
    _list_of_dicts,
    _mw,
    _num,
    _of,
    _pct,
    _read_json,
    _sci,
    _sec,
    _str,
    _table,
    _value,
    image_data_uri,
    layout_body,
    power_table,
    robustness_body,
    tapeout_body,
    verify_body,
)
from gf_prune.schema import PRUNING_KEYS

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
ROUNDS_JSON = ("rounds.json",)
PHASES_PRUNED = ("phases.npz",)
PHASES_DENSE = ("phases_dense.npz",)
HEATERS_CSV = "heaters.csv"
ROUNDS_PNG = "rounds.png"
MESH_MAPS_PNG = "mesh_maps.png"
POWER_BARS_PNG = "power_bars.png"
LAYOUT_PNG = "layout.png"
LAYOUT_WIRED_PNG = "layout_wired.png"
PAD_MAP_PNG = "pad_map.png"
SWEEP_PNG = "wavelength_sweep.png"
ROBUSTNESS_PNG = "robustness.png"
ROBUSTNESS_JSON = "robustness.json"
VERIFY_JSON = "verify.json"
LAYOUT_JSON = "layout.json"
ROBUSTNESS_LAYERS_PNG = "robustness_layers.png"
METHOD_KEYS = (PRUNING_KEYS["method"],)
RANKING_KEYS = (PRUNING_KEYS["ranking"],)
SCOPE_KEYS = (PRUNING_KEYS["scope"],)
BEST_ROUND_KEYS = (PRUNING_KEYS["best_round"],)

NAV = (
    "<nav>"
    + " · ".join(
        f'<a href="#{a}">{t}</a>'
        for a, t in (
            ("summary", "Summary"),
            ("timings", "Time"),
            ("rounds", "Rounds"),
            ("power", "Power"),
            ("mesh-maps", "Mesh maps"),
            ("layout", "Layout"),
            ("verification", "Verification"),
            ("robustness", "Robustness"),
            ("files", "Files"),
        )
    )
    + "</nav>"
)

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; color: #1d1d1f;
       background: #f6f7f9; line-height: 1.4; }
header { background: #12324a; color: #fff; padding: 18px 32px; }
header h1 { margin: 0 0 4px 0; font-size: 24px; }
header p { margin: 0; color: #c9d6e2; font-size: 13px; }
header nav { margin-top: 8px; font-size: 13px; color: #c9d6e2; }
header nav a { color: #ffffff; text-decoration: none; }
main { max-width: 1180px; margin: 0 auto; padding: 8px 32px 48px 32px; }
section { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 12px 20px 16px 20px;
          margin: 18px 0; }
h2 { font-size: 18px; margin: 4px 0 10px 0; color: #12324a; }
h3 { font-size: 14px; margin: 12px 0 6px 0; color: #12324a; }
table { border-collapse: collapse; font-size: 13px; margin: 4px 0 8px 0; }
th, td { border-bottom: 1px solid #e5e8ec; padding: 4px 12px 4px 6px; text-align: left; vertical-align: top; }
th { background: #eef2f6; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.summary td:first-child { font-weight: 600; white-space: nowrap; }
.note { color: #6b7580; font-size: 12px; }
.missing { color: #8a5a00; background: #fff6e0; border: 1px solid #f0d9a0; padding: 6px 10px; border-radius: 4px;
           font-size: 13px; }
.ok { color: #0b6b2e; font-weight: 600; }
.bad { color: #a01818; font-weight: 600; }
.kpis { display: flex; flex-wrap: wrap; gap: 12px; margin: 6px 0 4px 0; }
.kpi { background: #eef2f6; border-radius: 6px; padding: 8px 14px; min-width: 150px; }
.kpi .v { font-size: 22px; font-weight: 700; color: #12324a; }
.kpi .l { font-size: 12px; color: #5a6570; }
figure { margin: 8px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e5e8ec; }
figcaption { font-size: 12px; color: #5a6570; }
pre { background: #f3f5f7; padding: 10px; overflow-x: auto; font-size: 11px; }
details summary { cursor: pointer; color: #12324a; }
"""


# ---------------------------------------------------------------------- data gathering
def load_rounds(folder: Path, report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per-round records: ``report["rounds"]``, ``report["pruning"]["rounds"]`` or ``rounds.json``."""
    candidates: list[Any] = [report.get("rounds")]
    pruning = report.get("pruning")
    if isinstance(pruning, Mapping):
        candidates += [pruning.get("rounds"), pruning.get("records")]
    for name in ROUNDS_JSON:
        p = folder / name
        if p.is_file():
            data = _read_json(p)
            if isinstance(data, Mapping):
                data = data.get("rounds", data.get("records"))
            candidates.append(data)
    for c in candidates:
        if isinstance(c, list) and c and all(isinstance(r, Mapping) for r in c):
            return [dict(r) for r in c]
    return []


def heater_counts(path: Path) -> dict[str, float] | None:
    """Counts and power from ``heaters.csv``: total, live (powered), pruned, power_mw."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError):
        return None
    pruned = sum(1 for r in rows if str(r.get("pruned", "")).strip().lower() in ("true", "1", "yes"))
    power = 0.0
    for r in rows:
        with contextlib.suppress(ValueError):
            power += float(r.get("power_mw") or 0.0)
    return {"total": len(rows), "pruned": pruned, "live": len(rows) - pruned, "power_mw": power}


def _load_phases(path: Path | None) -> Any:
    if path is None:
        return None
    try:
        from gf_prune.phases import NetworkPhases

        return NetworkPhases.load(path)
    except Exception:  # a stage's file we cannot read is reported as missing, not fatal
        return None


def _sizes(net: Any) -> list[int]:
    layers = net.layers
    return [layers[0].n_in, *(layer.n_out for layer in layers)] if layers else []


def _make_plots(
    folder: Path, report: Mapping[str, Any], rounds: list[dict[str, Any]], net: Any, p_pi: float
) -> list[str]:
    """Draw mesh_maps.png and power_bars.png afresh from the phases, rounds.png if absent.

    The mesh maps and power bars are this module's own figures and are redrawn on
    every call (a rerun never shows stale ones); ``rounds.png`` is the prune stage's
    and is drawn here only when that stage left none. Returns notes on failures.
    """
    notes: list[str] = []
    from gf_prune import plots

    flat = _flatten(report)
    if rounds and not (folder / ROUNDS_PNG).is_file():  # the prune stage draws its own; keep it
        try:
            plots.plot_rounds(rounds, folder / ROUNDS_PNG, dense_accuracy=_num(flat, "accuracy.dense"))
        except Exception as exc:
            notes.append(f"rounds plot failed: {exc}")
    if (folder / "pads.csv").is_file() and (folder / "heaters.csv").is_file():
        try:
            plots.plot_pad_map(folder / "pads.csv", folder / "heaters.csv", folder / PAD_MAP_PNG)
        except Exception as exc:
            notes.append(f"pad map failed: {exc}")
    if net is not None:
        try:
            plots.plot_mesh_maps(net, folder / MESH_MAPS_PNG, p_pi)
            dense = _load_phases(_first(folder, PHASES_DENSE))
            plots.plot_power_bars(net, folder / POWER_BARS_PNG, p_pi, dense=dense)
        except Exception as exc:
            notes.append(f"mesh map / power plot failed: {exc}")
    return notes


# ---------------------------------------------------------------------- sections
def _foundry_rows(flat: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The foundry-model accuracies (gf_prune.foundry), when the verify stage computed them."""
    acc_f = _num(flat, "accuracy.foundry")
    if acc_f is None:
        return []
    pdk = _str(flat, "verify.foundry.pdk") or "the PDK"
    tuned = _num(flat, "accuracy.foundry_tuned")
    return [(f"Test accuracy, {pdk}'s models: trained / re-fitted phases", f"{_pct(acc_f, 2)} / {_pct(tuned, 2)}")]


def _summary(flat: Mapping[str, Any], heaters: Mapping[str, float] | None) -> str:
    acc_d = _num(flat, "accuracy.dense")
    acc_p = _num(flat, "accuracy.pruned")
    acc_s = _num(flat, "accuracy.sax")
    p_d = _num(flat, "power_mw.dense", "power_mw.dense.total")
    p_p = _num(flat, "power_mw.pruned", "power_mw.pruned.total")
    saved = (1 - p_p / p_d) if (p_d and p_p is not None) else None
    ph_uv, ph_uv_p = _num(flat, "phases.total_uv"), _num(flat, "phases.pruned_uv")
    ph_all, ph_all_p = _num(flat, "phases.total_all"), _num(flat, "phases.pruned_all")
    mz_t = _num(flat, "mzis.total", "layout.mzis.total", "layout.mzis_total")
    mz_r = _num(flat, "mzis.removed", "layout.mzis.removed", "layout.mzis_removed")
    mz_b = _num(flat, "mzis.bar", "layout.mzis.bar", "layout.mzis_bar")
    err = _num(flat, "verify.max_rel_error")
    tol = _num(flat, "verify.tolerance", "verify.tol") or VERIFY_TOL_DEFAULT
    p_pi = _num(flat, "p_pi_mw", "power_mw.p_pi_mw", "physics.p_pi_mw", "convention.p_pi_mw")

    def delta(a: float | None) -> str:
        return "" if a is None or acc_d is None else f" <span class='note'>({100 * (a - acc_d):+.2f} points)</span>"

    kpis = [
        (_pct(acc_p), "pruned test accuracy"),
        (_pct(ph_uv_p / ph_uv if ph_uv and ph_uv_p is not None else None), "U/V phases pruned"),
        (_pct(saved), "static power saved"),
        (f"{_int(mz_r)} / {_int(mz_t)}", "MZIs removed"),
        (_sci(err), "layout vs trained, max rel. error"),
    ]
    kpi_html = "".join(
        f'<div class="kpi"><div class="v">{_e(v)}</div><div class="l">{_e(lab)}</div></div>' for v, lab in kpis
    )

    if err is None:
        verdict = ""
    elif err <= tol:
        verdict = f" <span class='ok'>✓ ≤ {tol:.0e}</span>"
    else:
        verdict = f" <span class='bad'>✗ &gt; {tol:.0e}</span>"
    heater_row = "—"
    if heaters is not None:
        heater_row = (
            f"{heaters['live']:.0f} powered / {heaters['total']:.0f} phase shifters "
            f"({heaters['pruned']:.0f} off or not built); table total {_mw(heaters['power_mw'])}"
        )
    else:
        h_live, h_tot = _num(flat, "heaters.live", "heaters.powered"), _num(flat, "heaters.total")
        if h_tot is not None:
            heater_row = f"{_int(h_live)} powered / {_int(h_tot)} phase shifters"
    saved_note = f" <span class='note'>({_pct(saved)} saved)</span>" if saved is not None else ""
    kept = (mz_t - (mz_r or 0) - (mz_b or 0)) if mz_t is not None else None
    method = _str(flat, *METHOD_KEYS) or "—"
    ranking = _str(flat, *RANKING_KEYS) or "—"
    scope = _str(flat, *SCOPE_KEYS)
    rows = [
        ("Test accuracy, dense (trained)", _pct(acc_d, 2)),
        ("Test accuracy, pruned (phase model)", _pct(acc_p, 2) + delta(acc_p)),
        ("Test accuracy, SAX-simulated layout", _pct(acc_s, 2) + delta(acc_s)),
        *_foundry_rows(flat),
        (
            "Validation accuracy, dense / pruned",
            f"{_pct(_num(flat, 'accuracy.val_dense'), 2)} / {_pct(_num(flat, 'accuracy.val_pruned'), 2)}",
        ),
        (
            "Splits (train / validation / test)",
            f"{_int(_num(flat, 'data.n_train'))} / {_int(_num(flat, 'data.n_val'))} / {_int(_num(flat, 'data.n_test'))}"
            " — every choice (early stopping, the pruned round) on validation; test reported only",
        ),
        ("Optical bias mode", _e(str(flat.get("model.bias", "—")))),
        ("Phases pruned, U/V meshes", _of(ph_uv_p, ph_uv)),
        ("Phases pruned, all (incl. Σ)", _of(ph_all_p, ph_all)),
        ("Heaters", _e(heater_row)),
        (
            "MZIs removed / unpowered bar / kept",
            f"{_int(mz_r)} removed, {_int(mz_b)} unpowered bar, {_int(kept)} kept of {_int(mz_t)}",
        ),
        ("Static heater power, dense", _mw(p_d)),
        (
            "Static heater power, pruned",
            _mw(p_p) + saved_note,
        ),
        ("Verification, max ‖S_layout − M‖/‖M‖", _sci(err) + verdict),
        ("Zero-power state of an MZI", _e(_str(flat, "convention.zero_state") or "—")),
        ("Pruned MZIs", _e(_str(flat, "convention.pruned_mzi", "layout.pruned_mzi", "pruned_mzi") or "—")),
        ("Mesh", _e(_str(flat, "convention.mesh_kind", "mesh_kind", "network.mesh_kind") or "—")),
        ("P_π of a heater", _mw(p_pi) if p_pi is not None else f"— (default {P_PI_MW_DEFAULT:g} mW)"),
        ("Pruning method", _e(method + (f" ({scope})" if scope else ""))),
        ("Ranking of phases", _e(ranking)),
    ]
    # values above are already escaped where they come from the file; numbers are formatted here
    table = _table(("quantity", "value"), [(_e(k), v) for k, v in rows], cls="summary")
    return f'<section id="summary"><h2>Summary</h2><div class="kpis">{kpi_html}</div>{table}</section>'


def _timings(flat: Mapping[str, Any]) -> str:
    items = [(k[len("timings_s.") :], v) for k, v in flat.items() if k.startswith("timings_s.")]
    rows = []
    total = 0.0
    for stage, v in items:
        t = _num({"t": v}, "t")
        total += t or 0.0
        rows.append((_e(stage), _sec(t)))
    if not rows:
        body = '<p class="missing">No <code>timings_s</code> in report.json.</p>'
    else:
        if not any(s in ("total", "run") for s, _ in items):
            rows.append(("<b>sum of stages</b>", f"<b>{_sec(total)}</b>"))
        body = _table(("stage", "time"), rows, num_cols=(1,))
    return f'<section id="timings"><h2>Time per stage</h2>{body}</section>'


def _rounds_section(folder: Path, rounds: list[dict[str, Any]], best_round: float | None) -> str:
    from gf_prune import plots

    def pc(v: float | None) -> str:
        return "—" if v is None else (_pct(v) if v <= 1.0 + 1e-9 else f"{v:.1f} %")

    parts = ['<section id="rounds"><h2>Pruning rounds</h2>']
    if rounds:
        has_split = any(plots.pick(r, ("sparsity_theta_uv",)) is not None for r in rounds)
        has_step = any(isinstance(r.get("step"), str) for r in rounds)
        has_val = any(plots.pick(r, ("acc_val",)) is not None for r in rounds)
        header = ["round", *(["step"] if has_step else [])]
        header += ["validation accuracy (selects)"] if has_val else []
        header += ["test accuracy (reported)", "U/V phases pruned"]
        header += ["θ / φ pruned (U/V)"] if has_split else []
        header += ["all phases pruned", "static power", "removable MZIs"]
        rows = []
        for i, r in enumerate(rounds):
            rnd = plots.pick(r, ("round",))
            rnd = i if rnd is None else rnd
            mark = " ★" if best_round is not None and rnd == best_round else ""
            row = [f"{_int(rnd)}{mark}"]
            if has_step:
                row.append(_e(r.get("step", "")))
            if has_val:
                row.append(pc(plots.pick(r, ("acc_val",))))
            row += [pc(plots.pick(r, plots.ACCURACY_KEYS)), pc(plots.pick(r, plots.SPARSITY_UV_KEYS))]
            if has_split:
                row.append(f"{pc(plots.pick(r, ('sparsity_theta_uv',)))} / {pc(plots.pick(r, ('sparsity_phi_uv',)))}")
            row += [
                pc(plots.pick(r, plots.SPARSITY_ALL_KEYS)),
                _mw(plots.pick(r, plots.POWER_KEYS)),
                _int(plots.pick(r, plots.REMOVABLE_KEYS)),
            ]
            rows.append(row)
        first_num = 2 if has_step else 1
        parts.append(_table(header, rows, num_cols=(0, *range(first_num, len(header)))))
        if best_round is not None:
            parts.append(
                '<p class="note">★ the round that was laid out: the sparsest whose validation accuracy is within '
                "the accuracy budget of the dense network's (chosen on validation, never on test).</p>"
            )
    else:
        parts.append('<p class="missing">No per-round records (report["rounds"] or rounds.json).</p>')
    parts.append(_figure(folder, ROUNDS_PNG, "Accuracy, sparsity and static power per round", "no per-round records."))
    parts.append("</section>")
    return "".join(parts)


# ---------------------------------------------------------------------- entry point
def write_report(out_dir: str | Path, report: Mapping[str, Any] | None = None, make_plots: bool = True) -> Path:
    """Write ``out_dir/report.html`` from ``report.json`` and the files beside it.

    Args:
        out_dir: the run's output folder.
        report: the report dict; read from ``out_dir/report.json`` when None.
        make_plots: redraw ``mesh_maps.png`` and ``power_bars.png`` from the phases
            npz, and draw ``rounds.png`` from the records if the prune stage left none
            (without data, an existing picture of that name is embedded as it is).

    Returns:
        the path of ``report.html`` (written atomically).

    Raises:
        FileNotFoundError: no such folder, or no report given and no ``report.json``.
        ValueError: ``report.json`` is not a JSON object.
    """
    folder = Path(out_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {folder}")
    if report is None:
        rj = folder / REPORT_JSON
        if not rj.is_file():
            raise FileNotFoundError(f"no {REPORT_JSON} in {folder}: run the pipeline first")
        try:
            report = json.loads(rj.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValueError(f"{rj} is not valid JSON: {exc}") from None
    if not isinstance(report, Mapping):
        raise ValueError(f"{REPORT_JSON} must hold a JSON object, got {type(report).__name__}")
    flat = _flatten(report)
    p_pi = _num(flat, "p_pi_mw", "power_mw.p_pi_mw", "physics.p_pi_mw", "convention.p_pi_mw") or P_PI_MW_DEFAULT
    net = _load_phases(_first(folder, PHASES_PRUNED))
    if net is not None:  # what the phases file knows and report.json may not say
        extra = {"convention.mesh_kind": net.mesh_kind, "network.sizes": _sizes(net)}
        flat = {**extra, **flat}
    rounds = load_rounds(folder, report)
    notes = _make_plots(folder, report, rounds, net, p_pi) if make_plots else []
    heaters_path = folder / HEATERS_CSV
    heaters = heater_counts(heaters_path) if heaters_path.is_file() else None
    robustness = report.get("robustness")
    rob_file = folder / ROBUSTNESS_JSON
    if rob_file.is_file():
        robustness = _read_json(rob_file) or robustness

    verify: dict[str, Any] = dict(report.get("verify") or {}) if isinstance(report.get("verify"), Mapping) else {}
    verify_file = _read_json(folder / VERIFY_JSON) if (folder / VERIFY_JSON).is_file() else None
    if isinstance(verify_file, Mapping):
        verify = {**verify_file, **verify}
    layout: dict[str, Any] = dict(report.get("layout") or {}) if isinstance(report.get("layout"), Mapping) else {}
    layout_file = _read_json(folder / LAYOUT_JSON) if (folder / LAYOUT_JSON).is_file() else None
    if isinstance(layout_file, Mapping):
        layout = {**layout_file, **layout}
    for prefix, extra in (("verify.", verify), ("layout.", layout)):  # the summary may find its figures there
        for k, v in _flatten(extra, prefix).items():
            flat.setdefault(k, v)
    title = _str(flat, "name", "title", "run.name") or folder.resolve().name
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    dataset = _str(flat, "dataset.name", "data.name", "dataset", "data.dataset", "config.data.name")
    sizes = flat.get("network.sizes") or flat.get("sizes")
    sub = f"gf_prune report · generated {stamp}"
    if dataset:
        sub += f" · data: {dataset}"
    if isinstance(sizes, list):
        sub += " · network " + "→".join(str(s) for s in sizes)

    sections = [_summary(flat, heaters), _timings(flat), _rounds_section(folder, rounds, _num(flat, *BEST_ROUND_KEYS))]
    sections.append(
        '<section id="power"><h2>Static power per layer and mesh</h2>'
        + _figure(
            folder,
            POWER_BARS_PNG,
            "Heater power per layer and mesh (V → Σ → U), θ and φ stacked; hatched: dense",
            "no phases file (phases_pruned.npz) to draw it from.",
        )
        + (power_table(net, p_pi) if net is not None else "")
        + (
            "<details><summary>power_mw in report.json</summary>"
            + _json_section("power_mw", "power", report.get("power_mw"))
            + "</details>"
            if isinstance(report.get("power_mw"), Mapping)
            else ""
        )
        + "</section>"
    )
    sections.append(
        '<section id="mesh-maps"><h2>Mesh maps: pruned and removed MZIs</h2>'
        '<p class="note">Each box is one MZI at its (column, mode) of the mesh; light travels left to right, '
        "mode 0 at the top. Top row per layer: status; bottom row: heater power (θ + φ).</p>"
        + _figure(folder, MESH_MAPS_PNG, "MZI status and heater power per mesh", "no phases file to draw it from.")
        + "</section>"
    )
    sections.append(
        '<section id="layout"><h2>Layout</h2>'
        + _figure(folder, LAYOUT_PNG, "Layout of network.gds", "the layout stage has not written its picture.")
        + layout_body(layout)
        + "</section>"
    )
    sections.append(
        '<section id="tapeout"><h2>Tape-out: I/O, pads, checks</h2>'
        + _figure(
            folder, LAYOUT_WIRED_PNG, "network_wired.gds: the chip with gratings, pads and routes", "no wired chip."
        )
        + _figure(folder, PAD_MAP_PNG, "Pad map: each signal pad and the heater it drives", "no pads.csv.")
        + tapeout_body(layout, verify)
        + "</section>"
    )
    sections.append(
        '<section id="verification"><h2>Verification (SAX on the layout)</h2>'
        + _figure(
            folder,
            SWEEP_PNG,
            "Relative error of the SAX-simulated layout vs the trained matrices over wavelength",
            "the verification stage has not written its λ sweep.",
        )
        + verify_body(verify)
        + "</section>"
    )
    sections.append(
        '<section id="robustness"><h2>Robustness under imperfections</h2>'
        + _figure(
            folder,
            ROBUSTNESS_PNG,
            "Test accuracy vs imperfection strength, dense vs pruned",
            "the robustness stage has not written its curves.",
        )
        + (
            _figure(folder, ROBUSTNESS_LAYERS_PNG, "Per-layer sensitivity: one layer perturbed at a time", "")
            if (folder / ROBUSTNESS_LAYERS_PNG).is_file()
            else ""
        )
        + (
            robustness_body(robustness)
            if isinstance(robustness, Mapping) and robustness
            else '<p class="note">No robustness summary (robustness.json or report["robustness"]).</p>'
        )
        + "</section>"
    )
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    file_rows = [
        (f'<a href="{_e(p.name)}">{_e(p.name)}</a>', f"{p.stat().st_size / 1024:.1f} KiB")
        for p in files
        if p.name != REPORT_HTML
    ]
    sections.append(
        '<section id="files"><h2>Files in this folder</h2>'
        + _table(("file", "size"), file_rows, num_cols=(1,))
        + "<details><summary>report.json in full</summary><pre>"
        + _e(json.dumps(report, indent=2, default=str))
        + "</pre></details></section>"
    )
    if notes:
        sections.insert(0, "".join(f'<p class="missing">{_e(n)}</p>' for n in notes))

    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(title)} — gf_prune report</title><style>{CSS}</style></head><body>"
        f"<header><h1>{_e(title)}</h1><p>{_e(sub)}</p>{NAV}</header><main>{''.join(sections)}</main></body></html>\n"
    )
    return atomic_write_text(folder / REPORT_HTML, page)
