"""Ranking on Ray workers, with exactly the result of ranking the same candidates in one
process.

A worker ranks whole blocks of the stream (block ``b`` is drawn from its own generator, so
the candidates are the same whoever draws them): worker ``s`` of ``w`` takes blocks
``s, s + w, ...``. Without the first pass each worker streams its blocks through the one
ranker (:func:`~nas.predictors._rank.rank_blocks`) and returns its top-k; the merge keeps,
per graph, the candidate met first, then the best ``top``: a shard's top-k holds every
candidate of the global top-k that it met, so nothing is missed. With the first pass, this
process calibrates it on the stream's first candidates (the model's scoring of them spread
over the workers), the workers score their blocks with the fitted ridge and return their
best ``survivors`` rows, and the merge keeps the best ``survivors`` rows met first, which
the workers then score with the model: the same survivors, and so the same top-k, as one
process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from nas.errors import NasError
from nas.predictors._model import GennapePredictor
from nas.predictors._rank import (
    RankResult,
    Rated,
    Scored,
    _Plan,
    _Shard,
    _TopK,
    candidates,
    rank_blocks,
    score_archs,
    torch_threads,
)
from nas.space import Arch, Space

__all__ = ["rank_on_ray"]


def rank_on_ray(
    space: Space,
    model: GennapePredictor | None,
    plan: _Plan,
    shards: int | None,
    address: str | None,
    progress: Callable[[int], None] | None,
) -> RankResult:
    """See ``rank_candidates(ray=True)``."""
    import ray

    from nas.run._ray_search import init_ray

    if shards is not None and (isinstance(shards, bool) or shards < 1):
        raise NasError(f"Expected shards to be an int >= 1 (got {shards!r}).")
    t0 = time.perf_counter()
    started = init_ray(address)
    ray_start = time.perf_counter() - t0
    try:
        if shards is None:
            shards = max(1, int(ray.cluster_resources().get("CPU", 1)))
        total = plan.n or (space.size() or 0)
        blocks = -(-total // plan.block)
        refs = (ray.put(space), ray.put(model))
        if plan.survivors:
            result = _with_first_pass(space, model, plan, refs, shards, blocks, progress)
        else:
            result = _by_blocks(plan, refs, min(shards, blocks), progress)
    finally:
        if started:
            ray.shutdown()
    result.seconds["ray_start"] = ray_start
    result.seconds["total"] = time.perf_counter() - t0
    return result


# ---------------------------------------------------------------- without the first pass
def _by_blocks(
    plan: _Plan, refs: tuple[Any, Any], workers: int, progress: Callable[[int], None] | None
) -> RankResult:
    import ray

    task = ray.remote(num_cpus=1)(_rank_part)
    pending = [task.remote(*refs, plan, s, workers) for s in range(workers)]
    parts: list[RankResult] = []
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        parts.append(ray.get(done[0]))
        if progress is not None:
            progress(parts[-1].candidates)
    return merge(parts, plan.top)


def _rank_part(
    space: Space, model: GennapePredictor | None, plan: _Plan, start: int, step: int
) -> RankResult:
    blocks = candidates(
        space, plan.n, plan.seed, enumerate_all=plan.enumerate_all, start=start, step=step,
        block=plan.block,
    )  # fmt: skip
    with torch_threads(plan.threads if model is not None else None):
        return rank_blocks(space, model, plan, blocks)


def merge(parts: list[RankResult], top: int) -> RankResult:
    """One top-k from the shards' top-ks: per graph the candidate met first (as one process
    keeps it), then the best ``top`` (ties: met first). Counts and stage seconds are summed
    over the shards (a graph met by two shards counts twice)."""
    first: dict[str, Scored] = {}
    for part in parts:
        for (arch, score, std), index, h in zip(part.top, part.indices, part.graph_hashes):
            if h not in first or index < -first[h][1]:
                first[h] = (score, -index, h, arch, std)
    heap = _TopK(top)
    for item in first.values():
        heap.push(item)
    best = heap.best()
    seconds: dict[str, float] = {}
    for part in parts:
        for key, value in part.seconds.items():
            seconds[key] = seconds.get(key, 0.0) + value
    return RankResult(
        [(arch, score, std) for score, _, _, arch, std in best],
        parts[0].scorer if parts else "params",
        sum(p.candidates for p in parts),
        sum(p.unique for p in parts),
        seconds,
        None,
        len(parts),
        [-minus_index for _, minus_index, _, _, _ in best],
        [h for _, _, h, _, _ in best],
        {k: sum(p.distinct.get(k, 0) for p in parts) for k in ("decisions", "archs", "graphs")},
    )


# ------------------------------------------------------------------- with the first pass
def _with_first_pass(
    space: Space,
    model: GennapePredictor | None,
    plan: _Plan,
    refs: tuple[Any, Any],
    shards: int,
    blocks: int,
    progress: Callable[[int], None] | None,
) -> RankResult:
    import ray

    t0 = time.perf_counter()
    score = ray.remote(num_cpus=1)(_score_part)

    def rater(items: list[tuple[int, Arch]], seconds: dict[str, float]) -> list[Rated]:
        size = -(-len(items) // shards)
        futures = [
            score.remote(*refs, plan, items[i : i + size]) for i in range(0, len(items), size)
        ]
        rated: list[Rated] = []
        for part, part_seconds in ray.get(futures):  # in order: the first of a graph wins
            rated += part
            for key, value in part_seconds.items():
                seconds[key] += value
        return rated

    run = _Shard(space, model, plan, rater=rater)
    first = run.first
    assert first is not None  # plan.survivors > 0
    stream = candidates(
        space, plan.n, plan.seed, enumerate_all=plan.enumerate_all, block=plan.block
    )
    consumed = 0
    for block in stream:  # the calibration, on the stream's first candidates
        run.consume(block)
        consumed += 1
        if progress is not None:
            progress(len(block))
        if first.calibrated:
            break
    workers = min(shards, blocks - consumed) if first.weights is not None else 0
    cheap = ray.remote(num_cpus=1)(_first_pass_part)
    weights = first.weights if first.weights is not None else np.zeros(0)
    pending = [cheap.remote(refs[0], plan, weights, consumed + s, workers) for s in range(workers)]
    best = list(first.best)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        part = ray.get(done[0])
        best += [item for item in part["best"] if _key(run, item[2]) not in run.rows.ids]
        run.candidates += part["candidates"]
        run.distinct_rows += part["distinct_rows"]
        first.scored += part["scored"]
        first.seconds += part["first_pass_s"]
        for key in ("dedupe", "decode"):
            run.seconds[key] += part["seconds"][key]
        if progress is not None:
            progress(part["candidates"])
    best.sort(key=lambda item: (-item[0], -item[1]))  # best first, ties: met first
    kept: set[Any] = set()
    first.best = []
    for item in best:  # a row two workers met: the one met first (equal scores sort first)
        key = _key(run, item[2])
        if key not in kept and len(first.best) < first.survivors:
            kept.add(key)
            first.best.append(item)
    run.finish()
    return run.result(t0, shards=workers or shards)  # no blocks left: the scoring was spread


def _key(run: _Shard, payload: Any) -> Any:
    if isinstance(payload, Arch):
        return payload.arch_id
    assert run.draws is not None
    return int(run.draws.keys(np.asarray(payload)[None])[0])


def _score_part(
    space: Space, model: GennapePredictor | None, plan: _Plan, items: list[tuple[int, Arch]]
) -> tuple[list[Rated], dict[str, float]]:
    seconds = {"compile": 0.0, "hash": 0.0, "featurize": 0.0, "forward": 0.0}
    with torch_threads(plan.threads if model is not None else None):
        rated = score_archs(
            space,
            model,
            items,
            batch=plan.batch,
            kappa=plan.kappa,
            seconds=seconds,
            graphs=plan.graphs,
        )
    return rated, seconds


def _first_pass_part(
    space: Space, plan: _Plan, weights: np.ndarray, start: int, step: int
) -> dict[str, Any]:
    """The first pass with fitted ``weights`` over blocks ``start, start + step, ...``."""
    run = _Shard(space, None, plan)
    assert run.first is not None
    run.first.weights = weights
    blocks = candidates(
        space, plan.n, plan.seed, enumerate_all=plan.enumerate_all, start=start, step=step,
        block=plan.block,
    )  # fmt: skip
    for block in blocks:
        run.consume(block)
    return {
        "best": run.first.best,
        "candidates": run.candidates,
        "distinct_rows": run.distinct_rows,
        "scored": run.first.scored,
        "first_pass_s": run.first.seconds,
        "seconds": run.seconds,
    }
