"""Foreign models keep their weights: ONNX Runtime / the torch original == the imported graph."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import GraphError
from nas.graph import Graph, export_onnx, from_torch, import_onnx, to_torch


# ----------------------------------------------------------------------------- four foreign kinds
class MobileV3Block(nn.Module):
    """MobileNetV3-style: hardswish stem, depthwise conv, squeeze-excite gated by hardsigmoid."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16))
        self.expand = nn.Conv2d(16, 48, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(48)
        self.dw = nn.Conv2d(48, 48, 5, padding=2, groups=48, bias=False)
        self.bn2 = nn.BatchNorm2d(48)
        self.se_reduce = nn.Conv2d(48, 12, 1)
        self.se_expand = nn.Conv2d(12, 48, 1)
        self.project = nn.Conv2d(48, 16, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(16)
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, 3, 32, 32)
        x = F.hardswish(self.stem(x))
        y = F.hardswish(self.bn1(self.expand(x)))
        y = F.relu(self.bn2(self.dw(y)))
        s = F.adaptive_avg_pool2d(y, 1)
        s = F.hardsigmoid(self.se_expand(F.relu(self.se_reduce(s))))
        y = self.bn3(self.project(y * s)) + x
        return self.head(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))


class GeluCnn1d(nn.Module):
    """A 1-D CNN with GELU (torch.onnx writes it as Div/Erf/Add/Mul/Mul below opset 20)."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(1, 8, 5, padding=2)
        self.c2 = nn.Conv1d(8, 16, 3, stride=2, padding=1)
        self.norm = nn.LayerNorm(20)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, 1, 40)
        y = F.gelu(self.c1(x))
        y = F.gelu(self.norm(self.c2(y)))
        return self.fc(y.mean(dim=2))


class LeNet5(nn.Module):
    """LeCun et al. 1998, with the usual ``x.view(x.size(0), -1)`` flatten."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.c3 = nn.Conv2d(6, 16, 5)
        self.f5 = nn.Linear(16 * 5 * 5, 120)
        self.f6 = nn.Linear(120, 84)
        self.out = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, 1, 28, 28)
        x = F.avg_pool2d(torch.tanh(self.c1(x)), 2)
        x = F.avg_pool2d(torch.tanh(self.c3(x)), 2)
        x = x.view(x.size(0), -1)
        return self.out(torch.tanh(self.f6(torch.tanh(self.f5(x)))))


