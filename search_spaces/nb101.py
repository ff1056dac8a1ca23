"""NAS-Bench-101 (Ying et al., ICML 2019): the 7-vertex cell in the benchmark's CIFAR-10 network.

Stem conv3x3 to 128 channels-BN-ReLU; three stacks of three cells at 128/256/512 channels,
a 2x2 max pool between stacks; head global pool-linear. Every cell shares one genotype: a DAG
of an input vertex, five interior vertices that each apply ``conv3x3-bn-relu``,
``conv1x1-bn-relu`` or ``maxpool3x3`` to the sum of their inputs, and an output vertex.

Written as an :class:`~nas.space.InputCell` of 7 nodes in NAS-Bench-101 mode (``channels`` =
the stack width): node 0 is the cell input, nodes 1-5 the interior vertices (decisions
``cell.node{i}.inputs`` and ``cell.node{i}.op``) and node 6 the output vertex (decision
``cell.node6.inputs``). The cell wires it as the benchmark does: vertices split the width,
the output concatenates them, input edges are conv1x1-BN-ReLU projections, vertices on no path
to the output are pruned. So the network, and the parameter count of every benchmark row, is
the benchmark's. A benchmark cell (adjacency matrix + ops) maps to one arch
(:func:`parse_spec`; a pruned vertex gets op ``none`` and input 0, so specs that prune alike
are one arch). The space is a superset of the benchmark's: any op at any vertex, any input
set, no 9-edge limit.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

from nas.errors import ArchError
from nas.space import Arch, InChannels, InputCell, Op, Repeat, Seq, Space

__all__ = ["OPS", "format_spec", "nb101", "parse_key", "parse_spec"]

#: Vertex ops in the benchmark's code order (codes 2..4; 0 input, 1 output).
OPS = ("maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu")
_PRUNED = "none"
_CELL = "cell"
_VERTICES = 7
_STEM = 128


def _conv_bn_relu(kernel: int, channels: int | None = None) -> Seq:
    return Seq(
        conv=Op(
            "conv2d",
            out_channels=InChannels() if channels is None else channels,
            kernel_size=kernel,
            padding=kernel // 2,
        ),
        bn=Op("batch_norm"),
        relu=Op("relu"),
    )


def _cell(channels: int) -> InputCell:
    ops = {
        "maxpool3x3": Op("max_pool", kernel_size=3, stride=1, padding=1),
        "conv1x1-bn-relu": _conv_bn_relu(1),
        "conv3x3-bn-relu": _conv_bn_relu(3),
        _PRUNED: Op("zero"),
    }
    return InputCell(_VERTICES, ops, name=_CELL, channels=channels)


def nb101() -> Space:
    """The NAS-Bench-101 cell space for 32x32 CIFAR-10 inputs."""
    stacks: dict[str, object] = {}
    for s in range(3):
        channels = _STEM * 2**s
        if s:
            stacks[f"down{s}"] = Op("max_pool", kernel_size=2, stride=2)
        stacks[f"stack{s}"] = Repeat(_cell(channels), depth=3)
    body = Seq(
        stem=_conv_bn_relu(3, _STEM),
        **stacks,  # type: ignore[arg-type]
        head=Seq(pool=Op("global_avg_pool"), fc=Op("linear", out_features=10)),
    )
    return Space(
        "nb101",
        body,
        input_shape=(3, 32, 32),
        description="NAS-Bench-101 cell space (3 stacks x 3 cells, 128-512 channels, CIFAR-10)",
    )


def parse_spec(
    matrix: Sequence[Sequence[int]], ops: Sequence[int | str], space: Space | None = None
) -> Arch:
    """A benchmark cell (7x7 upper-triangular adjacency, 7 ops) -> arch.

    ``ops`` are the benchmark's names (``"input"``, ``"conv3x3-bn-relu"``, ...) or NASLib's
    codes (0 input, 1 output, 2 maxpool3x3, 3 conv1x1, 4 conv3x3). Vertices off every
    input-output path are pruned, as the benchmark does: such a node gets op ``none`` and
    input 0 (the cell prunes it too).

    Example:
        >>> m = [[0, 1, 1, 0, 0, 0, 1], [0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0],
        ...      [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1],
        ...      [0] * 7]
        >>> format_spec(parse_spec(m, [0, 4, 3, 2, 4, 3, 1]))[1]
        ['input', 'conv3x3-bn-relu', 'conv1x1-bn-relu', 'maxpool3x3', 'conv3x3-bn-relu', 'conv1x1-bn-relu', 'output']
    """
    try:
        adj = [[int(v) for v in row] for row in matrix]
        ops = list(ops)
    except (TypeError, ValueError):
        raise ArchError(
            f"Expected a 7x7 adjacency matrix of 0/1 and 7 ops for a NAS-Bench-101 cell (got "
            f"{str(matrix)[:80]!r} and {str(ops)[:80]!r})."
        ) from None
    if len(adj) != _VERTICES or any(len(r) != _VERTICES for r in adj) or len(ops) != _VERTICES:
        raise ArchError(
            f"Expected a 7x7 adjacency matrix and 7 ops for a NAS-Bench-101 cell "
            f"(got {len(adj)} rows, {len(ops)} ops)."
        )
    if any(v not in (0, 1) for row in adj for v in row):
        raise ArchError(f"A NAS-Bench-101 adjacency matrix holds 0 and 1 only (got {adj}).")
    if any(adj[u][v] for u in range(_VERTICES) for v in range(u + 1)):
        raise ArchError("A NAS-Bench-101 adjacency matrix must be strictly upper-triangular.")
    names = [_op_name(o) for o in ops]
    if names[0] != "input" or names[-1] != "output" or set(names[1:-1]) - {*OPS, _PRUNED}:
        raise ArchError(
            f"NAS-Bench-101 ops must be input, 5 of {list(OPS)} (or {_PRUNED!r} for a "
            f"pruned vertex), output (got {names})."
        )
    for v, name in enumerate(names):  # a vertex marked pruned keeps no edges
        if name == _PRUNED:
            adj[v] = [0] * _VERTICES
            for row in adj:
                row[v] = 0
    live = _live(adj)
    if _VERTICES - 1 not in live:
        raise ArchError("This NAS-Bench-101 cell has no path from its input to its output.")
    values: dict[str, object] = {}
    for v in range(1, _VERTICES):
        if v not in live:  # pruned by the benchmark (and by the cell): one canonical value
            values[f"{_CELL}.node{v}.inputs"], values[f"{_CELL}.node{v}.op"] = (0,), _PRUNED
            continue
        values[f"{_CELL}.node{v}.inputs"] = tuple(u for u in range(v) if adj[u][v] and u in live)
        if v < _VERTICES - 1:
            values[f"{_CELL}.node{v}.op"] = names[v]
    return (space or nb101()).validate(values)


def format_spec(arch: Arch) -> tuple[list[list[int]], list[str]]:
    """The benchmark's (adjacency matrix, op names) of an arch (pruned vertices: ``none``)."""
    adj = [[0] * _VERTICES for _ in range(_VERTICES)]
    names = ["input"]
    for v in range(1, _VERTICES):
        op = arch[f"{_CELL}.node{v}.op"] if v < _VERTICES - 1 else "output"
        if op != _PRUNED:
            for u in arch[f"{_CELL}.node{v}.inputs"]:
                adj[u][v] = 1
        names.append(op)
    return adj, names


