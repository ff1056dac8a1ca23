"""Cells: small DAGs whose edges choose an op (NAS-Bench-201, DARTS) or whose nodes choose
their op and inputs (NAS-Bench-101)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nas.errors import SpaceError
from nas.space._compose import as_node
from nas.space._decisions import Choice
from nas.space._json import register_node
from nas.space._node import Node, Part, subpath

if TYPE_CHECKING:
    from nas.graph import Graph
    from nas.space._context import BuildContext

__all__ = ["EdgeCell", "InputCell"]


def _ops(kind: str, ops: Mapping[str, Node]) -> dict[str, Node]:
    return {str(k): as_node(v, f"{kind} op {k!r}") for k, v in dict(ops).items()}


@register_node
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
    _edges: tuple[tuple[int, int, Choice], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.nodes, bool) or not isinstance(self.nodes, int) or self.nodes < 2:
            raise SpaceError(f"EdgeCell needs nodes >= 2 (got {self.nodes!r}).")
        if self.output not in ("last", "concat"):
            raise SpaceError(f"EdgeCell output must be 'last' or 'concat' (got {self.output!r}).")
        ops = _ops("EdgeCell", self.ops)
        object.__setattr__(self, "ops", ops)
        edges = []
        for i in range(1, self.nodes):
            for j in range(i):
                name = f"{self.name}.n{i}_from{j}" if self.name else None
                edges.append((i, j, Choice(ops, name=name)))
        object.__setattr__(self, "_edges", tuple(edges))

    def parts(self) -> Sequence[Part]:
        return [Part(f"n{i}_from{j}", choice) for i, j, choice in self._edges]

    def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        states = [x]
        incoming: list[str] = []
        for i, j, choice in self._edges:
            edge = subpath(path, f"n{i}_from{j}")
            label = ctx.decide(edge, choice)
            incoming.append(self.ops[label].build(ctx, graph, subpath(edge, label), states[j]))
            if j == i - 1:  # last edge into node i: merge
                add = incoming[0] if len(incoming) == 1 else None
                states.append(add or graph.add("add", incoming, name=subpath(path, f"n{i}")))
                incoming = []
        if self.output == "concat" and self.nodes > 2:
            return graph.add("concat", states[1:], name=subpath(path, "out"))
        return states[-1]


@register_node
@dataclass(frozen=True, eq=False)
class InputCell(Node):
    """A DAG cell whose nodes choose their op and their inputs (NAS-Bench-101 style).

    Intermediate node ``i`` (1 .. nodes-2) applies its chosen op to the sum of a chosen,
    non-empty set of earlier nodes; the cell output is the sum of the intermediate nodes
    no later node reads ("loose ends"). Decisions: ``node{i}.op`` and ``node{i}.inputs``;
    the chosen op's subtree lives at ``node{i}.<label>``.
    """

    nodes: int
    ops: Mapping[str, Node]
    name: str | None = None
    _decisions: tuple[tuple[int, Choice, Choice], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.nodes, bool) or not isinstance(self.nodes, int) or self.nodes < 3:
            raise SpaceError(f"InputCell needs nodes >= 3 (got {self.nodes!r}).")
        ops = _ops("InputCell", self.ops)
        object.__setattr__(self, "ops", ops)
        made = []
        for i in range(1, self.nodes - 1):
            subsets = [s for r in range(1, i + 1) for s in itertools.combinations(range(i), r)]
            prefix = f"{self.name}.node{i}" if self.name else None
            op = Choice(ops, name=f"{prefix}.op" if prefix else None)
            inputs = Choice(subsets, name=f"{prefix}.inputs" if prefix else None)
            made.append((i, op, inputs))
        object.__setattr__(self, "_decisions", tuple(made))

    def parts(self) -> Sequence[Part]:
        out = []
        for i, op, inputs in self._decisions:
            out.append(Part(f"node{i}.inputs", inputs))
            out.append(Part(f"node{i}.op", op, then=self._chosen(i)))
        return out

    def _chosen(self, i: int) -> Callable[[str], Sequence[Part]]:
        return lambda label: [Part(f"node{i}.{label}", self.ops[label])]

    def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        states = [x]
        used: set[int] = set()
        for i, op, inputs in self._decisions:
            node = subpath(path, f"node{i}")
            sources = ctx.decide(subpath(node, "inputs"), inputs)
            label = ctx.decide(subpath(node, "op"), op)
            used.update(sources)
            if len(sources) == 1:
                h = states[sources[0]]
            else:
                h = graph.add("add", [states[s] for s in sources], name=subpath(node, "in"))
            states.append(self.ops[label].build(ctx, graph, subpath(node, label), h))
        loose = [states[i] for i in range(1, self.nodes - 1) if i not in used]
        if len(loose) == 1:
            return loose[0]
        return graph.add("add", loose, name=subpath(path, "out"))
