"""Fold chains of IR pieces back into the op they spell (used by both importers).

An op whose lowering exports as several ONNX nodes (``channel_shuffle``: Reshape -> Transpose ->
Reshape) imports as those pieces; folding them gives back the op, so its graph (and
``graph_hash``) survives the round trip and a foreign model's shuffle is recognized too. Two
transposes in a row become one (exporters merge them), so ``k.transpose(1, 2).transpose(-2,
-1)`` reads the same from torch and from ONNX.
"""

from __future__ import annotations

from nas.graph._graph import INPUT_OP, Graph

__all__ = ["fold_patterns"]


def _shuffle_groups(g: Graph, name: str, uses: dict[str, list[str]]) -> tuple[str, int] | None:
    """``reshape(C -> g, C/g) -> transpose(swap) -> reshape(-> C)`` ending at ``name``."""
    last = g.node(name)
    if last.op != "reshape":
        return None
    mid = g.node(last.inputs[0])
    if mid.op != "transpose" or len(uses[mid.name]) != 1:
        return None
    first = g.node(mid.inputs[0])
    if first.op != "reshape" or len(uses[first.name]) != 1:
        return None
    src = g.shape(first.inputs[0])
    groups, per, *spatial = first.shape
    rest = tuple(range(2, len(first.shape)))
    ok = (
        len(src) in (2, 3)
        and (groups * per, *spatial) == src
        and mid.attrs["perm"] == (1, 0, *rest)
        and last.shape == src
        and groups > 1
    )
    return (first.inputs[0], groups) if ok else None


def _composed_transpose(
    g: Graph, name: str, uses: dict[str, list[str]]
) -> tuple[str, tuple[int, ...]] | None:
    """``transpose(transpose(x))`` -> one transpose of ``x`` (exporters merge them too)."""
    last = g.node(name)
    if last.op != "transpose":
        return None
    first = g.node(last.inputs[0])
    if first.op != "transpose" or len(uses[first.name]) != 1 or first.name in g.outputs:
        return None
    return first.inputs[0], tuple(first.attrs["perm"][p] for p in last.attrs["perm"])


def fold_patterns(graph: Graph) -> Graph:
    """A copy of ``graph`` with every foldable chain replaced by its op (weights kept)."""
    uses = graph.consumers()
    folds: dict[str, tuple[str, str, dict]] = {}  # last node -> (op, input, attrs)
    dead: set[str] = set()
    for name in graph.nodes():
        if name in dead:
            continue
        shuffle = _shuffle_groups(graph, name, uses)
        perm = _composed_transpose(graph, name, uses) if shuffle is None else None
        if shuffle is not None:
            folds[name] = ("channel_shuffle", shuffle[0], {"groups": shuffle[1]})
            mid = graph.node(name).inputs[0]
            dead.update({mid, graph.node(mid).inputs[0]})
        elif perm is not None and perm[0] not in folds:
            folds[name] = ("transpose", perm[0], {"perm": perm[1]})
            dead.add(graph.node(name).inputs[0])
    if not folds:
        return graph
    out = Graph(graph.name)
    for name in graph.nodes():
        node = graph.node(name)
        if node.op == INPUT_OP:
            out.add_input(node.shape, name=name)
        elif name in folds:
            op, src, attrs = folds[name]
            out.add(op, src, name=name, **attrs)
        elif name not in dead:
            out.add(node.op, list(node.inputs), name=name, **node.attrs)
    out.set_outputs(*graph.outputs)
    out.weights = dict(graph.weights)
    return out
