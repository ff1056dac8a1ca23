"""TransNAS-Bench-101 (Duan et al., CVPR 2021): the micro cell space and the macro skeleton space.

Both are the benchmark's ``64-*`` networks for 256x256 RGB inputs with a classification head
(``class_object``: 100 classes, ``class_scene``: 63). Stem: conv3x3/2 to 32 channels, BN, then
ReLU-conv3x3/2-BN to 64.

* **micro** (``64-41414-{cell}``): five stages of two cells; stages ``4`` halve the resolution
  and double the width in their first cell. Every cell shares one genotype, a 4-node DAG whose
  6 edges each pick ``none``, ``skip_connect``, ``conv1x1`` or ``conv3x3`` (ReLU-conv-BN); a
  node sums its incoming edges (as NAS-Bench-201). 4^6 = 4,096 archs.
* **macro** (``64-{code}-basic``): 4 to 6 modules of two ResNet basic blocks; module code
  ``1`` keeps the shape, ``2`` doubles the width, ``3`` halves the resolution, ``4`` does both.
  The benchmark's 3,256 archs are the subset with 1 to 4 downsamplings and 1 to 3 doublings;
  this space holds all 4^4 + 4^5 + 4^6 = 5,376 codes.

Both compile to the benchmark's networks: the params of every benchmark row are the
benchmark's. A micro downsampling cell is an ``EdgeCell`` whose edges from the cell input carry
the strided ops (``input_ops``): stride-2 convs to the new width, a factorized reduction for
``skip_connect`` and, for ``none``, zeros of the new shape (the benchmark's ``Zero(C_in, C_out,
2)``), so every op reads what it reads in the benchmark, zeros included.
"""

from __future__ import annotations

from collections.abc import Sequence

from nas.errors import ArchError

# The micro cell is NB-201's: the same ReLU-conv-BN, and NB-201's edge order is the code order.
from nas.search_spaces.nb201 import EDGES, relu_conv_bn
from nas.space import (
    Arch,
    Choice,
    EdgeCell,
    FactorizedReduce,
    InChannels,
    Node,
    Op,
    Repeat,
    Residual,
    Seq,
    Space,
    Zeros,
)

__all__ = [
    "MICRO_OPS",
    "TASK_CLASSES",
    "format_macro_key",
    "format_micro_key",
    "parse_macro_key",
    "parse_micro_key",
    "tnb101_macro",
    "tnb101_micro",
]

#: The micro cell's ops in the benchmark's code order (code 0..3).
MICRO_OPS = ("none", "skip_connect", "conv1x1", "conv3x3")
#: Classification tasks -> classes of the head.
TASK_CLASSES = {"class_object": 100, "class_scene": 63}
_MICRO_STAGES = "41414"
_CELL = "cell"
_BASE = 64
_INPUT = (3, 256, 256)


