"""The strategy registry: built-ins register exactly like a user's strategy would."""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, TypeVar

from nas._registry import Registry
from nas.search._base import SearchError, Strategy
from nas.space import Space, get_space

__all__ = ["get_strategy", "list_strategies", "register_strategy"]

S = TypeVar("S", bound=type[Strategy])

_STRATEGIES: Registry[type[Strategy]] = Registry("search strategy")

# Packages announce strategies in this entry-point group (``name = "module"``: importing the
# module registers them); nas-engine's own predictor-guided strategy is announced there too.
ENTRY_POINT_GROUP = "nas.strategies"


@functools.cache
def _load_entry_points() -> None:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _STRATEGIES:
            ep.load()


def register_strategy(name: str, *, replace: bool = False) -> Callable[[S], S]:
    """Class decorator that registers a :class:`Strategy` subclass under ``name``.

    Example:
        >>> from nas.search import Strategy, register_strategy
        >>> @register_strategy("first_only_doc")
        ... class FirstOnly(Strategy):
        ...     def _propose(self, candidate_id):
        ...         return None if self._candidates else self._random_unseen()
        >>> "first_only_doc" in list_strategies()
        True
    """

    def wrap(cls: S) -> S:
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise SearchError(
                f"register_strategy({name!r}) decorates Strategy subclasses (got {cls!r})."
            )
        _STRATEGIES.register(name, cls, replace=replace)
        cls.name = name
        return cls

    return wrap


def get_strategy(name: str, space: Space | str, **kwargs: Any) -> Strategy:
    """Build the strategy registered as ``name`` on ``space`` (a Space or a space name).

    Example:
        >>> s = get_strategy("rea", "nb201", seed=1, population_size=20)
        >>> len(s.ask(3))
        3
    """
    if name not in _STRATEGIES:
        _load_entry_points()
    cls = _STRATEGIES.get(name)
    return cls(get_space(space) if isinstance(space, str) else space, **kwargs)


def list_strategies() -> list[str]:
    """Registered strategy names, sorted (entry-point strategies included)."""
    _load_entry_points()
    return _STRATEGIES.names()
