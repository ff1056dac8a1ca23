"""Local search over ``space.neighbors`` (first improvement with random restarts; NASLib style)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nas.search._base import Strategy, Told, check_int
from nas.search._registry import register_strategy
from nas.space import Arch, Space

__all__ = ["LocalSearch"]


@register_strategy("ls")
class LocalSearch(Strategy):
    """Hill climbing on the neighbourhood graph of the space, restarting at local optima.

    An episode starts with ``num_init`` random archs; once they are told, the best becomes
    the *current* arch. Its unvisited neighbours (``space.neighbors``: one decision changed)
    are proposed in random order; the first told that beats it becomes current (first
    improvement). A current arch no neighbour beats is a local optimum: a new episode starts.

    "Beats": less constraint violation, then the first objective (the front is still kept
    over every objective). With several asks pending the next neighbour is proposed without
    waiting; a late result that beats the current arch still moves the walk.

    Args:
        space: the search space.
        num_init: random archs per episode before walking (default 10).
        **common: ``objectives``, ``constraints``, ``seed`` (see :class:`Strategy`).

    Example:
        >>> from nas.space import get_space
        >>> s = LocalSearch(get_space("nb_macro"), num_init=2, seed=0)
        >>> for c in s.ask(2):
        ...     s.tell(c.candidate_id, {"val_accuracy": 50.0})
        >>> [n] = s.ask(1)  # a neighbour of the better of the two
        >>> len(n.arch.values)
        8
    """

    def __init__(self, space: Space, *, num_init: int = 10, **common: Any) -> None:
        super().__init__(space, **common)
        self.num_init = check_int("ls", "num_init", num_init)
        self._current: str | None = None
        self._episode: list[str] = []  # random archs of the running episode
        self._queue: list[Arch] = []  # unproposed neighbours of the current arch

    def _propose(self, candidate_id: str) -> Arch | None:
        while self._current is not None and self._queue:
            arch = self._queue.pop(0)
            if not self._seen(arch):
                return arch
        if self._current is not None:  # neighbourhood exhausted: a local optimum
            self._current = None
            self._episode = []
        fresh = self._random_unseen()
        if fresh is not None:
            self._episode.append(candidate_id)
        return fresh

    def _observe(self, candidate_id: str, told: Told) -> None:
        if not told.ok:
            return
        if self._current is None:
            if candidate_id not in self._episode:
                return
            done = [self._told[c] for c in self._episode if c in self._told]
            if len(done) >= self.num_init and any(t.ok for t in done):  # failed: score -inf
                self._move(max(done, key=lambda t: t.score).candidate_id)
        elif told.score > self._told[self._current].score:
            self._move(candidate_id)

    def _move(self, candidate_id: str) -> None:
        self._current = candidate_id
        neighbors = self.space.neighbors(self._candidates[candidate_id].arch)
        order = self.rng.permutation(len(neighbors))
        self._queue = [neighbors[int(i)] for i in order if not self._seen(neighbors[int(i)])]

    def _extra_state(self) -> dict[str, Any]:
        return {
            "current": self._current,
            "episode": list(self._episode),
            "queue": [a.json_values() for a in self._queue],
        }

    def _load_extra_state(self, extra: Mapping[str, Any]) -> None:
        self._current = extra.get("current")
        self._episode = list(extra.get("episode", []))
        self._queue = [self.space.validate(v) for v in extra.get("queue", [])]
