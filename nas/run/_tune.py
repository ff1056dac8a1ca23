"""The Ray Tune side of a search: the trial function, and the bridge between Tune and the driver.

Tune asks :class:`StrategySearcher` for configs (the driver's ``next_trial``); the Tune
callback :class:`TrialBridge` completes every ended trial with the driver (``complete``: store,
then tell), since Tune tells a searcher before the callbacks and without a failed trial's error.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import tempfile
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow.fs as pafs
import ray
from ray import tune
from ray.tune import Callback
from ray.tune.search import Searcher

from nas.errors import describe_error
from nas.search._driver import arch_row, takes_argument
from nas.space import Arch
from nas.store import Result

if TYPE_CHECKING:
    from nas.search._driver import Driver

__all__ = ["StrategySearcher", "TrialBridge", "run_trial"]

METRIC = "val_accuracy"
TIME_ATTR = "epoch"


def _metrics(result: Result | None, *, final: bool, error: str | None = None) -> dict[str, Any]:
    # Every report carries the whole (partial) result, so the driver can store what the trial
    # trained even when a scheduler or a failure ends it before it returns.
    value = None if result is None else result.val_accuracy
    metrics: dict[str, Any] = {
        METRIC: float("nan") if value is None or not math.isfinite(value) else value,
        TIME_ATTR: 0 if result is None else int(result.fidelity or 0),
        "nas_final": final,
    }
    if result is not None:  # as JSON (`Result.from_row` reads it back)
        row = result.to_row()
        metrics["nas_result"] = json.dumps(row, default=datetime.isoformat, separators=(",", ":"))
    if error is not None:
        metrics["nas_error"] = error
    return metrics


def run_trial(config: dict[str, Any], evaluator: Any = None, threads: int | None = None) -> None:
    """The Tune function trainable: evaluate one arch and report per epoch and at the end."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)  # one trial per CPU slot: no oversubscription
    arch = Arch.from_json(config["arch"])
    kwargs: dict[str, Any] = {"seed": int(config["seed"])}
    kwargs["trial_id"] = tune.get_context().get_trial_id()
    last: list[Result] = []
    unstored: list[str] = []  # why Tune could not store the weights (then none are sent)
    # The trainer keeps the best epoch's weights here; each new best goes to Tune with the
    # epoch's report (a trial stopped by a scheduler keeps its best epoch too).
    if takes_argument(evaluator, "checkpoint_dir"):
        kwargs["checkpoint_dir"] = tempfile.mkdtemp(prefix="nas-weights-")

    def on_epoch(partial: Result) -> None:
        partial = _noting(partial, unstored)
        last[:] = [partial]
        metrics = _metrics(partial, final=False)
        improved = (partial.extra_dict() or {}).get("best_epoch") == partial.fidelity
        if improved and "checkpoint_dir" in kwargs and not unstored:
            # Tune copies the directory into the run's checkpoint storage (a shared path or a
            # cloud URI on a cluster) before report returns, so the trainer may overwrite it.
            try:
                checkpoint = tune.Checkpoint.from_directory(kwargs["checkpoint_dir"])
                tune.report(metrics, checkpoint=checkpoint)
                return
            except (RuntimeError, OSError) as err:
                # Storage this node cannot reach (Ray checks a marker file the driver wrote)
                # or a failed copy: the trial goes on without weights; else it is Tune's.
                if not isinstance(err, OSError) and "storage" not in str(err):
                    raise
                unstored.append(
                    f"{describe_error(err, limit=300)}. Give the run a directory every node "
                    f"can reach (a shared filesystem) to keep Ray trials' weights."
                )
        tune.report(metrics)

    if takes_argument(evaluator, "on_epoch"):
        kwargs["on_epoch"] = on_epoch
    try:
        result = evaluator.evaluate(arch, **kwargs)
    except Exception as err:
        # Say why before Tune sees the exception (and retries or records the trial): the
        # driver stores this line; Tune's own error files may live on another node.
        tune.report(_metrics(last[0] if last else None, final=False, error=describe_error(err)))
        raise
    finally:
        if "checkpoint_dir" in kwargs:
            shutil.rmtree(kwargs["checkpoint_dir"], ignore_errors=True)
    tune.report(_metrics(_noting(result, unstored), final=True))


def _noting(result: Result, unstored: list[str]) -> Result:
    """``result`` with the reason its weights were not kept in ``extra`` (if there is one)."""
    if not unstored:
        return result
    extra = {**(result.extra_dict() or {}), "weights_not_kept": unstored[0]}
    return dataclasses.replace(result, extra=extra)


def checkpoint_location(checkpoint: Any) -> str | None:
    """A Tune ``Checkpoint`` as a location ``nas.train.load_checkpoint`` reads: its local path,
    or a URI on the storage's filesystem (``s3://...``)."""
    if checkpoint is None:
        return None
    fs = checkpoint.filesystem
    if fs is None or isinstance(fs, pafs.LocalFileSystem):
        return str(checkpoint.path)
    scheme = {"gcs": "gs"}.get(fs.type_name, fs.type_name)
    return f"{scheme}://{checkpoint.path}"


