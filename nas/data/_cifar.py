"""CIFAR-10 / CIFAR-100 read from local python-pickle batches; never downloaded."""

from __future__ import annotations

import functools
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from nas.data._dataset import SPLIT_SEED, VAL_FRACTION, Dataset, Split, train_val_split
from nas.errors import DataError

__all__ = ["load_cifar10", "load_cifar100"]

_SOURCE = "https://www.cs.toronto.edu/~kriz/cifar.html"

# Per-variant: the folder the official archive unpacks to, its train and test files, the
# label key, and the usual per-channel mean / std of the training images (RGB, in [0, 1]).
_VARIANTS: dict[str, dict[str, Any]] = {
    "cifar10": {
        "title": "CIFAR-10",
        "folder": "cifar-10-batches-py",
        "archive": "cifar-10-python.tar.gz",
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
        "mean": (0.4914, 0.4822, 0.4465),
        "std": (0.2470, 0.2435, 0.2616),
    },
    "cifar100": {
        "title": "CIFAR-100",
        "folder": "cifar-100-python",
        "archive": "cifar-100-python.tar.gz",
        "train": ["train"],
        "test": ["test"],
        "mean": (0.5071, 0.4865, 0.4409),
        "std": (0.2673, 0.2564, 0.2762),
    },
}

# The batches are pickles, which can run code on load; allow only what a numpy array needs.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),  # how Python 3 pickles bytes at protocol 2
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _find_dir(variant: str, data_dir: str | os.PathLike[str] | None) -> Path:
    spec = _VARIANTS[variant]
    needed = spec["train"] + spec["test"]
    files = ", ".join(needed)
    if data_dir is None:
        data_dir = os.environ.get("NAS_DATA_DIR")
    if data_dir is None:
        raise DataError(
            f"{spec['title']} is read from local files and never downloaded: set NAS_DATA_DIR "
            f"(or pass data_dir=...) to a directory holding {spec['folder']}/ with {files} "
            f"(unpack {spec['archive']} from {_SOURCE})."
        )
    root = Path(data_dir).expanduser()
    for candidate in (root / spec["folder"], root):
        if all((candidate / f).is_file() for f in needed):
            return candidate
    where = root / spec["folder"]
    missing = [f for f in needed if not (where / f).is_file()]
    raise DataError(
        f"{spec['title']} files not found: expected {files} in {where} (or directly in {root}); "
        f"missing in {where}: {', '.join(missing)}. Unpack {spec['archive']} from {_SOURCE} "
        f"into {root}."
    )


def _read_batches(
    folder: Path, names: list[str], label_key: bytes
) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for name in names:
        path = folder / name
        try:
            with path.open("rb") as f:
                # encoding="bytes": the official batches were pickled by Python 2.
                batch = _BatchUnpickler(f, encoding="bytes").load()
            data = np.asarray(batch[b"data"], dtype=np.uint8)
            labels = np.asarray(batch[label_key], dtype=np.int64)
        except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as e:
            raise DataError(
                f"Cannot read CIFAR batch {path}: {type(e).__name__}: {e}. Expected a "
                f"python-pickle dict with b'data' (n, 3072) uint8 and {label_key!r}; "
                f"re-extract the official archive from {_SOURCE}."
            ) from None
        if data.ndim != 2 or data.shape[1] != 3072 or data.shape[0] != labels.shape[0]:
            raise DataError(
                f"CIFAR batch {path} has data {data.shape} and {labels.shape[0]} labels; "
                "expected (n, 3072) with one label per row."
            )
        xs.append(data)
        ys.append(labels)
    return np.concatenate(xs), np.concatenate(ys)


def _normalize(data: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    # (n, 3072) uint8, channel-major rows -> (n, channels=3, height=32, width=32) float32
    x = data.reshape(-1, 3, 32, 32).astype(np.float32)
    x /= 255.0
    x -= np.asarray(mean, dtype=np.float32)[:, None, None]
    x /= np.asarray(std, dtype=np.float32)[:, None, None]
    return x


@functools.lru_cache(maxsize=1)
def _load(variant: str, folder: Path, label_mode: str, val_fraction: float) -> Dataset:
    spec = _VARIANTS[variant]
    label_key = b"labels" if variant == "cifar10" else f"{label_mode}_labels".encode()
    num_classes = 10 if variant == "cifar10" else (100 if label_mode == "fine" else 20)
    x, y = _read_batches(folder, spec["train"], label_key)
    x_test, y_test = _read_batches(folder, spec["test"], label_key)
    train, val = train_val_split(
        _normalize(x, spec["mean"], spec["std"]), y, val_fraction=val_fraction, seed=SPLIT_SEED
    )
    test = Split(_normalize(x_test, spec["mean"], spec["std"]), y_test)
    return Dataset(variant, (3, 32, 32), num_classes, train, val, test)


def load_cifar10(
    *, data_dir: str | os.PathLike[str] | None = None, val_fraction: float = VAL_FRACTION
) -> Dataset:
    """CIFAR-10 from the official python-pickle batches in a local directory.

    Looks in ``data_dir`` (default: the ``NAS_DATA_DIR`` environment variable) for
    ``cifar-10-batches-py/`` holding ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``
    (or for those files directly). Images become ``(3, 32, 32)`` float32, normalized with the
    usual per-channel mean and std. ``val_fraction`` of the 50,000 training images (stratified,
    fixed seed) form the validation split; the 10,000 test images are the test split.

    Raises:
        DataError: the directory or a file is missing or malformed; the message says where to
            put which files.

    Example:
        >>> ds = load_cifar10(data_dir="/data")  # doctest: +SKIP
        >>> ds.input_shape, len(ds.train), len(ds.val)  # doctest: +SKIP
        ((3, 32, 32), 45000, 5000)
    """
    return _load("cifar10", _find_dir("cifar10", data_dir), "fine", float(val_fraction))


def load_cifar100(
    *,
    data_dir: str | os.PathLike[str] | None = None,
    label_mode: str = "fine",
    val_fraction: float = VAL_FRACTION,
) -> Dataset:
    """CIFAR-100 from the official python-pickle files ``train`` and ``test``.

    Looks in ``data_dir`` (default: ``NAS_DATA_DIR``) for ``cifar-100-python/`` (or the files
    directly). ``label_mode="fine"`` gives 100 classes, ``"coarse"`` the 20 superclasses.

    Example:
        >>> ds = load_cifar100(data_dir="/data")  # doctest: +SKIP
        >>> ds.num_classes  # doctest: +SKIP
        100
    """
    if label_mode not in ("fine", "coarse"):
        raise DataError(
            f"Expected label_mode 'fine' or 'coarse' for cifar100 (got {label_mode!r})."
        )
    return _load("cifar100", _find_dir("cifar100", data_dir), label_mode, float(val_fraction))
