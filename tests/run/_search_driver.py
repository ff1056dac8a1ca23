"""A search driver run as its own process, so a test can SIGKILL it mid-search."""

from __future__ import annotations

import sys
from pathlib import Path

from nas.run import TrainingEvaluator, run_ray_search
from nas.search import get_strategy
from nas.space import get_space


def main(work: Path, budget: int) -> None:
    space = get_space("cnn1d")
    evaluator = TrainingEvaluator(space, "mnist1d", device="cpu", recipe_overrides={"epochs": 1})
    run_ray_search(
        space, get_strategy("random", space, seed=3), evaluator, budget=budget,
        store=work / "store", run_dir=work / "run", max_concurrent=1, progress=False,
    )  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
