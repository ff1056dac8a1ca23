"""Small built-in datasets that need no files: mnist1d, scikit-learn digits, synthetic."""

from __future__ import annotations

import os
import random
import threading
from pathlib import Path

import numpy as np

from nas.data._dataset import SPLIT_SEED, VAL_FRACTION, Dataset, Split, train_val_split
from nas.errors import DataError

__all__ = ["load_digits", "load_mnist1d", "load_synthetic"]

# Generating mnist1d takes seconds; keep the arrays for the life of the process, keyed by the
# generation arguments, so repeated trials in one process pay it once.
_MNIST1D_CACHE: dict[tuple[int, int], dict[str, np.ndarray]] = {}
_MNIST1D_LOCK = threading.Lock()


def _mnist1d_arrays(num_samples: int, seed: int, cache_dir: Path | None) -> dict[str, np.ndarray]:
    key = (num_samples, seed)
    with _MNIST1D_LOCK:
        if key in _MNIST1D_CACHE:
            return _MNIST1D_CACHE[key]
        file = None if cache_dir is None else cache_dir / f"mnist1d_n{num_samples}_s{seed}.npz"
        if file is not None and file.is_file():
            with np.load(file) as npz:
                arrays = {k: npz[k] for k in ("x", "y", "x_test", "y_test")}
        else:
            # Imported here: generation is the only use, and the import is not free.
            from mnist1d.data import get_dataset_args, make_dataset

            args = get_dataset_args()
            args.num_samples = num_samples
            args.seed = seed
            # mnist1d seeds Python's and numpy's global generators; restore the caller's state.
            py_state, np_state = random.getstate(), np.random.get_state()
            try:
                raw = make_dataset(args)  # offline and deterministic; never mnist1d's get_dataset
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)
            arrays = {k: np.asarray(raw[k]) for k in ("x", "y", "x_test", "y_test")}
            if file is not None:
                file.parent.mkdir(parents=True, exist_ok=True)
                tmp = file.with_name(f".{file.stem}.{os.getpid()}.tmp.npz")
                np.savez(tmp, **arrays)
                os.replace(tmp, file)  # atomic, so a concurrent reader never sees half a file
        _MNIST1D_CACHE[key] = arrays
        return arrays


def load_mnist1d(
    *,
    num_samples: int = 5000,
    seed: int = 42,
    val_fraction: float = VAL_FRACTION,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Dataset:
    """MNIST-1D (Greydanus, 2020): 1-D signals of length 40, 10 classes, generated offline.

    With the defaults this is the reference dataset: 4,000 training samples (3,601 train + 399
    validation: 10% per class, rounded) and 1,000 test samples, each of shape ``(1, 40)``.

    Args:
        num_samples: total samples generated (80% become train + validation, 20% test).
        seed: generation seed (42 is the reference dataset).
        val_fraction: fraction of the training samples held out for validation.
        cache_dir: optional directory for an ``.npz`` copy of the generated arrays (default: the
            ``NAS_CACHE_DIR`` environment variable, else only an in-process cache).

    Example:
        >>> ds = load_mnist1d()
        >>> ds.input_shape, len(ds.train), len(ds.val), len(ds.test)
        ((1, 40), 3601, 399, 1000)
    """
    if cache_dir is None and os.environ.get("NAS_CACHE_DIR"):
        cache_dir = os.environ["NAS_CACHE_DIR"]
    arrays = _mnist1d_arrays(
        int(num_samples), int(seed), None if cache_dir is None else Path(cache_dir)
    )
    # (num_samples, length) -> (num_samples, channels=1, length)
    x, x_test = arrays["x"][:, None, :], arrays["x_test"][:, None, :]
    train, val = train_val_split(x, arrays["y"], val_fraction=val_fraction, seed=SPLIT_SEED)
    return Dataset("mnist1d", (1, 40), 10, train, val, Split(x_test, arrays["y_test"]))


def load_digits(*, val_fraction: float = VAL_FRACTION, test_fraction: float = 0.2) -> Dataset:
    """scikit-learn's handwritten digits: 1,797 images of shape ``(1, 8, 8)`` in [0, 1].

    The data ships inside scikit-learn, so nothing is downloaded. It has no official test
    split; ``test_fraction`` of it is held out (stratified, fixed seed), then ``val_fraction`` of
    the rest.

    Example:
        >>> ds = load_digits()
        >>> ds.input_shape, ds.num_classes, len(ds.test)
        ((1, 8, 8), 10, 359)
    """
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    # (n, 64) pixel counts in [0, 16] -> (n, channels=1, height=8, width=8) in [0, 1]
    x = (bunch.data / 16.0).reshape(-1, 1, 8, 8)
    rest, test = train_val_split(x, bunch.target, val_fraction=test_fraction, seed=SPLIT_SEED + 1)
    train, val = train_val_split(rest.x, rest.y, val_fraction=val_fraction, seed=SPLIT_SEED)
    return Dataset("digits", (1, 8, 8), 10, train, val, test)


def load_synthetic(
    *,
    num_classes: int = 4,
    channels: int = 1,
    length: int = 32,
    num_train: int = 1000,
    num_test: int = 250,
    noise: float = 1.0,
    seed: int = 0,
    val_fraction: float = VAL_FRACTION,
) -> Dataset:
    """A small, deterministic, learnable dataset of noisy 1-D patterns, for tests and demos.

    Each class has a smooth random template of shape ``(channels, length)``; a sample is its
    class template times a random gain in [0.7, 1.3] plus Gaussian noise of std ``noise``. The
    classes are linearly separable in expectation, so a small MLP or CNN gets well above chance
    within an epoch or two; raising ``noise`` makes it harder.

    Example:
        >>> ds = load_synthetic(num_classes=3, channels=2, length=8, num_train=60, num_test=30)
        >>> ds.input_shape, len(ds.train) + len(ds.val), len(ds.test)
        ((2, 8), 60, 30)
    """
    if num_classes < 2 or channels < 1 or length < 1 or num_train < num_classes or num_test < 1:
        raise DataError(
            "Expected num_classes >= 2, channels >= 1, length >= 1, num_train >= num_classes and "
            f"num_test >= 1 (got {num_classes}, {channels}, {length}, {num_train}, {num_test})."
        )
    rng = np.random.default_rng(seed)
    # Smooth templates: random walks along the signal, standardized to unit variance per class.
    templates = np.cumsum(rng.standard_normal((num_classes, channels, length)), axis=-1)
    templates -= templates.mean(axis=(1, 2), keepdims=True)
    templates /= templates.std(axis=(1, 2), keepdims=True) + 1e-8

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % num_classes  # balanced classes
        y = rng.permutation(y)
        gain = rng.uniform(0.7, 1.3, size=(n, 1, 1))
        x = templates[y] * gain + noise * rng.standard_normal((n, channels, length))
        return x, y  # (n, channels, length), (n,)

    x, y = draw(num_train)
    x_test, y_test = draw(num_test)
    train, val = train_val_split(x, y, val_fraction=val_fraction, seed=SPLIT_SEED)
    return Dataset("synthetic", (channels, length), num_classes, train, val, Split(x_test, y_test))
