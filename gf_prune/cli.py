"""``gf-prune`` command line: run the whole job or one stage at a time.

User errors (bad files, bad config, bad data) end with one line ``error: …`` on stderr
and exit code 2; a failed verification exits 1; Ctrl-C exits 130. No half-written files.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    help="Hardware-aware pruning of coherent photonic neural networks: train, prune, lay out, verify, report.",
)
err = Console(stderr=True, soft_wrap=True)
out_console = Console()

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="output folder")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file (validated)")]
DeviceOpt = Annotated[
    str | None,
    typer.Option("--device", help="torch device of training, pruning, Monte-Carlo: cpu (default), cuda, cuda:N, mps"),
]


class _Bars:
    """Rich progress bars keyed by stage; messages like 'epoch 3/300' drive the bar."""

    def __init__(self) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[stage]:<10}"),
            BarColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=err,
            transient=False,
            disable=not err.is_terminal and not os.environ.get("GF_PRUNE_PROGRESS"),
        )
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> _Bars:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, stage: str, msg: str) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(msg, stage=stage, total=None)
        tid = self.tasks[stage]
        completed = total = None
        for word in msg.split():
            if "/" in word:
                a, _, b = word.partition("/")
                if a.isdigit() and b.isdigit():
                    completed, total = int(a), int(b)
                    break
        if total:
            self.progress.update(tid, description=msg, completed=completed, total=total)
        else:
            self.progress.update(tid, description=msg)
        if msg.startswith("done") or msg.startswith("unchanged"):
            t = self.progress.tasks[tid].total or 1
            self.progress.update(tid, completed=t, total=t)
        if not self.progress.disable:
            return
        if _log_worthy(msg, completed, total):  # not a terminal (CI, nohup, a pipe): plain lines
            err.print(f"[{stage}] {msg}", markup=False, highlight=False)


def _log_worthy(msg: str, completed: int | None, total: int | None) -> bool:
    """Whether a progress message becomes a line of a log: every message without a counter (stage
    start/end, a pruning record), a counted one ('epoch 30/300') only each ~10 % and at the end."""
    if not total or completed is None:
        return True
    return completed >= total or completed * 10 // total > (completed - 1) * 10 // total


def _need_dir(out: Path) -> None:
    if not out.is_dir():
        raise FileNotFoundError(f"output folder not found: {out}")


def _cfg(config: Path | None, device: str | None = None):
    """Load and validate the whole config up front, nested prune/robustness sections included."""
    from gf_prune.config import load_config

    cfg = load_config(config)
    if cfg.robustness:
        from gf_prune.robustness import load_config as robustness_config

        robustness_config({k: v for k, v in cfg.robustness.items() if k != "enabled"})
    return _on_device(cfg, device)


def _on_device(cfg, device: str | None):
    """``cfg`` with ``--device`` (when given) in place of its ``device``; the device is checked against this
    machine here, before any file is written: one line naming it and the devices available."""
    from gf_prune.device import resolve_device

    if device is not None:
        resolve_device(device)
        cfg.device = device
    resolve_device(cfg.device)
    return cfg


@app.command()
def run(
    out: OutOpt = Path("out"),
    config: ConfigOpt = None,
    force: Annotated[bool, typer.Option(help="re-run stages even if their inputs are unchanged")] = False,
    device: DeviceOpt = None,
) -> None:
    """Run the whole job (default: bundled digits, 16→16→16→10) and write every contract file."""
    from gf_prune.pipeline import run_all

    cfg = _cfg(config, device)
    with _Bars() as bars:
        report = run_all(out, cfg, progress=bars, force=force)
    acc, pw = report["accuracy"], report.get("power_mw", {})
    has_val = acc.get("val_pruned") is not None and acc.get("val_dense") is not None
    val = f"validation dense {acc['val_dense']:.3f} pruned {acc['val_pruned']:.3f}  " if has_val else ""
    out_console.print(
        f"{val}test dense {acc['dense']:.3f}  pruned {acc['pruned']:.3f}  sax {acc.get('sax')}  "
        f"power {pw.get('dense', float('nan')):.0f} → {pw.get('pruned', float('nan')):.0f} mW  "
        f"report: {out / 'report.html'}"
    )


@app.command()
def train(out: OutOpt = Path("out"), config: ConfigOpt = None, device: DeviceOpt = None) -> None:
    """Train the dense network on its phases → OUT/model_dense.pt (+ train.json)."""
    from gf_prune.pipeline import get_data, save_run_config, stage_train

    cfg = _cfg(config, device)
    out.mkdir(parents=True, exist_ok=True)
    data = get_data(cfg)
    with _Bars() as bars:
        info = stage_train(out, cfg, data, lambda m: bars("train", m))
    save_run_config(out, cfg)
    out_console.print(f"test accuracy {info['test_acc']:.4f} → {out / 'model_dense.pt'}")


@app.command()
def prune(
    model: Annotated[Path | None, typer.Argument(help="dense model (default OUT/model_dense.pt)")] = None,
    out: OutOpt = Path("out"),
    config: ConfigOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Prune phases of a trained model → OUT/model_pruned.pt, phases.npz, rounds.json/png."""
    import shutil

    from gf_prune.model import PhotonicMLP
    from gf_prune.pipeline import get_data, read_run_config, save_run_config, stage_prune

    cfg = _cfg(config, device) if config else _on_device(read_run_config(out), device)
    if model is not None and model.resolve() != (out / "model_dense.pt").resolve():
        PhotonicMLP.load(model)  # validate before anything is written
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(model, out / "model_dense.pt")
    data = get_data(cfg)
    with _Bars() as bars:
        info = stage_prune(out, cfg, data, lambda m: bars("prune", m))
    save_run_config(out, cfg)
    out_console.print(f"dense {info['dense_acc']:.4f} → pruned {info['pruned_acc']:.4f}  ({out / 'phases.npz'})")


