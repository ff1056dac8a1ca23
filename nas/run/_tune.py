"""The Ray Tune side: the trial function, the ask/tell searcher adapter and the store callback."""

from __future__ import annotations

import inspect
import math
from typing import TYPE_CHECKING, Any

from ray import tune
from ray.tune import Callback
from ray.tune.search import Searcher

from nas.run._driver import FINISHED, Driver, result_to_json, trial_config_mapping

if TYPE_CHECKING:
    from nas.store import Result

__all__ = ["StoreCallback", "StrategySearcher", "run_trial"]

METRIC = "val_accuracy"
TIME_ATTR = "epoch"


def _report(result: Result | None, *, final: bool, error: str | None = None) -> None:
    # Every report carries the whole (partial) result, so the driver can store what the trial
    # trained even when a scheduler or a failure ends it before it returns.
    value = None if result is None else result.val_accuracy
    metrics: dict[str, Any] = {
        METRIC: float("nan") if value is None or not math.isfinite(value) else value,
        TIME_ATTR: 0 if result is None else int(result.fidelity or 0),
        "nas_final": final,
    }
    if result is not None:
        metrics["nas_result"] = result_to_json(result)
    if error is not None:
        metrics["nas_error"] = error
    tune.report(metrics)


def run_trial(config: dict[str, Any], evaluator: Any = None, threads: int | None = None) -> None:
    """The Tune function trainable: evaluate one arch and report per epoch and at the end."""
    from nas.run._evaluator import describe_error
    from nas.space import Arch

    if threads is not None:
        import torch

        torch.set_num_threads(threads)  # one trial per CPU slot: no oversubscription
    _, arch_json, seed = trial_config_mapping(config)
    arch = Arch.from_json(arch_json)
    trial_id = tune.get_context().get_trial_id()
    kwargs: dict[str, Any] = {"seed": seed, "trial_id": trial_id}
    last: list[Result] = []

    def on_epoch(partial: Result) -> None:
        last[:] = [partial]
        _report(partial, final=False)

    if _takes_on_epoch(evaluator):
        kwargs["on_epoch"] = on_epoch
    try:
        result = evaluator.evaluate(arch, **kwargs)
    except Exception as err:
        # Say why before Tune sees the exception (and retries or records the trial): the
        # driver stores this line; Tune's own error files may live on another node.
        _report(last[0] if last else None, final=False, error=describe_error(err))
        raise
    _report(result, final=True)


def _takes_on_epoch(evaluator: Any) -> bool:
    try:
        return "on_epoch" in inspect.signature(evaluator.evaluate).parameters
    except (TypeError, ValueError):
        return False


class StrategySearcher(Searcher):
    """A ``nas.search`` ask/tell strategy as a Ray Tune ``Searcher``.

    ``suggest(trial_id)`` asks the strategy for one candidate (or re-issues one that a killed
    driver never finished) and returns ``{"candidate_id", "arch" (JSON), "seed"}``;
    ``FINISHED`` when the budget or the space is spent. Results are told by
    :class:`StoreCallback` once the trial's row is in the store (see ``nas.run._driver``):
    Tune calls this searcher's ``on_trial_complete`` before the callbacks and without the
    error of a failed trial, and telling before storing could lose a row to a crash.
    """

    def __init__(self, driver: Driver) -> None:
        super().__init__(metric=METRIC, mode="max")
        self._driver: Driver | None = driver

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]
        if self._driver is None:
            return FINISHED
        return self._driver.next_config(trial_id)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """Nothing to do: :class:`StoreCallback` stores the row, then tells the strategy."""

    def save(self, checkpoint_path: str) -> None:
        """No-op: the driver's state file, not Tune's searcher checkpoint, is the record."""

    def restore(self, checkpoint_path: str) -> None:
        """No-op, see :meth:`save`."""

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its config into the experiment directory; the driver (strategy, store,
        # live display) stays in this process.
        state = dict(self.__dict__)
        state["_driver"] = None
        return state


class StoreCallback(Callback):
    """Stores every finished or failed trial from the driver and keeps the progress display."""

    def __init__(self, driver: Driver) -> None:
        self._driver: Driver | None = driver

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self._driver is not None:
            self._driver.finish(trial, error=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self._driver is not None:
            self._driver.finish(trial, error=True)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if self._driver is not None:
            self._driver.progress.set_running(len(self._driver._running))

    def __getstate__(self) -> dict[str, Any]:
        return {"_driver": None}
