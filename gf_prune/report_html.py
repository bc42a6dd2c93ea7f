"""HTML building blocks of the report: number formatting, tables, embedded figures, and the bodies of the
layout, verification and robustness sections (read from each stage's JSON)."""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gf_prune.plots import first_number, flatten

VERIFY_TOL_DEFAULT = 1e-6

_flatten = flatten  # one dotted-key flattener, shared with the plots


def _num(flat: Mapping[str, Any], *keys: str) -> float | None:
    """First finite number among dotted ``keys`` of a flattened dict."""
    return first_number(flat, keys)


def _str(flat: Mapping[str, Any], *keys: str) -> str | None:
    for k in keys:
        v = flat.get(k)
        if v is not None and not isinstance(v, Mapping | list):
            return str(v)
    return None


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _pct(frac: float | None, digits: int = 1) -> str:
    return "—" if frac is None else f"{100 * frac:.{digits}f} %"


def _mw(p: float | None) -> str:
    if p is None:
        return "—"
    return f"{p / 1000:.3f} W" if abs(p) >= 10_000 else f"{p:.1f} mW"


def _int(x: float | None) -> str:
    return "—" if x is None else f"{round(x):d}"


def _sec(t: float | None) -> str:
    if t is None:
        return "—"
    if t < 10:
        return f"{t:.2f} s"
    return f"{t:.1f} s" if t < 120 else f"{t:.1f} s ({t / 60:.1f} min)"


def _sci(x: float | None) -> str:
    return "—" if x is None else f"{x:.2e}"


def _of(part: float | None, whole: float | None) -> str:
    """'12 / 120 (10.0 %)'."""
    if part is None and whole is None:
        return "—"
    s = f"{_int(part)} / {_int(whole)}"
    if part is not None and whole:
        s += f" ({100 * part / whole:.1f} %)"
    return s


