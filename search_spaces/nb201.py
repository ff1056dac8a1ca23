"""NAS-Bench-201: exactly the benchmark's network, so benchmark rows compile.

Stem 3x3 conv (16) + BN; three stages of 5 cells at 16/32/64 channels; between stages a
residual reduction block (ReLU-conv3x3/2-BN, ReLU-conv3x3-BN; shortcut 2x2 avg-pool then
1x1 conv); head BN-ReLU-global pool-linear. Every cell shares one genotype: a 4-node DAG
whose 6 edges each pick ``none``, ``skip_connect``, ``nor_conv_1x1``, ``nor_conv_3x3`` or
``avg_pool_3x3``; a node is the sum of its incoming edges (Dong & Yang, ICLR 2020).

Arch strings use the official format ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``.
"""

from __future__ import annotations

import re

from nas.errors import ArchError
from nas.space import Arch, EdgeCell, InChannels, Node, Op, Repeat, Residual, Seq, Space

__all__ = ["EDGES", "OPS", "format_arch_str", "nb201", "parse_arch_str", "relu_conv_bn"]

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = tuple((i, j) for i in range(1, 4) for j in range(i))  # (to node, from node)
_NAME = "cell"


def relu_conv_bn(kernel: int, out_channels: object = None, stride: int = 1) -> Seq:
    """ReLU -> conv (no bias) -> BN, the benchmark's ``ReLUConvBN``."""
    return Seq(
        relu=Op("relu"),
        conv=Op(
            "conv2d",
            out_channels=InChannels() if out_channels is None else out_channels,
            kernel_size=kernel,
            stride=stride,
            padding=kernel // 2,
        ),
        bn=Op("batch_norm"),
    )


def _cell_ops() -> dict[str, Node]:
    return {
        "none": Op("zero"),
        "skip_connect": Op("identity"),
        "nor_conv_1x1": relu_conv_bn(1),
        "nor_conv_3x3": relu_conv_bn(3),
        "avg_pool_3x3": Op("avg_pool", kernel_size=3, stride=1, padding=1, count_include_pad=False),
    }


def _reduction(channels: int) -> Residual:
    return Residual(
        Seq(conv_a=relu_conv_bn(3, channels, stride=2), conv_b=relu_conv_bn(3, channels)),
        shortcut=Seq(
            pool=Op("avg_pool", kernel_size=2, stride=2, padding=0),
            conv=Op("conv2d", out_channels=channels, kernel_size=1),
        ),
    )


def nb201(num_classes: int = 10) -> Space:
    """The NAS-Bench-201 space (15,625 archs) for 32x32 RGB inputs."""
    cell = EdgeCell(4, _cell_ops(), name=_NAME)
    body = Seq(
        stem=Seq(conv=Op("conv2d", out_channels=16, kernel_size=3, padding=1), bn=Op("batch_norm")),
        stage0=Repeat(cell, depth=5),
        reduce1=_reduction(32),
        stage1=Repeat(cell, depth=5),
        reduce2=_reduction(64),
        stage2=Repeat(cell, depth=5),
        head=Seq(
            bn=Op("batch_norm"),
            relu=Op("relu"),
            pool=Op("global_avg_pool"),
            fc=Op("linear", out_features=num_classes),
        ),
    )
    name = "nb201" if num_classes == 10 else f"nb201_c{num_classes}"
    return Space(
        name,
        body,
        input_shape=(3, 32, 32),
        description="NAS-Bench-201 cell space (CIFAR-sized input, 5^6 cells)",
    )


def nb201_cifar100() -> Space:
    """NAS-Bench-201 with a 100-class head (CIFAR-100)."""
    return nb201(num_classes=100)


_ARCH_RE = re.compile(r"^\|(.+)\|$")


def parse_arch_str(arch_str: str, space: Space | None = None) -> Arch:
    """Parse ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` into an arch of ``space``.

    Example:
        >>> s = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"
        >>> format_arch_str(parse_arch_str(s)) == s
        True
    """
    space = space or nb201()
    nodes = arch_str.split("+") if isinstance(arch_str, str) else []
    if len(nodes) != 3:
        raise ArchError(
            f"Not a NAS-Bench-201 arch string: {arch_str!r}; expected "
            f"'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|'."
        )
    values: dict[str, str] = {}
    for i, node in enumerate(nodes, start=1):
        m = _ARCH_RE.match(node)
        edges = m.group(1).split("|") if m else []
        if len(edges) != i:
            raise ArchError(
                f"NAS-Bench-201 node {i} needs {i} edges in {arch_str!r} (got {node!r})."
            )
        for edge in edges:
            op, _, src = edge.partition("~")
            if op not in OPS or not src.isdigit() or int(src) >= i:
                raise ArchError(
                    f"Bad NAS-Bench-201 edge {edge!r} into node {i} of {arch_str!r}; "
                    f"expected op~source with op in {list(OPS)} and source < {i}."
                )
            values[f"{_NAME}.n{i}_from{src}"] = op
    return space.validate(values)


def format_arch_str(arch: Arch) -> str:
    """The official arch string of an ``nb201`` arch."""
    nodes = []
    for i in range(1, 4):
        nodes.append("|" + "|".join(f"{arch[f'{_NAME}.n{i}_from{j}']}~{j}" for j in range(i)) + "|")
    return "+".join(nodes)
