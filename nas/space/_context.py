"""The build context and the resolvers that answer "which value for this decision?".

One tree walk serves every purpose: sampling, validating, enumerating, mutating, driving
an Optuna trial and compiling. Only the resolver differs; the walk meets exactly the
decisions that are active for the values it has chosen so far (define-by-run).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from nas.errors import ArchError
from nas.space._decisions import _PRIMITIVE, Choice, Decision, FloatRange, IntRange
from nas.space._ops import Expr

__all__ = ["BuildContext", "Resolver"]

Resolver = Callable[[str, Decision], Any]


class BuildContext:
    """Carries the resolver and the decisions bound so far."""

    __slots__ = ("bound", "named", "resolver")
    splice = True  # repeated subtrees may be spliced from a template; off where paths are recorded

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.bound: dict[str, Any] = {}
        self.named: dict[tuple[Decision, ...], tuple[Any, ...]] = {}

    def decide(self, path: str, decision: Decision) -> Any:
        key = decision.name or path
        if key not in self.bound:  # a shared (named) decision met again keeps its value
            self.bound[key] = self.resolver(key, decision)
        return self.bound[key]

    def values(self, named: tuple[Decision, ...]) -> tuple[Any, ...]:
        """The values of named decisions, decided once per context (each keeps its value)."""
        values = self.named.get(named)
        if values is None:
            values = self.named[named] = tuple([self.decide("", d) for d in named])
        return values

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


def keep_or_fill(
    values: Mapping[str, Any], rng: np.random.Generator | None, key: str, decision: Decision
) -> Any:
    """A resolver (bound with :func:`functools.partial`) that keeps the given values still
    valid and fills new decisions by sampling (with ``rng``) or with their default (without)."""
    if key in values:
        value = decision.normalize(values[key])
        if decision.contains(value):
            return value
    return decision.sample(rng) if rng is not None else decision.default()


class NeedDecision(Exception):
    """Raised by :class:`Replay` when the walk reaches a decision it has no index for."""

    def __init__(self, size: int) -> None:
        self.size = size


class Replay:
    """Answers the i-th decision met with the i-th forced index (lazy enumeration)."""

    def __init__(self, forced: list[int]) -> None:
        self.forced = iter(forced)

    def __call__(self, key: str, decision: Decision) -> Any:
        values = decision.values()
        index = next(self.forced, None)
        if index is None:
            raise NeedDecision(len(values))
        return values[index]


def optuna_suggest(trial: Any, key: str, decision: Decision) -> Any:
    """A resolver (bound to an ``optuna.Trial`` with :func:`functools.partial`): one
    ``trial.suggest_*`` per active decision."""
    if isinstance(decision, IntRange):
        return trial.suggest_int(key, decision.low, decision.high, step=decision.step)
    if isinstance(decision, FloatRange):
        return trial.suggest_float(key, decision.low, decision.high, log=decision.log)
    assert isinstance(decision, Choice)
    labels = decision.labels
    if all(isinstance(v, _PRIMITIVE) for v in labels):
        return trial.suggest_categorical(key, list(labels))
    # Optuna stores only primitive categories: suggest an index for tuple-valued choices.
    return labels[trial.suggest_categorical(key, list(range(len(labels))))]
