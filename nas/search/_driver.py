"""The one driver of every search: ask -> dedupe -> dispatch -> store -> tell -> checkpoint.

An executor (in-process, or Ray Tune) calls :meth:`Driver.next_trial` for the next arch and
:meth:`Driver.complete` with its result; everything else happens here. A proposal whose arch,
or IR graph with the same recipe, was already evaluated in this run (``ok`` or ``diverged``:
outcomes a second trial would repeat) is told the known result and stored ``reused``, naming
that trial; a twin of a running trial waits for it. A checkpoint appends the queued rows (one
atomic Parquet file), then rewrites ``search_state.json``: rows land before the state that
counts them, so a resume tells stored rows the state missed and re-runs unfinished proposals.
"""

from __future__ import annotations

import inspect
import json
import math
import socket
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from nas.search._base import Candidate
from nas.search._record import run_record, trial_record
from nas.search._state import RunState
from nas.search._status import tell_status

if TYPE_CHECKING:
    from nas.search._base import Objective
    from nas.space import Arch, Space
    from nas.store import Result, ResultStore

__all__ = ["METRIC_COLUMNS", "AskTell", "Driver", "Evaluator", "SearchResult"]

# Outcomes a second trial of the same graph, recipe and seed would repeat; a failure (a lost
# worker, a full disk) or a timeout may not recur, so its twins get a trial of their own.
_REUSABLE = frozenset({"ok", "diverged"})
_HEARTBEAT_S = 2.0  # while a trial runs, the elapsed time is saved at least this often
_KEY_JSON = json.JSONEncoder(sort_keys=True, default=str).encode  # built once, not per arch

# Result columns handed to the strategy as metrics (objectives and constraints name them).
METRIC_COLUMNS = (
    "val_accuracy", "test_accuracy", "val_loss", "params", "flops", "latency_ms", "train_seconds",
)  # fmt: skip


@runtime_checkable
class Evaluator(Protocol):
    """Turns an arch into a :class:`~nas.store.Result` (tabular lookup, training, a function).

    It may also offer ``graph_hash(arch) -> str | None`` (cheaper than compiling) and
    ``estimate_cost(arch) -> float`` (a relative training cost, used to order the last
    trials and to size them to a time budget).
    """

    dataset: str

    def evaluate(self, arch: Arch, *, seed: int, trial_id: str | None = None) -> Result: ...


@runtime_checkable
class AskTell(Protocol):
    """What the driver needs of a strategy (every :class:`~nas.search.Strategy` is one)."""

    objectives: tuple[Objective, ...]

    @property
    def name(self) -> str: ...

    def ask(self, n: int = 1) -> list[Candidate]: ...

    def tell(
        self, candidate_id: str, metrics: Mapping[str, float] | None, *, status: str = "ok"
    ) -> None: ...

    def best(self) -> tuple[Candidate, dict[str, float]] | None: ...

    def pareto_front(self) -> list[tuple[Candidate, dict[str, float]]]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class SearchResult:
    """What a search returns.

    Attributes:
        results: every row of the run, in proposal order (failed, cut and reused included).
        best: the best feasible ``ok`` result by the first objective (None if there is none).
        pareto: the feasible results no other dominates (see :func:`nas.search.run`).
        wall_seconds: time this session took.
        run_id: the run's id (the run directory's name), stamped on every row.
        trained: evaluations actually run (``proposed``, the rows, minus reused and unstarted).
        interrupted: the search was stopped by Ctrl-C (resume it from its run directory).
        run_dir: where the state file lives (None without one).
        onnx: the best arch's ONNX file (``export_best=True``), else None.
    """

    results: list[Result]
    best: Result | None
    pareto: list[Result]
    wall_seconds: float
    run_id: str
    trained: int = 0
    interrupted: bool = False
    run_dir: Path | None = None
    onnx: Path | None = None

    @property
    def proposed(self) -> int:
        """Proposals of the run: one row each."""
        return len(self.results)


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
    metrics = {n: float(v) for n in METRIC_COLUMNS if (v := getattr(result, n)) is not None}
    for key, value in json.loads(str(result.extra or "{}")).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            metrics.setdefault(key, float(value))
    return metrics


