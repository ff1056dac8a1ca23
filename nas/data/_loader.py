"""A seeded ``torch.utils.data.DataLoader`` over a split, for data too large to hold on a device."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from nas.data._dataset import Split

if TYPE_CHECKING:
    from torch.utils.data import DataLoader

__all__ = ["make_loader"]


def _seed_worker(worker_id: int) -> None:
    # torch seeds each worker from the loader's generator; derive numpy's from it so that
    # augmentations written with numpy are reproducible too.
    import torch

    del worker_id
    np.random.seed(torch.initial_seed() % 2**32)


def make_loader(
    split: Split,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    num_workers: int = 0,
    drop_last: bool = False,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader over ``split`` whose order depends only on ``seed``.

    The trainer itself iterates index batches over tensors held on the device, which is
    faster for small datasets; use this for custom loops or data that does not fit there.

    Example:
        >>> import numpy as np
        >>> from nas.data import Split
        >>> loader = make_loader(Split(np.zeros((10, 3)), np.zeros(10, int)), 4, shuffle=True, seed=0)
        >>> [tuple(x.shape) for x, _ in loader]
        [(4, 3), (4, 3), (2, 3)]
    """
    # Imported here so that ``import nas.data`` stays free of torch.
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    # torch.from_numpy would warn on the read-only arrays; the loader only reads, so copy once.
    tensors = TensorDataset(torch.tensor(split.x), torch.tensor(split.y))
    return DataLoader(
        tensors,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=num_workers,
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(seed),
        worker_init_fn=_seed_worker if num_workers > 0 else None,
    )
