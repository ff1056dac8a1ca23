"""Edge ops of cells that change the tensor's shape without a free choice of layer: DARTS's
factorized reduction and a zero of a given shape (the ``none`` edge of a reduction cell)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nas.space._json import register_node
from nas.space._node import Node, image_shape, require_int, subpath

if TYPE_CHECKING:
    from nas.graph import Graph
    from nas.space._context import BuildContext

__all__ = ["FactorizedReduce", "Zeros"]


@register_node
@dataclass(frozen=True, eq=False)
class FactorizedReduce(Node):
    """DARTS's factorized reduction (Liu et al., ICLR 2019; also TransNAS-Bench-101's skip of a
    downsampling cell): ReLU, then two 1x1 convs of stride 2, one on the input and one on the
    input shifted by one pixel (``x[:, :, 1:, 1:]``), each to half of ``out_channels`` (the second
    gets the odd channel), concatenated and batch-normalised. It halves the resolution of a
    ``(channels, height, width)`` input.

    Args:
        out_channels: output channels.
        affine: whether the batch norm learns a scale and shift (DARTS: not inside cell ops).

    Example:
        >>> from nas.space import Space
        >>> Space("fr", FactorizedReduce(16), input_shape=(8, 32, 32)).compile({}).params
        160
    """

    out_channels: int
    affine: bool = True

    def __post_init__(self) -> None:
        require_int("FactorizedReduce", "out_channels", self.out_channels, 2)  # two halves

    def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        shape = image_shape(graph, x, "FactorizedReduce", path)
        half = self.out_channels // 2
        relu = graph.add("relu", [x], name=subpath(path, "relu"))
        a = graph.add(
            "conv2d", [relu], name=subpath(path, "conv_1"), out_channels=half, kernel_size=1,
            stride=2,
        )  # fmt: skip
        rows = graph.add("slice", [relu], name=subpath(path, "shift_h"), axis=1, start=1,
                         end=shape[1])  # fmt: skip
        cols = graph.add("slice", [rows], name=subpath(path, "shift_w"), axis=2, start=1,
                         end=shape[2])  # fmt: skip
        b = graph.add(
            "conv2d", [cols], name=subpath(path, "conv_2"),
            out_channels=self.out_channels - half, kernel_size=1, stride=2,
        )  # fmt: skip
        y = graph.add("concat", [a, b], name=subpath(path, "cat"))
        return graph.add("batch_norm", [y], name=subpath(path, "bn"), affine=self.affine)


@register_node
@dataclass(frozen=True, eq=False)
class Zeros(Node):
    """Zeros of the input's shape with ``out_channels`` channels (``None``: the input's) and the
    resolution divided by ``stride``; no parameters. TransNAS-Bench-101's ``Zero(C_in, C_out,
    stride)`` (Duan et al., CVPR 2021): the ``none`` edge of a cell that changes the shape
    still feeds its node a tensor of the node's shape.

    Example:
        >>> from nas.space import Space
        >>> g = Space("z", Zeros(16, stride=2), input_shape=(8, 32, 32)).compile({})
        >>> g.shape(g.outputs[0]), g.params
        ((16, 16, 16), 0)
    """

    out_channels: int | None = None
    stride: int = 1

    def __post_init__(self) -> None:
        if self.out_channels is not None:
            require_int("Zeros", "out_channels", self.out_channels)
        require_int("Zeros", "stride", self.stride)

    def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        y = graph.add("zero", [x], name=subpath(path, "zero"))
        if self.stride > 1:  # x[:, ::s, ::s]
            y = graph.add(
                "avg_pool", [y], name=subpath(path, "stride"), kernel_size=1, stride=self.stride
            )
        have, want = graph.shape(y)[0], self.out_channels or graph.shape(y)[0]
        if want > have:  # widen by repeating the zeros (no parameters), then cut to size
            copies = [y] * math.ceil(want / have)
            y = graph.add("concat", copies, name=subpath(path, "widen"))
        if graph.shape(y)[0] != want:
            y = graph.add("slice", [y], name=subpath(path, "cut"), axis=0, start=0, end=want)
        return y
