"""``gf-prune sweep``: a grid and/or random samples over config keys × seeds, run on Ray.

A sweep config is a run config (the base of every trial) with one extra ``sweep:`` section::

    train: {epochs: 300}
    sweep:
      grid:                          # every combination
        prune.method: [lth, gradual]
        prune.max_loss: [0.01, 0.05]
      random:                        # optional: `samples` draws, crossed with the grid
        samples: 4
        seed: 0                      # of the sampler (not of the trials)
        params:
          prune.rate: {uniform: [0.05, 0.2]}
          prune.finetune_epochs: {choice: [100, 200]}    # also loguniform: [a, b], randint: [a, b]
      seeds: [0, 1, 2]               # the top-level `seed` of each trial

Every key and value is checked against the typed :class:`~gf_prune.config.RunConfig` (and the robustness
config) before anything runs; a bad one is a :class:`~gf_prune.config.ConfigError` naming the key.

Each trial is a full :func:`gf_prune.pipeline.run_all` into ``DIR/trials/<id>/`` in a Ray task with one
torch/BLAS thread. Trials share the train and prune stages through ``DIR/cache/`` (keyed by the stage
fingerprints; one computes, the others wait and copy). A restarted sweep skips trials whose ``trial.json``
says ``ok`` for the same config; a killed trial resumes from its staging folder and pruning checkpoint.
Results: ``DIR/sweep.csv`` (one row per trial) and ``DIR/sweep.html`` (mean ± range over seeds per
configuration, Pareto fronts, links to each trial's report). Ray is imported only here, lazily.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import html
import io
import itertools
import json
import math
import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gf_prune.config import ConfigError, RunConfig, format_validation_error

THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "XLA_FLAGS": ""}
TRIAL_FILE = "trial.json"
SWEEP_KEYS = ("grid", "random", "seeds", "variants")
DISTRIBUTIONS = ("choice", "uniform", "loguniform", "randint")

# sweep.csv columns after the swept keys: (column, dotted key in report.json or a callable)
METRICS: list[tuple[str, str]] = [
    ("acc_val_dense", "accuracy.val_dense"),
    ("acc_val_pruned", "accuracy.val_pruned"),
    ("acc_test_dense", "accuracy.dense"),
    ("acc_test_pruned", "accuracy.pruned"),
    ("acc_test_sax", "accuracy.sax"),
    ("phases_total_uv", "phases.total_uv"),
    ("phases_pruned_uv", "phases.pruned_uv"),
    ("phases_total_all", "phases.total_all"),
    ("phases_pruned_all", "phases.pruned_all"),
    ("power_dense_mw", "power_mw.dense"),
    ("power_pruned_mw", "power_mw.pruned"),
    ("power_saved", "power_mw.saved_fraction"),
    ("mzis_total", "mzis.total"),
    ("mzis_removed", "mzis.removed"),
]
DERIVED = ["sparsity_uv", "sparsity_all", "area_mm2", "area_kind"]
TAIL = ["wall_s", "status", "error", "report"]


@dataclass
class Trial:
    """One point of the sweep: its overrides (dotted key → value, ``seed`` included) and resolved config."""

    id: str
    overrides: dict[str, Any]
    config: dict[str, Any]  # the full validated RunConfig as JSON
    config_hash: str = ""
    raw: dict[str, Any] = field(default_factory=dict)  # what the trial runs: base + overrides, as written
    # (not the full dump: unset keys keep their meaning, e.g. prune.dense_epochs defaults to train.epochs)


@dataclass
class SweepSpec:
    grid: dict[str, list[Any]] = field(default_factory=dict)
    random: dict[str, Any] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [0])
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)  # name → {dotted key: value}

    @property
    def keys(self) -> list[str]:
        return [*(["variant"] if self.variants else []), *self.grid, *self.random.get("params", {})]


# ----------------------------------------------------------------------------- config


def _set_dotted(d: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    for i, part in enumerate(parts[:-1]):
        nxt = d.setdefault(part, {})
        if nxt is None:
            nxt = d[part] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"sweep: {key}: {'.'.join(parts[: i + 1])} is a value, not a section")
        d = nxt
    old = d.get(parts[-1])
    if isinstance(old, dict) and isinstance(value, dict):  # a section given as a mapping: merged into the base
        old.update(copy.deepcopy(value))
    else:
        d[parts[-1]] = value


def _validate(cfg: dict[str, Any], what: str) -> RunConfig:
    """RunConfig (and the robustness section) of ``cfg``; a ConfigError naming ``what`` and the key."""
    from pydantic import ValidationError

    try:
        rc = RunConfig.model_validate(cfg)
    except ValidationError as exc:
        raise ConfigError(f"sweep: {what}: {format_validation_error(exc)}") from None
    if rc.robustness:
        from gf_prune.robustness import load_config as robustness_config

        try:
            robustness_config({k: v for k, v in rc.robustness.items() if k != "enabled"})
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"sweep: {what}: robustness: {str(exc).splitlines()[0]}") from None
    return rc


def load_sweep(path: str | Path) -> tuple[dict[str, Any], SweepSpec]:
    """(base config dict, sweep spec) of a sweep YAML; the shape of the sweep section is checked here."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sweep config not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a mapping of sections")
    sw = data.pop("sweep", None)
    if not isinstance(sw, dict) or not sw:
        raise ConfigError(f"{path}: no `sweep:` section (grid, random, seeds)")
    unknown = [k for k in sw if k not in SWEEP_KEYS]
    if unknown:
        raise ConfigError(f"sweep.{unknown[0]}: unknown key (known: {', '.join(SWEEP_KEYS)})")
    grid = sw.get("grid") or {}
    if not isinstance(grid, dict):
        raise ConfigError("sweep.grid: must be a mapping of dotted config keys to lists of values")
    for k, v in grid.items():
        if not isinstance(v, list) or not v:
            raise ConfigError(f"sweep.grid.{k}: must be a non-empty list of values, got {v!r}")
    rnd = sw.get("random") or {}
    if rnd:
        if not isinstance(rnd, dict) or not isinstance(rnd.get("params"), dict) or not rnd["params"]:
            raise ConfigError("sweep.random: needs `params:` (key: {choice|uniform|loguniform|randint: …})")
        bad = [k for k in rnd if k not in ("samples", "seed", "params")]
        if bad:
            raise ConfigError(f"sweep.random.{bad[0]}: unknown key (known: samples, seed, params)")
        if not isinstance(rnd.get("samples", 1), int) or rnd.get("samples", 1) < 1:
            raise ConfigError(f"sweep.random.samples: must be an integer ≥ 1, got {rnd.get('samples')!r}")
        for k, dist in rnd["params"].items():
            if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
                raise ConfigError(f"sweep.random.params.{k}: one of {', '.join(DISTRIBUTIONS)}, got {dist!r}")
            ((kind, arg),) = dist.items()
            if kind == "choice" and (not isinstance(arg, list) or not arg):
                raise ConfigError(f"sweep.random.params.{k}: choice needs a non-empty list")
            if kind != "choice" and (
                not isinstance(arg, list) or len(arg) != 2 or not all(isinstance(a, int | float) for a in arg)
            ):
                raise ConfigError(f"sweep.random.params.{k}: {kind} needs [low, high], got {arg!r}")
            if kind == "loguniform" and min(arg) <= 0:
                raise ConfigError(f"sweep.random.params.{k}: loguniform needs positive bounds, got {arg!r}")
    seeds = sw.get("seeds", [data.get("seed", 0)])
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
    ):
        raise ConfigError(f"sweep.seeds: must be a non-empty list of integers, got {seeds!r}")
    variants = sw.get("variants") or {}
    if not isinstance(variants, dict) or not all(isinstance(v, dict) for v in variants.values()):
        raise ConfigError("sweep.variants: must map a name to {dotted key: value, …}")
    both = set(grid) & set(rnd.get("params", {}))
    if both:
        raise ConfigError(f"sweep: {sorted(both)[0]}: both in grid and random")
    if "seed" in grid or "seed" in rnd.get("params", {}):
        raise ConfigError("sweep: seed: use `sweep.seeds: [...]` for the top-level seed")
    variants = {str(k): dict(v) for k, v in variants.items()}
    return data, SweepSpec(grid=dict(grid), random=dict(rnd), seeds=list(seeds), variants=variants)


