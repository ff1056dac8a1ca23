"""Predictor-guided search (BANANAS-like), registered as strategy ``"predictor"``.

After ``n_initial`` random evaluations, each proposal round builds a pool of candidates (one-step
mutations of the best results so far plus uniform random archs), ranks the unseen ones by the
GENNAPE predictor's mean + ``kappa`` x its uncertainty (an upper-confidence bound), and hands them
out best first. The predictor is refitted on all told results every ``refit_every`` tells.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

from nas.predictors._model import GennapePredictor, PredictorConfig

from nas.search import SearchError, Strategy, register_strategy
from nas.space import Arch, Space

__all__ = ["PredictorGuidedSearch"]

_DEFAULT_MODEL = PredictorConfig(hidden=32, layers=3, emb_dim=32, n_clusters=3, epochs=40)


@register_strategy("predictor")
class PredictorGuidedSearch(Strategy):
    """Rank many candidates with a fuzzy-head graph predictor; evaluate the most promising.

    Args:
        space: the search space.
        n_initial: random proposals before the first fit.
        pool_size: candidates ranked per round (half mutations of the top results, half random).
        top_parents: how many of the best results get mutated into the pool.
        refit_every: refit the predictor after this many new ``"ok"`` tells.
        kappa: weight of the predictor's uncertainty in the acquisition (0 = greedy).
        model: a :class:`PredictorConfig` or a dict of its fields.
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
        pool_size: int = 200,
        top_parents: int = 5,
        refit_every: int = 5,
        kappa: float = 0.5,
        model: PredictorConfig | Mapping[str, Any] | None = None,
        **common: Any,
    ) -> None:
        super().__init__(space, **common)
        for label, v in (
            ("n_initial", n_initial),
            ("pool_size", pool_size),
            ("top_parents", top_parents),
            ("refit_every", refit_every),
        ):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise SearchError(f"Strategy 'predictor': {label} must be an int >= 1 (got {v!r}).")
        self.n_initial = max(2, n_initial)
        self.pool_size = pool_size
        self.top_parents = top_parents
        self.refit_every = refit_every
        self.kappa = float(kappa)
        if isinstance(model, Mapping):
            model = replace(_DEFAULT_MODEL, **dict(model))
        self.model_config = replace(model or _DEFAULT_MODEL, seed=self.seed)
        self._model: GennapePredictor | None = None
        self._fit_at = 0  # number of ok results the current model was fitted on
        self._queue: list[Arch] = []

    # ------------------------------------------------------------------ internals
    def _ok(self) -> list[tuple[Arch, float]]:
        first = self.objectives[0]
        return [
            (self._candidates[cid].arch, first.sign * t.metrics[first.metric])
            for cid, t in self._told.items()
            if t.ok
        ]

    def _fit(self, n: int) -> None:
        data = self._ok()[:n]
        graphs = [self.space.compile(a, check=False) for a, _ in data]
        self._model = GennapePredictor(self.model_config).fit(graphs, [y for _, y in data])
        self._fit_at = n

    def _refill(self) -> None:
        ok = self._ok()
        if len(ok) - self._fit_at >= self.refit_every or self._model is None:
            self._fit(len(ok))
        parents = [a for a, _ in sorted(ok, key=lambda p: -p[1])[: self.top_parents]]
        pool: dict[str, Arch] = {}
        for i in range(self.pool_size * 3):  # bounded: small spaces may not fill the pool
            if len(pool) >= self.pool_size:
                break
            if i % 2 == 0 and parents:
                arch = self.space.mutate(parents[(i // 2) % len(parents)], self.rng)
            else:
                arch = self.space.sample(self.rng)
            if not self._seen(arch):
                pool.setdefault(arch.arch_id, arch)
        archs = list(pool.values())
        if not archs:
            self._queue = []
            return
        pred = self._model.predict([self.space.compile(a, check=False) for a in archs])
        score = pred.mean + self.kappa * pred.std
        order = sorted(range(len(archs)), key=lambda i: -score[i])
        # hand out only the top of the ranking: later tells should steer the next round
        self._queue = [archs[i] for i in order[: max(1, self.refit_every)]]

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
        if told.ok and len(self._ok()) - self._fit_at >= self.refit_every:
            self._queue = []  # enough news: rank again with a refitted model

    def _extra_state(self) -> dict[str, Any]:
        return {
            "fit_at": self._fit_at,
            "fitted": self._model is not None,
            "queue": [a.json_values() for a in self._queue],
            "model": asdict(self.model_config),
        }

    def _load_extra_state(self, extra: Mapping[str, Any]) -> None:
        self._queue = [self.space.validate(v) for v in extra.get("queue", [])]
        self._model = None
        self._fit_at = int(extra.get("fit_at", 0))
        if extra.get("fitted"):
            self._fit(self._fit_at)  # the fit is seeded, so this rebuilds the same model
