"""What training reports: one :class:`EpochMetrics` per epoch and a final :class:`TrainResult`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from nas.errors import TrainingError

__all__ = ["EpochMetrics", "Status", "TrainResult", "best_of"]

#: ``ok``: all epochs ran; ``diverged``: a non-finite loss; ``timeout``: ``time_limit_s`` hit;
#: ``stopped``: ``should_stop`` asked to stop (e.g. an ASHA decision); ``failed``: an exception
#: in the model or the training step (the text is in ``error``).
Status = Literal["ok", "diverged", "timeout", "stopped", "failed"]

CURVES = (
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "test_accuracy",
    "epoch_seconds",
    "lr",
)


@dataclass(frozen=True)
class EpochMetrics:
    """Metrics after one epoch; accuracies in percent.

    Attributes:
        epoch: 1-based epoch number.
        train_loss: mean training loss over the epoch's steps (with augmentation, train mode).
        train_accuracy: accuracy on the training batches as they were trained on.
        val_loss: mean loss on the validation split (eval mode, no augmentation).
        val_accuracy: accuracy on the validation split, the one to select on.
        test_accuracy: accuracy on the test split, for reference only.
        epoch_seconds: wall time of the epoch, evaluation included.
        lr: learning rate of the epoch's last step.
    """

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    test_accuracy: float
    epoch_seconds: float
    lr: float

    def to_dict(self) -> dict[str, float]:
        """A flat dict, e.g. for ``ray.tune.report``."""
        return dataclasses.asdict(self)


def best_of(history: Sequence[EpochMetrics]) -> EpochMetrics | None:
    """The best epoch: highest validation accuracy, the first of equals (None if no epoch).

    The one selection rule of training: the epoch whose weights are kept and whose metrics a
    trial reports. A NaN accuracy (an empty validation split) never beats an earlier epoch.

    Example:
        >>> def m(e, v): return EpochMetrics(e, 0.0, 0.0, 0.0, v, 0.0, 0.0, 0.0)
        >>> best_of([m(1, 50.0), m(2, 70.0), m(3, 70.0)]).epoch
        2
    """
    best = None
    for metrics in history:
        if best is None or metrics.val_accuracy > best.val_accuracy:
            best = metrics
    return best


@dataclass(frozen=True)
class TrainResult:
    """The outcome of :func:`~nas.train.train`; accuracies in percent.

    Attributes:
        status: see :data:`Status`.
        history: one :class:`EpochMetrics` per completed epoch.
        val_accuracy: validation accuracy after the last completed epoch (None if none).
        test_accuracy: test accuracy after the last completed epoch (None if none).
        best_epoch: the best epoch (see :func:`best_of`; None if none completed).
        best_val_accuracy: its validation accuracy.
        best_test_accuracy: its test accuracy.
        best_val_loss: its validation loss.
        checkpoint: the directory holding the best epoch's weights (None unless
            ``checkpoint_dir`` was given and an epoch completed).
        threads: torch's CPU thread count during the run (it can change float results).
        train_seconds: wall time of the training loop, evaluation included.
        params: trainable parameter count of the model (0 if it could not be built).
        device: the device used, e.g. ``"cpu"`` or ``"cuda:0"``.
        seed: the seed the run was made with.
        recipe: the full recipe, defaults filled in.
        error: why the run did not finish (None when ``status == "ok"``).

    Example:
        >>> r = TrainResult(status="ok", history=[], val_accuracy=None, test_accuracy=None,
        ...                 best_epoch=None, best_val_accuracy=None, train_seconds=0.0,
        ...                 params=0, device="cpu", seed=0, recipe={})
        >>> r.curves()["val_accuracy"]
        []
    """

    status: Status
    history: list[EpochMetrics]
    val_accuracy: float | None
    test_accuracy: float | None
    best_epoch: int | None
    best_val_accuracy: float | None
    train_seconds: float
    params: int
    device: str
    seed: int
    recipe: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    best_test_accuracy: float | None = None
    best_val_loss: float | None = None
    checkpoint: str | None = None
    threads: int | None = None

    @property
    def epochs_completed(self) -> int:
        return len(self.history)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def curves(self) -> dict[str, list[float]]:
        """Per-epoch lists, one per metric of :class:`EpochMetrics` (epoch excluded)."""
        return {name: [getattr(m, name) for m in self.history] for name in CURVES}

    def to_dict(self) -> dict[str, Any]:
        """A flat, JSON-ready dict: the scalar fields plus one list per curve."""
        row = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        del row["history"]
        row["epochs_completed"] = self.epochs_completed
        row.update({f"{name}_curve": values for name, values in self.curves().items()})
        return row

    def raise_for_status(self) -> TrainResult:
        """Return ``self`` when the run finished, else raise :class:`~nas.errors.TrainingError`."""
        if self.status not in ("ok", "stopped"):
            raise TrainingError(f"Training {self.status}: {self.error}")
        return self
