"""Ranked candidates as rows of the result store, so predictions sit beside true results.

The store's schema has no column for a prediction, and adding one is a schema change; so a
prediction is a ``pending`` row (a candidate not evaluated yet) whose ``source`` names the
model (``predictor:NAME``), whose ``strategy`` is ``predictor-rank`` and whose ``extra``
holds the predicted value, its uncertainty and the rank. True results have status ``ok``,
so no ranking of true results ever reads a prediction, and
``nas store query --where "source == 'predictor:NAME'"`` lists the predictions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nas.space import Space

if TYPE_CHECKING:
    from nas.predictors._rank import RankResult
    from nas.store import Result

__all__ = ["PREDICTION_STRATEGY", "prediction_rows"]

PREDICTION_STRATEGY = "predictor-rank"


def prediction_rows(
    result: RankResult,
    space: Space,
    *,
    dataset: str,
    model: str,
    run_id: str | None = None,
    record: dict[str, Any] | None = None,
) -> list[Result]:
    """One ``pending`` result row per ranked candidate, best first.

    Args:
        result: what :func:`rank_candidates` returned.
        space: the space it ranked.
        dataset: the dataset the model predicts for (the ``dataset`` column).
        model: the model's name (``source`` is ``predictor:MODEL``).
        run_id: the rows' run id (default: a new ``rank-...`` id, so a second ranking
            appends rows of its own).
        record: extra reproducibility facts (command, seed, ...) for the ``record`` column.

    Example:
        >>> import numpy as np
        >>> from nas.predictors import rank_candidates
        >>> from nas.space import get_space
        >>> space = get_space("nb_macro")
        >>> r = rank_candidates(space, 20, 2, rng=np.random.default_rng(0))
        >>> rows = prediction_rows(r, space, dataset="cifar10", model="params")
        >>> [(row.status, row.source, row.strategy) for row in rows][0]
        ('pending', 'predictor:params', 'predictor-rank')
    """
    from nas.search._run import new_run_id
    from nas.store import Result

    run_id = run_id or new_run_id("rank")  # each ranking's rows are a run of their own
    base = {"scorer": result.scorer, "first_pass": result.first_pass is not None}
    rows = []
    for rank, ((arch, score, std), h) in enumerate(zip(result.top, result.graph_hashes), 1):
        graph = space.compile(arch, check=False)
        rows.append(
            Result(
                space=space.name,
                space_version=space.version,
                arch=arch.json_values(),
                arch_id=arch.arch_id,
                graph_hash=h,
                dataset=dataset,
                recipe=space.recipe(arch) or None,
                status="pending",
                params=graph.params,
                flops=graph.flops,
                extra={**base, "predicted": score, "predicted_std": std, "rank": rank},
                run_id=run_id,
                candidate_id=str(rank),
                strategy=PREDICTION_STRATEGY,
                record={"model": model, **(record or {})},
                source=f"predictor:{model}",
            )
        )
    return rows
