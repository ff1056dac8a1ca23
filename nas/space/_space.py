"""``Space`` (a named tree plus its input shape and recipe) and ``Arch`` (one candidate)."""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nas.errors import ArchError, SpaceError
from nas.space._compose import as_node
from nas.space._context import (
    BuildContext,
    FromValues,
    NeedDecision,
    Replay,
    Resolver,
    keep_or_fill,
    optuna_suggest,
)
from nas.space._decisions import Choice, Decision, FloatRange, IntRange, _thaw
from nas.space._json import FORMAT, from_json, loads, to_json
from nas.space._node import Infinite, Node, Part, count, declare, walk
from nas.space._ops import Recipe

if TYPE_CHECKING:
    from nas.graph import Graph

__all__ = ["Arch", "Space"]


# One encoder for every arch: json.dumps builds a new one per call. Tuples encode as lists.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class Arch:
    """A concrete value for every active decision of a space.

    ``values`` is a flat ``{path: value}`` mapping. ``arch_id`` is a stable hash of the
    canonical JSON of the values with the space's name, version and :attr:`Space.fingerprint`
    (an edited space never reuses old ids). An arch built without a space
    (``Arch(space, version, values)``) has no fingerprint in its id.

    Example:
        >>> a = Arch("toy", "1", {"width": 16})
        >>> a["width"], len(a.arch_id)
        (16, 16)
    """

    space: str
    version: str
    values: Mapping[str, Any]
    fingerprint: str = ""
    arch_id: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", dict(self.values))
        self._identify()

    def _identify(self) -> None:
        obj = {"space": self.space, "version": self.version, "values": self.values}
        if self.fingerprint:
            obj["fingerprint"] = self.fingerprint
        text = _CANONICAL.encode(obj)
        self.__dict__["_json"] = text  # computed once: ids, stores and Ray configs all use it
        self.__dict__["arch_id"] = hashlib.sha256(text.encode()).hexdigest()[:16]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __contains__(self, key: object) -> bool:
        return key in self.values

    def __hash__(self) -> int:
        return hash(self.arch_id)

    def __eq__(self, other: object) -> bool:  # the id hashes space, version and values
        return isinstance(other, Arch) and self.arch_id == other.arch_id

    def json_values(self) -> dict[str, Any]:
        return {k: _thaw(v) for k, v in self.values.items()}

    def to_json(self) -> str:
        """Canonical JSON: ``{"space": ..., "version": ..., "fingerprint": ..., "values": {...}}``
        (no ``fingerprint`` key when the arch has none)."""
        return str(self.__dict__["_json"])

    @staticmethod
    def from_json(text: str | Mapping[str, Any]) -> Arch:
        obj = loads(text, "An arch JSON") if isinstance(text, str) else dict(text)
        if not isinstance(obj, Mapping) or not isinstance(obj.get("values"), Mapping):
            raise ArchError(
                'An arch JSON needs {"space": ..., "version": ..., "values": {...}}; '
                f"got keys {sorted(obj) if isinstance(obj, Mapping) else type(obj).__name__}."
            )
        space, version, fingerprint = (
            str(obj.get(k, "")) for k in ("space", "version", "fingerprint")
        )
        return Arch(space, version, obj["values"], fingerprint)


