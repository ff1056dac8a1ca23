"""Predictor-guided search (BANANAS-like), registered as strategy ``"predictor"``.

After ``n_initial`` random evaluations, each proposal round builds a pool of candidates (every
unseen one-step neighbour of the ``top_parents`` best results, then random mutations of them,
then uniform random archs, which also fill the pool once the best arch's neighbourhood is spent),
ranks them with the streaming ranker of ``nas predictor rank``
(:func:`~nas.predictors.rank_candidates`) by the GENNAPE predictor's mean + ``kappa`` x its
uncertainty (an upper-confidence bound), and hands out the top ``refit_every`` of them. A new best
result re-ranks at once around it (a predictor-ordered first-improvement local search); after
``refit_every`` new results the predictor is refitted first.

Defaults were chosen on NB-201 CIFAR-10 seeds 0-5 (``benchmarks/predictor_search.py``): one
parent beat three (the neighbours of the incumbent matter most on a smooth landscape), and the
greedy ``kappa=0`` was no worse than 0.5.

What keeps it cheap on a CPU: the first fit trains ``model.epochs`` epochs, every later refit
continues from the last weights for ``refit_epochs`` epochs (:meth:`GennapePredictor.refit`);
featurized graphs are cached by ``arch_id`` (the results it trains on for the whole search, pool
candidates in a bounded :class:`~nas.predictors._rank.FeatureCache` the ranker reads, since the
neighbours of the best archs recur round after round).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

from nas.errors import SpaceError
from nas.predictors._features import FeatureSpec, GraphFeatures, featurize
from nas.predictors._model import GennapePredictor, PredictorConfig
from nas.predictors._rank import FeatureCache, rank_candidates
from nas.search import SearchError, Strategy, register_strategy
from nas.space import Arch, Space

__all__ = ["PredictorGuidedSearch"]

# Small and quick on one CPU core: a 2-layer encoder on the full IR graph is enough to rank the
# neighbours of good archs (a whole 150-query NB-201 search takes ~15 s of one core).
_DEFAULT_MODEL = PredictorConfig(
    hidden=24,
    layers=2,
    emb_dim=24,
    n_clusters=3,
    head_hidden=16,
    epochs=30,
    batch_size=16,  # a few labels: many small steps learn more than a few big ones
    lr=5e-3,
    rank_weight=2.0,  # the search needs the order of the best archs, not their values
)


@register_strategy("predictor")
class PredictorGuidedSearch(Strategy):
    """Rank many candidates with a fuzzy-head graph predictor; evaluate the most promising.

    Args:
        space: the search space.
        n_initial: random proposals before the first fit.
        pool_size: candidates ranked per round.
        top_parents: how many of the best results feed the pool with their neighbours.
        random_fraction: share of the pool kept for uniform random archs (exploration).
        refit_every: refit the predictor after this many new ``"ok"`` tells; also the number
            of proposals handed out per ranking.
        refit_epochs: epochs of each warm refit (the first fit trains ``model.epochs``).
        kappa: weight of the predictor's uncertainty in the acquisition (0 = greedy).
        model: a :class:`PredictorConfig` or a dict of its fields.
        cache_size: featurized pool candidates kept between rounds.
        **common: ``objectives``, ``constraints``, ``seed`` (see :class:`Strategy`).

    Example:
        >>> from nas.space import get_space
        >>> s = PredictorGuidedSearch(get_space("nb_macro"), n_initial=3, seed=0,
        ...                           model={"epochs": 2, "hidden": 8, "layers": 1})
        >>> for c in s.ask(4):
        ...     s.tell(c.candidate_id, {"val_accuracy": float(len(c.arch.arch_id))})
        >>> len(s.ask(1))
        1
    """

    def __init__(
        self,
        space: Space,
        *,
        n_initial: int = 10,
        pool_size: int = 120,
        top_parents: int = 1,
        random_fraction: float = 0.1,
        refit_every: int = 10,
        refit_epochs: int = 5,
        kappa: float = 0.0,
        model: PredictorConfig | Mapping[str, Any] | None = None,
        cache_size: int = 2048,
        **common: Any,
    ) -> None:
        super().__init__(space, **common)
        for label, v in (
            ("n_initial", n_initial),
            ("pool_size", pool_size),
            ("top_parents", top_parents),
            ("refit_every", refit_every),
            ("refit_epochs", refit_epochs),
            ("cache_size", cache_size),
        ):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise SearchError(f"Strategy 'predictor': {label} must be an int >= 1 (got {v!r}).")
        if not 0.0 <= float(random_fraction) <= 1.0:
            raise SearchError(
                f"Strategy 'predictor': random_fraction must be in [0, 1] (got {random_fraction!r})."
            )
        self.n_initial = max(2, n_initial)
        self.pool_size = pool_size
        self.top_parents = top_parents
        self.random_fraction = float(random_fraction)
        self.refit_every = refit_every
        self.refit_epochs = refit_epochs
        self.kappa = float(kappa)
        if isinstance(model, Mapping):
            model = replace(_DEFAULT_MODEL, **dict(model))
        self.model_config = replace(model or _DEFAULT_MODEL, seed=self.seed)
        self.cache_size = cache_size
        self._model: GennapePredictor | None = None
        self._fits: list[int] = []  # ok-result counts of every fit so far, replayed on restore
        self._queue: list[Arch] = []
        self._told_features: dict[str, GraphFeatures] = {}  # never evicted: the training set
        self._pool_features = FeatureCache(cache_size)  # the pool candidates, filled by ranking
        self._neighbors: dict[str, list[Arch]] = {}  # parent arch_id -> its neighbours

    # ------------------------------------------------------------------ internals
    def _ok(self) -> list[tuple[Arch, float]]:
        first = self.objectives[0]
        return [
            (self._candidates[cid].arch, first.sign * t.metrics[first.metric])
            for cid, t in self._told.items()
            if t.ok
        ]

    def _told_features_of(self, arch: Arch) -> GraphFeatures:
        """The features of a told arch (the training set keeps them for the whole search)."""
        key = arch.arch_id
        hit = self._told_features.get(key)
        if hit is None:
            pooled = self._pool_features.get(key)
            if pooled is not None:
                hit = pooled[1]
            else:
                hit = featurize(self.space.compile(arch, check=False), self._spec())
            self._told_features[key] = hit
        return hit

    def _spec(self) -> FeatureSpec:  # the model's vocabulary, fixed with the first model
        if self._model is None:
            self._model = GennapePredictor(self.model_config)
        return self._model.spec

    def _fit(self, n: int) -> None:
        data = self._ok()[:n]
        feats = [self._told_features_of(a) for a, _ in data]
        targets = [y for _, y in data]
        if self._model is None:
            self._model = GennapePredictor(self.model_config)
        if not self._fits:
            self._model.fit(feats, targets)
        else:
            self._model.refit(feats, targets, epochs=self.refit_epochs)
        self._fits.append(n)

    def _pool(self, ok: list[tuple[Arch, float]]) -> list[Arch]:
        # The unseen neighbours of the best results, best parent first (a local search whose
        # order the predictor decides), then mutations of them, then uniform random archs.
        parents = [a for a, _ in sorted(ok, key=lambda p: -p[1])[: self.top_parents]]
        local = self.pool_size - round(self.pool_size * self.random_fraction)
        pool: dict[str, Arch] = {}
        for parent in parents:
            if len(pool) >= local:
                break
            near = self._neighbors.get(parent.arch_id)
            if near is None:  # the best archs stay parents for many rounds: list them once
                try:
                    near = self.space.neighbors(parent)
                except SpaceError:  # e.g. continuous decisions: sampled mutations only
                    near = []
                self._neighbors[parent.arch_id] = near
            for arch in near:
                if len(pool) >= local:
                    break
                if not self._seen(arch):
                    pool.setdefault(arch.arch_id, arch)
        for i in range(local * 3):  # bounded: small spaces may not fill the pool
            if len(pool) >= local or not parents:
                break
            arch = self.space.mutate(parents[i % len(parents)], self.rng)
            if not self._seen(arch):
                pool.setdefault(arch.arch_id, arch)
        for _ in range((self.pool_size - len(pool)) * 3):
            if len(pool) >= self.pool_size:
                break
            arch = self.space.sample(self.rng)
            if not self._seen(arch):
                pool.setdefault(arch.arch_id, arch)
        return list(pool.values())

    def _refill(self) -> None:
        ok = self._ok()
        if not self._fits or len(ok) - self._fits[-1] >= self.refit_every:
            self._fit(len(ok))
        archs = self._pool(ok)
        if not archs:
            self._queue = []
            return
        # hand out only the top of the ranking: later tells should steer the next round. The
        # pool's archs are distinct; hashing each new one's graph (~5 ms on NB-201) doubled a
        # 150-query search, and the table scores isomorphic archs apart anyway.
        ranked = rank_candidates(
            self.space, 0, self.refit_every, model=self._model, archs=archs, kappa=self.kappa,
            survivors=0, threads=None, dedupe_graphs=False, cache=self._pool_features,
        )  # fmt: skip
        self._queue = [arch for arch, _, _ in ranked.top]

    def _propose(self, candidate_id: str) -> Arch | None:
        if len(self._ok()) < self.n_initial:
            return self._random_unseen()
        while True:
            while self._queue:
                arch = self._queue.pop(0)
                if not self._seen(arch):
                    return arch
            self._refill()
            if not self._queue:
                return self._random_unseen()
            if all(self._seen(a) for a in self._queue):
                return self._random_unseen()

    def _observe(self, candidate_id: str, told: Any) -> None:
        if not told.ok or not self._fits:
            return
        ok = self._ok()
        if len(ok) - self._fits[-1] >= self.refit_every:
            self._queue = []  # enough news: rank again with a refitted model
        elif ok[-1][1] > max(y for _, y in ok[:-1]):
            # a new best: rank its neighbourhood now (same model), as a first-improvement
            # local search would move at once
            self._queue = []

    def _extra_state(self) -> dict[str, Any]:
        return {
            "fits": list(self._fits),
            "queue": [a.json_values() for a in self._queue],
            "model": asdict(self.model_config),
        }

    def _load_extra_state(self, extra: Mapping[str, Any]) -> None:
        self._queue = [self.space.validate(v) for v in extra.get("queue", [])]
        self._model = None
        self._fits = []
        # every fit is seeded and warm-started from the one before: replaying the same
        # sequence of fits rebuilds the same model
        for n in extra.get("fits", []):
            self._fit(int(n))
