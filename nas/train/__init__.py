"""Training: one function that trains a candidate with a recipe and reports every epoch.

:func:`train` takes a model (or a factory), a :class:`~nas.data.Dataset`, a :class:`Recipe`
(or a flat mapping of its keys) and a seed, and returns a :class:`TrainResult`. CPU and CUDA
share one code path (mixed precision only on CUDA). Accuracies are percentages everywhere.
With ``checkpoint_dir`` the best epoch's weights are kept on disk (:func:`save_checkpoint`'s
format, read back with :func:`load_checkpoint`).

Example:
    >>> from torch import nn
    >>> from nas.data import get_dataset
    >>> from nas.train import train
    >>> ds = get_dataset("synthetic", num_classes=3, length=16)
    >>> result = train(lambda: nn.Sequential(nn.Flatten(), nn.Linear(16, 3)), ds,
    ...                {"epochs": 1}, seed=0, device="cpu")
    >>> result.status
    'ok'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nas._lazy import lazy_attributes
from nas.train._checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointKeeper,
    cpu_state,
    delete_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from nas.train._recipe import Recipe, RecipeError
from nas.train._result import EpochMetrics, Status, TrainResult, best_of

if TYPE_CHECKING:
    from nas.train._device import resolve_device
    from nas.train._latency import measure_latency
    from nas.train._trainer import cosine_lr, train

# The names that need torch load on first use: reading a recipe (e.g. to estimate a trial's
# cost in a search driver) must not pay for importing torch.
_NEEDS_TORCH = {
    "resolve_device": "nas.train._device",
    "measure_latency": "nas.train._latency",
    "cosine_lr": "nas.train._trainer",
    "train": "nas.train._trainer",
}

__getattr__: Callable[[str], Any] = lazy_attributes(__name__, _NEEDS_TORCH)


__all__ = [
    "Checkpoint",
    "CheckpointError",
    "CheckpointKeeper",
    "EpochMetrics",
    "Recipe",
    "RecipeError",
    "Status",
    "TrainResult",
    "best_of",
    "cosine_lr",
    "cpu_state",
    "delete_checkpoint",
    "load_checkpoint",
    "measure_latency",
    "resolve_device",
    "save_checkpoint",
    "train",
]
