"""Graph.splice: a cell compiled once and spliced where it repeats is the graph built node by
node (same to_text, same graph_hash), without re-inferring any shape."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nas.errors import GraphError
from nas.graph import Graph

from ._graph_cases import NB201_EDGES, NB201_OPS, add_nb201_cell


def _cell(g: Graph, x: str, prefix: str, edges: dict[tuple[int, int], str]) -> str:
    """A NAS-Bench-201 cell added node by node, its nodes named ``prefix + ...``."""
    return add_nb201_cell(g, x, edges, rename=lambda name: prefix + name)


def _network(edges: dict[tuple[int, int], str], *, spliced: bool, prefixes: list[str]) -> Graph:
    g = Graph("net")
    x = g.add_input((8, 8, 8))
    x = g.add("conv2d", x, name="stem", out_channels=8, kernel_size=3, padding=1)
    template = Graph("cell")
    template.set_outputs(_cell(template, template.add_input((8, 8, 8), name="x"), "", edges))
    for prefix in prefixes:
        x = g.splice(template, [x], prefix=prefix)[0] if spliced else _cell(g, x, prefix, edges)
    g.set_outputs(g.add("relu", x, name="head"))
    return g


@pytest.mark.parametrize("seed", range(40))
def test_spliced_cells_equal_cells_built_node_by_node(seed: int) -> None:
    rng = np.random.default_rng(seed)
    edges = {e: NB201_OPS[int(rng.integers(len(NB201_OPS)))] for e in NB201_EDGES}
    prefixes = [f"cells.{i}." for i in range(5)]
    direct = _network(edges, spliced=False, prefixes=prefixes)
    spliced = _network(edges, spliced=True, prefixes=prefixes)
    spliced.validate()  # every reused shape, param and FLOP count re-infers the same
    assert spliced.to_text() == direct.to_text()
    assert spliced.graph_hash() == direct.graph_hash()


def test_a_taken_name_gets_the_suffix_add_would_give() -> None:
    edges = dict.fromkeys(NB201_EDGES, "conv3")
    prefixes = ["cell.", "cell.", ""]  # the same names twice, and bare names
    direct = _network(edges, spliced=False, prefixes=prefixes)
    spliced = _network(edges, spliced=True, prefixes=prefixes)
    assert spliced.nodes() == direct.nodes() and "cell.e01.conv_1" in spliced.nodes()
    assert spliced.to_text() == direct.to_text()


def test_a_template_whose_output_is_its_input_returns_the_bound_node() -> None:
    t = Graph("skip")
    x = t.add_input((4,), name="x")
    t.set_outputs(x)
    g = Graph()
    y = g.add_input((4,))
    assert g.splice(t, [y], prefix="s.") == [y] and g.nodes() == [y]


def test_wrong_inputs_are_one_line_errors() -> None:
    t = Graph("cell")
    t.set_outputs(t.add("relu", t.add_input((4,), name="x")))
    g = Graph("net")
    y = g.add_input((5,))
    cases = [([y, y], "expected 1 inputs"), ([y], "shape (4,)"), (["nope"], "no such node")]
    for inputs, words in cases:
        with pytest.raises(GraphError, match=r"splice|Splicing") as err:
            g.splice(t, inputs)
        assert words in str(err.value) and "\n" not in str(err.value)


def test_every_edge_combination_of_one_cell_matches() -> None:
    for ops in itertools.islice(itertools.product(NB201_OPS, repeat=6), 0, None, 97):
        edges = dict(zip(NB201_EDGES, ops))
        a = _network(edges, spliced=False, prefixes=["a.", "b."])
        b = _network(edges, spliced=True, prefixes=["a.", "b."])
        assert (a.to_text(), a.graph_hash()) == (b.to_text(), b.graph_hash())


def test_root_is_replaced_by_the_prefix() -> None:
    t = Graph("cell")
    x = t.add_input((4,), name="x")
    t.set_outputs(t.add("relu", t.add("linear", x, name="~", out_features=4), name="~.act"))
    g = Graph()
    y = g.add_input((4,))
    out = g.splice(t, [y], prefix="block", root="~")
    assert g.nodes() == ["input", "block", "block.act"] and out == ["block.act"]
    assert g.node("block.act").inputs == ("block",)
    with pytest.raises(GraphError, match=r"not under root 'cell\.'"):
        g.splice(t, [y], prefix="b", root="cell.")
