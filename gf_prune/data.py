"""Datasets for any user's data: recognised by content, split honestly, preprocessed re-appliably.

``load_dataset(source)`` accepts

* ``"digits"``: scikit-learn's bundled 8×8 digits through the FFT-16 recipe (Banerjee et al.):
  ``fftshift(fft2(image))``, keep the central ``fft_block×fft_block`` (default 4×4) block, flatten to
  16 complex features, normalise each sample to unit L2 norm; ``"digits-fft64"``: the full 8×8 centred FFT;
* a file or folder, recognised by its **content**, never by its name:
  an ``.npz`` with ``X, y`` (and optionally ``X_test, y_test``: then they are the test set),
  a Keras-style MNIST ``.npz`` (``x_train, y_train, x_test, y_test``), an ``.npy`` X with its labels in
  ``<stem>_y.npy`` beside it, a folder of idx files (``*-images-idx3-ubyte[.gz]``,
  ``*-labels-idx1-ubyte[.gz]``, ``train`` and ``t10k``), or a CSV text with a header row.

Images ``(n, h, w)`` go through the centred FFT; 2-D feature rows stay feature rows (standardised with
training statistics, then amplitude-encoded) unless ``images=True`` reshapes square rows into images.
Labels of every source are mapped to ``0..K-1`` through a sorted label map (``Preprocessing.classes``).
The split is train / validation / test, stratified and seeded. Every refusal is a ``ValueError`` (or
``FileNotFoundError``) with one line naming the source, raised before anything is built.

The :class:`Preprocessing` saved with a dataset turns raw samples into network inputs again
(``transform``), maps labels both ways, and round-trips through JSON and ``torch.save``/``torch.load``
(``weights_only=True``) via ``to_dict``/``from_dict``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gf_prune.data_files import LABEL_COLUMNS, MNIST_KEYS, _Raw, _read  # noqa: F401 (re-exported)

DEFAULT_TEST_SIZE = 450  # the digits' fixed test split
USER_TEST_FRACTION = 0.25  # user data without its own test set
ENCODINGS = ("unit_norm", "scale")
_DIGITS = {"digits": None, "digits-fft16": 4, "digits-fft64": 8}


# ----------------------------------------------------------------------------- FFT features


def fft_features(images: Any, block: int = 4) -> np.ndarray:
    """Central ``block×block`` of the centred 2-D FFT of each image, unit-norm rows.

    Args:
        images: (n, h, w) real array, h, w ≥ block.
        block: side of the kept central block (4 → 16 features).

    Returns:
        complex128 array of shape (n, block²); an all-zero image gives a zero row, not NaN.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3 or min(images.shape[1:]) < block:
        raise ValueError(f"images must have shape (n, h, w) with h, w ≥ {block}, got {images.shape}")
    if not np.all(np.isfinite(images)):
        raise ValueError("images contain NaN or infinite values")
    f = np.fft.fftshift(np.fft.fft2(images), axes=(1, 2))
    h0, w0 = images.shape[1] // 2 - block // 2, images.shape[2] // 2 - block // 2
    x = f[:, h0 : h0 + block, w0 : w0 + block].reshape(len(images), -1)
    return _unit_rows(x)


fft16_features = fft_features  # the historical name (block defaults to 4 → 16 features)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


# ----------------------------------------------------------------------------- labels


