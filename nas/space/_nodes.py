"""Inner nodes of the search-space tree: ops, composition, cells and the training recipe.

Every node implements three walks over the tree:

* ``build(ctx, path, x)``: resolve the decisions it meets through ``ctx`` and, when
  ``ctx.graph`` is set, add its ops to the IR graph; ``x`` is the name of the input node
  (``None`` when only decisions are being resolved).
* ``declare(path, out)``: list every decision that *can* be active, conditional ones included.
* ``count(path, states)``: the exact number of distinct assignments, carried as a mapping
  from "which shared (explicitly named) decisions are bound, and to what" to a count, so
  that a decision shared by many places is counted once and conditional subtrees add up.

Decision paths come from tree positions (``body.2.kernel_size``) or from explicit names;
never from a global counter.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nas.errors import GraphError, SpaceError
from nas.space._decisions import Choice, Decision, FloatRange, IntRange

if TYPE_CHECKING:
    from nas.space._context import BuildContext

__all__ = [
    "Branches",
    "EdgeCell",
    "InChannels",
    "InputCell",
    "Node",
    "Op",
    "Recipe",
    "Repeat",
    "Residual",
    "Scaled",
    "Seq",
]

# A counting state: the shared (named) decisions bound so far, with the structural value
# that matters for counting (the chosen label of a structural choice, else None).
State = frozenset[tuple[str, Any]]


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# ----------------------------------------------------------------------------- expressions
class Expr:
    """An op attribute computed at compile time from the input shape or other decisions."""

    def decisions(self) -> list[tuple[str, Decision]]:
        return []

    def resolve(self, ctx: BuildContext, path: str, in_shape: tuple[int, ...] | None) -> Any:
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class InChannels(Expr):
    """The input's channel count times ``mult`` (which may be a decision, e.g. an expansion
    ratio), rounded to a multiple of ``divisor``.

    Example:
        >>> Op("conv2d", out_channels=InChannels(), kernel_size=3, padding=1)  # doctest: +ELLIPSIS
        Op(...)
    """

    mult: Any = 1
    divisor: int = 1

    def decisions(self) -> list[tuple[str, Decision]]:
        return [("mult", self.mult)] if isinstance(self.mult, Decision) else []

    def resolve(self, ctx: BuildContext, path: str, in_shape: tuple[int, ...] | None) -> Any:
        m = self.mult
        if isinstance(m, Decision):
            m = ctx.decide(join(path, "mult"), m)
        if in_shape is None:
            return None
        return make_divisible(in_shape[0] * m, self.divisor)


@dataclass(frozen=True, eq=False)
class Scaled(Expr):
    """``make_divisible(base * factor, divisor)``; ``factor`` may be a (shared) decision.

    Example:
        >>> Scaled(32, Choice([0.5, 1.0], name="width_mult"))  # doctest: +ELLIPSIS
        Scaled(...)
    """

    base: float
    factor: Any
    divisor: int = 8

    def decisions(self) -> list[tuple[str, Decision]]:
        return [("factor", self.factor)] if isinstance(self.factor, Decision) else []

    def resolve(self, ctx: BuildContext, path: str, in_shape: tuple[int, ...] | None) -> Any:
        f = self.factor
        if isinstance(f, Decision):
            f = ctx.decide(join(path, "factor"), f)
        return make_divisible(self.base * f, self.divisor)


@dataclass(frozen=True)
class SamePadding(Expr):
    """Padding that keeps the length/size at stride 1: ``dilation * (kernel_size - 1) // 2``.

    Resolved from the op's own (possibly searched) ``kernel_size`` and ``dilation``.
    """

    def resolve(self, ctx: BuildContext, path: str, in_shape: tuple[int, ...] | None) -> Any:
        return self  # finished by the op once its other attributes are resolved

    def padding(self, attrs: Mapping[str, Any]) -> int:
        k = attrs.get("kernel_size", 1)
        k = k[0] if isinstance(k, tuple) else k
        d = attrs.get("dilation", 1)
        return int(d) * (int(k) - 1) // 2


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to a multiple of ``divisor``, never below 90% of it (MobileNet's rule)."""
    if divisor <= 1:
        return max(1, round(value))
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


