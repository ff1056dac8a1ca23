"""Execution: train candidates in-process or as Ray Tune trials, embedded or on a cluster.

- :class:`TrainingEvaluator` compiles an arch, trains it with its recipe on a dataset and
  returns a :class:`~nas.store.Result` (per-epoch curves, accuracies, params, FLOPs, status
  and reason, host and node). It is the ``Evaluator`` of ``nas.search.loop.run_search`` and
  of :func:`run_ray_search`.
- :func:`run_ray_search` runs a ``nas.search`` strategy on Ray Tune: one trial per
  evaluation, resources per trial, concurrency, ASHA/Hyperband, retries, results stored from
  the driver, live progress, crash-safe resume from the run directory.

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
from nas.run._progress import SearchProgress
from nas.run._ray_search import init_ray, run_ray_search
from nas.run._state import RunState, StateError
from nas.run._summary import export_best_onnx

__all__ = [
    "EpochCallback",
    "RunState",
    "SearchProgress",
    "StateError",
    "TrainingEvaluator",
    "export_best_onnx",
    "init_ray",
    "run_ray_search",
]
