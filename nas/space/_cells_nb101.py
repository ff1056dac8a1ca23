"""NAS-Bench-101's module (Ying et al., ICML 2019): pruning, vertex widths and wiring, as the
benchmark's ``model_builder.build_module`` and ``compute_vertex_channels`` do them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from nas.space._node import image_shape, subpath
from nas.space._ops import conv1x1_bn

if TYPE_CHECKING:
    from nas.graph import Graph

__all__ = ["live_vertices", "nb101_module", "vertex_channels"]


def live_vertices(inputs: Sequence[Sequence[int]]) -> list[int]:
    """The vertices on a path from the input (0) to the output (the last); ``inputs[v]`` are
    the vertices feeding ``v`` (every one of them reads an earlier vertex, so every vertex is
    reachable from the input; only those that reach no output are pruned)."""
    last = len(inputs) - 1
    reaches = {last}
    for v in range(last - 1, -1, -1):
        if any(v in inputs[d] for d in reaches):
            reaches.add(v)
    return sorted(reaches)


def vertex_channels(inputs: Sequence[Sequence[int]], in_channels: int, channels: int) -> list[int]:
    """Widths of the (pruned) vertices: the output's fan-in from interior vertices splits
    ``channels`` (the first ones get the remainder), every other interior vertex takes the
    widest vertex it feeds."""
    n = len(inputs)
    width = [0] * n
    width[0], width[-1] = in_channels, channels
    feeding = [v for v in range(1, n - 1) if v in inputs[-1]]
    if not feeding:
        return width
    share, extra = divmod(channels, len(feeding))
    for k, v in enumerate(feeding):
        width[v] = share + (1 if k < extra else 0)
    for v in range(n - 3, 0, -1):
        if v not in feeding:
            width[v] = max((width[d] for d in range(v + 1, n - 1) if v in inputs[d]), default=0)
    return width


def nb101_module(
    graph: Graph,
    path: str,
    x: str,
    inputs: Sequence[Sequence[int]],
    vertex_op: Callable[[int, str], str],
    channels: int,
) -> str:
    """Add one NAS-Bench-101 module on ``x``; ``inputs[v]`` feed vertex ``v`` (the last is the
    output vertex), ``vertex_op(v, h)`` applies vertex ``v``'s op to ``h``."""
    shape = image_shape(graph, x, "A NAS-Bench-101 cell", path)
    live = live_vertices(inputs)
    index = {v: k for k, v in enumerate(live)}  # original vertex -> pruned position
    pruned = [tuple(index[u] for u in inputs[v] if u in index) for v in live]
    width = vertex_channels(pruned, shape[0], channels)
    states: dict[int, str] = {0: x}

    def project(name: str, out: int) -> str:
        return graph.add("relu", [conv1x1_bn(graph, name, x, out, 1)], name=subpath(name, "relu"))

    last = len(live) - 1
    for k in range(1, last):
        node = subpath(path, f"node{live[k]}")
        terms = []
        for u in pruned[k]:
            if u == 0:
                terms.append(project(subpath(node, "proj"), width[k]))
            elif graph.shape(states[u])[0] > width[k]:  # the benchmark's truncation
                name = subpath(node, f"from{live[u]}")
                terms.append(
                    graph.add("slice", [states[u]], name=name, axis=0, start=0, end=width[k])
                )
            else:
                terms.append(states[u])
        h = terms[0] if len(terms) == 1 else graph.add("add", terms, name=subpath(node, "in"))
        states[k] = vertex_op(live[k], h)
    feeding = [states[u] for u in pruned[last] if u != 0]
    out = subpath(path, "out")
    if not feeding:
        return project(subpath(out, "proj"), channels)
    y = feeding[0] if len(feeding) == 1 else graph.add("concat", feeding, name=subpath(out, "cat"))
    if 0 in pruned[last]:
        y = graph.add("add", [y, project(subpath(out, "proj"), channels)], name=out)
    return y
