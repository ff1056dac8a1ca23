"""`run_ray_search`: a search whose every evaluation is a Ray Tune trial."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.errors import NasError
from nas.run._driver import Driver
from nas.run._progress import SearchProgress
from nas.run._state import RunState, StateError
from nas.run._summary import export_best_onnx, write_summary
from nas.store import ResultStore

if TYPE_CHECKING:
    from nas.search.loop import SearchResult
    from nas.space import Space

__all__ = ["SCHEDULERS", "TUNE_ENV", "init_ray", "run_ray_search"]

_log = logging.getLogger("nas.run")

SCHEDULERS = ("fifo", "asha", "hyperband")

#: Tune settings for short trials on a small machine (read by Tune in the driver process).
#: Our callback stores every result, so Tune's own CSV/JSON/TensorBoard loggers only cost
#: time; the driver's state file, not Tune's experiment checkpoint, is what resumes a search,
#: so Tune checkpoints its experiment state rarely.
TUNE_ENV = {
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "TUNE_GLOBAL_CHECKPOINT_S": "300",
    "TUNE_RESULT_BUFFER_LENGTH": "1",  # every epoch reaches the scheduler as it happens
    "TUNE_WARN_THRESHOLD_S": "5",
    # The legacy console reporter at verbose=0 prints nothing; the new engine still prints an
    # experiment table. Our own progress display is the console output of a search.
    "RAY_AIR_NEW_OUTPUT": "0",
}

# A small object store: trials exchange kilobytes (configs and result rows), never datasets.
_OBJECT_STORE_BYTES = 200 * 2**20


@contextlib.contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# The address this driver's Ray node uses; set it to the --node-ip-address the cluster's nodes
# were started with when that is not the address Ray would detect (e.g. 127.0.0.1).
NODE_IP_ENV = "NAS_RAY_NODE_IP"


def init_ray(address: str | None = None, *, env_vars: Mapping[str, str] | None = None) -> bool:
    """Start Ray embedded (``address=None``) or join a cluster; False if Ray was running.

    Embedded Ray gets a small object store, no dashboard and no worker logs on the driver's
    console. Every worker of the job imports torch and the trainer when it starts (see
    ``nas.run._worker``), so the first trial on a worker does not pay for it. (Tune gives
    its trial actors a runtime environment of their own, so they always start new worker
    processes rather than taking the idle ones ``ray.init`` starts.)

    Args:
        address: None for a new Ray on this machine; ``"auto"``, ``"host:port"`` or
            ``"ray://host:10001"`` to join a running cluster.
        env_vars: environment variables for every worker of the job.
    """
    import ray

    if ray.is_initialized():
        return False
    runtime_env: dict[str, Any] = {"worker_process_setup_hook": "nas.run._worker.setup"}
    if env_vars:
        runtime_env["env_vars"] = dict(env_vars)
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.WARNING,
        "runtime_env": runtime_env,
    }
    if address is None:
        # "local" always starts a new Ray here, even when RAY_ADDRESS or a `ray start`
        # cluster exists: address=None must never run trials somewhere else by accident.
        # An embedded Ray serves this machine only, so it listens on loopback.
        kwargs.update(address="local", object_store_memory=_OBJECT_STORE_BYTES)
        kwargs["_node_ip_address"] = os.environ.get(NODE_IP_ENV, "127.0.0.1")
    else:
        kwargs["address"] = address
        if os.environ.get(NODE_IP_ENV):  # e.g. a cluster whose nodes were started on loopback
            kwargs["_node_ip_address"] = os.environ[NODE_IP_ENV]
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise NasError(
            f"Could not start or join Ray at address {address!r}: {exc}. Check the address "
            f"(`ray status` on the head node) and, with token authentication, that "
            f"RAY_AUTH_MODE=token and the cluster's RAY_AUTH_TOKEN are set here too."
        ) from None
    return True


def _scheduler(name: str, max_t: int) -> Any:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandScheduler

    from nas.run._tune import METRIC, TIME_ATTR

    if name == "fifo":
        return FIFOScheduler()
    if name == "asha":
        return ASHAScheduler(
            time_attr=TIME_ATTR, metric=METRIC, mode="max", max_t=max_t, grace_period=1
        )
    return HyperBandScheduler(time_attr=TIME_ATTR, metric=METRIC, mode="max", max_t=max_t)


def _check_arguments(
    space: Space,
    budget: int | None,
    time_budget_s: float | None,
    scheduler: str,
    cpus_per_trial: float,
    gpus_per_trial: float,
    max_concurrent: int,
    max_failures: int,
    resume: bool,
) -> None:
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, int) or budget < 1
    ):
        raise NasError(f"Expected budget to be an int >= 1 or None (got {budget!r}).")
    if time_budget_s is not None and not time_budget_s > 0:
        raise NasError(f"Expected time_budget_s > 0 or None (got {time_budget_s!r}).")
    if budget is None and time_budget_s is None and space.size() is None and not resume:
        # (a resumed search keeps the budgets it was saved with)
        raise NasError(
            f"Space {space.name!r} is infinite: give budget= (trials) or time_budget_s=."
        )
    if scheduler not in SCHEDULERS:
        raise NasError(f"Unknown scheduler {scheduler!r}; use one of {', '.join(SCHEDULERS)}.")
    if not cpus_per_trial > 0 or gpus_per_trial < 0:
        raise NasError(
            f"Expected cpus_per_trial > 0 and gpus_per_trial >= 0 (got {cpus_per_trial!r}, "
            f"{gpus_per_trial!r}); fractions such as 0.5 are allowed."
        )
    if max_concurrent < 1 or max_failures < -1:
        raise NasError(
            f"Expected max_concurrent >= 1 and max_failures >= -1 (got {max_concurrent!r}, "
            f"{max_failures!r})."
        )


def _load_or_create_state(
    space: Space,
    strategy: Any,
    evaluator: Any,
    store: ResultStore,
    run_dir: Path,
    *,
    resume: bool,
    budget: int | None,
    time_budget_s: float | None,
    seed: int,
    run_id: str | None,
) -> RunState:
    dataset = str(evaluator.dataset)
    if resume:
        state = Driver.resume_state(run_dir, strategy, store, space=space.name, dataset=dataset)
        if state is not None:
            if budget is not None:
                state.budget = budget
            if time_budget_s is not None:
                state.time_budget_s = time_budget_s
            state.save(run_dir)  # the new budgets hold even if this session runs nothing
            return state
        _log.info("No search state in %s; starting a new search there.", run_dir)
    elif RunState.load(run_dir) is not None:
        raise StateError(
            f"Run directory {str(run_dir)!r} already holds a search; pass resume=True "
            f"(`--resume`) to continue it, or use another run directory."
        )
    state = RunState(
        run_id=run_id or uuid.uuid4().hex[:12],
        space=space.name,
        dataset=dataset,
        budget=budget,
        seed=int(seed),
        strategy=strategy.state_dict(),
        time_budget_s=time_budget_s,
    )
    state.save(run_dir)
    return state


def _max_epochs(evaluator: Any, space: Space, max_epochs: int | None) -> int:
    if max_epochs is not None:
        return int(max_epochs)
    overrides = getattr(evaluator, "recipe_overrides", None) or {}
    if "epochs" in overrides:
        return int(overrides["epochs"])
    decision = space.decisions.get("recipe.epochs")
    values = getattr(decision, "choices", None) or getattr(decision, "values", None)
    with contextlib.suppress(TypeError, ValueError):
        if values:
            return int(max(values))
    high = getattr(decision, "high", None)
    return int(high) if high is not None else 100


def run_ray_search(
    space: Space,
    strategy: Any,
    evaluator: Any,
    *,
    budget: int | None = None,
    time_budget_s: float | None = None,
    store: ResultStore | str | os.PathLike[str],
    seed: int = 0,
    run_dir: str | os.PathLike[str],
    resume: bool = False,
    address: str | None = None,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    trial_resources: Mapping[str, float] | None = None,
    max_concurrent: int = 2,
    scheduler: str = "fifo",
    max_failures: int = 0,
    progress: bool = True,
    run_id: str | None = None,
    max_epochs: int | None = None,
    export_best: bool = True,
    longest_first: bool = True,
) -> SearchResult:
    """Run a search on Ray Tune: every evaluation is a trial; results go to ``store``.

    Ray starts embedded on this machine (``address=None``) or joins a cluster. The strategy
    is adapted to Tune's ``Searcher`` interface; each trial runs ``evaluator.evaluate`` with
    ``cpus_per_trial``/``gpus_per_trial`` (fractions allowed), at most ``max_concurrent`` at
    a time, reporting every epoch so ``scheduler="asha"``/``"hyperband"`` can stop bad
    trials early. The driver stores each finished trial (per-epoch curves, host, node and
    trial ids) through a Tune callback, tells the strategy, and saves its state to
    ``run_dir`` after every ask and tell. A trial that raises, diverges or runs out of time
    is stored with its status and reason and the search goes on (``max_failures`` retries a
    trial whose worker raised or died first).

    After a crash, ``resume=True`` with the same ``run_dir`` and store continues the same
    search: the strategy's state is restored, results stored but not yet told are told,
    unfinished trials run again, and the budget counts what is already stored.

    Args:
        space: the search space.
        strategy: an ask/tell ``nas.search.Strategy`` over ``space``.
        evaluator: turns an arch into a `Result` (``TrainingEvaluator``, ``TabularEvaluator``);
            it is pickled to the workers.
        budget: total number of trials (resumed sessions included); None for no limit.
        time_budget_s: wall-clock limit of the search (resumed sessions included; on resume,
            None keeps the saved limit).
        store: a `ResultStore` or its path/URI (shared storage on a cluster).
        seed: training seed of every trial.
        run_dir: local directory for the search state, Tune's files and the summary.
        resume: continue the search saved in ``run_dir``.
        address: None (embedded Ray) or a cluster address.
        cpus_per_trial: CPUs reserved per trial.
        gpus_per_trial: GPUs reserved per trial.
        trial_resources: Ray custom resources reserved per trial (``{"trial_slot": 1}``):
            trials run only on nodes started with them (``ray start --resources``).
        max_concurrent: trials running at once.
        scheduler: ``"fifo"``, ``"asha"`` or ``"hyperband"`` (on ``val_accuracy``, max).
        max_failures: retries of a trial whose worker raised or died (-1: unlimited).
        progress: show live progress and the final summary on stderr.
        run_id: id stored on every row (default: a new random id; a resumed run keeps its own).
        max_epochs: the schedulers' ``max_t`` (default: the recipe's largest epoch count).
        export_best: export the best arch to ONNX next to the store.
        longest_first: with a trial budget and an evaluator that estimates training cost
            (``estimate_cost``), propose the last ``2 * max_concurrent`` trials together and
            start them longest first, so the search does not end with one long trial running
            alone while the other slots sit idle.

    Returns:
        A ``nas.search.loop.SearchResult`` over every result of this run (resumed sessions
        included).

    Example:
        >>> from nas.search import get_strategy
        >>> from nas.space import get_space
        >>> space = get_space("cnn1d")
        >>> result = run_ray_search(  # doctest: +SKIP
        ...     space, get_strategy("random", space), TrainingEvaluator(space, "mnist1d"),
        ...     budget=8, store="runs/demo/store", run_dir="runs/demo")
    """
    from nas.search.loop import SearchResult

    _check_arguments(
        space, budget, time_budget_s, scheduler, cpus_per_trial, gpus_per_trial,
        max_concurrent, max_failures, resume,
    )  # fmt: skip
    extra = dict(trial_resources or {})
    bad = [k for k, v in extra.items() if not (isinstance(v, int | float) and v > 0)]
    if bad:
        raise NasError(f"Expected trial_resources[{bad[0]!r}] > 0 (got {trial_resources!r}).")
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    run_path = Path(run_dir).resolve()
    run_path.mkdir(parents=True, exist_ok=True)
    state = _load_or_create_state(
        space, strategy, evaluator, store, run_path,
        resume=resume, budget=budget, time_budget_s=time_budget_s, seed=seed, run_id=run_id,
    )  # fmt: skip
    before = Driver.stored_results(store, state.run_id)
    # The time budget covers the whole search: earlier sessions of a resumed run count.
    time_left = (
        None if state.time_budget_s is None else max(0.0, state.time_budget_s - state.elapsed_s)
    )
    live = SearchProgress(
        state.budget,
        time_budget_s=time_left,
        concurrency=max_concurrent,
        enabled=progress,
        done=len(state.told),
        failed=sum(r.status != "ok" for r in before),
    )
    cost = getattr(evaluator, "estimate_cost", None) if longest_first else None
    driver = Driver(
        space, strategy, str(evaluator.dataset), store, run_path, state, live,
        cost=cost if callable(cost) else None, tail_window=2 * max_concurrent,
    )  # fmt: skip
    start = time.perf_counter()
    to_run = 0 if time_left == 0 else driver.trials_to_run()
    if to_run != 0:
        env = {"NAS_CACHE_DIR": os.environ.get("NAS_CACHE_DIR", str(run_path / "cache"))}
        prepare = getattr(evaluator, "prepare", None)
        if callable(prepare):
            # Load (or generate) the data once here, filling the on-disk cache the workers
            # read, instead of in every worker at once; a bad dataset fails here, early.
            with _environ(env):
                prepare()
        started = init_ray(address, env_vars=env)
        live.start()
        try:
            _fit(driver, evaluator, run_path, to_run, time_left, cpus_per_trial,
                 gpus_per_trial, max_concurrent, _scheduler(scheduler, _max_epochs(
                     evaluator, space, max_epochs)), max_failures,
                 extra)  # fmt: skip
        finally:
            live.close()
            if started:
                import ray

                ray.shutdown()
    results = Driver.stored_results(store, state.run_id)
    by_candidate = {(r.extra_dict() or {}).get("candidate_id"): r for r in results}
    best_pair = strategy.best()
    best = None if best_pair is None else by_candidate.get(best_pair[0].candidate_id)
    pareto = [by_candidate[c.candidate_id] for c, _ in strategy.pareto_front()
              if c.candidate_id in by_candidate]  # fmt: skip
    onnx = export_best_onnx(space, best, store, run_path) if (best and export_best) else None
    counts = dict(Counter(r.status for r in results))
    write_summary(run_path, best, counts, onnx, sys.stderr if progress else None)
    return SearchResult(
        results=results,
        best=best,
        pareto=pareto,
        wall_seconds=time.perf_counter() - start,
        run_id=state.run_id,
    )


def _fit(
    driver: Driver,
    evaluator: Any,
    run_path: Path,
    to_run: int | None,
    time_budget_s: float | None,
    cpus_per_trial: float,
    gpus_per_trial: float,
    max_concurrent: int,
    scheduler: Any,
    max_failures: int,
    trial_resources: dict[str, float],
) -> None:
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter

    from nas.run._tune import StoreCallback, StrategySearcher, run_trial

    threads = max(1, int(cpus_per_trial))
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, evaluator=evaluator, threads=threads),
        {**trial_resources, "cpu": cpus_per_trial, "gpu": gpus_per_trial},
    )
    searcher = ConcurrencyLimiter(StrategySearcher(driver), max_concurrent=max_concurrent)
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=-1 if to_run is None else to_run,
            time_budget_s=time_budget_s,
            # One actor per concurrent slot for the whole search: no process start, no
            # torch import, no placement-group round trip per trial.
            reuse_actors=True,
            trial_name_creator=_trial_name,
            trial_dirname_creator=_trial_name,
        ),
        run_config=tune.RunConfig(
            name=f"tune-{int(time.time())}",
            storage_path=str(run_path / "tune"),
            failure_config=tune.FailureConfig(max_failures=max_failures),
            checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False, num_to_keep=1),
            callbacks=[StoreCallback(driver)],
            verbose=0,
            log_to_file=False,
        ),
    )
    # Tune's result grid reads the CSV/JSON loggers we turn off; its warning is noise.
    analysis_log = logging.getLogger("ray.tune.analysis.experiment_analysis")
    level = analysis_log.level
    analysis_log.setLevel(logging.ERROR)
    try:
        with _environ(TUNE_ENV):
            tuner.fit()
    finally:
        analysis_log.setLevel(level)


def _trial_name(trial: Any) -> str:
    return f"trial_{trial.trial_id}"
