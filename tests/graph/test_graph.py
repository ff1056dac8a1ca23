"""The IR on its own: building, errors, validation, text and dict forms (no torch needed)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from nas.errors import GraphError, RegistryError
from nas.graph import Graph, get_op, list_ops, squeeze_excite

from ._graph_cases import COMPOSITES, op_graph


def test_import_does_not_pull_heavy_backends() -> None:
    code = (
        "import sys, nas.graph\n"
        "g = nas.graph.Graph(); x = g.add_input((3, 8, 8))\n"
        "g.set_outputs(g.add('conv2d', x, out_channels=4, kernel_size=3)); g.validate(); g.graph_hash()\n"
        "print(sorted(m for m in ('torch', 'onnx', 'onnxruntime', 'onnxscript') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_names_are_unique_and_derived() -> None:
    g = Graph()
    x = g.add_input((4,))
    assert g.add("relu", x) == "relu"
    assert g.add("relu", x) == "relu_1"
    assert g.add("relu", x, name="relu") == "relu_2"
    assert g.add("relu", x, name="act") == "act"
    assert g.add("relu", x, name="act") == "act_1"
    assert g.nodes() == ["input", "relu", "relu_1", "relu_2", "act", "act_1"]


def test_shape_mismatch_names_node_op_and_shapes() -> None:
    g = Graph()
    x = g.add_input((3, 16, 16))
    a = g.add("conv2d", x, out_channels=32, kernel_size=3, padding=1)
    b = g.add("conv2d", x, out_channels=64, kernel_size=3, stride=2, padding=1)
    with pytest.raises(GraphError) as err:
        g.add("add", [a, b], name="stage2.block0.add")
    msg = str(err.value)
    assert msg.startswith(
        "Node 'stage2.block0.add' (add): input shapes (32, 16, 16) and (64, 8, 8)"
    )
    assert "projection" in msg
    assert "stage2.block0.add" not in g


@pytest.mark.parametrize(
    ("op", "shape", "attrs", "needle"),
    [
        ("conv2d", (3, 8, 8), {"out_channels": 4, "kernal_size": 3}, "did you mean 'kernel_size'"),
        ("conv2d", (3, 8, 8), {"out_channels": 4}, "missing required attr 'kernel_size'"),
        ("conv2d", (3, 8, 8), {"out_channels": 4, "kernel_size": 3, "groups": 2}, "'groups'=2"),
        ("conv2d", (3, 2, 2), {"out_channels": 4, "kernel_size": 5}, "too small"),
        ("conv1d", (3, 8, 8), {"out_channels": 4, "kernel_size": 3}, "rank-2"),
        ("conv2d", (3, 8, 8), {"out_channels": 4, "kernel_size": 2, "padding": "same"}, "odd"),
        ("dropout", (3,), {"p": 1.5}, "'p'"),
        ("concat", (3, 8, 8), {}, None),
    ],
)
def test_bad_attrs_raise_graph_error(op, shape, attrs, needle) -> None:
    g = Graph()
    x = g.add_input(shape)
    if op == "concat":
        y = g.add("avg_pool", x, kernel_size=2)
        with pytest.raises(GraphError, match=r"Node 'concat' \(concat\).*\(3, 8, 8\)"):
            g.add("concat", [x, y])
        return
    with pytest.raises(GraphError) as err:
        g.add(op, x, **attrs)
    assert f"Node '{op}' ({op})" in str(err.value)
    assert needle in str(err.value)


def test_unknown_op_suggests_close_match() -> None:
    g = Graph()
    x = g.add_input((3, 8, 8))
    with pytest.raises(RegistryError, match="did you mean 'conv2d'"):
        g.add("conv2", x)
    with pytest.raises(GraphError, match="is not in graph"):
        g.add("relu", "nope")


def test_arity_is_checked() -> None:
    g = Graph()
    x = g.add_input((3,))
    with pytest.raises(GraphError, match="expects 1 input"):
        g.add("relu", [x, x])
    with pytest.raises(GraphError, match=r"expects 2\.\.n"):
        g.add("mul", [x])


def test_broadcasting_and_keepdim() -> None:
    g = Graph()
    x = g.add_input((8, 4, 4))
    s = g.add("global_avg_pool", x, keepdim=True)
    assert g.shape(s) == (8, 1, 1)
    assert g.shape(g.add("mul", [s, x])) == (8, 4, 4)
    assert g.shape(g.add("global_avg_pool", x)) == (8,)
    empty = g.add_input((0, 4, 4), name="empty")
    assert g.shape(g.add("add", [empty, g.add("global_avg_pool", empty, keepdim=True)])) == (
        0,
        4,
        4,
    )
    with pytest.raises(GraphError, match="different ranks"):
        g.add("add", [x, g.add("global_avg_pool", x)])


def test_attrs_are_normalized_and_read_only() -> None:
    g = Graph()
    x = g.add_input((3, 9, 9))
    a = g.node(g.add("conv2d", x, out_channels=4, kernel_size=(3, 3), padding="same"))
    assert (a.attrs["kernel_size"], a.attrs["padding"], a.attrs["stride"]) == (3, 1, 1)
    b = g.node(g.add("conv2d", x, out_channels=4, kernel_size=[1, 3], padding=[0, 1]))
    assert b.attrs["kernel_size"] == (1, 3) and b.shape == (4, 9, 9)
    with pytest.raises(TypeError):
        a.attrs["stride"] = 2  # type: ignore[index]
    p = g.node(g.add("max_pool", x, kernel_size=3))
    assert p.attrs["stride"] == 3 and p.shape == (3, 3, 3)


def test_squeeze_excite_builder() -> None:
    g = Graph()
    x = g.add_input((16, 8, 8))
    y = squeeze_excite(g, x, reduction=4, name="se")
    ops = [g.node(n).op for n in g.nodes()[1:]]
    assert ops == ["global_avg_pool", "conv2d", "relu", "conv2d", "sigmoid", "mul"]
    assert g.shape(y) == (16, 8, 8)
    assert g.params == (16 * 4 + 4) + (4 * 16 + 16)


@pytest.mark.parametrize("name", [*COMPOSITES, *(f"op-{op}" for op in list_ops())])
def test_dict_round_trip_and_text(name) -> None:
    g = COMPOSITES[name]() if name in COMPOSITES else op_graph(name[3:])
    g.validate()
    d = json.loads(json.dumps(g.to_dict()))
    back = Graph.from_dict(d)
    assert back.to_text() == g.to_text() == g.copy().to_text()
    assert back.to_dict() == g.to_dict()
    assert back.graph_hash() == g.graph_hash()
    assert (back.params, back.flops) == (g.params, g.flops)


def test_to_text_golden() -> None:
    g = Graph("block")
    x = g.add_input((3, 8, 8), name="x")
    y = g.add("conv2d", x, name="conv", out_channels=4, kernel_size=3, padding=1)
    y = g.add("batch_norm", y, name="bn")
    g.set_outputs(g.add("relu", y, name="act"))
    assert g.to_text() == (
        "graph block\n"
        "  x = input() -> (3, 8, 8)\n"
        "  conv = conv2d(x, out_channels=4, kernel_size=3, stride=1, padding=1, dilation=1, "
        "groups=1, bias=False) -> (4, 8, 8)  params=108 flops=6912\n"
        "  bn = batch_norm(conv, affine=True, eps=1e-05, momentum=0.1) -> (4, 8, 8)  params=8 flops=0\n"
        "  act = relu(bn) -> (4, 8, 8)\n"
        "outputs: act\n"
        "params: 116  flops: 6912"
    )


def test_validate_catches_tampering_and_missing_outputs() -> None:
    g = Graph()
    x = g.add_input((4,))
    y = g.add("linear", x, out_features=3)
    with pytest.raises(GraphError, match="no outputs"):
        g.validate()
    g.set_outputs(y)
    g.validate()
    bad = g.copy()
    node = bad.node(y)
    bad._nodes[y] = type(node)(node.name, node.op, node.attrs, node.inputs, (5,), node.params, 0)
    with pytest.raises(GraphError, match="differ from re-inferred"):
        bad.validate()
    g.validate()  # the copy did not touch the original
    with pytest.raises(GraphError, match="format"):
        Graph.from_dict({"nodes": []})
    d = g.to_dict()
    d["nodes"][1]["shape"] = [9]
    with pytest.raises(GraphError, match="stored shape"):
        Graph.from_dict(d)


def test_networkx_view() -> None:
    g = Graph()
    x = g.add_input((4, 5))
    r = g.add("relu", x)
    g.set_outputs(g.add("concat", [r, x, r]))
    dg = g.to_networkx()
    assert dg.nodes["concat"]["op"] == "concat" and dg.nodes["concat"]["shape"] == (12, 5)
    assert dg.edges["relu", "concat"]["indices"] == (0, 2)
    assert dg.edges["input", "concat"]["index"] == 1
    dg.remove_node("relu")  # a copy: the IR is untouched
    assert "relu" in g


def test_every_op_has_features() -> None:
    for op in list_ops():
        g = op_graph(op)
        out = g.outputs[0]
        feats = g.node_features(out)
        assert feats["out_size"] > 0 and all(isinstance(v, float) for v in feats.values())
    assert get_op("conv2d").description


def test_predictor_features_come_from_the_op_spec() -> None:
    """A user's op is featurized from its spec: its features hook reaches the predictor."""
    from dataclasses import replace

    from nas.graph import register_op, unregister_op
    from nas.predictors import FeatureSpec, featurize
    from nas.predictors._features import NUMERIC_FEATURES

    spec = replace(get_op("scale"), name="wide_scale", features=lambda s, o, a: {"kernel": 7.0})
    register_op(spec)
    try:
        g = Graph()
        x = g.add_input((4, 5, 5))
        g.set_outputs(g.add("wide_scale", g.add("relu", x)))
        fspec = FeatureSpec.default()
        row = featurize(g, fspec).x[-1]
        numeric = dict(zip(NUMERIC_FEATURES, row[len(fspec.vocab) :]))
        assert row[fspec.vocab.index("wide_scale")] == 1.0  # its own one-hot slot
        assert numeric["kernel"] == 7.0  # from the hook
        assert numeric["log_params"] == pytest.approx(np.log1p(4) / 10)  # from spec.params
    finally:
        unregister_op("wide_scale")
