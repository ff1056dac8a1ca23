"""Accuracy x latency searches on a benchmark table: Pareto fronts against the table's true front.

Each strategy searches with two objectives, the table's search signal (``val_accuracy``, max)
and a device's latency (min). After ``k`` queries the search's front is the non-dominated set
of what it evaluated; its *hypervolume ratio* is that front's hypervolume over the hypervolume
of the whole table's front, in the search's own objectives (``hv_ratio``) and with the same
archs scored by the table's reported metric (``hv_ratio_test``: front picked on validation,
judged on test, as single-objective benchmarks report test accuracy). The reference point is
the nadir of the table's true front (its worst accuracy and worst latency), so the ratio
measures the trade-off region only (the table's worst archs would make any front look good),
and 1 is the true front.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nas._pareto import non_dominated
from nas._progress import progress_bar
from nas.errors import EvaluationError
from nas.hw._evaluator import LatencyEvaluator, latency_metric
from nas.hw._hypervolume import hypervolume

__all__ = ["ParetoComparison", "compare_pareto"]


@dataclass(frozen=True)
class ParetoComparison:
    """The result of :func:`compare_pareto`; ratios are (strategy -> seeds x checkpoints)."""

    table: str
    latency_table: str
    device: str
    queries: int
    seeds: list[int]
    checkpoints: list[int]
    true_front: list[dict[str, Any]]
    hv_ratio: dict[str, np.ndarray]
    hv_ratio_test: dict[str, np.ndarray]
    fronts: dict[str, list[list[dict[str, Any]]]]
    wall_seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary: mean and sample std over seeds at each checkpoint."""

        def stats(a: np.ndarray) -> dict[str, list[float]]:
            ddof = 1 if a.shape[0] > 1 else 0
            return {
                "mean": [round(float(v), 4) for v in a.mean(axis=0)],
                "std": [round(float(v), 4) for v in a.std(axis=0, ddof=ddof)],
            }

        return {
            "table": self.table,
            "latency_table": self.latency_table,
            "device": self.device,
            "objectives": [["val_accuracy", "max"], [latency_metric(self.device), "min"]],
            "queries": self.queries,
            "seeds": self.seeds,
            "checkpoints": self.checkpoints,
            "true_front_size": len(self.true_front),
            "true_front": self.true_front,
            "wall_seconds": round(self.wall_seconds, 3),
            "strategies": {
                name: {
                    "hv_ratio": stats(self.hv_ratio[name]),
                    "hv_ratio_test": stats(self.hv_ratio_test[name]),
                    "final_hv_ratio": [round(float(v), 4) for v in self.hv_ratio[name][:, -1]],
                    "front_seed0": self.fronts[name][0],
                }
                for name in self.hv_ratio
            },
        }


