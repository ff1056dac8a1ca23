"""Composition nodes: a conditional subtree, sequences, branches, residuals and repeats."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nas.errors import GraphError, SpaceError
from nas.space._decisions import Choice, Decision
from nas.space._json import register_node
from nas.space._node import Node, Part, subpath
from nas.space._ops import conv1x1_bn

if TYPE_CHECKING:
    from nas.graph import Graph
    from nas.space._context import BuildContext

__all__ = ["Branches", "Repeat", "Residual", "Select", "Seq", "as_node"]


def as_node(obj: Any, where: str) -> Node:
    """``obj`` as a node: a node as it is, a :class:`Choice` over subtrees as a :class:`Select`."""
    if isinstance(obj, Node):
        return obj
    if isinstance(obj, Choice) and obj.structural:
        return Select(obj)
    raise SpaceError(
        f"{where}: expected a subtree (Op, Seq, Residual, ...) or a Choice over subtrees "
        f"(got {type(obj).__name__})."
    )


@register_node
@dataclass(frozen=True, eq=False)
class Select(Node):
    """A :class:`Choice` over subtrees placed where a node is expected (a conditional subtree).

    The choice lives at the node's own path; the chosen subtree at ``path.label``.
    """

    choice: Choice

    def __post_init__(self) -> None:
        if not isinstance(self.choice, Choice) or self.choice.subtrees is None:
            raise SpaceError(f"Select needs a Choice over subtrees (got {self.choice!r}).")

    def parts(self) -> Sequence[Part]:
        return [Part("", self.choice)]

    def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        label = ctx.decide(path, self.choice)
        return self.choice.subtrees[label].draw(ctx, graph, subpath(path, str(label)), x)  # type: ignore[index]


def _children(kind: str, items: Sequence[Any], named: Mapping[str, Any]) -> dict[str, Node]:
    children = {str(i): as_node(c, f"{kind} item {i}") for i, c in enumerate(items)}
    for k, c in named.items():
        if k in children:
            raise SpaceError(f"{kind} child {k!r} is given twice; give each child one key.")
        if "." in k:  # "a.b" beside a nested a -> b would silently share its decisions
            raise SpaceError(
                f"{kind} child key {k!r} contains '.', the path separator; use another "
                f"character (e.g. '_')."
            )
        children[k] = as_node(c, f"{kind} item {k!r}")
    return children


@dataclass(frozen=True, eq=False, init=False)
class _Sequential(Node):
    """Children keyed by position (positional arguments) or by keyword; every keyword whose
    value is a subtree is a child, whatever its name."""

    children: Mapping[str, Node]

    def __init__(self, *items: Any, **named: Any) -> None:
        self._setup(_children(type(self).__name__, items, named))

    def _setup(self, children: dict[str, Node]) -> None:
        if not children:
            raise SpaceError(f"{type(self).__name__} needs at least one child.")
        object.__setattr__(self, "children", children)

    def parts(self) -> Sequence[Part]:
        return [Part(k, c) for k, c in self.children.items()]

    def spec(self) -> dict[str, Any]:
        return {"items": dict(self.children)}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> _Sequential:
        node = cls.__new__(cls)  # not cls(**items): a child may be named like an argument
        rest = {k: v for k, v in spec.items() if k != "items"}
        node._setup(_children(cls.__name__, (), dict(spec["items"])), **rest)
        return node


@register_node
@dataclass(frozen=True, eq=False, init=False)
class Seq(_Sequential):
    """Children applied one after the other. Positional children are keyed by position,
    keyword children by their keyword.

    Example:
        >>> from nas.space import Op
        >>> block = Seq(conv=Op("conv2d", out_channels=16, kernel_size=3, padding=1), bn=Op("batch_norm"))
        >>> list(Seq(Op("relu"), key=Op("identity")).children)
        ['0', 'key']
    """

    def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        for key, child in self.children.items():
            x = child.draw(ctx, graph, subpath(path, key), x)
        return x


@register_node
@dataclass(frozen=True, eq=False, init=False)
class Branches(_Sequential):
    """Parallel branches on the same input, merged by ``"add"`` or ``"concat"``.

    A subtree passed as ``merge=`` is a branch named ``merge`` (names are never reserved).

    Example:
        >>> from nas.space import Op
        >>> fork = Branches(Op("conv2d", out_channels=8, kernel_size=1), Op("identity"), merge="concat")
    """

    merge: str = "add"

    def __init__(self, *items: Any, merge: Any = "add", **named: Any) -> None:
        if not isinstance(merge, str):  # a branch named "merge"
            named, merge = {**named, "merge": merge}, "add"
        self._setup(_children("Branches", items, named), merge)

    def _setup(self, children: dict[str, Node], merge: str = "add") -> None:
        if merge not in ("add", "concat"):
            raise SpaceError(f"Branches merge must be 'add' or 'concat' (got {merge!r}).")
        if len(children) < 2:
            raise SpaceError(f"Branches needs at least two branches (got {len(children)}).")
        object.__setattr__(self, "children", children)
        object.__setattr__(self, "merge", merge)

    def spec(self) -> dict[str, Any]:
        return {"items": dict(self.children), "merge": self.merge}

    def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        outs = [c.draw(ctx, graph, subpath(path, k), x) for k, c in self.children.items()]
        return graph.add(self.merge, outs, name=subpath(path, self.merge))


@register_node
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "body", as_node(self.body, "Residual body"))
        if isinstance(self.shortcut, str):
            if self.shortcut not in ("identity", "project", "if_same"):
                raise SpaceError(
                    f"Residual shortcut must be 'identity', 'project', 'if_same' or a subtree "
                    f"(got {self.shortcut!r})."
                )
        else:
            object.__setattr__(self, "shortcut", as_node(self.shortcut, "Residual shortcut"))

    def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        y = self.body.draw(ctx, graph, subpath(path, "body"), x)
        s = x
        if isinstance(self.shortcut, Node):
            s = self.shortcut.draw(ctx, graph, subpath(path, "shortcut"), x)
        same = graph.shape(y) == graph.shape(s)
        if self.shortcut == "if_same" and not same:
            return y
        if self.shortcut == "project" and not same:
            s = _projection(graph, subpath(path, "shortcut"), x, graph.shape(y))
        return graph.add("add", [y, s], name=subpath(path, "add"))


def _projection(graph: Graph, path: str, x: str, target: tuple[int, ...]) -> str:
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
    return conv1x1_bn(graph, path, x, target[0], stride)


@register_node
@dataclass(frozen=True, eq=False)
class Repeat(Node):
    """``block`` repeated ``depth`` times; ``depth`` may be a decision (a variable depth).

    Each repetition ``i`` lives at ``path.i`` with its own decisions (unless they carry an
    explicit name, which shares them across repetitions). ``first``, when given, replaces
    the block for repetition 0 (e.g. the strided block that opens a stage).

    Example:
        >>> from nas.space import IntRange, Op
        >>> Repeat(Op("relu"), depth=IntRange(1, 3)).is_static()
        False
    """

    block: Node
    depth: Any
    first: Node | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "block", as_node(self.block, "Repeat block"))
        if self.first is not None:
            object.__setattr__(self, "first", as_node(self.first, "Repeat first"))
        d = self.depth
        if isinstance(d, Decision):
            if d.structural or d.size() is None:
                raise SpaceError("Repeat depth must be an int, an IntRange or a Choice of ints.")
            if not all(isinstance(v, int) and v >= 0 for v in d.values()):
                raise SpaceError(f"Repeat depth values must be ints >= 0 (got {d.values()}).")
        elif isinstance(d, bool) or not isinstance(d, int) or d < 0:
            raise SpaceError(f"Repeat depth must be an int >= 0 or a decision (got {d!r}).")

    def _block(self, i: int) -> Node:
        return self.first if i == 0 and self.first is not None else self.block

    def _blocks(self, depth: int) -> list[Part]:
        return [Part(str(i), self._block(i)) for i in range(depth)]

    def parts(self) -> Sequence[Part]:
        if isinstance(self.depth, Decision):
            return [Part("depth", self.depth, then=self._blocks)]
        return self._blocks(self.depth)

    def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        for i in range(ctx.value(subpath(path, "depth"), self.depth)):  # no Part objects
            x = self._block(i).draw(ctx, graph, subpath(path, str(i)), x)
        return x