class Space:
    """A named search space: a tree of decisions and ops, an input shape and a recipe.

    Args:
        name: registry name, part of every ``arch_id``.
        body: the network tree (a :class:`~nas.space.Node`).
        input_shape: per-sample input shape, batch excluded (e.g. ``(3, 32, 32)``).
        recipe: an optional :class:`~nas.space.Recipe` searched jointly with the network.
        version: bump it when the space changes meaning; it is part of every ``arch_id``.
        description: one line for ``nas spaces``.

    Example:
        >>> import numpy as np
        >>> from nas.space import Choice, Op, Seq, Space
        >>> s = Space("toy", Seq(Op("linear", out_features=Choice([8, 16])), Op("relu")),
        ...           input_shape=(4,))
        >>> s.size()
        2
        >>> arch = s.sample(np.random.default_rng(0))
        >>> s.compile(arch).shape(s.compile(arch).outputs[0])[0] in (8, 16)
        True
    """

    def __init__(
        self,
        name: str,
        body: Node,
        *,
        input_shape: tuple[int, ...],
        recipe: Recipe | None = None,
        version: str = "1",
        description: str = "",
    ) -> None:
        if not isinstance(name, str) or not name:
            raise SpaceError(f"A space needs a non-empty name (got {name!r}).")
        self.name = name
        self.body = as_node(body, f"Space {name!r} body")
        shape = tuple(input_shape) if isinstance(input_shape, Iterable) else ()
        if not shape or not all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape
        ):
            raise SpaceError(
                f"Space {name!r}: input_shape must be positive ints, batch excluded "
                f"(got {input_shape!r})."
            )
        self.input_shape = shape
        if recipe is not None and not isinstance(recipe, Recipe):
            raise SpaceError(
                f"Space {name!r}: recipe must be a Recipe (got {type(recipe).__name__})."
            )
        self.recipe_node = recipe
        self.version = str(version)
        self.description = description
        self._parts = (Part("", self.body),) + ((Part("recipe", recipe),) if recipe else ())
        self.decisions: dict[str, Decision] = {}
        self._conditional: set[str] = set()
        declare(self._parts, "", self.decisions, self._conditional)
        self._mutable = {k for k, d in self.decisions.items() if d.size() != 1}  # mutate moves

    def __repr__(self) -> str:
        return f"Space({self.name!r}, version={self.version!r}, decisions={len(self.decisions)})"

    def _decide(self, resolver: Resolver) -> Arch:
        """The arch of a walk that resolves every active decision with ``resolver``; a flat
        space needs no walk (every declared decision is active, in declaration order)."""
        if not self._conditional:
            return self._walked({k: resolver(k, d) for k, d in self.decisions.items()})
        ctx = BuildContext(resolver)
        walk(self._parts, ctx, "")
        return self._walked(ctx.bound)

    def _walked(self, values: dict[str, Any]) -> Arch:
        # Values a walk of this space chose (or that differ from such values only in a
        # decision that activates nothing) are valid by construction: the mark lets
        # mutate/neighbors skip re-validating them with a second walk.
        arch = object.__new__(Arch)  # ``values`` is the walk's own dict: no copy, no checks
        space, version, fingerprint = arch.__dict__["_walked_in"] = self._mark
        arch.__dict__.update(space=space, version=version, values=values, fingerprint=fingerprint)
        arch._identify()
        return arch

    def _valid(self, arch: Arch) -> Arch:
        """``arch`` when this space built it, else :meth:`validate` (a walk)."""
        return arch if arch.__dict__.get("_walked_in") == self._mark else self.validate(arch)

    @functools.cached_property
    def _mark(self) -> tuple[str, str, str]:
        return self.name, self.version, self.fingerprint

    @functools.cached_property
    def fingerprint(self) -> str:
        """A stable hash of what the space computes: input shape, tree, decisions and their
        values, recipe (its JSON form, in order; name, version and description excluded).
        Part of every ``arch_id``, so editing a space never reuses the ids of the old one."""
        text = json.dumps(self._structure(), separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _structure(self) -> dict[str, Any]:
        recipe = None if self.recipe_node is None else to_json(self.recipe_node)
        return {"input_shape": list(self.input_shape), "body": to_json(self.body), "recipe": recipe}

    def max_epochs(self) -> int | None:
        """The largest ``epochs`` the recipe can take (the fidelity ceiling of ASHA and
        Hyperband): the most of an ``epochs`` decision, or its fixed value; ``None`` when the
        recipe has no ``epochs`` field (or the space has no recipe).

        Example:
            >>> from nas.space import get_space
            >>> get_space("cnn1d").max_epochs()
            40
        """
        epochs = self.recipe_node.fields.get("epochs") if self.recipe_node else None
        if epochs is None:
            return None
        values = epochs.values() if isinstance(epochs, Choice | IntRange) else [epochs]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise SpaceError(
                f"Space {self.name!r}: recipe epochs must be ints (got {epochs!r}); "
                f"use an int, an IntRange or a Choice of ints."
            )
        return max(values)

    def sample(self, rng: np.random.Generator) -> Arch:
        """Sample one arch; every active decision is drawn from ``rng``."""
        if not isinstance(rng, np.random.Generator):
            raise SpaceError(
                f"sample() needs a numpy.random.Generator (got {type(rng).__name__}); "
                f"use numpy.random.default_rng(seed)."
            )
        return self._decide(lambda key, decision: decision.sample(rng))

    def validate(self, arch: Arch | Mapping[str, Any]) -> Arch:
        """Return the canonical arch, or raise :class:`ArchError` naming the offending path."""
        if isinstance(arch, Arch):
            if arch.space and arch.space != self.name:
                raise ArchError(
                    f"The arch belongs to space {arch.space!r}, not {self.name!r}; "
                    f"compile it with space {arch.space!r}."
                )
            values = arch.values
        elif isinstance(arch, Mapping):
            values = arch
        else:
            raise ArchError(f"An arch must be an Arch or a mapping (got {type(arch).__name__}).")
        valid = self._decide(FromValues(values, self.name))
        extra = [k for k in values if k not in valid.values]
        if extra:
            why = "not a decision of" if extra[0] not in self.decisions else "inactive in"
            raise ArchError(
                f"Unexpected decision {extra[0]!r}: {why} this arch of space {self.name!r}; "
                f"remove it (active decisions: {', '.join(valid.values) or 'none'})."
            )
        return valid

    arch = validate  # a validated arch from a ``{path: value}`` mapping

    def contains(self, arch: Arch | Mapping[str, Any]) -> bool:
        try:
            self.validate(arch)
        except ArchError:
            return False
        return True

    def compile(self, arch: Arch | Mapping[str, Any], *, check: bool = True) -> Graph:
        """Compile an arch into its IR graph (no torch needed)."""
        from nas.graph import Graph

        values = arch.values if isinstance(arch, Arch) else arch
        if not isinstance(values, Mapping):
            return self.validate(values)  # type: ignore[arg-type]  # raises: not an arch
        graph = Graph(name=self.name)
        ctx = BuildContext(FromValues(values, self.name))
        graph.set_outputs(self.body.build(ctx, graph, "", graph.add_input(self.input_shape)))
        if self.recipe_node is not None:
            self.recipe_node.resolve(ctx)
        if check and any(k not in ctx.bound for k in values):
            self.validate(values)  # raises with the full message
        return graph

    def to_torch(self, arch: Arch | Mapping[str, Any]) -> Any:
        """Compile an arch into a ``torch.fx.GraphModule``."""
        from nas.graph import to_torch

        return to_torch(self.compile(arch))

    def recipe(self, arch: Arch | Mapping[str, Any]) -> dict[str, Any]:
        """The training recipe of an arch: fixed recipe fields plus its recipe decisions."""
        if self.recipe_node is None:
            return {}
        values = arch.values if isinstance(arch, Arch) else arch
        return self.recipe_node.resolve(BuildContext(FromValues(values, self.name)))

    def graph_hash(self, arch: Arch | Mapping[str, Any]) -> str:
        return self.compile(arch).graph_hash()

    def size(self, *, include_recipe: bool = True) -> int | None:
        """Exact number of distinct archs (a Python int), or ``None`` if infinite."""
        parts = self._parts if include_recipe else self._parts[:1]
        try:
            return sum(count(parts, "", {frozenset(): 1}, self._conditional).values())
        except Infinite:
            return None

    def enumerate(self) -> Iterator[Arch]:
        """Every arch of a finite space, lazily, in a fixed order."""
        if self.size() is None:
            raise SpaceError(
                f"Space {self.name!r} has continuous decisions and cannot be enumerated; "
                f"sample it instead."
            )
        stack: list[list[int]] = [[]]
        while stack:
            forced = stack.pop()
            try:
                yield self._decide(Replay(forced))
            except NeedDecision as need:  # the walk met a decision past the forced ones
                stack.extend([*forced, k] for k in reversed(range(need.size)))

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Change exactly one active decision (decisions it activates are sampled anew)."""
        arch = self._valid(arch)
        keys = [k for k in arch.values if k in self._mutable]
        if not keys:
            return arch
        key = keys[int(rng.integers(len(keys)))]
        value = self.decisions[key].mutate(arch.values[key], rng)
        return self._changed({**arch.values, key: value}, key, rng)

    def neighbors(self, arch: Arch) -> list[Arch]:
        """Every arch one decision away (new decisions it activates take their defaults)."""
        arch = self._valid(arch)
        out: dict[str, Arch] = {}
        for key, value in arch.values.items():
            for other in self.decisions[key].neighbors(value):
                nb = self._changed({**arch.values, key: other}, key, None)
                if nb.arch_id != arch.arch_id:
                    out.setdefault(nb.arch_id, nb)
        return list(out.values())

    def _changed(self, values: dict[str, Any], key: str, rng: np.random.Generator | None) -> Arch:
        """The arch of valid ``values`` but a new value at ``key``: what a keep-or-fill walk
        gives, without the walk when ``key`` activates nothing and its value is in domain."""
        decision = self.decisions[key]
        value = decision.normalize(values[key])
        if key not in self._conditional and decision.contains(value):
            values[key] = value
            return self._walked(values)
        return self._decide(functools.partial(keep_or_fill, values, rng))

    def encode(self, arch: Arch, *, onehot: bool = False) -> np.ndarray:
        """A fixed-length vector over every declared decision.

        Raw (default): choices as their index, numbers as their value (log for log floats),
        NaN where a decision is inactive; :meth:`decode` inverts it. One-hot: choices one-hot,
        numbers scaled to [0, 1]; inactive decisions are all zeros (for regressors).
        """
        values = arch.values
        if not onehot:
            codes = [
                d.encode(values[k]) if k in values else math.nan for k, d in self.decisions.items()
            ]
            return np.array(codes, dtype=np.float64)
        parts: list[float] = []
        for k, d in self.decisions.items():
            if isinstance(d, Choice):
                hot = d.index(values[k]) if k in values else -1
                parts.extend(float(i == hot) for i in range(d.size()))
            elif isinstance(d, IntRange | FloatRange) and k not in values:
                parts.append(0.0)
            elif isinstance(d, FloatRange):
                parts.append(d._to_unit(values[k]))
            elif isinstance(d, IntRange):
                parts.append((values[k] - d.low + 1) / (d.high - d.low + 1))
        return np.asarray(parts, dtype=np.float64)

    def decode(self, vector: np.ndarray) -> Arch:
        """Invert :meth:`encode` (raw form)."""
        vector = np.asarray(vector, dtype=np.float64)
        if vector.shape != (len(self.decisions),):
            raise ArchError(
                f"Expected a vector of length {len(self.decisions)} for space {self.name!r} "
                f"(got shape {vector.shape})."
            )
        codes = dict(zip(self.decisions, vector.tolist()))

        def resolver(key: str, decision: Decision) -> Any:
            code = codes[key]
            if math.isnan(code):
                raise ArchError(f"Decision {key!r} is active but its code is NaN.")
            return decision.decode(code)

        return self._decide(resolver)

    def suggest(self, trial: Any) -> Arch:
        """Define-by-run: one ``trial.suggest_*`` per active decision, named by its path.

        Example:
            >>> import optuna  # doctest: +SKIP
            >>> study = optuna.create_study()  # doctest: +SKIP
            >>> arch = space.suggest(study.ask())  # doctest: +SKIP
        """
        return self._decide(functools.partial(optuna_suggest, trial))

    def to_json(self) -> str:
        head = {"format": FORMAT, "name": self.name, "version": self.version}
        # key order is meaningful (option order)
        return json.dumps({**head, "description": self.description, **self._structure()})

    @staticmethod
    def from_json(text: str | Mapping[str, Any]) -> Space:
        obj = loads(text, "Space JSON") if isinstance(text, str) else text
        if not isinstance(obj, Mapping):
            raise SpaceError(f"Space JSON must be an object (got {type(obj).__name__}).")
        if obj.get("format") != FORMAT:  # nas-space/1 nodes carried a key: build it anew in Python
            raise SpaceError(
                f"Space JSON has format {obj.get('format')!r}; expected {FORMAT!r} "
                f"(write it with Space.to_json())."
            )
        missing = [k for k in ("name", "input_shape", "body") if k not in obj]
        if missing:
            raise SpaceError(f"Space JSON at space: missing field {missing[0]!r}.")
        return Space(
            str(obj["name"]),
            from_json(obj["body"], "body"),
            input_shape=obj["input_shape"],
            recipe=from_json(obj.get("recipe"), "recipe"),
            version=str(obj.get("version", "1")),
            description=str(obj.get("description", "")),
        )