class TrialBridge(Callback):
    """Tune trial ids <-> the driver's candidates: completes every finished or failed trial
    with the driver (store, tell, checkpoint) and enforces the trial timeout."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.running: dict[str, str] = {}  # Tune trial id -> candidate id
        self.started: dict[str, float] = {}  # Tune trial id -> when its actor began it
        self.timed_out: set[str] = set()  # trials whose actor the trial timeout killed

    def __getstate__(self) -> dict[str, Any]:
        return {}  # Tune pickles its config into the experiment directory; the driver stays

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        # Save the elapsed time, and kill the actor of a trial past the run's trial timeout
        # (a hung trial reports nothing, so no stopper would see it).
        self.driver.tick()
        cap, now = self.driver.state.trial_timeout_s, time.monotonic()
        if cap is None:
            return
        for trial in trials:
            tid, actor = trial.trial_id, getattr(trial.temporary_state, "ray_actor", None)
            late = now - self.started.get(tid, now) > cap
            if late and actor is not None and tid not in self.timed_out:
                self.timed_out.add(tid)
                ray.kill(actor, no_restart=True)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.started[trial.trial_id] = time.monotonic()  # a retry gets the whole timeout again
        self.timed_out.discard(trial.trial_id)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.finish(trial, error=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.finish(trial, error=True)

    def finish(self, trial: Any, *, error: bool) -> None:
        cid = self.running.pop(trial.trial_id, None)
        if cid is not None:
            self.driver.complete(
                cid, self._result_of(trial, cid, error=error), trial_id=trial.trial_id
            )

    def _result_of(self, trial: Any, cid: str, *, error: bool) -> Result:
        last = trial.last_result or {}
        reported, final = last.get("nas_result"), last.get("nas_final")
        if reported:
            row = Result.from_row(json.loads(reported))
        else:  # failed or stopped before its first report
            arch = Arch.from_json(self.driver.state.proposals[cid])
            row = arch_row(arch, self.driver.dataset, "failed", fidelity=0)
        # The trial's weights as Tune stored them, not the trial's own temporary directory.
        changes: dict[str, Any] = {"checkpoint": checkpoint_location(trial.checkpoint)}
        time_left, epochs = self.driver.time_left(), row.fidelity or 0
        if error and trial.trial_id in self.timed_out:
            cap = self.driver.state.trial_timeout_s or 0.0
            changes.update(
                status="timeout",
                error=f"Stopped by the trial timeout after {cap:.4g} s and {epochs} epoch(s); "
                f"its Ray actor was killed.",
            )
        elif error:
            reason = last.get("nas_error")
            reason = f"The trial raised {reason}" if reason else _trial_error(trial)
            changes.update(status="failed", error=reason)
        elif not final and time_left is not None and time_left <= 0:
            changes.update(
                status="cut", error=f"Stopped by the search's time budget after {epochs} epochs."
            )
        elif not reported:
            changes["error"] = (
                "The trial ended before reporting any result (stopped by a scheduler before "
                "its first epoch)."
            )
        elif not final:
            # Ended by a scheduler (ASHA/Hyperband, which also stops a trial at its last
            # epoch, max_t): a result at the fidelity it reached.
            planned = (row.recipe_dict() or {}).get("epochs")
            if planned is None or epochs < planned:
                changes["extra"] = {**(row.extra_dict() or {}), "stopped_early": True}
        return dataclasses.replace(row, **changes)


def _trial_error(trial: Any) -> str:
    """One line naming what the trial raised (Ray wraps it; unwrap to the user's error)."""
    try:
        err = trial.get_pickled_error() or trial.get_error()
    except Exception:  # the error file itself may be gone on a remote filesystem
        err = None
    if err is None:
        return "The trial failed without an error message (see the Ray logs)."
    cause = getattr(err, "cause", None)
    if isinstance(cause, BaseException):
        return "The trial raised " + describe_error(cause)
    if type(err).__name__ in ("RayActorError", "ActorDiedError", "ActorUnavailableError"):
        return "The trial's worker died (node lost or process killed): " + describe_error(err)
    return "The trial failed: " + describe_error(err)


class StrategySearcher(Searcher):
    """The driver's ask/tell strategy as a Ray Tune ``Searcher`` (``FINISHED`` when spent)."""

    def __init__(self, bridge: TrialBridge) -> None:
        super().__init__(metric=METRIC, mode="max")
        self._bridge = bridge

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]
        driver = self._bridge.driver
        trial = driver.next_trial()
        if trial is None:
            return Searcher.FINISHED
        self._bridge.running[trial_id] = trial.candidate_id
        return {
            "candidate_id": trial.candidate_id,
            "arch": trial.arch.to_json(),
            "seed": driver.state.seed,
        }

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """Nothing to do: the :class:`TrialBridge` callback completes the trial."""

    def save(self, checkpoint_path: str) -> None:
        """No-op: the driver's state file, not Tune's searcher checkpoint, resumes a search."""

    def restore(self, checkpoint_path: str) -> None:
        """No-op, see :meth:`save`."""

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_bridge": None}  # the driver stays here (see TrialBridge)
