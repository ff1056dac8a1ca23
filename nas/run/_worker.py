"""Runs once in every Ray worker process of a search, before it takes a trial.

Ray calls :func:`setup` (``runtime_env={"worker_process_setup_hook": ...}``) when a worker
process starts, so the imports a trial needs (seconds on a small machine: torch, the
torch.compile machinery torch's optimizers load on their first use, the trainer) are paid
once per worker as it starts, not inside its first trial.
"""

from __future__ import annotations

__all__ = ["setup"]


def setup() -> None:
    import torch._dynamo  # imported by torch.optim on first use; seconds
    import torch.optim  # noqa: F401  # the imports are the point: they warm the worker

    import nas.graph.torch_backend
    import nas.store
    import nas.train._trainer  # noqa: F401
