"""from_torch on hand-written modules, and a user op through every stage."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nas.errors import GraphError
from nas.graph import Graph, from_torch, import_onnx, onnx_check, to_torch

from ._graph_cases import SCALE


class ResBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 3, padding="same")
        self.short = nn.Conv2d(8, 16, 1, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(32, 10)
        self.act = nn.Hardswish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, 8, H, W)
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.act(self.conv2(y)) + self.short(x)
        gate = torch.sigmoid(y.mean((2, 3), keepdim=True))
        y = torch.cat([y * gate, F.max_pool2d(y, 3, 1, 1)], dim=1)
        y = self.pool(y)
        y = y.view(y.size(0), -1)
        return self.head(self.drop(y))


class Seq1d(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(2, 6, 5, padding=2),
            nn.BatchNorm1d(6),
            nn.GELU(),
            nn.AvgPool1d(2),
            nn.LayerNorm(10),
            nn.SiLU(),
            nn.Flatten(),
            nn.Linear(60, 3),
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, 2, 20)
        return self.body(x)


@pytest.mark.parametrize(("cls", "shape"), [(ResBlock, (8, 16, 16)), (Seq1d, (2, 20))])
def test_from_torch_matches_module(cls, shape) -> None:
    torch.manual_seed(0)
    module = cls().eval()
    g = from_torch(module, shape)
    g.validate()
    x = torch.randn(1, *shape)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        y = module(x)
    assert g.params == sum(p.numel() for p in module.parameters())
    assert 2 * g.flops == counter.get_total_flops()
    assert g.shape(g.outputs[0]) == tuple(y.shape[1:])
    # the imported graph lowers to a module of the same size and output shape
    lowered = to_torch(g).eval()
    assert tuple(lowered(x).shape) == tuple(y.shape)


def test_from_torch_unknown_module_and_function() -> None:
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.up = nn.PixelShuffle(2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.up(x)

    with pytest.raises(GraphError, match=r"Module 'up' \(PixelShuffle\) has no IR op"):
        from_torch(Odd(), (3, 4, 4))

    class Fn(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cumsum(x, dim=1)

    with pytest.raises(GraphError, match="function 'cumsum' has no IR mapping"):
        from_torch(Fn(), (3, 4))


def test_user_op_everywhere(tmp_path) -> None:
    g = Graph("scaled")
    x = g.add_input((4, 6, 6))
    y = g.add("conv2d", x, out_channels=8, kernel_size=3, padding=1)
    y = g.add("scale", y)
    g.set_outputs(g.add("relu", y))
    g.validate()
    assert g.params == 4 * 8 * 9 + 8
    module = to_torch(g)
    assert g.params == sum(p.numel() for p in module.parameters())
    assert onnx_check(module, tmp_path / "s.onnx", input_shape=(4, 6, 6)) < 1e-5
    back = import_onnx(tmp_path / "s.onnx")  # the spec's from_onnx hook claims Mul(x, W)
    assert [back.node(n).op for n in back.nodes()] == ["input", "conv2d", "scale", "relu"]
    assert back.graph_hash() == g.graph_hash() and back.params == g.params
    assert SCALE.name == "scale"


def test_import_onnx_unknown_op_names_it(tmp_path) -> None:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    node = helper.make_node("Softplus", ["x"], ["y"], name="sp")
    model = helper.make_model(helper.make_graph([node], "g", [x], [y]))
    onnx.checker.check_model(model)
    with pytest.raises(
        GraphError, match=r"ONNX node 'sp' \(Softplus\).*onnx_op_types=\('Softplus',\)"
    ):
        import_onnx(model)


def test_from_torch_multihead_attention_keeps_weights() -> None:
    """nn.MultiheadAttention (self and encoder-decoder) maps to the attention pieces."""

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = nn.LayerNorm(16)
            self.self_attn = nn.MultiheadAttention(16, 4, batch_first=True)
            self.cross = nn.MultiheadAttention(16, 2, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, 6, 16)
            y = self.norm(x)
            y = x + self.self_attn(y, y, y, need_weights=False)[0]
            memory = torch.tanh(x)
            return y + self.cross(y, memory, memory)[0]

    torch.manual_seed(0)
    module = Block().eval()
    g = from_torch(module, (6, 16))
    assert g.params == sum(p.numel() for p in module.parameters())
    x = torch.randn(3, 6, 16)
    with torch.no_grad():
        assert torch.allclose(to_torch(g).eval()(x), module(x), atol=1e-5)
    assert [g.node(n).op for n in g.nodes()].count("softmax") == 2
