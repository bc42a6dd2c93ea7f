"""Data: the FFT-16 recipe, the seeded digits split, MNIST idx/npz files and user arrays."""

from __future__ import annotations

import gzip
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from gf_prune.data import fft16_features, load_arrays, load_dataset, load_digits_fft16, load_mnist

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


def test_digits_split_fixed_seeded_and_stratified():
    a, b, c = load_digits_fft16(), load_digits_fft16(), load_digits_fft16(seed=1)
    assert len(a.y_test) == 450 and len(a.y_train) == 1797 - 450
    assert a.X_train.dtype == torch.complex128 and a.n_features == 16 and a.n_classes == 10
    assert torch.equal(a.X_test, b.X_test) and torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.y_test, c.y_test)
    torch.testing.assert_close(a.X_train.abs().pow(2).sum(1), torch.ones(1347, dtype=torch.float64))
    full = np.bincount(np.concatenate([a.y_train.numpy(), a.y_test.numpy()]), minlength=10)
    test = np.bincount(a.y_test.numpy(), minlength=10)
    assert np.all(np.abs(test - full * 450 / 1797) <= 1)  # stratified


def test_load_dataset_default_is_digits():
    assert load_dataset().name == load_dataset("digits").name == "digits-fft16"


# ----------------------------------------------------------------------------- MNIST files


def write_idx(path: Path, arr: np.ndarray, gz: bool) -> None:
    arr = np.asarray(arr, dtype=np.uint8)
    raw = bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)


def fake_mnist(n_train=30, n_test=12, side=28, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
        np.arange(n_train, dtype=np.uint8) % 10,
        rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
        np.arange(n_test, dtype=np.uint8)[::-1] % 10,
    )


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_folder(tmp_path, gz):
    xtr, ytr, xte, yte = fake_mnist()
    write_idx(tmp_path / "train-images-idx3-ubyte", xtr, gz)
    write_idx(tmp_path / "train-labels-idx1-ubyte", ytr, gz)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", xte, gz)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", yte, gz)
    ds = load_mnist(tmp_path)
    assert ds.X_train.shape == (30, 16) and ds.X_test.shape == (12, 16)
    np.testing.assert_array_equal(ds.y_train.numpy(), ytr)
    np.testing.assert_array_equal(ds.y_test.numpy(), yte)
    np.testing.assert_allclose(ds.X_test.numpy(), fft16_features(xte.astype(float)), atol=1e-15)
    assert load_dataset(str(tmp_path)).X_train.shape == (30, 16)


def test_mnist_keras_npz(tmp_path):
    xtr, ytr, xte, yte = fake_mnist(seed=1)
    path = tmp_path / "fashion_mnist.npz"
    np.savez(path, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    ds = load_mnist(path)
    np.testing.assert_allclose(ds.X_train.numpy(), fft16_features(xtr.astype(float)), atol=1e-15)
    np.testing.assert_array_equal(ds.y_test.numpy(), yte)
    assert load_dataset(str(path)).X_test.shape == (12, 16)
    assert load_mnist(path, test_size=5).X_test.shape == (5, 16)
    # a Keras-style file handed in as "user arrays" is recognised too
    assert load_arrays(path).X_train.shape == (30, 16)


def test_mnist_idx_truncated(tmp_path):
    xtr, ytr, xte, yte = fake_mnist()
    write_idx(tmp_path / "train-images-idx3-ubyte", xtr, False)
    raw = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(raw[:-5])
    write_idx(tmp_path / "train-labels-idx1-ubyte", ytr, False)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", xte, False)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", yte, False)
    with pytest.raises(ValueError, match="idx header"):
        load_mnist(tmp_path)


def test_mnist_idx_not_idx(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x01\x02\x03\x04hello")
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"")
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"")
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"")
    with pytest.raises(ValueError, match="idx"):
        load_mnist(tmp_path)


