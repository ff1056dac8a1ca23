"""NAS-Bench-301 / DARTS (Siems, Zela et al., 2020): the 32-channel, 8-cell CIFAR-10 network.

Stem conv3x3 to 96 channels + BN; cells 2 and 5 are reduction cells that double the width
(32 -> 64 -> 128); each cell preprocesses its input with ReLU-conv1x1-BN, holds four
intermediate nodes that each sum two ops, and concatenates them; head global pool-linear.
Ops are DARTS's: ``max_pool_3x3``, ``avg_pool_3x3``, ``skip_connect``, ``sep_conv_3x3``,
``sep_conv_5x5``, ``dil_conv_3x3``, ``dil_conv_5x5`` (batch norms inside ops without affine
parameters, as in the benchmark's networks). One normal and one reduction genotype are
shared by all cells.

Where the DSL differs from the benchmark: a DARTS cell reads the outputs of the two previous
cells, and the tree DSL passes one tensor from node to node, so here both cell inputs are the
previous cell's output after one shared preprocessing (the benchmark preprocesses each input
with its own conv1x1); a reduction cell's preprocessing conv has stride 2 (so pools, convs and
skips inside it run at stride 1, and a skip from the input is the identity instead of a
factorized reduction). The cell is an :class:`~nas.space.EdgeCell` of 5 nodes (node 0 = the
preprocessed input, nodes 1-4 = DARTS's nodes 2-5, output = their concatenation) whose edge
labels are ``none``, one op, or two ops on the same edge (``"sep_conv_3x3+skip_connect"``),
because DARTS may feed a node twice from one input. Every DARTS genotype maps to one arch
(:func:`parse_genotype`); params differ from the benchmark's by the missing second
preprocessing conv and factorized reductions (cards report the agreement).
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Sequence
from typing import Any

from nas.errors import ArchError
from nas.space import Arch, Branches, EdgeCell, InChannels, Op, Seq, Space

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


def _op(name: str) -> Any:
    if name == "skip_connect":
        return Op("identity")
    if name.endswith("pool_3x3"):
        extra = {"count_include_pad": False} if name.startswith("avg") else {}
        return Op(name[:3] + "_pool", kernel_size=3, stride=1, padding=1, **extra)
    k = int(name[-1])
    if name.startswith("sep_conv"):
        return Seq(a=_dw_pw_bn(k, 1, 1), b=_dw_pw_bn(k, 1, 1))
    return _dw_pw_bn(k, 1, 2)  # dil_conv


def _labels() -> list[str]:
    pairs = itertools.combinations_with_replacement(OPS, 2)
    return ["none", *OPS, *(f"{a}+{b}" for a, b in pairs)]


def _edge_ops() -> dict[str, Any]:
    ops: dict[str, Any] = {"none": Op("zero")}
    for label in _labels()[1:]:
        names = label.split("+")
        ops[label] = _op(names[0]) if len(names) == 1 else Branches(*map(_op, names))
    return ops


def _conv_bn(width: int, stride: int, groups: int = 1) -> Seq:
    return Seq(
        conv=Op("conv2d", out_channels=width, kernel_size=1, stride=stride, groups=groups),
        bn=Op("batch_norm"),
    )


def _pre(width: int, stride: int, after_reduction: bool) -> Seq:
    """DARTS's two preprocessings (ReLU-conv1x1-BN), both on the previous cell's output, summed.

    The two ReLUs of the same input are one here (the same values). After a reduction cell
    DARTS's first input is a factorized reduction of the cell before (two conv1x1 to half the
    width each, from half the channels); a 2-group conv1x1 from the reduced output has its
    parameter count.
    """
    return Seq(
        relu=Op("relu"),
        convs=Branches(
            _conv_bn(width, stride, 2 if after_reduction else 1), _conv_bn(width, stride)
        ),
    )


def nb301() -> Space:
    """The NAS-Bench-301 (DARTS) space for 32x32 CIFAR-10 inputs."""
    ops = _edge_ops()
    cells: dict[str, Any] = {}
    width = _CHANNELS
    reductions = (_LAYERS // 3, 2 * _LAYERS // 3)
    for i in range(_LAYERS):
        reduction = i in reductions
        width *= 2 if reduction else 1
        kind = "reduce" if reduction else "normal"
        cells[f"cell{i}"] = Seq(
            pre=_pre(width, 2 if reduction else 1, i - 1 in reductions),
            cell=EdgeCell(5, ops, name=kind, output="concat"),
        )
    body = Seq(
        stem=Seq(
            conv=Op("conv2d", out_channels=3 * _CHANNELS, kernel_size=3, padding=1),
            bn=Op("batch_norm"),
        ),
        **cells,
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
        >>> parse_genotype(key)["normal.n1_from0"]
        'sep_conv_3x3+sep_conv_3x3'
    """
    space = space or nb301()
    values: dict[str, str] = {}
    for kind, cell in zip(_CELLS, _genotypes(key)):
        for i in range(1, 5):
            edges: dict[int, list[str]] = {j: [] for j in range(i)}
            for node, op in cell[2 * (i - 1) : 2 * i]:
                edges[max(0, node - 1)].append(OPS[op])
            for j, names in edges.items():
                names.sort(key=OPS.index)
                values[f"{kind}.n{i}_from{j}"] = "+".join(names) if names else "none"
    return space.validate(values)


def format_genotype(arch: Arch) -> str:
    """The per-cell DARTS edges of an arch, ``normal: n1<-0 sep_conv_3x3, ...`` (readable)."""
    parts = []
    for kind in _CELLS:
        edges = [
            f"n{i}<-{j} {arch[f'{kind}.n{i}_from{j}']}"
            for i in range(1, 5)
            for j in range(i)
            if arch[f"{kind}.n{i}_from{j}"] != "none"
        ]
        parts.append(f"{kind}: " + ", ".join(edges))
    return "; ".join(parts)
