"""One zoo row: a reference model through from_torch and ONNX, against torch and ONNX Runtime.

Shared by ``tests/zoo/test_zoo.py`` and ``benchmarks/zoo.py`` (which writes the table).
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nas.graph import Graph, from_torch, import_onnx, to_torch

from .models import ZOO


def predictor_scorer() -> Any:
    """``graph -> float``: a small GENNAPE predictor fitted on 12 NAS-Bench-Macro graphs
    (target log params), to show that foreign graphs featurize and score."""
    import math

    from nas.predictors import GennapePredictor, PredictorConfig
    from nas.space import get_space

    space = get_space("nb_macro")
    rng = np.random.default_rng(0)
    graphs = [space.compile(space.sample(rng)) for _ in range(12)]
    model = GennapePredictor(PredictorConfig(hidden=8, layers=1, emb_dim=8, epochs=2))
    model.fit(graphs, [math.log(g.params) for g in graphs])
    return lambda g: float(model.predict([g]).mean[0])


def _max_diff(a: torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    return float(np.max(np.abs(a.numpy() - np.asarray(b))))


def _onnx(module: nn.Module, shape: tuple[int, ...], path: Path) -> Path:
    """torch.onnx as a user calls it, except that BatchNorm is kept (not folded into Conv), so
    the imported graph can be held to the published parameter count."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.zeros(1, *shape),),
            str(path),
            dynamo=False,
            do_constant_folding=False,
            opset_version=17,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        )
    return path


def zoo_row(name: str, *, image: int = 224, score: Any = None) -> dict[str, Any]:
    """Import model ``name`` both ways and measure it at batch 1.

    Args:
        name: A key of :data:`ZOO`.
        image: Input resolution (ViT-B/16 needs 224: its positional embedding fixes it).
        score: Optional ``graph -> float`` (a predictor's score of the imported graph).
    """
    import onnxruntime as ort

    build, published = ZOO[name]
    shape = (3, image, image)
    torch.manual_seed(0)
    module = build().eval()
    x = torch.randn(1, *shape)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        want = module(x)
    g: Graph = from_torch(module, shape, name=name)
    with torch.no_grad():
        diff_torch = _max_diff(to_torch(g).eval()(x), want)
    with tempfile.TemporaryDirectory() as tmp:
        path = _onnx(module, shape, Path(tmp) / f"{name}.onnx")
        del module
        back = import_onnx(path, name=name)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        (ref,) = sess.run(None, {"input": x.numpy()})
    with torch.no_grad():
        diff_onnx = _max_diff(to_torch(back).eval()(x), ref)
    row = {
        "model": name,
        "input": list(shape),
        "params_published": published,
        "params_ir": g.params,
        "params_ir_onnx": back.params,
        "flops_ir": g.flops,
        "flops_torch_half": counter.get_total_flops() // 2,
        "from_torch_max_diff": diff_torch,
        "onnx_max_diff": diff_onnx,
        "same_graph_both_ways": back.graph_hash() == g.graph_hash(),
        "output_scale": float(want.abs().max()),
    }
    if score is not None:
        row["predictor_score"] = float(score(g))
    return row
