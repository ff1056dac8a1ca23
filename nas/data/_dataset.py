"""The dataset value: fixed train / validation / test splits of labelled arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nas.errors import DataError

__all__ = ["SPLIT_SEED", "VAL_FRACTION", "Dataset", "Split", "train_val_split"]

#: Fraction of the training data held out as the validation split (stratified by class).
VAL_FRACTION = 0.1
#: Seed of the train/validation split. It is fixed, and independent of any training seed, so
#: every candidate of a search is selected on exactly the same validation samples.
SPLIT_SEED = 0


@dataclass(frozen=True, eq=False)
class Split:
    """One split of a dataset: inputs ``x`` and integer class labels ``y``.

    ``x`` is stored as read-only ``float32`` with shape ``(num_samples, *input_shape)`` and ``y``
    as read-only ``int64`` with shape ``(num_samples,)``; read-only because built-in datasets are
    cached per process and shared between callers.

    Example:
        >>> import numpy as np
        >>> s = Split(np.zeros((3, 1, 4)), np.array([0, 1, 0]))
        >>> len(s), s.x.dtype.name, s.y.dtype.name
        (3, 'float32', 'int64')
    """

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        x = np.asarray(self.x, dtype=np.float32)
        y = np.asarray(self.y)
        if y.ndim != 1 or x.ndim < 1 or x.shape[0] != y.shape[0]:
            raise DataError(
                f"Expected x of shape (n, ...) and y of shape (n,) (got x {x.shape}, y {y.shape}); "
                "pass one label per sample."
            )
        if y.size and not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"Expected integer class labels (got dtype {y.dtype}); cast y to int.")
        y = y.astype(np.int64, copy=False)
        # Views, so freezing them leaves the caller's own arrays writable.
        x, y = x.view(), y.view()
        x.flags.writeable = False
        y.flags.writeable = False
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def take(self, index: np.ndarray) -> Split:
        """The samples at ``index``, as a new split."""
        return Split(self.x[index], self.y[index])


@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification dataset with fixed ``train`` / ``val`` / ``test`` splits.

    ``val`` is carved from the original training data with a fixed seed (see
    :func:`train_val_split`) and is the only split used to select architectures or epochs.
    ``test`` is reported for reference and must never drive a choice.

    Attributes:
        name: registry name, e.g. ``"mnist1d"``.
        input_shape: shape of one sample, batch excluded, e.g. ``(1, 40)``.
        num_classes: labels are in ``[0, num_classes - 1]``.
        train: training split (validation samples removed).
        val: validation split.
        test: test split.

    Example:
        >>> import numpy as np
        >>> tr, va = train_val_split(np.zeros((20, 1, 4)), np.arange(20) % 2)
        >>> ds = Dataset("toy", (1, 4), 2, tr, va, va)
        >>> len(ds.train), len(ds.val)
        (18, 2)
    """

    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    train: Split
    val: Split
    test: Split

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        if int(self.num_classes) < 2:
            raise DataError(
                f"Dataset {self.name!r} needs num_classes >= 2 (got {self.num_classes})."
            )
        for split_name in ("train", "val", "test"):
            split = getattr(self, split_name)
            if not isinstance(split, Split):
                raise DataError(
                    f"Dataset {self.name!r}: {split_name} must be a nas.data.Split "
                    f"(got {type(split).__name__}); wrap arrays as Split(x, y)."
                )
            if tuple(split.x.shape[1:]) != self.input_shape:
                raise DataError(
                    f"Dataset {self.name!r}: {split_name} samples have shape "
                    f"{tuple(split.x.shape[1:])}, expected input_shape {self.input_shape}."
                )
            if len(split) and (split.y.min() < 0 or split.y.max() >= self.num_classes):
                raise DataError(
                    f"Dataset {self.name!r}: {split_name} labels span "
                    f"[{split.y.min()}, {split.y.max()}], expected [0, {self.num_classes - 1}]."
                )

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, input_shape={self.input_shape}, "
            f"num_classes={self.num_classes}, train={len(self.train)}, val={len(self.val)}, "
            f"test={len(self.test)})"
        )


def train_val_split(
    x: np.ndarray,
    y: np.ndarray,
    *,
    val_fraction: float = VAL_FRACTION,
    seed: int = SPLIT_SEED,
) -> tuple[Split, Split]:
    """Split training data into train and validation parts, stratified by class.

    The split depends only on ``y``, ``val_fraction`` and ``seed``, so it is the same in every
    process and every call. Each class contributes ``round(val_fraction * count)`` samples.

    Args:
        x: inputs, ``(num_samples, *input_shape)``.
        y: integer labels, ``(num_samples,)``.
        val_fraction: fraction held out for validation, in ``(0, 1)``.
        seed: seed of the permutation; the default :data:`SPLIT_SEED` is what built-ins use.

    Returns:
        ``(train, val)`` splits, each keeping the original sample order.

    Example:
        >>> import numpy as np
        >>> tr, va = train_val_split(np.zeros((100, 3)), np.arange(100) % 4, val_fraction=0.2)
        >>> len(tr), len(va)
        (80, 20)
    """
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"Expected val_fraction in (0, 1) (got {val_fraction}).")
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    is_val = np.zeros(y.shape[0], dtype=bool)
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        count = round(val_fraction * members.size)
        is_val[rng.permutation(members)[:count]] = True
    return Split(x[~is_val], y[~is_val]), Split(x[is_val], y[is_val])
