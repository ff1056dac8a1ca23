"""The driver side of a Ray search: hand out candidates, store results, tell the strategy.

Everything that must survive a killed driver happens here, in one order per finished
trial: append the row to the store, tell the strategy, save the state file. A crash between
two steps leaves a row that is stored but not told; a resumed driver re-tells it from the
store. Nothing is ever told without being stored.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.run._evaluator import describe_error
from nas.run._progress import SearchProgress
from nas.run._state import RunState, StateError
from nas.store import Result, ResultStore

if TYPE_CHECKING:
    from nas.space import Arch, Space

__all__ = ["Driver", "result_from_json", "result_to_json"]

_log = logging.getLogger("nas.run")

FINISHED = "FINISHED"  # ray.tune.search.Searcher.FINISHED, without importing Ray here


def result_to_json(result: Result) -> str:
    """A `Result` as a JSON string (how it travels from a trial to the driver)."""
    row = result.to_row()
    if row.get("created_at") is not None:
        row["created_at"] = row["created_at"].isoformat()
    return json.dumps(row, separators=(",", ":"))


def result_from_json(text: str) -> Result:
    row = json.loads(text)
    if row.get("created_at") is not None:
        row["created_at"] = datetime.fromisoformat(row["created_at"])
    return Result.from_row(row)


class Driver:
    """Driver-side bookkeeping of one Ray search (shared by the searcher and the callback).

    Args:
        space: the search space.
        strategy: an ask/tell ``nas.search.Strategy``.
        dataset: the evaluator's dataset name (stored rows need it for failed trials).
        store: where results go.
        run_dir: where the state file lives.
        state: a fresh or a loaded `RunState`.
        progress: the live display.
        cost: an estimate of an arch's training cost (any unit; only the order matters).
        tail_window: with ``cost``, the last this-many trials of a trial budget are proposed
            together and started longest first (0: off).
    """

    def __init__(
        self,
        space: Space,
        strategy: Any,
        dataset: str,
        store: ResultStore,
        run_dir: Path,
        state: RunState,
        progress: SearchProgress,
        *,
        cost: Callable[[Arch], float | None] | None = None,
        tail_window: int = 0,
    ) -> None:
        self.space = space
        self.cost = cost
        self.tail_window = tail_window
        self.strategy = strategy
        self.dataset = dataset
        self.store = store
        self.run_dir = run_dir
        self.state = state
        self.progress = progress
        self._told = set(state.told)
        self._requeue: list[str] = state.pending()  # proposed before a crash, never finished
        self._running: dict[str, str] = {}  # Tune trial id -> candidate id
        self._archs: dict[str, Arch] = {}
        self.exhausted = False
        self.new_results: list[Result] = []
        self._elapsed_before = state.elapsed_s  # wall time of earlier sessions
        self._session_start = time.monotonic()

    def _elapsed(self) -> float:
        return self._elapsed_before + (time.monotonic() - self._session_start)

    def _save(self) -> None:
        self.state.elapsed_s = round(self._elapsed(), 3)
        self.state.save(self.run_dir)

    # -- resume --------------------------------------------------------------------------
    @classmethod
    def resume_state(
        cls,
        run_dir: Path,
        strategy: Any,
        store: ResultStore,
        *,
        space: str,
        dataset: str,
    ) -> RunState | None:
        """Load the state file, restore the strategy and re-tell stored but untold results."""
        state = RunState.load(run_dir)
        if state is None:
            return None
        if (state.space, state.dataset) != (space, dataset):
            raise StateError(
                f"Run directory {str(run_dir)!r} holds a search of space {state.space!r} on "
                f"{state.dataset!r}, not {space!r} on {dataset!r}; pass the same space and "
                f"dataset, or another run directory."
            )
        if state.strategy:
            strategy.load_state_dict(state.strategy)
        told = set(state.told)
        for result in cls.stored_results(store, state.run_id):
            cid = (result.extra_dict() or {}).get("candidate_id")
            if cid in state.proposals and cid not in told:
                # Stored, then the driver died before the tell: tell it now.
                _tell(strategy, cid, result)
                state.told.append(cid)
                told.add(cid)
        state.strategy = strategy.state_dict()
        state.save(run_dir)
        return state

    @staticmethod
    def stored_results(store: ResultStore, run_id: str) -> list[Result]:
        import pyarrow.compute as pc

        if not store.is_present():
            return []
        return store.results(pc.field("run_id") == run_id)

    # -- asking --------------------------------------------------------------------------
    def remaining_budget(self) -> int | None:
        """Evaluations still to start: the budget less every proposal made so far."""
        if self.state.budget is None:
            return None
        return max(0, self.state.budget - len(self.state.proposals))

    def trials_to_run(self) -> int | None:
        """Trials this session runs: re-runs of unfinished proposals plus new ones."""
        left = self.remaining_budget()
        return None if left is None else left + len(self._requeue)

    def next_config(self, trial_id: str) -> dict[str, Any] | str:
        """The next trial's config, or ``FINISHED`` when the budget or the space is spent."""
        if self._requeue:
            cid = self._requeue.pop(0)
            arch_json = self.state.proposals[cid]["arch"]
        else:
            left = self.remaining_budget()
            # The last few trials of a budget are proposed at once and started longest first,
            # so no slot sits idle at the end while one long trial finishes alone.
            batch = left if self._in_tail(left) else 1
            candidates = [] if left == 0 else self.strategy.ask(batch)
            if not candidates:
                self.exhausted = left != 0
                return FINISHED
            for candidate in candidates:
                self.state.proposals[candidate.candidate_id] = {
                    "arch": candidate.arch.to_json(),
                    "arch_id": candidate.arch.arch_id,
                }
            self.state.strategy = self.strategy.state_dict()
            self._save()
            order = self._longest_first(candidates)
            cid = order[0]
            self._requeue.extend(order[1:])
            arch_json = self.state.proposals[cid]["arch"]
        self._running[trial_id] = cid
        self.progress.set_running(len(self._running))
        return {"candidate_id": cid, "arch": arch_json, "seed": self.state.seed}

    def _in_tail(self, left: int | None) -> bool:
        return self.cost is not None and left is not None and 1 < left <= self.tail_window

    def _longest_first(self, candidates: list[Any]) -> list[str]:
        """Candidate ids by estimated cost, largest first (unknown costs keep their order)."""
        if len(candidates) == 1 or self.cost is None:
            return [c.candidate_id for c in candidates]
        costs = []
        for c in candidates:
            try:
                cost = self.cost(c.arch)
            except Exception:  # an estimate must never stop the search
                cost = None
            costs.append(-math.inf if cost is None else float(cost))
        order = sorted(range(len(candidates)), key=lambda i: -costs[i])  # stable
        return [candidates[i].candidate_id for i in order]

    # -- finishing -----------------------------------------------------------------------
    def finish(self, trial: Any, *, error: bool) -> Result | None:
        """Store, tell and checkpoint one finished (or errored) Tune trial."""
        cid = (trial.config or {}).get("candidate_id")
        self._running.pop(trial.trial_id, None)
        if cid is None or cid in self._told:
            self.progress.set_running(len(self._running))
            return None
        result = self._result_of(trial, cid, error=error)
        self.store.append([result], on_duplicate="skip")
        _tell(self.strategy, cid, result)
        self._told.add(cid)
        self.state.told.append(cid)
        self.state.strategy = self.strategy.state_dict()
        self._save()
        self.new_results.append(result)
        self.progress.set_running(len(self._running))
        self.progress.record(result)
        return result

    def _result_of(self, trial: Any, cid: str, *, error: bool) -> Result:
        last = trial.last_result or {}
        reported = last.get("nas_result")
        partial = result_from_json(reported) if reported else None
        extra: dict[str, Any] = {}
        if partial is not None:
            extra = dict(partial.extra_dict() or {})
        extra["candidate_id"] = cid
        changes: dict[str, Any] = {"run_id": self.state.run_id, "trial_id": trial.trial_id}
        if error:
            reason = last.get("nas_error")
            reason = f"The trial raised {reason}" if reason else _trial_error(trial)
            changes.update(status="failed", error=reason)
        elif partial is None:
            changes.update(
                status="failed",
                error="The trial ended before reporting any result (stopped by the search's "
                "time budget or by a scheduler before its first epoch).",
            )
        elif not last.get("nas_final"):
            # Ended by a scheduler (ASHA/Hyperband, which also stops a trial at its last
            # epoch, max_t) or by the search's end: a result at the fidelity it reached.
            planned = (partial.recipe_dict() or {}).get("epochs")
            if planned is None or (partial.fidelity or 0) < planned:
                extra["stopped_early"] = True
        if partial is None:
            partial = self._empty_result(cid)
        return dataclasses.replace(partial, extra=extra, **changes)

    def _empty_result(self, cid: str) -> Result:
        from nas.space import Arch

        arch = Arch.from_json(self.state.proposals[cid]["arch"])
        return Result(
            space=self.space.name,
            space_version=self.space.version,
            arch=arch.to_json(),
            arch_id=arch.arch_id,
            dataset=self.dataset,
            seed=self.state.seed,
            fidelity=0,
            status="failed",
        )


def _tell(strategy: Any, cid: str, result: Result) -> None:
    # The same metrics the in-process loop tells, so both executors steer a strategy alike.
    from nas.search.loop import result_metrics

    metrics = result_metrics(result)
    if result.status == "ok":
        strategy.tell(cid, metrics, status="ok")
    else:
        strategy.tell(cid, metrics or None, status=result.status)


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


def trial_config_mapping(config: Mapping[str, Any]) -> tuple[str, str, int]:
    """(candidate id, arch JSON, seed) of a trial config made by :meth:`Driver.next_config`."""
    return str(config["candidate_id"]), str(config["arch"]), int(config["seed"])
