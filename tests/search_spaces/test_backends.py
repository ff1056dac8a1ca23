"""Every built-in and custom space: the IR agrees with torch, FlopCounterMode and ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from nas.graph import export_onnx, import_onnx, onnx_check, to_torch
from nas.space import get_space

from ..space.custom_spaces import CUSTOM_SPACES

SPACES = [
    "nb201",
    "nb_macro",
    "mobilenet",
    "resnet",
    "cnn1d",
    "mlp",
    "t_cells",
    "t_branches",
    "t_conditional",
]


def _space(name: str):  # type: ignore[no-untyped-def]
    return CUSTOM_SPACES[name]() if name in CUSTOM_SPACES else get_space(name)


@pytest.mark.parametrize("name", SPACES)
@pytest.mark.parametrize("seed", [0, 1])
def test_ir_matches_torch_flops_and_onnx(name: str, seed: int, tmp_path: Path) -> None:
    torch.manual_seed(seed)
    space = _space(name)
    arch = space.sample(np.random.default_rng(seed))
    graph = space.compile(arch)
    graph.validate()
    module = to_torch(graph).eval()
    x = torch.randn(2, *space.input_shape)
    with torch.no_grad():
        y = module(x)
    assert tuple(y.shape[1:]) == graph.shape(graph.outputs[0])
    assert graph.params == sum(p.numel() for p in module.parameters())
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(x[:1])
    assert 2 * graph.flops == counter.get_total_flops()
    path = export_onnx(graph, tmp_path / f"{name}.onnx")
    assert onnx_check(graph, path) < 1e-4
    back = import_onnx(path)
    assert back.graph_hash() == graph.graph_hash()
    assert back.flops == graph.flops
