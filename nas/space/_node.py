"""The node contract: a node declares its decisions and children once, as :class:`Part` s.

From that one list the base derives all but drawing the graph: the decide-only walk
(sampling, validating, mutating, Optuna; define-by-run), the declaration of every decision
that can be active, exact counting (a shared, named decision counted once) and whether a
subtree is static. Paths come from tree positions (``body.2.kernel_size``) or explicit
names, never from a global counter.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nas.errors import SpaceError
from nas.space._decisions import Choice, Decision

if TYPE_CHECKING:
    from nas.graph import Graph
    from nas.space._context import BuildContext

__all__ = ["Element", "Node", "Part", "image_shape", "require_int", "subpath", "subtree_at"]

# A counting state: the shared (named) decisions bound so far, with the value that matters
# for counting (the value of a decision that activates parts somewhere, else None).
State = frozenset[tuple[str, Any]]


#: The metadata of a dataclass field left out of the JSON spec while None: a space written
#: before the field existed keeps its JSON, and so every arch_id.
OMIT_NONE = {"omit_none": True}


def require_int(kind: str, field: str, value: Any, least: int = 1) -> None:
    """Raise :class:`SpaceError` unless ``value`` is an int (not a bool) of at least ``least``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise SpaceError(f"{kind} needs an int {field} >= {least} (got {value!r}).")


def image_shape(graph: Graph, x: str, kind: str, path: str) -> tuple[int, ...]:
    """The shape of ``x``, which ``kind`` at ``path`` needs to be (channels, height, width)."""
    shape = graph.shape(x)
    if len(shape) != 3:
        raise SpaceError(
            f"{kind} at {path or 'the root'!r} needs a (channels, height, width) input (got shape {shape})."
        )
    return shape


def subpath(path: str, key: str) -> str:
    """The path of ``key`` under ``path`` (``path.key``; an empty key is the path itself)."""
    return f"{path}.{key}" if path and key else path or key


@dataclass(frozen=True)
class Part:
    """One decision or child of a node.

    Args:
        key: where it lives under the node's path (``""``: at the node's own path).
        value: a :class:`~nas.space.Decision`, a node or an expression.
        then: for a finite decision, the parts each of its values activates (keys again
            relative to the node). A :class:`Choice` over subtrees gets ``key.label`` by default.
    """

    key: str
    value: Any
    then: Callable[[Any], Sequence[Part]] | None = None


def subtree_at(key: str, subtrees: Mapping[Any, Node]) -> Callable[[Any], Sequence[Part]]:
    """The ``then`` of a choice over ``subtrees``: a label activates its subtree at ``key.label``."""
    return lambda label: (Part(subpath(key, str(label)), subtrees[label]),)


class Element:
    """What nodes and expressions share: parts (derived from dataclass fields by default)
    and a JSON spec (the constructor's keyword arguments)."""

    def parts(self) -> Sequence[Part]:
        """Decisions and elements among the fields, keyed by field name (``field.k`` inside a
        mapping, ``field.i`` inside a list). Override when paths differ from field names."""
        out: list[Part] = []
        for name, value in self.spec().items():
            if isinstance(value, Mapping):
                out.extend(Part(subpath(name, str(k)), v) for k, v in value.items() if _live(v))
            elif isinstance(value, list | tuple):
                out.extend(Part(subpath(name, str(i)), v) for i, v in enumerate(value) if _live(v))
            elif _live(value):
                out.append(Part(name, value))
        return out

    def spec(self) -> dict[str, Any]:
        """The constructor's keyword arguments (a dataclass's init fields by default)."""
        if not dataclasses.is_dataclass(self):
            raise SpaceError(f"{type(self).__name__} is not a dataclass; override spec().")
        omitted = [f.name for f in dataclasses.fields(self) if f.metadata.get("omit_none")]
        spec = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        return {k: v for k, v in spec.items() if v is not None or k not in omitted}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Element:
        """Rebuild from :meth:`spec` (``cls(**spec)`` by default)."""
        return cls(**spec)

    def is_static(self) -> bool:
        """True when the subtree holds no decision (cached; elements are immutable)."""
        return not live_parts(self)

    def __getstate__(self) -> dict[str, Any]:
        # Pickled without the cached parts (their ``then`` may be a lambda) and templates.
        return {k: v for k, v in self.__dict__.items() if k not in ("_live", "_templates")}


