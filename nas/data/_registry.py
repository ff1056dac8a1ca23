"""The dataset registry: names to loader functions that return a :class:`Dataset`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from nas._registry import Registry
from nas.data._dataset import Dataset
from nas.errors import DataError

__all__ = ["DatasetLoader", "get_dataset", "list_datasets", "register_dataset"]

DatasetLoader = Callable[..., Dataset]

_DATASETS: Registry[DatasetLoader] = Registry("dataset")


def register_dataset(
    name: str, loader: DatasetLoader | None = None, *, replace: bool = False
) -> Any:
    """Register a dataset loader under ``name``; usable directly or as a decorator.

    A loader is any callable whose keyword arguments configure the dataset and which returns a
    :class:`~nas.data.Dataset`. Built-in datasets are registered exactly this way.

    Args:
        name: the name :func:`get_dataset` will accept.
        loader: the loader; omit it to use ``register_dataset(name)`` as a decorator.
        replace: allow overwriting an existing name (otherwise a duplicate raises).

    Returns:
        The loader (or a decorator that registers and returns it).

    Example:
        >>> import numpy as np
        >>> from nas.data import Dataset, Split, register_dataset, get_dataset
        >>> @register_dataset("doc_toy", replace=True)
        ... def toy(n: int = 10) -> Dataset:
        ...     s = Split(np.zeros((n, 2)), np.arange(n) % 2)
        ...     return Dataset("doc_toy", (2,), 2, s, s, s)
        >>> len(get_dataset("doc_toy", n=4).train)
        4
    """
    if loader is None:
        return _DATASETS.decorator(name, replace=replace)
    return _DATASETS.register(name, loader, replace=replace)


def get_dataset(name: str, **kwargs: Any) -> Dataset:
    """Load the dataset registered as ``name``, passing ``kwargs`` to its loader.

    Raises:
        RegistryError: ``name`` is unknown (the message suggests close names).
        DataError: the loader does not accept ``kwargs``, fails to find its files, or does not
            return a :class:`Dataset`.

    Example:
        >>> ds = get_dataset("synthetic", num_classes=3, length=16)
        >>> ds.input_shape, ds.num_classes
        ((1, 16), 3)
    """
    loader = _DATASETS.get(name)
    try:
        signature = inspect.signature(loader)
    except (TypeError, ValueError):  # some builtins have no signature; let the call decide
        signature = None
    if signature is not None:
        try:
            signature.bind(**kwargs)
        except TypeError as err:
            allowed = ", ".join(
                p.name
                for p in signature.parameters.values()
                if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
            )
            raise DataError(
                f"Dataset {name!r} does not accept {sorted(kwargs)} ({err}); "
                f"its arguments are: {allowed or 'none'}."
            ) from None
    dataset = loader(**kwargs)
    if not isinstance(dataset, Dataset):
        raise DataError(
            f"The loader of dataset {name!r} returned {type(dataset).__name__}, "
            "expected a nas.data.Dataset."
        )
    return dataset


def list_datasets() -> list[str]:
    """Names of all registered datasets, sorted.

    Example:
        >>> "mnist1d" in list_datasets()
        True
    """
    return _DATASETS.names()
