"""Rank many candidates of a space with a predictor, in a stream, without training any.

The pipeline is a stream of blocks: draw (or enumerate, or take the given archs) -> dedupe on
the decisions (a space of choices and int ranges is drawn as rows of decision indices, and a
repeated row is dropped before any ``Arch`` is built) -> the cheap first pass (a ridge
regression on the one-hot decisions, fitted to the graph encoder's own scores on the first
``calibration`` distinct candidates, keeps the best ``survivors``) -> compile -> dedupe by
``graph_hash`` -> featurize -> batched forward -> a bounded top-k heap. The first pass is on
by default past ``FIRST_PASS_ABOVE`` candidates (``survivors=0`` turns it off) and the result
says so (``RankResult.first_pass``). Nothing grows with the number of candidates but capped
"seen" sets of 64-bit ids (``seen_limit`` each), so memory stays flat from ten thousand to a
million candidates.

Block ``b`` of a drawn stream comes from its own generator (``default_rng([seed, b])``), so
the candidates do not depend on who draws them: with ``ray=True`` Ray workers rank whole
blocks (:mod:`nas.predictors._rank_ray`) and the result is the one-process result.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nas.predictors._errors import PredictorError
from nas.predictors._features import GraphFeatures, featurize
from nas.predictors._model import GennapePredictor
from nas.predictors._rank_first import Block, DecisionDraws, FirstPass
from nas.space import Arch, Space

__all__ = ["FeatureCache", "RankResult", "rank_candidates"]

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
BLOCK = 1 << 16  # candidates drawn per numpy call; also the unit a Ray worker ranks

Scored = tuple[float, int, str, Arch, float]  # (score, -index, graph_hash, arch, std)
# what scoring a candidate gives: (index, arch, graph_hash, score, std)
Rated = tuple[int, Arch, str, float, float]


@dataclass(frozen=True)
class _Plan:
    """What every part of one ranking does (see `rank_candidates` for the fields)."""

    n: int
    top: int
    enumerate_all: bool
    batch: int
    threads: int | None
    survivors: int  # 0: no first pass
    calibration: int
    seen_limit: int
    auto_first_pass: bool = False
    kappa: float = 0.0
    seed: int = 0  # block b of a drawn stream comes from default_rng([seed, b])
    block: int = BLOCK
    graphs: bool = True  # dedupe by graph hash (else by arch id alone)


@dataclass
class RankResult:
    """Top candidates and where the time went.

    Attributes:
        top: ``(arch, score, std)`` best first (``std`` is 0 without a model; ``score`` is
            the mean plus ``kappa`` stds); ties go to the candidate met first.
        scorer: ``"gennape"`` or ``"params"`` (the fallback without a model).
        candidates: archs sampled/enumerated/given; ``unique``: distinct graphs scored by
            the final scorer (after every dedupe).
        distinct: ``{"decisions", "archs", "graphs"}``: how many candidates were left after
            the dedupe on the decisions (rows of decision indices; equal to ``candidates``
            for a stream of archs), how many distinct archs were compiled, and how many
            distinct graphs (by graph hash) the final scorer scored.
        seconds: ``{"sample", "dedupe", "decode", "first_pass", "compile", "hash",
            "featurize", "forward", "total"}`` (``decode``: decision rows to archs; on Ray
            the stages are summed over the workers, ``ray_start`` is Ray's start-up and
            ``total`` the wall time).
        first_pass: with the first pass (``survivors``, or by default past
            ``FIRST_PASS_ABOVE`` candidates): ``{"scorer", "auto", "scored", "survivors",
            "calibration", "calibration_spearman"}`` (``auto``: on by default, not asked for;
            ``calibration_spearman``: the cheap pass's rank correlation with the graph
            encoder on held-out calibration candidates); else None.
        shards: how many Ray workers ranked (0: this process).
        indices: each top candidate's position in the candidate stream (sampled,
            enumerated or given order); ``graph_hashes``: its graph hash.
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


