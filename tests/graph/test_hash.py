"""graph_hash: invariant to names and insertion order, blind to dead code, sensitive to ops/shapes."""

from __future__ import annotations

import itertools

import pytest

from nas.graph import Graph

from ._graph_cases import NB201_EDGES, NB201_OPS, nb201_cell


def _block(order: str, names: dict[str, str] | None = None, out_channels: int = 8) -> Graph:
    n = names or {}
    g = Graph()
    x = g.add_input((4, 8, 8), name=n.get("x", "x"))

    def conv() -> str:
        return g.add(
            "conv2d", x, name=n.get("a", "a"), out_channels=out_channels, kernel_size=3, padding=1
        )

    def pool() -> str:
        return g.add("max_pool", x, name=n.get("b", "b"), kernel_size=3, stride=1, padding=1)

    first, second = (conv(), pool()) if order == "ab" else (pool(), conv())
    a, b = (first, second) if order == "ab" else (second, first)
    g.set_outputs(g.add("concat", [a, b], name=n.get("c", "c")))
    return g


def test_invariant_to_names_and_insertion_order() -> None:
    base = _block("ab").graph_hash()
    assert len(base) == 64
    assert _block("ba").graph_hash() == base
    assert _block("ab", {"x": "in", "a": "zz", "b": "q", "c": "out"}).graph_hash() == base


def test_changes_with_op_attr_shape_and_concat_order() -> None:
    base = _block("ab").graph_hash()
    assert _block("ab", out_channels=6).graph_hash() != base
    g = Graph()
    x = g.add_input((4, 8, 8))
    a = g.add("conv2d", x, out_channels=8, kernel_size=3, padding=1)
    b = g.add("max_pool", x, kernel_size=3, stride=1, padding=1)
    g.set_outputs(g.add("concat", [b, a]))  # swapped inputs: a different function
    assert g.graph_hash() != base
    h = Graph()
    x = h.add_input((4, 8, 8))
    a = h.add("conv2d", x, out_channels=8, kernel_size=3, padding=1)
    b = h.add("avg_pool", x, kernel_size=3, stride=1, padding=1)  # another op
    h.set_outputs(h.add("concat", [a, b]))
    assert h.graph_hash() != base
    k = Graph()
    x = k.add_input((4, 9, 9))  # another shape
    a = k.add("conv2d", x, out_channels=8, kernel_size=3, padding=1)
    b = k.add("max_pool", x, kernel_size=3, stride=1, padding=1)
    k.set_outputs(k.add("concat", [a, b]))
    assert k.graph_hash() != base


def test_add_is_commutative_and_flattened() -> None:
    def build(nested: bool, order: tuple[int, ...]) -> Graph:
        g = Graph()
        x = g.add_input((4, 6))
        t = [g.add("relu", x), g.add("tanh", x), g.add("sigmoid", x)]
        t = [t[i] for i in order]
        if nested:
            g.set_outputs(g.add("add", [g.add("add", t[:2]), t[2]]))
        else:
            g.set_outputs(g.add("add", t))
        return g

    hashes = {
        build(n, o).graph_hash() for n in (True, False) for o in itertools.permutations(range(3))
    }
    assert len(hashes) == 1


def test_zero_identity_and_dead_code_do_not_count_for_hash_but_for_params() -> None:
    plain = Graph()
    x = plain.add_input((4, 8, 8))
    plain.set_outputs(plain.add("conv2d", x, out_channels=4, kernel_size=3, padding=1))

    noisy = Graph()
    x = noisy.add_input((4, 8, 8))
    dead = noisy.add("conv2d", x, out_channels=4, kernel_size=5, padding=2)  # feeds only a zero
    z = noisy.add("zero", dead)
    c = noisy.add("conv2d", noisy.add("identity", x), out_channels=4, kernel_size=3, padding=1)
    noisy.add("linear", x, out_features=3)  # reaches no output
    noisy.set_outputs(noisy.add("add", [z, noisy.add("dropout", c, p=0.1)]))

    assert noisy.graph_hash() == plain.graph_hash()
    assert noisy.params == plain.params + 4 * 4 * 25 + 8 * 3 + 3


def test_nb201_cells_differing_only_in_dead_edges_share_a_hash() -> None:
    # Node 2 only feeds node 3 through a 'none' edge: its incoming ops are dead.
    a = dict(NB201_EDGES)
    b = {**NB201_EDGES, (0, 2): "conv3", (1, 2): "pool"}
    ga, gb = nb201_cell(a), nb201_cell(b)
    assert ga.graph_hash() == gb.graph_hash()
    assert gb.params > ga.params  # the benchmark counts dead convolutions
    c = {**NB201_EDGES, (2, 3): "skip"}  # now node 2 is live: a different function
    assert nb201_cell(c).graph_hash() != ga.graph_hash()


def test_nb201_hash_ignores_names() -> None:
    g1 = nb201_cell(NB201_EDGES)
    g2 = nb201_cell(NB201_EDGES, rename=lambda s: f"cell7.{s[::-1]}")
    assert g1.graph_hash() == g2.graph_hash()


def test_nb201_space_has_the_known_number_of_unique_functions() -> None:
    # NAS-Bench-201 has 15,625 cells; counting isomorphic/dead-edge duplicates leaves 6,466 unique
    # architectures (Dong & Yang 2020). Sample a slice to keep the test fast: a cell with every
    # edge 'none' must hash like any other all-zero cell, and distinct live cells must differ.
    all_none = {e: "none" for e in NB201_EDGES}
    z1 = nb201_cell(all_none)
    z2 = nb201_cell({**all_none, (0, 1): "conv3", (0, 2): "pool"})  # output still all-zero
    assert z1.graph_hash() == z2.graph_hash()
    live = [{**all_none, (0, 3): op} for op in NB201_OPS[1:]]
    assert len({nb201_cell(e).graph_hash() for e in live}) == len(live)


@pytest.mark.parametrize("swap", [False, True])
def test_multiple_inputs_keep_their_positions(swap: bool) -> None:
    g = Graph()
    a = g.add_input((4, 5), name="a")
    b = g.add_input((4, 5), name="b")
    r = g.add("relu", a)
    g.set_outputs(g.add("concat", [r, b] if not swap else [b, r]))
    h = Graph()
    a = h.add_input((4, 5), name="a")
    b = h.add_input((4, 5), name="b")
    h.set_outputs(h.add("concat", [h.add("relu", a), b]))
    assert (g.graph_hash() == h.graph_hash()) is (not swap)


def test_a_parameter_free_subexpression_computed_twice_is_one_node() -> None:
    """ONNX exporters merge equal parameter-free ops on one input; the hash must not care."""

    def twice(shared: bool, op: str = "relu", **attrs: object) -> Graph:
        g = Graph()
        x = g.add_input((4, 8, 8), name="x")
        a = g.add(op, x, **attrs)
        b = a if shared else g.add(op, x, **attrs)
        g.set_outputs(g.add("concat", [a, b]))
        return g

    assert twice(True).graph_hash() == twice(False).graph_hash()
    conv = {"out_channels": 4, "kernel_size": 3, "padding": 1}
    # two convs of one input hold two sets of weights: a different function from one conv
    assert twice(True, "conv2d", **conv).graph_hash() != twice(False, "conv2d", **conv).graph_hash()
