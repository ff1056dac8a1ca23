"""A search driver run as its own process (a test can SIGKILL it, or give it its own env)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nas.cli._search import ray_options
from nas.run import TrainingEvaluator
from nas.search import get_strategy, run
from nas.space import get_space


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("work", type=Path)
    p.add_argument("budget", type=int)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--executor", choices=("inprocess", "ray"), default="ray")
    p.add_argument("--address")
    p.add_argument("--max-concurrent", type=int, default=1)
    p.add_argument("--max-failures", type=int, default=0)
    p.add_argument("--trial-resources", type=json.loads, default=None, help="JSON object")
    args = p.parse_args()
    space = get_space("cnn1d")
    evaluator = TrainingEvaluator(
        space, "mnist1d", device="cpu", recipe_overrides={"epochs": args.epochs}
    )
    ray = ray_options(args) if args.executor == "ray" else None
    run(
        space, get_strategy("random", space, seed=args.seed), evaluator, executor=args.executor,
        budget=args.budget, store=args.work / "store", run_dir=args.work / "run", ray=ray,
        progress=False, checkpoint_every=1,
    )  # fmt: skip


if __name__ == "__main__":
    main()