# ----------------------------------------------------------------------------- base node
class Node:
    """Base of every inner node. ``key`` names the node's place in its parent's path."""

    key: str | None = None

    def build(self, ctx: BuildContext, path: str, x: str | None) -> str | None:
        raise NotImplementedError

    def declare(self, path: str, out: dict[str, Decision]) -> None:
        raise NotImplementedError

    def count(self, path: str, states: dict[State, int]) -> dict[State, int]:
        raise NotImplementedError

    def children(self) -> list[tuple[str, Node]]:
        return []

    def is_static(self) -> bool:
        """True when the subtree holds no decision (cached; nodes are immutable)."""
        static = self.__dict__.get("_static")
        if static is None:
            found: dict[str, Decision] = {}
            self.declare("", found)
            static = not found
            self.__dict__["_static"] = static
        return static


def build_child(node: Node, ctx: BuildContext, path: str, x: str | None) -> str | None:
    """Build a child; a decision-free subtree is skipped when only decisions are resolved."""
    if ctx.graph is None and node.is_static():
        return None
    return node.build(ctx, path, x)


def _child_key(child: Node, index: int) -> str:
    return child.key if child.key is not None else str(index)


def declare_decision(path: str, decision: Decision, out: dict[str, Decision]) -> str:
    """Record a decision under its explicit name or its path; shared names must agree."""
    key = decision.name or path
    previous = out.get(key)
    if previous is not None and previous is not decision and not _same_domain(previous, decision):
        raise SpaceError(
            f"Decision {key!r} is declared twice with different domains "
            f"({previous.describe()} vs {decision.describe()}); shared names need one domain."
        )
    if previous is None:
        out[key] = decision
    if decision.structural:
        assert isinstance(decision, Choice) and decision.subtrees is not None
        for label, subtree in decision.subtrees.items():
            subtree.declare(join(path, str(label)), out)
    return key


def _same_domain(a: Decision, b: Decision) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, Choice) and isinstance(b, Choice):
        return a.labels == b.labels and (a.subtrees is None) == (b.subtrees is None)
    if isinstance(a, IntRange) and isinstance(b, IntRange):
        return (a.low, a.high, a.step) == (b.low, b.high, b.step)
    if isinstance(a, FloatRange) and isinstance(b, FloatRange):
        return (a.low, a.high, a.log) == (b.low, b.high, b.log)
    return False


def count_decision(path: str, decision: Decision, states: dict[State, int]) -> dict[State, int]:
    """Count a decision (and, for a structural choice, the subtree of each option)."""
    size = decision.size()
    if size is None:
        raise _Infinite(path)
    # A structural choice whose options hold no decisions counts like a value choice: which
    # option a shared one is bound to cannot change the count downstream.
    structural = decision.structural and not all(
        t.is_static()
        for t in decision.subtrees.values()  # type: ignore[attr-defined]
    )
    out: dict[State, int] = {}
    for state, n in states.items():
        bound = dict(state)
        if decision.name is not None and decision.name in bound:
            if structural:  # shared structural choice: follow the bound option
                label = bound[decision.name]
                sub = _subtree(decision, label).count(join(path, str(label)), {state: n})
                _merge(out, sub)
            else:
                out[state] = out.get(state, 0) + n
            continue
        if not structural:
            new_state = state | {(decision.name, None)} if decision.name else state
            out[new_state] = out.get(new_state, 0) + n * size
            continue
        assert isinstance(decision, Choice) and decision.subtrees is not None
        for label, subtree in decision.subtrees.items():
            new_state = state | {(decision.name, label)} if decision.name else state
            _merge(out, subtree.count(join(path, str(label)), {new_state: n}))
    return out


def _subtree(decision: Decision, label: Any) -> Node:
    assert isinstance(decision, Choice) and decision.subtrees is not None
    return decision.subtrees[label]


def _merge(into: dict[State, int], more: dict[State, int]) -> None:
    for state, n in more.items():
        into[state] = into.get(state, 0) + n


class _Infinite(Exception):
    """Raised while counting when a continuous decision makes the space infinite."""


def _resolve_attr(ctx: BuildContext, path: str, name: str, value: Any, in_shape: Any) -> Any:
    if isinstance(value, Decision):
        return ctx.decide(join(path, name), value)
    if isinstance(value, Expr):
        return value.resolve(ctx, join(path, name), in_shape)
    return value


