"""Data: the FFT recipe, formats recognised by content, honest splits, the saved preprocessing, refusals."""

from __future__ import annotations

import gzip
import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from gf_prune.data import (
    Dataset,
    Preprocessing,
    fft16_features,
    load_arrays,
    load_dataset,
    load_digits_fft16,
    load_mnist,
    load_raw,
    split,
)

# ----------------------------------------------------------------------------- FFT-16


def hand_fft16(image: np.ndarray) -> np.ndarray:
    """Explicit DFT sum, centred by hand: frequencies −2..1 on both axes (the central 4×4 of an 8×8)."""
    h, w = image.shape
    out = np.zeros((4, 4), dtype=complex)
    for a, ku in enumerate(range(-2, 2)):
        for b, kv in enumerate(range(-2, 2)):
            s = 0j
            for m in range(h):
                for n in range(w):
                    s += image[m, n] * np.exp(-2j * math.pi * (ku * m / h + kv * n / w))
            out[a, b] = s
    v = out.reshape(-1)
    return v / np.linalg.norm(v)


def test_fft16_matches_hand_computation():
    from sklearn.datasets import load_digits

    image = load_digits().images[17]
    np.testing.assert_allclose(fft16_features(image[None])[0], hand_fft16(image), atol=1e-12)


def test_fft16_dc_term_and_norm():
    img = np.zeros((8, 8))
    img[3, 4] = 2.0  # a single pixel: flat spectrum of modulus 2
    f = fft16_features(img[None])[0]
    np.testing.assert_allclose(np.abs(f), np.full(16, 0.25), atol=1e-15)
    # the DC term sits at (2, 2) of the 4×4 block (fftshift puts frequency 0 at index h/2)
    assert fft16_features(np.ones((1, 8, 8)))[0][2 * 4 + 2] == pytest.approx(1.0)


def test_fft16_zero_image_is_zero_not_nan():
    assert np.all(fft16_features(np.zeros((2, 8, 8))) == 0)


@pytest.mark.parametrize("shape", [(8, 8), (2, 3, 8), (2, 8, 3)])
def test_fft16_bad_shape(shape):
    with pytest.raises(ValueError, match="shape"):
        fft16_features(np.zeros(shape))