class Node(Element):
    """Base of every node of the tree: declare parts once, build the graph once.

    A dataclass node gets its parts from its fields; a node whose paths differ from its
    field names (or whose decisions activate parts) overrides :meth:`parts`. Register the
    class (:func:`~nas.space.register_node`): the space's JSON form, which needs it, is also
    the fingerprint in every ``arch_id``.

    Example:
        >>> from dataclasses import dataclass
        >>> from typing import Any
        >>> from nas.space import Choice, Node, Space, register_node, subpath
        >>> @register_node(replace=True)
        ... @dataclass(frozen=True, eq=False)
        ... class Dense(Node):
        ...     width: Any
        ...     def build(self, ctx, graph, path, x):
        ...         width = ctx.value(subpath(path, "width"), self.width)
        ...         return graph.add("linear", [x], name=path or "dense", out_features=width)
        >>> space = Space("dense", Dense(Choice([4, 8])), input_shape=(3,))
        >>> space.size(), list(space.decisions)
        (2, ['width'])
    """

    def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        """Add this node's ops to ``graph`` on input ``x`` and return the output node's name;
        resolve decisions with ``ctx.decide`` / ``ctx.value`` at the paths of :meth:`parts`."""
        raise NotImplementedError(f"{type(self).__name__} does not implement build().")

    def draw(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        """:meth:`build`; a subtree whose decisions are all named and unconditional (a cell
        sharing one genotype, a block of a stage) is drawn once per their values and input
        shape, and spliced where it repeats (:meth:`Graph.splice_once`)."""
        named = named_decisions(self)
        if named is None or not path or not ctx.splice:
            return self.build(ctx, graph, path, x)
        templates = self.__dict__.setdefault("_templates", {})
        draw = functools.partial(self.build, ctx)
        return graph.splice_once(templates, ctx.values(named), x, path, draw)


def named_decisions(element: Element) -> tuple[Decision, ...] | None:
    """The decisions of ``element``'s subtree in the order a walk meets them first, when
    all are named, finite and activate nothing (so the subtree always meets the same ones,
    whatever its path and values); else None. Cached: elements are immutable."""
    cache = getattr(element, "__dict__", {})  # a slotted class recomputes it
    if "_named" not in cache:
        found: dict[str, Decision] = {}
        cache["_named"] = tuple(found.values()) if _collect(element, found) else None
    return cache["_named"]  # type: ignore[no-any-return]


def _collect(element: Element, found: dict[str, Decision]) -> bool:
    for part in live_parts(element):
        value = part.value
        if isinstance(value, Element):
            if not _collect(value, found):
                return False
        elif value.name is None or part.then is not None or value.size() is None:
            return False
        else:
            found.setdefault(value.name, value)
    return True


def _live(value: Any) -> bool:
    return isinstance(value, Decision) or (isinstance(value, Element) and not value.is_static())


def live_parts(element: Element) -> tuple[Part, ...]:
    """The parts that hold a decision (all that the decide-only walks visit), checked and
    normalised once: elements are immutable (a slotted class recomputes them)."""
    cache = getattr(element, "__dict__", {})
    live = cache.get("_live")
    if live is None:
        parts = [_checked(element, p) for p in element.parts()]
        twice = [k for k, n in Counter(p.key for p in parts).items() if n > 1]
        if twice:  # two parts at one path would silently share it
            raise SpaceError(f"{type(element).__name__}.parts() lists key {twice[0]!r} twice.")
        live = cache["_live"] = tuple(p for p in parts if _live(p.value))
    return live


def _checked(element: Element, part: Part) -> Part:
    where = f"{type(element).__name__}.parts()"
    if not isinstance(part, Part) or not isinstance(part.value, Decision | Element):
        raise SpaceError(f"{where}: expected Parts holding a decision, node or expression.")
    value, then = part.value, part.then
    if then is None and isinstance(value, Choice) and value.subtrees is not None:
        then = subtree_at(part.key, value.subtrees)
    if then is None or not isinstance(value, Decision):
        return part
    if value.size() is None:
        raise SpaceError(f"{where} part {part.key!r}: a continuous decision cannot activate parts.")
    # Parts that never hold a decision change no walk, declaration or count: drop them once.
    live = any(_live(sub.value) for option in value.values() for sub in then(option))
    return Part(part.key, value, then if live else None)


# ----------------------------------------------------------------------------- walks
def walk(parts: Sequence[Part], ctx: BuildContext, path: str) -> None:
    """Resolve every active decision in order (define-by-run), skipping static subtrees."""
    for part in parts:
        value = part.value
        if isinstance(value, Decision):
            chosen = ctx.decide(subpath(path, part.key), value)
            if part.then is not None:
                walk(part.then(chosen), ctx, path)
        elif not value.is_static():
            named = named_decisions(value)
            if named is None:
                walk(live_parts(value), ctx, subpath(path, part.key))
            else:  # the decisions the walk would meet, in its order; named: no path in the key
                for decision in named:
                    ctx.decide("", decision)


def declare(
    parts: Sequence[Part], path: str, out: dict[str, Decision], conditional: set[str]
) -> None:
    """Record every decision that can be active into ``out`` (key -> decision), and into
    ``conditional`` the keys of the decisions whose value activates other decisions."""
    for part in parts:
        value = part.value
        if isinstance(value, Element):
            declare(live_parts(value), subpath(path, part.key), out, conditional)
            continue
        key = value.name or subpath(path, part.key)
        previous = out.setdefault(key, value)
        if previous is not value and not _same_domain(previous, value):
            raise SpaceError(
                f"Decision {key!r} is declared twice with different domains "
                f"({previous.describe()} vs {value.describe()}); shared names need one domain."
            )
        if part.then is not None:
            subs: dict[tuple[str, int], Part] = {}
            for option in value.values():
                for sub in part.then(option):
                    subs.setdefault((sub.key, id(sub.value)), sub)
            live = [s for s in subs.values() if _live(s.value)]
            if live:
                conditional.add(key)
            declare(live, path, out, conditional)


def _same_domain(a: Decision, b: Decision) -> bool:
    """Same class, same fields but the name (over subtrees: the same labels)."""
    if type(a) is not type(b) or a.structural != b.structural:
        return False
    skip = ("name", "options", "subtrees")
    fields = [f.name for f in dataclasses.fields(a) if f.name not in skip]  # type: ignore[arg-type]
    return all(getattr(a, f) == getattr(b, f) for f in fields)


class Infinite(Exception):
    """Raised while counting when a continuous decision makes the space infinite."""


def count(
    parts: Sequence[Part], path: str, states: dict[State, int], conditional: set[str]
) -> dict[State, int]:
    """Thread the counting states through ``parts``; ``conditional`` comes from :func:`declare`."""
    for part in parts:
        value = part.value
        if isinstance(value, Decision):
            states = _count_decision(part, path, states, conditional)
        elif not value.is_static():
            states = count(live_parts(value), subpath(path, part.key), states, conditional)
    return states


def _count_decision(
    part: Part, path: str, states: dict[State, int], conditional: set[str]
) -> dict[State, int]:
    decision, then = part.value, part.then
    size = decision.size()
    if size is None:
        raise Infinite(subpath(path, part.key))
    name = decision.name
    # A decision that activates no decision counts as its size: which value a shared one is
    # bound to cannot change the count downstream, so its states need not be told apart.
    keyed = (name or subpath(path, part.key)) in conditional
    out: Counter[State] = Counter()
    for state, n in states.items():
        bound = dict(state) if name is not None else {}
        if name is not None and name in bound:
            if keyed and then is not None:
                out.update(count(then(bound[name]), path, {state: n}, conditional))
            else:
                out[state] += n
        elif not keyed:
            new = state | {(name, None)} if name is not None else state
            out[new] += n * size
        else:
            for option in decision.values():
                sub = {state | {(name, option)} if name is not None else state: n}
                out.update(count(then(option), path, sub, conditional) if then else sub)
    return out
