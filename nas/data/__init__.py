"""Datasets: a registry of loaders returning fixed train / validation / test splits.

Every dataset is a :class:`Dataset` with ``name``, ``input_shape`` (one sample, batch
excluded), ``num_classes`` and three :class:`Split` s of numpy arrays. The validation split is
carved from the training data (:data:`VAL_FRACTION` = 10%, stratified, fixed seed
:data:`SPLIT_SEED`) and is the only split used for selection; the test split is reported, never
used to choose an architecture, recipe or epoch.

Built-ins are registered below exactly as a user's dataset would be:

- ``mnist1d``: MNIST-1D generated offline, ``(1, 40)``, 10 classes;
- ``digits``: scikit-learn's 8x8 digits, ``(1, 8, 8)`` in [0, 1], 10 classes;
- ``cifar10`` / ``cifar100``: local python-pickle batches (``data_dir`` or ``NAS_DATA_DIR``),
  ``(3, 32, 32)``, normalized; never downloaded;
- ``synthetic``: small noisy 1-D patterns, configurable, for tests.

Example:
    >>> from nas.data import get_dataset
    >>> ds = get_dataset("synthetic", num_classes=3)
    >>> ds.input_shape, ds.num_classes
    ((1, 32), 3)
"""

from __future__ import annotations

from nas.data._builtin import load_digits, load_mnist1d, load_synthetic
from nas.data._cifar import load_cifar10, load_cifar100
from nas.data._dataset import SPLIT_SEED, VAL_FRACTION, Dataset, Split, train_val_split
from nas.data._loader import make_loader
from nas.data._registry import DatasetLoader, get_dataset, list_datasets, register_dataset

__all__ = [
    "SPLIT_SEED",
    "VAL_FRACTION",
    "Dataset",
    "DatasetLoader",
    "Split",
    "get_dataset",
    "list_datasets",
    "make_loader",
    "register_dataset",
    "train_val_split",
]

register_dataset("mnist1d", load_mnist1d)
register_dataset("digits", load_digits)
register_dataset("cifar10", load_cifar10)
register_dataset("cifar100", load_cifar100)
register_dataset("synthetic", load_synthetic)
