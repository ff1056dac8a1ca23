"""Two-input cells (DARTS, NASNet): each cell reads the outputs of the two cells before it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nas.space._cells import _op_sets
from nas.space._cells_ops import FactorizedReduce
from nas.space._compose import _Sequential
from nas.space._decisions import Choice
from nas.space._json import register_node
from nas.space._node import OMIT_NONE, Node, Part, image_shape, require_int, subpath, subtree_at
from nas.space._ops import conv1x1_bn

if TYPE_CHECKING:
    from nas.graph import Graph
    from nas.space._context import BuildContext

__all__ = ["CellStack", "DartsCell"]

_INPUTS = 2  # a DARTS cell's nodes 0 and 1: the two previous cells' outputs


@register_node
@dataclass(frozen=True, eq=False)
class DartsCell(Node):
    """A DARTS cell (Liu et al., ICLR 2019; the NAS-Bench-301 space, Siems, Zela et al. 2020).

    Nodes 0 and 1 are the outputs of the two previous cells, each preprocessed to ``channels``
    by ReLU-conv1x1-BN (node 0 by a :class:`FactorizedReduce` when it has twice node 1's
    resolution: the cell before was a reduction cell). Each intermediate node ``i`` (2 ..
    ``nodes + 1``) sums two ops, each on one of two distinct earlier nodes; the cell output
    concatenates the intermediate nodes (``nodes * channels`` channels). Decisions:
    ``node{i}.inputs`` (the pair, ascending), ``node{i}.op0`` and ``node{i}.op1`` (the ops on
    the first and the second input); the chosen op's subtree lives at ``node{i}.op{k}.<label>``.

    Placed in a :class:`CellStack`, a cell reads the two cells before it; elsewhere both its
    inputs are its one input.

    Args:
        ops: label -> subtree on an edge between intermediate nodes (keeps the shape).
        channels: the width ``C`` of every node.
        input_ops: label -> subtree on an edge from nodes 0 and 1 (same labels as ``ops``;
            default ``ops``). A reduction cell's are strided (the skip a factorized reduction).
        nodes: intermediate nodes (DARTS: 4).
        name: explicit decision prefix shared by every cell that uses it (DARTS shares one
            normal and one reduction genotype across the network).

    Example:
        >>> from nas.space import Op, Space
        >>> ops = {"skip": Op("identity"), "pool": Op("max_pool", kernel_size=3, padding=1)}
        >>> space = Space("darts_like", DartsCell(ops, channels=8, nodes=2), input_shape=(4, 8, 8))
        >>> space.size()  # node 2: 1 pair x 2 x 2 ops; node 3: 3 pairs x 2 x 2 ops
        48
    """

    ops: Mapping[str, Node]
    channels: int
    input_ops: Mapping[str, Node] | None = field(default=None, metadata=OMIT_NONE)
    nodes: int = 4
    name: str | None = None
    _nodes: tuple[tuple[int, Choice, tuple[Part, ...]], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        require_int("DartsCell", "channels", self.channels)
        require_int("DartsCell", "nodes", self.nodes)
        ops, first = _op_sets(self)
        made = []
        for i in range(_INPUTS, _INPUTS + self.nodes):
            prefix = f"{self.name}.node{i}" if self.name else None
            pairs = list(itertools.combinations(range(i), 2))
            inputs = Choice(pairs, name=f"{prefix}.inputs" if prefix else None)
            slots = []
            for k in range(2):
                key = f"node{i}.op{k}"
                name = f"{prefix}.op{k}" if prefix else None
                for source_ops in (first, ops):
                    choice = Choice(source_ops, name=name)
                    slots.append(Part(key, choice, then=subtree_at(key, source_ops)))
            made.append((i, inputs, tuple(slots)))
        object.__setattr__(self, "_nodes", tuple(made))

    def parts(self) -> Sequence[Part]:
        ops = [*self.ops.values(), *(self.input_ops or {}).values()]
        if all(op.is_static() for op in ops):  # the op sets differ in subtrees only: no condition
            return [
                part
                for i, inputs, slots in self._nodes
                for part in (Part(f"node{i}.inputs", inputs), slots[0], slots[2])
            ]
        return [
            Part(f"node{i}.inputs", inputs, then=_ops_of(slots)) for i, inputs, slots in self._nodes
        ]

    def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        return self.build_pair(ctx, graph, path, x, x)

    def build_pair(self, ctx: BuildContext, graph: Graph, path: str, s0: str, s1: str) -> str:
        """Add the cell on the outputs of the cell before the last (``s0``) and the last."""
        shapes = [image_shape(graph, s, "DartsCell", path) for s in (s0, s1)]
        if shapes[0][1:] == tuple(2 * d for d in shapes[1][1:]):  # after a reduction cell
            p0 = FactorizedReduce(self.channels).build(ctx, graph, subpath(path, "pre0"), s0)
        else:
            p0 = self._preprocess(graph, subpath(path, "pre0"), s0)
        states = [p0, self._preprocess(graph, subpath(path, "pre1"), s1)]
        for i, inputs, slots in self._nodes:
            node = subpath(path, f"node{i}")
            pair = ctx.decide(subpath(node, "inputs"), inputs)
            terms = []
            for k, source in enumerate(pair):
                choice = slots[2 * k + (source >= _INPUTS)].value
                edge = subpath(node, f"op{k}")
                label = ctx.decide(edge, choice)
                op = choice.subtrees[label]
                terms.append(op.draw(ctx, graph, subpath(edge, label), states[source]))
            states.append(graph.add("add", terms, name=node))
        return graph.add("concat", states[_INPUTS:], name=subpath(path, "out"))

    def _preprocess(self, graph: Graph, path: str, x: str) -> str:
        """DARTS's ``ReLUConvBN(C_in, C, 1, 1, 0)``."""
        y = graph.add("relu", [x], name=subpath(path, "relu"))
        return conv1x1_bn(graph, path, y, self.channels, 1)


def _ops_of(slots: Sequence[Part]) -> Callable[[Any], Sequence[Part]]:
    """The op decisions a pair of inputs activates: for each input, the input ops' choice
    (a cell input) or the inner ops' (an intermediate node)."""
    return lambda pair: tuple(slots[2 * k + (s >= _INPUTS)] for k, s in enumerate(pair))


@register_node
@dataclass(frozen=True, eq=False, init=False)
class CellStack(_Sequential):
    """Children in sequence where a two-input cell (:class:`DartsCell`) reads the outputs of
    the two children before it, as in the networks of NASNet (Zoph et al., CVPR 2018) and
    DARTS (Liu et al., ICLR 2019). A one-input child (a stem, a pool) reads the last output,
    and its output is both inputs of the next cell.

    Example:
        >>> from nas.space import Op
        >>> ops = {"skip": Op("identity")}
        >>> stack = CellStack(stem=Op("conv2d", out_channels=8, kernel_size=1),
        ...                   cell0=DartsCell(ops, 4, nodes=2), cell1=DartsCell(ops, 4, nodes=2))
        >>> list(stack.children)
        ['stem', 'cell0', 'cell1']
    """

    def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        before, last = x, x
        for key, child in self.children.items():
            where = subpath(path, key)
            if isinstance(child, DartsCell):
                before, last = last, child.build_pair(ctx, graph, where, before, last)
            else:
                before = last = child.draw(ctx, graph, where, last)
        return last
