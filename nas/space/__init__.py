"""The tree DSL for search spaces.

A space is a tree: leaves are ops or values, decisions (:class:`Choice`, :class:`IntRange`,
:class:`FloatRange`) sit anywhere, inner nodes compose (:class:`Seq`, :class:`Residual`,
:class:`Branches`, :class:`Repeat`, the cells, :class:`Recipe`). A node declares its parts once
and draws its graph once; a user's node registered with :func:`register_node` works and
serialises like a built-in one. A :class:`Space` samples, counts, enumerates, mutates,
encodes, validates, serializes, drives Optuna and compiles an :class:`Arch` to an IR graph.

Example:
    >>> import numpy as np
    >>> from nas.space import Choice, IntRange, Op, Repeat, Seq, Space
    >>> block = Seq(Op("conv1d", out_channels=Choice([16, 32]), kernel_size=3, padding=1),
    ...             Op("relu"))
    >>> space = Space("tiny", Seq(Repeat(block, depth=IntRange(1, 2)),
    ...                          Op("global_avg_pool"), Op("linear", out_features=10)),
    ...               input_shape=(1, 40))
    >>> space.size()
    6
"""

from __future__ import annotations

from nas.space._cells import EdgeCell, InputCell
from nas.space._cells_darts import CellStack, DartsCell
from nas.space._cells_ops import FactorizedReduce, Zeros
from nas.space._compose import Branches, Repeat, Residual, Select, Seq
from nas.space._context import BuildContext
from nas.space._decisions import Choice, Decision, FloatRange, IntRange
from nas.space._json import register_node
from nas.space._node import Node, Part, subpath
from nas.space._ops import (
    InChannels,
    Op,
    Project,
    Recipe,
    SamePadding,
    Scaled,
    SqueezeExcite,
    make_divisible,
)
from nas.space._registry import get_space, list_spaces, register_space, restamp
from nas.space._space import Arch, Space

__all__ = [
    "Arch",
    "Branches",
    "BuildContext",
    "CellStack",
    "Choice",
    "DartsCell",
    "Decision",
    "EdgeCell",
    "FactorizedReduce",
    "FloatRange",
    "InChannels",
    "InputCell",
    "IntRange",
    "Node",
    "Op",
    "Part",
    "Project",
    "Recipe",
    "Repeat",
    "Residual",
    "SamePadding",
    "Scaled",
    "Select",
    "Seq",
    "Space",
    "SqueezeExcite",
    "Zeros",
    "get_space",
    "list_spaces",
    "make_divisible",
    "register_node",
    "register_space",
    "restamp",
    "subpath",
]
