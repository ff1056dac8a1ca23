"""The Ray executor of ``nas.search.run``: every evaluation is a Ray Tune trial.

The search's one driver (``nas.search._driver.Driver``) hands out trials through a Tune
``Searcher`` and completes them from a Tune callback (``nas.run._tune``); this module starts
(or joins) Ray, picks the scheduler and runs the Tuner, and nothing else.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

from nas.errors import NasError

if TYPE_CHECKING:
    from nas.search import RayOptions
    from nas.search._driver import Driver, Evaluator
    from nas.space import Space

__all__ = ["SCHEDULERS", "TUNE_ENV", "init_ray", "run_on_ray", "tune_run"]

SCHEDULERS = ("fifo", "asha", "hyperband")

#: Tune settings for short trials on a small machine (read by Tune in the driver process).
#: Our callback stores every result, so Tune's own loggers are off unless asked for; the
#: driver's state file, not Tune's experiment checkpoint, resumes a search.
TUNE_ENV = {
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "TUNE_GLOBAL_CHECKPOINT_S": "300",
    "TUNE_RESULT_BUFFER_LENGTH": "1",  # every epoch reaches the scheduler as it happens
    "TUNE_WARN_THRESHOLD_S": "5",
    # The legacy console reporter at verbose=0 prints nothing; the new engine still prints an
    # experiment table. Our own progress display is the console output of a search.
    "RAY_AIR_NEW_OUTPUT": "0",
    # Ctrl-C reaches the search as KeyboardInterrupt: it ends "interrupted", resumable.
    "TUNE_DISABLE_SIGINT_HANDLER": "1",
}

# A small object store: trials exchange kilobytes (configs and result rows), never datasets.
_OBJECT_STORE_BYTES = 200 * 2**20


# The address this driver's Ray node uses; set it to the --node-ip-address the cluster's nodes
# were started with when that is not the address Ray would detect (e.g. 127.0.0.1).
NODE_IP_ENV = "NAS_RAY_NODE_IP"


def init_ray(
    address: str | None = None,
    *,
    env_vars: Mapping[str, str] | None = None,
    dashboard: bool = False,
) -> bool:
    """Start Ray embedded (``address=None``) or join a cluster; False if Ray was running.

    Embedded Ray gets a small object store and no worker logs on the driver's console. Every
    worker of the job imports torch and the trainer when it starts (:func:`warm_worker`), so
    the first trial on a worker does not pay for it.

    Args:
        address: None for a new Ray on this machine; ``"auto"``, ``"host:port"`` or
            ``"ray://host:10001"`` to join a running cluster.
        env_vars: environment variables for every worker of the job.
        dashboard: start Ray's dashboard (needs ``ray[default]``) and print its URL on stderr.
    """
    import ray

    if ray.is_initialized():
        return False
    runtime_env: dict[str, Any] = {"worker_process_setup_hook": f"{__name__}.warm_worker"}
    if env_vars:
        runtime_env["env_vars"] = dict(env_vars)
    kwargs: dict[str, Any] = {
        "include_dashboard": bool(dashboard),
        "log_to_driver": False,
        "logging_level": logging.WARNING,
        "runtime_env": runtime_env,
    }
    node_ip = os.environ.get(NODE_IP_ENV)  # e.g. a cluster whose nodes were started on loopback
    if address is None:
        # "local" always starts a new Ray here, even when RAY_ADDRESS or a `ray start`
        # cluster exists: address=None must never run trials somewhere else by accident.
        # An embedded Ray serves this machine only, so it listens on loopback.
        kwargs.update(address="local", object_store_memory=_OBJECT_STORE_BYTES)
        node_ip = node_ip or "127.0.0.1"
    else:
        _check_reachable(address)
        kwargs["address"] = address
    if node_ip:
        kwargs["_node_ip_address"] = node_ip
    try:
        context = ray.init(**kwargs)
        url = getattr(context, "dashboard_url", None)
        if dashboard and url:
            print(f"Ray dashboard: http://{url}", file=sys.stderr, flush=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise NasError(
            f"Could not start or join Ray at address {address!r}: {exc}. Check the address "
            f"(`ray status` on the head node) and, with token authentication, that "
            f"RAY_AUTH_MODE=token and the cluster's RAY_AUTH_TOKEN are set here too."
        ) from None
    return True


def warm_worker() -> None:
    """Ray's setup hook of every worker process of a search: the imports a trial needs
    (seconds on a small machine: torch, the machinery torch's optimizers load on first use,
    the trainer) are paid once per worker as it starts, not inside its first trial."""
    import torch._dynamo  # imported by torch.optim on first use; seconds
    import torch.optim  # noqa: F401  # the imports are the point: they warm the worker

    import nas.graph.torch_backend
    import nas.store
    import nas.train._trainer  # noqa: F401


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A ``host:port`` (or ``ray://host:port``) that takes no connection fails in seconds,
    not after Ray's minutes of retries."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or address == "auto":
        return  # "auto" and other forms: Ray resolves them
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except (OSError, ValueError) as exc:
        raise NasError(
            f"No Ray cluster answers at --address {address!r} ({exc}); check the head node's "
            f"address and port (`ray status` on it), or drop --address to start Ray here."
        ) from None


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
        raise dashboard_error(missing)
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


def dashboard_error(missing: str) -> NasError:
    """The one-line error of ``--dashboard`` where ``missing`` is not installed."""
    return NasError(
        f"--dashboard needs Ray's dashboard, and {missing} is not installed: "
        f"pip install 'ray[default]' (the extra that installs the dashboard)."
    )


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


def tune_run(
    trainable: Callable[..., Any] | Any,
    storage_path: str | os.PathLike[str],
    *,
    param_space: Mapping[str, Any] | None = None,
    callbacks: list[Any] | None = None,
    max_failures: int = 0,
    **tune_config: Any,
) -> Any:
    """The one Ray Tune set-up of the project: quiet console, Tune files under
    ``storage_path``, trials named ``trial_<id>``; returns Tune's ``ResultGrid``.

    Args:
        trainable: a Tune trainable (``tune.with_resources(...)`` for resources).
        storage_path: where Tune keeps its experiment files (absolute).
        param_space, callbacks: ``tune.Tuner``'s and ``tune.RunConfig``'s.
        max_failures: retries of a trial whose worker raised or died (-1: unlimited).
        **tune_config: ``tune.TuneConfig`` arguments (search_alg, scheduler, num_samples,
            ``reuse_actors=True`` for one actor per concurrent slot...).
    """
    from ray import tune

    tuner = tune.Tuner(
        trainable,
        param_space=dict(param_space or {}),
        tune_config=tune.TuneConfig(
            trial_name_creator=_trial_name, trial_dirname_creator=_trial_name, **tune_config
        ),
        run_config=tune.RunConfig(
            name=f"tune-{int(time.time())}",
            storage_path=str(storage_path),
            failure_config=tune.FailureConfig(max_failures=max_failures),
            checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False, num_to_keep=1),
            callbacks=callbacks,
            verbose=0,
            log_to_file=False,
        ),
    )
    # Tune's result grid reads the CSV/JSON loggers we turn off; its warning is noise.
    analysis_log = logging.getLogger("ray.tune.analysis.experiment_analysis")
    level = analysis_log.level
    analysis_log.setLevel(logging.ERROR)
    try:
        with mock.patch.dict(os.environ, TUNE_ENV):
            return tuner.fit()
    finally:
        analysis_log.setLevel(level)


def _trial_name(trial: Any) -> str:
    return f"trial_{trial.trial_id}"