def _value(v: Any) -> str:
    """A leaf of report.json, readable."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    if isinstance(v, list):
        shown = ", ".join(_value(x) for x in v[:8])
        return f"[{shown}{', …' if len(v) > 8 else ''}] ({len(v)} values)" if len(v) > 8 else f"[{shown}]"
    return str(v)


def _read_json(path: Path) -> Any | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _first(folder: Path, names: Sequence[str]) -> Path | None:
    for n in names:
        p = folder / n
        if p.is_file():
            return p
    return None


def image_data_uri(path: Path) -> str:
    """``data:image/png;base64,…`` of a PNG (or JPEG/SVG by suffix)."""
    mime = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}.get(
        path.suffix.lower(), "application/octet-stream"
    )
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _figure(folder: Path, name: str, caption: str, missing_hint: str) -> str:
    p = folder / name
    if not p.is_file():
        return f'<p class="missing">No <code>{_e(name)}</code> in the output folder: {_e(missing_hint)}</p>'
    try:
        uri = image_data_uri(p)
    except OSError as exc:
        return f'<p class="missing">Could not read <code>{_e(name)}</code>: {_e(exc)}</p>'
    return (
        f'<figure><img src="{uri}" alt="{_e(caption)}" data-file="{_e(name)}">'
        f"<figcaption>{_e(caption)} <span class='note'>({_e(name)})</span></figcaption></figure>"
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], num_cols: Sequence[int] = (), cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for r in rows:
        cells = "".join(f'<td class="num">{c}</td>' if i in num_cols else f"<td>{c}</td>" for i, c in enumerate(r))
        body.append(f"<tr>{cells}</tr>")
    c = f' class="{cls}"' if cls else ""
    return f"<table{c}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _kv_table(flat: Mapping[str, Any], limit: int = 80) -> str:
    items = [(k, v) for k, v in flat.items() if not isinstance(v, Mapping)]
    rows = [[_e(k), _e(_value(v))] for k, v in items[:limit]]
    extra = f'<p class="note">… {len(items) - limit} more values in the JSON file.</p>' if len(items) > limit else ""
    return _table(("key", "value"), rows) + extra


def _json_section(title: str, anchor: str, data: Any, limit: int = 80) -> str:
    if isinstance(data, Mapping) and data:
        return f"<h3>{_e(title)}</h3>" + _kv_table(_flatten(data), limit)
    return ""


def power_table(net: Any, p_pi_mw: float) -> str:
    """Static power and kept MZIs of the laid-out network per layer and mesh, θ and φ apart."""
    from gf_prune import plots

    rows, tot = [], [0.0, 0.0]
    for mm in plots.mesh_maps(net, p_pi_mw):
        th, ph = float(mm.power_theta_mw.sum()), float(mm.power_phi_mw.sum())
        tot[0] += th
        tot[1] += ph
        n = int(mm.cols.size)
        removed = int((mm.status == plots.REMOVED).sum())
        live_heaters = int(mm.theta_live.sum() + mm.phi_live.sum())
        name = "Σ" if mm.mesh == "S" else mm.mesh
        rows.append(
            (str(mm.layer), name, f"{n - removed} / {n}", f"{live_heaters} / {2 * n}", _mw(th), _mw(ph), _mw(th + ph))
        )
    rows.append(("<b>all</b>", "", "", "", _mw(tot[0]), _mw(tot[1]), f"<b>{_mw(sum(tot))}</b>"))
    head = ("layer", "mesh", "MZIs kept", "heaters live", "θ power", "φ power", "total")
    return "<h3>Laid-out network (pruned)</h3>" + _table(head, rows, num_cols=(2, 3, 4, 5, 6))


def layout_body(layout: Mapping[str, Any]) -> str:
    """Chip size, MZIs and heaters of the layout, from layout.json / report["layout"]."""
    flat = _flatten(layout)
    rows = []
    w, h = _num(flat, "width_um"), _num(flat, "height_um")
    if w is not None and h is not None:
        rows.append(("chip size", f"{w / 1000:.3f} mm × {h / 1000:.3f} mm"))
    if (a := _num(flat, "area_um2")) is not None:
        rows.append(("area", f"{a / 1e6:.3f} mm²"))
    for key, label in (
        ("mzis.total", "MZI slots (mesh + Σ)"),
        ("mzis.built", "MZIs built"),
        ("mzis.removed", "MZIs removed (waveguides)"),
        ("mzis.bar", "MZIs kept unpowered in bar"),
        ("mzis.attenuators", "Σ attenuators"),
        ("heaters.dense", "heaters, dense network"),
        ("heaters.pruned", "heaters, pruned network"),
    ):
        if (v := _num(flat, key)) is not None:
            rows.append((label, _int(v)))
    for key, label in (("pruned_mzi", "pruned MZIs are"), ("zero_state", "zero-power state"), ("mesh_kind", "mesh")):
        if isinstance(flat.get(key), str):
            rows.append((label, _e(flat[key])))
    if not rows:
        return '<p class="note">No layout figures (layout.json or report["layout"]).</p>'
    return "<h3>Layout figures</h3>" + _table(("quantity", "value"), rows, num_cols=(1,))


def _list_of_dicts(x: Any) -> list[Mapping[str, Any]]:
    return [r for r in x if isinstance(r, Mapping)] if isinstance(x, list) else []


def verify_body(verify: Mapping[str, Any]) -> str:
    """Verdict, worst errors, and the error of every mesh / layer from verify.json."""
    flat = _flatten({k: v for k, v in verify.items() if not isinstance(v, list)})
    err = _num(flat, "max_rel_error")
    tol = _num(flat, "tolerance", "tol") or VERIFY_TOL_DEFAULT
    passed = flat.get("passed")
    if passed is None and err is not None:
        passed = err <= tol
    rows = []
    if passed is not None:
        rows.append(("verdict", "<span class='ok'>passed</span>" if passed else "<span class='bad'>FAILED</span>"))
    for key, label in (
        ("max_rel_error", "worst mesh / layer, ‖S − M‖_F/‖M‖_F"),
        ("chip_rel_error", "whole chip"),
        ("tolerance", "tolerance"),
    ):
        if (v := _num(flat, key)) is not None:
            rows.append((_e(label), _sci(v)))
    if (wl := _num(flat, "wavelength_um", "wl_um")) is not None:
        rows.append(("design wavelength", f"{wl:.4g} µm"))
    if flat.get("culprit"):
        rows.append(("culprit", _e(flat["culprit"])))
    parts = [_table(("check", "value"), rows, num_cols=(1,))] if rows else []
    problems = verify.get("problems")
    if isinstance(problems, list) and problems:
        parts.append("<h3>Problems found</h3><ul>" + "".join(f"<li>{_e(p)}</li>" for p in problems[:20]) + "</ul>")
    per_mesh = _list_of_dicts(verify.get("per_mesh"))
    if per_mesh:
        mesh_rows = [
            (_e(r.get("layer", "")), _e("Σ" if r.get("mesh") == "S" else r.get("mesh", "")), _sci(_num(r, "rel_error")))
            for r in per_mesh
        ]
        parts.append("<h3>Per mesh</h3>" + _table(("layer", "mesh", "relative error"), mesh_rows, num_cols=(2,)))
    per_layer = _list_of_dicts(verify.get("per_layer"))
    if per_layer:
        layer_rows = [(_e(r.get("layer", "")), _sci(_num(r, "rel_error"))) for r in per_layer]
        parts.append("<h3>Per layer (W = U Σ V†)</h3>" + _table(("layer", "relative error"), layer_rows, (1,)))
    return "".join(parts) or '<p class="note">No verification figures in report.json or verify.json.</p>'


def _acc_band(s: Any) -> str:
    if not isinstance(s, Mapping):
        return "—"
    mean, p5, p95 = _num(s, "mean"), _num(s, "p5"), _num(s, "p95")
    if mean is None:
        return "—"
    band = f" <span class='note'>({100 * p5:.1f}–{100 * p95:.1f})</span>" if p5 is not None and p95 is not None else ""
    return f"{100 * mean:.1f} %{band}"


def robustness_body(rob: Mapping[str, Any]) -> str:
    """Clean and combined accuracy, each sweep and the per-layer drop, dense vs pruned."""
    clean = rob.get("clean") if isinstance(rob.get("clean"), Mapping) else {}
    combined = rob.get("combined") if isinstance(rob.get("combined"), Mapping) else {}
    models = [m for m in ("dense", "pruned", "pruned_ft") if m in clean or m in combined]
    models += [m for m in {**clean, **combined} if m not in models]
    parts = []
    if models:
        head = ("", *models)
        rows = [("no imperfection", *(_pct(_num(clean, m), 1) for m in models))]
        if combined:
            rows.append(("all imperfections at once: mean (p5–p95)", *(_acc_band(combined.get(m)) for m in models)))
        parts.append(_table(head, rows, num_cols=tuple(range(1, len(head)))))
        parts.append(
            '<p class="note">Test accuracy under Monte-Carlo imperfections; pruned_ft: pruned and '
            "fine-tuned under noise.</p>"
        )
    sweeps = rob.get("sweeps")
    if isinstance(sweeps, Mapping):
        units = rob.get("units") if isinstance(rob.get("units"), Mapping) else {}
        for field, sw in sweeps.items():
            if not isinstance(sw, Mapping) or not isinstance(sw.get("values"), list):
                continue
            names = [m for m in models if isinstance(sw.get(m), list)] or [
                k for k, v in sw.items() if isinstance(v, list) and k != "values"
            ]
            rows = []
            for i, v in enumerate(sw["values"]):
                row = [_e(_value(v))]
                for m in names:
                    ms = sw[m]
                    row.append(_acc_band(ms[i]) if i < len(ms) else "—")
                rows.append(row)
            unit = units.get(field)
            title = f"{field} ({unit})" if isinstance(unit, str) else field
            parts.append(
                f"<h3>Sweep of {_e(title)}</h3>" + _table((field, *names), rows, tuple(range(1, 1 + len(names))))
            )
    layers = rob.get("layer_sensitivity")
    if isinstance(layers, Mapping):
        names = [m for m in models if _list_of_dicts(layers.get(m))]
        n = max((len(layers[m]) for m in names), default=0)
        if n:
            rows = []
            for li in range(n):
                row = [str(li)]
                for m in names:
                    r = layers[m][li] if li < len(layers[m]) else None
                    drop = _num(r, "drop") if isinstance(r, Mapping) else None
                    row.append("—" if drop is None else f"{100 * drop:.1f} points")
                rows.append(row)
            parts.append(
                "<h3>Per-layer sensitivity (accuracy drop, one layer perturbed)</h3>"
                + _table(("layer", *names), rows, tuple(range(1, 1 + len(names))))
            )
    if not parts:  # an unknown layout of the summary: show its scalars
        return _kv_table(_flatten({k: v for k, v in rob.items() if k != "config"}), 60)
    return "".join(parts)


def _check_row(label: str, check: Any) -> tuple[str, str] | None:
    if not isinstance(check, Mapping) or "ok" not in check:
        return None
    counts = check.get("counts") or {}
    n = check.get("n_problems", sum(counts.values()) if isinstance(counts, Mapping) else 0)
    what = ", ".join(f"{k}: {v}" for k, v in counts.items()) if isinstance(counts, Mapping) and counts else ""
    verdict = (
        "<span class='ok'>0 violations</span>" if check["ok"] else f"<span class='bad'>{_e(n)} ({_e(what)})</span>"
    )
    return (label, verdict)


def tapeout_body(layout: Mapping[str, Any], verify: Mapping[str, Any]) -> str:
    """The hand-off: PDK, optical I/O and loss budget, pads and die, rule/connectivity checks, foundry models."""
    flat = _flatten(layout)
    rows: list[tuple[str, str]] = []
    if (pdk := _str(flat, "pdk.name")) is not None:
        rows.append(("PDK", _e(pdk)))
    if (n := _num(flat, "io.fibers")) is not None:
        rows.append(
            ("fibres (gratings, incl. loopback)", f"{_int(n)} on a {_num(flat, 'io.pitch_um') or 0:g} µm pitch")
        )
    worst = layout.get("loss_budget_db", {}).get("worst") if isinstance(layout.get("loss_budget_db"), Mapping) else None
    if isinstance(worst, Mapping):
        path = worst.get("max_path") or {}
        rows.append(
            (
                "worst optical path",
                f"{_e(worst.get('input'))} → {_e(worst.get('output'))}: {worst.get('max_dB', 0):.1f} dB "
                f"({_e(path.get('mmis'))} MMIs, {_e(path.get('bends'))} bends, "
                f"{(path.get('length_um') or 0) / 1e3:.1f} mm, {_e(path.get('gratings'))} gratings)",
            )
        )
    if (lb := _num(flat, "loss_budget_db.loopback.dB")) is not None:
        rows.append(("alignment loopback", f"{lb:.1f} dB"))
    srcs = flat.get("loss_budget_db.figures.sources.mmi_dB")
    if isinstance(srcs, str):
        rows.append(("loss figures from", _e(srcs)))
    if (pads := _num(flat, "pads")) is not None:
        rows.append(
            (
                "pads (signal + ground) / dense chip",
                f"{_int(_num(flat, 'wiring.pads_signal'))} + {_int(_num(flat, 'wiring.pads_ground'))} = {_int(pads)}"
                f" / {_int(_num(flat, 'pads_dense'))}",
            )
        )
        rows.append(("heaters wired", _int(_num(flat, "heaters_wired"))))
        rows.append(
            (
                "ground sharing",
                f"≤ {_int(_num(flat, 'wiring.heaters_per_ground_max'))} heaters per ground pad, worst return "
                f"{_num(flat, 'wiring.ground_current_mA_max') or 0:.1f} mA",
            )
        )
        rows.append(
            (
                "pad pitch, rows per edge",
                f"{_num(flat, 'wiring.pad_pitch_um') or 0:g} µm, {_e(flat.get('wiring.pad_rows_per_edge'))}",
            )
        )
    die = layout.get("die_mm")
    if isinstance(die, list) and len(die) == 2:
        rows.append(("die", f"{die[0]:.2f} mm × {die[1]:.2f} mm"))
    if isinstance(flat.get("standard_die.split"), str):
        rows.append(("standard die", _e(flat["standard_die.split"])))
    for label, check in (
        ("rule checks, network.gds", layout.get("geometry")),
        ("rule checks, network_wired.gds", (layout.get("wiring") or {}).get("geometry")),
        ("pad ↔ heater connectivity", (layout.get("wiring") or {}).get("check")),
    ):
        if (row := _check_row(label, check)) is not None:
            rows.append(row)
    foundry = verify.get("foundry") if isinstance(verify.get("foundry"), Mapping) else {}
    if isinstance(foundry.get("skipped"), str):
        rows.append(("foundry-model simulation", _e(foundry["skipped"])))
    if not rows:
        return '<p class="note">No tape-out figures in layout.json.</p>'
    return _table(("item", "value"), rows)
