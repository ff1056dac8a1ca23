"""The Ray executor of ``nas.search.run``: every evaluation is a Ray Tune trial.

The search's one driver (``nas.search._driver.Driver``) hands out trials through a Tune
``Searcher`` and completes them from a Tune callback (``nas.run._tune``); this module checks
the Ray options, picks the scheduler and runs the search's Tuner through the project's one
Ray set-up (``nas._ray``: :func:`init_ray`, :func:`tune_run`), and nothing else.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

from nas._ray import init_ray, tune_run
from nas.errors import NasError

if TYPE_CHECKING:
    from nas.search import RayOptions
    from nas.search._driver import Driver, Evaluator
    from nas.space import Space

__all__ = ["SCHEDULERS", "check_options", "run_on_ray"]

SCHEDULERS = ("fifo", "asha", "hyperband")


def check_fits(options: RayOptions) -> None:
    """A trial no node of the running Ray can hold is refused, instead of waiting forever."""
    import ray

    wanted = {"CPU": options.cpus_per_trial, "GPU": options.gpus_per_trial}
    wanted.update(options.trial_resources or {})
    nodes: list[dict[str, float]] = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if any(all(node.get(k, 0.0) >= v for k, v in wanted.items() if v) for node in nodes):
        return
    largest = max(nodes, key=lambda n: (n.get("GPU", 0.0), n.get("CPU", 0.0)), default={})
    offer = {k: largest.get(k, 0.0) for k in wanted}
    raise NasError(
        f"No node of the Ray cluster can run a trial that needs {wanted} (the largest node "
        f"offers {offer}); lower --cpus-per-trial/--gpus-per-trial, or add a node with them."
    )


def _scheduler(space: Space, evaluator: Evaluator, options: RayOptions) -> Any:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandScheduler

    from nas.run._tune import METRIC, TIME_ATTR

    if options.scheduler == "fifo":
        return FIFOScheduler()
    scheduler = ASHAScheduler if options.scheduler == "asha" else HyperBandScheduler
    max_t = max_epochs(space, evaluator, options)
    return scheduler(time_attr=TIME_ATTR, metric=METRIC, mode="max", max_t=max_t)


def check_options(options: RayOptions) -> None:
    """One line naming a bad Ray option (checked before a run directory is written)."""
    if options.scheduler not in SCHEDULERS:
        raise NasError(
            f"Unknown scheduler {options.scheduler!r}; use one of {', '.join(SCHEDULERS)}."
        )
    cpus, gpus = options.cpus_per_trial, options.gpus_per_trial
    finite = all(isinstance(v, int | float) and math.isfinite(v) for v in (cpus, gpus))
    if not (finite and cpus > 0 and gpus >= 0) or any(v > 1 and v % 1 for v in (cpus, gpus)):
        raise NasError(
            f"Expected cpus_per_trial > 0 and gpus_per_trial >= 0, whole numbers above 1 "
            f"(got {cpus!r}, {gpus!r}); fractions such as 0.5 are allowed below 1."
        )
    extra = dict(options.trial_resources or {})
    bad = [k for k, v in extra.items() if not (isinstance(v, int | float) and v > 0)]
    if bad:
        raise NasError(f"Expected trial_resources[{bad[0]!r}] > 0 (got {extra!r}).")
    check_loggers(options.loggers)
    if options.dashboard and options.address is None and (missing := dashboard_missing()):
        raise NasError(
            f"--dashboard needs Ray's dashboard, and {missing} is not installed: "
            f"pip install 'ray[default]' (the extra that installs the dashboard)."
        )
    if options.max_concurrent < 1 or options.max_failures < -1:
        raise NasError(
            f"Expected max_concurrent >= 1 and max_failures >= -1 (got "
            f"{options.max_concurrent!r}, {options.max_failures!r})."
        )


#: What Ray's dashboard imports beyond Ray itself (the libraries ``ray[default]`` adds).
DASHBOARD_MODULES = ("aiohttp", "aiohttp_cors", "grpc", "opencensus", "prometheus_client")


def dashboard_missing() -> str | None:
    """The first library Ray's dashboard needs that is not installed here, or None."""
    return next((m for m in DASHBOARD_MODULES if importlib.util.find_spec(m) is None), None)