def test_mnist_idx_missing_file(tmp_path):
    xtr, ytr, _, _ = fake_mnist()
    write_idx(tmp_path / "train-images-idx3-ubyte", xtr, False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", ytr, False)
    with pytest.raises(ValueError, match="t10k"):
        load_mnist(tmp_path)


def test_mnist_idx_label_count_mismatch(tmp_path):
    xtr, ytr, xte, yte = fake_mnist()
    write_idx(tmp_path / "train-images-idx3-ubyte", xtr, False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", ytr[:-1], False)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", xte, False)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", yte, False)
    with pytest.raises(ValueError, match="one label per sample"):
        load_mnist(tmp_path)


def test_mnist_npz_missing_keys(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=np.zeros((2, 28, 28)), y_train=np.zeros(2, int))
    with pytest.raises(ValueError, match="x_test"):
        load_mnist(path)


def test_mnist_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_mnist(tmp_path / "nope.npz")


# ----------------------------------------------------------------------------- user arrays


def blobs(n=80, d=16, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    x = rng.normal(size=(n, d)) + y[:, None]
    return x, y


def test_user_npz_features(tmp_path):
    x, y = blobs()
    np.savez(tmp_path / "mine.npz", X=x, y=y)
    ds = load_arrays(tmp_path / "mine.npz")
    assert ds.X_train.shape == (60, 16) and ds.X_test.shape == (20, 16) and ds.X_train.dtype == torch.complex128
    torch.testing.assert_close(ds.X_test.abs().pow(2).sum(1), torch.ones(20, dtype=torch.float64))
    # rows are kept as they are, only normalised
    xs = np.sort(np.concatenate([ds.X_train.real.numpy(), ds.X_test.real.numpy()]), axis=0)
    np.testing.assert_allclose(xs, np.sort(x / np.linalg.norm(x, axis=1, keepdims=True), axis=0), atol=1e-15)
    assert load_dataset(str(tmp_path / "mine.npz")).X_train.shape == (60, 16)


def test_user_npz_images_go_through_fft16(tmp_path):
    rng = np.random.default_rng(0)
    imgs, y = rng.random((40, 8, 8)), np.arange(40) % 2
    np.savez(tmp_path / "imgs.npz", X=imgs, y=y)
    ds = load_arrays(tmp_path / "imgs.npz", test_size=0.5)
    assert ds.X_train.shape == (20, 16)
    feats = fft16_features(imgs)
    for row in ds.X_test.numpy():
        assert np.min(np.linalg.norm(feats - row, axis=1)) < 1e-12


def test_user_npy_pair(tmp_path):
    x, y = blobs(d=5)
    np.save(tmp_path / "feat.npy", x)
    np.save(tmp_path / "feat_y.npy", y.astype(float))  # float labels with integer values are fine
    ds = load_arrays(tmp_path / "feat.npy")
    assert ds.X_train.shape == (60, 5) and ds.y_train.dtype == torch.int64


def test_user_npy_missing_labels(tmp_path):
    np.save(tmp_path / "feat.npy", np.zeros((4, 3)))
    with pytest.raises(FileNotFoundError, match=r"feat_y\.npy"):
        load_arrays(tmp_path / "feat.npy")


def test_user_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_arrays(tmp_path / "absent.npz")


def test_user_nan(tmp_path):
    x, y = blobs()
    x[3, 2] = np.nan
    np.savez(tmp_path / "bad.npz", X=x, y=y)
    with pytest.raises(ValueError, match="NaN"):
        load_arrays(tmp_path / "bad.npz")


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (np.zeros(10), np.zeros(10, int), "one row per sample"),
        (np.zeros((10, 4)), np.zeros(9, int), "one label per sample"),
        (np.zeros((10, 4)), np.zeros((10, 2), int), "one label per sample"),
        (np.zeros((10, 4)), np.full(10, 1.5), "integers"),
        (np.zeros((10, 4)), np.array([0, 1] * 4 + [np.nan, 1]), "integers"),
        (np.zeros((10, 4)), np.array([0, -1] * 5), "≥ 0"),
    ],
)
def test_user_bad_shapes_and_labels(tmp_path, x, y, match):
    np.savez(tmp_path / "bad.npz", X=x, y=y)
    with pytest.raises(ValueError, match=match):
        load_arrays(tmp_path / "bad.npz")


def test_user_npz_wrong_keys(tmp_path):
    np.savez(tmp_path / "bad.npz", data=np.zeros((4, 4)))
    with pytest.raises(ValueError, match="'X' and 'y'"):
        load_arrays(tmp_path / "bad.npz")


def test_corrupt_npz(tmp_path):
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 definitely not a zip archive")
    with pytest.raises(ValueError, match=r"not a readable \.npz"):
        load_arrays(tmp_path / "broken.npz")
    (tmp_path / "mnist_broken.npz").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"not a readable \.npz"):
        load_mnist(tmp_path / "mnist_broken.npz")


def test_corrupt_npy(tmp_path):
    (tmp_path / "x.npy").write_bytes(b"garbage")
    np.save(tmp_path / "x_y.npy", np.zeros(3, int))
    with pytest.raises(ValueError, match=r"not a readable \.npy"):
        load_arrays(tmp_path / "x.npy")


def test_unsupported_suffix(tmp_path):
    (tmp_path / "data.csv").write_text("1,2,3\n")
    with pytest.raises(ValueError, match="unsupported"):
        load_arrays(tmp_path / "data.csv")
