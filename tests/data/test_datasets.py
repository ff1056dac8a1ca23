from __future__ import annotations

import pickle

import numpy as np
import pytest

import nas.data._builtin as builtin
from nas.data import (
    SPLIT_SEED,
    VAL_FRACTION,
    Dataset,
    Split,
    get_dataset,
    list_datasets,
    make_loader,
    register_dataset,
    train_val_split,
)
from nas.data._registry import _DATASETS
from nas.errors import DataError, RegistryError


def _row_set(x: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in x}


def test_builtins_are_registered() -> None:
    assert {"mnist1d", "digits", "cifar10", "cifar100", "synthetic"} <= set(list_datasets())


@pytest.mark.slow
def test_mnist1d_shapes_and_fixed_disjoint_splits() -> None:
    ds = get_dataset("mnist1d")
    assert (ds.name, ds.input_shape, ds.num_classes) == ("mnist1d", (1, 40), 10)
    assert len(ds.train) + len(ds.val) == 4000 and len(ds.test) == 1000
    assert abs(len(ds.val) - VAL_FRACTION * 4000) <= 10  # per-class rounding
    assert ds.train.x.shape[1:] == (1, 40) and ds.train.x.dtype == np.float32
    assert set(np.unique(ds.val.y)) == set(range(10))
    train_rows, val_rows, test_rows = _row_set(ds.train.x), _row_set(ds.val.x), _row_set(ds.test.x)
    assert not train_rows & val_rows and not train_rows & test_rows and not val_rows & test_rows
    again = get_dataset("mnist1d")
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(ds, name).x, getattr(again, name).x)
        np.testing.assert_array_equal(getattr(ds, name).y, getattr(again, name).y)


def test_split_arrays_are_read_only() -> None:
    ds = get_dataset("mnist1d")
    with pytest.raises(ValueError):
        ds.train.x[0, 0, 0] = 1.0
    source = np.zeros((4, 2), dtype=np.float32)
    Split(source, np.zeros(4, dtype=int))
    source[0, 0] = 1.0  # the caller's own array stays writable


@pytest.mark.slow
def test_mnist1d_disk_cache_round_trip_keeps_global_random_state(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(builtin, "_MNIST1D_CACHE", {})
    np.random.seed(123)
    generated = builtin.load_mnist1d(cache_dir=tmp_path)
    drawn_after = np.random.rand()
    np.random.seed(123)
    assert drawn_after == np.random.rand()  # mnist1d's global seeding was undone
    assert list(tmp_path.glob("mnist1d_*.npz"))
    monkeypatch.setattr(builtin, "_MNIST1D_CACHE", {})
    from_disk = builtin.load_mnist1d(cache_dir=tmp_path)
    np.testing.assert_array_equal(generated.train.x, from_disk.train.x)
    np.testing.assert_array_equal(generated.test.y, from_disk.test.y)


def test_digits_shape_range_and_sizes() -> None:
    ds = get_dataset("digits")
    assert (ds.input_shape, ds.num_classes) == ((1, 8, 8), 10)
    assert len(ds.train) + len(ds.val) + len(ds.test) == 1797
    for split in (ds.train, ds.val, ds.test):
        assert split.x.min() >= 0.0 and split.x.max() <= 1.0
    assert ds.train.x.max() == 1.0


def test_synthetic_is_deterministic_and_configurable() -> None:
    a = get_dataset("synthetic", num_classes=5, channels=2, length=12, num_train=200, num_test=50)
    b = get_dataset("synthetic", num_classes=5, channels=2, length=12, num_train=200, num_test=50)
    c = get_dataset("synthetic", num_classes=5, channels=2, length=12, num_train=200, seed=1)
    assert (a.input_shape, a.num_classes) == ((2, 12), 5)
    assert (len(a.train), len(a.val), len(a.test)) == (180, 20, 50)
    np.testing.assert_array_equal(a.train.x, b.train.x)
    assert not np.array_equal(a.train.x[:10], c.train.x[:10])


def test_train_val_split_partitions_stratified_and_fixed() -> None:
    x = np.arange(200, dtype=np.float32)[:, None]  # each row is its own index
    y = np.repeat(np.arange(4), 50)
    train, val = train_val_split(x, y, val_fraction=0.2)
    assert len(val) == 40 and np.bincount(val.y).tolist() == [10, 10, 10, 10]
    indices = np.concatenate([train.x[:, 0], val.x[:, 0]])
    assert sorted(indices.tolist()) == list(range(200))  # disjoint and complete
    _, again_val = train_val_split(x, y, val_fraction=0.2, seed=SPLIT_SEED)
    np.testing.assert_array_equal(val.x, again_val.x)
    with pytest.raises(DataError, match="val_fraction"):
        train_val_split(x, y, val_fraction=1.5)


def test_dataset_rejects_inconsistent_splits() -> None:
    good = Split(np.zeros((4, 1, 3)), np.array([0, 1, 0, 1]))
    with pytest.raises(DataError, match="expected input_shape"):
        Dataset("bad", (1, 4), 2, good, good, good)
    with pytest.raises(DataError, match=r"labels span \[0, 3\]"):
        Dataset("bad", (1, 3), 2, good, good, Split(np.zeros((2, 1, 3)), np.array([0, 3])))
    with pytest.raises(DataError, match="one label per sample"):
        Split(np.zeros((4, 3)), np.zeros(5, dtype=int))


# --- registry -------------------------------------------------------------------------------


@pytest.fixture
def toy_name():
    name = "test_toy_dataset"
    yield name
    _DATASETS.unregister(name)


def _toy(n: int = 10) -> Dataset:
    split = Split(np.zeros((n, 3)), np.arange(n) % 2)
    return Dataset("toy", (3,), 2, split, split, split)


def test_register_custom_dataset_like_a_builtin(toy_name: str) -> None:
    register_dataset(toy_name, _toy)
    assert toy_name in list_datasets()
    assert len(get_dataset(toy_name, n=6).train) == 6
    with pytest.raises(RegistryError, match="already registered"):
        register_dataset(toy_name, _toy)
    register_dataset(toy_name, lambda: _toy(3), replace=True)
    assert len(get_dataset(toy_name).train) == 3


def test_register_as_decorator(toy_name: str) -> None:
    @register_dataset(toy_name)
    def loader() -> Dataset:
        return _toy(4)

    assert len(get_dataset(toy_name).val) == 4


def test_unknown_name_and_bad_arguments_are_clear(toy_name: str) -> None:
    with pytest.raises(RegistryError, match="did you mean 'mnist1d'"):
        get_dataset("mnist_1d")
    with pytest.raises(DataError, match=r"does not accept \['size'\].*num_samples, seed"):
        get_dataset("mnist1d", size=3)
    register_dataset(toy_name, lambda: "not a dataset")
    with pytest.raises(DataError, match="returned str"):
        get_dataset(toy_name)


# --- CIFAR from real files in the official pickle format ------------------------------------

_PIXELS = (255, 0, 128)  # R, G, B value of every pixel in the fake images


def _write_batch(path, n: int, label_keys: dict[bytes, list[int]]) -> None:
    data = np.zeros((n, 3072), dtype=np.uint8)
    for channel, value in enumerate(_PIXELS):  # rows are channel-major: 1024 R, then G, then B
        data[:, channel * 1024 : (channel + 1) * 1024] = value
    batch = {b"batch_label": b"fake", b"data": data, b"filenames": [b"x.png"] * n, **label_keys}
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)


