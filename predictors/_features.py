"""Graph featurization: any IR :class:`~nas.graph.Graph` becomes node features + an edge list.

Each node gets an op one-hot (over a fixed vocabulary, unknown ops map to ``"other"``) and
shape-aware numeric features (log-scaled channels and spatial size, kernel, stride, groups,
depthwise flag, FLOPs/params as a share of the graph, degrees). Nothing depends on node names
or insertion order except the row order of the matrix, so any pooled embedding of the result is
invariant under node relabelling.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from nas.graph import Graph, list_ops

__all__ = [
    "NUMERIC_FEATURES",
    "FeatureSpec",
    "GraphBatch",
    "GraphFeatures",
    "batch_graphs",
    "featurize",
]

NUMERIC_FEATURES = (
    "log_in_channels",
    "log_out_channels",
    "log_in_spatial",
    "log_out_spatial",
    "kernel",
    "stride",
    "log_groups",
    "depthwise",
    "flops_share",
    "params_share",
    "log_flops",
    "log_params",
    "n_inputs",
    "log_out_degree",
    "is_graph_input",
    "is_graph_output",
)


@dataclass(frozen=True)
class FeatureSpec:
    """The op vocabulary of a featurizer; frozen into every saved model.

    Attributes:
        ops: Op names with their own one-hot slot (``"input"`` and ``"other"`` are appended).
        simplify: Drop ``zero`` nodes and contract identity-like nodes (the ops
            ``graph_hash`` also ignores), so message passing spends its hops on real compute.
    """

    ops: tuple[str, ...]
    simplify: bool = True

    @classmethod
    def default(cls) -> FeatureSpec:
        """All ops registered now (a user's custom ops included)."""
        return cls(tuple(list_ops()))

    @property
    def vocab(self) -> tuple[str, ...]:
        return (*self.ops, "input", "other")

    @property
    def dim(self) -> int:
        return len(self.vocab) + len(NUMERIC_FEATURES)


@dataclass(frozen=True)
class GraphFeatures:
    """One featurized graph.

    Attributes:
        x: ``(nodes, FeatureSpec.dim)`` float32 node features.
        edge_index: ``(2, edges)`` int64, row 0 = producer, row 1 = consumer.
    """

    x: np.ndarray
    edge_index: np.ndarray

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])


@dataclass(frozen=True)
class GraphBatch:
    """Many graphs as one block-diagonal graph (PyG-style), ready for message passing.

    Attributes:
        x: ``(total_nodes, dim)`` node features.
        edge_index: ``(2, total_edges)`` with node indices offset per graph.
        batch: ``(total_nodes,)`` graph index of every node.
        num_graphs: Number of graphs.
    """

    x: np.ndarray
    edge_index: np.ndarray
    batch: np.ndarray
    num_graphs: int

    def to_torch(self, device: str = "cpu") -> tuple:
        import torch

        return (
            torch.from_numpy(self.x).to(device),
            torch.from_numpy(self.edge_index).to(device),
            torch.from_numpy(self.batch).to(device),
            self.num_graphs,
        )


def _log(v: float) -> float:
    return math.log1p(max(v, 0.0))


def _spatial(shape: Sequence[int]) -> float:
    return float(math.prod(shape[1:])) if len(shape) > 1 else 1.0


def _first(value: object, default: float) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, tuple) and value and all(isinstance(v, int) for v in value):
        return float(max(value))
    return default


