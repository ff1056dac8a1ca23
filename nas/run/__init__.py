"""Execution: train candidates in-process or as Ray Tune trials, embedded or on a cluster.

- :class:`TrainingEvaluator` compiles an arch, trains it with its recipe on a dataset and
  returns a :class:`~nas.store.Result` (per-epoch curves, accuracies, params, FLOPs, status
  and reason, host and node). It is an ``Evaluator`` of :func:`nas.search.run`.
- ``nas.search.run(..., executor="ray")`` runs a search on Ray Tune (this package's
  executor): one trial per evaluation, resources per trial, concurrency, ASHA/Hyperband,
  retries, live progress; the search's one driver stores, tells and checkpoints.

Ray is imported only when a Ray search starts. See :class:`TrainingEvaluator` for an example.
"""

from __future__ import annotations

from nas.run._evaluator import EpochCallback, TrainingEvaluator
from nas.run._ray_search import init_ray, tune_run

__all__ = ["EpochCallback", "TrainingEvaluator", "init_ray", "tune_run"]