def _stem() -> Seq:
    return Seq(
        conv=Op("conv2d", out_channels=_BASE // 2, kernel_size=3, stride=2, padding=1),
        bn=Op("batch_norm"),
        conv2=relu_conv_bn(3, _BASE, stride=2),
    )


def _head(num_classes: int) -> Seq:
    return Seq(pool=Op("global_avg_pool"), fc=Op("linear", out_features=num_classes))


def _micro_ops() -> dict[str, Node]:
    """Edge ops that keep the shape."""
    return {
        "none": Op("zero"),
        "skip_connect": Op("identity"),
        "conv1x1": relu_conv_bn(1),
        "conv3x3": relu_conv_bn(3),
    }


def _reduce_ops(width: int) -> dict[str, Node]:
    """Edge ops from the input of a downsampling cell: stride 2, widen to ``width``."""
    return {
        "none": Zeros(width, stride=2),
        "skip_connect": FactorizedReduce(width),
        "conv1x1": relu_conv_bn(1, width, stride=2),
        "conv3x3": relu_conv_bn(3, width, stride=2),
    }


def tnb101_micro(task: str = "class_object") -> Space:
    """The TransNAS-Bench-101 micro space with the head of classification ``task``."""
    classes = _classes(task)
    cell = EdgeCell(4, _micro_ops(), name=_CELL)
    stages: dict[str, object] = {}
    width = _BASE
    for s, code in enumerate(_MICRO_STAGES):
        if code == "4":
            width *= 2
            down = EdgeCell(4, _micro_ops(), name=_CELL, input_ops=_reduce_ops(width))
            stages[f"stage{s}"] = Repeat(cell, depth=2, first=down)
        else:
            stages[f"stage{s}"] = Repeat(cell, depth=2)
    body = Seq(stem=_stem(), **stages, head=_head(classes))  # type: ignore[arg-type]
    return Space(
        f"tnb101_micro_{task.removeprefix('class_')}",
        body,
        input_shape=_INPUT,
        description=f"TransNAS-Bench-101 micro cell space (64-41414 network, {task} head)",
    )


def _basic_block(double: bool, stride: int) -> Residual:
    width = InChannels(2 if double else 1)
    return Residual(
        Seq(conv_a=relu_conv_bn(3, width, stride), conv_b=relu_conv_bn(3)), shortcut="project"
    )


def _module(double: bool, stride: int) -> Seq:
    return Seq(block0=_basic_block(double, stride), block1=_basic_block(False, 1))


def tnb101_macro(task: str = "class_object") -> Space:
    """The TransNAS-Bench-101 macro skeleton space with the head of classification ``task``."""
    classes = _classes(task)
    module = Choice(
        {
            "1": _module(False, 1),
            "2": _module(True, 1),
            "3": _module(False, 2),
            "4": _module(True, 2),
        }
    )
    body = Seq(
        stem=_stem(),
        modules=Repeat(Seq(module=module), depth=Choice([4, 5, 6])),
        head=_head(classes),
    )
    return Space(
        f"tnb101_macro_{task.removeprefix('class_')}",
        body,
        input_shape=_INPUT,
        description=f"TransNAS-Bench-101 macro skeleton space (4-6 modules, {task} head)",
    )


def _classes(task: str) -> int:
    if task not in TASK_CLASSES:
        raise ArchError(
            f"Unknown TransNAS-Bench-101 classification task {task!r}; use one of "
            f"{', '.join(TASK_CLASSES)}."
        )
    return TASK_CLASSES[task]


def tnb101_micro_object() -> Space:
    return tnb101_micro("class_object")


def tnb101_micro_scene() -> Space:
    return tnb101_micro("class_scene")


def tnb101_macro_object() -> Space:
    return tnb101_macro("class_object")


def tnb101_macro_scene() -> Space:
    return tnb101_macro("class_scene")


def _codes(key: str | Sequence[int], length: int, what: str) -> tuple[int, ...]:
    try:
        if isinstance(key, str):
            values = tuple(int(v) for v in key.strip("()[] ").split(",") if v.strip())
        else:
            values = tuple(int(v) for v in key)
    except (TypeError, ValueError):
        values = ()
    if len(values) != length:
        raise ArchError(f"Expected {what}, got {key!r}.")
    return values


def parse_micro_key(key: str | Sequence[int], space: Space | None = None) -> Arch:
    """NASLib's micro key (6 op codes, e.g. ``"(1, 0, 0, 2, 1, 0)"``) -> arch.

    Example:
        >>> format_micro_key(parse_micro_key("(1, 0, 0, 2, 1, 3)"))
        '(1, 0, 0, 2, 1, 3)'
    """
    codes = _codes(key, 6, "6 TransNAS-Bench-101 micro op codes in 0..3")
    if not all(0 <= c < len(MICRO_OPS) for c in codes):
        raise ArchError(f"Expected 6 TransNAS-Bench-101 micro op codes in 0..3, got {key!r}.")
    space = space or tnb101_micro()
    values = {f"{_CELL}.n{i}_from{j}": MICRO_OPS[c] for (i, j), c in zip(EDGES, codes)}
    return space.validate(values)


def format_micro_key(arch: Arch) -> str:
    """The NASLib micro key of a micro arch."""
    codes = [MICRO_OPS.index(arch[f"{_CELL}.n{i}_from{j}"]) for i, j in EDGES]
    return "(" + ", ".join(map(str, codes)) + ")"


def parse_macro_key(key: str | Sequence[int], space: Space | None = None) -> Arch:
    """NASLib's macro key (6 module codes in 1..4, zero-padded) -> arch.

    Example:
        >>> format_macro_key(parse_macro_key("(1, 2, 4, 2, 0, 0)"))
        '(1, 2, 4, 2, 0, 0)'
    """
    codes = _codes(key, 6, "6 TransNAS-Bench-101 macro module codes (1..4, zero-padded)")
    depth = next((i for i, c in enumerate(codes) if c == 0), len(codes))
    if depth < 4 or any(not 1 <= c <= 4 for c in codes[:depth]) or any(codes[depth:]):
        raise ArchError(
            f"Expected 4 to 6 TransNAS-Bench-101 macro module codes in 1..4 followed by "
            f"zeros, got {key!r}."
        )
    space = space or tnb101_macro()
    values: dict[str, object] = {"modules.depth": depth}
    values.update({f"modules.{i}.module": str(c) for i, c in enumerate(codes[:depth])})
    return space.validate(values)


def format_macro_key(arch: Arch) -> str:
    """The NASLib macro key of a macro arch (zero-padded to 6)."""
    depth = int(arch["modules.depth"])
    codes = [int(arch[f"modules.{i}.module"]) for i in range(depth)] + [0] * (6 - depth)
    return "(" + ", ".join(map(str, codes)) + ")"
