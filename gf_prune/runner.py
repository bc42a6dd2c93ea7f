"""The whole run: every stage into a staging copy of the output folder, swapped in when all succeeded;
stale staging folders of dead runs taken over (resume) or cleaned; stages shared between runs through a
fingerprint cache (sweeps). The stages themselves are in :mod:`gf_prune.pipeline`."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gf_prune.config import RunConfig
from gf_prune.pipeline import (
    Progress,
    StageFailed,
    _fingerprint,
    _manifest,
    _record_stage,
    build_report,
    get_data,
    read_json,
    save_run_config,
    stage_is_current,
    stage_layout,
    stage_prune,
    stage_robustness,
    stage_train,
    stage_verify,
    write_report_files,
)


def run_all(
    out: Path,
    cfg: RunConfig,
    progress: Callable[[str, str], None] | None = None,
    force: bool = False,
    cache: Path | None = None,
) -> dict[str, Any]:
    """Run every stage into a staging copy of ``out``; swap it in only when all succeeded.

    An earlier complete ``out`` is never damaged: on any failure (or Ctrl-C) the staging
    folder is removed and ``out`` is left as it was. A staging folder left by a killed run
    (``.NAME.partial-PID`` of a dead process) is taken over: its finished stages are skipped
    through their fingerprints and the prune stage resumes from its checkpoint.

    ``cache``: a folder shared by several runs (a sweep's trials) where the outputs of the
    train and prune stages are kept by fingerprint: a run whose stage inputs equal another's
    copies that stage's files instead of computing them (see :func:`_cached_stage`).
    """
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output path exists and is not a folder: {out}")
    if not parent.exists():
        parent.mkdir(parents=True)
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"output folder not writable: {parent}")
    staging = parent / f".{out.name}.partial-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    stale = clean_stale_staging(parent, out.name)
    try:
        if stale is not None:  # a killed run's staging folder: its finished stages (and checkpoint) are reused
            os.replace(stale, staging)
            if progress:
                progress("run", f"resuming the killed run in {stale.name}")
        elif out.is_dir():
            shutil.copytree(out, staging)
        else:
            staging.mkdir()
        report, failure = _run_stages(staging, cfg, progress, force, cache)
        old = parent / f".{out.name}.old-{os.getpid()}"
        if out.exists():
            os.replace(out, old)
        os.replace(staging, out)
        if old.exists():
            shutil.rmtree(old, ignore_errors=True)
        if failure:
            raise StageFailed(failure)
        return report
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def clean_stale_staging(parent: Path, name: str) -> Path | None:
    """The newest staging folder ``.NAME.partial-PID`` of a dead process (to resume), or None.

    Older stale staging folders and stale ``.NAME.old-PID`` folders are removed; half-written
    temporary files (``.x.*.tmp*``) in the one returned are removed. Folders of live processes
    (another run on the same output) are left alone.
    """
    stale: list[Path] = []
    pat = re.compile(rf"\.{re.escape(name)}\.(partial|old)-(\d+)")
    for p in parent.iterdir() if parent.is_dir() else ():
        m = pat.fullmatch(p.name)
        if not m or not p.is_dir() or int(m.group(2)) == os.getpid() or _pid_alive(int(m.group(2))):
            continue
        if m.group(1) == "old":
            shutil.rmtree(p, ignore_errors=True)
        else:
            stale.append(p)
    stale.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for p in stale[1:]:
        shutil.rmtree(p, ignore_errors=True)
    if not stale:
        return None
    for f in stale[0].glob(".*.tmp*"):
        if f.is_file():
            f.unlink(missing_ok=True)
    return stale[0]


CACHED_STAGES = ("train", "prune")


def _snapshot(out: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in out.iterdir() if p.is_file()}


def _cached_stage(cache: Path, out: Path, stage: str, cfg: RunConfig, fn: Callable[[], Any]) -> bool:
    """Run ``stage`` through the shared cache; True when its files were copied from another run.

    Entries are ``cache/<stage>/<fingerprint>/`` (complete folders, published by an atomic rename, so
    a reader never sees half an entry). One run computes an entry while others wait on its lock file
    (``fcntl.flock``); without a working lock (some network file systems) two runs may both compute it,
    and the first rename wins: still correct, only wasted work.
    """
    import contextlib

    fp = _fingerprint(out, stage, cfg)
    root = cache / stage
    root.mkdir(parents=True, exist_ok=True)
    entry = root / fp
    with open(root / f"{fp}.lock", "a+") as lock:
        with contextlib.suppress(OSError):
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        if entry.is_dir():
            for f in entry.iterdir():
                shutil.copy2(f, out / f.name)
            return True
        skip = {"stages.json", "run_config.json"}
        before = _snapshot(out)
        fn()
        after = _snapshot(out)
        new = [n for n, v in after.items() if before.get(n) != v and n not in skip and ".tmp" not in n]
        tmp = root / f".{fp}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for n in new:
            shutil.copy2(out / n, tmp / n)
        try:
            os.rename(tmp, entry)
        except OSError:  # another run published it first
            shutil.rmtree(tmp, ignore_errors=True)
    return False


def _run_stages(
    out: Path,
    cfg: RunConfig,
    progress: Callable[[str, str], None] | None,
    force: bool,
    cache: Path | None = None,
) -> tuple[dict[str, Any], str | None]:
    save_run_config(out, cfg)
    data = get_data(cfg)
    previous = _manifest(out)
    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    def say(stage: str) -> Progress | None:
        return (lambda msg: progress(stage, msg)) if progress else None

    runners: dict[str, Callable[[], Any]] = {
        "train": lambda: stage_train(out, cfg, data, say("train")),
        "prune": lambda: stage_prune(out, cfg, data, say("prune")),
        "layout": lambda: stage_layout(out, cfg),
        "verify": lambda: stage_verify(out, cfg, data),
        "robustness": lambda: stage_robustness(out, cfg, data, say("robustness")),
    }
    for stage, fn in runners.items():
        if stage == "layout" and not cfg.layout.enabled:
            continue
        if stage == "verify" and not (cfg.verify.enabled and cfg.layout.enabled):
            continue
        if stage == "robustness" and cfg.robustness.get("enabled", True) is False:
            continue
        if not force and stage_is_current(out, stage, cfg):
            timings[stage] = 0.0
            if progress:
                progress(stage, f"unchanged, skipped (last run {previous.get(stage, {}).get('seconds', 0):.1f} s)")
            continue
        if progress:
            progress(stage, "running")
        t0 = time.perf_counter()
        shared = False
        if cache is not None and stage in CACHED_STAGES and not force:
            shared = _cached_stage(Path(cache), out, stage, cfg, fn)
        else:
            fn()
        timings[stage] = time.perf_counter() - t0
        _record_stage(out, stage, cfg, timings[stage])
        if progress:
            progress(
                stage,
                f"done (shared: copied from the cache) in {timings[stage]:.1f} s"
                if shared
                else f"done in {timings[stage]:.1f} s",
            )
    verify = read_json(out / "verify.json") if (out / "verify.json").is_file() else None
    t0 = time.perf_counter()
    report = build_report(out, cfg, data, timings)
    timings["report"] = time.perf_counter() - t0
    report["timings_s"] = dict(timings, total=time.perf_counter() - t_all)
    write_report_files(out, report)
    _record_stage(out, "report", cfg, timings["report"])
    failure = None
    geometry = (read_json(out / "layout.json") if (out / "layout.json").is_file() else {}).get("geometry")
    if isinstance(geometry, dict) and not geometry.get("ok", True):
        failure = f"layout geometry checks failed: {(geometry.get('violations') or [None])[0]}"
    if verify is not None and not verify.get("passed", False):
        failure = (
            f"verification failed: max relative error {verify.get('max_rel_error')} > {verify.get('tolerance')}"
            f" (first culprit: {verify.get('culprit', 'unknown')})"
        )
    return report, failure
