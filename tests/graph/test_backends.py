"""Composite graphs against real torch and real ONNX Runtime.

Every registered op goes through the same checks one by one in ``tests/test_conformance.py``.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from nas.graph import Graph, import_onnx, onnx_check, to_torch

from ._graph_cases import COMPOSITES

CASES = [pytest.param(build, id=name) for name, build in COMPOSITES.items()]


@pytest.mark.parametrize("build", CASES)
def test_graph_matches_torch_and_onnx(build, tmp_path) -> None:
    torch.manual_seed(0)
    g: Graph = build()
    g.validate()
    module = to_torch(g).eval()

    # params: exactly the lowered module's numel
    assert g.params == sum(p.numel() for p in module.parameters())

    # shape and FLOPs at batch 1 (FlopCounterMode counts 2 x MACs)
    x = torch.randn(1, *g.shape(g.inputs[0]))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        y = module(x)
    assert tuple(y.shape[1:]) == g.shape(g.outputs[0])
    assert 2 * g.flops == counter.get_total_flops()

    # ONNX Runtime agrees with torch; the exported file imports back to the same graph
    path = tmp_path / "g.onnx"
    onnx_check(module, path, input_shape=g.shape(g.inputs[0]))
    back = import_onnx(path)
    assert back.graph_hash() == g.graph_hash()
    assert (back.params, back.flops) == (g.params, g.flops)
    assert back.shape(back.outputs[0]) == g.shape(g.outputs[0])


def test_lowering_uses_submodules_and_functions() -> None:
    gm = to_torch(COMPOSITES["residual_cnn"]())
    kinds = {n.op for n in gm.graph.nodes}
    assert {"call_module", "call_function"} <= kinds
    assert "c1" in dict(gm.named_modules())
    # identity produces no fx node
    g = Graph()
    x = g.add_input((3,))
    g.set_outputs(g.add("identity", g.add("relu", x)))
    assert [n.op for n in to_torch(g).graph.nodes] == ["placeholder", "call_function", "output"]


def test_dynamic_batch_and_multiple_outputs(tmp_path) -> None:
    g = Graph()
    x = g.add_input((4, 6))
    a = g.add("conv1d", x, out_channels=2, kernel_size=3)
    g.set_outputs(a, g.add("flatten", x))
    module = to_torch(g)
    out = module(torch.randn(5, 4, 6))
    assert [tuple(o.shape) for o in out] == [(5, 2, 4), (5, 24)]
    assert onnx_check(g, tmp_path / "m.onnx", batch=7) < 1e-5
    back = import_onnx(tmp_path / "m.onnx")
    assert back.graph_hash() == g.graph_hash()
