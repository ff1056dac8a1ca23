"""The ask/tell contract every strategy speaks, and the bookkeeping they share.

The base class owns what is the same for every strategy: candidate ids, the archs already
proposed, objectives and hard constraints, the Pareto front, ``best()`` and a JSON-able
``state_dict``. Subclasses implement ``_propose`` (one unseen arch, or ``None``) and
optionally ``_observe`` and ``_extra_state`` / ``_load_extra_state``.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from nas._pareto import non_dominated
from nas.errors import NasError
from nas.search._status import FAILED_STATUSES
from nas.space import Arch, Space

__all__ = ["Candidate", "Constraint", "Objective", "SearchError", "Strategy"]

STATE_FORMAT = 1


class SearchError(NasError, ValueError):
    """A strategy was misused (unknown candidate id, bad objective, mismatched state)."""


def check_int(strategy: str, label: str, value: Any, low: int = 1) -> int:
    """``value`` when it is an int >= ``low``, else a one-line :class:`SearchError`."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise SearchError(
            f"Strategy {strategy!r}: {label} must be an int >= {low} (got {value!r})."
        )
    return int(value)


def _check_metric(what: str, metric: Any) -> None:
    if not isinstance(metric, str) or not metric:
        raise SearchError(f"{what} needs a metric name (got {metric!r}).")


@dataclass(frozen=True)
class Objective:
    """A metric to optimize.

    Example:
        >>> Objective("params", "min").sign
        -1.0
    """

    metric: str
    direction: Literal["max", "min"] = "max"

    def __post_init__(self) -> None:
        _check_metric("An objective", self.metric)
        if self.direction not in ("max", "min"):
            raise SearchError(
                f"Objective {self.metric!r}: direction must be 'max' or 'min' "
                f"(got {self.direction!r})."
            )

    @property
    def sign(self) -> float:
        """+1 for ``max``, -1 for ``min``: ``sign * value`` is always "bigger is better"."""
        return 1.0 if self.direction == "max" else -1.0


@dataclass(frozen=True)
class Constraint:
    """A hard bound on a metric; bounds are inclusive. A result outside them is infeasible.

    Example:
        >>> c = Constraint("params", max=1e6)
        >>> c.violation(2e6), c.violation(5e5)
        (1000000.0, 0.0)
    """

    metric: str
    max: float | None = None
    min: float | None = None

    def __post_init__(self) -> None:
        _check_metric("A constraint", self.metric)
        if self.max is None and self.min is None:
            raise SearchError(
                f"Constraint on {self.metric!r} needs max=, min= or both (got neither)."
            )
        if self.max is not None and self.min is not None and self.min > self.max:
            raise SearchError(
                f"Constraint on {self.metric!r} needs min <= max (got min={self.min}, "
                f"max={self.max})."
            )

    def signed_violation(self, value: float) -> float:
        """How far ``value`` lies outside the bounds, negative inside (Optuna's convention)."""
        over = value - self.max if self.max is not None else -math.inf
        return max(over, self.min - value if self.min is not None else -math.inf)

    def violation(self, value: float) -> float:
        """How far ``value`` lies outside the bounds (0.0 when it satisfies them)."""
        if not math.isfinite(value):
            return math.inf  # an unmeasurable metric cannot satisfy a bound
        return max(self.signed_violation(value), 0.0)


@dataclass(frozen=True)
class Candidate:
    """One proposed arch and the id to ``tell`` its result under."""

    candidate_id: str
    arch: Arch


@dataclass(frozen=True)
class Told:
    """The recorded outcome of one candidate (internal). ``score`` is the "bigger is better"
    key of an ``ok`` result, kept at tell time: feasible first, then the first objective."""

    candidate_id: str
    status: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    violation: float = 0.0
    score: tuple[float, float] = (-math.inf, -math.inf)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def feasible(self) -> bool:
        return self.ok and self.violation == 0.0