def _op_name(op: int | str) -> str:
    codes = {0: "input", 1: "output", 2: OPS[0], 3: OPS[1], 4: OPS[2]}
    if isinstance(op, str):
        return op
    if isinstance(op, bool) or not isinstance(op, numbers.Integral) or int(op) not in codes:
        raise ArchError(f"Unknown NAS-Bench-101 op code {op!r}; expected a name or 0..4.")
    return codes[int(op)]


def _live(adj: list[list[int]]) -> set[int]:
    n = len(adj)
    forward, backward = {0}, {n - 1}
    for v in range(1, n):
        if any(adj[u][v] for u in forward):
            forward.add(v)
    for u in range(n - 2, -1, -1):
        if any(adj[u][v] for v in backward):
            backward.add(u)
    return forward & backward


def parse_key(key: str | Sequence[int], space: Space | None = None) -> Arch:
    """NASLib's NB-101 key (49 adjacency entries row by row, then 7 op codes) -> arch."""
    try:
        values = [int(v) for v in (key.strip("()[] ").split(",") if isinstance(key, str) else key)]
    except (TypeError, ValueError):
        values = []
    if len(values) != _VERTICES * _VERTICES + _VERTICES:
        raise ArchError(
            f"Expected a 56-value NAS-Bench-101 key (7x7 adjacency + 7 op codes), got "
            f"{str(key)[:80]!r}."
        )
    matrix = [values[i * _VERTICES : (i + 1) * _VERTICES] for i in range(_VERTICES)]
    return parse_spec(matrix, values[_VERTICES * _VERTICES :], space)
