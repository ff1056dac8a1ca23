"""Cells: small DAGs whose edges choose an op (NAS-Bench-201, DARTS) or whose nodes choose
their op and inputs (NAS-Bench-101)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nas.errors import SpaceError
from nas.space._cells_nb101 import nb101_module
from nas.space._compose import as_node
from nas.space._decisions import Choice
from nas.space._json import register_node
from nas.space._node import OMIT_NONE, Node, Part, require_int, subpath, subtree_at

if TYPE_CHECKING:
    from nas.graph import Graph
    from nas.space._cells_darts import DartsCell
    from nas.space._context import BuildContext

__all__ = ["EdgeCell", "InputCell"]


def _ops(kind: str, ops: Mapping[str, Node]) -> dict[str, Node]:
    return {str(k): as_node(v, f"{kind} op {k!r}") for k, v in dict(ops).items()}


def _op_sets(cell: EdgeCell | DartsCell) -> tuple[dict[str, Node], dict[str, Node]]:
    """Set a cell's ops and input ops as nodes (the input ops have the labels of ops, in
    order); return the ops and those on the edges from the cell input."""
    kind = type(cell).__name__
    ops = _ops(kind, cell.ops)
    first = None if cell.input_ops is None else _ops(f"{kind} input", cell.input_ops)
    if first is not None and list(first) != list(ops):
        raise SpaceError(
            f"{kind} input_ops must have the labels of ops, in order ({list(ops)}; "
            f"got {list(first)})."
        )
    object.__setattr__(cell, "ops", ops)
    object.__setattr__(cell, "input_ops", first)
    return ops, first or ops


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
        input_ops: label -> subtree on the edges from the cell input (the same labels as
            ``ops``; default ``ops``). A cell that changes the shape (TransNAS-Bench-101's
            downsampling cell: strided convs, a factorized reduction, shaped zeros) gives them
            here, and every op on those edges must produce the cell's new shape.
    """

    nodes: int
    ops: Mapping[str, Node]
    name: str | None = None
    output: str = "last"
    input_ops: Mapping[str, Node] | None = field(default=None, metadata=OMIT_NONE)
    _edges: tuple[tuple[int, int, Choice], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        require_int("EdgeCell", "nodes", self.nodes, 2)
        if self.output not in ("last", "concat"):
            raise SpaceError(f"EdgeCell output must be 'last' or 'concat' (got {self.output!r}).")
        ops, first = _op_sets(self)
        edges = []
        for i in range(1, self.nodes):
            for j in range(i):
                name = f"{self.name}.n{i}_from{j}" if self.name else None
                edges.append((i, j, Choice(first if j == 0 else ops, name=name)))
        object.__setattr__(self, "_edges", tuple(edges))

    def parts(self) -> Sequence[Part]:
        return [Part(f"n{i}_from{j}", choice) for i, j, choice in self._edges]

    def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        states = [x]
        incoming: list[str] = []
        for i, j, choice in self._edges:
            edge = subpath(path, f"n{i}_from{j}")
            label = ctx.decide(edge, choice)
            op = choice.subtrees[label]  # type: ignore[index]
            incoming.append(op.draw(ctx, graph, subpath(edge, label), states[j]))
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

    With ``channels`` set, the cell is NAS-Bench-101's module (Ying et al., ICML 2019;
    ``model_builder.build_module``): node ``nodes-1`` is the output vertex and chooses its
    inputs too (``node{nodes-1}.inputs``); vertices on no path to it are pruned, as the
    benchmark prunes its specs; the vertices feeding the output split ``channels`` among them
    and are concatenated; every other vertex takes the widest width it feeds; an edge from the
    cell input is a conv1x1-BN-ReLU projection to the vertex width, an edge between vertices
    keeps the first channels; the input's projection to ``channels`` is added to the output
    when the input feeds it. Ops then run at their vertex width (``InChannels``).

    Args:
        nodes: number of nodes including the input (NAS-Bench-101: 7).
        ops: label -> subtree applied at a node; each must keep the input shape.
        name: explicit decision prefix shared by every cell that uses it.
        channels: the output width of a NAS-Bench-101 module (None: summing cell).

    Example:
        >>> from nas.space import InChannels, Op, Space
        >>> ops = {"conv": Op("conv2d", out_channels=InChannels(), kernel_size=1)}
        >>> space = Space("nb101_like", InputCell(4, ops, channels=8), input_shape=(4, 8, 8))
        >>> graph = space.compile(space.validate({
        ...     "node1.inputs": (0,), "node1.op": "conv", "node2.inputs": (0, 1),
        ...     "node2.op": "conv", "node3.inputs": (1, 2)}))
        >>> graph.shape(graph.outputs[0])  # node 1 (width 4) and node 2 (4), concatenated
        (8, 8, 8)
    """

    nodes: int
    ops: Mapping[str, Node]
    name: str | None = None
    channels: int | None = field(default=None, metadata=OMIT_NONE)
    _decisions: tuple[tuple[int, Choice, Choice], ...] = field(init=False, repr=False)
    _output: Choice | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        require_int("InputCell", "nodes", self.nodes, 3)
        if self.channels is not None:
            require_int("InputCell", "channels", self.channels)
        ops = _ops("InputCell", self.ops)
        object.__setattr__(self, "ops", ops)
        made = []
        for i in range(1, self.nodes - 1):
            op = Choice(ops, name=f"{self.name}.node{i}.op" if self.name else None)
            made.append((i, op, self._inputs(i)))
        object.__setattr__(self, "_decisions", tuple(made))
        output = self._inputs(self.nodes - 1) if self.channels is not None else None
        object.__setattr__(self, "_output", output)

    def _inputs(self, i: int) -> Choice:
        subsets = [s for r in range(1, i + 1) for s in itertools.combinations(range(i), r)]
        return Choice(subsets, name=f"{self.name}.node{i}.inputs" if self.name else None)

    def parts(self) -> Sequence[Part]:
        out = []
        for i, op, inputs in self._decisions:
            out.append(Part(f"node{i}.inputs", inputs))
            out.append(Part(f"node{i}.op", op, then=subtree_at(f"node{i}", self.ops)))
        if self._output is not None:
            out.append(Part(f"node{self.nodes - 1}.inputs", self._output))
        return out

    def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        inputs: list[tuple[int, ...]] = [()]
        labels: list[str] = [""]
        for i, op, choice in self._decisions:
            node = subpath(path, f"node{i}")
            inputs.append(tuple(ctx.decide(subpath(node, "inputs"), choice)))
            labels.append(str(ctx.decide(subpath(node, "op"), op)))

        def vertex_op(i: int, h: str) -> str:
            return self.ops[labels[i]].draw(ctx, graph, subpath(path, f"node{i}.{labels[i]}"), h)

        if self.channels is not None:
            out = subpath(path, f"node{self.nodes - 1}.inputs")
            inputs.append(tuple(ctx.decide(out, self._output)))  # type: ignore[arg-type]
            return nb101_module(graph, path, x, inputs, vertex_op, self.channels)
        states = [x]
        for i, sources in enumerate(inputs[1:], 1):
            terms = [states[s] for s in sources]
            name = subpath(path, f"node{i}.in")
            summed = terms[0] if len(terms) == 1 else graph.add("add", terms, name=name)
            states.append(vertex_op(i, summed))
        used = {s for sources in inputs for s in sources}
        loose = [states[i] for i in range(1, self.nodes - 1) if i not in used]
        return loose[0] if len(loose) == 1 else graph.add("add", loose, name=subpath(path, "out"))
