"""Datasets: the bundled digits through the FFT-16 recipe, user arrays, MNIST idx/npz files.

FFT-16 recipe (Banerjee et al.): ``fftshift(fft2(image))``, keep the central 4×4 block,
flatten to 16 complex features, normalise each sample to unit L2 norm.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

DEFAULT_TEST_SIZE = 450


@dataclass
class Dataset:
    """Complex features and integer labels, split into train and test."""

    name: str
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max()) + 1)


def fft16_features(images: Any, block: int = 4) -> np.ndarray:
    """Central ``block×block`` of the centred 2-D FFT of each image, unit-norm rows.

    Args:
        images: (n, h, w) real array, h, w ≥ block.

    Returns:
        complex128 array of shape (n, block²).
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3 or min(images.shape[1:]) < block:
        raise ValueError(f"images must have shape (n, h, w) with h, w ≥ {block}, got {images.shape}")
    if not np.all(np.isfinite(images)):
        raise ValueError("images contain NaN or infinite values")
    f = np.fft.fftshift(np.fft.fft2(images), axes=(1, 2))
    h0, w0 = images.shape[1] // 2 - block // 2, images.shape[2] // 2 - block // 2
    x = f[:, h0 : h0 + block, w0 : w0 + block].reshape(len(images), -1)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


def _check_xy(x: np.ndarray, y: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    if x.ndim < 2:
        raise ValueError(f"{source}: X must have one row per sample, got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"{source}: y must be 1-D with one label per sample ({len(x)}), got shape {y.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{source}: X contains NaN or infinite values")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"{source}: labels y must be integers")
        y = y.astype(np.int64)
    if y.min() < 0:
        raise ValueError(f"{source}: labels y must be ≥ 0")
    return x, y.astype(np.int64)


def _features(x: np.ndarray) -> np.ndarray:
    """Images (n, h, w) → FFT-16; feature rows (n, d) → complex unit-norm rows."""
    if x.ndim == 3:
        return fft16_features(x)
    if x.ndim == 2 and x.shape[1] > 16 and round(np.sqrt(x.shape[1])) ** 2 == x.shape[1]:
        side = round(np.sqrt(x.shape[1]))
        return fft16_features(x.reshape(len(x), side, side))
    if x.ndim != 2:
        raise ValueError(f"X must be (n, h, w) images or (n, d) features, got shape {x.shape}")
    xc = x.astype(np.complex128)
    norm = np.linalg.norm(xc, axis=1, keepdims=True)
    return xc / np.where(norm > 0, norm, 1.0)


def split(
    name: str, x: np.ndarray, y: np.ndarray, test_size: int | float = DEFAULT_TEST_SIZE, seed: int = 0
) -> Dataset:
    """Fixed, seeded, stratified split of features ``x`` (complex) and labels ``y``."""
    from sklearn.model_selection import train_test_split

    xtr, xte, ytr, yte = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    t = torch.as_tensor
    return Dataset(name, t(xtr), t(ytr), t(xte), t(yte))


def load_digits_fft16(seed: int = 0, test_size: int = DEFAULT_TEST_SIZE) -> Dataset:
    """scikit-learn's bundled handwritten digits (8×8) through the FFT-16 recipe (the default)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return split("digits-fft16", fft16_features(d.images), d.target.astype(np.int64), test_size, seed)


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
        raise ValueError(f"{path}: not an unsigned-byte idx file")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: idx header says {dims} but holds {data.size} values")
    return data.reshape(dims)


def load_mnist(path: str | Path, seed: int = 0, test_size: int | None = None) -> Dataset:
    """MNIST / Fashion-MNIST from a Keras-style ``.npz`` (x_train, y_train, x_test, y_test)
    or a folder of idx files (``*-images-idx3-ubyte[.gz]``, ``*-labels-idx1-ubyte[.gz]``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"data file not found: {path}")
    if path.is_dir():

        def find(kind: str, split_name: str) -> Path:
            hits = sorted(p for p in path.iterdir() if kind in p.name and split_name in p.name)
            if not hits:
                raise ValueError(f"{path}: no {split_name} {kind} idx file")
            return hits[0]

        xtr, ytr = _read_idx(find("images", "train")), _read_idx(find("labels", "train"))
        xte, yte = _read_idx(find("images", "t10k")), _read_idx(find("labels", "t10k"))
    else:
        with _open_npz(path) as z:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(z.files)
            if missing:
                raise ValueError(f"{path}: MNIST npz lacks keys {sorted(missing)}")
            xtr, ytr, xte, yte = (z[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    xtr, ytr = _check_xy(np.asarray(xtr, dtype=np.float64), np.asarray(ytr), str(path))
    xte, yte = _check_xy(np.asarray(xte, dtype=np.float64), np.asarray(yte), str(path))
    t = torch.as_tensor
    ds = Dataset(f"mnist:{path.name}", t(_features(xtr)), t(ytr), t(_features(xte)), t(yte))
    if test_size is not None:
        ds.X_test, ds.y_test = ds.X_test[:test_size], ds.y_test[:test_size]
    return ds


def _open_npz(path: Path):
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable .npz file ({type(exc).__name__})") from exc


def load_arrays(path: str | Path, seed: int = 0, test_size: int | float = 0.25) -> Dataset:
    """User data: ``.npz`` with ``X`` and ``y`` (images → FFT-16, feature rows used as they are),
    or a ``.npy`` X with its labels in ``<stem>_y.npy`` beside it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    if path.suffix == ".npz":
        with _open_npz(path) as z:
            if {"x_train", "y_train", "x_test", "y_test"} <= set(z.files):
                return load_mnist(path, seed)
            if not {"X", "y"} <= set(z.files):
                raise ValueError(f"{path}: .npz must hold arrays 'X' and 'y', found {sorted(z.files)}")
            x, y = z["X"], z["y"]
    elif path.suffix == ".npy":
        ypath = path.with_name(path.stem + "_y.npy")
        if not ypath.is_file():
            raise FileNotFoundError(f"labels file not found: {ypath} (expected beside {path.name})")
        try:
            x, y = np.load(path, allow_pickle=False), np.load(ypath, allow_pickle=False)
        except Exception as exc:
            raise ValueError(f"{path}: not a readable .npy file ({type(exc).__name__})") from exc
    else:
        raise ValueError(f"{path}: unsupported data file type {path.suffix!r} (use .npz or .npy)")
    x, y = _check_xy(np.asarray(x), np.asarray(y), str(path))
    return split(f"user:{path.name}", _features(x), y, test_size, seed)


def load_dataset(source: str | None = None, seed: int = 0) -> Dataset:
    """``None``/``"digits"`` → bundled digits-FFT16; a path → MNIST or user arrays."""
    if source in (None, "", "digits"):
        return load_digits_fft16(seed)
    path = Path(str(source))
    if path.is_dir() or "mnist" in path.name.lower():
        return load_mnist(path, seed)
    return load_arrays(path, seed)
