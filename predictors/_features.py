"""Graph featurization: any IR :class:`~nas.graph.Graph` becomes node features + an edge list.

Each node gets an op one-hot (over a fixed vocabulary, unknown ops map to ``"other"``) and
shape-aware numeric features (log-scaled channels and spatial size, kernel, stride, groups,
depthwise flag, FLOPs/params as a share of the graph, degrees). The per-node values come from
the op registry (``OpSpec.node_features``: the registry's defaults plus the op's own
``features`` hook), so a user's registered op is featurized from its spec like a built-in. Nothing depends on node names
or insertion order except the row order of the matrix, so any pooled embedding of the result is
invariant under node relabelling.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from nas.graph import Graph, Node, get_op, list_ops

if TYPE_CHECKING:
    from nas.predictors._baselines import ProxyCache

__all__ = [
    "NUMERIC_FEATURES",
    "PATH_STATS",
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
        proxies: Zero-cost proxies (names from ``ZC_PROXIES``) scored on the graph's lowered
            torch module at featurization and kept as ``GraphFeatures.scores``, the
            graph-level inputs a predictor may read beside FLOPs and params (see
            :func:`~nas.predictors._baselines.graph_proxy_scores`).
    """

    ops: tuple[str, ...]
    simplify: bool = True
    proxies: tuple[str, ...] = ()

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
        scores: ``(len(spec.proxies),)`` float64 graph-level proxy scores (NaN where a proxy
            is undefined for the graph); empty when the spec asks for none.
    """

    x: np.ndarray
    edge_index: np.ndarray
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])

    @functools.cached_property
    def path_stats(self) -> np.ndarray:
        """``(len(PATH_STATS),)``: the graph's input-to-output paths, summarized (see
        :func:`path_stats`); computed once per features object."""
        return path_stats(self.x, self.edge_index)


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


def featurize(
    graph: Graph, spec: FeatureSpec | None = None, *, proxy_cache: ProxyCache | None = None
) -> GraphFeatures:
    """Featurize one IR graph.

    The part of a row that depends only on the node (op, attributes, shapes) is computed once
    per distinct node and kept in a table shared across graphs; one pass over the graph
    gathers table rows and edges, and numpy fills in the graph-dependent columns (FLOPs and
    params shares, degrees, input/output flags).

    Args:
        graph: Any IR graph (a compiled arch, or ``nas.graph.import_onnx`` of a foreign model).
        spec: The op vocabulary; defaults to every registered op.
        proxy_cache: Where the spec's proxy scores are looked up before being computed
            (see :class:`~nas.predictors._baselines.ProxyCache`).

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
    rows = _row_cache(spec)
    simplify = spec.simplify
    # every node name -> the row standing for it: its own, the producer a contracted
    # identity-like node forwards, or None for a dropped zero node
    at: dict[str, int | None] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    ids: list[int] = []
    src: list[int] = []
    dst: list[int] = []
    total_flops = total_params = 0
    node_of, row_index = graph.node, rows.index  # hot loop: one bound lookup each
    for name in graph.nodes():
        node = node_of(name)
        shapes[name] = node.shape
        total_flops += node.flops
        total_params += node.params
        ins = [r for i in node.inputs if (r := at[i]) is not None]
        if simplify and node.op == "zero":
            at[name] = None
            continue
        if simplify and node.op in _CONTRACT and len(ins) == 1:
            at[name] = ins[0]
            continue
        j = at[name] = len(ids)
        ids.append(row_index(node, tuple(shapes[i] for i in node.inputs)))
        src += ins
        dst += [j] * len(ins)
    n = len(ids)
    rows_at = np.asarray(ids, dtype=np.int64)
    x = rows.table[rows_at]  # (n, dim) fancy indexing copies, so the table stays untouched
    sources = np.asarray(src, dtype=np.int64)
    targets = np.asarray(dst, dtype=np.int64)
    c = len(spec.vocab)  # first numeric column
    # graph totals count every node (dropped ones included), like Graph.flops/params
    x[:, c + _COL["flops_share"]] = rows.flops[rows_at] / max(float(total_flops), 1.0)
    x[:, c + _COL["params_share"]] = rows.params[rows_at] / max(float(total_params), 1.0)
    x[:, c + _COL["n_inputs"]] = np.bincount(targets, minlength=n)
    x[:, c + _COL["log_out_degree"]] = np.log1p(np.bincount(sources, minlength=n))
    flags = [(graph.inputs, "is_graph_input"), (graph.outputs, "is_graph_output")]
    for names, column in flags:
        hit = sorted({r for o in names if (r := at.get(o)) is not None})
        x[hit, c + _COL[column]] = 1.0
    if rows.size > _RowCache.MAX:  # after the gather: this graph's row ids were still valid
        rows.reset()
    scores = np.zeros(0)
    if spec.proxies:
        from nas.predictors._baselines import graph_proxy_scores

        scores = graph_proxy_scores(graph, spec.proxies, cache=proxy_cache)
    return GraphFeatures(x, np.stack([sources, targets]).reshape(2, -1), scores)


