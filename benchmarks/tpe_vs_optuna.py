"""Our ``tpe`` strategy vs plain Optuna TPE on a benchmark table, same seeds and queries.

Ours: ``compare_strategies(TABLE, ["tpe"])`` (the ``nas benchmark search`` loop: the driver,
dedupe, the store-less in-process executor). Plain: ``optuna.create_study`` with the same
``TPESampler(multivariate=True, group=True, n_startup_trials=10, n_ei_candidates=24)``
seeded with the seed, ``study.optimize`` of ``space.suggest(trial)`` looked up in the same
table; a repeated arch costs a query there (Optuna does not dedupe), as it would for a user.
Both report the incumbent's (best ``val_accuracy`` so far) test accuracy after each query.

Run: python benchmarks/tpe_vs_optuna.py [--seeds 100] [--queries 150] [--save]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from nas.bench import TabularEvaluator, compare_strategies
from nas.bench._compare import incumbent_trajectory
from nas.space import get_space


def plain_optuna(table: str, seed: int, queries: int) -> np.ndarray:
    """Incumbent test accuracy after each query of a plain Optuna TPE study."""
    import optuna

    evaluator = TabularEvaluator(table)
    space = get_space(evaluator.spaces[0])
    rows: list[Any] = []

    def objective(trial: optuna.Trial) -> float:
        row = evaluator.lookup(space.suggest(trial))
        rows.append(row)
        return float(row.val_accuracy)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(
        n_startup_trials=10, n_ei_candidates=24, multivariate=True, group=True, seed=seed
    )
    optuna.create_study(direction="maximize", sampler=sampler).optimize(objective, n_trials=queries)
    return incumbent_trajectory(rows, queries)


def summary(trajectories: np.ndarray, checkpoints: list[int]) -> dict[str, Any]:
    """Mean, std, standard error, min and max over seeds at each checkpoint."""
    n = len(trajectories)
    out = {}
    for q in checkpoints:
        at = trajectories[:, q - 1]
        std = float(at.std(ddof=1)) if n > 1 else 0.0
        out[str(q)] = {
            "mean": round(float(at.mean()), 3),
            "std": round(std, 3),
            "sem": round(std / np.sqrt(n), 3),
            "min": round(float(at.min()), 3),
            "max": round(float(at.max()), 3),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default="nb201-cifar10")
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--save", action="store_true", help="write the results JSON")
    args = parser.parse_args()
    checkpoints = sorted({100, args.queries} & set(range(1, args.queries + 1)))
    import warnings

    warnings.filterwarnings("ignore", module="optuna")
    start = time.perf_counter()
    ours = compare_strategies(
        args.table, ["tpe"], queries=args.queries, seeds=args.seeds, progress=False
    ).curves["tpe"]
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    plain = np.stack([plain_optuna(args.table, s, args.queries) for s in range(args.seeds)])
    plain_s = time.perf_counter() - start
    diff = ours.trajectories - plain
    result = {
        "table": args.table,
        "seeds": args.seeds,
        "queries": args.queries,
        "optimum_test_accuracy": TabularEvaluator(args.table).optimum("test_accuracy"),
        "ours_tpe": {**summary(ours.trajectories, checkpoints), "wall_s": round(ours_s, 1)},
        "plain_optuna_tpe": {**summary(plain, checkpoints), "wall_s": round(plain_s, 1)},
        "paired_difference_ours_minus_plain": summary(diff, checkpoints),
        "command": f"python benchmarks/tpe_vs_optuna.py --seeds {args.seeds} "
        f"--queries {args.queries} --table {args.table}",
    }
    print(json.dumps(result, indent=1))
    if args.save:
        path = Path(__file__).parent / "results" / "tpe_vs_optuna.json"
        path.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
