"""graph_hash gives exactly the hashes of the plain reference implementation kept here
(the code before the hash was made faster), on sampled archs of every built-in space."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any

import numpy as np
import pytest

from nas.graph import Graph
from nas.graph._graph import INPUT_OP
from nas.graph._hash import graph_hash
from nas.graph._ops import get_op
from nas.space import get_space, list_spaces

# ----------------------------------------------------------------- the reference (do not optimize)
_ZERO = "zero"


def _canon(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, tuple | list):
        return [_canon(v) for v in value]
    return value


def reference_live_graph(
    graph: Graph,
) -> tuple[dict[str, tuple[str, list[str]]], list[str], set[str]]:
    """Apply rules 1-5.

    Returns:
        ``(kept, outputs, zeros)``: ``kept`` maps each live node to ``(label, inputs)``,
        ``outputs`` are the resolved output nodes, ``zeros`` the nodes known to be zero
        (a zero that is still read, by ``concat`` say, stays in ``kept`` as a leaf).
    """
    alias: dict[str, str] = {}
    zeros: set[str] = set()
    kept: dict[str, tuple[str, list[str]]] = {}
    common: dict[tuple[str, ...], str] = {}

    def resolve(n: str) -> str:
        while n in alias:
            n = alias[n]
        return n

    for pos_in, name in enumerate(graph.inputs):
        kept[name] = (f"input#{pos_in}|{graph.shape(name)}", [])
    for name in graph.nodes():
        node = graph.node(name)
        if node.op == INPUT_OP:
            continue
        spec = get_op(node.op)
        ins = [resolve(i) for i in node.inputs]
        zin = [i in zeros for i in ins]
        if node.op == _ZERO or (all(zin) and spec.is_zero_preserving(node.attrs)):
            zeros.add(name)
            continue
        if node.op == "mul" and any(zin):
            zeros.add(name)
            continue
        if node.op == "add":
            ins = [i for i in ins if i not in zeros]
        if spec.hash_transparent or (
            node.op in ("add", "concat") and len(ins) == 1 and graph.shape(ins[0]) == node.shape
        ):
            alias[name] = ins[0]
            continue
        attrs = json.dumps({k: _canon(v) for k, v in node.attrs.items()}, sort_keys=True)
        label = f"{node.op}|{attrs}|{node.shape}"
        if node.params == 0:  # rule 3: one node per parameter-free subexpression
            key = (label, *(sorted(ins) if spec.commutative else ins))
            if key in common:
                alias[name] = common[key]
                continue
            common[key] = name
        kept[name] = (label, ins)

    outputs = [resolve(o) for o in graph.outputs]
    for z in {i for _, ins in kept.values() for i in ins} | set(outputs):
        if z in zeros:
            kept[z] = (f"zero|{graph.shape(z)}", [])

    # rule 4: flatten single-use adds into the add that reads them
    uses = Counter(i for _, ins in kept.values() for i in ins) + Counter(outputs)
    for name in list(kept):
        label, ins = kept[name]
        if not label.startswith("add|"):
            continue
        flat: list[str] = []
        for i in ins:
            inner = kept.get(i)
            if (
                inner
                and inner[0].startswith("add|")
                and uses[i] == 1
                and graph.shape(i) == graph.shape(name)
            ):
                flat.extend(inner[1])
            else:
                flat.append(i)
        kept[name] = (label, flat)

    # rule 5: keep what the outputs reach
    live: set[str] = set()
    stack = list(outputs)
    while stack:
        n = stack.pop()
        if n not in live:
            live.add(n)
            stack.extend(kept[n][1])
    return {n: v for n, v in kept.items() if n in live}, outputs, zeros


def reference_graph_hash(graph: Graph, *, digest_size: int = 32) -> str:
    """The hash as the engine computed it before it was made faster."""
    kept, outputs, _ = reference_live_graph(graph)
    out_tags: dict[str, list[int]] = {}
    for pos, o in enumerate(outputs):
        out_tags.setdefault(o, []).append(pos)
    order = [n for n in graph.nodes() if n in kept]  # topological

    # Bottom-up (Merkle) pass: a node's digest covers its label and, in port order for
    # order-sensitive ops (sorted for commutative ones), the digests of its inputs, i.e. the
    # whole computation that produces it. Exact for DAGs, linear in the graph size.
    up: dict[str, bytes] = {}
    consumers: dict[str, list[tuple[str, str]]] = {n: [] for n in order}
    for name in order:
        label, ins = kept[name]
        tag = f"|out{out_tags[name]}" if name in out_tags else ""
        ordered = not _commutative(label.split("|", 1)[0])
        parts = [up[i] for i in ins] if ordered else sorted(up[i] for i in ins)
        up[name] = _digest((label + tag).encode(), *parts)
        for pos, i in enumerate(ins):
            consumers[i].append((name, str(pos) if ordered else "x"))
    # Top-down pass: a node's digest also covers who consumes it and at which port, so two
    # distinct nodes computing the same thing are told apart from one node read twice.
    down: dict[str, bytes] = {}
    for name in reversed(order):
        uses = sorted(down[c] + port.encode() for c, port in consumers[name])
        down[name] = _digest(up[name], *uses)
    return _digest(*sorted(down.values()), size=digest_size).hex()


def _digest(*parts: bytes, size: int = 16) -> bytes:
    h = hashlib.blake2b(digest_size=size)
    for part in parts:
        h.update(len(part).to_bytes(4, "little"))
        h.update(part)
    return h.digest()


def _commutative(op: str) -> bool:
    try:
        return get_op(op).commutative
    except Exception:  # a label op that is not registered (cannot happen for built graphs)
        return False


# ----------------------------------------------------------------- the tests
def _hashes(name: str, n: int) -> tuple[list[str], list[str]]:
    space = get_space(name)
    rng = np.random.default_rng(7)
    graphs = [space.compile(space.sample(rng), check=False) for _ in range(n)]
    return [g.graph_hash() for g in graphs], [reference_graph_hash(g) for g in graphs]


@pytest.mark.parametrize("name", list_spaces())
def test_graph_hash_equals_the_reference_on_sampled_archs(name: str) -> None:
    fast, slow = _hashes(name, 40)
    assert fast == slow


@pytest.mark.slow
@pytest.mark.parametrize("name", list_spaces())
def test_graph_hash_equals_the_reference_on_1000_archs(name: str) -> None:
    fast, slow = _hashes(name, 1000)
    assert fast == slow
    assert len(set(fast)) > 1  # the archs differ: the comparison covers many graphs


def test_graph_hash_equals_the_reference_on_hand_built_corner_cases() -> None:
    g = Graph("corner")
    x = g.add_input((4, 8, 8), name="x")
    z = g.add("zero", x)
    a = g.add("relu", x)
    b = g.add("relu", x)  # a common subexpression of a
    c = g.add("add", [a, b, z])  # a zero input is dropped
    d = g.add("identity", c)
    e = g.add("mul", [d, z])  # zero
    f = g.add("concat", [d, e])  # a zero read by concat stays a leaf
    g.add("sigmoid", x)  # dead
    y = g.add("conv2d", x, out_channels=4, kernel_size=1)
    g.set_outputs(f, g.add("add", [g.add("add", [y, d]), a]), y)
    assert g.graph_hash() == reference_graph_hash(g)
    assert graph_hash(g, digest_size=8) == reference_graph_hash(g, digest_size=8)


def test_graph_hash_equals_the_reference_on_a_wide_concat() -> None:
    g = Graph("wide")
    x = g.add_input((2, 4), name="x")
    branches = [g.add("relu", g.add("linear", x, out_features=4)) for _ in range(70)]
    g.set_outputs(g.add("concat", branches))
    assert g.graph_hash() == reference_graph_hash(g)
