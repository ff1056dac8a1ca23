"""The in-process search loop: ask -> evaluate -> tell -> store, until the budget is spent.

This is the fast path (tabular benchmarks, tests, small CPU searches); ``nas.run`` runs the
same strategies as Ray Tune trials. Per-query overhead is a few tens of microseconds, so a
strategy on a tabular evaluator runs thousands of queries a second; results reach the
store in batches (one Parquet file per batch, never one per query).
"""

from __future__ import annotations

import copy
import math
import socket
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from nas._progress import progress_bar

if TYPE_CHECKING:
    from nas.space import Arch, Space
    from nas.store import Result, ResultStore

__all__ = ["Evaluator", "ParetoFront", "SearchResult", "result_metrics", "run_search"]

# Result columns handed to the strategy as metrics (objectives and constraints name them).
METRIC_COLUMNS = (
    "val_accuracy",
    "test_accuracy",
    "val_loss",
    "params",
    "flops",
    "latency_ms",
    "train_seconds",
)
_MAX_DUPLICATE_ASKS = 1000
_TOLD_STATUSES = ("ok", "failed", "timeout", "diverged")


@runtime_checkable
class Evaluator(Protocol):
    """Turns an arch into a :class:`~nas.store.Result` (tabular lookup, training, ...)."""

    dataset: str

    def evaluate(self, arch: Arch, *, seed: int, trial_id: str | None = None) -> Result: ...


@dataclass(frozen=True)
class SearchResult:
    """What :func:`run_search` returns.

    Attributes:
        results: every evaluation in order, failed ones included.
        best: the best feasible ``ok`` result by the first objective (None if there is none).
        pareto: the non-dominated feasible ``ok`` results over all objectives.
        wall_seconds: time the search took.
        run_id: the id stamped on every result.
    """

    results: list[Result]
    best: Result | None
    pareto: list[Result]
    wall_seconds: float
    run_id: str


def result_metrics(result: Result) -> dict[str, float]:
    """The numeric metrics of ``result`` the strategy sees: result columns, then numeric
    ``extra`` entries (zero-cost proxies, benchmark columns) under names not taken.

    Example:
        >>> from nas.store import Result
        >>> r = Result(space="s", arch={}, arch_id="a", dataset="d", status="ok",
        ...            val_accuracy=91.0, params=10, extra={"synflow": 3.5})
        >>> result_metrics(r)
        {'val_accuracy': 91.0, 'params': 10.0, 'synflow': 3.5}
    """
    metrics = {
        name: float(v) for name in METRIC_COLUMNS if (v := getattr(result, name)) is not None
    }
    if result.extra:
        import json

        for key, value in json.loads(str(result.extra)).items():
            if (
                key not in metrics
                and isinstance(value, int | float)
                and not isinstance(value, bool)
            ):
                metrics[key] = float(value)
    return metrics