def _resolve_attrs(ctx: BuildContext, path: str, attrs: Mapping[str, Any], in_shape: Any) -> dict:
    out = {k: _resolve_attr(ctx, path, k, v, in_shape) for k, v in attrs.items()}
    for k, v in out.items():
        if isinstance(v, SamePadding):  # needs the resolved kernel size and dilation
            out[k] = v.padding(out)
    return out


def _check_op_name(op: Any) -> None:
    from nas.graph import get_op  # the registry is the single source of truth for op names

    names = op.labels if isinstance(op, Choice) else (op,)
    for name in names:
        if not isinstance(name, str):
            raise SpaceError(f"An op name must be a str (got {name!r}).")
        get_op(name)  # raises RegistryError with close matches for an unknown op


# ----------------------------------------------------------------------------- leaves
@dataclass(frozen=True, eq=False, init=False)
class Op(Node):
    """One atomic op of the IR graph; attributes may be values, decisions or expressions.

    The op name itself may be a :class:`Choice` over op names (e.g. the activation).

    Example:
        >>> conv = Op("conv2d", out_channels=Choice([16, 32]), kernel_size=3, padding=1)
    """

    op: Any
    attrs: Mapping[str, Any]
    key: str | None = None

    def __init__(self, op: Any, *, key: str | None = None, **attrs: Any) -> None:
        _check_op_name(op)
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "attrs", dict(attrs))
        object.__setattr__(self, "key", key)

    def __repr__(self) -> str:
        return f"Op({self.op!r}, {', '.join(f'{k}={v!r}' for k, v in self.attrs.items())})"

    def build(self, ctx: BuildContext, path: str, x: str | None) -> str | None:
        op = ctx.decide(join(path, "op"), self.op) if isinstance(self.op, Decision) else self.op
        graph = ctx.graph
        if self.is_plain():
            attrs = self.attrs
        else:
            in_shape = graph.shape(x) if graph is not None and x is not None else None
            attrs = _resolve_attrs(ctx, path, self.attrs, in_shape)
        if graph is None:
            return None
        return graph.add(op, x, name=path or op, **attrs)  # type: ignore[arg-type]

    def is_plain(self) -> bool:
        """True when every attribute is a plain value (no decision, no expression)."""
        plain = self.__dict__.get("_plain")
        if plain is None:
            plain = not any(isinstance(v, Decision | Expr) for v in self.attrs.values())
            self.__dict__["_plain"] = plain
        return plain

    def declare(self, path: str, out: dict[str, Decision]) -> None:
        if isinstance(self.op, Decision):
            declare_decision(join(path, "op"), self.op, out)
        for k, v in self.attrs.items():
            if isinstance(v, Decision):
                declare_decision(join(path, k), v, out)
            elif isinstance(v, Expr):
                for sub, d in v.decisions():
                    declare_decision(join(join(path, k), sub), d, out)

    def count(self, path: str, states: dict[State, int]) -> dict[State, int]:
        if isinstance(self.op, Decision):
            states = count_decision(join(path, "op"), self.op, states)
        for k, v in self.attrs.items():
            if isinstance(v, Decision):
                states = count_decision(join(path, k), v, states)
            elif isinstance(v, Expr):
                for sub, d in v.decisions():
                    states = count_decision(join(join(path, k), sub), d, states)
        return states


# ----------------------------------------------------------------------------- composition
def _as_node(obj: Any, where: str) -> Node:
    if isinstance(obj, Node):
        return obj
    if isinstance(obj, Choice) and obj.structural:
        return Select(obj)
    raise SpaceError(
        f"{where}: expected a subtree (Op, Seq, Residual, ...) or a Choice over subtrees "
        f"(got {type(obj).__name__})."
    )


@dataclass(frozen=True, eq=False)
class Select(Node):
    """A :class:`Choice` over subtrees placed where a node is expected (a conditional subtree)."""

    choice: Choice
    key: str | None = None

    def build(self, ctx: BuildContext, path: str, x: str | None) -> str | None:
        label = ctx.decide(path, self.choice)
        return build_child(_subtree(self.choice, label), ctx, join(path, str(label)), x)

    def declare(self, path: str, out: dict[str, Decision]) -> None:
        declare_decision(path, self.choice, out)

    def count(self, path: str, states: dict[State, int]) -> dict[State, int]:
        return count_decision(path, self.choice, states)


