"""Rank many candidates of a space with a predictor, without training any of them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nas.predictors._features import featurize
from nas.predictors._model import GennapePredictor
from nas.space import Arch, Space

__all__ = ["RankResult", "rank_candidates"]


@dataclass
class RankResult:
    """Top candidates and where the time went.

    Attributes:
        top: ``(arch, score, std)`` best first (``std`` is 0 without a model).
        scorer: ``"gennape"`` or ``"params"`` (the fallback without a model).
        candidates: Archs sampled/enumerated; ``unique``: distinct ones actually scored.
        seconds: ``{"sample", "compile", "featurize", "forward", "total"}``.
    """

    top: list[tuple[Arch, float, float]]
    scorer: str
    candidates: int
    unique: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def graphs_per_s(self) -> float:
        return self.candidates / max(self.seconds.get("total", 0.0), 1e-9)


def rank_candidates(
    space: Space,
    n: int,
    top: int,
    *,
    model: GennapePredictor | None = None,
    rng: np.random.Generator,
    enumerate_all: bool = False,
    chunk: int = 512,
    progress: Callable[[int], None] | None = None,
) -> RankResult:
    """Score ``n`` sampled (or all enumerated) candidates and return the ``top`` ones.

    Repeated archs (a small space sampled many times) are deduplicated by ``arch_id`` before
    anything is compiled, so each distinct arch is compiled, featurized and scored once; work
    goes in chunks, so memory stays flat however many candidates there are.

    Example:
        >>> from nas.space import get_space
        >>> r = rank_candidates(get_space("nb_macro"), 20, 3, rng=np.random.default_rng(0))
        >>> len(r.top), r.scorer
        (3, 'params')
    """
    t0 = time.perf_counter()
    if enumerate_all:
        archs = list(space.enumerate())[:n] if n else list(space.enumerate())
    else:
        archs = [space.sample(rng) for _ in range(n)]
    unique: dict[str, Arch] = {}
    for a in archs:
        unique.setdefault(a.arch_id, a)
    ids = list(unique)
    seconds = {"sample": time.perf_counter() - t0, "compile": 0.0, "featurize": 0.0, "forward": 0.0}
    means = np.empty(len(ids))
    stds = np.zeros(len(ids))
    done = 0
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        t = time.perf_counter()
        graphs = [space.compile(unique[i], check=False) for i in part]
        seconds["compile"] += time.perf_counter() - t
        if model is None:
            t = time.perf_counter()
            means[start : start + len(part)] = [g.params for g in graphs]
            seconds["forward"] += time.perf_counter() - t
        else:
            t = time.perf_counter()
            feats = [featurize(g, model.spec) for g in graphs]  # ids are unique: no cache
            seconds["featurize"] += time.perf_counter() - t
            t = time.perf_counter()
            pred = model.predict(feats, chunk=chunk)
            seconds["forward"] += time.perf_counter() - t
            means[start : start + len(part)] = pred.mean
            stds[start : start + len(part)] = pred.std
        # progress counts candidates (with their repeats), so the bar reaches n
        step = round(len(archs) * (start + len(part)) / len(ids)) - done
        done += step
        if progress is not None:
            progress(step)
    order = np.argsort(-means, kind="stable")[:top]
    seconds["total"] = time.perf_counter() - t0
    return RankResult(
        [(unique[ids[i]], float(means[i]), float(stds[i])) for i in order],
        "gennape" if model is not None else "params",
        len(archs),
        len(ids),
        seconds,
    )