def _samples(spec: SweepSpec) -> list[dict[str, Any]]:
    rnd = spec.random
    if not rnd:
        return [{}]
    import numpy as np

    rng = np.random.default_rng(int(rnd.get("seed", 0)))
    out = []
    for _ in range(int(rnd.get("samples", 1))):
        s: dict[str, Any] = {}
        for k, dist in rnd["params"].items():
            ((kind, arg),) = dist.items()
            if kind == "choice":
                s[k] = copy.deepcopy(arg[int(rng.integers(len(arg)))])
            elif kind == "uniform":
                s[k] = float(rng.uniform(arg[0], arg[1]))
            elif kind == "loguniform":
                s[k] = float(math.exp(rng.uniform(math.log(arg[0]), math.log(arg[1]))))
            else:
                s[k] = int(rng.integers(int(arg[0]), int(arg[1]) + 1))
        out.append(s)
    return out


def _slug(overrides: dict[str, Any]) -> str:
    parts = []
    for k, v in overrides.items():
        val = json.dumps(v) if not isinstance(v, str) else v
        if isinstance(v, float):
            val = f"{v:.4g}"
        parts.append(val if k == "variant" else f"{k.split('.')[-1]}={val}")
    s = re.sub(r"[^A-Za-z0-9=.,_+-]+", "", "_".join(parts))
    return s[:60] or "trial"


