"""Execution: train candidates in-process or as Ray Tune trials, embedded or on a cluster.

- :class:`TrainingEvaluator` compiles an arch, trains it with its recipe on a dataset and
  returns a :class:`~nas.store.Result` (per-epoch curves, accuracies, params, FLOPs, status
  and reason, host and node). It is an ``Evaluator`` of :func:`nas.search.run`.
- ``nas.search.run(..., executor="ray")`` runs a search on Ray Tune (this package's
  executor): one trial per evaluation, resources per trial, concurrency, ASHA/Hyperband,
  retries, live progress; the search's one driver stores, tells and checkpoints.

Ray is imported only when a Ray search starts. :func:`init_ray` and :func:`tune_run` are the
project's one Ray set-up (``nas._ray``), offered here to every user of Ray. See
:class:`TrainingEvaluator` for an example.
"""

from __future__ import annotations

from nas._ray import init_ray, tune_run
from nas.run._evaluator import EpochCallback, TrainingEvaluator

__all__ = ["EpochCallback", "TrainingEvaluator", "init_ray", "tune_run"]
