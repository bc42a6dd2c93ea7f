"""Reading a user's data file by its content (never its name): npz (X, y[, X_test, y_test] or Keras MNIST),
npy (+ _y.npy), MNIST idx folders, CSV with a label column. Returns raw arrays; gf_prune.data checks,
splits and preprocesses them."""

from __future__ import annotations

import csv
import gzip
import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

LABEL_COLUMNS = ("label", "target", "class", "y")
MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass
class _Raw:
    """What a reader found: raw arrays, optional given test set, and what it was."""

    kind: str  # "npz", "mnist", "npy", "idx", "csv"
    X: np.ndarray
    y: np.ndarray | None
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    label_column: str | None = None


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ValueError(f"{path}: not a readable idx file ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
        raise ValueError(f"{path}: not an unsigned-byte idx file")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{path}: idx header truncated")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: idx header says {dims} but holds {data.size} values")
    return data.reshape(dims)


def _idx_file(folder: Path, kind: str, split_name: str) -> Path | None:
    hits = sorted(p for p in folder.iterdir() if p.is_file() and kind in p.name and split_name in p.name)
    return hits[0] if hits else None


def _read_idx_folder(folder: Path, need_train: bool = True) -> _Raw:
    def get(kind: str, split_name: str) -> np.ndarray:
        p = _idx_file(folder, kind, split_name)
        if p is None:
            raise ValueError(f"{folder}: no {split_name} {kind} idx file (*{split_name}-{kind}-idx*-ubyte[.gz])")
        return _read_idx(p)

    if need_train:
        return _Raw("idx", get("images", "train"), get("labels", "train"), get("images", "t10k"), get("labels", "t10k"))
    return _Raw("idx", get("images", "t10k"), get("labels", "t10k"))


def _read_npz(path: Path, need_labels: bool = True) -> _Raw:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:
        raise ValueError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from exc
    keys = set(arrays)
    if set(MNIST_KEYS) <= keys:
        return _Raw("mnist", *(arrays[k] for k in MNIST_KEYS))
    if "X" not in keys or (need_labels and "y" not in keys):
        raise ValueError(
            f"{path}: .npz must hold arrays 'X' and 'y' (optionally 'X_test', 'y_test') "
            f"or Keras-style {list(MNIST_KEYS)}; found {sorted(keys)}"
        )
    if ("X_test" in keys) != ("y_test" in keys):
        raise ValueError(f"{path}: .npz holds only one of 'X_test' and 'y_test'; give both or neither")
    return _Raw("npz", arrays["X"], arrays.get("y"), arrays.get("X_test"), arrays.get("y_test"))


def _read_npy(path: Path, need_labels: bool = True) -> _Raw:
    ypath = path.with_name(path.stem + "_y.npy")
    try:
        x = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable .npy file ({type(exc).__name__}: {exc})") from exc
    if not ypath.is_file():
        if need_labels:
            raise FileNotFoundError(f"labels file not found: {ypath} (expected beside {path.name})")
        return _Raw("npy", x, None)
    try:
        y = np.load(ypath, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"{ypath}: not a readable .npy file ({type(exc).__name__}: {exc})") from exc
    return _Raw("npy", x, y)


def _label_column(header: list[str], label_column: str | None, path: Path, required: bool) -> int | None:
    if label_column is not None:
        if label_column in header:
            return header.index(label_column)
        if required:
            raise ValueError(f"{path}: no column {label_column!r}; the columns are {header}")
        return None
    hits = [i for i, h in enumerate(header) if h.strip().lower() in LABEL_COLUMNS]
    if len(hits) == 1:
        return hits[0]
    if required or len(hits) > 1:
        why = "several label-like columns" if hits else "no column named label, target, class or y"
        raise ValueError(f"{path}: {why}; name the label column with label_column; the columns are {header}")
    return None


def _read_csv(path: Path, text: str, label_column: str | None, need_labels: bool = True) -> _Raw:
    sample = text[:65536]
    try:
        dialect: Any = csv.Sniffer().sniff(sample.splitlines()[0] if sample else "", delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = [r for r in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise ValueError(f"{path}: CSV needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    for n, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise ValueError(f"{path}: CSV row {n} has {len(r)} cells but the header has {len(header)}")
    li = _label_column(header, label_column, path, need_labels)
    fcols = [i for i in range(len(header)) if i != li]
    if not fcols:
        raise ValueError(f"{path}: CSV has no feature columns besides the label column {header[li]!r}")
    cells = np.array(rows[1:], dtype=str)
    try:
        x = cells[:, fcols].astype(np.float64)
    except ValueError:
        for c in fcols:
            for n, v in enumerate(cells[:, c].tolist()):
                try:
                    float(v)
                except ValueError:
                    raise ValueError(
                        f"{path}: column {header[c]!r} holds a non-numeric cell {v!r} (row {n + 2}); "
                        "feature columns must be numbers"
                    ) from None
        raise
    y = None
    if li is not None:
        cells = [v.strip() for v in cells[:, li].tolist()]
        if "" in cells:
            raise ValueError(f"{path}: empty label in column {header[li]!r} (row {cells.index('') + 2})")
        try:
            y = np.array([float(v) for v in cells])
        except ValueError:
            y = np.array(cells, dtype=str)
    return _Raw("csv", x, y, label_column=None if li is None else header[li])


def _read(source: str | Path, label_column: str | None, need_labels: bool = True) -> _Raw:
    """Recognise a file or folder by its content and read it."""
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"data file not found: {path}")
    if path.is_dir():
        return _read_idx_folder(path, need_train=need_labels)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise ValueError(f"{path}: unreadable file ({exc})") from exc
    if head[:2] == b"PK":
        return _read_npz(path, need_labels)
    if head[:6] == b"\x93NUMPY":
        return _read_npy(path, need_labels)
    if head[:3] == b"\x00\x00\x08":
        raise ValueError(f"{path}: an idx file; give the folder holding the train and t10k idx files")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    if text is not None and "\x00" not in text[:4096] and text.strip() and text.lstrip()[0] not in "{[<":
        return _read_csv(path, text, label_column, need_labels)
    raise ValueError(
        f"{path}: unsupported data file (suffix {path.suffix or 'none'!r}): its content is not "
        ".npz, .npy, CSV text with a header row, or a folder of idx files"
    )