class Strategy:
    """Base class of every ask/tell search strategy.

    Args:
        space: the search space.
        objectives: metrics to optimize (strings mean ``Objective(name, "max")``); the first
            one decides ``best()``.
        constraints: hard constraints; a result violating one is never best nor on the front.
        seed: seeds the strategy's own ``numpy.random.Generator``.
        **options: strategy-specific options (see each strategy).

    Example:
        >>> import numpy as np
        >>> from nas.search import get_strategy
        >>> from nas.space import get_space
        >>> s = get_strategy("random", get_space("nb201"), seed=0)
        >>> [c] = s.ask()
        >>> s.tell(c.candidate_id, {"val_accuracy": 91.0})
        >>> s.best()[1]["val_accuracy"]
        91.0
    """

    name: ClassVar[str] = ""

    def __init__(
        self,
        space: Space,
        *,
        objectives: Sequence[Objective | str] = (Objective("val_accuracy"),),
        constraints: Sequence[Constraint] = (),
        seed: int = 0,
        **options: Any,
    ) -> None:
        if options:
            raise SearchError(
                f"Unknown option {sorted(options)[0]!r} for strategy {self.name!r}; "
                f"check the strategy's documented keyword arguments."
            )
        if not isinstance(space, Space):
            raise SearchError(f"A strategy needs a Space (got {type(space).__name__}).")
        objs = tuple(Objective(o) if isinstance(o, str) else o for o in objectives)
        if not objs or not all(isinstance(o, Objective) for o in objs):
            raise SearchError(
                f"Strategy {self.name!r}: objectives must be a non-empty sequence of "
                f"Objective or metric names (got {objectives!r})."
            )
        if len({o.metric for o in objs}) != len(objs):
            raise SearchError(f"Strategy {self.name!r}: objectives repeat a metric ({objs!r}).")
        if not all(isinstance(c, Constraint) for c in constraints):
            raise SearchError(
                f"Strategy {self.name!r}: constraints must be Constraint objects "
                f"(got {constraints!r})."
            )
        self.space = space
        self.objectives: tuple[Objective, ...] = objs
        self.constraints: tuple[Constraint, ...] = tuple(constraints)
        self.seed = check_int(self.name, "seed", seed, low=0)
        self.rng = np.random.default_rng(self.seed)
        self._exhausted = False  # every arch of a finite space was proposed
        self._candidates: dict[str, Candidate] = {}
        self._by_arch: dict[str, str] = {}  # arch_id -> candidate_id
        self._told: dict[str, Told] = {}  # in tell order

    # ------------------------------------------------------------------ public API
    def ask(self, n: int = 1) -> list[Candidate]:
        """Propose up to ``n`` new candidates (fewer only when the space is exhausted)."""
        out: list[Candidate] = []
        for _ in range(check_int(self.name, "ask(n)", n, low=0)):
            candidate_id = f"{len(self._candidates):06d}"  # ids are never reused
            arch = self._propose(candidate_id)
            if arch is None:
                break
            if arch.arch_id in self._by_arch:  # a subclass bug; never evaluate twice
                raise SearchError(
                    f"Strategy {self.name!r} proposed arch {arch.arch_id} twice; "
                    f"this is a bug in the strategy."
                )
            candidate = Candidate(candidate_id, arch)
            self._candidates[candidate_id] = candidate
            self._by_arch[arch.arch_id] = candidate_id
            out.append(candidate)
        return out

    def tell(
        self,
        candidate_id: str,
        metrics: Mapping[str, float] | None,
        *,
        status: str = "ok",
    ) -> None:
        """Record the result of a candidate returned by :meth:`ask`.

        Args:
            candidate_id: the id of an asked, not yet told, candidate.
            metrics: metric values (accuracies in percent); must hold every objective and
                constraint metric when ``status == "ok"``; may be ``None`` otherwise.
            status: ``"ok"``, or ``"failed"``/``"timeout"``/``"diverged"``/``"cut"``
                (``nas.search._status``): evaluated, never proposed again, never best. An
                ``"ok"`` result whose objective is not finite is recorded as ``"failed"``.
        """
        if candidate_id not in self._candidates:
            raise SearchError(
                f"Unknown candidate id {candidate_id!r} for strategy {self.name!r}; "
                f"tell only ids returned by ask() ({len(self._candidates)} asked so far)."
            )
        if candidate_id in self._told:
            raise SearchError(
                f"Candidate {candidate_id!r} was already told (status "
                f"{self._told[candidate_id].status!r}); tell each candidate once."
            )
        if status != "ok" and status not in FAILED_STATUSES:
            raise SearchError(
                f"Unknown status {status!r} for candidate {candidate_id!r}; expected 'ok' or "
                f"one of {sorted(FAILED_STATUSES)}."
            )
        clean = _clean_metrics(metrics, candidate_id)
        if status == "ok":
            needed = [o.metric for o in self.objectives] + [c.metric for c in self.constraints]
            missing = [m for m in needed if m not in clean]
            if missing:
                raise SearchError(
                    f"Candidate {candidate_id!r} was told 'ok' without metric {missing[0]!r} "
                    f"(got {sorted(clean)}); pass every objective and constraint metric, or "
                    f"status='failed'."
                )
            if not all(math.isfinite(clean[o.metric]) for o in self.objectives):
                status = "failed"  # a NaN accuracy is a failed run, not a result to rank
        told = self._told[candidate_id] = self._record(candidate_id, status, clean)
        self._observe(candidate_id, told)

    def best(self) -> tuple[Candidate, dict[str, float]] | None:
        """The feasible result with the best first objective (earliest wins ties), or None."""
        feasible = (t for t in self._told.values() if t.feasible)
        best = max(feasible, key=lambda t: t.score, default=None)
        return None if best is None else (self._candidates[best.candidate_id], dict(best.metrics))

    def pareto_front(self) -> list[tuple[Candidate, dict[str, float]]]:
        """Feasible results no other feasible result dominates, in tell order.

        The one Pareto rule of the engine: a result is dominated by one at least as good on
        every objective and better on one, so equal results (ties) all stay on the front.
        """
        feasible = [t for t in self._told.values() if t.feasible]
        points = [self._min_vector(t) for t in feasible]
        return [
            (self._candidates[feasible[i].candidate_id], dict(feasible[i].metrics))
            for i in non_dominated(points)
        ]

    @property
    def pending(self) -> list[str]:
        """Ids asked but not told yet, in ask order."""
        return [c for c in self._candidates if c not in self._told]

    @property
    def num_told(self) -> int:
        return len(self._told)

    def results(self) -> list[tuple[Candidate, str, dict[str, float]]]:
        """Every told candidate as ``(candidate, status, metrics)``, in tell order."""
        return [(self._candidates[c], t.status, dict(t.metrics)) for c, t in self._told.items()]

    def is_feasible(self, metrics: Mapping[str, float]) -> bool:
        """Whether metrics satisfy every constraint."""
        return all(c.violation(float(metrics[c.metric])) == 0.0 for c in self.constraints)

    def _identity(self) -> dict[str, Any]:
        """What a saved state must match to be restored here."""
        return {
            "strategy": self.name,
            "space": self.space.name,
            "space_version": self.space.version,
            "objectives": [[o.metric, o.direction] for o in self.objectives],
            "constraints": [[c.metric, c.max, c.min] for c in self.constraints],
        }

    def _record(self, candidate_id: str, status: str, metrics: dict[str, float]) -> Told:
        if status != "ok":
            return Told(candidate_id, status, metrics)
        violation = sum(c.violation(metrics[c.metric]) for c in self.constraints)
        value = self.objectives[0].sign * metrics[self.objectives[0].metric]
        return Told(candidate_id, status, metrics, violation, (-violation, value))

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the search exactly; plain JSON types only."""
        return {
            "format": STATE_FORMAT,
            **self._identity(),
            "seed": self.seed,
            "rng": _jsonable(self.rng.bit_generator.state),
            "next_index": len(self._candidates),  # read by older versions
            "candidates": [[cid, c.arch.json_values()] for cid, c in self._candidates.items()],
            "told": [[t.candidate_id, t.status, _finite(t.metrics)] for t in self._told.values()],
            "extra": self._extra_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` into a strategy built with the same space and options."""
        if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
            found = state.get("format") if isinstance(state, Mapping) else None
            raise SearchError(
                f"Not a strategy state of format {STATE_FORMAT} (got "
                f"{type(state).__name__} with format {found!r})."
            )
        for key, value in self._identity().items():
            got = _jsonable(state.get(key))
            if got != _jsonable(value):
                raise SearchError(
                    f"The saved state has {key}={got!r} but this strategy has {value!r}; "
                    f"restore into a strategy built like the saved one."
                )
        self.seed = int(state["seed"])
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = state["rng"]
        archs = [(cid, self.space.validate(values)) for cid, values in state["candidates"]]
        self._candidates = {cid: Candidate(cid, arch) for cid, arch in archs}
        self._by_arch = {arch.arch_id: cid for cid, arch in archs}
        self._told = {}
        for cid, status, metrics in state["told"]:
            clean = {k: (math.nan if v is None else float(v)) for k, v in metrics.items()}
            self._told[cid] = self._record(cid, status, clean)
        self._load_extra_state(state.get("extra") or {})

    def _propose(self, candidate_id: str) -> Arch | None:
        """Return one arch never proposed before, or None when the space is exhausted."""
        raise NotImplementedError

    def _observe(self, candidate_id: str, told: Told) -> None:
        """React to a told result (already recorded in ``self._told``)."""

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, extra: Mapping[str, Any]) -> None:
        pass

    def _seen(self, arch: Arch) -> bool:
        return arch.arch_id in self._by_arch

    def _min_vector(self, told: Told) -> list[float]:
        return [-o.sign * told.metrics[o.metric] for o in self.objectives]

    @functools.cached_property
    def _size(self) -> int | None:
        return self.space.size()

    def _random_unseen(self, attempts: int = 100) -> Arch | None:
        """A uniform sample never proposed before; None when the space is exhausted."""
        if self._exhausted:
            return None
        for _ in range(attempts):
            arch = self.space.sample(self.rng)
            if not self._seen(arch):
                return arch
        # Rejection sampling keeps failing only when few archs are left (or none): list
        # them. Counting is only done here because it can be slow on large cell spaces.
        if self._size is None:
            return None  # a continuous space that keeps repeating itself: give up cleanly
        unseen = (a for a in self.space.enumerate() if not self._seen(a))
        if self._size > 200_000:
            found = next(unseen, None)
        elif left := list(unseen):
            found = left[int(self.rng.integers(len(left)))]
        else:
            found = None
        self._exhausted = found is None
        return found


def _clean_metrics(metrics: Mapping[str, float] | None, candidate_id: str) -> dict[str, float]:
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise SearchError(
            f"Metrics for candidate {candidate_id!r} must be a mapping of name -> number "
            f"(got {type(metrics).__name__})."
        )
    return {  # strings, curves and None are not objectives: the record stays small
        str(k): float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
    }


def _finite(metrics: Mapping[str, float]) -> dict[str, float | None]:
    return {k: v if math.isfinite(v) else None for k, v in metrics.items()}


def _jsonable(obj: Any) -> Any:
    """``obj`` as ``json.loads`` would give it back (tuples as lists, numpy scalars as Python)."""
    return json.loads(json.dumps(obj, default=lambda o: o.item()))
