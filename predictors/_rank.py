"""Rank many candidates of a space with a predictor, in a stream, without training any.

The pipeline is a stream: sample or enumerate -> dedupe (``arch_id``, then ``graph_hash``)
-> compile -> featurize -> batched forward -> a bounded top-k heap. Nothing grows with the
number of candidates but two capped "seen" sets of 64-bit ids (``seen_limit`` each), so
memory stays flat from ten thousand to a million candidates. With ``survivors=M`` a cheap
first pass scores every candidate from its decisions alone (a ridge regression on the
arch encoding, fitted to the graph encoder's own scores on the first ``calibration``
distinct candidates), and only the best ``M`` of that pass are compiled and scored by
the graph encoder; the result says so (``RankResult.first_pass``). With ``ray=True`` the
candidates are split into shards ranked by Ray workers, each returning its top-k.
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
from nas.space import Arch, Space

__all__ = ["RankResult", "rank_candidates"]

# Measured with benchmarks/scale_rank.py on 2 cores (benchmarks/results/scale_rank.json):
# about 64 graphs per forward is fastest, larger batches keep more graphs alive and slow
# compile through the garbage collector; one torch thread beats two whenever the other
# core is busy (compile and featurize run on it), which is the normal case.
DEFAULT_BATCH = 64
DEFAULT_THREADS = 1
SEEN_LIMIT = 1 << 18  # ids remembered for dedupe (each set: ~60 bytes per id at most)

Scored = tuple[float, int, str, Arch, float]  # (score, -index, graph_hash, arch, std)


@dataclass(frozen=True)
class _Plan:
    """What every shard of one ranking does (see `rank_candidates` for the fields)."""

    n: int
    top: int
    enumerate_all: bool
    batch: int
    threads: int | None
    survivors: int | None
    calibration: int
    seen_limit: int


@dataclass
class RankResult:
    """Top candidates and where the time went.

    Attributes:
        top: ``(arch, score, std)`` best first (``std`` is 0 without a model); ties go to
            the candidate met first.
        scorer: ``"gennape"`` or ``"params"`` (the fallback without a model).
        candidates: archs sampled/enumerated; ``unique``: distinct ones scored (by arch id,
            then graph hash) by the final scorer.
        seconds: ``{"sample", "compile", "featurize", "forward", "first_pass", "total"}``.
        first_pass: with ``survivors``: ``{"scorer", "candidates", "survivors",
            "calibration", "calibration_spearman"}`` (the cheap pass's rank correlation with
            the graph encoder on held-out calibration candidates); else None.
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

    @property
    def graphs_per_s(self) -> float:
        return self.candidates / max(self.seconds.get("total", 0.0), 1e-9)


