"""The one Ray set-up of the project: start or join Ray (:func:`init_ray`) and run a Ray Tune
experiment (:func:`tune_run`), for a search's trials (``nas.run``), predictor pretraining
(``nas predictor pretrain --ray``) and ranking on Ray alike. Ray is imported on first use.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any
from unittest import mock

from nas.errors import NasError

__all__ = ["NODE_IP_ENV", "TUNE_ENV", "init_ray", "tune_run"]

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
