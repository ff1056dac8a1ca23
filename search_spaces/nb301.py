"""NAS-Bench-301 / DARTS (Siems, Zela et al., 2020): the 32-channel, 8-cell CIFAR-10 network.

Stem conv3x3 to 96 channels + BN; cells 2 and 5 are reduction cells that double the width
(32 -> 64 -> 128); head global pool-linear. Ops are DARTS's: ``max_pool_3x3``,
``avg_pool_3x3``, ``skip_connect``, ``sep_conv_3x3``, ``sep_conv_5x5``, ``dil_conv_3x3``,
``dil_conv_5x5`` (batch norms inside ops without affine parameters, as in the benchmark's
networks). One normal and one reduction genotype are shared by all cells.

Written as a :class:`~nas.space.CellStack` of :class:`~nas.space.DartsCell` s, so each cell
reads the two cells before it and preprocesses each with its own ReLU-conv1x1-BN (a factorized
reduction after a reduction cell); a reduction cell's ops on edges from its inputs have
stride 2 and its skip is a factorized reduction. The network, and the parameter count of every
benchmark row, is the benchmark's. Decisions: ``{normal,reduce}.node{i}.inputs`` (the two
distinct inputs of DARTS node ``i`` in 2..5, ascending) and ``.op0`` / ``.op1`` (the op on
each); :func:`parse_genotype` reads NASLib's compact encoding, :func:`format_genotype` writes it.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any

from nas.errors import ArchError
from nas.space import (
    Arch,
    CellStack,
    DartsCell,
    FactorizedReduce,
    InChannels,
    Node,
    Op,
    Seq,
    Space,
)

__all__ = ["OPS", "format_genotype", "nb301", "parse_genotype"]

#: DARTS ops in NASLib's index order (the compact encoding's op codes 0..6).
OPS = (
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
_CHANNELS = 32
_LAYERS = 8
_CELLS = ("normal", "reduce")
Genotype = tuple[tuple[int, int], ...]


def _dw_pw_bn(kernel: int, stride: int, dilation: int) -> Seq:
    return Seq(
        relu=Op("relu"),
        dw=Op(
            "conv2d",
            out_channels=InChannels(),
            kernel_size=kernel,
            stride=stride,
            padding=dilation * (kernel // 2),
            dilation=dilation,
            groups=InChannels(),
        ),
        pw=Op("conv2d", out_channels=InChannels(), kernel_size=1),
        bn=Op("batch_norm", affine=False),
    )


def _op(name: str, stride: int, width: int) -> Node:
    if name == "skip_connect":
        return Op("identity") if stride == 1 else FactorizedReduce(width, affine=False)
    if name.endswith("pool_3x3"):
        extra = {"count_include_pad": False} if name.startswith("avg") else {}
        return Op(name[:3] + "_pool", kernel_size=3, stride=stride, padding=1, **extra)
    k = int(name[-1])
    if name.startswith("sep_conv"):
        return Seq(a=_dw_pw_bn(k, stride, 1), b=_dw_pw_bn(k, 1, 1))
    return _dw_pw_bn(k, stride, 2)  # dil_conv


def _cell(kind: str, width: int) -> DartsCell:
    ops = {name: _op(name, 1, width) for name in OPS}
    strided = {name: _op(name, 2, width) for name in OPS} if kind == "reduce" else None
    return DartsCell(ops, width, input_ops=strided, name=kind)


def nb301() -> Space:
    """The NAS-Bench-301 (DARTS) space for 32x32 CIFAR-10 inputs."""
    cells: dict[str, Any] = {}
    width = _CHANNELS
    reductions = (_LAYERS // 3, 2 * _LAYERS // 3)
    for i in range(_LAYERS):
        width *= 2 if i in reductions else 1
        cells[f"cell{i}"] = _cell("reduce" if i in reductions else "normal", width)
    body = Seq(
        stem=Seq(
            conv=Op("conv2d", out_channels=3 * _CHANNELS, kernel_size=3, padding=1),
            bn=Op("batch_norm"),
        ),
        cells=CellStack(**cells),
        head=Seq(pool=Op("global_avg_pool"), fc=Op("linear", out_features=10)),
    )
    return Space(
        "nb301",
        body,
        input_shape=(3, 32, 32),
        description="NAS-Bench-301 / DARTS cell space (32 channels, 8 cells, CIFAR-10)",
    )


def _genotypes(key: str | Sequence[Any]) -> tuple[Genotype, Genotype]:
    try:
        obj: Any = ast.literal_eval(key) if isinstance(key, str) else key
        normal, reduce = (tuple((int(n), int(o)) for n, o in cell) for cell in obj)
    except (ValueError, SyntaxError, TypeError):
        raise ArchError(
            f"Expected two lists of 8 (node, op) pairs (NASLib's compact DARTS encoding), "
            f"got {str(key)[:80]!r}."
        ) from None
    for cell in (normal, reduce):
        if len(cell) != 8 or any(
            not 0 <= op < len(OPS) or not 0 <= node < 2 + j // 2
            for j, (node, op) in enumerate(cell)
        ):
            raise ArchError(
                f"Not a DARTS cell in NASLib's compact encoding (8 (node, op) pairs, op in "
                f"0..6, pair j reading a node < 2 + j // 2): {str(key)[:80]!r}."
            )
    return normal, reduce


def parse_genotype(key: str | Sequence[Any], space: Space | None = None) -> Arch:
    """NASLib's compact DARTS genotype ``[[(node, op) x 8], [(node, op) x 8]]`` -> arch.

    Pairs ``2k`` and ``2k+1`` feed DARTS node ``k + 2``; nodes 0 and 1 are the cell inputs.

    Example:
        >>> key = [[(0, 3), (1, 3), (0, 2), (2, 4), (1, 0), (3, 5), (0, 2), (4, 6)]] * 2
        >>> arch = parse_genotype(key)
        >>> arch["normal.node3.inputs"], arch["normal.node3.op1"]
        ((0, 2), 'sep_conv_5x5')
        >>> format_genotype(arch) == str(key)
        True
    """
    space = space or nb301()
    values: dict[str, Any] = {}
    for kind, cell in zip(_CELLS, _genotypes(key)):
        for k in range(4):
            (a, op_a), (b, op_b) = sorted(cell[2 * k : 2 * k + 2])
            if a == b:
                raise ArchError(
                    f"DARTS node {k + 2} of the {kind} cell reads node {a} twice; NAS-Bench-301 "
                    f"cells take two distinct inputs per node (got {str(key)[:80]!r})."
                )
            node = f"{kind}.node{k + 2}"
            values[f"{node}.inputs"] = (a, b)
            values[f"{node}.op0"], values[f"{node}.op1"] = OPS[op_a], OPS[op_b]
    return space.validate(values)


def format_genotype(arch: Arch) -> str:
    """The compact DARTS genotype of an arch (each node's pairs in ascending input order)."""
    cells = []
    for kind in _CELLS:
        pairs = []
        for i in range(2, 6):
            node = f"{kind}.node{i}"
            for k, source in enumerate(arch[f"{node}.inputs"]):
                pairs.append((int(source), OPS.index(arch[f"{node}.op{k}"])))
        cells.append(pairs)
    return str(cells)
