"""Predictor-guided search vs regularized evolution and TPE on the NB-201 tables.

For each table, ``predictor``, ``rea`` and ``tpe`` (each with its default options, exactly
what ``nas benchmark search`` runs) search 150 queries over 20 seeds with the tabular
evaluator; at 50/100/150 queries we report mean +/- std of the test accuracy of the
best-by-validation arch and its regret to the table's best test accuracy, plus how many
queries each seed needed to hold the table optimum, and, for each other strategy against
``predictor``, the difference of mean regret with Welch's t-test and the Mann-Whitney U test
over the seeds (``within_noise``: both p >= 0.05). The same numbers, one table at a time,
come from:

    nas benchmark search --table nb201-cifar10 --strategies rea,tpe,predictor \\
        --queries 150 --seeds 20 --checkpoints 50,100,150 --json

Run from the repository root:

    python benchmarks/predictor_search.py --tables nb201-cifar10,nb201-cifar100 \\
        --strategies rea,tpe,predictor --queries 150 --seeds 20 --processes 1

Writes the JSON and ``<out>.png`` (mean regret curves, +/- one std, both tables).
Published anchor: evolution with a transferable predictor (GENNAPE) reached the NB-201
CIFAR-10 optimum, 94.37, in 90 queries.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np


def queries_to_optimum(trajectories: np.ndarray, optimum: float) -> list[int | None]:
    """Per seed, the first query after which the incumbent holds the optimum (None: never)."""
    out: list[int | None] = []
    for row in trajectories:
        hit = np.flatnonzero(np.isclose(row, optimum, atol=1e-6))
        out.append(int(hit[0]) + 1 if len(hit) else None)
    return out


def run(
    tables: list[str], strategies: list[str], queries: int, seeds: int, processes: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    import nas.predictors  # noqa: F401  (registers "predictor")
    from nas.bench import compare_strategies

    out: dict[str, Any] = {}
    comparisons = {}
    for table in tables:
        c = compare_strategies(
            table,
            strategies,
            queries=queries,
            seeds=seeds,
            checkpoints=[50, 100, 150],
            processes=processes,
            progress=False,
        )
        comparisons[table] = c
        summary = c.to_dict()
        for name, curve in c.curves.items():
            hits = queries_to_optimum(curve.trajectories, c.optimum_test_accuracy)
            reached = [h for h in hits if h is not None]
            summary["strategies"][name]["queries_to_optimum"] = hits
            summary["strategies"][name]["reached_optimum"] = f"{len(reached)}/{len(hits)}"
            summary["strategies"][name]["median_queries_to_optimum"] = (
                float(np.median(reached)) if len(reached) * 2 > len(hits) else None
            )
        if "predictor" in c.curves:
            summary["vs_predictor"] = {
                name: differences(c, name, "predictor") for name in c.curves if name != "predictor"
            }
        out[table] = summary
        print(f"{table}: {c.wall_seconds:.0f}s", flush=True)
    return out, comparisons


def differences(c: Any, other: str, ours: str) -> dict[str, Any]:
    """Mean regret of ``other`` minus ``ours`` at each checkpoint, with Welch's t-test and the
    Mann-Whitney U test over the seeds (the runs are independent: no pairing by seed)."""
    from scipy import stats

    out: dict[str, Any] = {}
    for q in c.checkpoints:
        a = c.optimum_test_accuracy - c.curves[other].trajectories[:, q - 1]
        b = c.optimum_test_accuracy - c.curves[ours].trajectories[:, q - 1]
        welch = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
        try:
            mwu = float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
        except ValueError:  # every value equal
            mwu = 1.0
        welch = 1.0 if np.isnan(welch) else welch  # both samples constant and equal
        out[str(q)] = {
            "regret_difference": float(a.mean() - b.mean()),
            "welch_p": welch,
            "mann_whitney_p": mwu,
            "within_noise": welch >= 0.05 and mwu >= 0.05,
        }
    return out


def plot(comparisons: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(comparisons), figsize=(6.0 * len(comparisons), 4.2), dpi=120)
    for ax, (table, c) in zip(np.atleast_1d(axes), comparisons.items()):
        x = np.arange(1, c.queries + 1)
        for name, curve in c.curves.items():
            regret = c.optimum_test_accuracy - curve.trajectories  # (seeds, queries)
            mean, std = regret.mean(axis=0), regret.std(axis=0, ddof=1)
            ax.plot(x, mean, label=name)
            ax.fill_between(x, np.maximum(mean - std, 1e-3), mean + std, alpha=0.15)
        ax.set_yscale("log")
        ax.set_xlabel("queries")
        ax.set_ylabel("test regret (accuracy points)")
        ax.set_title(f"{table} (optimum {c.optimum_test_accuracy:.2f}), {len(c.seeds)} seeds")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tables", default="nb201-cifar10,nb201-cifar100")
    p.add_argument("--strategies", default="rea,tpe,predictor")
    p.add_argument("--queries", type=int, default=150)
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--processes", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--out", default="benchmarks/results/predictor_vs_rea.json")
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    results, comparisons = run(
        args.tables.split(","), args.strategies.split(","), args.queries, args.seeds, args.processes
    )
    from nas.predictors._strategy import PredictorGuidedSearch
    from nas.space import get_space

    default = PredictorGuidedSearch(get_space("nb201"))
    payload = {
        "figure": "predictor-guided search vs regularized evolution and TPE",
        "command": "python benchmarks/predictor_search.py "
        f"--tables {args.tables} --strategies {args.strategies} --queries {args.queries} "
        f"--seeds {args.seeds} --processes {args.processes}",
        "protocol": "tabular evaluator; search signal val_accuracy, reported the incumbent's "
        "test_accuracy; regret = table optimum - incumbent test accuracy; std over seeds "
        "(ddof=1)",
        "predictor_options": {
            "n_initial": default.n_initial,
            "pool_size": default.pool_size,
            "top_parents": default.top_parents,
            "random_fraction": default.random_fraction,
            "refit_every": default.refit_every,
            "refit_epochs": default.refit_epochs,
            "kappa": default.kappa,
            "model": {
                k: v
                for k, v in vars(default.model_config).items()
                if k
                in (
                    "hidden",
                    "layers",
                    "emb_dim",
                    "n_clusters",
                    "head_hidden",
                    "epochs",
                    "batch_size",
                    "lr",
                    "rank_weight",
                )
            },
        },
        "rea_options": "defaults (population 50, tournament 10)",
        "tpe_options": "defaults (Optuna's TPE sampler, 10 startup trials, 24 EI candidates)",
        "published_anchor": "GENNAPE-guided evolution reached the NB-201 CIFAR-10 optimum "
        "(94.37) in 90 queries",
        "machine": f"{platform.processor() or platform.machine()}, {args.processes} process(es), "
        "1 torch thread, shared 2-core CPU",
        "wall_seconds": round(time.perf_counter() - start, 1),
        "tables": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=1) + "\n")
    plot(comparisons, out.with_suffix(".png"))
    print(json.dumps({t: r["strategies"] for t, r in results.items()}, indent=None)[:2000])


if __name__ == "__main__":
    main()
