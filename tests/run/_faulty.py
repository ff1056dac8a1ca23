"""An evaluator that injects faults on purpose, per arch: raise, diverge or time out."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from nas.run import TrainingEvaluator
from nas.store import Result


class FaultyEvaluator(TrainingEvaluator):
    """A `TrainingEvaluator` whose ``faults`` map arch ids to "raise", "diverge" or "timeout"."""

    def __init__(self, *args: Any, faults: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.faults = dict(faults)

    def evaluate(self, arch: Any, **kwargs: Any) -> Result:
        fault = self.faults.get(arch.arch_id)
        if fault == "raise":
            raise RuntimeError(f"injected fault for arch {arch.arch_id}")
        # A copy: a reused Ray actor keeps this object for its next trial.
        evaluator = copy.copy(self)
        if fault == "diverge":
            evaluator.recipe_overrides = {**self.recipe_overrides, "lr": 1e6, "grad_clip": None}
        elif fault == "timeout":
            evaluator.recipe_overrides = {**self.recipe_overrides, "epochs": 50}
            evaluator.time_limit_s = 0.05
        return TrainingEvaluator.evaluate(evaluator, arch, **kwargs)