class ParetoFront:
    """The non-dominated set over objectives, kept incrementally (O(front size) per add).

    Args:
        objectives: ``(metric, direction)`` pairs, direction ``"max"`` or ``"min"``.
        constraints: ``(metric, min, max)`` triples (bounds inclusive, None = unbounded).

    Example:
        >>> front = ParetoFront([("acc", "max"), ("params", "min")])
        >>> front.add("a", {"acc": 90, "params": 5}); front.add("b", {"acc": 91, "params": 9})
        True
        True
        >>> front.add("c", {"acc": 89, "params": 9})
        False
        >>> [item for item, _ in front.items()]
        ['a', 'b']
    """

    def __init__(
        self,
        objectives: Sequence[tuple[str, str]],
        constraints: Sequence[tuple[str, float | None, float | None]] = (),
    ) -> None:
        self.objectives = list(objectives)
        self.constraints = list(constraints)
        self._front: list[tuple[tuple[float, ...], Any, Mapping[str, float]]] = []
        self._best: tuple[float, Any] | None = None

    def feasible(self, metrics: Mapping[str, float]) -> bool:
        for metric, lo, hi in self.constraints:
            value = metrics.get(metric)
            if value is None or (lo is not None and value < lo) or (hi is not None and value > hi):
                return False
        return True

    def add(self, item: Any, metrics: Mapping[str, float]) -> bool:
        """Offer ``item``; True when it joined the front (infeasible or incomplete: False)."""
        if not self.feasible(metrics):
            return False
        try:  # every objective as "larger is better"
            key = tuple(metrics[m] if d == "max" else -metrics[m] for m, d in self.objectives)
        except KeyError:
            return False
        if not all(math.isfinite(k) for k in key):
            return False  # a NaN accuracy is a failed run, not a point of the front
        if self._best is None or key[0] > self._best[0]:
            self._best = (key[0], item)
        for other, _, _ in self._front:
            if _dominates(other, key) or other == key:
                return False
        self._front = [e for e in self._front if not _dominates(key, e[0])]
        self._front.append((key, item, metrics))
        return True

    def items(self) -> list[tuple[Any, Mapping[str, float]]]:
        """Front members in the order they joined, with their metrics."""
        return [(item, metrics) for _, item, metrics in self._front]

    def best(self) -> Any | None:
        """The feasible item best on the first objective (the first found on a tie)."""
        return None if self._best is None else self._best[1]


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def _objectives(strategy: Any) -> list[tuple[str, str]]:
    objectives = getattr(strategy, "objectives", None) or ()
    pairs = [(o.metric, o.direction) for o in objectives]
    return pairs or [("val_accuracy", "max")]


def _constraints(strategy: Any) -> list[tuple[str, float | None, float | None]]:
    return [(c.metric, c.min, c.max) for c in getattr(strategy, "constraints", None) or ()]