class _Sequential(Node):
    items: tuple[Node, ...]

    def _paths(self, path: str) -> list[tuple[str, Node]]:
        keyed = self.__dict__.get("_keyed")
        if keyed is None:  # child keys never change: compute them once
            keyed = tuple((_child_key(c, i), c) for i, c in enumerate(self.items))
            self.__dict__["_keyed"] = keyed
        if not path:
            return list(keyed)
        return [(f"{path}.{k}", c) for k, c in keyed]

    def declare(self, path: str, out: dict[str, Decision]) -> None:
        for p, c in self._paths(path):
            c.declare(p, out)

    def count(self, path: str, states: dict[State, int]) -> dict[State, int]:
        for p, c in self._paths(path):
            states = c.count(p, states)
        return states

    def children(self) -> list[tuple[str, Node]]:
        return [(_child_key(c, i), c) for i, c in enumerate(self.items)]


@dataclass(frozen=True, eq=False, init=False)
class Seq(_Sequential):
    """Children applied one after the other. Positional children are keyed by position,
    keyword children by their keyword.

    Example:
        >>> block = Seq(conv=Op("conv2d", out_channels=16, kernel_size=3, padding=1), bn=Op("batch_norm"))
    """

    items: tuple[Node, ...]
    key: str | None = None

    def __init__(self, *items: Any, key: str | None = None, **named: Any) -> None:
        nodes = [_as_node(c, f"Seq item {i}") for i, c in enumerate(items)]
        for k, c in named.items():
            node = _as_node(c, f"Seq item {k!r}")
            nodes.append(_with_key(node, k))
        if not nodes:
            raise SpaceError("Seq needs at least one child.")
        object.__setattr__(self, "items", tuple(nodes))
        object.__setattr__(self, "key", key)

    def build(self, ctx: BuildContext, path: str, x: str | None) -> str | None:
        for p, c in self._paths(path):
            x = build_child(c, ctx, p, x)
        return x


def _with_key(node: Node, key: str) -> Node:
    """A copy of a (frozen) node with a new key."""
    clone = object.__new__(type(node))
    clone.__dict__.update(node.__dict__)
    object.__setattr__(clone, "key", key)
    return clone


@dataclass(frozen=True, eq=False)
class Residual(Node):
    """``merge(body(x), shortcut(x))``.

    Args:
        body: the main branch.
        shortcut: ``"identity"`` (shapes must match), ``"project"`` (a 1x1 conv + batch norm
            when the body changes the shape, identity otherwise), ``"if_same"`` (the skip is
            added only when shapes match, as in MobileNetV2 blocks), or a subtree.
    """

    body: Node
    shortcut: Any = "identity"
    key: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "body", _as_node(self.body, "Residual body"))
        if isinstance(self.shortcut, str):
            if self.shortcut not in ("identity", "project", "if_same"):
                raise SpaceError(
                    f"Residual shortcut must be 'identity', 'project', 'if_same' or a subtree "
                    f"(got {self.shortcut!r})."
                )
        else:
            object.__setattr__(self, "shortcut", _as_node(self.shortcut, "Residual shortcut"))

    def build(self, ctx: BuildContext, path: str, x: str | None) -> str | None:
        y = build_child(self.body, ctx, join(path, "body"), x)
        if isinstance(self.shortcut, Node):
            s = build_child(self.shortcut, ctx, join(path, "shortcut"), x)
        else:
            s = x
        graph = ctx.graph
        if graph is None:
            return None
        assert x is not None and y is not None and s is not None
        same = graph.shape(y) == graph.shape(s)
        if self.shortcut == "if_same" and not same:
            return y
        if self.shortcut == "project" and not same:
            s = _projection(graph, join(path, "shortcut"), x, graph.shape(y))
        return graph.add("add", [y, s], name=join(path, "add"))

    def declare(self, path: str, out: dict[str, Decision]) -> None:
        self.body.declare(join(path, "body"), out)
        if isinstance(self.shortcut, Node):
            self.shortcut.declare(join(path, "shortcut"), out)

    def count(self, path: str, states: dict[State, int]) -> dict[State, int]:
        states = self.body.count(join(path, "body"), states)
        if isinstance(self.shortcut, Node):
            states = self.shortcut.count(join(path, "shortcut"), states)
        return states


