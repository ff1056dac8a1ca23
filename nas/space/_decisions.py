"""Decision leaves of the search-space tree: categorical, integer and float choices.

A decision is a small frozen dataclass with one contract, in the spirit of optuna's
distributions: which values it contains, sampling with an explicit ``numpy.random.Generator``,
encoding a value as a number and back, neighbours and mutation. Bounds are inclusive everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nas.errors import SpaceError

if TYPE_CHECKING:
    from nas.space._node import Node

__all__ = ["Choice", "Decision", "FloatRange", "IntRange"]

_PRIMITIVE = (bool, int, float, str, type(None))


def _freeze(value: Any) -> Any:
    """Lists (from JSON) become tuples so values are hashable and compare equal."""
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


class Decision:
    """Base of the decision leaves. Subclasses are frozen dataclasses."""

    name: str | None
    structural: bool = False  # True for a choice over subtrees (a conditional space)

    def contains(self, value: Any) -> bool:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def size(self) -> int | None:
        """Number of values, or ``None`` when continuous."""
        raise NotImplementedError

    def values(self) -> list[Any]:
        raise SpaceError(f"{self.describe()} is continuous and cannot be enumerated.")

    def describe(self) -> str:
        raise NotImplementedError

    def normalize(self, value: Any) -> Any:
        """Bring a value from JSON (lists, ints for floats) into its canonical form."""
        return _freeze(value)

    def encode(self, value: Any) -> float:
        raise NotImplementedError

    def decode(self, x: float) -> Any:
        raise NotImplementedError

    def neighbors(self, value: Any) -> list[Any]:
        raise NotImplementedError

    def mutate(self, value: Any, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def default(self) -> Any:
        """A deterministic value (first option / lower bound), used to fill new decisions."""
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class Choice(Decision):
    """A categorical decision over values, or over subtrees (a conditional space).

    Args:
        options: a sequence of values (bool, int, float, str, None, or tuples of these), or
            a mapping from labels to subtrees, or a sequence of subtrees (labelled by
            position: "0", "1", ...).
        name: an explicit decision name; every place that uses the same name shares one
            decision. Without it the path comes from the decision's place in the tree.

    Example:
        >>> import numpy as np
        >>> c = Choice([3, 5, 7])
        >>> c.contains(5), c.size()
        (True, 3)
        >>> c.sample(np.random.default_rng(0)) in (3, 5, 7)
        True
    """

    options: Any
    name: str | None = None
    labels: tuple[Any, ...] = field(init=False, repr=False)
    subtrees: Mapping[Any, Node] | None = field(init=False, repr=False)
    _index: dict[Any, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from nas.space._node import Node

        options = self.options
        if isinstance(options, str | bytes) or not isinstance(options, Mapping | Sequence):
            raise SpaceError(
                f"Choice options must be a list or a mapping (got {type(options).__name__})."
            )
        if not options:
            kind = "mapping" if isinstance(options, Mapping) else "list"
            raise SpaceError(f"Choice needs at least one option (got an empty {kind}).")
        items = dict(options) if isinstance(options, Mapping) else dict(enumerate(options))
        bad = [k for k, v in items.items() if not isinstance(v, Node)]
        subtrees: dict[Any, Node] | None = None
        if isinstance(options, Mapping) and bad:
            raise SpaceError(
                f"Choice over a mapping needs subtrees as values; option {bad[0]!r} is "
                f"{type(options[bad[0]]).__name__}. Use a list for plain values."
            )
        if not bad:  # over subtrees, labelled by key or position
            labels = tuple(str(k) for k in items)
            subtrees = dict(zip(labels, items.values()))
        elif len(bad) < len(items):
            raise SpaceError("Choice options must be all subtrees or all plain values.")
        else:
            labels = tuple(_freeze(o) for o in options)
            for o in labels:
                if not _is_plain(o):
                    raise SpaceError(
                        f"Choice value {o!r} is not JSON-safe; use bool, int, float, str, "
                        f"None or tuples of these."
                    )
        if len(set(labels)) != len(labels):
            raise SpaceError(f"Choice options must be distinct (got {list(labels)!r}).")
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "subtrees", subtrees)
        object.__setattr__(self, "structural", subtrees is not None)
        object.__setattr__(self, "_index", {label: i for i, label in enumerate(labels)})

    def contains(self, value: Any) -> bool:
        v = _freeze(value)
        try:
            i = self._index.get(v)
        except TypeError:  # unhashable: no label
            return False
        if i is None:
            return False
        # True == 1 in Python: a categorical over ints must not accept True, nor 1.0 for "1".
        label = self.labels[i]
        return type(label) is type(v) or (
            isinstance(label, float) and isinstance(v, int) and not isinstance(v, bool)
        )

    def sample(self, rng: np.random.Generator) -> Any:
        return self.labels[int(rng.integers(len(self.labels)))]

    def size(self) -> int:
        return len(self.labels)

    def values(self) -> list[Any]:
        return list(self.labels)

    def describe(self) -> str:
        return f"one of {[_thaw(v) for v in self.labels]!r}"

    def index(self, value: Any) -> int:
        return self.labels.index(_freeze(value))

    def encode(self, value: Any) -> float:
        return float(self.index(value))

    def decode(self, x: float) -> Any:
        i = round(x)
        if not 0 <= i < len(self.labels):
            raise SpaceError(
                f"Code {x} is outside 0..{len(self.labels) - 1} for {self.describe()}."
            )
        return self.labels[i]

    def neighbors(self, value: Any) -> list[Any]:
        v = _freeze(value)
        return [o for o in self.labels if o != v]

    def mutate(self, value: Any, rng: np.random.Generator) -> Any:
        # The draw of picking from neighbors(value), without building the list.
        v, n = _freeze(value), len(self.labels)
        i = self._index.get(v)
        if i is None or self.labels[i] != v:  # not a label (a NaN never equals itself)
            return self.labels[int(rng.integers(n))]
        if n == 1:
            return v
        r = int(rng.integers(n - 1))
        return self.labels[r + (r >= i)]

    def default(self) -> Any:
        return self.labels[0]


def _is_plain(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(_is_plain(v) for v in value)
    return isinstance(value, _PRIMITIVE)


@dataclass(frozen=True, eq=False)
class IntRange(Decision):
    """An integer decision in ``[low, high]`` (inclusive) on a grid of ``step``.

    Example:
        >>> IntRange(1, 4).values()
        [1, 2, 3, 4]
    """

    low: int
    high: int
    step: int = 1
    name: str | None = None

    def __post_init__(self) -> None:
        for attr in ("low", "high", "step"):
            v = getattr(self, attr)
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise SpaceError(f"IntRange {attr} must be an int (got {v!r}).")
        if self.step < 1:
            raise SpaceError(f"IntRange step must be >= 1 (got {self.step}).")
        if self.high < self.low:
            raise SpaceError(f"IntRange needs low <= high (got [{self.low}, {self.high}]).")
        if (self.high - self.low) % self.step:
            raise SpaceError(
                f"IntRange [{self.low}, {self.high}] is not a whole number of steps of {self.step}."
            )

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            return False
        return bool(self.low <= value <= self.high and (value - self.low) % self.step == 0)

    def sample(self, rng: np.random.Generator) -> int:
        return int(self.low + self.step * int(rng.integers(self.size())))

    def size(self) -> int:
        return (self.high - self.low) // self.step + 1

    def values(self) -> list[int]:
        return list(range(self.low, self.high + 1, self.step))

    def describe(self) -> str:
        grid = f" in steps of {self.step}" if self.step != 1 else ""
        return f"an int in [{self.low}, {self.high}]{grid}"

    def normalize(self, value: Any) -> Any:
        integral = isinstance(value, np.integer) or (
            isinstance(value, float) and value.is_integer()
        )
        return int(value) if integral else value

    def encode(self, value: Any) -> float:
        return float(value)

    def decode(self, x: float) -> int:
        v = round(x)
        if not self.contains(v):
            raise SpaceError(f"Code {x} is not {self.describe()}.")
        return v

    def neighbors(self, value: Any) -> list[int]:
        return [v for v in (value - self.step, value + self.step) if self.low <= v <= self.high]

    def mutate(self, value: Any, rng: np.random.Generator) -> int:
        others = [v for v in self.values() if v != value]
        if not others:
            return int(value)
        return int(others[int(rng.integers(len(others)))])

    def default(self) -> int:
        return self.low


@dataclass(frozen=True, eq=False)
class FloatRange(Decision):
    """A float decision in ``[low, high]`` (inclusive), linear or log-uniform.

    Example:
        >>> import numpy as np
        >>> lr = FloatRange(1e-4, 1e-1, log=True)
        >>> 1e-4 <= lr.sample(np.random.default_rng(0)) <= 1e-1
        True
    """

    low: float
    high: float
    log: bool = False
    name: str | None = None

    def __post_init__(self) -> None:
        for attr in ("low", "high"):
            v = getattr(self, attr)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise SpaceError(f"FloatRange {attr} must be a finite number (got {v!r}).")
        if self.high < self.low:
            raise SpaceError(f"FloatRange needs low <= high (got [{self.low}, {self.high}]).")
        if self.log and self.low <= 0:
            raise SpaceError(f"A log FloatRange needs low > 0 (got {self.low}).")
        object.__setattr__(self, "low", float(self.low))
        object.__setattr__(self, "high", float(self.high))

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
            return False
        return bool(self.low <= value <= self.high)  # exact for any int (no float overflow)

    def sample(self, rng: np.random.Generator) -> float:  # uniform in the code (log or not)
        return self.decode(float(rng.uniform(self.encode(self.low), self.encode(self.high))))

    def size(self) -> None:
        return None

    def describe(self) -> str:
        scale = "log-uniform " if self.log else ""
        return f"a {scale}float in [{self.low:g}, {self.high:g}]"

    def normalize(self, value: Any) -> Any:
        if isinstance(value, int | np.floating) and self.contains(value):
            return float(value)
        return value  # out of domain (a 400-digit int too): contains() refuses it

    def encode(self, value: Any) -> float:
        return math.log(value) if self.log else float(value)

    def decode(self, x: float) -> float:
        v = math.exp(x) if self.log else float(x)
        return min(max(v, self.low), self.high)

    def _to_unit(self, v: float) -> float:  # [low, high] -> [0, 1], linear in the code
        lo, hi = self.encode(self.low), self.encode(self.high)
        return 0.0 if hi == lo else (self.encode(v) - lo) / (hi - lo)

    def _from_unit(self, u: float) -> float:
        lo, hi = self.encode(self.low), self.encode(self.high)
        return self.decode(lo + min(max(u, 0.0), 1.0) * (hi - lo))

    def neighbors(self, value: Any) -> list[float]:
        u = self._to_unit(float(value))
        out = [self._from_unit(u - 0.1), self._from_unit(u + 0.1)]
        return [v for v in dict.fromkeys(out) if v != value]

    def mutate(self, value: Any, rng: np.random.Generator) -> float:
        if self.low == self.high:
            return self.low
        for _ in range(16):
            v = self._from_unit(self._to_unit(float(value)) + float(rng.normal(0.0, 0.15)))
            if v != value:
                return v
        return self.high if value != self.high else self.low

    def default(self) -> float:
        return self.low
