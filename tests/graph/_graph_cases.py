"""Graphs shared by the IR tests: one tiny graph per registered op, a few composites, a user op."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nas.graph import (
    Graph,
    OpSpec,
    depthwise_conv,
    multi_head_attention,
    register_op,
    squeeze_excite,
)
from nas.graph._ops import OnnxNode


# ----------------------------------------------------------------------------- a user's op
def _scale_torch(in_shapes: Any, out: Any, attrs: Any) -> Any:
    import torch

    class Scale(torch.nn.Module):
        """Learnable per-channel scale: y = x * w[c]."""

        def __init__(self, channels: int, rank: int) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.rand(channels, *([1] * (rank - 1))) + 0.5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, C, ...)
            return x * self.weight

    return Scale(in_shapes[0][0], len(in_shapes[0]))


def _scale_from_onnx(node: OnnxNode) -> dict[str, Any] | None:
    # Exported as Mul(x, W) with W a (C, 1, ...) initializer; claim exactly that pattern.
    if node.data_inputs != (0,) or node.const(1) is None:
        return None
    w, shape = node.const(1), node.shapes[0]
    return {} if w.shape == (shape[0], *([1] * (len(shape) - 1))) and w.size > 1 else None


SCALE = OpSpec(
    name="scale",
    infer_shape=lambda s, a: s[0],
    to_torch=_scale_torch,
    params=lambda s, o, a: s[0][0],
    zero_preserving=True,
    onnx_op_types=("Mul",),
    from_onnx=_scale_from_onnx,
    description="Learnable per-channel scale (a user-registered op).",
)


# Registered at import so parametrization over list_ops() includes the user's op.
register_op(SCALE, replace=True)


# ----------------------------------------------------------------------------- per-op graphs
# An n-ary op's case lists one shape per input.
OP_CASES: dict[str, tuple[Any, dict[str, Any]]] = {
    "conv1d": ((4, 16), {"out_channels": 6, "kernel_size": 3, "padding": "same", "bias": True}),
    "conv2d": ((4, 9, 9), {"out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1}),
    "linear": ((4, 10), {"out_features": 7}),
    "batch_norm": ((6, 5, 5), {}),
    "layer_norm": ((3, 12), {}),
    "relu": ((4, 5, 5), {}),
    "relu6": ((4, 5, 5), {}),
    "gelu": ((4, 5, 5), {}),
    "silu": ((4, 5, 5), {}),
    "hardswish": ((4, 5, 5), {}),
    "sigmoid": ((4, 5, 5), {}),
    "tanh": ((4, 5, 5), {}),
    "avg_pool": (
        (4, 9, 9),
        {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
    ),
    "max_pool": ((4, 12), {"kernel_size": 3, "stride": 1, "padding": 1}),
    "global_avg_pool": ((4, 6, 6), {"keepdim": False}),
    "identity": ((4, 5, 5), {}),
    "zero": ((4, 5, 5), {}),
    "flatten": ((4, 3, 3), {}),
    "dropout": ((10,), {"p": 0.2}),
    "scale": ((4, 5, 5), {}),
    "hardsigmoid": ((4, 5, 5), {}),
    "softmax": ((3, 6, 5), {"dim": 1}),
    "transpose": ((3, 6, 5), {"perm": (2, 0, 1)}),
    "reshape": ((4, 6, 5), {"shape": (6, -1)}),
    "slice": ((8, 5, 5), {"axis": 0, "start": 2, "end": 6}),
    "mul_scalar": ((4, 5, 5), {"value": 0.125}),
    "embedding": ((7,), {"vocab": 10, "dim": 6}),
    "pos_embedding": ((7, 6), {}),
    "class_token": ((7, 6), {}),
    "layer_scale": ((5, 5, 6), {}),
    "token_mean": ((7, 6), {}),
    "select_token": ((7, 6), {"index": 0}),
    "upsample": ((3, 4, 5), {"scale_factor": 2, "mode": "linear"}),
    "conv_transpose1d": ((4, 7), {"out_channels": 6, "kernel_size": 4, "stride": 2, "padding": 1}),
    "conv_transpose2d": (
        (4, 5, 5),
        {"out_channels": 6, "kernel_size": 3, "stride": 2, "output_padding": 1, "groups": 2},
    ),
    "channel_shuffle": ((6, 4, 4), {"groups": 3}),
    "matmul": ([(2, 5, 3), (2, 3, 4)], {}),
}
BINARY = {"add", "mul", "concat", "matmul"}


def op_graph(op: str) -> Graph:
    """input -> op -> output (binary ops read two branches of a relu'd input)."""
    g = Graph(f"op_{op}")
    if op == "matmul":  # (heads, L, d) @ (heads, d, L), as in attention
        x = g.add_input((2, 5, 3))
        k = g.add("transpose", g.add("tanh", x), perm=(0, 2, 1))
        g.set_outputs(g.add("matmul", [g.add("relu", x), k]))
        return g
    if op in BINARY:
        x = g.add_input((4, 6, 6))
        a = g.add("relu", x)
        b = g.add("global_avg_pool", x, keepdim=True) if op == "mul" else g.add("tanh", x)
        g.set_outputs(g.add(op, [a, b]))
        return g
    shape, attrs = OP_CASES[op]
    x = g.add_input(shape)
    if op in ("identity", "zero", "dropout"):
        # keep a real op between input and output so the exported ONNX has a node to hold on to
        x = g.add("relu", x)
    g.set_outputs(g.add(op, x, **attrs))
    return g


# ----------------------------------------------------------------------------- composites
def residual_cnn() -> Graph:
    g = Graph("residual")
    x = g.add_input((8, 16, 16))
    y = g.add("conv2d", x, name="c1", out_channels=16, kernel_size=3, stride=2, padding=1)
    y = g.add("batch_norm", y, name="bn1")
    y = g.add("relu", y)
    y = g.add("conv2d", y, name="c2", out_channels=16, kernel_size=3, padding="same")
    y = g.add("batch_norm", y, name="bn2")
    s = g.add("conv2d", x, name="proj", out_channels=16, kernel_size=1, stride=2)
    out = g.add("relu", g.add("add", [y, s]))
    g.set_outputs(g.add("linear", g.add("flatten", g.add("global_avg_pool", out)), out_features=10))
    return g


NB201_OPS = ("none", "skip", "conv1", "conv3", "pool")


def add_nb201_cell(
    g: Graph, x: str, edges: dict[tuple[int, int], str], rename: Callable[[str], str] = str
) -> str:
    """Add a NAS-Bench-201-like cell on ``x`` to ``g`` (node j = sum of op(node i) over i < j;
    4 nodes, convs as wide as ``x``); returns its output node."""
    nodes = [x]
    for j in range(1, 4):
        terms = []
        for i in range(j):
            op, src, n = edges[(i, j)], nodes[i], rename(f"e{i}{j}")
            if op == "none":
                terms.append(g.add("zero", src, name=n))
            elif op == "skip":
                terms.append(g.add("identity", src, name=n))
            elif op == "pool":
                terms.append(g.add("avg_pool", src, name=n, kernel_size=3, stride=1, padding=1))
            else:
                k, width = int(op[-1]), g.shape(x)[0]
                r = g.add("relu", src, name=n + ".relu")
                c = g.add(
                    "conv2d", r, name=n + ".conv", out_channels=width, kernel_size=k, padding="same"
                )
                terms.append(g.add("batch_norm", c, name=n + ".bn"))
        nodes.append(g.add("add", terms, name=rename(f"n{j}")))
    return nodes[-1]


def nb201_cell(edges: dict[tuple[int, int], str], *, rename: Callable[[str], str] = str) -> Graph:
    """NAS-Bench-201-like cell on an (8, 8, 8) input, as a graph of its own."""
    g = Graph("nb201")
    g.set_outputs(add_nb201_cell(g, g.add_input((8, 8, 8), name=rename("in")), edges, rename))
    return g


def mbconv_se() -> Graph:
    g = Graph("mbconv")
    x = g.add_input((16, 10, 10))
    y = g.add("conv2d", x, name="expand", out_channels=64, kernel_size=1)
    y = g.add("hardswish", g.add("batch_norm", y))
    y = depthwise_conv(g, y, 5, name="dw")
    y = g.add("silu", g.add("batch_norm", y))
    y = squeeze_excite(g, y, reduction=4)
    y = g.add("conv2d", y, name="project", out_channels=16, kernel_size=1)
    y = g.add("batch_norm", y)
    g.set_outputs(g.add("add", [y, x], name="residual"))
    return g


def cnn1d() -> Graph:
    g = Graph("cnn1d")
    x = g.add_input((1, 40))
    y = g.add("conv1d", x, out_channels=8, kernel_size=5, padding=2)
    y = g.add("gelu", g.add("batch_norm", y))
    y = g.add("max_pool", y, kernel_size=2)
    y = g.add(
        "conv1d", y, out_channels=16, kernel_size=3, stride=2, dilation=2, groups=2, bias=True
    )
    y = g.add("relu6", g.add("layer_norm", y))
    y = g.add("dropout", g.add("global_avg_pool", y), p=0.1)
    g.set_outputs(g.add("linear", y, out_features=4))
    return g


def concat_block() -> Graph:
    g = Graph("concat")
    x = g.add_input((6, 8, 8))
    a = g.add("conv2d", x, out_channels=4, kernel_size=1)
    b = g.add("conv2d", x, out_channels=6, kernel_size=3, padding=1, bias=True)
    c = g.add("max_pool", x, kernel_size=3, stride=1, padding=1)
    y = g.add("concat", [a, b, c])
    y = g.add("sigmoid", g.add("avg_pool", y, kernel_size=2))
    g.set_outputs(y)
    return g


def unet_block() -> Graph:
    """Down (max pool) and up (nearest upsample; transposed conv) with a concat skip."""
    g = Graph("unet")
    x = g.add_input((3, 16, 16))
    a = g.add("relu", g.add("conv2d", x, out_channels=8, kernel_size=3, padding=1))
    b = g.add("max_pool", a, kernel_size=2)
    b = g.add("relu", g.add("conv2d", b, out_channels=16, kernel_size=3, padding=1))
    up = g.add("upsample", b, scale_factor=2, mode="nearest")
    deconv = g.add("conv_transpose2d", b, out_channels=8, kernel_size=2, stride=2, bias=True)
    y = g.add("concat", [a, up, deconv])
    y = g.add("hardsigmoid", g.add("conv2d", y, out_channels=4, kernel_size=1))
    g.set_outputs(g.add("channel_shuffle", y, groups=2))
    return g


def vit_block() -> Graph:
    """Patch embedding, class token, positional embedding, attention, layer scale, head."""
    g = Graph("vit")
    x = g.add_input((3, 8, 8))
    y = g.add("conv2d", x, out_channels=16, kernel_size=4, stride=4, bias=True)  # (16, 2, 2)
    y = g.add("transpose", g.add("reshape", y, shape=(16, 4)), perm=(1, 0))  # (4, 16)
    y = g.add("pos_embedding", g.add("class_token", y))  # (5, 16)
    a = multi_head_attention(g, g.add("layer_norm", y), heads=4)
    y = g.add("add", [y, g.add("layer_scale", a)])
    f = g.add("linear", g.add("gelu", g.add("linear", y, out_features=32)), out_features=16)
    y = g.add("add", [y, f])
    head = g.add("linear", g.add("select_token", y, index=0), out_features=10)
    g.set_outputs(g.add("add", [head, g.add("linear", g.add("token_mean", y), out_features=10)]))
    return g


NB201_EDGES = {
    (0, 1): "conv3",
    (0, 2): "none",
    (1, 2): "skip",
    (0, 3): "pool",
    (1, 3): "conv1",
    (2, 3): "none",
}

COMPOSITES: dict[str, Callable[[], Graph]] = {
    "residual_cnn": residual_cnn,
    "nb201_cell": lambda: nb201_cell(NB201_EDGES),
    "mbconv_se": mbconv_se,
    "cnn1d": cnn1d,
    "concat_block": concat_block,
    "unet_block": unet_block,
    "vit_block": vit_block,
}
