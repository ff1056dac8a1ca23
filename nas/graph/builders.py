"""Builder helpers: composite blocks expressed as several IR ops (not ops themselves)."""

from __future__ import annotations

from nas.errors import GraphError
from nas.graph._graph import Graph

__all__ = ["depthwise_conv", "multi_head_attention", "squeeze_excite"]


def depthwise_conv(
    graph: Graph,
    x: str,
    kernel_size: int | tuple[int, ...],
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple[int, ...] | str = "same",
    dilation: int | tuple[int, ...] = 1,
    multiplier: int = 1,
    bias: bool = False,
    name: str | None = None,
) -> str:
    """Add a depthwise convolution: ``conv1d``/``conv2d`` with ``groups == in_channels``.

    It is a helper rather than an op so ONNX ``Conv(group=C)`` imports back to the same node
    (and the same ``graph_hash``); predictor features mark it with ``depthwise = 1``.

    Example:
        >>> g = Graph(); x = g.add_input((16, 8, 8))
        >>> y = depthwise_conv(g, x, 3)
        >>> g.node(y).attrs["groups"], g.shape(y)
        (16, (16, 8, 8))
    """
    shape = graph.shape(x)
    if len(shape) not in (2, 3):
        raise GraphError(
            f"depthwise_conv on {x!r}: expects a (C, L) or (C, H, W) input, got {shape}"
        )
    op = "conv1d" if len(shape) == 2 else "conv2d"
    return graph.add(
        op,
        x,
        name=name if name is not None else "dwconv",
        out_channels=shape[0] * multiplier,
        kernel_size=kernel_size,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=shape[0],
        bias=bias,
    )


def squeeze_excite(
    graph: Graph,
    x: str,
    reduction: int = 4,
    *,
    name: str = "se",
    min_channels: int = 1,
    gate: str = "sigmoid",
) -> str:
    """Add squeeze-and-excitation on ``x``.

    Adds ``global_avg_pool(keepdim) -> conv 1x1 (bias) -> relu -> conv 1x1 (bias) -> gate -> mul``
    and returns the ``mul`` node, shaped like ``x``.

    Args:
        graph: The graph to extend.
        x: A ``(C, H, W)`` or ``(C, L)`` node.
        reduction: Squeeze ratio; the hidden width is ``max(min_channels, C // reduction)``.
        name: Prefix of the added nodes (``se.pool``, ``se.reduce``, ...).
        min_channels: Smallest hidden width.
        gate: Gate op (``"sigmoid"`` or ``"hardswish"`` style registered op).

    Example:
        >>> g = Graph(); x = g.add_input((16, 8, 8))
        >>> y = squeeze_excite(g, x, reduction=4)
        >>> g.shape(y), g.params
        ((16, 8, 8), 148)
    """
    shape = graph.shape(x)
    if len(shape) not in (2, 3):
        raise GraphError(
            f"squeeze_excite on {x!r}: expects a (C, L) or (C, H, W) input, got {shape}"
        )
    if reduction < 1:
        raise GraphError(f"squeeze_excite on {x!r}: reduction must be >= 1, got {reduction}")
    conv = "conv1d" if len(shape) == 2 else "conv2d"
    hidden = max(min_channels, shape[0] // reduction)
    s = graph.add("global_avg_pool", x, name=f"{name}.pool", keepdim=True)
    s = graph.add(conv, s, name=f"{name}.reduce", out_channels=hidden, kernel_size=1, bias=True)
    s = graph.add("relu", s, name=f"{name}.relu")
    s = graph.add(conv, s, name=f"{name}.expand", out_channels=shape[0], kernel_size=1, bias=True)
    s = graph.add(gate, s, name=f"{name}.gate")
    return graph.add("mul", [x, s], name=f"{name}.mul")


def multi_head_attention(
    graph: Graph,
    x: str,
    heads: int,
    *,
    context: str | None = None,
    bias: bool = True,
    name: str = "attn",
) -> str:
    """Add multi-head attention on an ``(L, D)`` token sequence; returns the output ``(L, D)``.

    ``softmax(q k^T / sqrt(D / heads)) v`` over ``heads`` heads, with q, k, v and output
    projections (``4 * D * D`` weights, ``4 * D`` biases, as ``nn.MultiheadAttention``). Keys
    and values come from ``context`` (an ``(S, D)`` sequence: encoder-decoder attention) or
    from ``x`` (self-attention). A helper rather than an op: its pieces (``linear``,
    ``reshape``, ``transpose``, ``matmul``, ``mul_scalar``, ``softmax``) are the ops an exported
    attention block imports back to, so the graph round-trips through ONNX unchanged.

    Example:
        >>> g = Graph(); x = g.add_input((6, 16))
        >>> y = multi_head_attention(g, x, heads=4)
        >>> g.shape(y), g.params, g.flops
        ((6, 16), 1088, 7296)
    """
    length, dim = _tokens(graph, x, "multi_head_attention")
    src = x if context is None else context
    src_len, src_dim = _tokens(graph, src, "multi_head_attention context")
    if dim % heads or src_dim != dim:
        raise GraphError(
            f"multi_head_attention on {x!r}: {heads} heads must divide the width {dim}, and the "
            f"context width ({src_dim}) must equal it"
        )
    d = dim // heads

    def project(inp: str, key: str, perm: tuple[int, int, int], n: int) -> str:
        y = graph.add("linear", inp, name=f"{name}.{key}", out_features=dim, bias=bias)
        y = graph.add("reshape", y, name=f"{name}.{key}.heads", shape=(n, heads, d))
        return graph.add("transpose", y, name=f"{name}.{key}.t", perm=perm)

    q = project(x, "q", (1, 0, 2), length)  # (heads, L, d)
    k = project(src, "k", (1, 2, 0), src_len)  # (heads, d, S)
    v = project(src, "v", (1, 0, 2), src_len)  # (heads, S, d)
    scores = graph.add("matmul", [q, k], name=f"{name}.scores")  # (heads, L, S)
    scores = graph.add("mul_scalar", scores, name=f"{name}.scale", value=d**-0.5)
    weights = graph.add("softmax", scores, name=f"{name}.softmax", dim=2)
    out = graph.add("matmul", [weights, v], name=f"{name}.mix")  # (heads, L, d)
    out = graph.add("transpose", out, name=f"{name}.merge.t", perm=(1, 0, 2))  # (L, heads, d)
    out = graph.add("reshape", out, name=f"{name}.merge", shape=(length, dim))
    return graph.add("linear", out, name=f"{name}.out", out_features=dim, bias=bias)


def _tokens(graph: Graph, x: str, what: str) -> tuple[int, int]:
    shape = graph.shape(x)
    if len(shape) != 2:
        raise GraphError(f"{what} on {x!r}: expects an (L, D) token sequence, got {shape}")
    return shape[0], shape[1]