def expand(base: dict[str, Any], spec: SweepSpec) -> list[Trial]:
    """Every trial of the sweep, each validated; raises ConfigError naming the first bad key/value."""
    base_cfg = _validate(base, "base config")  # the base alone must be valid
    del base_cfg
    for k, values in spec.grid.items():  # each key/value alone: the error names it
        for v in values:
            d = copy.deepcopy(base)
            _set_dotted(d, k, v)
            _validate(d, f"{k} = {v!r}")
    for name, var in spec.variants.items():
        d = copy.deepcopy(base)
        for k, v in var.items():
            _set_dotted(d, k, v)
        _validate(d, f"variant {name}")
    trials, seen = [], set()
    keys = list(spec.grid)
    variants = spec.variants or {"": {}}
    for (vname, var), combo in itertools.product(
        variants.items(), itertools.product(*(spec.grid[k] for k in keys)) if keys else [()]
    ):
        for sample in _samples(spec):
            for seed in spec.seeds:
                ov = {**({"variant": vname} if vname else {}), **dict(zip(keys, combo, strict=True)), **sample}
                ov["seed"] = seed
                d = copy.deepcopy(base)
                for k, v in {**var, **ov}.items():
                    if k != "variant":
                        _set_dotted(d, k, v)
                what = ", ".join(f"{k} = {v!r}" for k, v in ov.items())
                cfg = _validate(d, what).model_dump(mode="json")
                h = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()
                if h in seen:
                    continue
                seen.add(h)
                trials.append(Trial(id=f"{_slug(ov)}-{h[:6]}", overrides=ov, config=cfg, config_hash=h, raw=d))
    return trials


# ----------------------------------------------------------------------------- one trial (runs in a Ray task)


