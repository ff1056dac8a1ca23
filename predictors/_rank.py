"""Rank many candidates of a space with a predictor, in a stream, without training any.

The pipeline is a stream of blocks: draw (or enumerate) -> dedupe on the decisions (a space of
choices and int ranges is drawn as rows of decision indices, and a repeated row is dropped
before any ``Arch`` is built) -> the cheap first pass (a ridge regression on the one-hot
decisions, fitted to the graph encoder's own scores on the first ``calibration`` distinct
candidates, keeps the best ``survivors``) -> compile -> dedupe by ``graph_hash`` -> featurize
-> batched forward -> a bounded top-k heap. The first pass is on by default past
``FIRST_PASS_ABOVE`` candidates (``survivors=0`` turns it off) and the result says so
(``RankResult.first_pass``). Nothing grows with the number of candidates but capped "seen"
sets of 64-bit ids (``seen_limit`` each), so memory stays flat from ten thousand to a million
candidates. With ``ray=True`` the candidates are split into shards ranked by Ray workers,
each returning its top-k.
"""

from __future__ import annotations

import contextlib
import heapq
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from nas.errors import NasError
from nas.predictors._errors import PredictorError
from nas.predictors._features import featurize
from nas.predictors._model import GennapePredictor
from nas.predictors._rank_first import Block, DecisionDraws, FirstPass
from nas.space import Arch, Space

__all__ = ["RankResult", "rank_candidates"]

# Measured with benchmarks/scale_rank.py on 2 cores (benchmarks/results/scale_rank.json):
# about 64 graphs per forward is fastest, larger batches keep more graphs alive and slow
# compile through the garbage collector; one torch thread beats two whenever the other
# core is busy (compile and featurize run on it), which is the normal case.
DEFAULT_BATCH = 64
DEFAULT_THREADS = 1
SEEN_LIMIT = 1 << 18  # ids remembered for dedupe (each set: ~60 bytes per id at most)
# Past this many candidates the first pass is on by default: compile + graph hash cost ~3 ms
# a candidate, the first pass ~1 us (benchmarks/results/scale_rank.json).
FIRST_PASS_ABOVE = 50_000
DEFAULT_SURVIVORS = 2048
DEFAULT_CALIBRATION = 2048
BLOCK = 1 << 16  # candidates drawn per numpy call

Scored = tuple[float, int, str, Arch, float]  # (score, -index, graph_hash, arch, std)


@dataclass(frozen=True)
class _Plan:
    """What every shard of one ranking does (see `rank_candidates` for the fields)."""

    n: int
    top: int
    enumerate_all: bool
    batch: int
    threads: int | None
    survivors: int  # 0: no first pass
    calibration: int
    seen_limit: int
    auto_first_pass: bool = False


@dataclass
class RankResult:
    """Top candidates and where the time went.

    Attributes:
        top: ``(arch, score, std)`` best first (``std`` is 0 without a model); ties go to
            the candidate met first.
        scorer: ``"gennape"`` or ``"params"`` (the fallback without a model).
        candidates: archs sampled/enumerated; ``unique``: distinct graphs scored by the
            final scorer (after every dedupe).
        distinct: ``{"decisions", "archs", "graphs"}``: how many candidates were left after
            the dedupe on the decisions (rows of decision indices; equal to ``candidates``
            for a stream of archs), how many distinct archs were compiled, and how many
            distinct graphs (by graph hash) the final scorer scored.
        seconds: ``{"sample", "dedupe", "decode", "first_pass", "compile", "hash",
            "featurize", "forward", "total"}`` (``decode``: decision rows to archs).
        first_pass: with the first pass (``survivors``, or by default past
            ``FIRST_PASS_ABOVE`` candidates): ``{"scorer", "auto", "scored", "survivors",
            "calibration", "calibration_spearman"}`` (``auto``: on by default, not asked for;
            ``calibration_spearman``: the cheap pass's rank correlation with the graph
            encoder on held-out calibration candidates); else None.
        shards: how many Ray workers ranked a shard (0: this process).
        indices: each top candidate's position in the candidate stream (sampled or
            enumerated order); ``graph_hashes``: its graph hash.
    """

    top: list[tuple[Arch, float, float]]
    scorer: str
    candidates: int
    unique: int
    seconds: dict[str, float] = field(default_factory=dict)
    first_pass: dict[str, Any] | None = None
    shards: int = 0
    indices: list[int] = field(default_factory=list)
    graph_hashes: list[str] = field(default_factory=list)
    distinct: dict[str, int] = field(default_factory=dict)

    @property
    def graphs_per_s(self) -> float:
        return self.candidates / max(self.seconds.get("total", 0.0), 1e-9)