def _projection(graph: Any, path: str, x: str, target: tuple[int, ...]) -> str:
    """1x1 conv (with the stride that matches the target's spatial size) + batch norm."""
    source = graph.shape(x)
    if len(source) != len(target) or len(source) < 2:
        raise GraphError(
            f"Node {path!r}: cannot project shape {source} onto {target}; "
            f"give the Residual an explicit shortcut subtree."
        )
    stride = source[1] // target[1] if target[1] else 1
    if stride < 1 or any(-(-s // stride) != t for s, t in zip(source[1:], target[1:])):
        raise GraphError(
            f"Node {path!r}: no 1x1 conv stride maps spatial size {source[1:]} onto "
            f"{target[1:]}; give the Residual an explicit shortcut subtree."
        )
    conv = "conv1d" if len(source) == 2 else "conv2d"
    y = graph.add(
        conv, [x], name=join(path, "conv"), out_channels=target[0], kernel_size=1, stride=stride
    )
    return graph.add("batch_norm", [y], name=join(path, "bn"))


@dataclass(frozen=True, eq=False, init=False)
class Branches(Node):
    """Parallel branches on the same input, merged by ``"add"`` or ``"concat"``.

    Example:
        >>> Branches(Op("conv2d", out_channels=8, kernel_size=1), Op("identity"), merge="concat")  # doctest: +ELLIPSIS
        Branches(...)
    """

    items: tuple[Node, ...]
    merge: str = "add"
    key: str | None = None

    def __init__(self, *items: Any, merge: str = "add", key: str | None = None) -> None:
        if merge not in ("add", "concat"):
            raise SpaceError(f"Branches merge must be 'add' or 'concat' (got {merge!r}).")
        if len(items) < 2:
            raise SpaceError(f"Branches needs at least two branches (got {len(items)}).")
        object.__setattr__(self, "items", tuple(_as_node(c, "Branches item") for c in items))
        object.__setattr__(self, "merge", merge)
        object.__setattr__(self, "key", key)

    def _paths(self, path: str) -> list[tuple[str, Node]]:
        return [(join(path, _child_key(c, i)), c) for i, c in enumerate(self.items)]

    def build(self, ctx: BuildContext, path: str, x: str | None) -> str | None:
        outs = [build_child(c, ctx, p, x) for p, c in self._paths(path)]
        if ctx.graph is None:
            return None
        return ctx.graph.add(self.merge, outs, name=join(path, self.merge))  # type: ignore[arg-type]

    def declare(self, path: str, out: dict[str, Decision]) -> None:
        for p, c in self._paths(path):
            c.declare(p, out)

    def count(self, path: str, states: dict[State, int]) -> dict[State, int]:
        for p, c in self._paths(path):
            states = c.count(p, states)
        return states


@dataclass(frozen=True, eq=False)
class Repeat(Node):
    """``block`` repeated ``depth`` times; ``depth`` may be a decision (a variable depth).

    Each repetition ``i`` lives at ``path.i`` with its own decisions (unless they carry an
    explicit name, which shares them across repetitions). ``first``, when given, replaces
    the block for repetition 0 (e.g. the strided block that opens a stage).

    Example:
        >>> Repeat(Op("relu"), depth=IntRange(1, 3)).key is None
        True
    """

    block: Node
    depth: Any
    first: Node | None = None
    key: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "block", _as_node(self.block, "Repeat block"))
        if self.first is not None:
            object.__setattr__(self, "first", _as_node(self.first, "Repeat first"))
        d = self.depth
        if isinstance(d, Decision):
            if d.structural or d.size() is None:
                raise SpaceError("Repeat depth must be an int, an IntRange or a Choice of ints.")
            if not all(isinstance(v, int) and v >= 0 for v in d.values()):
                raise SpaceError(f"Repeat depth values must be ints >= 0 (got {d.values()}).")
        elif isinstance(d, bool) or not isinstance(d, int) or d < 0:
            raise SpaceError(f"Repeat depth must be an int >= 0 or a decision (got {d!r}).")

    def _block(self, i: int) -> Node:
        return self.first if (i == 0 and self.first is not None) else self.block

    def _max_depth(self) -> int:
        return max(self.depth.values()) if isinstance(self.depth, Decision) else self.depth

    def build(self, ctx: BuildContext, path: str, x: str | None) -> str | None:
        depth = self.depth
        if isinstance(depth, Decision):
            depth = ctx.decide(join(path, "depth"), depth)
        for i in range(depth):
            x = build_child(self._block(i), ctx, join(path, str(i)), x)
        return x

    def declare(self, path: str, out: dict[str, Decision]) -> None:
        if isinstance(self.depth, Decision):
            declare_decision(join(path, "depth"), self.depth, out)
        for i in range(self._max_depth()):
            self._block(i).declare(join(path, str(i)), out)

    def count(self, path: str, states: dict[State, int]) -> dict[State, int]:
        if not isinstance(self.depth, Decision):
            for i in range(self.depth):
                states = self._block(i).count(join(path, str(i)), states)
            return states
        out: dict[State, int] = {}
        name = self.depth.name
        for state, n in states.items():
            bound = dict(state)
            depths = [bound[name]] if name is not None and name in bound else self.depth.values()
            for depth in depths:
                sub_state = state | {(name, depth)} if name is not None else state
                sub = {sub_state: n}
                for i in range(depth):
                    sub = self._block(i).count(join(path, str(i)), sub)
                _merge(out, sub)
        return out


# ----------------------------------------------------------------------------- cells
@dataclass(frozen=True, eq=False)
class EdgeCell(Node):
    """A DAG cell whose every edge chooses an op (NAS-Bench-201, DARTS).

    Node 0 is the cell input; node ``i`` is the sum of ``op(i, j)(node j)`` over ``j < i``.
    The decision of edge ``j -> i`` is ``n{i}_from{j}`` under ``name`` (shared by every cell
    with that name, as NAS-Bench-201 shares one cell across the network) or under the path.

    Args:
        nodes: number of nodes including the input (NAS-Bench-201: 4).
        ops: label -> subtree applied on an edge; each must keep the input shape.
        name: explicit decision prefix shared by every cell that uses it.
        output: ``"last"`` (the last node) or ``"concat"`` (all intermediate nodes).
    """

    nodes: int
    ops: Mapping[str, Node]
    name: str | None = None
    output: str = "last"
    key: str | None = None
    _edges: tuple[tuple[int, int, Choice], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.nodes, bool) or not isinstance(self.nodes, int) or self.nodes < 2:
            raise SpaceError(f"EdgeCell needs nodes >= 2 (got {self.nodes!r}).")
        if self.output not in ("last", "concat"):
            raise SpaceError(f"EdgeCell output must be 'last' or 'concat' (got {self.output!r}).")
        ops = {str(k): _as_node(v, f"EdgeCell op {k!r}") for k, v in dict(self.ops).items()}
        object.__setattr__(self, "ops", ops)
        edges = []
        for i in range(1, self.nodes):
            for j in range(i):
                name = f"{self.name}.n{i}_from{j}" if self.name else None
                edges.append((i, j, Choice(ops, name=name)))
        object.__setattr__(self, "_edges", tuple(edges))

    def build(self, ctx: BuildContext, path: str, x: str | None) -> str | None:
        graph = ctx.graph
        if graph is None and self._static_ops():
            # Only the edge decisions matter; a shared cell met again is already decided.
            bound = ctx.bound
            for i, j, choice in self._edges:
                if choice.name is None or choice.name not in bound:
                    ctx.decide(join(path, f"n{i}_from{j}"), choice)
            return None
        states: list[str | None] = [x]
        incoming: list[str | None] = []
        for i, j, choice in self._edges:
            edge_path = join(path, f"n{i}_from{j}")
            label = ctx.decide(edge_path, choice)
            incoming.append(build_child(self.ops[label], ctx, join(edge_path, label), states[j]))
            if j == i - 1:  # last edge into node i: merge
                if graph is None:
                    states.append(None)
                elif len(incoming) == 1:
                    states.append(incoming[0])
                else:
                    states.append(graph.add("add", incoming, name=join(path, f"n{i}")))  # type: ignore[arg-type]
                incoming = []
        if graph is None:
            return None
        if self.output == "concat" and self.nodes > 2:
            return graph.add("concat", states[1:], name=join(path, "out"))  # type: ignore[arg-type]
        return states[-1]

    def _static_ops(self) -> bool:
        static = self.__dict__.get("_ops_static")
        if static is None:
            static = all(op.is_static() for op in self.ops.values())
            self.__dict__["_ops_static"] = static
        return static

    def declare(self, path: str, out: dict[str, Decision]) -> None:
        for i, j, choice in self._edges:
            declare_decision(join(path, f"n{i}_from{j}"), choice, out)

    def count(self, path: str, states: dict[State, int]) -> dict[State, int]:
        for i, j, choice in self._edges:
            states = count_decision(join(path, f"n{i}_from{j}"), choice, states)
        return states


@dataclass(frozen=True, eq=False)
class InputCell(Node):
    """A DAG cell whose nodes choose their op and their inputs (NAS-Bench-101 style).

    Intermediate node ``i`` (1 .. nodes-2) applies its chosen op to the sum of a chosen,
    non-empty set of earlier nodes; the cell output is the sum of the intermediate nodes
    no later node reads ("loose ends"). Decisions: ``node{i}.op`` and ``node{i}.inputs``.
    """

    nodes: int
    ops: Mapping[str, Node]
    name: str | None = None
    key: str | None = None
    _decisions: tuple[tuple[int, Choice, Choice], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.nodes, bool) or not isinstance(self.nodes, int) or self.nodes < 3:
            raise SpaceError(f"InputCell needs nodes >= 3 (got {self.nodes!r}).")
        ops = {str(k): _as_node(v, f"InputCell op {k!r}") for k, v in dict(self.ops).items()}
        object.__setattr__(self, "ops", ops)
        made = []
        for i in range(1, self.nodes - 1):
            subsets = [s for r in range(1, i + 1) for s in itertools.combinations(range(i), r)]
            prefix = f"{self.name}.node{i}" if self.name else None
            op = Choice(ops, name=f"{prefix}.op" if prefix else None)
            inputs = Choice(subsets, name=f"{prefix}.inputs" if prefix else None)
            made.append((i, op, inputs))
        object.__setattr__(self, "_decisions", tuple(made))

    def build(self, ctx: BuildContext, path: str, x: str | None) -> str | None:
        graph = ctx.graph
        states: list[str | None] = [x]
        used: set[int] = set()
        for i, op, inputs in self._decisions:
            node_path = join(path, f"node{i}")
            sources = ctx.decide(join(node_path, "inputs"), inputs)
            label = ctx.decide(join(node_path, "op"), op)
            used.update(sources)
            if graph is None:
                h = None
            elif len(sources) == 1:
                h = states[sources[0]]
            else:
                h = graph.add("add", [states[s] for s in sources], name=join(node_path, "in"))
            states.append(build_child(self.ops[label], ctx, join(node_path, label), h))
        if graph is None:
            return None
        loose = [states[i] for i in range(1, self.nodes - 1) if i not in used]
        if len(loose) == 1:
            return loose[0]
        return graph.add("add", loose, name=join(path, "out"))  # type: ignore[arg-type]

    def declare(self, path: str, out: dict[str, Decision]) -> None:
        for i, op, inputs in self._decisions:
            declare_decision(join(path, f"node{i}.inputs"), inputs, out)
            declare_decision(join(path, f"node{i}.op"), op, out)

    def count(self, path: str, states: dict[State, int]) -> dict[State, int]:
        for i, op, inputs in self._decisions:
            states = count_decision(join(path, f"node{i}.inputs"), inputs, states)
            states = count_decision(join(path, f"node{i}.op"), op, states)
        return states


# ----------------------------------------------------------------------------- recipe
@dataclass(frozen=True, eq=False, init=False)
class Recipe(Node):
    """Training hyper-parameters searched jointly with the architecture (FBNetV3).

    Fields are plain values or decisions; decisions live under ``recipe.<field>``.

    Example:
        >>> r = Recipe(lr=FloatRange(1e-3, 1e-1, log=True), epochs=10)
    """

    fields: Mapping[str, Any]
    key: str | None = "recipe"

    def __init__(self, **fields: Any) -> None:
        for k, v in fields.items():
            if isinstance(v, Decision) and v.structural:
                raise SpaceError(f"Recipe field {k!r} cannot choose among subtrees.")
        object.__setattr__(self, "fields", dict(fields))
        object.__setattr__(self, "key", "recipe")

    def resolve(self, ctx: BuildContext, path: str = "recipe") -> dict[str, Any]:
        return {
            k: ctx.decide(join(path, k), v) if isinstance(v, Decision) else v
            for k, v in self.fields.items()
        }

    def build(self, ctx: BuildContext, path: str, x: str | None) -> str | None:
        self.resolve(ctx, path)
        return x

    def declare(self, path: str, out: dict[str, Decision]) -> None:
        for k, v in self.fields.items():
            if isinstance(v, Decision):
                declare_decision(join(path, k), v, out)

    def count(self, path: str, states: dict[State, int]) -> dict[State, int]:
        for k, v in self.fields.items():
            if isinstance(v, Decision):
                states = count_decision(join(path, k), v, states)
        return states


def ensure_nodes(items: Sequence[Any], where: str) -> list[Node]:
    return [_as_node(c, where) for c in items]


# ----------------------------------------------------------------------------- composites
@dataclass(frozen=True, eq=False)
class SqueezeExcite(Node):
    """Squeeze-and-excitation built from registry ops: global pool (kept dims) -> 1x1 conv
    (reduce) -> ReLU -> 1x1 conv (expand) -> sigmoid -> multiply with the input.

    ``enabled`` may be a decision (SE on/off); when off the node is the identity.
    """

    reduction: int = 4
    divisor: int = 8
    enabled: Any = True
    key: str | None = None

    def build(self, ctx: BuildContext, path: str, x: str | None) -> str | None:
        on = self.enabled
        if isinstance(on, Decision):
            on = ctx.decide(join(path, "enabled"), on)
        graph = ctx.graph
        if graph is None or not on:
            return x
        assert x is not None
        channels = graph.shape(x)[0]
        squeezed = make_divisible(channels / self.reduction, self.divisor)
        conv = "conv1d" if len(graph.shape(x)) == 2 else "conv2d"
        s = graph.add("global_avg_pool", [x], name=join(path, "pool"), keepdim=True)
        s = graph.add(
            conv, [s], name=join(path, "reduce"), out_channels=squeezed, kernel_size=1, bias=True
        )
        s = graph.add("relu", [s], name=join(path, "relu"))
        s = graph.add(
            conv, [s], name=join(path, "expand"), out_channels=channels, kernel_size=1, bias=True
        )
        s = graph.add("sigmoid", [s], name=join(path, "gate"))
        return graph.add("mul", [x, s], name=join(path, "scale"))

    def declare(self, path: str, out: dict[str, Decision]) -> None:
        if isinstance(self.enabled, Decision):
            declare_decision(join(path, "enabled"), self.enabled, out)

    def count(self, path: str, states: dict[State, int]) -> dict[State, int]:
        if isinstance(self.enabled, Decision):
            states = count_decision(join(path, "enabled"), self.enabled, states)
        return states


@dataclass(frozen=True, eq=False)
class Project(Node):
    """Identity when the input already has ``out_channels`` and ``stride`` is 1; otherwise a
    1x1 conv with that stride plus batch norm (the "identity" layer of NAS-Bench-Macro)."""

    out_channels: Any
    stride: int = 1
    key: str | None = None

    def build(self, ctx: BuildContext, path: str, x: str | None) -> str | None:
        graph = ctx.graph
        in_shape = graph.shape(x) if graph is not None and x is not None else None
        out = _resolve_attr(ctx, path, "out_channels", self.out_channels, in_shape)
        if graph is None:
            return None
        assert x is not None and in_shape is not None
        if in_shape[0] == out and self.stride == 1:
            return x
        conv = "conv1d" if len(in_shape) == 2 else "conv2d"
        y = graph.add(
            conv, [x], name=join(path, "conv"), out_channels=out, kernel_size=1, stride=self.stride
        )
        return graph.add("batch_norm", [y], name=join(path, "bn"))

    def declare(self, path: str, out: dict[str, Decision]) -> None:
        if isinstance(self.out_channels, Decision):
            declare_decision(join(path, "out_channels"), self.out_channels, out)

    def count(self, path: str, states: dict[State, int]) -> dict[State, int]:
        if isinstance(self.out_channels, Decision):
            states = count_decision(join(path, "out_channels"), self.out_channels, states)
        return states