def _points(acc: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return np.stack([-acc, lat], axis=1)  # minimization vectors


def _front(points: np.ndarray) -> list[int]:
    """Indices of the non-dominated rows among those with every value known (nas.search's
    rule; an arch a table has no value for is on no front)."""
    known = np.flatnonzero(np.isfinite(points).all(axis=1))
    return [int(known[i]) for i in non_dominated(points[known].tolist())]


def compare_pareto(
    table: str,
    strategies: Sequence[str],
    *,
    latency_table: str = "help-nb201",
    device: str = "pixel3",
    queries: int = 100,
    seeds: int | Sequence[int] = 20,
    checkpoints: Sequence[int] | None = None,
    strategy_options: dict[str, dict[str, Any]] | None = None,
    progress: bool = True,
) -> ParetoComparison:
    """Race ``strategies`` on accuracy x latency over ``seeds``; see the module docstring.

    Example:
        >>> c = compare_pareto("nb201-cifar10", ["random"], queries=20, seeds=2,
        ...                    progress=False)
        >>> 0 < float(c.hv_ratio["random"][0, -1]) <= 1
        True
    """
    from nas.bench import TabularEvaluator, table_info
    from nas.bench._compare import race_plan
    from nas.search import Objective, get_strategy, result_metrics, run
    from nas.space import Arch, get_space

    info = table_info(table)
    base = TabularEvaluator(info.name)
    evaluator = LatencyEvaluator(base, latency_table, [device])
    metric = latency_metric(device)
    space = get_space(base.spaces[0])
    if len(base.spaces) != 1 or space.name not in evaluator.table.info.spaces:
        raise EvaluationError(
            f"Table {table!r} (spaces {info.space}) and latency table {latency_table!r} "
            f"(spaces {', '.join(evaluator.table.info.spaces)}) share no space; use "
            f"nb201-cifar10 or nb201-cifar100 with help-nb201."
        )
    rows = [base.lookup(a) for a in base.arch_ids()]
    val = np.array([r.val_accuracy for r in rows], dtype=float)
    test = np.array([np.nan if r.test_accuracy is None else r.test_accuracy for r in rows])
    lat = np.array([evaluator.table.latency(Arch.from_json(r.arch), device) for r in rows])
    front = _front(_points(val, lat))
    ref_val = _points(val, lat)[front].max(axis=0)
    ref_test = _points(test, lat)[_front(_points(test, lat))].max(axis=0)
    true_val = hypervolume(_points(val, lat), ref_val)
    true_test = hypervolume(_points(test, lat), ref_test)
    true_front = [
        {"arch_id": rows[i].arch_id, "val_accuracy": val[i], metric: round(float(lat[i]), 4)}
        for i in sorted(front, key=lambda i: lat[i])
    ]
    seed_list, points = race_plan(seeds, queries, checkpoints)
    objectives = [Objective("val_accuracy", "max"), Objective(metric, "min")]
    options = strategy_options or {}
    hv: dict[str, np.ndarray] = {}
    hv_test: dict[str, np.ndarray] = {}
    fronts: dict[str, list[list[dict[str, Any]]]] = {}
    start = time.perf_counter()
    with progress_bar(len(strategies) * len(seed_list), "pareto race", enabled=progress) as step:
        for name in strategies:
            hv[name] = np.zeros((len(seed_list), len(points)))
            hv_test[name] = np.zeros((len(seed_list), len(points)))
            fronts[name] = []
            for s, seed in enumerate(seed_list):
                strategy = get_strategy(
                    name, space, seed=seed, objectives=objectives, **options.get(name, {})
                )
                out = run(space, strategy, evaluator, budget=queries, seed=seed, progress=False)
                found = [
                    (m["val_accuracy"], m.get("test_accuracy", np.nan), m[metric], r.arch_id)
                    for r in out.results
                    if r.status == "ok" and metric in (m := result_metrics(r))
                ]
                for c, k in enumerate(points):
                    got = np.array([f[:3] for f in found[:k]], dtype=float).reshape(-1, 3)
                    mine = _front(_points(got[:, 0], got[:, 2]))
                    picked = got[mine]
                    hv[name][s, c] = hypervolume(_points(picked[:, 0], picked[:, 2]), ref_val)
                    hv[name][s, c] /= true_val
                    hv_test[name][s, c] = hypervolume(_points(picked[:, 1], picked[:, 2]), ref_test)
                    hv_test[name][s, c] /= true_test
                fronts[name].append(
                    [
                        {"arch_id": found[i][3], "val_accuracy": found[i][0], metric: found[i][2]}
                        for i in sorted(mine, key=lambda i: found[i][2])
                    ]
                )
                step()
    return ParetoComparison(
        table=info.name,
        latency_table=evaluator.table.name,
        device=device,
        queries=queries,
        seeds=seed_list,
        checkpoints=points,
        true_front=true_front,
        hv_ratio=hv,
        hv_ratio_test=hv_test,
        fronts=fronts,
        wall_seconds=time.perf_counter() - start,
    )
