"""`run`: the one entry point of a search, whatever executes it (in-process or Ray Tune)."""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nas.errors import NasError, StoreError, describe_error
from nas.search._driver import (
    METRIC_COLUMNS,
    AskTell,
    Driver,
    Evaluator,
    SearchResult,
    arch_row,
    takes_argument,
)
from nas.search._state import RunState, StateError

if TYPE_CHECKING:
    from nas.space import Arch, Space
    from nas.store import Result, ResultStore

__all__ = ["FunctionEvaluator", "RayOptions", "new_run_id", "run", "saved_settings"]

Objective = Callable[["Arch"], "Mapping[str, Any]"]


@dataclass(frozen=True)
class RayOptions:
    """How ``executor="ray"`` runs trials (see ``nas.run``).

    Attributes:
        address: None starts Ray on this machine; ``"auto"``/``"host:port"`` joins a cluster.
        cpus_per_trial, gpus_per_trial: resources of each trial (fractions allowed).
        trial_resources: Ray custom resources each trial reserves (``{"trial_slot": 1}``):
            trials run only on nodes started with them (``ray start --resources``).
        max_concurrent: trials running at once.
        scheduler: ``"fifo"``, ``"asha"`` or ``"hyperband"`` (on ``val_accuracy``, max).
        max_failures: retries of a trial whose worker raised or died (-1: unlimited).
        max_epochs: the schedulers' ``max_t`` (default: an epochs override, else
            ``space.max_epochs()``).
        longest_first: with a cost estimate, start the last ``2 * max_concurrent`` trials of
            a budget longest first.
        storage: Ray Tune's trial files and the trials' weights (default ``RUN_DIR/tune``);
            on a multi-node cluster a path every node mounts or a URI (``s3://bucket/prefix``),
            else trials on other nodes keep no weights (their rows say why).
        dashboard: start Ray's dashboard with an embedded Ray (``ray[default]``; URL on stderr).
        loggers: Tune's ``"csv"``, ``"tensorboard"`` and ``"mlflow"`` loggers, fed from every
            per-epoch report, written under the Tune storage.
    """

    address: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    trial_resources: Mapping[str, float] | None = None
    max_concurrent: int = 2
    scheduler: str = "fifo"
    max_failures: int = 0
    max_epochs: int | None = None
    longest_first: bool = True
    storage: str | None = None
    dashboard: bool = False
    loggers: tuple[str, ...] = ()


class FunctionEvaluator:
    """A plain function ``arch -> {metric: value}`` as an evaluator.

    Metrics named like result columns (``val_accuracy``, ``test_accuracy``, ``val_loss``,
    ``params``, ``flops``, ``latency_ms``, ``train_seconds``) fill those columns; any other
    number goes to the row's ``extra`` JSON, and an objective may name it. A function that
    raises gives a ``failed`` row with the error, and the search goes on.

    Example:
        >>> import numpy as np
        >>> from nas.space import get_space
        >>> space = get_space("nb201")
        >>> ev = FunctionEvaluator(lambda arch: {"val_accuracy": 1.0, "score": 2.0})
        >>> r = ev.evaluate(space.sample(np.random.default_rng(0)), seed=0)
        >>> r.status, r.val_accuracy, r.extra
        ('ok', 1.0, '{"score":2.0}')
    """

    def __init__(self, function: Objective, *, dataset: str = "custom") -> None:
        if not callable(function):
            raise NasError(f"A function evaluator needs a callable (got {function!r}).")
        self.function = function
        self.dataset = dataset

    def evaluate(self, arch: Arch, *, seed: int, trial_id: str | None = None) -> Result:
        start = time.perf_counter()
        metrics = self.function(arch)
        seconds = time.perf_counter() - start
        if not isinstance(metrics, Mapping):
            raise NasError(
                f"The objective function returned {type(metrics).__name__}; return a mapping "
                f"of metric name -> number, e.g. {{'val_accuracy': 91.2}}."
            )
        columns: dict[str, Any] = {"train_seconds": seconds}  # unless the function says
        for name in set(METRIC_COLUMNS) & set(metrics):
            columns[name] = (int if name in ("params", "flops") else float)(metrics[name])
        extra = {str(k): v for k, v in metrics.items() if k not in METRIC_COLUMNS} or None
        return arch_row(
            arch, self.dataset, "ok", seed=seed, trial_id=trial_id, extra=extra, **columns
        )