PATH_STATS = ("log_paths", "max_depth", "min_depth", "mean_depth")


def path_stats(x: np.ndarray, edge_index: np.ndarray) -> np.ndarray:
    """Summaries of every path from a source to a sink of a featurized graph.

    A path's depth counts the nodes on it that carry parameters (convolutions, linear
    layers, norms), so a skip connection is a path of small depth. Returned: the log of the
    number of paths, and the largest, smallest and mean depth over all paths (the mean
    weighs each path once, so a net of many shallow skips reads shallow even when its
    longest path is deep). Message passing of a few hops cannot see these on a deep net;
    they are graph-level inputs of the predictor (``PredictorConfig.path_inputs``).

    Paths run from the graph's inputs to its outputs (the ``is_graph_input`` and
    ``is_graph_output`` columns); a node only a dropped ``zero`` op feeds starts none. Rows of
    ``x`` are in topological order (as :func:`featurize` writes them), so one sweep suffices;
    path counts are carried in log space, so a net with more paths than a float holds stays
    finite. A graph with no input-to-output path gets zeros.

    Example:
        >>> x = np.zeros((4, FeatureSpec(("conv",)).dim), np.float32)
        >>> x[1:3, len(FeatureSpec(("conv",)).vocab) + NUMERIC_FEATURES.index("log_params")] = 1.0
        >>> path_stats(x, np.array([[0, 0, 1, 2], [1, 3, 2, 3]])).round(3)  # skip 0->3 beside 0->1->2->3
        array([0.693, 2.   , 0.   , 1.   ])
    """
    n = x.shape[0]
    numeric = x.shape[1] - len(NUMERIC_FEATURES)  # first numeric column
    weight = (x[:, numeric + _COL["log_params"]] > 0).astype(np.float64).tolist()
    preds: list[list[int]] = [[] for _ in range(n)]
    for s, d in zip(edge_index[0].tolist(), edge_index[1].tolist()):
        preds[d].append(s)
    sources = np.flatnonzero(x[:, numeric + _COL["is_graph_input"]] > 0)
    sinks = np.flatnonzero(x[:, numeric + _COL["is_graph_output"]] > 0)
    if not len(sources):  # features without the flags: every node without inputs
        sources = np.flatnonzero([not p for p in preds])
    if not len(sinks):
        sinks = np.flatnonzero(np.bincount(edge_index[0], minlength=n) == 0)
    # per node: log of its paths from a source (-inf: none), their largest, smallest, mean depth
    none = -math.inf
    log_count, deepest, shallowest, mean = [none] * n, [0.0] * n, [0.0] * n, [0.0] * n
    for v in sources.tolist():
        log_count[v] = 0.0
    for v in range(n):
        p = [u for u in preds[v] if log_count[u] > none]
        w = weight[v]
        if len(p) == 1:  # most nodes of a net: a chain step
            u = p[0]
            log_count[v] = log_count[u]
            deepest[v], shallowest[v], mean[v] = deepest[u] + w, shallowest[u] + w, mean[u] + w
        elif p:
            top = max(log_count[u] for u in p)
            shares = [math.exp(log_count[u] - top) for u in p]
            total = sum(shares)
            log_count[v] = top + math.log(total)
            deepest[v] = max(deepest[u] for u in p) + w
            shallowest[v] = min(shallowest[u] for u in p) + w
            mean[v] = sum(s * mean[u] for s, u in zip(shares, p)) / total + w
        else:
            deepest[v] = shallowest[v] = mean[v] = w
    ends = [v for v in sinks.tolist() if log_count[v] > none]
    if not ends:  # no path from an input to an output (an empty or cut graph)
        return np.zeros(len(PATH_STATS))
    top = max(log_count[v] for v in ends)
    shares = [math.exp(log_count[v] - top) for v in ends]
    return np.array([
        top + math.log(sum(shares)),
        max(deepest[v] for v in ends),
        min(shallowest[v] for v in ends),
        sum(w * mean[v] for w, v in zip(shares, ends)) / sum(shares),
    ])  # fmt: skip


