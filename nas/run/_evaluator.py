"""`TrainingEvaluator`: compile an arch, train it with its recipe, return a store `Result`."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from nas.data import SPLIT_SEED, VAL_FRACTION, get_dataset
from nas.errors import NasError, describe_error
from nas.space import Arch, Space, get_space
from nas.store import Result

if TYPE_CHECKING:
    from nas.train import EpochMetrics

__all__ = ["EpochCallback", "TrainingEvaluator"]

#: Called after every epoch with the partial `Result` so far (status "ok", curves up to the
#: epoch, ``fidelity`` = epochs done). Ray trials forward it to ``tune.report`` so schedulers
#: see every epoch and the driver can store what was trained even if the trial is cut short.
EpochCallback = Callable[[Result], None]

# Trainer statuses that have a store status of their own; "stopped" (a scheduler's early
# stop) is a finished result at a lower fidelity, hence "ok".
_STATUS = {"ok": "ok", "stopped": "ok", "diverged": "diverged", "timeout": "timeout"}

_FLOAT_KEYS = frozenset({"augment", "label_smoothing", "warmup_epochs", "lr", "weight_decay"})


class DatasetTrial:
    """Pickling and dataset loading of the evaluators that train on a ``nas.data`` set (they set
    ``space``, ``dataset``, ``dataset_kwargs``). A registered space travels by name (its tree
    may hold closures that do not pickle); the worker rebuilds it from the same registry."""

    space: Any
    dataset: str
    dataset_kwargs: dict[str, Any]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        with contextlib.suppress(NasError):  # not registered: it travels by value
            if get_space(self.space.name).to_json() == self.space.to_json():
                state["space"] = self.space.name
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state["space"], str):
            state["space"] = get_space(state["space"])
        self.__dict__.update(state)

    def prepare(self) -> None:
        """Load the dataset once (filling the loader's caches); raises if it cannot load."""
        get_dataset(self.dataset, **self.dataset_kwargs)


class TrainingEvaluator(DatasetTrial):
    """Evaluate an arch by training it: compile, train with its recipe, report a `Result`.

    A ``nas.search.Evaluator``: the same object runs in-process or inside Ray trials
    (``nas.search.run(..., executor=...)``), pickled cheaply (see `DatasetTrial`).

    Faults never raise out of :meth:`evaluate`: a model that does not build or train, a bad
    recipe or a dataset that fails to load all come back as ``status="failed"`` with the
    reason in ``error``; a NaN/inf loss is ``"diverged"``, the time limit ``"timeout"``.

    Args:
        space: the search space (a `Space` or a registered space name).
        dataset: a registered dataset name (see ``nas.data.list_datasets``).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        time_limit_s: wall-clock budget per training run, or None.
        recipe_overrides: recipe keys that replace the arch's own (e.g. ``{"epochs": 1}``).
        dataset_kwargs: keyword arguments for the dataset loader.
        threads: torch CPU threads while training (None leaves torch's setting alone).

    Example:
        >>> import numpy as np
        >>> from nas.space import get_space
        >>> space = get_space("mlp")
        >>> ev = TrainingEvaluator(space, "synthetic", device="cpu",
        ...                        recipe_overrides={"epochs": 1},
        ...                        dataset_kwargs={"num_classes": 10, "length": 40})
        >>> result = ev.evaluate(space.sample(np.random.default_rng(0)), seed=0)
        >>> result.status, result.fidelity, len(result.val_accuracy_curve)
        ('ok', 1, 1)
    """

    def __init__(
        self,
        space: Space | str,
        dataset: str,
        *,
        device: str = "auto",
        time_limit_s: float | None = None,
        recipe_overrides: Mapping[str, Any] | None = None,
        dataset_kwargs: Mapping[str, Any] | None = None,
        threads: int | None = None,
    ) -> None:
        self.space: Space = get_space(space) if isinstance(space, str) else space
        if not isinstance(dataset, str) or not dataset:
            raise NasError(f"TrainingEvaluator needs a dataset name (got {dataset!r}).")
        if time_limit_s is not None and not time_limit_s > 0:
            raise NasError(f"Expected time_limit_s > 0 or None (got {time_limit_s!r}).")
        self.dataset = dataset
        self.device = device
        self.time_limit_s = time_limit_s
        self.recipe_overrides = dict(recipe_overrides or {})
        self.dataset_kwargs = dict(dataset_kwargs or {})
        self.threads = threads

    def __repr__(self) -> str:
        return f"TrainingEvaluator({self.space.name!r}, {self.dataset!r}, device={self.device!r})"

    #: Fixed work of one optimizer step, in FLOP-equivalents of one sample's forward pass
    #: (fitted on CPU runs of cnn1d on mnist1d: the step count, not only FLOPs, sets the time).
    STEP_FLOPS = 1e8

    def estimate_cost(self, arch: Arch) -> float:
        """A relative training cost of ``arch``, for ordering trials (not a time in seconds).

        ``epochs * (FLOPs per sample + STEP_FLOPS / batch_size)``: the dataset size is the same
        for every arch, so it cancels out of any comparison.
        """
        from nas.train import Recipe

        recipe = Recipe.from_mapping(self.recipe(arch))
        flops = float(self.space.compile(arch).flops)
        return float(recipe.epochs) * (flops + self.STEP_FLOPS / float(recipe.batch_size))

    def recipe(self, arch: Arch) -> dict[str, Any]:
        """The recipe ``arch`` is trained with: its own, then the overrides."""
        recipe = {**self.space.recipe(arch), **self.recipe_overrides}
        # Spaces may search an on/off switch (``augment=Choice([False, True])``) for a key the
        # trainer takes as a strength in [0, 1]: on means full strength.
        return {
            k: float(v) if isinstance(v, bool) and k in _FLOAT_KEYS else v
            for k, v in recipe.items()
        }

    def evaluate(
        self,
        arch: Arch,
        *,
        seed: int,
        trial_id: str | None = None,
        on_epoch: EpochCallback | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
    ) -> Result:
        """Train ``arch`` once with ``seed`` and return its result (never raises for faults).

        The result's metrics are those of the best epoch (highest validation accuracy, see
        ``nas.train.best_of``); the curves hold every epoch.

        Args:
            arch: an arch of this evaluator's space.
            seed: the training seed.
            trial_id: stored with the result.
            on_epoch: called after every epoch with the partial result; an exception it raises
                (e.g. Ray stopping the trial) propagates.
            checkpoint_dir: a local directory for the best epoch's weights, saved before
                ``on_epoch`` sees that epoch; the result's ``checkpoint`` points at it.
        """
        base: dict[str, Any] = {
            "space": self.space.name,
            "space_version": self.space.version,
            "arch": arch.to_json(),
            "arch_id": arch.arch_id,
            "dataset": self.dataset,
            "seed": int(seed),
            "trial_id": trial_id,
            "host": socket.gethostname(),
            "node_id": _ray_node_id(),
        }
        start = time.perf_counter()
        try:
            from nas.train import Recipe

            # The full recipe, defaults filled in, so every row of one trial has the same key.
            base["recipe"] = Recipe.from_mapping(self.recipe(arch)).to_dict()
            graph = self.space.compile(arch)
            base.update(graph_hash=graph.graph_hash(), flops=int(graph.flops))
            base["params"] = int(graph.params)
            data = get_dataset(self.dataset, **self.dataset_kwargs)
        except Exception as err:
            return _failed(base, [], f"Preparing the trial failed: {describe_error(err)}", start)
        return self._train(arch, data, base, on_epoch, checkpoint_dir)

    def _train(
        self,
        arch: Arch,
        data: Any,
        base: dict[str, Any],
        on_epoch: EpochCallback | None,
        checkpoint_dir: str | os.PathLike[str] | None,
    ) -> Result:
        import torch

        from nas.train import train

        history: list[EpochMetrics] = []
        where = None if checkpoint_dir is None else str(checkpoint_dir)

        def report(metrics: EpochMetrics) -> None:
            history.append(metrics)
            if on_epoch is not None:
                seconds = sum(m.epoch_seconds for m in history)
                on_epoch(_trained(base, history, {}, train_seconds=seconds, checkpoint=where))

        previous_threads = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        start = time.perf_counter()
        try:
            outcome = train(
                lambda: self.space.to_torch(arch),
                data,
                base["recipe"],
                seed=base["seed"],
                device=self.device,
                time_limit_s=self.time_limit_s,
                report=report,
                checkpoint_dir=checkpoint_dir,
            )
        except NasError as err:  # a bad recipe or device: this trial's fault, not the search's
            return _failed(base, history, describe_error(err), start)
        finally:
            torch.set_num_threads(previous_threads)
        status = _STATUS.get(outcome.status, "failed")
        # What `nas train --from-store` needs besides arch, recipe and seed to train it again.
        extra: dict[str, Any] = {
            "train_status": outcome.status,
            "device": outcome.device,
            "threads": outcome.threads,
            "data_split": {"val_fraction": VAL_FRACTION, "seed": SPLIT_SEED},
        }
        if self.dataset_kwargs:
            extra["dataset_kwargs"] = dict(self.dataset_kwargs)
        return _trained(
            base,
            outcome.history,
            extra,
            status=status,
            error=outcome.error if status != "ok" else None,
            train_seconds=outcome.train_seconds,
            checkpoint=outcome.checkpoint,
        )


def _trained(
    base: dict[str, Any],
    history: list[EpochMetrics],
    extra: dict[str, Any],
    status: str = "ok",
    **fields: Any,
) -> Result:
    """The row of the epochs in ``history``: every curve, and the best epoch's metrics
    (``nas.train.best_of``, the epoch whose weights are kept)."""
    from nas.train import best_of

    best = best_of(history)
    if best is not None:
        extra = {**extra, "best_epoch": best.epoch}
    return Result(
        **base,
        status=status,
        fidelity=len(history),
        val_accuracy=None if best is None else best.val_accuracy,
        test_accuracy=None if best is None else best.test_accuracy,
        val_loss=None if best is None else best.val_loss,
        extra=extra,
        train_loss_curve=[m.train_loss for m in history],
        val_accuracy_curve=[m.val_accuracy for m in history],
        test_accuracy_curve=[m.test_accuracy for m in history],
        epoch_seconds=[m.epoch_seconds for m in history],
        **fields,
    )


def _failed(base: dict[str, Any], history: list[EpochMetrics], error: str, start: float) -> Result:
    seconds = time.perf_counter() - start  # the epochs done keep their curves
    return _trained(base, history, {}, "failed", error=error, train_seconds=seconds)


def _ray_node_id() -> str | None:
    """The Ray node id of this process; None outside Ray (the host name still says where)."""
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    except Exception:  # Ray missing or half shut down
        return None