class FixedBatchHead(nn.Module):
    """Exported at batch 1 without dynamic axes: the flatten is a Reshape to [1, -1]."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (1, 3, 8, 8)
        return self.fc(torch.reshape(torch.relu(self.conv(x)), (1, -1)))


def _randomize_bn(module: nn.Module) -> nn.Module:
    """Non-trivial running statistics, so a lost BatchNorm buffer would show."""
    gen = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
    return module.eval()


def _torch_export(module: nn.Module, shape: tuple, path: Path, opset: int, batch: int | None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.zeros(batch or 2, *shape),),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes=None if batch else {"input": {0: "b"}, "output": {0: "b"}},
        )
    return path


def _ort_vs_imported(path: Path, shape: tuple, batch: int) -> tuple[Graph, float]:
    g = import_onnx(path)
    x = np.random.default_rng(0).standard_normal((batch, *shape)).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (want,) = sess.run(None, {sess.get_inputs()[0].name: x})
    with torch.no_grad():
        got = to_torch(g).eval()(torch.from_numpy(x)).numpy()
    return g, float(np.max(np.abs(want - got)))


def _stats(model: onnx.ModelProto) -> int:
    """Sizes of BatchNorm running statistics (ONNX inputs, buffers rather than params)."""
    sizes = {t.name: int(np.prod(t.dims)) for t in model.graph.initializer}
    bn = [n for n in model.graph.node if n.op_type == "BatchNormalization"]
    return sum(sizes.get(i, 0) for n in bn for i in n.input[3:5])


FOREIGN = {
    "mobilenetv3_hardsigmoid_se": (MobileV3Block, (3, 32, 32), 13, None),
    "gelu_cnn1d_opset17": (GeluCnn1d, (1, 40), 17, None),
    "lenet5_view_flatten": (LeNet5, (1, 28, 28), 20, None),
    "fixed_batch1_reshape": (FixedBatchHead, (3, 8, 8), 17, 1),
}


@pytest.mark.parametrize("case", list(FOREIGN))
def test_foreign_onnx_imports_with_weights(case: str, tmp_path: Path) -> None:
    cls, shape, opset, batch = FOREIGN[case]
    torch.manual_seed(0)
    module = _randomize_bn(cls())
    path = tmp_path / f"{case}.onnx"
    if case == "lenet5_view_flatten":  # our own exporter: Shape -> Gather -> ... -> Reshape
        export_onnx(module, path, input_shape=shape)
        ops = {n.op_type for n in onnx.load(str(path)).graph.node}
        assert {"Shape", "Gather", "Concat", "Reshape"} <= ops
    else:
        _torch_export(module, shape, path, opset, batch)
    g, diff = _ort_vs_imported(path, shape, batch or 3)
    assert diff < 1e-5, f"{case}: imported graph differs from ONNX Runtime by {diff}"
    # torch.onnx folds BatchNorm into Conv by default, so count the file's weights, not torch's
    model = onnx.load(str(path))
    floats = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT]
    assert g.params == sum(int(np.prod(t.dims)) for t in floats) - _stats(model)
    assert set(g.weights) == {n for n in g.nodes() if g.node(n).params}
    if case == "gelu_cnn1d_opset17":
        assert [g.node(n).op for n in g.nodes()].count("gelu") == 2


@pytest.mark.parametrize("opset", range(13, 21))
def test_attention_block_every_opset(opset: int, tmp_path: Path) -> None:
    """Attention pieces, LayerNorm (decomposed below 17) and GELU (decomposed below 20)."""
    from tests.zoo.models import EncoderBlock

    torch.manual_seed(0)
    block = EncoderBlock(dim=16, heads=4, mlp=32).eval()
    path = _torch_export(block, (6, 16), tmp_path / "block.onnx", opset, None)
    g, diff = _ort_vs_imported(path, (6, 16), 2)
    assert diff < 1e-5
    assert g.params == sum(p.numel() for p in block.parameters())
    ops = {g.node(n).op for n in g.nodes()}
    assert {"layer_norm", "gelu", "softmax", "matmul", "transpose", "reshape"} <= ops


def test_from_torch_keeps_weights_and_round_trips(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = _randomize_bn(MobileV3Block())
    g = from_torch(module, (3, 32, 32))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(to_torch(g).eval()(x), module(x), atol=1e-5)
    # the weights travel on: export the imported graph, import again, same numbers
    path = export_onnx(g, tmp_path / "again.onnx")
    back, diff = _ort_vs_imported(path, (3, 32, 32), 2)
    assert diff < 1e-5 and back.graph_hash() == g.graph_hash()


def test_weights_that_do_not_fit_are_refused() -> None:
    g = from_torch(nn.Sequential(nn.Linear(4, 3)), (4,))
    (node,) = g.weights
    g.weights[node] = {"weight": np.zeros((3, 5), np.float32), "bias": np.zeros(3, np.float32)}
    with pytest.raises(GraphError, match=r"weights .* do not fit its lowering"):
        to_torch(g)


def test_unsupported_node_names_node_type_and_fix(tmp_path: Path) -> None:
    class Cum(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cumsum(F.gelu(x), dim=1)

    path = _torch_export(Cum(), (5,), tmp_path / "cum.onnx", 17, None)
    # the GELU before it is fused, so the error is about CumSum, not about Div
    with pytest.raises(
        GraphError,
        match=r"ONNX node '/CumSum' \(CumSum\): no registered op claims ONNX op type "
        r"'CumSum'; register an OpSpec with onnx_op_types=\('CumSum',\)",
    ):
        import_onnx(path)


def test_batch_norm_without_affine_parameters_comes_back_without_them(tmp_path: Path) -> None:
    """torch writes affine=False as Constant ones/zeros and dedupes equal stored weights
    through Identity nodes; neither may change which batch norms hold parameters."""
    g = Graph()
    x = g.add_input((4, 8, 8), name="x")
    c = g.add("conv2d", x, out_channels=4, kernel_size=3, padding=1, name="c")
    fixed = g.add("batch_norm", c, affine=False, name="fixed")
    c2 = g.add("conv2d", fixed, out_channels=4, kernel_size=3, padding=1, name="c2")
    g.set_outputs(g.add("batch_norm", g.add("batch_norm", c2, name="bn1"), name="bn2"))
    export_onnx(g, tmp_path / "bn.onnx")
    back = import_onnx(tmp_path / "bn.onnx")
    bns = [back.node(n) for n in back.nodes() if back.node(n).op == "batch_norm"]
    affine = sorted(bn.attrs["affine"] for bn in bns)
    assert affine == [False, True, True]
    assert back.params == g.params and back.graph_hash() == g.graph_hash()
