"""Labelled benchmark tables for the predictor harness: archs (or IR graphs) + one target.

Uses ``nas.bench.load_table`` when that package is installed; until then it reads the public
Parquet files in the shared benchmark folder directly (``$NAS_SHARED_BENCHMARKS`` or
``<repo>/../shared/benchmarks``). NAS-Bench-101 rows (NAS-Bench-Suite-Zero subset) are turned into
IR graphs by :func:`nb101_graph`, TransNAS-Bench-101 micro rows of the two classification
tasks by :func:`tnb101_micro_graph`, NB-301 rows (DARTS genotypes in NASLib's compact
convention) by :func:`nb301_graph`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from nas.predictors._errors import PredictorError

from nas.graph import Graph

__all__ = ["TABLES", "LabeledTable", "load_labeled", "nb101_graph"]

TABLES = (
    "nb201-cifar10",
    "nb201-cifar100",
    "nb-macro",
    "nb101",
    "tnb101-micro-object",
    "tnb101-micro-scene",
    "nb301",
)

#: TransNAS-Bench-101 classification tasks: table name -> (Suite-Zero task, classes).
_TNB_TASKS = {
    "tnb101-micro-object": ("class_object", 100),
    "tnb101-micro-scene": ("class_scene", 63),
}


@dataclass
class LabeledTable:
    """Rows of one benchmark table: a target per row and a way to get each row's IR graph.

    Attributes:
        name: Table name.
        targets: ``(rows,)`` target values (accuracy in %).
        keys: A stable key per row (arch_id, or the benchmark's own encoding).
        archs: The row's :class:`~nas.space.Arch` when the table lives in a registered space.
        space: The space name (``None`` for NB-101, which has no DSL space here).
        signal: Which column the targets come from.
    """

    name: str
    targets: np.ndarray
    keys: list[str]
    archs: list | None
    space: str | None
    signal: str
    _build: Callable[[int], Graph] = field(repr=False, default=None)  # type: ignore[assignment]
    _cache: dict[int, Graph] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.targets)

    def graph(self, i: int) -> Graph:
        """The IR graph of row ``i`` (compiled once, then cached)."""
        g = self._cache.get(i)
        if g is None:
            g = self._cache[i] = self._build(int(i))
        return g

    def graphs(self, rows: Sequence[int]) -> list[Graph]:
        return [self.graph(i) for i in rows]


def shared_benchmarks() -> Path:
    env = os.environ.get("NAS_SHARED_BENCHMARKS")
    path = (
        Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks"
    )
    if not path.is_dir():
        raise PredictorError(
            f"Benchmark tables not found at {str(path)!r}; set NAS_SHARED_BENCHMARKS to the folder."
        )
    return path


def _read(rel: str):
    import pyarrow.parquet as pq

    return pq.read_table(shared_benchmarks() / rel).to_pandas()


def _space_table(name: str, space_name: str, archs: list, targets, signal: str) -> LabeledTable:
    from nas.space import get_space

    space = get_space(space_name)
    return LabeledTable(
        name,
        np.asarray(targets, dtype=np.float64),
        [a.arch_id for a in archs],
        archs,
        space_name,
        signal,
        _build=lambda i: space.compile(archs[i], check=False),
    )


def _from_bench(name: str, signal: str) -> LabeledTable | None:
    try:
        from nas.bench import load_table  # type: ignore[import-not-found]
    except ImportError:
        return None
    from nas.errors import NasError
    from nas.space import Arch

    try:
        rows = load_table(name).to_pydict()
    except NasError:  # the table is not built in this checkout: read the public file
        return None
    ok = [i for i, s in enumerate(rows["status"]) if s == "ok" and rows[signal][i] is not None]
    archs = [Arch.from_json(rows["arch"][i]) for i in ok]
    return _space_table(name, rows["space"][ok[0]], archs, [rows[signal][i] for i in ok], signal)


def load_labeled(name: str, *, signal: str = "val_accuracy") -> LabeledTable:
    """Load table ``name`` (one of :data:`TABLES`) with its target column.

    For the raw-Parquet fallback, ``val_accuracy`` maps to: NB-201 CIFAR-10 12-epoch
    ``cifar10-valid`` validation accuracy, NB-201 CIFAR-100 12-epoch validation accuracy,
    NAS-Bench-Macro mean test accuracy of 3 runs (it has no validation split), NB-101 the
    validation accuracy stored by NAS-Bench-Suite-Zero.

    Example:
        >>> t = load_labeled("nb-macro")  # doctest: +SKIP
        >>> len(t), t.space
        (6561, 'nb_macro')
    """
    if name not in TABLES:
        import difflib

        close = difflib.get_close_matches(name, TABLES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise PredictorError(f"Unknown predictor table {name!r}{hint} (known: {', '.join(TABLES)})")
    if name != "nb101":
        table = _from_bench(name, signal)
        if table is not None:
            return table
    if name.startswith("nb201"):
        from nas.search_spaces.nb201 import parse_arch_str

        from nas.space import get_space

        space_name = "nb201" if name == "nb201-cifar10" else "nb201_c100"
        col = "cifar10valid_val_acc_12ep" if name == "nb201-cifar10" else "cifar100_val_acc_12ep"
        df = _read("nasbench201/nb201_acc_12ep.parquet")
        space = get_space(space_name)
        archs = [parse_arch_str(s, space) for s in df["arch_str"]]
        return _space_table(name, space_name, archs, df[col].to_numpy(), col)
    if name == "nb-macro":
        from nas.search_spaces.nb_macro import parse_arch_str

        df = _read("nas_bench_macro/nas_bench_macro_cifar10.parquet")
        archs = [parse_arch_str(s) for s in df["arch"]]
        return _space_table(name, "nb_macro", archs, df["mean_acc"].to_numpy(), "mean_acc")
    if name in _TNB_TASKS:
        return _tnb101_micro_table(name)
    if name == "nb301":
        return _nb301_table()
    df = _read("nasbench_suite_zero_subsets/zc_subsets.parquet")
    df = df[df["search_space"] == "nasbench101"].reset_index(drop=True)
    keys = [str(k) for k in df["arch_key"]]
    specs = [_parse_nb101(k) for k in keys]
    return LabeledTable(
        name,
        df["val_accuracy"].to_numpy(dtype=np.float64),
        keys,
        None,
        None,
        "val_accuracy",
        _build=lambda i: nb101_graph(*specs[i]),
    )


def _parse_nb101(key: str) -> tuple[np.ndarray, list[int]]:
    values = [int(v) for v in key.strip("()[] ").split(",")]
    if len(values) != 56:
        raise PredictorError(f"Expected a 56-value NB-101 key (7x7 adjacency + 7 ops), got {key!r}")
    return np.array(values[:49]).reshape(7, 7), values[49:]


_NB101_OPS = {2: "maxpool3x3", 3: "conv1x1-bn-relu", 4: "conv3x3-bn-relu"}


def _conv_bn_relu(g: Graph, x: str, channels: int, kernel: int) -> str:
    y = g.add("conv2d", x, out_channels=channels, kernel_size=kernel, padding=kernel // 2)
    return g.add("relu", g.add("batch_norm", y))


def nb101_graph(adjacency: np.ndarray, ops: Sequence[int], *, stem: int = 128) -> Graph:
    """An IR graph of a NAS-Bench-101 network (3 stacks x 3 cells, 128/256/512 channels).

    Simplification: NB-101 concatenates the vertices feeding the output and splits channels
    among them; here they are summed at the full stack width, so the op types, topology and
    sizes are kept but interior widths are not exact.

    Args:
        adjacency: ``(7, 7)`` upper-triangular 0/1 matrix (vertex 0 = input, 6 = output).
        ops: 7 op codes (0 input, 1 output, 2 maxpool3x3, 3 conv1x1, 4 conv3x3).
    """
    adj = np.asarray(adjacency)
    n = adj.shape[0]
    g = Graph("nb101")
    h = _conv_bn_relu(g, g.add_input((3, 32, 32)), stem, 3)
    for stack in range(3):
        channels = stem * 2**stack
        if stack:
            h = g.add("max_pool", h, kernel_size=2, stride=2)
        for _ in range(3):
            h = _nb101_cell(g, h, adj, ops, channels, n)
    h = g.add("global_avg_pool", h)
    g.set_outputs(g.add("linear", h, out_features=10))
    return g


def _nb101_cell(g: Graph, h: str, adj: np.ndarray, ops: Sequence[int], ch: int, n: int) -> str:
    out: dict[int, str] = {}

    def source(u: int) -> str | None:
        if u == 0:
            return _conv_bn_relu(g, h, ch, 1)  # NB-101's input projection
        return out.get(u)

    for v in range(1, n - 1):
        ins = [s for u in range(v) if adj[u, v] and (s := source(u)) is not None]
        if not ins:
            continue  # a pruned vertex
        x = ins[0] if len(ins) == 1 else g.add("add", ins)
        op = _NB101_OPS.get(int(ops[v]))
        if op == "maxpool3x3":
            out[v] = g.add("max_pool", x, kernel_size=3, stride=1, padding=1)
        elif op is not None:
            out[v] = _conv_bn_relu(g, x, ch, 3 if op.startswith("conv3") else 1)
    ins = [s for u in range(n - 1) if adj[u, n - 1] and (s := source(u)) is not None]
    if not ins:
        raise PredictorError("NB-101 cell has no path to its output vertex; check the arch key.")
    return ins[0] if len(ins) == 1 else g.add("add", ins)


def _tnb101_micro_table(name: str) -> LabeledTable:
    task, classes = _TNB_TASKS[name]
    df = _read("nasbench_suite_zero_subsets/zc_subsets.parquet")
    df = df[(df["search_space"] == "transbench101_micro") & (df["task"] == task)]
    keys, codes, targets = [], [], []
    for key, acc in zip(df["arch_key"], df["val_accuracy"], strict=True):
        code = _parse_tnb_micro(str(key))
        if _tnb_cell_is_live(code):  # a cell whose output is always zero has no graph
            keys.append(str(key))
            codes.append(code)
            targets.append(float(acc))
    return LabeledTable(
        name,
        np.asarray(targets, dtype=np.float64),
        keys,
        None,
        None,
        "val_accuracy",
        _build=lambda i: tnb101_micro_graph(codes[i], num_classes=classes),
    )


def _parse_tnb_micro(key: str) -> tuple[int, ...]:
    values = tuple(int(v) for v in key.strip("()[] ").split(","))
    if len(values) != 6 or not all(0 <= v <= 3 for v in values):
        raise PredictorError(f"Expected 6 TransNAS-Bench-101 micro op codes in 0..3, got {key!r}")
    return values


# TransNAS-Bench-101 micro cell: node j sums an op on each earlier node; the six codes are the
# benchmark's own string order "a_bc_def" (node 1 <- 0; node 2 <- 0, 1; node 3 <- 0, 1, 2).
_TNB_EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from)


def _tnb_cell_is_live(code: Sequence[int]) -> bool:
    live = {0}
    for (to, frm), op in zip(_TNB_EDGES, code, strict=True):
        if op != 0 and frm in live:
            live.add(to)
    return 3 in live


def tnb101_micro_graph(
    code: Sequence[int], *, num_classes: int = 100, size: int = 256, base: int = 64
) -> Graph:
    """An IR graph of a TransNAS-Bench-101 micro network ``64-41414-{cell}`` (classification).

    Stem: conv3x3/2 to ``base / 2`` channels, BN, then ReLU-conv3x3/2-BN to ``base``; five
    stages of two cells each (macro code 4-1-4-1-4: stages 1, 3 and 5 halve the resolution and
    double the channels in their first cell); global average pooling and a linear head.
    Cell ops (the benchmark's codes): 0 zero, 1 skip, 2 ReLU-conv1x1-BN, 3 ReLU-conv3x3-BN.
    Simplification: a skip edge that must change shape (the first cell of a downsampling stage)
    is a ReLU-conv1x1/2-BN projection, with the parameter count of the benchmark's factorized
    reduction; zero edges are left out of the sums they would add nothing to.

    Args:
        code: six op codes in the benchmark's string order (see ``_TNB_EDGES``).
        num_classes: classes of the task's head.
        size: input resolution.
        base: stem width.
    """
    if not _tnb_cell_is_live(code):
        raise PredictorError(f"TransNAS-Bench-101 cell {tuple(code)} never reaches its output.")
    g = Graph("tnb101_micro")
    h = g.add_input((3, size, size))
    h = g.add(
        "batch_norm", g.add("conv2d", h, out_channels=base // 2, kernel_size=3, stride=2, padding=1)
    )
    h = _relu_conv_bn(g, h, base, 3, 2)
    channels = base
    for stage in "41414":
        change = stage == "4"
        for block in range(2):
            stride = 2 if change and block == 0 else 1
            out = channels * 2 if change and block == 0 else channels
            h = _tnb_cell(g, h, code, out, stride)
            channels = out
    h = g.add("global_avg_pool", h)
    g.set_outputs(g.add("linear", h, out_features=num_classes))
    return g


def _relu_conv_bn(g: Graph, x: str, channels: int, kernel: int, stride: int = 1) -> str:
    y = g.add("relu", x)
    y = g.add(
        "conv2d", y, out_channels=channels, kernel_size=kernel, stride=stride, padding=kernel // 2
    )
    return g.add("batch_norm", y)


def _tnb_cell(g: Graph, x: str, code: Sequence[int], channels: int, stride: int) -> str:
    nodes: dict[int, str] = {0: x}
    reshape = stride != 1 or g.node(x).shape[0] != channels
    for to in (1, 2, 3):
        terms = []
        for (dst, frm), op in zip(_TNB_EDGES, code, strict=True):
            if dst != to or op == 0 or frm not in nodes:
                continue
            src, s = nodes[frm], (stride if frm == 0 else 1)
            if op == 1:
                terms.append(_relu_conv_bn(g, src, channels, 1, s) if frm == 0 and reshape else src)
            else:
                terms.append(_relu_conv_bn(g, src, channels, 1 if op == 2 else 3, s))
        if terms:
            nodes[to] = terms[0] if len(terms) == 1 else g.add("add", terms)
    return nodes[3]


# NASLib's compact DARTS encoding: per cell, 8 (input node, op index) pairs; nodes 0 and 1 are
# the two previous cells' outputs, pairs 2k and 2k+1 feed intermediate node k + 2.
_DARTS_OPS = (
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)

DartsCell = tuple[tuple[int, int], ...]


def _nb301_table() -> LabeledTable:
    df = _read("nasbench_suite_zero_subsets/zc_subsets.parquet")
    df = df[df["search_space"] == "nasbench301"].reset_index(drop=True)
    keys = [str(k) for k in df["arch_key"]]
    cells = [_parse_darts(k) for k in keys]
    return LabeledTable(
        "nb301",
        df["val_accuracy"].to_numpy(dtype=np.float64),
        keys,
        None,
        None,
        "val_accuracy",
        _build=lambda i: nb301_graph(*cells[i]),
    )


def _parse_darts(key: str) -> tuple[DartsCell, DartsCell]:
    import ast

    try:
        normal, reduce = (
            tuple((int(a), int(b)) for a, b in cell) for cell in ast.literal_eval(key)
        )
    except (ValueError, SyntaxError, TypeError) as exc:
        raise PredictorError(
            f"Expected two lists of 8 (node, op) pairs, got {key!r} ({exc})"
        ) from None
    for cell in (normal, reduce):
        if len(cell) != 8 or any(
            not 0 <= op < len(_DARTS_OPS) or not 0 <= node < 2 + j // 2
            for j, (node, op) in enumerate(cell)
        ):
            raise PredictorError(f"Not a DARTS cell in NASLib's compact encoding: {key!r}")
    return normal, reduce


def nb301_graph(
    normal: DartsCell, reduce: DartsCell, *, channels: int = 32, layers: int = 8
) -> Graph:
    """An IR graph of a NAS-Bench-301 network: the DARTS CIFAR-10 net, 32 channels, 8 cells.

    The stem is a conv3x3 to ``3 x channels`` and BN. Cells ``layers // 3`` and ``2 * layers // 3``
    are reduction cells that double the channels. Each cell preprocesses its two inputs with a
    ReLU-conv1x1-BN, sums two ops per intermediate node and concatenates the four nodes. A
    global average pool and a linear layer make the head. Ops are DARTS's: separable convs (two
    stacks of ReLU, depthwise conv, pointwise conv, BN), dilated convs, 3x3 max and average
    pooling, and skip.

    As in the benchmark's networks, the batch norms inside the ops have no affine parameters;
    the stem's and the preprocessing's do.

    Simplification: DARTS's factorized reduction (a skip edge, or the preprocessing after a
    reduction cell, that halves the resolution) is a ReLU-conv1x1/2-BN. It has the same number
    of parameters.
    """
    g = Graph("nb301")
    x = g.add_input((3, 32, 32))
    stem = g.add(
        "batch_norm", g.add("conv2d", x, out_channels=3 * channels, kernel_size=3, padding=1)
    )
    prev_prev, prev, c = stem, stem, channels
    reduction_prev = False
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        if reduction:
            c *= 2
        s0 = _relu_conv_bn(g, prev_prev, c, 1, 2 if reduction_prev else 1)
        s1 = _relu_conv_bn(g, prev, c, 1)
        out = _darts_cell(g, [s0, s1], reduce if reduction else normal, c, reduction)
        prev_prev, prev, reduction_prev = prev, out, reduction
    h = g.add("global_avg_pool", prev)
    g.set_outputs(g.add("linear", h, out_features=10))
    return g


def _darts_cell(g: Graph, states: list[str], cell: DartsCell, c: int, reduction: bool) -> str:
    states = list(states)
    for k in range(4):
        terms = []
        for node, op in cell[2 * k : 2 * k + 2]:
            stride = 2 if reduction and node < 2 else 1
            terms.append(_darts_op(g, states[node], _DARTS_OPS[op], c, stride))
        states.append(g.add("add", terms))
    return g.add("concat", states[2:])


def _darts_op(g: Graph, x: str, op: str, c: int, stride: int) -> str:
    if op == "skip_connect":
        if stride == 1:
            return x
        y = g.add("conv2d", g.add("relu", x), out_channels=c, kernel_size=1, stride=stride)
        return g.add("batch_norm", y, affine=False)
    if op.endswith("pool_3x3"):
        return g.add(op[:3] + "_pool", x, kernel_size=3, stride=stride, padding=1)
    k = int(op[-1])
    if op.startswith("sep_conv"):
        y = _dw_pw_bn(g, x, c, k, stride, 1)
        return _dw_pw_bn(g, y, c, k, 1, 1)
    return _dw_pw_bn(g, x, c, k, stride, 2)  # dil_conv


def _dw_pw_bn(g: Graph, x: str, c: int, k: int, stride: int, dilation: int) -> str:
    y = g.add("relu", x)
    y = g.add(
        "conv2d", y, out_channels=c, kernel_size=k, stride=stride, padding=dilation * (k // 2),
        dilation=dilation, groups=c,
    )  # fmt: skip
    y = g.add("conv2d", y, out_channels=c, kernel_size=1)
    return g.add("batch_norm", y, affine=False)
