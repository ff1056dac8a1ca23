"""The reference zoo: eleven published models through from_torch and ONNX, with their weights.

CNNs run at 64 x 64 (params do not depend on the resolution; FLOPs are checked at the size
run); ViT-B/16 needs 224 x 224. ConvNeXt-T and ViT-B/16 are large: ``slow``, batch 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from nas.graph import Graph

from .check import predictor_scorer, zoo_row
from .models import LARGE, ZOO


@pytest.fixture(scope="module")
def score() -> Callable[[Graph], float]:
    return predictor_scorer()


CASES = [pytest.param(n, marks=pytest.mark.slow) if n in LARGE else n for n in ZOO]


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_zoo_model_imports_with_weights(name: str, score: Callable[[Graph], float]) -> None:
    row = zoo_row(name, image=224 if name == "vit_b_16" else 64, score=score)
    published = ZOO[name][1]
    assert row["params_ir"] == published, "from_torch params vs the published count"
    assert row["params_ir_onnx"] == published, "ONNX import params vs the published count"
    assert row["flops_ir"] == row["flops_torch_half"], "IR MACs vs FlopCounterMode / 2"
    assert row["from_torch_max_diff"] <= 1e-5
    assert row["onnx_max_diff"] <= 1e-5
    assert row["same_graph_both_ways"]
    assert math.isfinite(row["predictor_score"])
