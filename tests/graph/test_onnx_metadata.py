"""ONNX export metadata: `export_onnx(metadata=...)` writes `metadata_props` that read back."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from nas.errors import GraphError
from nas.graph import Graph, export_onnx


def _graph() -> Graph:
    g = Graph()
    x = g.add_input((4,))
    g.set_outputs(g.add("linear", x, out_features=2))
    return g


def test_metadata_reads_back_with_onnx_and_onnxruntime(tmp_path) -> None:
    meta = {"space": "s", "arch": '{"a":1}', "metrics": '{"val_accuracy": 91.5}'}
    path = export_onnx(_graph(), tmp_path / "g.onnx", metadata=meta)
    assert {p.key: p.value for p in onnx.load(str(path)).metadata_props} == meta
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_modelmeta().custom_metadata_map == meta
    out = session.run(None, {"input": np.ones((3, 4), dtype=np.float32)})[0]
    assert out.shape == (3, 2)  # the model itself is intact


def test_a_trained_module_exports_its_own_weights(tmp_path) -> None:
    module = torch.nn.Linear(4, 2)
    with torch.no_grad():
        module.weight.fill_(0.5)
        module.bias.fill_(-1.0)
    path = export_onnx(module, tmp_path / "m.onnx", input_shape=(4,), metadata={"k": "v"})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run(None, {"input": np.ones((1, 4), dtype=np.float32)})[0]
    np.testing.assert_allclose(out, [[1.0, 1.0]], atol=1e-6)


def test_metadata_values_must_be_strings(tmp_path) -> None:
    with pytest.raises(GraphError, match="must be str"):
        export_onnx(_graph(), tmp_path / "g.onnx", metadata={"epoch": 3})  # type: ignore[dict-item]
    assert not (tmp_path / "g.onnx").exists()  # checked before anything is written
