"""Small NAS-Bench-201-style cell spaces that train in seconds on a CPU.

The NB-201 cell (4 nodes, 6 edges, each edge ``none``, ``skip_connect``, ``nor_conv_1x1``,
``nor_conv_3x3`` or ``avg_pool_3x3``; one genotype shared by every cell) in a small network:
stem conv + BN, one cell, a residual reduction block (stride 2, channels doubled), one
cell, BN-ReLU-global pool-linear head. ``nb201_digits`` runs it on 8x8 ``digits`` images
(conv2d, 8 then 16 channels); ``nb201_1d`` is the 1-D version for MNIST-1D signals
(conv1d, kernel 3 for ``nor_conv_3x3``, 8 then 16 channels). Both have 5^6 = 15,625 archs
and the arch keys of ``nb201`` (``cell.n{i}_from{j}``), so NB-201 arch strings
(``nas.search_spaces.nb201.parse_arch_str(text, space)``) name their archs too.

Example:
    >>> from nas.space import get_space
    >>> get_space("nb201_1d").size()
    15625
"""

from __future__ import annotations

from nas.search_spaces.nb201 import OPS
from nas.space import EdgeCell, InChannels, Node, Op, Residual, Seq, Space

__all__ = ["OPS", "cell_ops", "nb201_1d", "nb201_digits"]


def _relu_conv_bn(conv: str, kernel: int, out_channels: object = None, stride: int = 1) -> Seq:
    return Seq(
        relu=Op("relu"),
        conv=Op(
            conv,
            out_channels=InChannels() if out_channels is None else out_channels,
            kernel_size=kernel,
            stride=stride,
            padding=kernel // 2,
        ),
        bn=Op("batch_norm"),
    )


def cell_ops(conv: str = "conv2d") -> dict[str, Node]:
    """The five NB-201 edge ops, with ``conv`` (``"conv1d"`` or ``"conv2d"``) for the convs."""
    return {
        "none": Op("zero"),
        "skip_connect": Op("identity"),
        "nor_conv_1x1": _relu_conv_bn(conv, 1),
        "nor_conv_3x3": _relu_conv_bn(conv, 3),
        "avg_pool_3x3": Op("avg_pool", kernel_size=3, stride=1, padding=1, count_include_pad=False),
    }


def _network(conv: str, channels: int, num_classes: int) -> Seq:
    cell = EdgeCell(4, cell_ops(conv), name="cell")
    wide = 2 * channels
    return Seq(
        stem=Seq(
            conv=Op(conv, out_channels=channels, kernel_size=3, padding=1), bn=Op("batch_norm")
        ),
        stage0=cell,
        reduce1=Residual(
            Seq(conv_a=_relu_conv_bn(conv, 3, wide, stride=2), conv_b=_relu_conv_bn(conv, 3, wide)),
            shortcut=Seq(
                pool=Op("avg_pool", kernel_size=2, stride=2, padding=0),
                conv=Op(conv, out_channels=wide, kernel_size=1),
            ),
        ),
        stage1=cell,
        head=Seq(
            bn=Op("batch_norm"),
            relu=Op("relu"),
            pool=Op("global_avg_pool"),
            fc=Op("linear", out_features=num_classes),
        ),
    )


def nb201_digits(num_classes: int = 10, channels: int = 8) -> Space:
    """The NB-201 cell in a two-cell network for ``digits`` (1 x 8 x 8 images)."""
    return Space(
        "nb201_digits",
        _network("conv2d", channels, num_classes),
        input_shape=(1, 8, 8),
        description="NB-201 cell, two cells, for 8x8 digits images (5^6 cells)",
    )


def nb201_1d(num_classes: int = 10, channels: int = 8, length: int = 40) -> Space:
    """The NB-201 cell with 1-D convs in a two-cell network for MNIST-1D (1 x 40 signals)."""
    return Space(
        "nb201_1d",
        _network("conv1d", channels, num_classes),
        input_shape=(1, length),
        description="NB-201-style 1-D cell, two cells, for MNIST-1D signals (5^6 cells)",
    )
