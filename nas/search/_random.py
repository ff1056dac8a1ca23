"""Random search: uniform samples of the space, never repeating an arch."""

from __future__ import annotations

from nas.search._base import Strategy
from nas.search._registry import register_strategy
from nas.space import Arch

__all__ = ["RandomSearch"]


@register_strategy("random")
class RandomSearch(Strategy):
    """Uniform samples from the space; repeats (same ``arch_id``) are rejected.

    A finite space is exhausted after exactly ``space.size()`` proposals; then ``ask``
    returns an empty list.

    Example:
        >>> from nas.space import get_space
        >>> s = RandomSearch(get_space("nb_macro"), seed=0)
        >>> len({c.arch.arch_id for c in s.ask(20)})
        20
    """

    def _propose(self, candidate_id: str) -> Arch | None:
        return self._random_unseen()
