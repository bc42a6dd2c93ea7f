"""Atomic file output: a contract file is either complete or absent, never half-written.

Every file the outside relies on (``report.json``, ``heaters.csv``, ``weights.npz``,
``network.gds``, ``report.html``, the PNGs) is written to a temporary name in the
same folder and then renamed over the target with :func:`os.replace`, which is
atomic on one file system. An exception (or a Ctrl-C) on the way leaves the
earlier file, if any, untouched and removes the temporary one::

    with atomic_output(out / "network.gds") as tmp:
        component.write_gds(tmp)          # any writer that takes a path
    atomic_write_text(out / "report.json", json.dumps(report, indent=2))
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _temp_path(path: Path) -> Path:
    """A fresh, unused name next to ``path`` that keeps its suffix (writers dispatch on it)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    return Path(name)


def _file_mode(target: Path) -> int:
    """Mode for the new file: the old file's, else 0o666 less the umask (mkstemp makes 0o600)."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (best effort; not available everywhere)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.

    The temporary file exists (empty) when the block starts and keeps the target's
    suffix, so writers that choose a format by extension (``.gds``, ``.png``,
    ``.npz``…) work; beware that ``numpy.savez`` appends ``.npz`` only to names
    without it. On any exception (including KeyboardInterrupt) the temporary file is
    removed and the target is left as it was. The parent folder must exist.

    Args:
        path: final file name.

    Yields:
        the temporary :class:`~pathlib.Path` to write to.
    """
    target = Path(path)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {target.parent}")
    tmp = _temp_path(target)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary file for {target}")
        os.chmod(tmp, _file_mode(target))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename); return the path."""
    target = Path(path)
    with atomic_output(target) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8 by default); return the path."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | os.PathLike[str], obj: Any, indent: int = 2) -> Path:
    """Write ``obj`` as JSON atomically (NaN/inf are refused: they are not JSON)."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, allow_nan=False) + "\n")


def recorded_path(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> str:
    """How an output file of ``folder`` records ``path``: relative to ``folder`` when inside it.

    A run is written in a staging folder that is renamed at the end (and a user may move the
    folder), so a path into the output folder is recorded relative to it (POSIX style,
    e.g. ``network.gds``) and stays valid; a path outside it is recorded as given.
    """
    p = Path(path)
    try:
        return p.resolve().relative_to(Path(folder).resolve()).as_posix()
    except ValueError:
        return str(p)