@app.command()
def layout(
    model: Annotated[Path, typer.Argument(help="phases .npz (or model .pt) to lay out")],
    out: OutOpt = Path("out"),
    pruned_mzi: Annotated[str, typer.Option("--pruned-mzi", help="remove | bar")] = "remove",
    config: ConfigOpt = None,
) -> None:
    """Compile a (pruned) network to OUT/network.gds, heaters.csv, layout.png."""
    from gf_prune.config import LayoutSection, validate
    from gf_prune.pipeline import read_run_config, stage_layout

    cfg = _cfg(config) if config else read_run_config(out)
    cfg.layout = validate(LayoutSection, {**cfg.layout.model_dump(), "pruned_mzi": pruned_mzi}, "layout")
    if not model.is_file():
        raise FileNotFoundError(f"model file not found: {model}")
    from gf_prune.pipeline import load_phases

    load_phases(model)  # validate before anything is written
    from gf_prune.pdk import pdk_cells

    pdk_cells(cfg.layout.pdk)  # a PDK that cannot be used (or lacks a cell) fails here too
    out.mkdir(parents=True, exist_ok=True)
    if model.suffix == ".npz" and model.resolve() != (out / "phases.npz").resolve():
        import shutil

        shutil.copyfile(model, out / "phases.npz")
    figures = stage_layout(out, cfg, model)
    out_console.print(
        f"wrote {out / 'network.gds'}: "
        + ", ".join(f"{k}={v}" for k, v in figures.items() if isinstance(v, int | float))
    )


@app.command()
def verify(out: Annotated[Path, typer.Argument(help="folder written by `gf-prune layout`")]) -> None:
    """Prove in SAX that OUT/network.gds computes the trained network; exit 1 if not."""
    from gf_prune.pipeline import get_data, read_run_config, stage_verify

    _need_dir(out)
    cfg = read_run_config(out)
    data = get_data(cfg) if (out / "model_pruned.pt").is_file() or (out / "phases.npz").is_file() else None
    res = stage_verify(out, cfg, data)
    out_console.print(f"max relative error {res.get('max_rel_error'):.3e}  accuracy.sax {res.get('accuracy_sax')}")
    if not res["passed"]:
        err.print(
            f"error: verification failed: max relative error {res.get('max_rel_error'):.3e} > "
            f"{res['tolerance']:.0e}; first culprit: {res.get('culprit', 'unknown')}"
        )
        raise typer.Exit(1)