def new_run_id(kind: str = "search") -> str:
    """``KIND-YYYYmmddTHHMMSS-xxxxxxxx``: sortable by time, unique across hosts."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{kind}-{stamp}-{uuid.uuid4().hex[:8]}"


def run(
    space: Space,
    strategy: AskTell | str,
    evaluator: Evaluator | Objective,
    *,
    executor: Literal["inprocess", "ray"] = "inprocess",
    budget: int | None = None,
    time_budget_s: float | None = None,
    trial_timeout_s: float | None = None,
    store: ResultStore | str | os.PathLike[str] | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    seed: int = 0,
    progress: bool = True,
    ray: RayOptions | None = None,
    export_best: bool = False,
    checkpoint_every: int | None = None,
    checkpoint_interval_s: float = 10.0,
    keep_checkpoints: int | None = 3,
    settings: Mapping[str, Any] | None = None,
) -> SearchResult:
    """Search ``space`` with ``strategy``, evaluating with ``evaluator``, on an executor.

    Both executors run the same :class:`~nas.search._driver.Driver`: ask -> dedupe (an
    isomorphic candidate is never evaluated twice; its row says ``reused``) -> dispatch ->
    store -> tell -> checkpoint. Every proposal is a row of the run, whose id is the run
    directory's name. A search killed at any moment continues with ``resume=True``: nothing
    stored is lost or repeated. Ctrl-C ends it with ``interrupted=True`` (resumable).

    Best and Pareto front follow one rule: among feasible ``ok`` results (every constraint
    met, bounds inclusive), a result is on the front when no other is at least as good on
    every objective and better on one, so ties are kept; a reused proposal stands for the
    trial it reused.

    Args:
        space: the searched space.
        strategy: an ask/tell strategy over ``space``, or a registered strategy name
            (built with ``seed``).
        evaluator: an :class:`~nas.search.Evaluator` (``TabularEvaluator``,
            ``TrainingEvaluator``) or a plain function ``arch -> {metric: value}``.
        executor: ``"inprocess"`` (this process, one evaluation at a time) or ``"ray"``
            (every evaluation a Ray Tune trial; see ``ray``).
        budget: proposals in all (resumed sessions included).
        time_budget_s: wall-clock seconds of the whole search; a trial whose estimated
            cost does not fit the time left is not started, one still running at the end is
            stopped (both stored ``cut``, with the epochs done).
        trial_timeout_s: wall-clock limit of one trial, past which it is stopped and stored
            ``timeout`` with the epochs it finished (Ray kills its actor; in-process its
            thread ends at its next epoch). Saved with the run; a resume keeps it.
        store: a ``ResultStore`` or its path/URI; None keeps rows in memory only.
        run_dir: where the state file (and Ray's files) live; its name is the run id.
            Default: none in-process (no resume); ``./nas-runs/RUN_ID`` on Ray.
        resume: continue the search saved in ``run_dir``.
        seed: the evaluation seed (and the strategy's, for a strategy name).
        progress: show progress on stderr.
        ray: Ray options (``executor="ray"`` only).
        export_best: export the best arch to ONNX next to the store (training searches).
        checkpoint_every: rows per checkpoint (default 1000 in-process, 1 on Ray).
        checkpoint_interval_s: at most this long between checkpoints of queued rows.
        keep_checkpoints: the best this-many trials keep their best-epoch weights (about 4
            bytes per parameter each; None: all); in-process under ``run_dir/weights``
            (none without a ``run_dir``), on Ray in Ray's checkpoint storage.
        settings: JSON values saved with a new run (the CLI saves its flags);
            :func:`saved_settings` reads them back.

    Returns:
        A :class:`~nas.search.SearchResult` over every row of the run.

    Example:
        >>> from nas.search import run
        >>> from nas.space import get_space
        >>> space = get_space("nb201")
        >>> def objective(arch):  # any function of the arch: here, smaller graphs score higher
        ...     return {"val_accuracy": -float(space.compile(arch).params)}
        >>> out = run(space, "random", objective, budget=20, progress=False)
        >>> out.proposed, out.best is not None
        (20, True)
    """
    if budget is not None and (type(budget) is not int or budget < 0):  # bool is no budget
        raise NasError(f"Expected budget to be an int >= 0 proposals or None (got {budget!r}).")
    for name, seconds in (("time_budget_s", time_budget_s), ("trial_timeout_s", trial_timeout_s)):
        if seconds is not None and not seconds > 0:
            raise NasError(f"Expected {name} > 0 seconds or None (got {seconds!r}).")
    if executor not in ("inprocess", "ray"):
        raise NasError(f"Unknown executor {executor!r}; use 'inprocess' or 'ray'.")
    if ray is not None and executor != "ray":
        raise NasError("ray=RayOptions(...) needs executor='ray'.")
    from nas.search._registry import get_strategy

    asker = get_strategy(strategy, space, seed=seed) if isinstance(strategy, str) else strategy
    if not isinstance(evaluator, Evaluator):
        evaluator = FunctionEvaluator(evaluator)
    options = ray or RayOptions()
    if executor == "ray":
        from nas.run._ray_search import check_options

        check_options(options)
    result_store = _open_store(store)
    if run_dir is None and resume:
        raise NasError("resume=True needs run_dir= (the run directory of the search).")
    run_id = new_run_id() if run_dir is None else Path(run_dir).name
    if run_dir is None and executor == "ray":
        run_dir = Path("nas-runs") / run_id
    run_path = None if run_dir is None else Path(run_dir).resolve()
    if run_path is not None and run_path.exists() and not run_path.is_dir():
        raise StateError(f"Run directory {str(run_path)!r} is a file; pass a directory.")
    new = RunState(
        run_id=run_id, space=space.name, dataset=str(evaluator.dataset),
        strategy_name=asker.name, seed=int(seed), strategy=asker.state_dict(),
        settings=dict(settings or {}), budget=budget, time_budget_s=time_budget_s,
        trial_timeout_s=trial_timeout_s,
    )  # fmt: skip
    state, resumed = _state(new, run_path, resume)
    if state.budget is None and state.time_budget_s is None and space.size() is None:
        raise NasError(f"Space {space.name!r} is infinite: give budget= or time_budget_s=.")
    every = checkpoint_every or (1 if executor == "ray" else 1000)
    window = 2 * options.max_concurrent if executor == "ray" and options.longest_first else 0
    driver = Driver(
        space, asker, evaluator, state, store=result_store, run_dir=run_path,
        checkpoint_every=every, checkpoint_interval_s=checkpoint_interval_s, tail_window=window,
        keep_checkpoints=keep_checkpoints,
    )  # fmt: skip
    if resumed:
        driver.resume()
    from nas._progress import progress_bar

    start, interrupted = time.perf_counter(), False
    show = progress and sys.stderr.isatty()
    try:
        with progress_bar(state.budget, "search", enabled=show) as advance:
            if show:  # the one progress display, whatever executes the search
                driver.on_result = lambda row: advance(
                    completed=len(driver.rows), note=_best_note(driver)
                )
            if executor == "ray":
                from nas.run._ray_search import run_on_ray

                assert run_path is not None  # set above for Ray
                run_on_ray(driver, evaluator, options, run_path, space)
            else:
                _run_here(driver, evaluator)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        driver.close(interrupted=interrupted)
    out = driver.outcome(time.perf_counter() - start, interrupted=interrupted)
    if run_path is not None:
        from nas.run._summary import write_summary

        onnx = write_summary(space, out, result_store, run_path, export_best=export_best)
        out = dataclasses.replace(out, onnx=onnx)
    return out


def _open_store(store: ResultStore | str | os.PathLike[str] | None) -> ResultStore | None:
    if store is None:
        return None
    from nas.store import ResultStore

    out = store if isinstance(store, ResultStore) else ResultStore(store)
    try:  # a store that cannot be created fails now, not at the first append after trials ran
        out.filesystem.create_dir(out.path, recursive=True)
    except OSError as exc:
        raise StoreError(
            f"Cannot create the result store {out.path!r} ({exc}); pass a directory you can write."
        ) from None
    return out


def _state(new: RunState, run_path: Path | None, resume: bool) -> tuple[RunState, bool]:
    """The saved state of ``run_path`` (resume) or ``new``; True when it was loaded."""
    saved = None if run_path is None else RunState.load(run_path, required=resume)
    if saved is not None and not resume:
        raise StateError(
            f"Run directory {str(run_path)!r} already holds a search; pass resume=True "
            f"(`--resume`) to continue it, or use another run directory."
        )
    if saved is not None and run_path is not None:
        found = (saved.space, saved.dataset, saved.strategy_name)
        wanted = (new.space, new.dataset, new.strategy_name)
        if found != wanted:
            raise StateError(
                f"Run directory {str(run_path)!r} holds a search of (space, dataset, strategy) "
                f"{found}, not {wanted}; pass the same ones, or another run directory."
            )
        for key in ("budget", "time_budget_s", "trial_timeout_s"):
            if getattr(new, key) is not None:  # a limit given again replaces the saved one
                setattr(saved, key, getattr(new, key))
        saved.save(run_path)  # the new limits hold even if this session runs nothing
        return saved, True
    if run_path is not None:
        new.save(run_path)
    return new, False


def _best_note(driver: Driver) -> str:
    best, first = driver.strategy.best(), driver.strategy.objectives[0]
    return "" if best is None else f"best {best[1].get(first.metric, math.nan):.4g}"


def saved_settings(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The settings a run was started with (``run(settings=...)``; the CLI's flags).

    Raises:
        StateError: ``run_dir`` holds no search state.
    """
    state = RunState.load(run_dir, required=True)  # a file holds none, too
    assert state is not None  # required=True raises instead
    return dict(state.settings)


def _run_here(driver: Driver, evaluator: Evaluator) -> None:
    """The in-process executor: evaluate each handed-out trial here, one at a time. Trials
    keep their best-epoch weights in ``run_dir/weights/TRIAL`` when the evaluator saves any
    (a ``checkpoint_dir`` argument, as ``TrainingEvaluator`` has)."""
    saves = driver.run_dir is not None and takes_argument(evaluator, "checkpoint_dir")
    epochs = takes_argument(evaluator, "on_epoch")
    while (trial := driver.next_trial()) is not None:
        kwargs: dict[str, Any] = {"seed": driver.state.seed, "trial_id": trial.candidate_id}
        if saves:
            kwargs["checkpoint_dir"] = Path(driver.run_dir or "") / "weights" / trial.candidate_id
        limit = driver.trial_limit()
        if limit is None:
            result = _evaluate(evaluator, trial.arch, driver.dataset, kwargs)
        else:
            result = _watched(evaluator, trial.arch, driver, kwargs, *limit, epochs=epochs)
        driver.complete(trial.candidate_id, result)


def _evaluate(evaluator: Evaluator, arch: Arch, dataset: str, kwargs: dict[str, Any]) -> Result:
    try:
        return evaluator.evaluate(arch, **kwargs)
    except Exception as exc:  # recorded, and the search goes on
        return arch_row(arch, dataset, "failed", error=describe_error(exc, limit=2000))


def _watched(
    evaluator: Evaluator, arch: Arch, driver: Driver, kwargs: dict[str, Any],
    limit: float, status: str, *, epochs: bool,
) -> Result:  # fmt: skip
    """Evaluate in a watched thread: past ``limit`` seconds the trial is given up and stored
    with ``status`` and its last epoch's partial result (Python cannot kill a thread: it is
    a daemon, told to stop at its next epoch). Meanwhile the elapsed time is saved."""
    partial: list[Result] = []
    done: list[Result] = []
    stop = threading.Event()

    def on_epoch(row: Result) -> None:
        if stop.is_set():
            raise TimeoutError("given up at the trial's time limit")  # the thread ends here
        partial[:] = [row]

    if epochs:
        kwargs["on_epoch"] = on_epoch
    thread = threading.Thread(
        target=lambda: done.append(_evaluate(evaluator, arch, driver.dataset, kwargs)),
        name=f"nas-trial-{kwargs['trial_id']}",
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + limit
    while thread.is_alive() and (left := deadline - time.monotonic()) > 0:
        thread.join(min(left, 1.0))
        driver.tick()
    if done:
        return done[0]
    stop.set()
    row = partial[0] if partial else arch_row(arch, driver.dataset, status, fidelity=0)
    why = "the trial timeout" if status == "timeout" else "the search's time budget"
    error = f"Stopped by {why} after {limit:.4g} s and {row.fidelity or 0} epoch(s)."
    return dataclasses.replace(row, status=status, error=error)
