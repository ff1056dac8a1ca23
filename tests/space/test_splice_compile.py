"""Compiling draws a subtree whose decisions are all named and unconditional (a cell, a
stage, an MBConv block; per their values and input shape) once and splices it where it
repeats: the graphs are exactly those drawn node by node, for every built-in space, and the
cases that cannot be spliced are drawn as they are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from nas.errors import GraphError
from nas.graph import Graph
from nas.search_spaces.nb201 import nb201
from nas.space import (
    EdgeCell,
    Node,
    Op,
    Repeat,
    Seq,
    Space,
    get_space,
    list_spaces,
    register_node,
)
from nas.space._node import named_decisions


def _node_by_node(graph: Graph, templates: Any, key: Any, x: str, path: str, draw: Any) -> str:
    """``Graph.splice_once`` that never splices: every subtree drawn node by node."""
    return draw(graph, path, x)  # type: ignore[no-any-return]


@pytest.mark.slow
@pytest.mark.parametrize("name", list_spaces())
def test_spliced_compile_equals_node_by_node(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    space = get_space(name)
    rng = np.random.default_rng(13)
    archs = [space.sample(rng) for _ in range(1000)]
    spliced = [space.compile(arch) for arch in archs]
    monkeypatch.setattr(Graph, "splice_once", _node_by_node)
    for arch, graph in zip(archs, spliced):
        expected = space.compile(arch)
        assert graph.to_text() == expected.to_text(), arch.values
        assert graph.graph_hash() == expected.graph_hash(), arch.values


def test_nb201_draws_its_cell_once_per_stage() -> None:
    space = nb201()  # built anew: no templates yet
    arch = space.sample(np.random.default_rng(0))
    space.compile(arch).validate()
    body = space.body
    assert isinstance(body, Seq)
    first, last = body.children["stage0"], body.children["stage2"]
    assert isinstance(first, Repeat) and isinstance(last, Repeat) and first.block is last.block
    shapes = sorted(shape for _, shape in first.block.__dict__["_templates"])  # (labels, shape)
    assert shapes == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]


def test_mobilenet_splices_a_block_per_stage_values() -> None:
    space = get_space("mobilenet")
    block = space.body.children["stage1"].block  # type: ignore[attr-defined]
    names = [d.name for d in named_decisions(block) or ()]
    assert names == ["stage1.expansion", "stage1.kernel", "stage1.se", "width_mult"]
    arch = space.sample(np.random.default_rng(0))
    graph = space.compile(arch)
    templates = block.__dict__["_templates"]
    key = tuple(arch[n] for n in names)
    assert [k for k, _ in templates if k == key]  # drawn once, copied into later blocks
    graph.validate()


@register_node(replace=True)
@dataclass(frozen=True, eq=False)
class _Taken(Node):
    """Takes the name the first block of the stage after it would give its node."""

    def build(self, ctx, graph, path, x):  # type: ignore[no-untyped-def]
        return graph.add("relu", [x], name="b.0.act")


def test_a_drawing_that_met_a_taken_name_is_not_copied(monkeypatch: pytest.MonkeyPatch) -> None:
    space = Space(
        "taken", Seq(a=_Taken(), b=Repeat(Seq(act=Op("relu")), depth=3)), input_shape=(4,)
    )
    graph = space.compile({})
    assert graph.nodes()[2:] == ["b.0.act_1", "b.1.act", "b.2.act"]
    monkeypatch.setattr(Graph, "splice_once", _node_by_node)
    assert graph.to_text() == space.compile({}).to_text()


@register_node(replace=True)
@dataclass(frozen=True, eq=False)
class _Named(Node):
    """Names its node after the op, wherever it is (not under its path)."""

    def build(self, ctx, graph, path, x):  # type: ignore[no-untyped-def]
        return graph.add("relu", [x], name="act")


def test_a_node_named_outside_its_path_is_drawn_as_it_is() -> None:
    block = Seq(Op("identity"), _Named())
    space = Space("named", Repeat(block, depth=3), input_shape=(4,))
    graph = space.compile({})
    assert [n for n in graph.nodes() if n.startswith("act")] == ["act", "act_1", "act_2"]
    assert graph.nodes()[1] == "0.0" and "2.0" in graph


def test_a_cell_that_fails_names_the_graphs_nodes() -> None:
    bad = Op("conv2d", out_channels=4, kernel_size=5)  # 6x6 -> 2x2, then 2x2 is too small
    cell = EdgeCell(3, {"bad": bad}, name="cell")
    space = Space(
        "bad", Seq(stem=Op("identity"), cells=Repeat(cell, depth=2)), input_shape=(4, 6, 6)
    )
    with pytest.raises(GraphError, match=r"'cells\.0\.n2_from1\.bad'"):
        space.compile({f"cell.n{i}_from{j}": "bad" for i in (1, 2) for j in range(i)})