class _Seen:
    """A capped set of 64-bit ids: past ``limit`` it stops growing (repeats then cost a
    second scoring, never a wrong or repeated result: the top-k heap dedupes too)."""

    def __init__(self, limit: int) -> None:
        self.ids: set[int] = set()
        self.limit = limit

    def add(self, hex_id: str) -> bool:
        """True when ``hex_id`` is new."""
        key = int(hex_id[:16], 16)
        if key in self.ids:
            return False
        if len(self.ids) < self.limit:
            self.ids.add(key)
        return True


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
) -> Iterator[tuple[int, Arch]]:
    """``(index, arch)`` for the ``n`` candidates (all enumerated ones when ``n`` is 0) of one
    shard: enumerated index ``i`` belongs to shard ``i % shards``; a sampling shard draws its
    ``n`` archs from its own ``rng`` with indices ``shard, shard + shards, ...``."""
    if enumerate_all:
        for i, arch in enumerate(space.enumerate()):
            if n and i >= n:
                return
            if i % shards == shard:
                yield i, arch
        return
    for j in range(n):
        yield j * shards + shard, space.sample(rng)


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
    calibration: int = 2048,
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
        survivors: run the cheap first pass and score only this many with the model.
        calibration: distinct candidates scored by the model to fit the first pass.
        seen_limit: ids remembered per dedupe set (memory stays flat past it).
        ray: rank ``shards`` shards (default: the cluster's CPUs) as Ray tasks; Ray starts
            embedded on this machine, or joins the cluster at ``address``.
        progress: called with how many candidates were consumed since the last call.

    Example:
        >>> from nas.space import get_space
        >>> r = rank_candidates(get_space("nb_macro"), 20, 3, rng=np.random.default_rng(0))
        >>> len(r.top), r.scorer
        (3, 'params')
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
    if survivors is not None and (model is None or survivors < top):
        raise PredictorError(
            f"survivors={survivors!r} needs a model and at least top={top} survivors; "
            f"drop survivors to score every candidate."
        )
    plan = _Plan(n, top, enumerate_all, batch, threads, survivors, calibration, seen_limit)
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
        self.seconds = {"compile": 0.0, "featurize": 0.0, "forward": 0.0}

    def add(self, index: int, arch: Arch, heap: _TopK) -> None:
        self.pending.append((index, arch))
        if len(self.pending) >= self.batch:
            self.flush(heap)

    def flush(self, heap: _TopK) -> list[tuple[int, Arch, float]]:
        """Score the pending candidates into ``heap``; returns ``(index, arch, score)``."""
        t = time.perf_counter()
        kept, graphs, hashes = [], [], []
        for index, arch in self.pending:
            graph = self.space.compile(arch, check=False)
            h = graph.graph_hash()
            if self.graphs.add(h):
                kept.append((index, arch))
                graphs.append(graph)
                hashes.append(h)
        self.pending = []
        self.seconds["compile"] += time.perf_counter() - t
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
    heap = _TopK(plan.top)
    scorer = _Scorer(space, model, plan.batch, plan.seen_limit)
    archs = _Seen(plan.seen_limit)
    count = 0
    stream = candidates(
        space, plan.n, rng, enumerate_all=plan.enumerate_all, shard=shard, shards=shards
    )
    first: _FirstPass | None = None
    if plan.survivors is not None:
        first = _FirstPass(space, plan.survivors, plan.calibration)
    for index, arch in stream:
        count += 1
        if progress is not None and count % 1024 == 0:
            progress(1024)
        if not archs.add(arch.arch_id):
            continue
        if first is None or not first.calibrated:
            if first is not None:
                first.calibrate(index, arch, scorer, heap)
            else:
                scorer.add(index, arch, heap)
        else:
            first.add(index, arch)
    if first is not None:
        first.finish(scorer, heap)
    scorer.flush(heap)
    if progress is not None and count % 1024:
        progress(count % 1024)
    seconds = dict(scorer.seconds)
    seconds["first_pass"] = first.seconds if first is not None else 0.0
    seconds["total"] = time.perf_counter() - t0
    seconds["sample"] = max(0.0, seconds["total"] - sum(scorer.seconds.values()))
    seconds["sample"] -= seconds["first_pass"]
    return _result(
        heap,
        "gennape" if model is not None else "params",
        count,
        scorer.unique,
        seconds,
        first.report(count) if first is not None else None,
        0,
    )


def _result(
    heap: _TopK, scorer: str, count: int, unique: int, seconds: dict[str, float],
    first: dict[str, Any] | None, shards: int,
) -> RankResult:  # fmt: skip
    best = heap.best()
    return RankResult(
        [(arch, score, std) for score, _, _, arch, std in best],
        scorer, count, unique, seconds, first, shards,
        [-minus_index for _, minus_index, _, _, _ in best],
        [h for _, _, h, _, _ in best],
    )  # fmt: skip


class _FirstPass:
    """Ridge regression from the one-hot arch encoding to the model's score: fitted on the
    first ``calibration`` distinct candidates (all scored by the model too), it keeps the
    best ``survivors`` of the rest for the model."""

    def __init__(self, space: Space, survivors: int, calibration: int) -> None:
        self.space, self.calibration = space, max(16, calibration)
        self.survivors = _TopK(survivors)
        self.calibrated = False
        self.calib: list[tuple[int, Arch]] = []
        self.weights: np.ndarray | None = None
        self.spearman = float("nan")
        self.seconds = 0.0
        self.block: list[tuple[int, Arch]] = []

    def calibrate(self, index: int, arch: Arch, scorer: _Scorer, heap: _TopK) -> None:
        self.calib.append((index, arch))
        if len(self.calib) < self.calibration:
            return
        scorer.pending = []
        scored: list[tuple[int, Arch, float]] = []
        for start in range(0, len(self.calib), scorer.batch):
            scorer.pending = self.calib[start : start + scorer.batch]
            scored += scorer.flush(heap)
        t = time.perf_counter()
        x = np.stack([self._encode(a) for _, a, _ in scored])
        y = np.array([s for _, _, s in scored])
        half = len(y) // 2
        held = self._fit(x[:half], y[:half])
        self.spearman = _spearman(x[half:] @ held, y[half:])
        self.weights = self._fit(x, y)
        self.calib, self.calibrated = [], True
        self.seconds += time.perf_counter() - t

    def add(self, index: int, arch: Arch) -> None:
        self.block.append((index, arch))
        if len(self.block) >= 4096:
            self._score_block()

    def finish(self, scorer: _Scorer, heap: _TopK) -> None:
        if not self.calibrated:  # fewer candidates than the calibration: all go to the model
            for index, arch in self.calib:
                scorer.add(index, arch, heap)
            self.calib = []
            return
        self._score_block()
        for _, minus_index, _, arch, _ in self.survivors.best():
            scorer.add(-minus_index, arch, heap)

    def report(self, count: int) -> dict[str, Any]:
        return {
            "scorer": "ridge on the one-hot arch encoding, fitted to the model's scores",
            "candidates": count,
            "survivors": self.survivors.k,
            "calibration": self.calibration,
            "calibration_spearman": self.spearman,
        }

    def _encode(self, arch: Arch) -> np.ndarray:
        return np.append(self.space.encode(arch, onehot=True), 1.0)

    @staticmethod
    def _fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        gram = x.T @ x + 1e-3 * len(y) * np.eye(x.shape[1])
        return np.linalg.solve(gram, x.T @ y)

    def _score_block(self) -> None:
        if not self.block:
            return
        t = time.perf_counter()
        assert self.weights is not None
        scores = np.stack([self._encode(a) for _, a in self.block]) @ self.weights
        for (index, arch), s in zip(self.block, scores.tolist()):
            self.survivors.push((s, -index, arch.arch_id, arch, 0.0))
        self.block = []
        self.seconds += time.perf_counter() - t


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3:
        return float("nan")
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


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
        first = {**first, "candidates": count}
    return _result(
        heap, parts[0].scorer if parts else "params", count, sum(p.unique for p in parts),
        seconds, first, len(parts),
    )  # fmt: skip