def new_run_id() -> str:
    """``search-YYYYmmddTHHMMSS-xxxxxxxx``: sortable by time, unique across hosts."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"search-{stamp}-{uuid.uuid4().hex[:8]}"


class _Buffer:
    """Results waiting for the store; flushed every ``every`` rows or ``interval_s``."""

    def __init__(self, store: ResultStore | None, every: int, interval_s: float) -> None:
        self.store, self.every, self.interval_s = store, every, interval_s
        self.rows: list[Result] = []
        self.last = time.monotonic()
        self.files = 0

    def add(self, result: Result) -> None:
        if self.store is None:
            return
        self.rows.append(result)
        if len(self.rows) >= self.every or time.monotonic() - self.last >= self.interval_s:
            self.flush()

    def flush(self) -> None:
        if self.store is not None and self.rows:
            self.store.append(self.rows, on_duplicate="skip")
            self.files += 1
            self.rows = []
        self.last = time.monotonic()


def _stamp(result: Result, **fields: Any) -> Result:
    # A shallow copy with bookkeeping fields set: the values are plain str/int, already
    # canonical, so re-validating the whole row (arch JSON included) would be wasted work.
    if all(getattr(result, k) == v for k, v in fields.items()):
        return result
    out = copy.copy(result)
    for key, value in fields.items():
        object.__setattr__(out, key, value)
    return out


def _failed(arch: Arch, evaluator: Any, exc: BaseException, **fields: Any) -> Result:
    from nas.store import Result

    message = " ".join(f"{type(exc).__name__}: {exc}".split())
    return Result(
        space=arch.space,
        space_version=arch.version,
        arch=arch.to_json(),
        arch_id=arch.arch_id,
        dataset=str(getattr(evaluator, "dataset", None) or "unknown"),
        status="failed",
        error=message[:2000],
        **fields,
    )


def run_search(
    space: Space,
    strategy: Any,
    evaluator: Evaluator,
    *,
    budget: int | None = None,
    time_budget_s: float | None = None,
    store: ResultStore | None = None,
    seed: int = 0,
    run_id: str | None = None,
    progress: bool = True,
    flush_every: int = 1000,
    flush_interval_s: float = 10.0,
) -> SearchResult:
    """Run ``strategy`` against ``evaluator`` in this process until the budget is spent.

    Each step asks for one candidate, evaluates it, tells the strategy its metrics (see
    :func:`result_metrics`) and queues the result, stamped with ``run_id``, ``trial_id`` (the
    candidate id), ``seed`` and ``host``, for the store. An evaluator that raises (an
    ``EvaluationError``, a ``TrainingError`` or any other exception) yields a ``failed``
    result carrying the error text; the strategy is told ``"failed"`` and the search goes
    on. The search also ends when the strategy has nothing left to propose.

    Args:
        space: the searched space (used to name the run; the strategy holds its own).
        strategy: an ask/tell strategy from :mod:`nas.search`.
        evaluator: anything with ``dataset`` and ``evaluate(arch, *, seed, trial_id)``.
        budget: number of evaluations (failed ones count).
        time_budget_s: wall-clock seconds; no new evaluation starts after it.
        store: where results go, in batches of ``flush_every`` rows (or every
            ``flush_interval_s`` seconds, and always at the end).
        seed: passed to every evaluation and stored with it.
        run_id: stamped on every result (default: a new time-sortable id).
        progress: draw a ``rich`` bar when stderr is a terminal.

    Returns:
        A :class:`SearchResult` (Pareto front over the strategy's objectives, feasible
        under its constraints).

    Example:
        >>> from nas.bench import TabularEvaluator
        >>> from nas.search import get_strategy
        >>> from nas.space import get_space
        >>> space = get_space("nb201")
        >>> out = run_search(space, get_strategy("random", space, seed=0),
        ...                  TabularEvaluator("nb201-cifar10"), budget=20, progress=False)
        >>> len(out.results), out.best is not None
        (20, True)
    """
    if budget is not None and budget < 0:
        from nas.errors import EvaluationError

        raise EvaluationError(f"budget must be >= 0 evaluations (got {budget}).")
    run_id = run_id or new_run_id()
    host = socket.gethostname()
    front = ParetoFront(_objectives(strategy), _constraints(strategy))
    first_metric = front.objectives[0][0]
    buffer = _Buffer(store, max(1, flush_every), flush_interval_s)
    results: list[Result] = []
    seen: dict[str, tuple[dict[str, float] | None, str]] = {}
    duplicates = 0
    start = time.perf_counter()
    deadline = None if time_budget_s is None else start + time_budget_s
    try:
        show = progress and sys.stderr.isatty()
        with progress_bar(budget, "search", enabled=show) as advance:
            while budget is None or len(results) < budget:
                if deadline is not None and time.perf_counter() >= deadline:
                    break
                asked = strategy.ask(1)
                if not asked:
                    break  # the strategy (or a finite space) is exhausted
                candidate = asked[0]
                arch = candidate.arch
                known = seen.get(arch.arch_id)
                if known is not None:
                    # A strategy should never re-propose; if one does, answer from memory
                    # instead of paying for the same evaluation twice.
                    strategy.tell(candidate.candidate_id, known[0], status=known[1])
                    duplicates += 1
                    if duplicates >= _MAX_DUPLICATE_ASKS:
                        break
                    continue
                duplicates = 0
                stamp = {
                    "run_id": run_id,
                    "trial_id": candidate.candidate_id,
                    "seed": seed,
                    "host": host,
                }
                try:
                    result = evaluator.evaluate(arch, seed=seed, trial_id=candidate.candidate_id)
                    result = _stamp(result, **stamp)
                except Exception as exc:  # recorded, and the search goes on
                    result = _failed(arch, evaluator, exc, **stamp)
                metrics = result_metrics(result) if result.status == "ok" else None
                status = result.status if result.status in _TOLD_STATUSES else "failed"
                strategy.tell(candidate.candidate_id, metrics, status=status)
                seen[arch.arch_id] = (metrics, status)
                results.append(result)
                buffer.add(result)
                if metrics is not None:
                    front.add(result, metrics)
                if show:  # the best is looked up only when someone watches
                    best = front.best()
                    value = None if best is None else getattr(best, first_metric, None)
                    advance(
                        completed=len(results), note="" if value is None else f"best {value:.4g}"
                    )
    finally:
        buffer.flush()
    return SearchResult(
        results=results,
        best=front.best(),
        pareto=[item for item, _ in front.items()],
        wall_seconds=time.perf_counter() - start,
        run_id=run_id,
    )