@app.command()
def robustness(
    out: Annotated[Path, typer.Argument(help="folder with model_dense.pt and model_pruned.pt")],
    config: ConfigOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Monte-Carlo of imperfections on the dense and pruned models → OUT/robustness.json/png."""
    from gf_prune.pipeline import get_data, read_run_config, stage_robustness

    _need_dir(out)
    cfg = _cfg(config, device) if config else _on_device(read_run_config(out), device)
    with _Bars() as bars:
        stage_robustness(out, cfg, get_data(cfg), lambda m: bars("robustness", m))
    out_console.print(f"wrote {out / 'robustness.json'}")


@app.command()
def report(out: Annotated[Path, typer.Argument(help="folder with the stages' files")]) -> None:
    """(Re)write OUT/report.json, weights.npz and report.html from the stages' files."""
    from gf_prune.pipeline import get_data, read_run_config, stage_report

    _need_dir(out)
    cfg = read_run_config(out)
    stage_report(out, cfg, get_data(cfg), {})
    out_console.print(f"wrote {out / 'report.html'}")


@app.command()
def predict(
    model: Annotated[Path, typer.Argument(help="a trained model (.pt) written by `gf-prune train/prune/run`")],
    data: Annotated[Path, typer.Argument(help="new samples: .npz (X[, y]), .npy, .csv, or an idx folder")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="CSV of predictions (default: print)")] = None,
    label_column: Annotated[str | None, typer.Option(help="CSV label column, if the file has labels")] = None,
) -> None:
    """Classify new samples with the preprocessing saved in MODEL (standardisation, encoding, label map)."""
    from gf_prune.predict import predict_file

    result = predict_file(model, data, out, label_column=label_column)
    if result.accuracy is not None:
        out_console.print(f"accuracy {result.accuracy:.4f} on {len(result.labels)} labelled samples")
    if out is None:
        for lab in result.labels:
            out_console.print(str(lab), markup=False, highlight=False)
    else:
        out_console.print(f"{len(result.labels)} predictions → {out}")


@app.command()
def sweep(
    config: Annotated[Path, typer.Argument(help="YAML: a run config plus a `sweep:` section (grid, random, seeds)")],
    out: OutOpt = Path("sweep"),
    workers: Annotated[int, typer.Option("--workers", "-w", help="local Ray workers (one thread each)")] = 2,
    address: Annotated[
        str | None, typer.Option("--address", help="an existing Ray cluster (HOST:PORT, ray://HOST:PORT, auto)")
    ] = None,
) -> None:
    """Run a grid/random study × seeds on Ray → OUT/trials/<id>/, OUT/sweep.csv, OUT/sweep.html (resumable)."""
    from gf_prune.sweep import run_sweep

    rows = run_sweep(config, out, workers=workers, address=address)
    n_ok = sum(r["status"] == "ok" for r in rows)
    out_console.print(f"{n_ok}/{len(rows)} trials ok → {out / 'sweep.csv'}, {out / 'sweep.html'}")
    if n_ok < len(rows):
        raise typer.Exit(1)


@app.command("import")
def import_weights(
    weights: Annotated[Path, typer.Argument(help=".npz with W0, W1, … (or U0, S0, Vh0, …) or a .pt state dict")],
    out: OutOpt = Path("out"),
    mesh_kind: Annotated[
        str, typer.Option(help="clements | reck | butterfly (fitted, residual reported)")
    ] = "clements",
    zero_state: Annotated[str, typer.Option(help="bar | cross")] = "bar",
) -> None:
    """Import a user's trained linear layers as meshes → OUT/phases.npz (then `layout`, `verify`)."""
    from gf_prune.config import ModelConfig, validate
    from gf_prune.importer import load_weights_file
    from gf_prune.io import atomic_output

    m = validate(ModelConfig, {"mesh_kind": mesh_kind, "zero_state": zero_state})
    model = load_weights_file(weights, m.mesh_kind, m.zero_state)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_output(out / "phases.npz") as tmp:
        model.to_phases().save(tmp)
    out_console.print(f"{len(model.layers)} layers {model.config['sizes']} → {out / 'phases.npz'}")


def _interrupted() -> None:
    """Ctrl-C / SIGTERM: the stages' cleanup has run; say so and exit 130 without further work."""
    err.print("error: interrupted; no partial output was kept", markup=False, highlight=False)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, PermissionError, KeyError, OSError)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one clear line and a non-zero exit for user errors."""
    import signal

    from gf_prune.pipeline import StageFailed

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)  # a killed run cleans up like Ctrl-C
    try:
        rc = app(args=argv, standalone_mode=False)
        if isinstance(rc, int) and rc:
            if rc == 130:  # typer turns Ctrl-C into an exit code
                _interrupted()
            sys.exit(rc)
    except StageFailed as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        _interrupted()
    except typer.Exit as exc:  # typer turns Ctrl-C into Exit(130)
        if exc.exit_code == 130:
            _interrupted()
        sys.exit(exc.exit_code)
    except USER_ERRORS as exc:
        msg = str(exc) if str(exc) else type(exc).__name__
        if isinstance(exc, KeyError):
            msg = f"missing key {msg}"
        err.print(f"error: {msg}", markup=False, highlight=False)
        sys.exit(2)
    except Exception as exc:  # click usage errors etc.
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            err.print("error: aborted", markup=False)
            sys.exit(130)
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
