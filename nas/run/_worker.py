"""Runs once in every Ray worker process of a search, before it takes a trial.

Ray calls :func:`setup` (``runtime_env={"worker_process_setup_hook": ...}``) when a worker
process starts, and Ray starts its pool of idle workers with ``ray.init``, so the import of
torch and of the trainer (seconds on a small machine) is paid while the driver is still
setting up, not inside the first trial of every new worker.
"""

from __future__ import annotations

__all__ = ["setup"]


def setup() -> None:
    import torch  # noqa: F401  # the import is the point: it warms the worker

    import nas.graph.torch_backend
    import nas.store
    import nas.train  # noqa: F401
