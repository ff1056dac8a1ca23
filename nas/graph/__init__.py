"""The IR graph: ops, shapes, params and FLOPs without torch; torch and ONNX are backends.

A search-space candidate compiles into a :class:`Graph` by calling :meth:`Graph.add`; every add
infers the node's shape, params and FLOPs from the op registry (:func:`register_op`), so a
million candidates compile without allocating a tensor. ``import nas.graph`` never imports torch,
onnx or onnxruntime; the backends import them when called.

Conventions:

* Shapes are per sample, batch dim excluded: ``(C, L)``, ``(C, H, W)``, ``(F,)``.
* FLOPs = multiply-accumulates (MACs) of conv and linear layers only, for one sample, bias adds
  excluded (the NAS-Bench-Macro convention); ``torch.utils.flop_counter.FlopCounterMode`` reports
  ``2 * graph.flops`` at batch 1.
* Params = the sum of ``p.numel()`` over the lowered module's parameters (batch-norm running
  statistics are buffers, not params). Zero-fed and dead nodes count: benchmarks count them.
* ``graph_hash`` describes the live inference function (see ``nas.graph._hash``): zero ops,
  identity/dropout and dead nodes do not change it; node names and insertion order never do.

Example:
    >>> from nas.graph import Graph
    >>> g = Graph("block")
    >>> x = g.add_input((16, 8, 8))
    >>> y = g.add("conv2d", x, out_channels=16, kernel_size=3, padding=1)
    >>> y = g.add("batch_norm", y)
    >>> g.set_outputs(g.add("add", [g.add("relu", y), x]))
    >>> g.shape(g.outputs[0]), g.params, g.flops
    ((16, 8, 8), 2336, 147456)
"""

from __future__ import annotations

from nas.graph import _catalogue  # noqa: F401  (registers the built-in ops)
from nas.graph._graph import Graph, Node
from nas.graph._hash import graph_hash
from nas.graph._ops import (
    REQUIRED,
    OnnxNode,
    OpSpec,
    Shape,
    TorchCall,
    get_op,
    list_ops,
    register_op,
    unregister_op,
)
from nas.graph.builders import depthwise_conv, multi_head_attention, squeeze_excite
from nas.graph.onnx_backend import export_onnx, import_onnx, onnx_check
from nas.graph.torch_backend import from_torch, to_torch

__all__ = [
    "REQUIRED",
    "Graph",
    "Node",
    "OnnxNode",
    "OpSpec",
    "Shape",
    "TorchCall",
    "depthwise_conv",
    "export_onnx",
    "from_torch",
    "get_op",
    "graph_hash",
    "import_onnx",
    "list_ops",
    "multi_head_attention",
    "onnx_check",
    "register_op",
    "squeeze_excite",
    "to_torch",
    "unregister_op",
]