#: Tune's logger callbacks by name, and the library each needs beyond Ray.
LOGGERS = {"csv": None, "tensorboard": "tensorboardX", "mlflow": "mlflow"}


def check_loggers(names: Sequence[str]) -> None:
    """One line naming an unknown Tune logger, or one whose library is not installed."""
    for name in names:
        if name not in LOGGERS:
            raise NasError(f"Unknown Tune logger {name!r}; use some of {', '.join(LOGGERS)}.")
        module = LOGGERS[name]
        if module and importlib.util.find_spec(module) is None:
            raise NasError(f"The {name} logger needs {module}: pip install {module}.")


def logger_callbacks(names: Sequence[str]) -> list[Any]:
    """Tune's logger callbacks for ``names`` (see :data:`LOGGERS`)."""
    from ray.air.integrations.mlflow import MLflowLoggerCallback
    from ray.tune.logger import CSVLoggerCallback, TBXLoggerCallback

    make = {
        "csv": CSVLoggerCallback,
        "tensorboard": TBXLoggerCallback,
        "mlflow": lambda: MLflowLoggerCallback(experiment_name="nas"),
    }
    return [make[name]() for name in names]


def max_epochs(space: Space, evaluator: Any, options: RayOptions) -> int:
    """The schedulers' ``max_t``: the option, the evaluator's epoch override, else
    ``space.max_epochs()`` (the largest epoch count the space's recipe can take)."""
    if options.max_epochs is not None:
        return int(options.max_epochs)
    overrides = getattr(evaluator, "recipe_overrides", None) or {}
    if "epochs" in overrides:
        return int(overrides["epochs"])
    epochs = space.max_epochs()
    if epochs is not None:
        return epochs
    raise NasError(
        f"Space {space.name!r} has no recipe.epochs decision to bound ASHA/Hyperband; pass "
        f"RayOptions(max_epochs=N) (or `--epochs N`)."
    )


def run_on_ray(
    driver: Driver, evaluator: Evaluator, options: RayOptions, run_path: Path, space: Space
) -> None:
    """Run the driver's trials as Ray Tune trials until it hands out no more."""
    to_run = driver.trials_to_run()
    time_left = driver.time_left()
    if to_run == 0 or (time_left is not None and time_left <= 0):
        return
    import ray
    from ray import tune

    from nas.run._tune import StrategySearcher, TrialBridge, run_trial

    scheduler = _scheduler(space, evaluator, options)
    env = {"NAS_CACHE_DIR": os.environ.get("NAS_CACHE_DIR", str(run_path / "cache"))}
    prepare = getattr(evaluator, "prepare", None)
    if callable(prepare):
        # Load (or generate) the data once here, filling the on-disk cache the workers
        # read, instead of in every worker at once; a bad dataset fails here, early.
        with mock.patch.dict(os.environ, env):
            prepare()
    started = init_ray(options.address, env_vars=env, dashboard=options.dashboard)
    try:
        check_fits(options)
        bridge = TrialBridge(driver)
        threads = max(1, int(options.cpus_per_trial))  # one trial per CPU: no oversubscription
        trainable = tune.with_parameters(run_trial, evaluator=evaluator, threads=threads)
        resources = {"cpu": options.cpus_per_trial, "gpu": options.gpus_per_trial}
        tune_run(
            tune.with_resources(trainable, {**(options.trial_resources or {}), **resources}),
            options.storage or run_path / "tune",
            search_alg=StrategySearcher(bridge), max_concurrent_trials=options.max_concurrent,
            scheduler=scheduler, num_samples=-1 if to_run is None else to_run,
            time_budget_s=time_left, callbacks=[bridge, *logger_callbacks(options.loggers)],
            max_failures=options.max_failures, reuse_actors=True,
        )  # fmt: skip
    finally:
        if started:
            ray.shutdown()
