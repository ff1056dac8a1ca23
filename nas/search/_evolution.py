"""Regularized evolution (aging evolution; Real et al., AAAI 2019)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from nas._pareto import crowding_distance, non_dominated
from nas.search._base import Strategy, Told, check_int
from nas.search._registry import register_strategy
from nas.space import Arch, Space

__all__ = ["RegularizedEvolution"]


@register_strategy("rea")
class RegularizedEvolution(Strategy):
    """Regularized evolution: tournament selection, one mutation, the oldest member dies.

    The first ``population_size`` proposals are uniform random archs. After that each
    proposal mutates one decision (``space.mutate``) of the winner of a tournament among
    ``sample_size`` members (sampled without replacement). Told ``"ok"`` results join the
    population and the oldest member beyond ``population_size`` dies, whatever its fitness;
    failed results never join. A mutant already proposed is mutated again, up to
    ``mutation_attempts`` times, then a random unseen arch is proposed (also while the
    population is empty).

    Tournament winner: less total constraint violation first; then, with one objective,
    the best value; with several, the largest crowding distance within the sample's first
    non-dominated front (NSGA-II's crowded comparison). Ties go to the member sampled first.

    Args:
        space: the search space.
        population_size: P; default 50, or ``min(50, max(10, budget // 5))`` when a
            ``budget`` is given, so small budgets still leave room to evolve.
        sample_size: S, the tournament size (default 10, capped at P).
        budget: an optional hint of the number of evaluations, only used for P's default.
        mutation_attempts: re-mutations of a parent before falling back to random.
        **common: ``objectives``, ``constraints``, ``seed`` (see :class:`Strategy`).

    Example:
        >>> from nas.space import get_space
        >>> s = RegularizedEvolution(get_space("nb201"), population_size=10, seed=0)
        >>> for c in s.ask(12):
        ...     s.tell(c.candidate_id, {"val_accuracy": float(len(c.arch.arch_id))})
        >>> len(s.ask(1))
        1
    """

    def __init__(
        self,
        space: Space,
        *,
        population_size: int | None = None,
        sample_size: int = 10,
        budget: int | None = None,
        mutation_attempts: int = 20,
        **common: Any,
    ) -> None:
        super().__init__(space, **common)
        if population_size is None:
            population_size = 50 if budget is None else min(50, max(10, int(budget) // 5))
        self.population_size = check_int("rea", "population_size", population_size)
        self.sample_size = min(check_int("rea", "sample_size", sample_size), population_size)
        self.mutation_attempts = check_int("rea", "mutation_attempts", mutation_attempts)
        # Candidate ids, oldest first; a full deque drops its oldest member (aging).
        self._population: deque[str] = deque(maxlen=self.population_size)

    def _propose(self, candidate_id: str) -> Arch | None:
        if len(self._candidates) < self.population_size or not self._population:
            return self._random_unseen()
        parent = self._candidates[self._tournament()].arch
        for _ in range(self.mutation_attempts):
            child = self.space.mutate(parent, self.rng)
            if not self._seen(child):
                return child
        return self._random_unseen()

    def _observe(self, candidate_id: str, told: Told) -> None:
        if told.ok:
            self._population.append(candidate_id)

    def _tournament(self) -> str:
        k = min(self.sample_size, len(self._population))
        picked = self.rng.choice(len(self._population), size=k, replace=False).tolist()
        return select_winner([self._told[self._population[i]] for i in picked], self)

    def _extra_state(self) -> dict[str, Any]:
        return {"population": list(self._population)}

    def _load_extra_state(self, extra: Mapping[str, Any]) -> None:
        self._population = deque(extra.get("population", []), maxlen=self.population_size)


def select_winner(sample: Sequence[Told], strategy: Strategy) -> str:
    """The tournament winner's candidate id (see :class:`RegularizedEvolution`)."""
    if len(strategy.objectives) == 1:  # the least violation, then the best value
        return max(sample, key=lambda t: t.score).candidate_id  # max keeps the first of ties
    least = min(t.violation for t in sample)
    pool = [t for t in sample if t.violation == least]
    points = [strategy._min_vector(t) for t in pool]
    front = non_dominated(points)
    crowding = crowding_distance([points[i] for i in front])
    best = max(range(len(front)), key=lambda j: crowding[j])
    return pool[front[best]].candidate_id