class Driver:
    """Drives one search run (see the module docstring for the order of its steps).

    Args:
        space, strategy: the searched space and an ask/tell strategy over it.
        evaluator: names the rows (``dataset``); its optional ``graph_hash`` and
            ``estimate_cost`` are used here, never ``evaluate``.
        state: a fresh or a loaded :class:`RunState`.
        store: where rows go (None: kept in memory only).
        run_dir: where the state file lives (None: no checkpoints, no resume).
        checkpoint_every: rows queued before a checkpoint (1: after every result).
        checkpoint_interval_s: seconds after which any queued row triggers a checkpoint.
        tail_window: with a cost estimate, the last this-many proposals of a budget are
            asked together and handed out longest first (0: off).
        keep_checkpoints: trained rows whose weights (the ``checkpoint`` column) stay on
            disk, the best this-many by the first objective (None: keep all).
    """

    def __init__(
        self,
        space: Space,
        strategy: AskTell,
        evaluator: Evaluator,
        state: RunState,
        *,
        store: ResultStore | None = None,
        run_dir: Path | None = None,
        checkpoint_every: int = 1,
        checkpoint_interval_s: float = 0.0,
        tail_window: int = 0,
        keep_checkpoints: int | None = 3,
    ) -> None:
        from nas.train import CheckpointKeeper

        self.space, self.strategy, self.state = space, strategy, state
        self.keeper = CheckpointKeeper(keep_checkpoints)
        self.store, self.run_dir = store, run_dir
        self.dataset = str(evaluator.dataset)
        self.every, self.interval_s = max(1, checkpoint_every), checkpoint_interval_s
        self.on_result: Callable[[Result], None] | None = None  # sees every new row
        self._hash = _method(evaluator, "graph_hash")
        self.cost: Callable[[Arch], float] | None = _method(evaluator, "estimate_cost")
        self.tail_window = tail_window if self.cost is not None else 0
        self.host = socket.gethostname()
        self.run_record = run_record(strategy, space, evaluator, state.settings)
        self.rows: dict[str, Result] = {}  # candidate id -> its row, in proposal order
        self._queued: list[Result] = []
        self._last_checkpoint = time.monotonic()
        self._keys: dict[str, tuple[str, str]] = {}  # arch_id -> (graph key, graph_hash)
        self._done: dict[str, str] = {}  # graph key -> candidate id of its evaluated row
        self._parked: dict[str, list[str]] = {}  # graph key being evaluated -> its waiting twins
        self._queue: list[str] = []  # asked (or re-run) candidates not yet handed out
        self._archs: dict[str, Arch] = {}
        self._metrics: dict[str, dict[str, float]] = {}  # candidate id -> metrics of its row
        self._records: dict[str, str] = {}  # device -> the record JSON of this run's rows
        self._replay: dict[str, Result] = {}  # stored rows of proposals the state lost
        self._session_start = time.monotonic()
        self._elapsed_before = state.elapsed_s
        self._sec_per_cost: list[float] = []
        self._out_of_time = False  # the time budget is spent, or the next trial would not fit

    def resume(self) -> None:
        """Restore the strategy and re-tell rows stored after the last checkpoint."""
        from nas.space import Arch

        if self.state.strategy:
            self.strategy.load_state_dict(self.state.strategy)
        stored: list[Result] = []
        if self.store is not None and self.store.is_present():
            import pyarrow.compute as pc

            stored = self.store.results(pc.field("run_id") == self.state.run_id)
        by_candidate = {r.candidate_id: r for r in stored}
        told = set(self.state.told)
        for row in sorted(stored, key=lambda r: r.candidate_id or ""):
            cid = row.candidate_id or ""
            if cid not in self.state.proposals:  # asked after the last checkpoint
                self._replay[cid] = row  # answered if the strategy asks it again
                continue
            self.rows[cid] = row
            self._archs[cid] = Arch.from_json(row.arch)
            if row.status in _REUSABLE:
                self._done[self._key(self._archs[cid], row.graph_hash)] = cid
            if cid not in told:  # stored, then the driver died before the tell
                self._tell(cid, by_candidate.get(row.reused_from, row))
                self.state.told.append(cid)
            self._keep_weights(row)
        for cid in self.state.pending():
            self._archs[cid] = Arch.from_json(self.state.proposals[cid])
            self._queue.append(cid)

    def elapsed(self) -> float:
        """Wall seconds of the whole run, earlier sessions included."""
        return self._elapsed_before + time.monotonic() - self._session_start

    def time_left(self) -> float | None:
        budget = self.state.time_budget_s
        return None if budget is None else budget - self.elapsed()

    def trial_limit(self) -> tuple[float, str] | None:
        """How long the next trial may run, and its status past that: ``timeout`` (the
        run's trial timeout) or ``cut`` (the time budget's end). None: no limit."""
        left, cap = self.time_left(), self.state.trial_timeout_s
        if cap is not None and (left is None or cap <= left):
            return cap, "timeout"
        return None if left is None else (max(left, 0.0), "cut")

    def remaining(self) -> int | None:
        """Proposals still to make (None: no proposal budget)."""
        budget = self.state.budget
        return None if budget is None else max(0, budget - len(self.state.proposals))

    def trials_to_run(self) -> int | None:
        """At most this many trials are still to hand out (None: no proposal budget)."""
        left = self.remaining()
        return None if left is None else left + len(self._queue)

    def next_trial(self) -> Candidate | None:
        """The next arch to evaluate, or None when the budget, the time or the space is spent.

        Proposals answered from an earlier trial (dedupe), from a stored row (resume) or cut
        by the time budget are recorded here and never handed out.
        """
        while True:
            left = self.time_left()
            self._out_of_time = self._out_of_time or (left is not None and left <= 0)
            cid = None if self._out_of_time else self._queue.pop(0) if self._queue else self._ask()
            if cid is None:
                return None
            arch = self._archs[cid]
            key = self._key(arch, None)
            replayed = self._replay.pop(cid, None)
            if replayed is not None and replayed.arch_id == arch.arch_id:  # stored already
                source = self.rows.get(replayed.reused_from or "")
                self._record(cid, replayed, store=False, told_as=source)
                if replayed.status in _REUSABLE:
                    self._done[key] = cid
            elif key in self._done:
                self._reuse(cid, self._done[key])
            elif key in self._parked:
                self._parked[key].append(cid)
            elif not self._fits(arch, left):  # nor, most likely, would the next: stop here
                self._cut(cid, "Not started: its estimated training time exceeds the time left.")
                self._out_of_time = True
                return None
            else:
                self._parked[key] = []
                return Candidate(cid, arch)

    def _ask(self) -> str | None:
        left = self.remaining()
        # The last proposals of a budget are asked at once and handed out longest first, so
        # no executor slot sits idle at the end while one long trial finishes alone.
        batch = left if left is not None and 1 < left <= self.tail_window else 1
        candidates = self.strategy.ask(batch) if left != 0 else []
        if not candidates:
            return None
        for c in candidates:
            self.state.proposals[c.candidate_id] = c.arch.to_json()
            self._archs[c.candidate_id] = c.arch
        if len(candidates) > 1 and self.cost is not None:  # sorted is stable: ties keep order
            candidates.sort(key=lambda c: -(self._cost(c.arch) or -math.inf))
        self._queue.extend(c.candidate_id for c in candidates)
        self._maybe_checkpoint()
        return self._queue.pop(0)

    def _cost(self, arch: Arch) -> float | None:
        try:
            return None if self.cost is None else float(self.cost(arch))
        except Exception:  # an estimate must never stop the search
            return None

    def _fits(self, arch: Arch, left: float | None) -> bool:
        """Whether ``arch`` is expected to finish in the time left (unknown: it fits)."""
        if left is None or not self._sec_per_cost:
            return True
        cost = self._cost(arch)
        return cost is None or cost * statistics.median_high(self._sec_per_cost) <= left

    def _key(self, arch: Arch, graph_hash: str | None) -> str:
        """The dedupe key of ``arch``: its graph and recipe (its arch_id if it does not compile)."""
        if arch.arch_id not in self._keys:
            try:
                graph_hash = graph_hash or (self._hash(arch) if self._hash else None)
                graph_hash = graph_hash or self.space.compile(arch).graph_hash()
                recipe = _KEY_JSON(self.space.recipe(arch))
                self._keys[arch.arch_id] = (f"{graph_hash}|{recipe}", graph_hash)
            except Exception:  # an arch that does not compile fails in its evaluation, once
                self._keys[arch.arch_id] = (f"arch:{arch.arch_id}", "")
        return self._keys[arch.arch_id][0]

    def _ids(self, candidate_id: str) -> dict[str, Any]:
        """The bookkeeping fields of a row of this run."""
        state = self.state
        return {"run_id": state.run_id, "candidate_id": candidate_id, "trial_id": candidate_id,
                "strategy": state.strategy_name, "seed": state.seed}  # fmt: skip

    def complete(self, candidate_id: str, result: Result, *, trial_id: str | None = None) -> None:
        """Store, tell and (when due) checkpoint the result of a handed-out trial."""
        arch = self._archs[candidate_id]
        key = self._key(arch, None)
        twins = self._parked.pop(key, [])
        ids = {**self._ids(candidate_id), "trial_id": trial_id or result.trial_id or candidate_id}
        graph_hash = result.graph_hash or self._keys[arch.arch_id][1] or None
        row = _stamp(result, **ids, host=result.host or self.host, graph_hash=graph_hash)
        self._record(candidate_id, row)
        self._keep_weights(row)
        if row.status not in _REUSABLE:  # its twins still need a trial of their own
            self._queue[:0] = twins
            return
        self._done[key] = candidate_id
        cost = self._cost(arch) if row.train_seconds else None
        if cost:
            self._sec_per_cost.append(float(row.train_seconds or 0.0) / cost)
        for twin in twins:
            self._reuse(twin, candidate_id)

    def _keep_weights(self, row: Result) -> None:
        """Rank a trained row's weights; those out of the run's top ``keep_checkpoints`` go."""
        if not row.checkpoint:
            return
        metrics = result_metrics(row)
        first = self.strategy.objectives[0]
        value = metrics.get(first.metric, math.nan)
        check = getattr(self.strategy, "is_feasible", None)  # constraints, when it has any
        feasible = row.status == "ok" and (check is None or bool(check(metrics)))
        score = first.sign * value if math.isfinite(value) else -math.inf
        self.keeper.offer(row.checkpoint, (row.status == "ok", feasible, score))

    def _reuse(self, candidate_id: str, source: str) -> None:
        arch, known = self._archs[candidate_id], self.rows[source]
        row = _stamp(
            known, arch=arch.to_json(), arch_id=arch.arch_id, candidate_id=candidate_id,
            trial_id=candidate_id, status="reused", reused_from=source, train_seconds=0.0,
            epoch_seconds=None, checkpoint=None,
        )  # fmt: skip
        self._record(candidate_id, row, told_as=known)

    def _cut(self, candidate_id: str, reason: str) -> None:
        row = arch_row(
            self._archs[candidate_id], self.dataset, "cut", error=reason, fidelity=0,
            host=self.host, **self._ids(candidate_id),
        )  # fmt: skip
        self._record(candidate_id, row)

    def _record(
        self, candidate_id: str, row: Result, *, store: bool = True, told_as: Result | None = None
    ) -> None:
        if row.record is None:  # a row the driver made or copied: its record is set in place
            record = trial_record(self.run_record, row.extra)
            device = record["device"]  # one encoding per device: the rest is the run's
            if device not in self._records:
                self._records[device] = json.dumps(record, sort_keys=True, separators=(",", ":"))
            object.__setattr__(row, "record", self._records[device])
        self.rows[candidate_id] = row
        if store and self.store is not None:
            self._queued.append(row)
        self._tell(candidate_id, told_as or row)
        self.state.told.append(candidate_id)
        if self.on_result is not None:
            self.on_result(row)
        self._maybe_checkpoint()

    def _tell(self, candidate_id: str, row: Result) -> None:
        source = row.candidate_id or candidate_id  # a reused row: its source's, parsed once
        metrics = self._metrics[source] = self._metrics.get(source) or result_metrics(row)
        self.strategy.tell(candidate_id, metrics or None, status=tell_status(row.status))

    def _maybe_checkpoint(self) -> None:
        since = time.monotonic() - self._last_checkpoint
        if len(self._queued) >= self.every or since >= self.interval_s:
            self.checkpoint()

    def tick(self) -> None:
        """Called by an executor while trials run: the run's elapsed time reaches the state
        file every few seconds, so a time budget holds across a kill and a resume."""
        if time.monotonic() - self._last_checkpoint >= min(self.interval_s, _HEARTBEAT_S):
            self.checkpoint()

    def checkpoint(self) -> None:
        """Append the queued rows (one file), then save the state that counts them."""
        if self._queued and self.store is not None:
            self.store.append(self._queued)
        self._queued = []
        if self.run_dir is not None:
            self.state.strategy = self.strategy.state_dict()
            self.state.elapsed_s = round(self.elapsed(), 3)
            self.state.save(self.run_dir)
        self._last_checkpoint = time.monotonic()

    def close(self, *, interrupted: bool) -> None:
        """End the session: when its time is spent, every proposal it did not finish (never
        started, waiting for a twin, or abandoned by the executor) is stored ``cut``."""
        left = self.time_left()
        if not interrupted and (self._out_of_time or (left is not None and left <= 0)):
            for cid in self.state.pending():
                self._cut(cid, "Not run to the end: the search's time budget ran out.")
            self._queue, self._parked = [], {}
        self.checkpoint()

    def outcome(self, wall_seconds: float, *, interrupted: bool) -> SearchResult:
        """The run's rows, best and Pareto front (reused proposals stand for their source)."""
        rows = [self.rows[c] for c in sorted(self.rows)]

        def source(candidate: Candidate) -> Result | None:
            row = self.rows.get(candidate.candidate_id)
            return self.rows.get(row.reused_from or "", row) if row is not None else None

        best = self.strategy.best()
        pareto = {
            r.candidate_id: r
            for c, _ in self.strategy.pareto_front()
            if (r := source(c)) is not None
        }
        return SearchResult(
            results=rows,
            best=None if best is None else source(best[0]),
            pareto=list(pareto.values()),
            wall_seconds=wall_seconds,
            run_id=self.state.run_id,
            trained=sum(
                r.status != "reused" and (r.status != "cut" or bool(r.fidelity)) for r in rows
            ),
            interrupted=interrupted,
            run_dir=self.run_dir,
        )


def _stamp(result: Result, **fields: Any) -> Result:
    # A shallow copy with bookkeeping fields set: the values are plain and canonical already,
    # so re-validating the whole row (arch JSON included) would be wasted work per query.
    out = object.__new__(type(result))
    out.__dict__.update(result.__dict__, **fields)
    return out


def arch_row(arch: Arch, dataset: str, status: str, **fields: Any) -> Result:
    """A row of ``arch`` with ``status`` and only the given fields (no evaluation ran)."""
    from nas.store import Result

    return Result(
        space=arch.space, space_version=arch.version, arch=arch.to_json(),
        arch_id=arch.arch_id, dataset=dataset, status=status, **fields,
    )  # fmt: skip


def _method(obj: Any, name: str) -> Callable[..., Any] | None:
    found = getattr(obj, name, None)
    return found if callable(found) else None


def takes_argument(evaluator: Any, argument: str) -> bool:
    """Whether ``evaluator.evaluate`` takes ``argument`` (``on_epoch``, ``checkpoint_dir``)."""
    try:
        return argument in inspect.signature(evaluator.evaluate).parameters
    except (TypeError, ValueError):
        return False