class FeatureCache:
    """Featurized graphs by ``arch_id`` (with their graph hash), the least recently used
    dropped past ``limit``: a caller that ranks overlapping candidates again and again (the
    predictor strategy ranks the neighbours of the same archs round after round) compiles
    each once.

    Example:
        >>> cache = FeatureCache(2)
        >>> cache.put("a", "h", None); cache.put("b", "h", None); cache.put("c", "h", None)
        >>> cache.get("a") is None, len(cache)
        (True, 2)
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: OrderedDict[str, tuple[str, GraphFeatures]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.items)

    def get(self, arch_id: str) -> tuple[str, GraphFeatures] | None:
        hit = self.items.get(arch_id)
        if hit is not None:
            self.items.move_to_end(arch_id)
        return hit

    def put(self, arch_id: str, graph_hash: str, features: GraphFeatures) -> None:
        self.items[arch_id] = (graph_hash, features)
        self.items.move_to_end(arch_id)
        while len(self.items) > self.limit:
            self.items.popitem(last=False)


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


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def candidates(
    space: Space,
    n: int,
    seed: int,
    *,
    enumerate_all: bool = False,
    archs: Iterable[Arch] | None = None,
    start: int = 0,
    step: int = 1,
    block: int = BLOCK,
) -> Iterator[Block]:
    """Blocks ``start, start + step, ...`` of the candidate stream (block ``b`` holds the
    candidates at positions ``b * block`` to ``(b + 1) * block - 1``): ``n`` drawn ones,
    the first ``n`` enumerated or given ones (all of them when ``n`` is 0). Block ``b`` is
    drawn from ``default_rng([seed, b])``. A space of choices and int ranges is drawn as
    decision rows (:class:`~nas.predictors._rank_first.DecisionDraws`), any other space
    sampled arch by arch with :meth:`Space.sample`."""
    if enumerate_all or archs is not None:
        source = iter(space.enumerate() if archs is None else archs)
        if n:
            source = itertools.islice(source, n)
        for b, chunk in enumerate(_chunks(source, block)):
            if b >= start and (b - start) % step == 0:
                yield Block(np.arange(b * block, b * block + len(chunk)), archs=chunk)
        return
    draws = DecisionDraws(space) if DecisionDraws.supports(space) else None
    for b in range(start, -(-n // block), step):
        rng = np.random.default_rng([seed, b])
        m = min(block, n - b * block)
        index = np.arange(b * block, b * block + m)
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
    rng: np.random.Generator | None = None,
    enumerate_all: bool = False,
    archs: Iterable[Arch] | None = None,
    kappa: float = 0.0,
    batch: int = DEFAULT_BATCH,
    threads: int | None = DEFAULT_THREADS,
    survivors: int | None = None,
    calibration: int = DEFAULT_CALIBRATION,
    seen_limit: int = SEEN_LIMIT,
    dedupe_graphs: bool = True,
    cache: FeatureCache | None = None,
    ray: bool = False,
    shards: int | None = None,
    address: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> RankResult:
    """Score ``n`` sampled (or enumerated, or given) candidates and return the ``top`` ones.

    Args:
        space: the space to rank.
        n: candidates to sample (with ``enumerate_all`` or ``archs``: the first ``n``, 0 for
            all).
        top: how many to return.
        model: a fitted predictor; None ranks by params (no torch forward).
        rng: the sampling generator (one number is drawn from it: the stream's seed).
        archs: rank these candidates, in this order, instead of sampling.
        kappa: rank by the predicted mean plus ``kappa`` stds (an upper confidence bound).
        batch: graphs per forward pass; ``threads``: torch threads while ranking (None:
            leave torch's setting). The defaults were measured (see ``DEFAULT_BATCH``).
        survivors: how many candidates the cheap first pass hands to the model; None: the
            first pass runs with ``DEFAULT_SURVIVORS`` past ``FIRST_PASS_ABOVE`` candidates
            (with a model) and not below; 0: never (the model scores every candidate).
        calibration: distinct candidates scored by the model to fit the first pass.
        seen_limit: ids remembered per dedupe set (memory stays flat past it).
        dedupe_graphs: keep one candidate per graph hash; False keeps one per arch id and
            skips the hash (~5 ms an NB-201 network; ``graph_hashes`` then holds arch ids).
        cache: featurized graphs kept between calls (with a model).
        ray: rank on Ray workers, ``shards`` of them (default: the cluster's CPUs), each
            taking whole blocks of ``BLOCK`` candidates, so a small ranking gets one; Ray
            starts embedded on this machine, or joins the cluster at ``address``. The
            result equals this process's ranking of the same candidates.
        progress: called with how many candidates were consumed since the last call.

    Example:
        >>> from nas.space import get_space
        >>> r = rank_candidates(get_space("nb_macro"), 20, 3, rng=np.random.default_rng(0))
        >>> len(r.top), r.scorer, r.first_pass
        (3, 'params', None)
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise PredictorError(f"Expected top to be an int >= 1 (got {top!r}).")
    listed = enumerate_all or archs is not None
    if isinstance(n, bool) or not isinstance(n, int) or n < 0 or (n == 0 and not listed):
        raise PredictorError(
            f"Expected n to be an int >= 1 candidates (got {n!r}); n=0 means every "
            f"candidate and needs enumerate_all=True or archs."
        )
    if rng is None and not listed:
        raise PredictorError("Sampling candidates needs rng=numpy.random.default_rng(SEED).")
    if batch < 1:
        raise PredictorError(f"Expected batch to be an int >= 1 graphs (got {batch!r}).")
    if survivors is not None and survivors < 0:
        raise PredictorError(f"Expected survivors >= 0 (got {survivors!r}); 0 turns it off.")
    if survivors and (model is None or survivors < top):
        raise PredictorError(
            f"survivors={survivors!r} needs a model and at least top={top} survivors; "
            f"drop survivors to score every candidate."
        )
    if ray and archs is not None:
        raise PredictorError("ray=True ranks sampled or enumerated candidates; drop archs.")
    auto = survivors is None
    if survivors is None:
        if archs is not None:
            count = n or (len(archs) if isinstance(archs, list | tuple) else 0)
        else:
            count = n or (space.size() or 0)
        big = model is not None and count > FIRST_PASS_ABOVE
        survivors = max(DEFAULT_SURVIVORS, top) if big else 0
    seed = int(rng.integers(0, 2**63 - 1)) if rng is not None else 0
    plan = _Plan(
        n, top, enumerate_all, batch, threads, survivors, calibration, seen_limit, auto,
        float(kappa), seed, BLOCK, bool(dedupe_graphs),
    )  # fmt: skip
    if ray:
        from nas.predictors._rank_ray import rank_on_ray

        return rank_on_ray(space, model, plan, shards, address, progress)
    with torch_threads(threads if model is not None else None):
        blocks = candidates(
            space, n, seed, enumerate_all=enumerate_all, archs=archs, block=plan.block
        )
        return rank_blocks(space, model, plan, blocks, progress, cache=cache)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
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


def score_archs(
    space: Space,
    model: GennapePredictor | None,
    items: list[tuple[int, Arch]],
    *,
    batch: int,
    kappa: float,
    seconds: dict[str, float],
    seen: _Seen | None = None,
    cache: FeatureCache | None = None,
    graphs: bool = True,
) -> list[Rated]:
    """Compile -> graph-hash dedupe (a graph in ``seen`` is dropped; None: a fresh set) ->
    featurize -> forward in batches of ``batch``, adding each stage's time to ``seconds``.
    Returns the kept candidates in order (the first of each graph). ``graphs=False``: the
    arch id stands for the graph hash (nothing hashed)."""
    seen = seen if seen is not None else _Seen(len(items) + 1)
    out: list[Rated] = []
    for part in _chunks(items, batch):
        kept: list[tuple[int, Arch, str]] = []
        feats: list[Any] = []  # (graph features with a model, else the graph)
        hit_s = 0.0
        for index, arch in part:
            hit = cache.get(arch.arch_id) if cache is not None and model is not None else None
            x: Any
            if hit is not None:
                h, x = hit
            else:
                t1 = time.perf_counter()
                graph = space.compile(arch, check=False)
                t2 = time.perf_counter()
                h = graph.graph_hash() if graphs else arch.arch_id
                hit_s += time.perf_counter() - t2
                seconds["compile"] += t2 - t1
                x = graph
                if cache is not None and model is not None:  # a repeated graph too: no recompile
                    t1 = time.perf_counter()
                    x = featurize(graph, model.spec)
                    cache.put(arch.arch_id, h, x)
                    seconds["featurize"] += time.perf_counter() - t1
            if seen.add(_id64(h)):
                kept.append((index, arch, h))
                feats.append(x)
        seconds["hash"] += hit_s
        if not kept:
            continue
        if model is None:
            means, stds = [float(g.params) for g in feats], [0.0] * len(feats)
        else:
            t = time.perf_counter()
            for j, x in enumerate(feats):
                if not isinstance(x, GraphFeatures):
                    feats[j] = featurize(x, model.spec)
            seconds["featurize"] += time.perf_counter() - t
            t = time.perf_counter()
            pred = model.predict(feats, chunk=len(feats))
            seconds["forward"] += time.perf_counter() - t
            means, stds = pred.mean.tolist(), pred.std.tolist()
        out += [
            (index, arch, h, m + kappa * s, s) for (index, arch, h), m, s in zip(kept, means, stds)
        ]
    return out


# How a ranking scores a list of candidates: here (`score_archs`), or spread over Ray workers.
Rater = Callable[[list[tuple[int, Arch]], dict[str, float]], list[Rated]]


class _Shard:
    """One stream: dedupe on the decisions, then arch ids, then (first pass or not) the
    scorer, into a top-k heap."""

    def __init__(
        self, space: Space, model: GennapePredictor | None, plan: _Plan,
        cache: FeatureCache | None = None, rater: Rater | None = None,
    ) -> None:  # fmt: skip
        self.space, self.model, self.plan, self.cache = space, model, plan, cache
        self.rater = rater
        self.heap = _TopK(plan.top)
        self.graphs = _Seen(plan.seen_limit)
        self.rows = _Seen(plan.seen_limit)
        self.archs = _Seen(plan.seen_limit)
        self.draws = DecisionDraws(space) if DecisionDraws.supports(space) else None
        self.first: FirstPass | None = None
        if plan.survivors:
            self.first = FirstPass(
                space, self.draws, plan.survivors, plan.calibration, plan.auto_first_pass
            )
        self.pending: list[tuple[int, Arch]] = []
        self.calib: list[tuple[int, Arch, np.ndarray]] = []
        self.candidates = self.distinct_rows = self.compiled = self.unique = 0
        self.seconds = {"dedupe": 0.0, "decode": 0.0}
        self.seconds.update(compile=0.0, hash=0.0, featurize=0.0, forward=0.0)

    def consume(self, block: Block) -> None:
        self.candidates += len(block)
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
                    self.pending.append((index, arch))
                    if len(self.pending) >= self.plan.batch:
                        self._score(self.pending)
                        self.pending = []
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
            self.pending += [(index, arch) for index, arch, _ in self.calib]
        elif first is not None:
            for _, minus_index, payload in first.best:
                arch = payload if isinstance(payload, Arch) else self._decode(payload)
                if self.archs.add(_id64(arch.arch_id)):
                    self.pending.append((-minus_index, arch))
        self._score(self.pending)
        self.pending = []

    def _score(self, items: list[tuple[int, Arch]]) -> list[tuple[int, Arch, float]]:
        """Score ``items`` into the heap (first of each graph, in order)."""
        if not items:
            return []
        self.compiled += len(items)
        if self.rater is None:
            rated = score_archs(
                self.space, self.model, items, batch=self.plan.batch, kappa=self.plan.kappa,
                seconds=self.seconds, seen=self.graphs, cache=self.cache, graphs=self.plan.graphs,
            )  # fmt: skip
        else:  # the rater dedupes within its parts; the graph dedupe across them is here
            rated = [r for r in self.rater(items, self.seconds) if self.graphs.add(_id64(r[2]))]
        self.unique += len(rated)
        for index, arch, h, score, std in rated:
            self.heap.push((score, -index, h, arch, std))
        return [(index, arch, score) for index, arch, _, score, _ in rated]

    def _calibrate(self) -> None:
        assert self.first is not None
        features = {index: x for index, _, x in self.calib}
        scored = self._score([(index, arch) for index, arch, _ in self.calib])
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

    def result(self, t0: float, shards: int = 0) -> RankResult:
        seconds = dict(self.seconds)
        seconds["first_pass"] = self.first.seconds if self.first is not None else 0.0
        seconds["total"] = time.perf_counter() - t0
        stages = sum(v for k, v in seconds.items() if k not in ("total", "ray_start"))
        seconds["sample"] = max(0.0, seconds["total"] - stages)  # drawing, and the loop itself
        best = self.heap.best()
        return RankResult(
            [(arch, score, std) for score, _, _, arch, std in best],
            "gennape" if self.model is not None else "params",
            self.candidates,
            self.unique,
            seconds,
            self.first.report() if self.first is not None else None,
            shards,
            [-minus_index for _, minus_index, _, _, _ in best],
            [h for _, _, h, _, _ in best],
            {"decisions": self.distinct_rows, "archs": self.compiled, "graphs": self.unique},
        )


def rank_blocks(
    space: Space,
    model: GennapePredictor | None,
    plan: _Plan,
    blocks: Iterable[Block],
    progress: Callable[[int], None] | None = None,
    *,
    cache: FeatureCache | None = None,
) -> RankResult:
    """Rank a stream of blocks in this process."""
    t0 = time.perf_counter()
    run = _Shard(space, model, plan, cache)
    for block in blocks:
        run.consume(block)
        if progress is not None:
            progress(len(block))
    run.finish()
    return run.result(t0)
