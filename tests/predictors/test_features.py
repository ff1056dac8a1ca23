from __future__ import annotations

import numpy as np
import pytest
import torch

from nas.graph import Graph
from nas.predictors import FeatureSpec, batch_graphs, featurize
from nas.predictors._encoder import EncoderConfig, GraphEncoder


def _relabelled(graph: Graph, rng: np.random.Generator) -> Graph:
    """The same computation with new node names and another valid topological order."""
    names = graph.nodes()
    new = {n: f"v{int(i)}" for n, i in zip(names, rng.permutation(len(names)))}
    consumers = graph.consumers()
    indeg = {n: len(graph.node(n).inputs) for n in names}
    ready = [n for n in names if indeg[n] == 0]
    order = []
    while ready:  # random topological order (Kahn with random picks)
        n = ready.pop(int(rng.integers(len(ready))))
        order.append(n)
        for c in consumers[n]:
            indeg[c] -= 1
            if indeg[c] == 0:
                ready.append(c)
    g = Graph("relabelled")
    for n in order:
        node = graph.node(n)
        if node.op == "input":
            g.add_input(node.shape, name=new[n])
        else:
            g.add(node.op, [new[i] for i in node.inputs], name=new[n], **dict(node.attrs))
    g.set_outputs(*[new[o] for o in graph.outputs])
    return g


def _sorted_rows(x: np.ndarray) -> np.ndarray:
    return x[np.lexsort(x.T[::-1])]


def test_featurization_is_invariant_under_node_relabelling():
    from nas.space import get_space

    torch.manual_seed(0)
    space = get_space("nb201")
    rng = np.random.default_rng(3)
    graph = space.compile(space.sample(rng))
    other = _relabelled(graph, rng)
    assert other.nodes() != graph.nodes()
    spec = FeatureSpec.default()
    fa, fb = featurize(graph, spec), featurize(other, spec)
    # same multiset of node feature rows
    np.testing.assert_array_equal(_sorted_rows(fa.x), _sorted_rows(fb.x))
    # and the same embedding from the (permutation-invariant) encoder
    enc = GraphEncoder(EncoderConfig(spec.dim, hidden=16, layers=3, emb_dim=8)).eval()
    with torch.no_grad():
        za = enc(*batch_graphs([fa]).to_torch())
        zb = enc(*batch_graphs([fb]).to_torch())
    torch.testing.assert_close(za, zb, rtol=1e-4, atol=1e-5)


def test_features_see_shapes_and_drop_zero_ops():
    from nas.predictors._features import NUMERIC_FEATURES

    g = Graph()
    x = g.add_input((3, 8, 8))
    a = g.add("conv2d", x, out_channels=4, kernel_size=3, stride=2, padding=1)
    z = g.add("zero", a)
    s = g.add("identity", a)
    g.set_outputs(g.add("add", [s, g.add("avg_pool", z, kernel_size=3, stride=1, padding=1)]))
    spec = FeatureSpec.default()
    f = featurize(g, spec)
    # zero and identity are gone: input, conv, avg_pool (fed by nothing live), add
    assert f.num_nodes == 4
    conv = next(i for i in range(f.num_nodes) if f.x[i, spec.vocab.index("conv2d")] == 1)
    numeric = dict(zip(NUMERIC_FEATURES, f.x[conv, len(spec.vocab) :].tolist()))
    assert numeric["kernel"] == 3 and numeric["stride"] == 2
    assert numeric["flops_share"] == 1.0
    assert numeric["log_out_spatial"] == np.float32(np.log1p(16))
    assert numeric["log_out_degree"] == np.float32(np.log1p(1))  # only the add reads it now
    full = featurize(g, FeatureSpec(spec.ops, simplify=False))
    assert full.num_nodes == len(g)


def test_path_stats_follow_input_to_output_paths_only():
    g = Graph()
    x = g.add_input((3, 8, 8))
    a = g.add("conv2d", x, out_channels=3, kernel_size=3, padding=1)
    b = g.add("conv2d", a, out_channels=3, kernel_size=3, padding=1)
    dead = g.add("conv2d", g.add("zero", x), out_channels=3, kernel_size=3, padding=1)
    g.set_outputs(g.add("add", [g.add("identity", x), b, dead]))
    f = featurize(g)
    # paths x->out (the skip, depth 0) and x->a->b->out (depth 2); the conv fed only by the
    # dropped zero op starts no path, so it neither adds a path nor lowers the depths
    log_paths, deepest, shallowest, mean = f.path_stats
    assert np.exp(log_paths) == pytest.approx(2.0)
    assert (deepest, shallowest, mean) == (2.0, 0.0, 1.0)


def test_path_stats_are_invariant_under_node_relabelling_and_finite_on_many_paths():
    from nas.space import get_space

    space = get_space("nb201")
    rng = np.random.default_rng(5)
    graph = space.compile(space.sample(rng))
    np.testing.assert_allclose(
        featurize(graph).path_stats, featurize(_relabelled(graph, rng)).path_stats, rtol=1e-12
    )
    g = Graph()  # 1,100 diamonds in a row: 2**1100 paths, more than a float holds
    h = g.add_input((4,))
    for _ in range(1100):
        h = g.add("add", [g.add("relu", h), g.add("tanh", h)])
    g.set_outputs(h)
    log_paths = featurize(g).path_stats[0]
    assert log_paths == pytest.approx(1100 * np.log(2.0))


