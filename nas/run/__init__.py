"""Execution: train candidates in-process or as Ray Tune trials, embedded or on a cluster.

- :class:`TrainingEvaluator` compiles an arch, trains it with its recipe on a dataset and
  returns a :class:`~nas.store.Result` (per-epoch curves, accuracies, params, FLOPs, status
  and reason, host and node). It is an ``Evaluator`` of :func:`nas.search.run`.
- ``nas.search.run(..., executor="ray")`` runs a search on Ray Tune (this package's
  executor): one trial per evaluation, resources per trial, concurrency, ASHA/Hyperband,
  retries, live progress; the search's one driver stores, tells and checkpoints.

Ray is imported only when a Ray search starts.

Example:
    >>> import numpy as np
    >>> from nas.run import TrainingEvaluator
    >>> from nas.space import get_space
    >>> space = get_space("mlp")
    >>> ev = TrainingEvaluator(space, "synthetic", device="cpu", recipe_overrides={"epochs": 1},
    ...                        dataset_kwargs={"num_classes": 10, "length": 40})
    >>> ev.evaluate(space.sample(np.random.default_rng(0)), seed=0).status
    'ok'
"""

from __future__ import annotations

from nas.run._evaluator import EpochCallback, TrainingEvaluator
from nas.run._ray_search import init_ray, tune_run
from nas.run._summary import export_best_onnx

__all__ = [
    "EpochCallback",
    "TrainingEvaluator",
    "export_best_onnx",
    "init_ray",
    "tune_run",
]