_CONTRACT = frozenset({"identity", "dropout"})
_COL = {name: i for i, name in enumerate(NUMERIC_FEATURES)}


class _RowCache:
    """Node-only feature rows, one per distinct (op, attrs, input shape, shape), in a table.

    Compiled graphs share one attrs mapping per distinct node (the IR memoizes its rules), so
    the key uses the mapping's identity; the entry keeps a reference to that mapping, which
    both pins its id and lets a hit be confirmed with ``is``.
    """

    MAX = 50_000  # rows; a flood of foreign models restarts the table instead of growing it

    def __init__(self, spec: FeatureSpec) -> None:
        self.slot = {op: i for i, op in enumerate(spec.vocab)}
        self.other = self.slot["other"]
        self.numeric = len(spec.vocab)
        self.dim = spec.dim
        self.reset()

    def reset(self) -> None:
        self.keys: dict[tuple, tuple[object, int]] = {}
        self.size = 0
        self.table = np.zeros((256, self.dim), dtype=np.float32)  # (rows, dim)
        self.flops = np.zeros(256)
        self.params = np.zeros(256)

    def index(self, node: Node, in_shapes: tuple[tuple[int, ...], ...]) -> int:
        key = (node.op, id(node.attrs), in_shapes, node.shape, node.flops, node.params)
        hit = self.keys.get(key)
        if hit is not None and hit[0] is node.attrs:
            return hit[1]
        if self.size == len(self.table):
            grow = len(self.table)
            self.table = np.concatenate([self.table, np.zeros_like(self.table)])
            self.flops = np.concatenate([self.flops, np.zeros(grow)])
            self.params = np.concatenate([self.params, np.zeros(grow)])
        i = self.size
        self.table[i] = self._row(node, in_shapes)
        self.flops[i], self.params[i] = node.flops, node.params
        self.keys[key] = (node.attrs, i)
        self.size += 1
        return i

    def _row(self, node: Node, in_shapes: tuple[tuple[int, ...], ...]) -> np.ndarray:
        row = np.zeros(self.dim, dtype=np.float32)
        row[self.slot.get(node.op, self.other)] = 1.0
        f = _node_features(node, in_shapes)
        values = {
            "log_in_channels": _log(f["in_channels"]),
            "log_out_channels": _log(f["out_channels"]),
            "log_in_spatial": _log(f["in_spatial"]),
            "log_out_spatial": _log(f["out_spatial"]),
            "kernel": f["kernel"],
            "stride": f["stride"],
            "log_groups": _log(f["groups"]),
            "depthwise": f["depthwise"],
            "log_flops": _log(f["flops"]) / 10.0,  # ~[0, 2] for realistic nodes, like the rest
            "log_params": _log(f["params"]) / 10.0,
        }
        for name, value in values.items():
            row[self.numeric + _COL[name]] = value
        return row


def _node_features(node: Node, in_shapes: tuple[tuple[int, ...], ...]) -> dict[str, float]:
    """The registry's features of a node; a graph input reads as its own shape in and out."""
    if node.op == "input":
        shape = node.shape
        spatial = float(math.prod(shape[1:])) if len(shape) > 1 else 1.0
        size = float(shape[0]) if shape else 0.0
        base = {"in_channels": size, "out_channels": size, "in_spatial": spatial}
        return {**base, "out_spatial": spatial, "kernel": 0.0, "stride": 0.0, "groups": 1.0,
                "depthwise": 0.0, "flops": 0.0, "params": 0.0}  # fmt: skip
    return get_op(node.op).node_features(in_shapes, node.shape, node.attrs)


_ROW_CACHES: dict[FeatureSpec, _RowCache] = {}


def _row_cache(spec: FeatureSpec) -> _RowCache:
    cache = _ROW_CACHES.get(spec)
    if cache is None:
        if len(_ROW_CACHES) > 16:  # specs are few; a stray loop of new ones must not leak
            _ROW_CACHES.clear()
        cache = _ROW_CACHES[spec] = _RowCache(spec)
    return cache


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