def test_unknown_op_maps_to_other_slot():
    spec = FeatureSpec(("relu",))
    g = Graph()
    g.set_outputs(g.add("tanh", g.add("relu", g.add_input((4,)))))
    f = featurize(g, spec)
    assert f.x[:, spec.vocab.index("other")].sum() == 1
    assert f.x[:, spec.vocab.index("input")].sum() == 1


def test_batch_is_block_diagonal(macro_graphs):
    graphs, _ = macro_graphs
    feats = [featurize(g) for g in graphs[:3]]
    b = batch_graphs(feats)
    assert b.num_graphs == 3 and len(b.x) == sum(f.num_nodes for f in feats)
    # every edge stays inside its own graph
    assert (b.batch[b.edge_index[0]] == b.batch[b.edge_index[1]]).all()


def test_foreign_onnx_model_featurizes(tmp_path):
    from nas.graph import export_onnx, import_onnx
    from nas.space import get_space

    space = get_space("nb_macro")
    graph = space.compile(space.sample(np.random.default_rng(1)))
    path = tmp_path / "m.onnx"
    export_onnx(graph, path)
    imported = import_onnx(path)
    f = featurize(imported)
    assert f.num_nodes > 5 and np.isfinite(f.x).all()


def _reference_featurize(graph: Graph, spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray]:
    """The features written out node by node, in plain Python (the vectorized code's spec)."""
    import math

    def log(v: float) -> float:
        return math.log1p(max(v, 0.0))

    def spatial(shape) -> float:
        return float(math.prod(shape[1:])) if len(shape) > 1 else 1.0

    def first(value, default: float) -> float:
        if isinstance(value, bool | int | float):
            return float(value)
        if isinstance(value, tuple) and value and all(isinstance(v, int) for v in value):
            return float(max(value))
        return default

    alias: dict[str, str | None] = {}
    kept, live = [], {}
    for name in graph.nodes():
        node = graph.node(name)
        ins = tuple(a for i in node.inputs if (a := alias.get(i, i)) is not None)
        if spec.simplify and node.op == "zero":
            alias[name] = None
        elif spec.simplify and node.op in ("identity", "dropout") and len(ins) == 1:
            alias[name] = ins[0]
        else:
            kept.append(node)
            live[name] = ins if spec.simplify else node.inputs
    index = {n.name: i for i, n in enumerate(kept)}
    edges = [(index[i], index[n.name]) for n in kept for i in live[n.name]]
    out_degree = np.bincount([e[0] for e in edges], minlength=len(kept))
    resolve = {k: v for k, v in alias.items() if v is not None}
    outputs = {resolve.get(o, o) for o in graph.outputs}
    x = np.zeros((len(kept), spec.dim), dtype=np.float32)
    for r, node in enumerate(kept):
        x[r, spec.vocab.index(node.op if node.op in spec.vocab else "other")] = 1
        in_shape = graph.node(node.inputs[0]).shape if node.inputs else node.shape
        in_ch = float(in_shape[0]) if in_shape else 0.0
        groups = first(node.attrs.get("groups"), 1.0)
        x[r, len(spec.vocab) :] = (
            log(in_ch),
            log(float(node.shape[0]) if node.shape else 0.0),
            log(spatial(in_shape)),
            log(spatial(node.shape)),
            first(node.attrs.get("kernel_size"), 0.0),
            first(node.attrs.get("stride"), 0.0),
            log(groups),
            1.0 if groups > 1 and groups == in_ch else 0.0,
            node.flops / max(float(graph.flops), 1.0),
            node.params / max(float(graph.params), 1.0),
            log(node.flops) / 10.0,
            log(node.params) / 10.0,
            float(len(live[node.name])),
            log(out_degree[r]),
            1.0 if node.name in graph.inputs else 0.0,
            1.0 if node.name in outputs else 0.0,
        )
    return x, np.array(edges, dtype=np.int64).T.reshape(2, -1)


def test_vectorized_features_match_the_plain_python_definition():
    from nas.space import get_space

    for name in ("nb201", "nb_macro", "mobilenet", "resnet", "cnn1d", "mlp"):
        space = get_space(name)
        rng = np.random.default_rng(7)
        for simplify in (True, False):
            spec = FeatureSpec(FeatureSpec.default().ops, simplify=simplify)
            for _ in range(4):
                graph = space.compile(space.sample(rng))
                got = featurize(graph, spec)
                x, edge_index = _reference_featurize(graph, spec)
                np.testing.assert_array_equal(got.edge_index, edge_index, err_msg=name)
                np.testing.assert_allclose(got.x, x, rtol=1e-6, atol=1e-7, err_msg=name)


def test_row_table_restart_keeps_features_exact(monkeypatch):
    from nas.predictors._features import _RowCache
    from nas.space import get_space

    space = get_space("nb_macro")
    graphs = [space.compile(space.sample(np.random.default_rng(i))) for i in range(6)]
    spec = FeatureSpec.default()
    before = [featurize(g, spec).x for g in graphs]
    monkeypatch.setattr(_RowCache, "MAX", 3)  # restart the shared table after every graph
    for g, x in zip(graphs, before):
        np.testing.assert_array_equal(featurize(g, spec).x, x)
