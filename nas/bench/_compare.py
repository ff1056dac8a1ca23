"""Compare search strategies on a benchmark table over many seeds (anytime performance).

For every strategy and seed the in-process loop runs ``queries`` tabular evaluations. After
each query the *incumbent* is the arch with the best search signal (``val_accuracy``) so far;
what is reported is the incumbent's recorded test accuracy, and its regret to the best test
accuracy in the whole table (the usual NAS-benchmark protocol: search on validation, report
test).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nas._progress import progress_bar
from nas.bench._tables import table_info

__all__ = ["Comparison", "StrategyCurve", "compare_strategies", "incumbent_trajectory"]


@dataclass(frozen=True)
class StrategyCurve:
    """One strategy's anytime performance, mean and sample std over seeds, per checkpoint.

    Attributes:
        strategy: strategy name.
        test_accuracy_mean, test_accuracy_std: incumbent test accuracy (%) at each checkpoint.
        regret_mean, regret_std: table optimum minus incumbent test accuracy (points).
        final: incumbent test accuracy at the last query, one per seed.
        trajectories: (seeds, queries) incumbent test accuracy after every query.
    """

    strategy: str
    test_accuracy_mean: list[float]
    test_accuracy_std: list[float]
    regret_mean: list[float]
    regret_std: list[float]
    final: list[float]
    trajectories: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare_strategies`."""

    table: str
    optimum_test_accuracy: float
    queries: int
    seeds: list[int]
    checkpoints: list[int]
    curves: dict[str, StrategyCurve]
    wall_seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (no per-query trajectories)."""
        return {
            "table": self.table,
            "optimum_test_accuracy": self.optimum_test_accuracy,
            "queries": self.queries,
            "seeds": self.seeds,
            "checkpoints": self.checkpoints,
            "wall_seconds": round(self.wall_seconds, 3),
            "strategies": {
                name: {
                    "test_accuracy_mean": c.test_accuracy_mean,
                    "test_accuracy_std": c.test_accuracy_std,
                    "regret_mean": c.regret_mean,
                    "regret_std": c.regret_std,
                    "final": c.final,
                }
                for name, c in self.curves.items()
            },
        }

    def plot(self, path: str | Path) -> Path:
        """Write the regret figure (``nas.plot.regret_figure``: mean over seeds, band of
        +/- one standard error, every query) as a PNG; returns the path."""
        from nas.plot import regret_figure, save_png

        data = {
            **self.to_dict(),
            "trajectories": {n: c.trajectories.tolist() for n, c in self.curves.items()},
        }
        return save_png(regret_figure(data), path)


def incumbent_trajectory(results: Sequence[Any], queries: int) -> np.ndarray:
    """Test accuracy of the best-by-``val_accuracy`` arch after each of ``queries`` queries.

    Failed results never become the incumbent; before the first ok result the value is NaN;
    a search that stopped early keeps its last incumbent to the end.

    Example:
        >>> from types import SimpleNamespace as R
        >>> rs = [R(status="ok", val_accuracy=1, test_accuracy=5),
        ...       R(status="ok", val_accuracy=3, test_accuracy=4)]
        >>> incumbent_trajectory(rs, 3).tolist()
        [5.0, 4.0, 4.0]
    """
    out = np.full(queries, np.nan)
    best_val = -math.inf
    current = math.nan
    for i in range(queries):
        if i < len(results):
            r = results[i]
            if r.status == "ok" and r.val_accuracy is not None and r.val_accuracy > best_val:
                best_val = r.val_accuracy
                current = math.nan if r.test_accuracy is None else float(r.test_accuracy)
        out[i] = current
    return out


def _one_run(job: tuple[str, str, int, int, Mapping[str, Any], str | None]) -> np.ndarray:
    from nas.bench._evaluator import TabularEvaluator
    from nas.search import get_strategy, run
    from nas.space import get_space

    table, strategy, seed, queries, options, store = job
    evaluator = TabularEvaluator(table)
    space = get_space(evaluator.spaces[0])
    # Every run is a run of its own (a new run id): a re-run into the same store appends.
    out = run(
        space,
        get_strategy(strategy, space, seed=seed, **options),
        evaluator,
        budget=queries,
        store=store,
        seed=seed,
        progress=False,
    )
    return incumbent_trajectory(out.results, queries)


def compare_strategies(
    table: str,
    strategies: Sequence[str],
    *,
    queries: int = 150,
    seeds: int | Sequence[int] = 20,
    checkpoints: Sequence[int] | None = None,
    store: str | None = None,
    strategy_options: Mapping[str, Mapping[str, Any]] | None = None,
    processes: int = 1,
    progress: bool = True,
) -> Comparison:
    """Run each strategy over each seed on ``table`` and summarise anytime test accuracy.

    Args:
        table: a single-space table (``nb201-cifar10``, ``nb201-cifar100``, ``nb-macro``).
        strategies: strategy names (``random``, ``rea``, ``ls``, ``tpe``, ...).
        queries: evaluations per run.
        seeds: a count (seeds ``0..n-1``) or explicit seeds.
        checkpoints: query counts to report at (default: 10, 25, 50, 100, ... up to queries).
        store: optional result store directory; every evaluation is appended.
        strategy_options: per-strategy keyword options, e.g. ``{"rea": {"population_size": 20}}``.
        processes: worker processes (1 = in this process).
        progress: progress bar on a terminal.

    Example:
        >>> c = compare_strategies("nb-macro", ["random"], queries=10, seeds=2,
        ...                        progress=False)
        >>> c.curves["random"].regret_mean[-1] >= 0
        True
    """
    import time

    from nas.bench._evaluator import TabularEvaluator

    info = table_info(table)
    if len(info.spaces) != 1:
        from nas.errors import EvaluationError

        raise EvaluationError(
            f"Strategy comparison needs a single-space table (got {table!r} with spaces "
            f"{info.space}); use nb201-cifar10, nb201-cifar100 or nb-macro."
        )
    seed_list, points = race_plan(seeds, queries, checkpoints)
    optimum = TabularEvaluator(table).optimum("test_accuracy")
    options = strategy_options or {}
    jobs = [
        (info.name, name, seed, queries, dict(options.get(name, {})), store)
        for name in strategies
        for seed in seed_list
    ]
    start = time.perf_counter()
    trajectories: list[np.ndarray] = []
    with progress_bar(len(jobs), f"compare on {table}", enabled=progress) as advance:
        if processes > 1 and len(jobs) > 1:
            import multiprocessing

            ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
            with ctx.Pool(processes) as pool:
                for traj in pool.imap(_one_run, jobs):
                    trajectories.append(traj)
                    advance()
        else:
            for job in jobs:
                trajectories.append(_one_run(job))
                advance()
    curves = {}
    n = len(seed_list)
    for k, name in enumerate(strategies):
        traj = np.stack(trajectories[k * n : (k + 1) * n])
        at = traj[:, [p - 1 for p in points]]
        regret = optimum - at
        ddof = 1 if n > 1 else 0
        curves[name] = StrategyCurve(
            strategy=name,
            test_accuracy_mean=_round(at.mean(axis=0)),
            test_accuracy_std=_round(at.std(axis=0, ddof=ddof)),
            regret_mean=_round(regret.mean(axis=0)),
            regret_std=_round(regret.std(axis=0, ddof=ddof)),
            final=_round(traj[:, -1]),
            trajectories=traj,
        )
    return Comparison(
        table=info.name,
        optimum_test_accuracy=optimum,
        queries=queries,
        seeds=seed_list,
        checkpoints=points,
        curves=curves,
        wall_seconds=time.perf_counter() - start,
    )


def race_plan(
    seeds: int | Sequence[int], queries: int, checkpoints: Sequence[int] | None
) -> tuple[list[int], list[int]]:
    """The seeds (``N`` means 0..N-1) and the query counts a strategy race reports at
    (default 10, 25, 50, 100, 150, ... below ``queries``, then ``queries``)."""
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    base = [10, 25, 50, 100, 150, 200, 300, 500, 1000, 2000, 5000]
    default = [c for c in base if c < queries] + [queries]
    return seed_list, sorted({min(int(c), queries) for c in (checkpoints or default)})


def _round(values: np.ndarray) -> list[float]:
    return [round(float(v), 4) for v in values]