def _get(d: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def _area(report: dict[str, Any]) -> tuple[float | None, str]:
    a = _get(report, "layout.area_mm2")
    if isinstance(a, dict):
        for kind in ("compacted", "pruned"):
            if isinstance(a.get(kind), int | float):
                return float(a[kind]), kind
    um2 = _get(report, "layout.area_um2")
    if isinstance(um2, int | float):
        return float(um2) / 1e6, "bbox"
    return None, ""


def row_from_report(report: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {col: _get(report, key) for col, key in METRICS}
    ph = report.get("phases", {})
    row["sparsity_uv"] = ph["pruned_uv"] / ph["total_uv"] if ph.get("total_uv") else None
    row["sparsity_all"] = ph["pruned_all"] / ph["total_all"] if ph.get("total_all") else None
    row["area_mm2"], row["area_kind"] = _area(report)
    return row


def run_trial(trial_dir: str, config: dict[str, Any], cache_dir: str | None, running_dir: str) -> dict[str, Any]:
    """Run one trial (a full ``run_all``) with one thread; never raises: the error goes into the result."""
    for k, v in THREAD_ENV.items():
        if k != "XLA_FLAGS":
            os.environ[k] = v
    marker = Path(running_dir) / f".{Path(trial_dir).name}.running"
    t0 = time.perf_counter()
    status, error, report, config_hash = "ok", "", None, ""
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"{socket.gethostname()} {os.getpid()}\n")
        import torch

        torch.set_num_threads(1)
        from gf_prune.config import validate
        from gf_prune.pipeline import StageFailed, read_json, run_all

        cfg = validate(RunConfig, config)
        config_hash = hashlib.sha256(json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
        out = Path(trial_dir)
        try:
            report = run_all(out, cfg, cache=Path(cache_dir) if cache_dir else None)
        except StageFailed as exc:  # the run finished but its result failed a check: keep its figures
            status, error = "failed", str(exc)
            if (out / "report.json").is_file():
                report = read_json(out / "report.json")
    except BaseException as exc:
        status, error = "failed", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
    finally:
        marker.unlink(missing_ok=True)
    wall = time.perf_counter() - t0
    result = {
        "status": status,
        "error": error,
        "wall_s": wall,
        "config_hash": config_hash,
        "row": row_from_report(report) if report else {},
    }
    out = Path(trial_dir)
    if out.is_dir():
        from gf_prune.io import atomic_write_text

        atomic_write_text(out / TRIAL_FILE, json.dumps(result, indent=2))
    return result


def finished_result(trial_dir: Path, trial: Trial) -> dict[str, Any] | None:
    """The saved result of a trial that already finished ``ok`` with the same config, else None."""
    p = trial_dir / TRIAL_FILE
    if not p.is_file() or not (trial_dir / "report.json").is_file():
        return None
    try:
        res = json.loads(p.read_text())
    except json.JSONDecodeError:
        return None
    if res.get("status") == "ok" and res.get("config_hash") == trial.config_hash:
        return res
    return None


# ----------------------------------------------------------------------------- Ray


def check_address(address: str, timeout: float = 5.0) -> None:
    """Fail fast (ConnectionError naming it) when a cluster address does not answer on TCP."""
    if address in ("auto", "local"):
        return
    hostport = re.sub(r"^[a-z]+://", "", address).rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConnectionError(f"--address {address!r}: expected HOST:PORT (or ray://HOST:PORT, auto)")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise ConnectionError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None


def _init_ray(workers: int, address: str | None) -> Any:
    import logging

    import ray

    env = {k: v for k, v in THREAD_ENV.items() if k != "XLA_FLAGS"}
    if address:
        check_address(address)
        try:
            ray.init(address=address, runtime_env={"env_vars": env}, logging_level=logging.WARNING, log_to_driver=False)
        except Exception as exc:
            raise ConnectionError(f"cannot connect to the Ray cluster at {address}: {exc}") from None
    else:
        os.environ.update(env)  # local workers inherit the driver's environment
        ray.init(
            num_cpus=workers,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
            runtime_env={"env_vars": env},
        )
    return ray


# ----------------------------------------------------------------------------- the sweep


class _Progress:
    """Trials done / running / failed and an ETA: rich bar on a terminal, plain lines otherwise."""

    def __init__(self, total: int, running_dir: Path, slots: int) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, soft_wrap=True)
        self.total, self.running_dir, self.slots = total, running_dir, max(slots, 1)
        self.done = self.failed = self.skipped = 0
        self.t0 = time.perf_counter()
        self.rich = self.console.is_terminal or bool(os.environ.get("GF_PRUNE_PROGRESS"))
        self.bar: Any = None
        if self.rich:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("[bold]sweep"),
                BarColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=self.console,
            )
            self.bar.__enter__()
            self.task = self.bar.add_task("", total=total)

    def running(self) -> int:
        return sum(1 for _ in self.running_dir.glob(".*.running"))

    def text(self) -> str:
        finished = self.done + self.failed
        computed = finished - self.skipped
        left = self.total - finished
        eta = ""
        if computed > 0 and left > 0:
            eta = f", ETA {(time.perf_counter() - self.t0) / computed * left:.0f} s"
        return (
            f"{finished}/{self.total} finished ({self.done} ok, {self.failed} failed, {self.skipped} skipped), "
            f"{self.running()} running{eta}"
        )

    def update(self, line: str | None = None) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done + self.failed, description=self.text())
            if line:
                self.bar.console.print(line, markup=False, highlight=False)
        elif line:
            self.console.print(f"[sweep] {line} | {self.text()}", markup=False, highlight=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def run_sweep(
    config: str | Path,
    out: str | Path,
    workers: int = 2,
    address: str | None = None,
    say: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every trial of the sweep ``config`` into ``out``; write sweep.csv and sweep.html; return the rows.

    Everything is validated (and the cluster reached) before the first trial starts.
    """
    base, spec = load_sweep(config)
    trials = expand(base, spec)
    if workers < 1:
        raise ValueError(f"--workers must be ≥ 1, got {workers}")
    out = Path(out)
    tdir = out / "trials"
    if address:
        check_address(address)
    tdir.mkdir(parents=True, exist_ok=True)
    for m in tdir.glob(".*.running"):  # markers of a killed sweep
        m.unlink(missing_ok=True)
    results: dict[str, dict[str, Any]] = {}
    todo = []
    for t in trials:
        res = finished_result(tdir / t.id, t)
        if res is not None:
            results[t.id] = {**res, "skipped": True}
        else:
            todo.append(t)
    prog = _Progress(len(trials), tdir, workers)
    prog.skipped = prog.done = len(results)
    if results:
        prog.update(f"{len(results)} trials already finished (skipped)")
    write_results(out, trials, spec, results)
    try:
        if todo:
            ray = _init_ray(workers, address)
            try:
                remote = ray.remote(num_cpus=1, max_retries=2)(run_trial)
                futures = {
                    remote.remote(
                        str((tdir / t.id).resolve()), t.raw, str((out / "cache").resolve()), str(tdir.resolve())
                    ): t
                    for t in todo
                }
                pending = list(futures)
                while pending:
                    ready, pending = ray.wait(pending, num_returns=1, timeout=2.0)
                    for f in ready:
                        t = futures[f]
                        try:
                            res = ray.get(f)
                        except Exception as exc:  # the worker died (after retries) or Ray failed
                            res = {
                                "status": "failed",
                                "error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}",
                                "wall_s": None,
                                "row": {},
                            }
                        results[t.id] = res
                        if res["status"] == "ok":
                            prog.done += 1
                        else:
                            prog.failed += 1
                        write_results(out, trials, spec, results)
                        prog.update(f"{t.id}: {res['status']}" + (f" ({res['error']})" if res["error"] else ""))
                    if not ready:
                        prog.update()
            finally:
                ray.shutdown()
    finally:
        prog.close()
    return write_results(out, trials, spec, results)


# ----------------------------------------------------------------------------- results


def _fmt(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list | dict):
        return json.dumps(v)
    return v


def write_results(
    out: Path, trials: list[Trial], spec: SweepSpec, results: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """``sweep.csv`` and ``sweep.html`` of the trials finished so far (every trial has a row)."""
    from gf_prune.io import atomic_write_text

    keys = spec.keys
    rows = []
    for t in trials:
        res = results.get(t.id)
        row: dict[str, Any] = {"trial": t.id, **{k: t.overrides.get(k) for k in keys}, "seed": t.overrides["seed"]}
        metrics = (res or {}).get("row") or {}
        row.update({c: metrics.get(c) for c, _ in METRICS})
        row.update({c: metrics.get(c) for c in DERIVED})
        rep = out / "trials" / t.id / "report.html"
        row.update(
            wall_s=(res or {}).get("wall_s"),
            status=(res or {}).get("status", "pending"),
            error=(res or {}).get("error", ""),
            report=f"trials/{t.id}/report.html" if res and rep.is_file() else "",
        )
        rows.append(row)
    cols = ["trial", *keys, "seed", *(c for c, _ in METRICS), *DERIVED, *TAIL]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: _fmt(r.get(c)) for c in cols})
    atomic_write_text(out / "sweep.csv", buf.getvalue())
    atomic_write_text(out / "sweep.html", render_html(rows, keys))
    return rows


def pareto(points: list[tuple[float, float]], maximize_x: bool) -> list[int]:
    """Indices of the points not dominated (accuracy y is maximised; x maximised or minimised)."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = False
        for j, (x2, y2) in enumerate(points):
            if j == i:
                continue
            better_x = x2 >= x if maximize_x else x2 <= x
            strictly = (x2 > x if maximize_x else x2 < x) or y2 > y
            if better_x and y2 >= y and strictly:
                dominated = True
                break
        if not dominated:
            front.append(i)
    return front


def _png(fig: Any) -> str:
    import base64

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def _pareto_plot(rows: list[dict[str, Any]], xcol: str, xlabel: str, maximize_x: bool) -> tuple[str, list[dict]]:
    pts = [r for r in rows if r["status"] == "ok" and r.get(xcol) is not None and r.get("acc_test_pruned") is not None]
    if not pts:
        return "", []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xy = [(float(r[xcol]), float(r["acc_test_pruned"])) for r in pts]
    front = sorted(pareto(xy, maximize_x), key=lambda i: xy[i][0])
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.scatter([p[0] for p in xy], [p[1] for p in xy], s=18, alpha=0.6, label="trials")
    ax.plot([xy[i][0] for i in front], [xy[i][1] for i in front], "r.-", label="Pareto front")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (pruned)")
    ax.grid(alpha=0.3)
    ax.legend()
    img = _png(fig)
    plt.close(fig)
    return img, [pts[i] for i in front]


def _cell(v: Any) -> str:
    return html.escape(str(_fmt(v)))


def render_html(rows: list[dict[str, Any]], keys: list[str]) -> str:
    ok = [r for r in rows if r["status"] == "ok"]
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(json.dumps({k: r.get(k) for k in keys}), []).append(r)
    stats = [
        "acc_val_pruned",
        "acc_test_pruned",
        "acc_test_sax",
        "sparsity_uv",
        "sparsity_all",
        "power_pruned_mw",
        "mzis_removed",
        "area_mm2",
        "wall_s",
    ]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>gf-prune sweep</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#eee}"
        ".failed{color:#b00}</style></head><body>",
        f"<h1>gf-prune sweep</h1><p>{len(rows)} trials: {len(ok)} ok, "
        f"{sum(r['status'] == 'failed' for r in rows)} failed, {sum(r['status'] == 'pending' for r in rows)} pending."
        " Accuracies: <b>test</b> split (reported only); rounds were chosen on validation. Values are mean ± half"
        " the range (min–max) over the seeds of each configuration.</p>",
        "<h2>Configurations (mean ± range over seeds)</h2><table><tr>",
        *(f"<th>{html.escape(k)}</th>" for k in keys),
        "<th>seeds ok</th>",
        *(f"<th>{s}</th>" for s in stats),
        "</tr>",
    ]
    for g, rs in groups.items():
        vals = json.loads(g)
        good = [r for r in rs if r["status"] == "ok"]
        parts.append("<tr>" + "".join(f"<td>{_cell(vals[k])}</td>" for k in keys) + f"<td>{len(good)}/{len(rs)}</td>")
        for s in stats:
            xs = [float(r[s]) for r in good if r.get(s) is not None]
            if not xs:
                parts.append("<td></td>")
                continue
            mean, lo, hi = sum(xs) / len(xs), min(xs), max(xs)
            parts.append(f"<td title='min {lo:.4g}, max {hi:.4g}'>{mean:.4g} ± {(hi - lo) / 2:.2g}</td>")
        parts.append("</tr>")
    parts.append("</table><h2>Pareto fronts (test accuracy of the pruned network)</h2>")
    for xcol, label, maxx in (
        ("power_pruned_mw", "static power (mW)", False),
        ("sparsity_uv", "U/V phase sparsity", True),
        ("area_mm2", "chip area (mm²)", False),
    ):
        img, front = _pareto_plot(rows, xcol, label, maxx)
        parts.append(f"<h3>accuracy vs {html.escape(label)}</h3>")
        if not img:
            parts.append(f"<p>no trial has {html.escape(xcol)}.</p>")
            continue
        parts.append(f"<img src='data:image/png;base64,{img}' alt='Pareto front: accuracy vs {label}'>")
        parts.append(
            "<p>On the front: "
            + ", ".join(
                f"<a href='{html.escape(r['report'])}'>{html.escape(r['trial'])}</a>"
                if r["report"]
                else html.escape(r["trial"])
                for r in front
            )
            + "</p>"
        )
    cols = [
        "trial",
        *keys,
        "seed",
        "status",
        "acc_val_pruned",
        "acc_test_dense",
        "acc_test_pruned",
        "acc_test_sax",
        "sparsity_uv",
        "power_pruned_mw",
        "mzis_removed",
        "area_mm2",
        "wall_s",
        "error",
    ]
    parts.append("<h2>Trials</h2><table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>")
    for r in rows:
        cls = " class='failed'" if r["status"] == "failed" else ""
        cells = []
        for c in cols:
            if c == "trial" and r["report"]:
                cells.append(f"<td><a href='{html.escape(r['report'])}'>{html.escape(r['trial'])}</a></td>")
            else:
                cells.append(f"<td>{_cell(r.get(c))}</td>")
        parts.append(f"<tr{cls}>{''.join(cells)}</tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts)