def _fake_cifar10(root, per_batch: int = 20, test: int = 10):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i in range(1, 6):
        _write_batch(
            folder / f"data_batch_{i}", per_batch, {b"labels": [j % 10 for j in range(per_batch)]}
        )
    _write_batch(folder / "test_batch", test, {b"labels": [j % 10 for j in range(test)]})
    return folder


def test_cifar10_missing_directory_names_path_and_files(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("NAS_DATA_DIR", raising=False)
    with pytest.raises(
        DataError, match=r"NAS_DATA_DIR.*cifar-10-batches-py.*data_batch_1.*test_batch"
    ):
        get_dataset("cifar10")
    with pytest.raises(DataError) as info:
        get_dataset("cifar10", data_dir=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "cifar-10-batches-py") in message
    assert "data_batch_5" in message and "test_batch" in message and "\n" not in message


def test_cifar10_loads_fake_batches_with_shapes_and_normalization(tmp_path, monkeypatch) -> None:
    _fake_cifar10(tmp_path)
    monkeypatch.setenv("NAS_DATA_DIR", str(tmp_path))
    ds = get_dataset("cifar10")
    assert (ds.input_shape, ds.num_classes) == ((3, 32, 32), 10)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (90, 10, 10)
    assert ds.train.x.shape == (90, 3, 32, 32) and ds.test.y.tolist() == list(range(10))
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    for channel, value in enumerate(_PIXELS):
        expected = (value / 255.0 - mean[channel]) / std[channel]
        np.testing.assert_allclose(ds.test.x[:, channel], expected, rtol=1e-5)


def test_cifar100_fine_and_coarse_labels(tmp_path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    labels = {
        b"fine_labels": [j % 100 for j in range(200)],
        b"coarse_labels": [j % 20 for j in range(200)],
    }
    _write_batch(folder / "train", 200, labels)
    _write_batch(folder / "test", 50, {k: v[:50] for k, v in labels.items()})
    fine = get_dataset("cifar100", data_dir=folder)  # the folder itself works too
    coarse = get_dataset("cifar100", data_dir=tmp_path, label_mode="coarse")
    assert (fine.num_classes, coarse.num_classes) == (100, 20)
    assert len(fine.train) + len(fine.val) == 200 and len(fine.test) == 50
    assert coarse.test.y.max() == 19


def test_cifar_refuses_pickles_that_run_code(tmp_path) -> None:
    folder = _fake_cifar10(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": [0]}, f)
    with pytest.raises(DataError, match=r"Cannot read CIFAR batch .*test_batch.*refusing"):
        get_dataset("cifar10", data_dir=tmp_path)


# --- loaders --------------------------------------------------------------------------------


def test_make_loader_order_depends_only_on_seed() -> None:
    split = Split(np.arange(50, dtype=np.float32)[:, None], np.zeros(50, dtype=int))

    def order(seed: int) -> list[float]:
        loader = make_loader(split, 8, shuffle=True, seed=seed)
        return [v for x, _ in loader for v in x[:, 0].tolist()]

    assert order(3) == order(3)
    assert order(3) != order(4)
    assert sorted(order(3)) == list(range(50))