def _labels(y: Any, source: str, what: str = "labels") -> np.ndarray:
    """Raw labels → 1-D int64 (class-like numbers) or str array; anything else is refused."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{source}: {what} must be 1-D with one label per sample, got shape {y.shape}")
    kind = y.dtype.kind
    if kind in "US":
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in y.tolist()], dtype=str)
    if kind == "O":
        if all(isinstance(v, str | bytes) for v in y.tolist()):
            return _labels(np.array([str(v) for v in y.tolist()], dtype=str), source, what)
        return _labels(np.array(y.tolist()), source, what)
    if kind in "biu":
        return y.astype(np.int64)
    if kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if np.any(bad):
            raise ValueError(
                f"{source}: {what} must be class-like (integers or strings), found {y[bad][0].item()!r}; "
                "a regression target cannot be classified"
            )
        return y.astype(np.int64)
    raise ValueError(f"{source}: {what} must be integers or strings, got dtype {y.dtype}")


def _label_list(values: np.ndarray) -> list[Any]:
    return [v if isinstance(v, str) else int(v) for v in np.unique(values).tolist()]


# ----------------------------------------------------------------------------- preprocessing


@dataclass
class Preprocessing:
    """Everything that turns raw samples into network inputs, and labels into class indices.

    kind: ``"fft"`` (images → centred FFT block, unit-norm rows) or ``"features"`` (feature rows →
    optional z-score with training statistics → amplitude encoding ``"unit_norm"`` or ``"scale"``).
    ``n_features`` is the raw count per sample (``h·w`` for images); :attr:`n_inputs` the network's.
    ``classes[i]`` is the original label of class index ``i``.
    """

    kind: str
    n_features: int
    classes: list[Any]
    fft_block: int | None = None
    image_shape: tuple[int, int] | None = None
    mean: list[float] | None = None
    std: list[float] | None = None
    encoding: str = "unit_norm"
    scale: float = 1.0
    label_column: str | None = None
    _index: dict[Any, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ("fft", "features"):
            raise ValueError(f"preprocessing kind must be 'fft' or 'features', got {self.kind!r}")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}, got {self.encoding!r}")
        if self.kind == "fft" and (self.fft_block is None or self.image_shape is None):
            raise ValueError("an 'fft' preprocessing needs fft_block and image_shape")
        if self.image_shape is not None:
            self.image_shape = (int(self.image_shape[0]), int(self.image_shape[1]))
        self._index = {c: i for i, c in enumerate(self.classes)}

    @property
    def n_inputs(self) -> int:
        """Features per sample after preprocessing (the network's input width)."""
        return int(self.fft_block) ** 2 if self.kind == "fft" else self.n_features

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def transform(self, X_raw: Any) -> torch.Tensor:
        """Raw samples → complex128 network inputs ``(n, n_inputs)``.

        ``"fft"``: images ``(n, h, w)`` or flattened rows ``(n, h·w)``; ``"features"``: rows ``(n, d)``
        (a single 1-D row is one sample). Wrong shape, feature count or NaN/inf → ``ValueError``.
        """
        x = _as_real(X_raw, "samples")
        if self.kind == "fft":
            h, w = self.image_shape  # type: ignore[misc]
            if x.ndim == 2 and x.shape[1] == h * w:
                x = x.reshape(len(x), h, w)
            elif x.ndim == 2 and x.shape == (h, w):
                x = x[None]
            if x.ndim != 3 or x.shape[1:] != (h, w):
                raise ValueError(
                    f"samples must be images of shape (n, {h}, {w}) or rows of {h * w} pixels, got shape {x.shape}"
                )
            _check_finite(x, "samples")
            return torch.as_tensor(fft_features(x, int(self.fft_block)))  # type: ignore[arg-type]
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"samples must be rows of {self.n_features} features, got shape {x.shape}")
        _check_finite(x, "samples")
        if self.mean is not None and self.std is not None:
            x = (x - np.asarray(self.mean)) / np.asarray(self.std)
        xc = x.astype(np.complex128)
        xc = _unit_rows(xc) if self.encoding == "unit_norm" else xc / self.scale
        return torch.as_tensor(xc)

    def encode_labels(self, y_raw: Any) -> torch.Tensor:
        """Original labels → int64 class indices; a label not in :attr:`classes` → ``ValueError``."""
        y = _labels(y_raw, "labels")
        cls = np.asarray(self.classes)
        if len(y) and (cls.dtype.kind == "U") != (y.dtype.kind == "U"):
            raise ValueError(f"label {y.tolist()[0]!r} is not one of the trained classes {self.classes}")
        pos = np.minimum(np.searchsorted(cls, y), len(cls) - 1)
        bad = cls[pos] != y
        if np.any(bad):
            raise ValueError(f"label {y[bad].tolist()[0]!r} is not one of the trained classes {self.classes}")
        return torch.as_tensor(pos.astype(np.int64))

    def decode_labels(self, idx: Any) -> np.ndarray:
        """Class indices → the original labels (a numpy array of ints or strings)."""
        i = np.asarray(idx.detach().cpu() if isinstance(idx, torch.Tensor) else idx, dtype=np.int64)
        if i.size and (i.min() < 0 or i.max() >= len(self.classes)):
            raise ValueError(f"class index out of range 0..{len(self.classes) - 1}")
        return np.asarray(self.classes)[i]

    def to_dict(self) -> dict[str, Any]:
        """Plain lists, floats, ints, strings and None: JSON- and ``torch.load(weights_only=True)``-safe."""
        return {
            "kind": self.kind,
            "n_features": int(self.n_features),
            "classes": [v if isinstance(v, str) else int(v) for v in self.classes],
            "fft_block": None if self.fft_block is None else int(self.fft_block),
            "image_shape": None if self.image_shape is None else [int(s) for s in self.image_shape],
            "mean": None if self.mean is None else [float(v) for v in self.mean],
            "std": None if self.std is None else [float(v) for v in self.std],
            "encoding": self.encoding,
            "scale": float(self.scale),
            "label_column": self.label_column,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessing:
        known = {"kind", "n_features", "classes", "fft_block", "image_shape", "mean", "std", "encoding", "scale"}
        missing = {"kind", "n_features", "classes"} - set(d)
        if missing:
            raise ValueError(f"preprocessing record lacks {sorted(missing)}")
        kw = {k: d[k] for k in known if k in d}
        kw["classes"] = list(d["classes"])
        if kw.get("image_shape") is not None:
            kw["image_shape"] = tuple(kw["image_shape"])
        return cls(**kw, label_column=d.get("label_column"))


def _as_real(x: Any, what: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind == "c":
        raise ValueError(f"{what} must be real numbers (complex features are not supported), got {a.dtype}")
    try:
        return a.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be numbers, got dtype {a.dtype}") from None


def _check_finite(x: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0]
        raise ValueError(f"{what} contain NaN or infinite values (first at index {tuple(int(i) for i in bad)})")


# ----------------------------------------------------------------------------- dataset


@dataclass
class Dataset:
    """Complex128 network inputs and int64 class indices, split into train / validation / test."""

    name: str
    source: str
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    preprocessing: Preprocessing

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.preprocessing.classes)

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    @property
    def n_val(self) -> int:
        return len(self.y_val)

    @property
    def n_test(self) -> int:
        return len(self.y_test)

    @property
    def feature_rows(self) -> bool:
        """True for (standardised, encoded) feature rows, False for Fourier features of images."""
        return self.preprocessing.kind == "features"

    @classmethod
    def from_tensors(
        cls,
        name: str,
        X_train: Any,
        y_train: Any,
        X_test: Any,
        y_test: Any,
        X_val: Any = None,
        y_val: Any = None,
    ) -> Dataset:
        """Already-encoded complex features and labels 0..K-1 (tests, hand-made data): identity preprocessing."""
        t = torch.as_tensor
        xtr, xte = t(X_train), t(X_test)
        d = int(xtr.shape[1])
        ytr, yte = t(y_train).to(torch.int64), t(y_test).to(torch.int64)
        xva = t(X_val) if X_val is not None else xtr.new_zeros((0, d))
        yva = t(y_val).to(torch.int64) if y_val is not None else ytr.new_zeros(0)
        k = int(max(int(y.max()) for y in (ytr, yva, yte) if len(y)) + 1)
        prep = Preprocessing("features", d, list(range(k)), encoding="scale", scale=1.0)
        return cls(name, name, xtr, ytr, xva, yva, xte, yte, prep)


def load_raw(source: str | Path, label_column: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Raw samples (and labels when the file has them) for prediction with a saved :class:`Preprocessing`.

    The same content recognition as :func:`load_dataset`; labels are optional: ``y`` is None when absent.
    What is returned: ``X``/``y`` of an X/y ``.npz`` (not its ``X_test``), ``x_test``/``y_test`` of a
    Keras-style MNIST ``.npz`` and the ``t10k`` files of an idx folder (their held-out samples), the
    ``.npy`` X (labels from ``<stem>_y.npy`` if present), and a CSV's feature columns (its label column is
    ``label_column`` when present, else the one column named label/target/class/y if any).
    Labels are returned as read (ints or strings), for :meth:`Preprocessing.encode_labels`.
    """
    r = _read(source, label_column, need_labels=False)
    x, y = (r.X_test, r.y_test) if r.kind == "mnist" else (r.X, r.y)
    x = _as_real(x, f"{source}: X")
    if y is not None:
        y = _labels(y, str(source))
        if len(y) != len(x):
            raise ValueError(f"{source}: y must be 1-D with one label per sample ({len(x)}), got {len(y)}")
    return x, y


# ----------------------------------------------------------------------------- splitting


def _check_counts(y: np.ndarray, classes: list[Any], per_class: int, what: str, source: str) -> None:
    values, counts = np.unique(y, return_counts=True)
    for v, c in zip(values.tolist(), counts.tolist(), strict=True):
        if c < per_class:
            raise ValueError(
                f"{source}: class {v!r} has {c} sample{'s' * (c != 1)} in the {what}; the stratified "
                f"splits need at least {per_class} per class"
            )


def _split_sizes(n: int, size: int | float) -> tuple[int, int]:
    n_test = math.ceil(size * n) if isinstance(size, float) else int(size)
    return n - n_test, n_test


def _stratified(idx: np.ndarray, y: np.ndarray, size: int | float, seed: int, what: str, source: str):
    from sklearn.model_selection import train_test_split

    k = len(np.unique(y))
    n_train, n_test = _split_sizes(len(idx), size)
    if n_test < k or n_train < k:
        raise ValueError(
            f"{source}: the {what} split ({n_test} of {len(idx)} samples) must leave at least one sample "
            f"of each of the {k} classes on both sides; use more data or change the split size"
        )
    try:
        a, b = train_test_split(idx, test_size=size, random_state=seed, stratify=y)
    except ValueError as exc:
        raise ValueError(f"{source}: cannot make the stratified {what} split: {exc}") from exc
    return np.asarray(a), np.asarray(b)


# ----------------------------------------------------------------------------- loading


def load_dataset(
    source: str | Path | None = "digits",
    seed: int = 0,
    *,
    val_fraction: float = 0.15,
    label_column: str | None = None,
    images: bool = False,
    fft_block: int = 4,
    standardize: bool = True,
    encoding: str = "scale",
    test_size: int | float | None = None,
) -> Dataset:
    """Load, check, split and preprocess a dataset (see the module docstring for the formats).

    Args:
        source: ``"digits"`` (FFT-``fft_block²``), ``"digits-fft64"``, or a file/folder recognised by content.
        seed: seeds the stratified test split (when the source has no test set) and the validation split.
        val_fraction: share of the training data carved off (stratified) as validation; 0 → none.
        label_column: the CSV label column (default: the one column named label/target/class/y).
        images: treat 2-D rows with a square column count as flattened square images.
        fft_block: side of the central FFT block kept from images.
        standardize: z-score feature rows with training-split statistics (not Fourier features of images).
        encoding: amplitude encoding of feature rows, ``"unit_norm"`` or ``"scale"``.
        test_size: the test split when the source has none (default 450 for digits, 25 % for user data).
    """
    src = "digits" if source in (None, "") else str(source)
    if encoding not in ENCODINGS:
        raise ValueError(f"{src}: encoding must be one of {ENCODINGS}, got {encoding!r}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"{src}: val_fraction must be in [0, 1), got {val_fraction}")
    if int(fft_block) != fft_block or fft_block < 1:
        raise ValueError(f"{src}: fft_block must be a positive integer, got {fft_block}")

    if src in _DIGITS:
        from sklearn.datasets import load_digits

        block = _DIGITS[src] or fft_block
        d = load_digits()
        raw = _Raw("digits", d.images, d.target)
        name, default_test = f"digits-fft{block * block}", DEFAULT_TEST_SIZE
    else:
        block = fft_block
        raw = _read(src, label_column)
        name = f"{'mnist' if raw.kind in ('mnist', 'idx') else 'user'}:{Path(src).name}"
        default_test = USER_TEST_FRACTION
    return _build(name, src, raw, seed, val_fraction, images, block, standardize, encoding, test_size or default_test)


def _build(
    name: str,
    src: str,
    raw: _Raw,
    seed: int,
    val_fraction: float,
    images: bool,
    block: int,
    standardize: bool,
    encoding: str,
    test_size: int | float,
) -> Dataset:
    # ---- check the arrays
    x = _as_real(raw.X, f"{src}: X")
    y = _labels(raw.y, src, "labels y")
    if x.ndim not in (2, 3):
        raise ValueError(f"{src}: X must be (n, d) feature rows or (n, h, w) images, got shape {x.shape}")
    if len(y) != len(x):
        raise ValueError(f"{src}: y must be 1-D with one label per sample ({len(x)}), got {len(y)} labels")
    _check_finite(x, f"{src}: X")
    given_test = raw.X_test is not None
    if given_test:
        xt = _as_real(raw.X_test, f"{src}: X_test")
        yt = _labels(raw.y_test, src, "test labels y_test")
        if xt.shape[1:] != x.shape[1:]:
            raise ValueError(f"{src}: X_test samples have shape {xt.shape[1:]} but X samples {x.shape[1:]}")
        if len(yt) != len(xt):
            raise ValueError(f"{src}: y_test must have one label per sample ({len(xt)}), got {len(yt)} labels")
        _check_finite(xt, f"{src}: X_test")
        if y.dtype.kind != yt.dtype.kind:
            raise ValueError(f"{src}: training labels are {y.dtype.kind!r}-typed but test labels {yt.dtype.kind!r}")

    # ---- images or feature rows
    if x.ndim == 2 and images:
        side = math.isqrt(x.shape[1])
        if side * side != x.shape[1]:
            raise ValueError(f"{src}: images=True but rows have {x.shape[1]} values, not a square number of pixels")
        x = x.reshape(len(x), side, side)
        if given_test:
            xt = xt.reshape(len(xt), side, side)
    kind = "fft" if x.ndim == 3 else "features"
    if kind == "fft" and min(x.shape[1:]) < block:
        raise ValueError(f"{src}: images of {x.shape[1]}×{x.shape[2]} are smaller than fft_block={block}")

    # ---- label map and class counts
    classes = _label_list(y)
    if len(classes) < 2:
        raise ValueError(f"{src}: all samples have the same label {classes[0]!r}; a classifier needs ≥ 2 classes")
    if given_test:
        unseen = sorted(set(np.unique(yt).tolist()) - set(classes))
        if unseen:
            raise ValueError(f"{src}: test labels not seen in training: {unseen[:10]}")
    stages = (0 if given_test else 1) + (1 if val_fraction > 0 else 0)
    if stages:
        _check_counts(y, classes, stages + 1 if stages == 2 else 2, "data", src)

    # ---- splits (indices into x / y)
    idx = np.arange(len(y))
    if given_test:
        tr, te = idx, None
    else:
        tr, te = _stratified(idx, y, test_size, seed, "test", src)
    if val_fraction > 0:
        _check_counts(y[tr], classes, 2, "training part", src)
        tr, va = _stratified(tr, y[tr], float(val_fraction), seed, "validation", src)
    else:
        va = idx[:0]
    missing = sorted(set(classes) - set(np.unique(y[tr]).tolist()))
    if missing:
        raise ValueError(f"{src}: classes {missing[:10]} have no sample in the training split; add data")

    # ---- preprocessing, fitted on the final training split only
    if kind == "fft":
        prep = Preprocessing("fft", x.shape[1] * x.shape[2], classes, fft_block=block, image_shape=x.shape[1:])
    else:
        xtr = x[tr]
        mean = std = None
        if standardize:
            m, s = xtr.mean(axis=0), xtr.std(axis=0)
            mean, std = m.tolist(), np.where(s > 0, s, 1.0).tolist()
        prep = Preprocessing("features", x.shape[1], classes, mean=mean, std=std, encoding=encoding)
        if encoding == "scale":
            z = (xtr - np.asarray(mean)) / np.asarray(std) if standardize else xtr
            rms = float(np.sqrt(np.mean(np.sum(z * z, axis=1))))
            prep.scale = rms if rms > 0 else 1.0
    prep.label_column = raw.label_column

    X_all = prep.transform(x)
    y_all = prep.encode_labels(y)
    if given_test:
        X_te, y_te = prep.transform(xt), prep.encode_labels(yt)
    else:
        X_te, y_te = X_all[te], y_all[te]
    return Dataset(name, src, X_all[tr], y_all[tr], X_all[va], y_all[va], X_te, y_te, prep)


# ----------------------------------------------------------------------------- historical names


def split(
    name: str, x: np.ndarray, y: np.ndarray, test_size: int | float = DEFAULT_TEST_SIZE, seed: int = 0
) -> Dataset:
    """Seeded, stratified train/test split of already-encoded complex features (no validation split)."""
    from sklearn.model_selection import train_test_split

    xtr, xte, ytr, yte = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    return Dataset.from_tensors(name, xtr, ytr, xte, yte)


def load_digits_fft16(seed: int = 0, test_size: int = DEFAULT_TEST_SIZE, val_fraction: float = 0.15) -> Dataset:
    """scikit-learn's bundled handwritten digits (8×8) through the FFT-16 recipe (the default)."""
    return load_dataset("digits", seed, val_fraction=val_fraction, test_size=test_size)


def load_mnist(path: str | Path, seed: int = 0, test_size: int | None = None, val_fraction: float = 0.15) -> Dataset:
    """MNIST-like data (Keras ``.npz`` or idx folder); ``test_size`` keeps only the first test samples."""
    ds = load_dataset(path, seed, val_fraction=val_fraction)
    if test_size is not None:
        ds.X_test, ds.y_test = ds.X_test[:test_size], ds.y_test[:test_size]
    return ds


def load_arrays(path: str | Path, seed: int = 0, test_size: int | float = USER_TEST_FRACTION, **kw: Any) -> Dataset:
    """User arrays (any format :func:`load_dataset` recognises), with a chosen test split size."""
    return load_dataset(path, seed, test_size=test_size, **kw)
