"""The build context and the resolvers that answer "which value for this decision?".

One tree walk serves every purpose: sampling, validating, enumerating, mutating, driving
an Optuna trial and compiling. Only the resolver differs; the walk meets exactly the
decisions that are active for the values it has chosen so far (define-by-run).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from nas.errors import ArchError
from nas.space._decisions import Choice, Decision, FloatRange, IntRange, _is_plain
from nas.space._ops import Expr

if TYPE_CHECKING:
    from nas.graph import Graph

__all__ = ["BuildContext", "Resolver"]

Resolver = Callable[[str, Decision], Any]


class BuildContext:
    """Carries the resolver, the decisions bound so far and (when compiling) the graph."""

    __slots__ = ("bound", "graph", "resolver")

    def __init__(self, resolver: Resolver, graph: Graph | None = None) -> None:
        self.resolver = resolver
        self.graph = graph
        self.bound: dict[str, Any] = {}

    def decide(self, path: str, decision: Decision) -> Any:
        key = decision.name or path
        bound = self.bound
        if key in bound:  # a shared (named) decision met again
            return bound[key]
        value = self.resolver(key, decision)
        bound[key] = value
        return value

    def value(self, path: str, value: Any, in_shape: tuple[int, ...] | None = None) -> Any:
        """Resolve a field at ``path``: a decision is decided, an expression evaluated on the
        input shape, a plain value returned as it is."""
        if isinstance(value, Decision):
            return self.decide(path, value)
        if isinstance(value, Expr):
            return value.resolve(self, path, in_shape)
        return value


class FromValues:
    """Answers from an arch's values; missing or out-of-domain values raise :class:`ArchError`."""

    def __init__(self, values: Mapping[str, Any], space_name: str) -> None:
        self.values = values
        self.space_name = space_name

    def __call__(self, key: str, decision: Decision) -> Any:
        try:
            value = self.values[key]
        except KeyError:
            raise ArchError(
                f"Missing decision {key!r} (expected {decision.describe()}). "
                f"Check the arch against space {self.space_name!r}."
            ) from None
        value = decision.normalize(value)
        if not decision.contains(value):
            raise ArchError(
                f"Expected {decision.describe()} for {key!r} (got {value!r}). "
                f"Check the arch against space {self.space_name!r}."
            )
        return value


class KeepOrFill:
    """Keeps the given values that are still valid; fills new decisions by sampling
    (with ``rng``) or with each decision's default (without)."""

    def __init__(self, values: Mapping[str, Any], rng: np.random.Generator | None) -> None:
        self.values = values
        self.rng = rng

    def __call__(self, key: str, decision: Decision) -> Any:
        if key in self.values:
            value = decision.normalize(self.values[key])
            if decision.contains(value):
                return value
        return decision.sample(self.rng) if self.rng is not None else decision.default()


class NeedDecision(Exception):
    """Raised by :class:`Replay` when the walk reaches a decision it has no index for."""

    def __init__(self, size: int) -> None:
        self.size = size


class Replay:
    """Answers the i-th decision met with the i-th forced index (lazy enumeration)."""

    def __init__(self, forced: list[int]) -> None:
        self.forced = forced
        self.position = 0

    def __call__(self, key: str, decision: Decision) -> Any:
        values = decision.values()
        if self.position == len(self.forced):
            raise NeedDecision(len(values))
        value = values[self.forced[self.position]]
        self.position += 1
        return value


class OptunaSuggest:
    """Asks an ``optuna.Trial`` define-by-run, one ``suggest_*`` per active decision."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def __call__(self, key: str, decision: Decision) -> Any:
        trial = self.trial
        if isinstance(decision, IntRange):
            return trial.suggest_int(key, decision.low, decision.high, step=decision.step)
        if isinstance(decision, FloatRange):
            return trial.suggest_float(key, decision.low, decision.high, log=decision.log)
        assert isinstance(decision, Choice)
        labels = decision.labels
        if all(_is_plain(v) and not isinstance(v, tuple) for v in labels):
            return trial.suggest_categorical(key, list(labels))
        # Optuna stores only primitive categories: suggest an index for tuple-valued choices.
        return labels[trial.suggest_categorical(key, list(range(len(labels))))]