def test_fft16_nan():
    img = np.zeros((1, 8, 8))
    img[0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fft16_features(img)


# ----------------------------------------------------------------------------- digits default


def numpy_fft16_digits():
    """Today's recipe, recomputed independently: centred FFT, central 4×4, unit rows; 450 stratified test."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    f = np.fft.fftshift(np.fft.fft2(d.images), axes=(1, 2))[:, 2:6, 2:6].reshape(len(d.images), 16)
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    return train_test_split(f, d.target, test_size=450, random_state=0, stratify=d.target)


def sorted_rows(x: np.ndarray) -> np.ndarray:
    return x[np.lexsort(np.column_stack([x.real, x.imag]).T[::-1])]


def test_digits_default_equals_todays_fft16(digits):
    xtr, xte, _, yte = numpy_fft16_digits()
    assert digits.name == "digits-fft16" and digits.source == "digits" and not digits.feature_rows
    assert (digits.n_train, digits.n_val, digits.n_test) == (1144, 203, 450)
    assert digits.n_features == 16 and digits.n_classes == 10 and digits.preprocessing.classes == list(range(10))
    assert digits.X_train.dtype == torch.complex128 and digits.y_train.dtype == torch.int64
    np.testing.assert_array_equal(digits.X_test.numpy(), xte)  # the very same test set, bit for bit
    np.testing.assert_array_equal(digits.y_test.numpy(), yte)
    # train + validation is today's training part
    both = np.concatenate([digits.X_train.numpy(), digits.X_val.numpy()])
    np.testing.assert_array_equal(sorted_rows(both), sorted_rows(xtr))
    torch.testing.assert_close(digits.X_val.abs().pow(2).sum(1), torch.ones(203, dtype=torch.float64))


def test_digits_split_seeded_and_stratified(digits):
    b, c = load_dataset("digits", 0), load_digits_fft16(seed=1)
    assert torch.equal(digits.X_val, b.X_val) and torch.equal(digits.y_train, b.y_train)
    assert not torch.equal(digits.y_test, c.y_test) and not torch.equal(digits.y_val, c.y_val)
    full = np.bincount(np.concatenate([digits.y_train, digits.y_val, digits.y_test]), minlength=10)
    for part, n in ((digits.y_test, 450), (digits.y_val, 203)):
        assert np.all(np.abs(np.bincount(part.numpy(), minlength=10) - full * n / 1797) <= 1.5)


def test_digits_fft64_and_transform(digits):
    from sklearn.datasets import load_digits

    ds = load_dataset("digits-fft64", val_fraction=0)
    assert ds.name == "digits-fft64" and ds.n_features == 64 and ds.n_val == 0 and ds.n_train == 1347
    img = load_digits().images[:5]
    f = np.fft.fftshift(np.fft.fft2(img), axes=(1, 2)).reshape(5, 64)
    np.testing.assert_allclose(ds.preprocessing.transform(img).numpy(), f / np.linalg.norm(f, axis=1)[:, None])
    # flattened pixel rows and a single image are accepted by the fft preprocessing too
    p = digits.preprocessing
    assert torch.equal(p.transform(img.reshape(5, 64)), p.transform(img))
    assert torch.equal(p.transform(img[0]), p.transform(img[:1]))


# ----------------------------------------------------------------------------- MNIST files


def write_idx(path: Path, arr: np.ndarray, gz: bool) -> None:
    arr = np.asarray(arr, dtype=np.uint8)
    raw = bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)


def fake_mnist(n_train=100, n_test=12, side=12, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
        np.arange(n_train, dtype=np.uint8) % 10,
        rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
        np.arange(n_test, dtype=np.uint8)[::-1] % 10,
    )


def write_idx_folder(folder: Path, arrays, gz=False) -> None:
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    for name, arr in zip(names, arrays, strict=True):
        write_idx(folder / name, arr, gz)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_folder(tmp_path, gz):
    xtr, ytr, xte, yte = fake_mnist()
    write_idx_folder(tmp_path, (xtr, ytr, xte, yte), gz)
    ds = load_dataset(tmp_path)
    assert (ds.n_train, ds.n_val, ds.n_test) == (85, 15, 12) and ds.n_features == 16
    assert ds.name == f"mnist:{tmp_path.name}" and not ds.feature_rows
    np.testing.assert_array_equal(ds.y_test.numpy(), yte)  # its own test set, in order
    np.testing.assert_allclose(ds.X_test.numpy(), fft16_features(xte.astype(float)), atol=1e-15)
    x, y = load_raw(tmp_path)  # prediction reads the t10k files
    np.testing.assert_array_equal(x, xte) and np.testing.assert_array_equal(y, yte)


def test_mnist_keras_npz_by_keys_whatever_its_name(tmp_path):
    xtr, ytr, xte, yte = fake_mnist(seed=1)
    path = tmp_path / "features.csv"  # the name lies; the content decides
    np.savez(path.with_suffix(".npz"), x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    path.with_suffix(".npz").rename(path)
    ds = load_dataset(path)
    assert ds.name == "mnist:features.csv" and ds.n_test == 12 and ds.n_train + ds.n_val == 100
    np.testing.assert_allclose(ds.X_test.numpy(), fft16_features(xte.astype(float)), atol=1e-15)
    assert load_mnist(path, test_size=5).X_test.shape == (5, 16)
    assert load_arrays(path).X_test.shape == (12, 16)


def test_mnist_named_file_with_x_y_is_user_data(tmp_path):
    x, y = blobs()
    np.savez(tmp_path / "my_mnist_features.npz", X=x, y=y)
    ds = load_dataset(tmp_path / "my_mnist_features.npz")
    assert ds.name == "user:my_mnist_features.npz" and ds.feature_rows
    assert (ds.n_train, ds.n_val, ds.n_test) == (51, 9, 20) and ds.n_features == 16


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:-5]), "idx header says"),
        (lambda p: p.write_bytes(b"\x01\x02\x03\x04hello"), "not an unsigned-byte idx"),
        (lambda p: p.unlink(), "no train images idx file"),
    ],
)
def test_mnist_idx_refusals(tmp_path, mutate, match):
    write_idx_folder(tmp_path, fake_mnist())
    mutate(tmp_path / "train-images-idx3-ubyte")
    with pytest.raises(ValueError, match=match):
        load_dataset(tmp_path)


def test_mnist_idx_label_count_mismatch(tmp_path):
    xtr, ytr, xte, yte = fake_mnist()
    write_idx_folder(tmp_path, (xtr, ytr[:-1], xte, yte))
    with pytest.raises(ValueError, match="one label per sample"):
        load_dataset(tmp_path)


def test_single_idx_file_is_refused(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", fake_mnist()[0], False)
    with pytest.raises(ValueError, match="folder holding the train and t10k"):
        load_dataset(tmp_path / "train-images-idx3-ubyte")


def test_test_labels_not_seen_in_training(tmp_path):
    xtr, ytr, xte, yte = fake_mnist()
    yte[3] = 42
    np.savez(tmp_path / "m.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    with pytest.raises(ValueError, match=r"m\.npz: test labels not seen in training: \[42\]"):
        load_dataset(tmp_path / "m.npz")


# ----------------------------------------------------------------------------- user arrays


def blobs(n=80, d=16, k=4, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    x = rng.normal(size=(n, d)) + y[:, None] + 3.0
    return x, y


def row_ids(X: torch.Tensor, all_rows: torch.Tensor) -> np.ndarray:
    """Index of each row of X among all_rows (exact up to rounding)."""
    dist = (X[:, None, :] - all_rows[None, :, :]).abs().amax(-1)
    best = dist.min(1)
    assert float(best.values.max()) < 1e-12
    return best.indices.numpy()


@pytest.mark.parametrize("encoding", ["unit_norm", "scale"])
def test_standardised_with_training_statistics_and_transform_reproduces(tmp_path, encoding):
    x, y = blobs()
    np.savez(tmp_path / "mine.npz", X=x, y=y)
    ds = load_dataset(tmp_path / "mine.npz", encoding=encoding)
    p = ds.preprocessing
    assert p.kind == "features" and p.encoding == encoding and ds.feature_rows
    all_rows = p.transform(x)
    tr, va, te = (row_ids(X, all_rows) for X in (ds.X_train, ds.X_val, ds.X_test))
    # transform(raw training rows) is exactly X_train: prediction applies the same preprocessing
    torch.testing.assert_close(p.transform(x[tr]), ds.X_train, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(ds.y_train.numpy(), y[tr])
    # honest split: disjoint, complete, stratified
    assert len(set(tr) | set(va) | set(te)) == 80 == len(tr) + len(va) + len(te)
    assert np.all(np.bincount(y[te]) == 5) and np.all(np.abs(np.bincount(y[va]) - 9 / 4) <= 1)
    # the statistics come from the training split only
    np.testing.assert_allclose(p.mean, x[tr].mean(0), atol=1e-12)
    np.testing.assert_allclose(p.std, x[tr].std(0), atol=1e-12)
    assert not np.allclose(p.mean, x.mean(0), atol=1e-6)
    z_tr, z_te = ((x[i] - p.mean) / p.std for i in (tr, te))
    np.testing.assert_allclose(z_tr.mean(0), 0, atol=1e-12)
    assert np.abs(z_te.mean(0)).max() > 1e-3
    if encoding == "unit_norm":
        torch.testing.assert_close(ds.X_test.abs().pow(2).sum(1), torch.ones(20, dtype=torch.float64))
    else:  # one training-set scale: RMS norm of the training samples is 1, each keeps its relative norm
        assert float(ds.X_train.abs().pow(2).sum(1).mean()) == pytest.approx(1.0)
        np.testing.assert_allclose(ds.X_test.real.numpy() * p.scale, z_te, atol=1e-12)
        assert ds.X_test.abs().pow(2).sum(1).std() > 0.01


def test_no_standardisation_keeps_features(tmp_path):
    x, y = blobs()
    np.savez(tmp_path / "mine.npz", X=x, y=y)
    ds = load_dataset(tmp_path / "mine.npz", standardize=False, encoding="unit_norm")
    assert ds.preprocessing.mean is None and ds.preprocessing.std is None
    ref = torch.as_tensor(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=torch.complex128)
    row_ids(ds.X_train, ref)


def test_zero_std_feature_gets_std_one(tmp_path):
    x, y = blobs(d=3)
    x[:, 1] = 7.0
    np.savez(tmp_path / "c.npz", X=x, y=y)
    p = load_dataset(tmp_path / "c.npz").preprocessing
    assert p.std[1] == 1.0 and p.mean[1] == 7.0


def test_given_test_set_is_honoured(tmp_path):
    x, y = blobs(60)
    xt, yt = blobs(10, seed=5)
    np.savez(tmp_path / "given.npz", X=x, y=y, X_test=xt, y_test=yt)
    ds = load_dataset(tmp_path / "given.npz")
    assert (ds.n_train, ds.n_val, ds.n_test) == (51, 9, 10)
    torch.testing.assert_close(ds.X_test, ds.preprocessing.transform(xt), rtol=0, atol=0)
    np.testing.assert_array_equal(ds.y_test.numpy(), yt)  # not re-split, not reordered
    x_raw, y_raw = load_raw(tmp_path / "given.npz")  # prediction reads the main X, y
    assert x_raw.shape == (60, 16) and len(y_raw) == 60


def test_npy_pair_and_float_class_labels(tmp_path):
    x, y = blobs(d=5)
    np.save(tmp_path / "feat.npy", x)
    np.save(tmp_path / "feat_y.npy", (y * 10 - 10).astype(float))  # integer-valued floats are class-like
    ds = load_dataset(tmp_path / "feat.npy")
    assert ds.n_features == 5 and ds.preprocessing.classes == [-10, 0, 10, 20]
    np.testing.assert_array_equal(ds.preprocessing.decode_labels(ds.y_train), ds.y_train.numpy() * 10 - 10)
    np.save(tmp_path / "new.npy", x[:3])
    xr, yr = load_raw(tmp_path / "new.npy")  # no labels beside it: fine for prediction
    assert xr.shape == (3, 5) and yr is None


def test_square_feature_count_stays_features_unless_images(tmp_path):
    rng = np.random.default_rng(0)
    imgs, y = rng.random((60, 8, 8)), np.arange(60) % 2
    np.savez(tmp_path / "rows.npz", X=imgs.reshape(60, 64), y=y)
    ds = load_dataset(tmp_path / "rows.npz")
    assert ds.n_features == 64 and ds.feature_rows
    ds = load_dataset(tmp_path / "rows.npz", images=True)
    assert ds.n_features == 16 and not ds.feature_rows and ds.preprocessing.image_shape == (8, 8)
    row_ids(ds.X_test, torch.as_tensor(fft16_features(imgs)))
    assert load_dataset(tmp_path / "rows.npz", images=True, fft_block=8).n_features == 64
    np.savez(tmp_path / "imgs.npz", X=imgs, y=y)  # 3-D arrays are images by nature
    assert not load_dataset(tmp_path / "imgs.npz").feature_rows


# ----------------------------------------------------------------------------- CSV


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.write_text("\n".join(",".join(map(str, r)) for r in [header, *rows]) + "\n")
    return path


def iris_like(n=40, label=lambda i: ["setosa", "versicolor"][i % 2]):
    rng = np.random.default_rng(1)
    return [[*np.round(rng.normal(size=3) + i % 2, 4), label(i)] for i in range(n)]


def test_csv_string_labels_and_label_column(tmp_path):
    path = write_csv(tmp_path / "flowers.txt", ["a", "b", "c", "species"], iris_like())
    ds = load_dataset(path, label_column="species")
    assert ds.name == "user:flowers.txt" and ds.n_features == 3 and ds.n_classes == 2
    p = ds.preprocessing
    assert p.classes == ["setosa", "versicolor"] and p.label_column == "species"
    assert p.encode_labels(["versicolor", "setosa"]).tolist() == [1, 0]
    assert p.decode_labels(torch.tensor([1, 0])).tolist() == ["versicolor", "setosa"]
    with pytest.raises(ValueError, match="'virginica' is not one of the trained classes"):
        p.encode_labels(["setosa", "virginica"])
    x, y = load_raw(path, label_column="species")
    assert x.shape == (40, 3) and y[0] == "setosa"
    ids = row_ids(ds.X_test, p.transform(x))  # predict's path reproduces the test rows and labels
    assert torch.equal(p.encode_labels(y)[ids], ds.y_test)


def test_csv_default_label_column_and_prediction_without_labels(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["f1", "Target", "f2", "f3"], [[r[0], r[3], r[1], r[2]] for r in iris_like()])
    ds = load_dataset(path)
    assert ds.preprocessing.label_column == "Target" and ds.n_features == 3
    nolab = write_csv(tmp_path / "new.csv", ["f1", "f2", "f3"], [r[:3] for r in iris_like(4)])
    x, y = load_raw(nolab, label_column="Target")
    assert y is None and ds.preprocessing.transform(x).shape == (4, 3)


def test_csv_semicolon_and_integer_labels(tmp_path):
    rows = iris_like(label=lambda i: 3 + 4 * (i % 2))
    (tmp_path / "s.csv").write_text("\n".join(";".join(map(str, r)) for r in [["a", "b", "c", "y"], *rows]))
    assert load_dataset(tmp_path / "s.csv").preprocessing.classes == [3, 7]


@pytest.mark.parametrize(
    ("header", "kw", "match"),
    [
        (["a", "b", "c", "d"], {}, r"no column named label, target, class or y.*\['a', 'b', 'c', 'd'\]"),
        (["a", "b", "label", "class"], {}, "several label-like columns"),
        (["a", "b", "c", "d"], {"label_column": "kind"}, r"no column 'kind'; the columns are \['a', 'b', 'c', 'd'\]"),
    ],
)
def test_csv_label_column_refusals(tmp_path, header, kw, match):
    path = write_csv(tmp_path / "t.csv", header, iris_like())
    with pytest.raises(ValueError, match=match):
        load_dataset(path, **kw)


def test_csv_non_numeric_feature_names_column(tmp_path):
    rows = iris_like()
    rows[7][1] = "tall"
    path = write_csv(tmp_path / "t.csv", ["a", "height", "c", "label"], rows)
    with pytest.raises(ValueError, match=r"t\.csv: column 'height' holds a non-numeric cell 'tall' \(row 9\)"):
        load_dataset(path)


def test_csv_empty_label(tmp_path):
    rows = iris_like()
    rows[4][3] = ""
    path = write_csv(tmp_path / "t.csv", ["a", "b", "c", "label"], rows)
    with pytest.raises(ValueError, match=r"empty label in column 'label' \(row 6\)"):
        load_dataset(path)


def test_csv_ragged_row(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["a", "b", "c", "label"], iris_like())
    path.write_text(path.read_text() + "1,2,setosa\n")
    with pytest.raises(ValueError, match="row 42 has 3 cells"):
        load_dataset(path)


# ----------------------------------------------------------------------------- preprocessing record


@pytest.mark.parametrize("which", ["csv", "digits"])
def test_preprocessing_round_trip_json_and_torch(tmp_path, which, digits):
    if which == "csv":
        path = write_csv(tmp_path / "t.csv", ["a", "b", "c", "kind"], iris_like())
        ds = load_dataset(path, label_column="kind", encoding="scale")
        raw = load_raw(path, "kind")[0]
    else:
        from sklearn.datasets import load_digits

        ds, raw = digits, load_digits().images[:20]
    p = ds.preprocessing
    d = p.to_dict()
    q = Preprocessing.from_dict(json.loads(json.dumps(d)))
    torch.save({"prep": d}, tmp_path / "m.pt")
    r = Preprocessing.from_dict(torch.load(tmp_path / "m.pt", weights_only=True)["prep"])
    for other in (q, r):
        assert other == p and other.to_dict() == d
        torch.testing.assert_close(other.transform(raw), p.transform(raw), rtol=0, atol=0)
        assert other.decode_labels([0, 1]).tolist() == p.decode_labels([0, 1]).tolist()


def test_transform_refusals(digits):
    x, _ = blobs()
    fp = Preprocessing("features", 16, [0, 1], mean=[0.0] * 16, std=[1.0] * 16)
    with pytest.raises(ValueError, match="rows of 16 features, got shape"):
        fp.transform(x[:, :5])
    bad = x.copy()
    bad[2, 3] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        fp.transform(bad)
    with pytest.raises(ValueError, match=r"images of shape \(n, 8, 8\) or rows of 64 pixels"):
        digits.preprocessing.transform(np.zeros((3, 7, 7)))
    with pytest.raises(ValueError, match="must be numbers"):
        fp.transform(np.array([["a"] * 16]))
    with pytest.raises(ValueError, match="out of range"):
        fp.decode_labels([2])
    with pytest.raises(ValueError, match="label '1' is not one of the trained classes"):
        fp.encode_labels(["1"])
    with pytest.raises(ValueError, match="label 5 is not one of the trained classes"):
        fp.encode_labels([0, 5, 1])


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (np.zeros(10), np.zeros(10, int), "feature rows or .* images, got shape"),
        (np.zeros((10, 2, 3, 4)), np.arange(10) % 2, "feature rows or .* images, got shape"),
        (np.zeros((10, 4)), np.arange(9) % 2, "one label per sample"),
        (np.zeros((10, 4)), np.zeros((10, 2), int), "one label per sample"),
        (np.zeros((10, 4)), np.full(10, 0.5), "class-like .* found 0.5"),
        (np.zeros((10, 4)), np.array([0, 1] * 4 + [np.nan, 1]), "class-like .* found nan"),
        (np.zeros((10, 4)), np.full(10, 3), "all samples have the same label 3"),
        (np.where(np.eye(10, 4) > 0, np.nan, 0), np.arange(10) % 2, "X contain NaN or infinite"),
        (np.zeros((20, 4)), np.array([0] * 10 + [1] * 8 + [2] * 2), "class 2 has 2 samples .* at least 3 per class"),
        (np.zeros((20, 4), complex), np.arange(20) % 2, "complex features are not supported"),
    ],
)
def test_user_refusals(tmp_path, x, y, match):
    np.savez(tmp_path / "bad.npz", X=x, y=y)
    with pytest.raises(ValueError, match=r"bad\.npz.*" + match):
        load_dataset(tmp_path / "bad.npz")


def test_tiny_validation_split_is_refused(tmp_path):
    x, y = blobs(12, k=4)
    np.savez(tmp_path / "t.npz", X=x, y=y, X_test=x[:4], y_test=y[:4])
    with pytest.raises(ValueError, match=r"t\.npz: the validation split \(2 of 12 samples\).*4 classes"):
        load_dataset(tmp_path / "t.npz")
    assert load_dataset(tmp_path / "t.npz", val_fraction=0).n_train == 12


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"data": np.zeros((4, 4))}, r"must hold arrays 'X' and 'y'.*found \['data'\]"),
        ({"X": np.zeros((4, 4)), "y": np.zeros(4), "X_test": np.zeros((2, 4))}, "only one of 'X_test' and 'y_test'"),
        ({"X": np.zeros((8, 4)), "y": np.arange(8) % 2, "X_test": np.zeros((2, 3)), "y_test": [0, 1]}, "X_test"),
    ],
)
def test_npz_content_refusals(tmp_path, arrays, match):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=match):
        load_dataset(tmp_path / "bad.npz")


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_dataset(tmp_path / "absent.npz")
    np.save(tmp_path / "feat.npy", np.zeros((4, 3)))
    with pytest.raises(FileNotFoundError, match=r"feat_y\.npy"):
        load_dataset(tmp_path / "feat.npy")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 definitely not a zip archive")
    with pytest.raises(ValueError, match=r"broken\.npz: not a readable \.npz"):
        load_dataset(tmp_path / "broken.npz")
    (tmp_path / "x.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ValueError, match=r"x\.npy: not a readable \.npy"):
        load_dataset(tmp_path / "x.npy")
    (tmp_path / "sheet.xlsx").write_bytes(bytes(range(256)))
    with pytest.raises(ValueError, match=r"sheet\.xlsx: unsupported data file \(suffix '\.xlsx'\)"):
        load_dataset(tmp_path / "sheet.xlsx")
    (tmp_path / "only_header.csv").write_text("1,2,3\n")
    with pytest.raises(ValueError, match="header row and at least one data row"):
        load_dataset(tmp_path / "only_header.csv")


def test_option_refusals(tmp_path):
    x, y = blobs(d=5)
    np.savez(tmp_path / "f.npz", X=x, y=y)
    with pytest.raises(ValueError, match="images=True but rows have 5 values, not a square"):
        load_dataset(tmp_path / "f.npz", images=True)
    with pytest.raises(ValueError, match="encoding must be one of"):
        load_dataset(tmp_path / "f.npz", encoding="phase")
    with pytest.raises(ValueError, match="val_fraction"):
        load_dataset(tmp_path / "f.npz", val_fraction=1.0)
    with pytest.raises(ValueError, match="smaller than fft_block=10"):
        load_dataset("digits", fft_block=10)


# ----------------------------------------------------------------------------- historical names


def test_historical_helpers(tmp_path):
    x, y = blobs()
    np.savez(tmp_path / "mine.npz", X=x, y=y)
    ds = load_arrays(tmp_path / "mine.npz", test_size=0.5)
    assert ds.n_test == 40 and ds.n_train + ds.n_val == 40
    xc = torch.as_tensor(x.astype(complex))
    sp = split("s", xc.numpy(), y, 20)
    assert sp.n_test == 20 and sp.n_val == 0 and sp.n_classes == 4
    fd = Dataset.from_tensors("tiny", xc[:60], torch.as_tensor(y[:60]), xc[60:], torch.as_tensor(y[60:]))
    assert fd.n_classes == 4 and fd.X_val.shape == (0, 16) and fd.feature_rows
    torch.testing.assert_close(fd.preprocessing.transform(x[:3]), xc[:3])
