"""The benchmark cells: NAS-Bench-101's module (InputCell with channels), EdgeCell's input
ops, DARTS's two-input cell in a CellStack, FactorizedReduce and Zeros."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nas.errors import SpaceError
from nas.graph import Graph, onnx_check
from nas.graph.torch_backend import to_torch
from nas.space import (
    CellStack,
    Choice,
    DartsCell,
    EdgeCell,
    FactorizedReduce,
    InChannels,
    InputCell,
    Op,
    Seq,
    Space,
    Zeros,
)
from nas.space._cells_nb101 import live_vertices, vertex_channels
from nas.testing import check_space


def _conv(kernel: int = 1, out: object = None) -> Op:
    out = InChannels() if out is None else out
    return Op("conv2d", out_channels=out, kernel_size=kernel, padding=kernel // 2)


def _conforms(space: Space, tmp_path: Path) -> None:
    """The DSL and torch checks, and ONNX Runtime == torch. Not the ONNX re-import's
    graph_hash: the export merges identical parameter-free ops that read the same input (the
    two preprocessing ReLUs of a DARTS cell's input, the ReLUs of several edges from one node),
    a known exporter bug outside these cells."""
    check_space(space, samples=3, onnx=False)
    onnx_check(space.compile(space.sample(np.random.default_rng(0))), tmp_path / "cell.onnx")


def _forward(graph: Graph, shape: tuple[int, ...]) -> torch.Tensor:
    torch.manual_seed(0)
    with torch.no_grad():
        return to_torch(graph)(torch.randn(2, *shape))


# ----------------------------------------------------------------------------- shape ops
def test_factorized_reduce_halves_resolution_with_a_shifted_second_conv() -> None:
    graph = Space("fr", FactorizedReduce(9), input_shape=(6, 8, 8)).compile({})
    assert graph.shape(graph.outputs[0]) == (9, 4, 4)
    assert graph.in_shapes("conv_2") == ((6, 7, 7),)  # x[:, :, 1:, 1:]
    assert (graph.shape("conv_1")[0], graph.shape("conv_2")[0]) == (4, 5)
    assert graph.params == 6 * 9 + 2 * 9  # two bias-free convs and an affine BN
    plain = Space("fr", FactorizedReduce(9, affine=False), input_shape=(6, 8, 8)).compile({})
    assert plain.params == 6 * 9
    assert _forward(graph, (6, 8, 8)).shape == (2, 9, 4, 4)


@pytest.mark.parametrize(
    ("zeros", "shape"),
    [
        (Zeros(), (3, 8, 8)),
        (Zeros(6, stride=2), (6, 4, 4)),
        (Zeros(8, stride=2), (8, 4, 4)),
        (Zeros(2), (2, 8, 8)),
    ],
)
def test_zeros_take_any_shape_without_parameters(zeros: Zeros, shape: tuple[int, ...]) -> None:
    graph = Space("z", zeros, input_shape=(3, 8, 8)).compile({})
    assert graph.shape(graph.outputs[0]) == shape and graph.params == 0
    out = _forward(graph, (3, 8, 8))
    assert out.shape == (2, *shape) and not out.any()


def test_shape_ops_reject_bad_arguments() -> None:
    with pytest.raises(SpaceError, match="int out_channels >= 2"):
        FactorizedReduce(1)
    with pytest.raises(SpaceError, match="int stride >= 1"):
        Zeros(4, stride=0)
    with pytest.raises(SpaceError, match=r"\(channels, height, width\) input"):
        Space("fr", FactorizedReduce(4), input_shape=(4, 8)).compile({})


# ----------------------------------------------------------------------------- NAS-Bench-101
def test_vertex_channels_follow_the_benchmark() -> None:
    # 0 -> 1 -> 2 -> out, 0 -> 3 -> out, 1 -> out: the output's 3 interior inputs split 128.
    inputs = [(), (0,), (1,), (0,), (1, 2, 3)]
    assert vertex_channels(inputs, 64, 128) == [64, 43, 43, 42, 128]
    # Vertex 1 feeds only vertex 2 (width 64): it takes 64.
    assert vertex_channels([(), (0,), (1,), (0, 2)], 32, 64) == [32, 64, 64, 64]
    assert live_vertices([(), (0,), (0,), (1,)]) == [0, 1, 3]  # vertex 2 reaches no output


def _nb101_space(channels: int = 8) -> Space:
    ops = {"conv": Seq(conv=_conv(3), bn=Op("batch_norm"), relu=Op("relu")),
           "pool": Op("max_pool", kernel_size=3, stride=1, padding=1)}  # fmt: skip
    return Space("nb101_like", InputCell(5, ops, channels=channels), input_shape=(4, 8, 8))


def test_nb101_cell_splits_concatenates_projects_and_prunes() -> None:
    space = _nb101_space(9)
    arch = space.validate({
        "node1.inputs": (0,), "node1.op": "conv",
        "node2.inputs": (0, 1), "node2.op": "pool",
        "node3.inputs": (0,), "node3.op": "conv",  # feeds nothing: pruned
        "node4.inputs": (0, 1, 2),
    })  # fmt: skip
    graph = space.compile(arch)
    assert graph.shape(graph.outputs[0]) == (9, 8, 8)
    assert graph.shape("node1.conv.relu")[0] == 5 and graph.shape("node2.pool")[0] == 4
    assert graph.shape("node2.from1") == (4, 8, 8)  # vertex 1 truncated to vertex 2's width
    assert not any(n.startswith("node3") for n in graph.nodes())
    # Projections: input -> 1 (5 ch), input -> 2 (4 ch), input -> output (9 ch), each conv+BN.
    proj = sum(4 * c + 2 * c for c in (5, 4, 9))
    assert graph.params == proj + (5 * 5 * 9 + 2 * 5)
    assert _forward(graph, (4, 8, 8)).shape == (2, 9, 8, 8)


def test_nb101_cell_with_only_the_input_edge_is_a_projection() -> None:
    space = _nb101_space()
    values = {f"node{i}.inputs": (0,) for i in range(1, 5)}
    values |= {f"node{i}.op": "pool" for i in range(1, 4)}
    graph = space.compile(space.validate(values))
    assert graph.params == 4 * 8 + 2 * 8 and graph.shape(graph.outputs[0]) == (8, 8, 8)


def test_nb101_cell_counts_and_keeps_the_summing_cell_json() -> None:
    space = _nb101_space()
    assert space.size() == 2**3 * (1 * 3 * 7) * 15  # ops x interior inputs x output inputs
    assert "channels" not in json.dumps(InputCell(3, {"id": Op("identity")}).spec(), default=str)
    with pytest.raises(SpaceError, match="int channels >= 1"):
        InputCell(4, {"id": Op("identity")}, channels=0)


def test_nb101_cell_conforms() -> None:
    check_space(_nb101_space(), samples=3)


# ----------------------------------------------------------------------------- EdgeCell
def _down_cell() -> EdgeCell:
    ops = {"none": Op("zero"), "skip": Op("identity"), "conv": _conv(3)}
    strided = {"none": Zeros(8, stride=2), "skip": FactorizedReduce(8),
               "conv": Op("conv2d", out_channels=8, kernel_size=3, stride=2, padding=1)}  # fmt: skip
    return EdgeCell(3, ops, name="cell", input_ops=strided)


@pytest.mark.slow
def test_edge_cell_input_ops_run_on_edges_from_the_input_only(tmp_path: Path) -> None:
    space = Space("down", _down_cell(), input_shape=(4, 8, 8))
    arch = space.validate(
        {"cell.n1_from0": "none", "cell.n2_from0": "skip", "cell.n2_from1": "conv"}
    )
    graph = space.compile(arch)
    assert graph.shape(graph.outputs[0]) == (8, 4, 4)
    assert graph.params == (4 * 8 + 2 * 8) + 8 * 8 * 9  # the reduction, the conv on zeros
    assert space.size() == 27
    _conforms(space, tmp_path)


def test_edge_cell_input_ops_need_the_same_labels() -> None:
    with pytest.raises(SpaceError, match="input_ops must have the labels of ops"):
        EdgeCell(3, {"a": Op("identity")}, input_ops={"b": Op("identity")})
    plain = EdgeCell(3, {"a": Op("identity")})
    assert "input_ops" not in plain.spec()  # old spaces keep their JSON and arch ids


# ----------------------------------------------------------------------------- DARTS
OPS = {"skip": Op("identity"), "conv": Seq(relu=Op("relu"), conv=_conv(3))}


def _strided(width: int) -> dict[str, object]:
    conv = Op("conv2d", out_channels=width, kernel_size=3, stride=2, padding=1)
    return {"skip": FactorizedReduce(width, affine=False), "conv": Seq(relu=Op("relu"), conv=conv)}


def _darts_space() -> Space:
    body = CellStack(
        stem=Op("conv2d", out_channels=6, kernel_size=3, padding=1),
        cell0=DartsCell(OPS, 4, nodes=2, name="normal"),
        cell1=DartsCell(OPS, 8, input_ops=_strided(8), nodes=2, name="reduce"),
        cell2=DartsCell(OPS, 8, nodes=2, name="normal"),
    )
    return Space("darts_like", Seq(cells=body, pool=Op("global_avg_pool")), input_shape=(3, 8, 8))


def test_darts_cells_read_the_two_cells_before_them() -> None:
    space = _darts_space()
    values = {f"{kind}.node{i}.op{k}": "conv" for kind in ("normal", "reduce")
              for i in (2, 3) for k in (0, 1)}  # fmt: skip
    values |= {"normal.node2.inputs": (0, 1), "normal.node3.inputs": (0, 2)}
    values |= {"reduce.node2.inputs": (0, 1), "reduce.node3.inputs": (1, 2)}
    graph = space.compile(space.validate(values))
    assert graph.in_shapes("cells.cell0.pre0.conv") == ((6, 8, 8),)  # the stem, twice
    assert graph.in_shapes("cells.cell1.pre0.conv") == ((6, 8, 8),)  # the stem
    assert graph.in_shapes("cells.cell1.pre1.conv") == ((8, 8, 8),)  # cell 0 (2 nodes x 4)
    assert graph.shape("cells.cell1.out") == (16, 4, 4)
    assert graph.in_shapes("cells.cell2.pre0.conv_1") == ((8, 8, 8),)  # factorized reduction
    assert graph.shape("cells.cell2.out") == (16, 4, 4)
    # The reduction cell's node 3 reads cell input 1 (strided) and node 2 (not strided).
    assert graph.in_shapes("cells.cell1.node3.op0.conv.conv") == ((8, 8, 8),)
    assert graph.in_shapes("cells.cell1.node3.op1.conv.conv") == ((8, 4, 4),)


def test_darts_cell_counts_pairs_times_ops(tmp_path: Path) -> None:
    space = _darts_space()
    per_cell = (1 * 4) * (3 * 4)  # node 2: pair (0, 1); node 3: 3 pairs; 2 x 2 ops each
    assert space.size() == per_cell**2  # one shared normal and one reduction genotype
    assert list(space.decisions)[:3] == [
        "normal.node2.inputs",
        "normal.node2.op0",
        "normal.node2.op1",
    ]
    _conforms(space, tmp_path)


def test_darts_cell_with_decisions_in_its_ops_activates_them_by_input(tmp_path: Path) -> None:
    """With a decision inside an op, which op set (input or inner) an edge uses depends on
    the chosen inputs, so the op decisions hang off ``node{i}.inputs``."""
    width = Choice([4, 8], name="width")
    ops = {"conv": Op("conv2d", out_channels=InChannels(), kernel_size=1)}
    inner = {"conv": Seq(a=Op("conv2d", out_channels=width, kernel_size=1), b=_conv(1, 4))}
    space = Space("cond", DartsCell(inner, 4, input_ops=ops, nodes=2), input_shape=(4, 8, 8))
    # node 2: both from inputs (no width); node 3: pairs (0,1) no width, (0,2)/(1,2) width.
    assert space.size() == 1 + 2 * 2
    rng = np.random.default_rng(0)
    seen = {tuple(sorted(space.sample(rng).values.items())) for _ in range(60)}
    assert len(seen) == 5 and sum("width" in dict(s) for s in seen) == 4
    _conforms(space, tmp_path)


def test_darts_cell_rejects_bad_arguments() -> None:
    with pytest.raises(SpaceError, match="int channels >= 1"):
        DartsCell(OPS, 0)
    with pytest.raises(SpaceError, match="input_ops must have the labels"):
        DartsCell(OPS, 4, input_ops={"skip": Op("identity")})
    with pytest.raises(SpaceError, match="at least one child"):
        CellStack()