def featurize(graph: Graph, spec: FeatureSpec | None = None) -> GraphFeatures:
    """Featurize one IR graph.

    Args:
        graph: Any IR graph (a compiled arch, or ``nas.graph.import_onnx`` of a foreign model).
        spec: The op vocabulary; defaults to every registered op.

    Returns:
        The node feature matrix (rows in the graph's topological order) and the edge list.

    Example:
        >>> import numpy as np
        >>> from nas.space import get_space
        >>> space = get_space("nb_macro")
        >>> f = featurize(space.compile(space.sample(np.random.default_rng(0))))
        >>> f.x.shape[1] == FeatureSpec.default().dim
        True
    """
    spec = spec or FeatureSpec.default()
    slot = {op: i for i, op in enumerate(spec.vocab)}
    other = slot["other"]
    nodes, live_inputs = _live_nodes(graph, spec.simplify)
    index = {node.name: i for i, node in enumerate(nodes)}
    total_flops = max(float(graph.flops), 1.0)
    total_params = max(float(graph.params), 1.0)
    out_degree = dict.fromkeys(index, 0)
    outputs = {live_inputs.get(o, (o,))[0] if o not in index else o for o in graph.outputs}
    inputs = set(graph.inputs)
    src: list[int] = []
    dst: list[int] = []
    for node in nodes:
        for i in live_inputs[node.name]:
            out_degree[i] += 1
            src.append(index[i])
            dst.append(index[node.name])
    n_ops = len(spec.vocab)
    x = np.zeros((len(nodes), spec.dim), dtype=np.float32)
    for row, node in enumerate(nodes):
        x[row, slot.get(node.op, other)] = 1.0
        in_shape = graph.node(node.inputs[0]).shape if node.inputs else node.shape
        out_shape = node.shape
        attrs = node.attrs
        in_ch = float(in_shape[0]) if in_shape else 0.0
        groups = _first(attrs.get("groups"), 1.0)
        x[row, n_ops:] = (
            _log(in_ch),
            _log(float(out_shape[0]) if out_shape else 0.0),
            _log(_spatial(in_shape)),
            _log(_spatial(out_shape)),
            _first(attrs.get("kernel_size"), 0.0),
            _first(attrs.get("stride"), 0.0),
            _log(groups),
            1.0 if groups > 1 and groups == in_ch else 0.0,
            node.flops / total_flops,
            node.params / total_params,
            _log(node.flops) / 10.0,  # ~[0, 2] for realistic nodes; keeps the scale of the rest
            _log(node.params) / 10.0,
            float(len(live_inputs[node.name])),
            _log(out_degree[node.name]),
            1.0 if node.name in inputs else 0.0,
            1.0 if node.name in outputs else 0.0,
        )
    edge_index = np.array([src, dst], dtype=np.int64).reshape(2, -1)
    return GraphFeatures(x, edge_index)


_CONTRACT = frozenset({"identity", "dropout"})


def _live_nodes(graph: Graph, simplify: bool) -> tuple[list, dict[str, tuple[str, ...]]]:
    """Kept nodes and, per kept node, its kept producers (after dropping/contracting)."""
    nodes = [graph.node(n) for n in graph.nodes()]
    if not simplify:
        return nodes, {n.name: n.inputs for n in nodes}
    alias: dict[str, str | None] = {}  # removed node -> kept node standing in for it (or None)
    kept, live = [], {}
    for node in nodes:
        ins = tuple(a for i in node.inputs if (a := alias.get(i, i)) is not None)
        if node.op == "zero":
            alias[node.name] = None
        elif node.op in _CONTRACT and len(ins) == 1:
            alias[node.name] = ins[0]
        else:
            kept.append(node)
            live[node.name] = ins
    for removed, target in alias.items():  # so outputs that were contracted still resolve
        if target is not None:
            live.setdefault(removed, (target,))
    return kept, live


def batch_graphs(features: Sequence[GraphFeatures]) -> GraphBatch:
    """Stack featurized graphs into one block-diagonal batch.

    Example:
        >>> f = GraphFeatures(np.zeros((2, 3), np.float32), np.array([[0], [1]]))
        >>> b = batch_graphs([f, f])
        >>> b.edge_index.tolist(), b.batch.tolist()
        ([[0, 2], [1, 3]], [0, 0, 1, 1])
    """
    sizes = np.array([f.num_nodes for f in features], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]) if len(sizes) else sizes
    x = np.concatenate([f.x for f in features]) if features else np.zeros((0, 0), np.float32)
    edge_index = (
        np.concatenate([f.edge_index + o for f, o in zip(features, offsets)], axis=1)
        if features
        else np.zeros((2, 0), np.int64)
    )
    batch = np.repeat(np.arange(len(features), dtype=np.int64), sizes)
    return GraphBatch(x, edge_index, batch, len(features))


class FeatureCache:
    """Featurize each distinct key once (ranking samples the same archs many times).

    Example:
        >>> cache = FeatureCache()
        >>> len(cache)
        0
    """

    def __init__(self, spec: FeatureSpec | None = None) -> None:
        self.spec = spec or FeatureSpec.default()
        self._store: dict[Hashable, GraphFeatures] = {}

    def __len__(self) -> int:
        return len(self._store)

    def get(self, key: Hashable, graph: Graph | None = None, build=None) -> GraphFeatures:
        """The features for ``key``; computes them from ``graph`` (or ``build()``) on a miss."""
        hit = self._store.get(key)
        if hit is None:
            g = graph if graph is not None else build()
            hit = self._store[key] = featurize(g, self.spec)
        return hit

    def many(self, items: Iterable[tuple[Hashable, Graph]]) -> list[GraphFeatures]:
        return [self.get(k, g) for k, g in items]