class _Seen:
    """A capped set of 64-bit ids: past ``limit`` it stops growing (repeats then cost a
    second scoring, never a wrong or repeated result: the top-k heap dedupes too)."""

    def __init__(self, limit: int) -> None:
        self.ids: set[int] = set()
        self.limit = limit

    def add(self, key: int) -> bool:
        """True when ``key`` is new."""
        if key in self.ids:
            return False
        if len(self.ids) < self.limit:
            self.ids.add(key)
        return True


def _id64(hex_id: str) -> int:
    return int(hex_id[:16], 16)


class _TopK:
    """The best ``k`` scored candidates, one per graph hash."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.heap: list[Scored] = []
        self.hashes: set[str] = set()

    def push(self, item: Scored) -> None:
        if item[2] in self.hashes:
            return
        if len(self.heap) < self.k:
            heapq.heappush(self.heap, item)
        elif item[:2] > self.heap[0][:2]:
            self.hashes.discard(heapq.heapreplace(self.heap, item)[2])
        else:
            return
        self.hashes.add(item[2])

    def best(self) -> list[Scored]:
        return sorted(self.heap, key=lambda s: (-s[0], -s[1]))


def candidates(
    space: Space,
    n: int,
    rng: np.random.Generator,
    *,
    enumerate_all: bool = False,
    shard: int = 0,
    shards: int = 1,
    block: int = BLOCK,
) -> Iterator[Block]:
    """The candidates of one shard, in blocks: ``n`` drawn ones (all enumerated ones when
    ``n`` is 0 with ``enumerate_all``). Enumerated index ``i`` belongs to shard
    ``i % shards``; a drawing shard draws its ``n`` from its own ``rng`` with indices
    ``shard, shard + shards, ...``. A space of choices and int ranges is drawn as decision
    rows (:class:`~nas.predictors._rank_first.DecisionDraws`), any other space sampled arch
    by arch with :meth:`Space.sample`."""
    if enumerate_all:
        archs: list[Arch] = []
        indices: list[int] = []
        for i, arch in enumerate(space.enumerate()):
            if n and i >= n:
                break
            if i % shards == shard:
                archs.append(arch)
                indices.append(i)
                if len(archs) == block:
                    yield Block(np.array(indices), archs=archs)
                    archs, indices = [], []
        if archs:
            yield Block(np.array(indices), archs=archs)
        return
    draws = DecisionDraws(space) if DecisionDraws.supports(space) else None
    for start in range(0, n, block):
        m = min(block, n - start)
        index = np.arange(start, start + m) * shards + shard
        if draws is not None:
            yield Block(index, rows=draws.draw(rng, m))
        else:
            yield Block(index, archs=[space.sample(rng) for _ in range(m)])


def rank_candidates(
    space: Space,
    n: int,
    top: int,
    *,
    model: GennapePredictor | None = None,
    rng: np.random.Generator,
    enumerate_all: bool = False,
    batch: int = DEFAULT_BATCH,
    threads: int | None = DEFAULT_THREADS,
    survivors: int | None = None,
    calibration: int = DEFAULT_CALIBRATION,
    seen_limit: int = SEEN_LIMIT,
    ray: bool = False,
    shards: int | None = None,
    address: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> RankResult:
    """Score ``n`` sampled (or all enumerated) candidates and return the ``top`` ones.

    Args:
        space: the space to rank.
        n: candidates to sample (with ``enumerate_all``: the first ``n``, 0 for all).
        top: how many to return.
        model: a fitted predictor; None ranks by params (no torch forward).
        rng: the sampling generator (with ``ray``, each shard's comes from it).
        batch: graphs per forward pass; ``threads``: torch threads while ranking (None:
            leave torch's setting). The defaults were measured (see ``DEFAULT_BATCH``).
        survivors: how many candidates the cheap first pass hands to the model; None: the
            first pass runs with ``DEFAULT_SURVIVORS`` past ``FIRST_PASS_ABOVE`` candidates
            (with a model) and not below; 0: never (the model scores every candidate).
        calibration: distinct candidates scored by the model to fit the first pass.
        seen_limit: ids remembered per dedupe set (memory stays flat past it).
        ray: rank ``shards`` shards (default: the cluster's CPUs) as Ray tasks; Ray starts
            embedded on this machine, or joins the cluster at ``address``.
        progress: called with how many candidates were consumed since the last call.

    Example:
        >>> from nas.space import get_space
        >>> r = rank_candidates(get_space("nb_macro"), 20, 3, rng=np.random.default_rng(0))
        >>> len(r.top), r.scorer, r.first_pass
        (3, 'params', None)
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise PredictorError(f"Expected top to be an int >= 1 (got {top!r}).")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0 or (n == 0 and not enumerate_all):
        raise PredictorError(
            f"Expected n to be an int >= 1 candidates (got {n!r}); n=0 means every "
            f"candidate and needs enumerate_all=True."
        )
    if batch < 1:
        raise PredictorError(f"Expected batch to be an int >= 1 graphs (got {batch!r}).")
    if survivors is not None and survivors < 0:
        raise PredictorError(f"Expected survivors >= 0 (got {survivors!r}); 0 turns it off.")
    if survivors and (model is None or survivors < top):
        raise PredictorError(
            f"survivors={survivors!r} needs a model and at least top={top} survivors; "
            f"drop survivors to score every candidate."
        )
    auto = survivors is None
    if survivors is None:
        count = n or (space.size() or 0)
        big = model is not None and count > FIRST_PASS_ABOVE
        survivors = max(DEFAULT_SURVIVORS, top) if big else 0
    plan = _Plan(n, top, enumerate_all, batch, threads, survivors, calibration, seen_limit, auto)
    if ray:
        return _rank_on_ray(space, model, plan, rng, shards, address, progress)
    with _torch_threads(threads if model is not None else None):
        return _rank_shard(space, model, plan, rng, 0, 1, progress)


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _Scorer:
    """Compile -> graph-hash dedupe -> featurize -> batched forward -> heap, timing each."""

    def __init__(self, space: Space, model: GennapePredictor | None, batch: int, seen: int):
        self.space, self.model, self.batch = space, model, batch
        self.graphs = _Seen(seen)
        self.pending: list[tuple[int, Arch]] = []
        self.unique = 0
        self.compiled = 0
        self.seconds = {"compile": 0.0, "hash": 0.0, "featurize": 0.0, "forward": 0.0}

    def add(self, index: int, arch: Arch, heap: _TopK) -> None:
        self.pending.append((index, arch))
        if len(self.pending) >= self.batch:
            self.flush(heap)

    def flush(self, heap: _TopK) -> list[tuple[int, Arch, float]]:
        """Score the pending candidates into ``heap``; returns ``(index, arch, score)``."""
        t = time.perf_counter()
        built = [
            (index, arch, self.space.compile(arch, check=False)) for index, arch in self.pending
        ]
        self.compiled += len(built)
        self.pending = []
        t1 = time.perf_counter()
        kept, graphs, hashes = [], [], []
        for index, arch, graph in built:
            h = graph.graph_hash()
            if self.graphs.add(_id64(h)):
                kept.append((index, arch))
                graphs.append(graph)
                hashes.append(h)
        self.seconds["compile"] += t1 - t
        self.seconds["hash"] += time.perf_counter() - t1
        if not kept:
            return []
        self.unique += len(kept)
        if self.model is None:
            means, stds = [float(g.params) for g in graphs], [0.0] * len(graphs)
        else:
            t = time.perf_counter()
            feats = [featurize(g, self.model.spec) for g in graphs]
            self.seconds["featurize"] += time.perf_counter() - t
            t = time.perf_counter()
            pred = self.model.predict(feats, chunk=len(feats))
            self.seconds["forward"] += time.perf_counter() - t
            means, stds = pred.mean.tolist(), pred.std.tolist()
        for (index, arch), h, m, s in zip(kept, hashes, means, stds):
            heap.push((m, -index, h, arch, s))
        return [(index, arch, m) for (index, arch), m in zip(kept, means)]


class _Shard:
    """One shard's stream: dedupe on the decisions, then arch ids, then (first pass or
    not) the scorer."""

    def __init__(self, space: Space, model: GennapePredictor | None, plan: _Plan) -> None:
        self.space, self.plan = space, plan
        self.heap = _TopK(plan.top)
        self.scorer = _Scorer(space, model, plan.batch, plan.seen_limit)
        self.rows = _Seen(plan.seen_limit)
        self.archs = _Seen(plan.seen_limit)
        self.draws = DecisionDraws(space) if DecisionDraws.supports(space) else None
        self.first: FirstPass | None = None
        if plan.survivors:
            self.first = FirstPass(
                space, self.draws, plan.survivors, plan.calibration, plan.auto_first_pass
            )
        self.calib: list[tuple[int, Arch, np.ndarray]] = []
        self.distinct_rows = 0
        self.seconds = {"dedupe": 0.0, "decode": 0.0}

    def consume(self, block: Block) -> None:
        t = time.perf_counter()
        block = self._new_decisions(block)
        self.seconds["dedupe"] += time.perf_counter() - t
        self.distinct_rows += len(block)
        first = self.first
        start = 0
        if first is None or not first.calibrated:
            for j in range(len(block)):
                index, arch = int(block.indices[j]), self._arch(block, j)
                if not self.archs.add(_id64(arch.arch_id)):
                    continue
                if first is None:
                    self.scorer.add(index, arch, self.heap)
                    continue
                self.calib.append((index, arch, first.features(block.take(slice(j, j + 1)))[0]))
                if len(self.calib) >= first.calibration:
                    self._calibrate()
                    start = j + 1
                    break
            else:
                return
        assert first is not None
        first.add(block.take(slice(start, None)))

    def finish(self) -> None:
        first = self.first
        if first is not None and not first.calibrated:  # fewer candidates than calibration
            for index, arch, _ in self.calib:
                self.scorer.add(index, arch, self.heap)
        elif first is not None:
            for _, minus_index, payload in first.best:
                arch = payload if isinstance(payload, Arch) else self._decode(payload)
                if self.archs.add(_id64(arch.arch_id)):
                    self.scorer.add(-minus_index, arch, self.heap)
        self.scorer.flush(self.heap)

    def _calibrate(self) -> None:
        assert self.first is not None
        scored: list[tuple[int, Arch, float]] = []
        features = {index: x for index, _, x in self.calib}
        for start in range(0, len(self.calib), self.scorer.batch):
            part = self.calib[start : start + self.scorer.batch]
            self.scorer.pending = [(index, arch) for index, arch, _ in part]
            scored += self.scorer.flush(self.heap)
        x = np.stack([features[index] for index, _, _ in scored])
        self.first.fit(x, np.array([s for _, _, s in scored]))
        self.calib = []

    def _new_decisions(self, block: Block) -> Block:
        """The block without rows met before (in this block or an earlier one)."""
        if block.rows is None or self.draws is None:
            return block
        keys = self.draws.keys(block.rows)
        _, first_at = np.unique(keys, return_index=True)
        first_at.sort()
        keep = [j for j in first_at.tolist() if self.rows.add(int(keys[j]))]
        return block.take(np.array(keep, dtype=np.int64))

    def _arch(self, block: Block, j: int) -> Arch:
        if block.archs is not None:
            return block.archs[j]
        assert block.rows is not None
        return self._decode(block.rows[j])

    def _decode(self, row: np.ndarray) -> Arch:
        assert self.draws is not None
        t = time.perf_counter()
        arch = self.draws.arch(row)
        self.seconds["decode"] += time.perf_counter() - t
        return arch


def _rank_shard(
    space: Space,
    model: GennapePredictor | None,
    plan: _Plan,
    rng: np.random.Generator,
    shard: int,
    shards: int,
    progress: Callable[[int], None] | None,
) -> RankResult:
    t0 = time.perf_counter()
    run = _Shard(space, model, plan)
    count = 0
    for block in candidates(
        space, plan.n, rng, enumerate_all=plan.enumerate_all, shard=shard, shards=shards
    ):
        count += len(block)
        run.consume(block)
        if progress is not None:
            progress(len(block))
    run.finish()
    seconds = {**run.seconds, **run.scorer.seconds}
    seconds["first_pass"] = run.first.seconds if run.first is not None else 0.0
    seconds["total"] = time.perf_counter() - t0
    stages = sum(v for k, v in seconds.items() if k != "total")
    seconds["sample"] = max(0.0, seconds["total"] - stages)  # drawing, and the loop itself
    distinct = {
        "decisions": run.distinct_rows,
        "archs": run.scorer.compiled,
        "graphs": run.scorer.unique,
    }
    return _result(
        run.heap,
        "gennape" if model is not None else "params",
        count,
        run.scorer.unique,
        seconds,
        run.first.report() if run.first is not None else None,
        0,
        distinct,
    )


def _result(
    heap: _TopK, scorer: str, count: int, unique: int, seconds: dict[str, float],
    first: dict[str, Any] | None, shards: int, distinct: dict[str, int],
) -> RankResult:  # fmt: skip
    best = heap.best()
    return RankResult(
        [(arch, score, std) for score, _, _, arch, std in best],
        scorer, count, unique, seconds, first, shards,
        [-minus_index for _, minus_index, _, _, _ in best],
        [h for _, _, h, _, _ in best],
        distinct,
    )  # fmt: skip


# ----------------------------------------------------------------------------- Ray
def _rank_on_ray(
    space: Space,
    model: GennapePredictor | None,
    plan: _Plan,
    rng: np.random.Generator,
    shards: int | None,
    address: str | None,
    progress: Callable[[int], None] | None,
) -> RankResult:
    import ray

    from nas.run._ray_search import init_ray

    t0 = time.perf_counter()
    started = init_ray(address)
    try:
        if shards is None:
            shards = max(1, int(ray.cluster_resources().get("CPU", 1)))
        if shards < 1:
            raise NasError(f"Expected shards to be an int >= 1 (got {shards!r}).")
        seeds = [int(s) for s in rng.integers(0, 2**63 - 1, size=shards)]
        n = plan.n
        task = ray.remote(num_cpus=1)(_ray_shard)
        space_ref, model_ref = ray.put(space), ray.put(model)
        refs = []
        for s in range(shards):
            # enumeration: every shard walks the same order and keeps its indices; sampling:
            # the shards share the n draws, each from its own generator
            part = plan if plan.enumerate_all else replace(plan, n=n // shards + (s < n % shards))
            refs.append(task.remote(space_ref, model_ref, part, seeds[s], s, shards))
        parts: list[RankResult] = []
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            part = ray.get(done[0])
            parts.append(part)
            if progress is not None:
                progress(part.candidates)
    finally:
        if started:
            ray.shutdown()
    return _merge(parts, plan.top, time.perf_counter() - t0)


def _ray_shard(
    space: Space, model: GennapePredictor | None, plan: _Plan, seed: int, shard: int, shards: int
) -> RankResult:
    with _torch_threads(plan.threads if model is not None else None):
        return _rank_shard(space, model, plan, np.random.default_rng(seed), shard, shards, None)


def _merge(parts: list[RankResult], top: int, total_s: float) -> RankResult:
    """One top-k from the shards' top-ks (each shard's best include every candidate of the
    global top-k that it holds, so this equals ranking all candidates at once)."""
    heap = _TopK(top)
    for part in parts:
        for (arch, score, std), index, h in zip(part.top, part.indices, part.graph_hashes):
            heap.push((score, -index, h, arch, std))
    seconds: dict[str, float] = {}
    for part in parts:
        for key, value in part.seconds.items():
            seconds[key] = seconds.get(key, 0.0) + value  # summed over the workers
    seconds["total"] = total_s
    count = sum(p.candidates for p in parts)
    first = parts[0].first_pass if parts else None
    if first is not None:
        first = {**first, "scored": sum((p.first_pass or {}).get("scored", 0) for p in parts)}
    distinct = {
        k: sum(p.distinct.get(k, 0) for p in parts) for k in ("decisions", "archs", "graphs")
    }
    return _result(
        heap, parts[0].scorer if parts else "params", count, sum(p.unique for p in parts),
        seconds, first, len(parts), distinct,
    )  # fmt: skip
