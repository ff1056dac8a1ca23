"""Built-in tensor and sequence ops: the pieces of attention and of a transformer.

Per-sample conventions as everywhere (batch excluded): a token sequence is ``(L, D)``, so
``linear`` and ``layer_norm`` act on tokens, and every ``dim``/``perm``/``axis`` attribute names a
per-sample dim (``0`` is the first dim after the batch). Multi-head self-attention is the builder
:func:`nas.graph.multi_head_attention` over these pieces (like ``depthwise_conv``), so an exported
attention block imports back to the same graph. FLOPs count the MACs torch's FLOP counter sees:
``matmul`` counts ``prod(out) * k``; embeddings, softmax and elementwise ops count nothing. For
attention that is the four projections plus ``q k^T`` and ``weights @ v``, what the counter
reports for ``nn.MultiheadAttention``'s math path and, by its ``sdpa_flop`` rule, for the fused
SDPA kernels; two of torch's CPU paths are invisible to the counter (the eval-mode
``_native_multi_head_attention`` fast path counts 0, the CPU flash kernel has no formula), so
compare there in train mode (``tests/graph/test_attention_flops.py``).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from typing import Any

from nas.errors import GraphError
from nas.graph._catalogue import _broadcast
from nas.graph._ops import REQUIRED, OnnxNode, OpSpec, Shape, TorchCall, register_op

__all__: list[str] = []

Attrs = Mapping[str, Any]
Shapes = tuple[Shape, ...]


def _dim(value: Any, rank: int, what: str) -> int:
    """A per-sample dim (negative counts from the end) -> its index in ``[0, rank)``."""
    if isinstance(value, bool) or not isinstance(value, int) or not -rank <= value < rank:
        raise GraphError(
            f"attr {what!r} must be a per-sample dim in [{-rank}, {rank}), got {value!r}"
        )
    return value % rank


def _onnx_axis(node: OnnxNode, axis: int) -> int | None:
    """A full-tensor ONNX axis -> the per-sample dim, or ``None`` for the batch axis."""
    rank = len(node.shapes[min(node.shapes)]) + 1
    full = axis % rank
    return None if full == 0 else full - 1


def _scalar(value: Any) -> float | None:
    return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None


# --------------------------------------------------------------------------- matmul
def _matmul_shape(in_shapes: Shapes, a: Attrs) -> Shape:
    x, y = in_shapes
    if len(x) < 2 or len(y) < 2:
        raise GraphError(f"expects two inputs of rank >= 2 (per sample), got {x} and {y}")
    if x[-1] != y[-2]:
        raise GraphError(
            f"inner dims differ: {x} @ {y}; the last dim of the first must equal "
            f"the second-to-last of the second"
        )
    lead = _broadcast((x[:-2], y[:-2]), "matmul") if len(x) == len(y) else None
    if lead is None:
        raise GraphError(f"inputs {x} and {y} must have the same rank")
    return (*lead, x[-2], y[-1])


def _call(fn: str, **kwargs: Any) -> Any:
    """A lowering to ``torch.<fn>(x, **kwargs)``, with kwargs computed from the attrs."""

    def to_torch(in_shapes: Shapes, out: Shape, a: Attrs) -> TorchCall:
        import torch

        return TorchCall(getattr(torch, fn), {k: f(a) for k, f in kwargs.items()})

    return to_torch


register_op(
    OpSpec(
        name="matmul",
        arity=2,
        infer_shape=_matmul_shape,
        flops=lambda s, o, a: math.prod(o) * s[0][-1],
        to_torch=_call("matmul"),
        zero_preserving=True,
        onnx_op_types=("MatMul",),
        from_onnx=lambda n: {} if n.data_inputs == (0, 1) else None,
        description="Batched matrix product of two IR values: (..., n, k) @ (..., k, m).",
    )
)


# --------------------------------------------------------------------------- softmax
def _softmax_normalize(in_shapes: Shapes, a: dict[str, Any]) -> dict[str, Any]:
    if not in_shapes[0]:
        raise GraphError("expects an input of rank >= 1")
    return {"dim": _dim(a["dim"], len(in_shapes[0]), "dim")}


def _softmax_from_onnx(node: OnnxNode) -> dict[str, Any] | None:
    if node.data_inputs != (0,):
        return None
    dim = _onnx_axis(node, int(node.attrs.get("axis", -1)))
    return None if dim is None else {"dim": dim}


register_op(
    OpSpec(
        name="softmax",
        defaults={"dim": -1},
        infer_shape=lambda s, a: s[0],
        normalize=_softmax_normalize,
        to_torch=_call("softmax", dim=lambda a: a["dim"] + 1),
        onnx_op_types=("Softmax",),
        from_onnx=_softmax_from_onnx,
        description="Softmax along one per-sample dim (the attention weights).",
    )
)


# --------------------------------------------------------------------------- transpose
def _transpose_normalize(in_shapes: Shapes, a: dict[str, Any]) -> dict[str, Any]:
    rank = len(in_shapes[0])
    perm = a["perm"]
    if not isinstance(perm, tuple) or sorted(perm) != list(range(rank)):
        raise GraphError(f"attr 'perm' must be a permutation of range({rank}), got {perm!r}")
    return {"perm": tuple(int(p) for p in perm)}


def _transpose_from_onnx(node: OnnxNode) -> dict[str, Any] | None:
    perm = node.attrs.get("perm")
    if node.data_inputs != (0,) or perm is None or perm[0] != 0:
        return None
    return {"perm": tuple(int(p) - 1 for p in perm[1:])}


register_op(
    OpSpec(
        name="transpose",
        defaults={"perm": REQUIRED},
        infer_shape=lambda s, a: tuple(s[0][p] for p in a["perm"]),
        normalize=_transpose_normalize,
        to_torch=_call("permute", dims=lambda a: (0, *(p + 1 for p in a["perm"]))),
        zero_preserving=True,
        onnx_op_types=("Transpose",),
        from_onnx=_transpose_from_onnx,
        description="Permute the per-sample dims: perm=(1, 0) turns (C, L) into (L, C).",
    )
)


# --------------------------------------------------------------------------- reshape
def _reshape_normalize(in_shapes: Shapes, a: dict[str, Any]) -> dict[str, Any]:
    size = math.prod(in_shapes[0])
    shape = a["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(d, int) for d in shape):
        raise GraphError(f"attr 'shape' must be a tuple of ints, got {shape!r}")
    if shape.count(-1) > 1 or any(d < -1 or d == 0 for d in shape):
        raise GraphError(f"attr 'shape' {shape} may hold one -1 and otherwise positive dims")
    known = math.prod(d for d in shape if d != -1)
    if -1 in shape:
        if size % known:
            raise GraphError(f"cannot reshape {size} elements into {shape}")
        shape = tuple(size // known if d == -1 else d for d in shape)
    if math.prod(shape) != size:
        raise GraphError(f"cannot reshape {in_shapes[0]} ({size} elements) into {shape}")
    return {"shape": shape}


def _reshape_from_onnx(node: OnnxNode) -> dict[str, Any] | None:
    target = node.const(1)
    if node.data_inputs != (0,) or target is None or node.attrs.get("allowzero", 0):
        return None
    shape = node.per_sample(target, math.prod(node.shapes[0]))
    return None if shape is None or len(shape) < 2 else {"shape": shape}


register_op(
    OpSpec(
        name="reshape",
        defaults={"shape": REQUIRED},
        infer_shape=lambda s, a: a["shape"],
        normalize=_reshape_normalize,
        to_torch=_call("reshape", shape=lambda a: (-1, *a["shape"])),
        zero_preserving=True,
        onnx_op_types=("Reshape",),
        from_onnx=_reshape_from_onnx,
        description="Reshape per sample (one -1 allowed, resolved); to rank 1 use 'flatten'.",
    )
)


# --------------------------------------------------------------------------- slice
def _slice_normalize(in_shapes: Shapes, a: dict[str, Any]) -> dict[str, Any]:
    shape = in_shapes[0]
    axis = _dim(a["axis"], len(shape), "axis")
    start, end = a["start"], a["end"]
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= shape[axis]):
        raise GraphError(
            f"attrs start={start!r}, end={end!r} must satisfy 0 <= start < end <= {shape[axis]}"
        )
    return {"axis": axis, "start": start, "end": end}


def _slice_shape(in_shapes: Shapes, a: Attrs) -> Shape:
    shape = list(in_shapes[0])
    shape[a["axis"]] = a["end"] - a["start"]
    return tuple(shape)


def _slice_from_onnx(node: OnnxNode) -> dict[str, Any] | None:
    if node.data_inputs != (0,) or node.n_inputs < 4:
        return None
    starts, ends, axes = node.const(1), node.const(2), node.const(3)
    steps = node.const(4) if node.n_inputs > 4 else None
    if starts is None or ends is None or axes is None or starts.size != 1:
        return None
    if steps is not None and _scalar(steps) != 1:
        return None
    axis = _onnx_axis(node, int(axes.reshape(-1)[0]))
    if axis is None:
        return None
    size = node.shapes[0][axis]
    start, end = int(starts.reshape(-1)[0]), int(ends.reshape(-1)[0])
    start, end = start + size if start < 0 else start, end + size if end < 0 else min(end, size)
    return {"axis": axis, "start": start, "end": end}


register_op(
    OpSpec(
        name="slice",
        defaults={"axis": 0, "start": REQUIRED, "end": REQUIRED},
        infer_shape=_slice_shape,
        normalize=_slice_normalize,
        to_torch=_call(
            "narrow",
            dim=lambda a: a["axis"] + 1,
            start=lambda a: a["start"],
            length=lambda a: a["end"] - a["start"],
        ),
        zero_preserving=True,
        onnx_op_types=("Slice", "nas.Split"),
        from_onnx=_slice_from_onnx,
        description="x[start:end] along one per-sample axis (ShuffleNetV2's channel split).",
    )
)


# --------------------------------------------------------------------------- scalar multiply
def _mul_scalar_from_onnx(node: OnnxNode) -> dict[str, Any] | None:
    if node.n_inputs != 2 or len(node.data_inputs) != 1:
        return None
    data = node.data_inputs[0]
    value = _scalar(node.const(1 - data))
    if value is None or value == 0.0 or (node.op_type == "Div" and data != 0):
        return None
    return {"value": 1.0 / value if node.op_type == "Div" else value}


def _float32(value: Any) -> float:
    """Tensors multiply by the scalar as float32; keeping it so makes ONNX and torch agree."""
    return float(struct.unpack("f", struct.pack("f", float(value)))[0])


register_op(
    OpSpec(
        name="mul_scalar",
        defaults={"value": REQUIRED},
        infer_shape=lambda s, a: s[0],
        normalize=lambda s, a: {"value": _float32(a["value"])},
        to_torch=_call("mul", other=lambda a: a["value"]),
        zero_preserving=True,
        onnx_op_types=("Mul", "Div"),
        from_onnx=_mul_scalar_from_onnx,
        description="x * value for a constant scalar (attention's 1/sqrt(d) scaling).",
    )
)


# --------------------------------------------------------------------------- embeddings
def _embedding_torch(in_shapes: Shapes, out: Shape, a: Attrs) -> Any:
    import torch

    class Embedding(torch.nn.Embedding):
        """Ids arrive as floats (every IR input is one) and are cast to long."""

        def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (batch, L) -> (batch, L, D)
            return super().forward(ids.long())

    return Embedding(a["vocab"], a["dim"])


def _embedding_normalize(in_shapes: Shapes, a: dict[str, Any]) -> dict[str, Any]:
    if len(in_shapes[0]) != 1:
        raise GraphError(f"expects a (L,) sequence of token ids per sample, got {in_shapes[0]}")
    for key in ("vocab", "dim"):
        if not isinstance(a[key], int) or a[key] < 1:
            raise GraphError(f"attr {key!r} must be a positive int, got {a[key]!r}")
    return {"vocab": a["vocab"], "dim": a["dim"]}


def _embedding_from_onnx(node: OnnxNode) -> dict[str, Any] | None:
    w = node.const(0)
    if node.data_inputs != (1,) or w is None or w.ndim != 2 or node.attrs.get("axis", 0):
        return None
    return {"vocab": int(w.shape[0]), "dim": int(w.shape[1])}


def _embedding_from_torch(m: Any) -> dict[str, Any] | None:
    from torch import nn

    if not isinstance(m, nn.Embedding) or m.padding_idx is not None or m.max_norm is not None:
        return None
    return {"vocab": m.num_embeddings, "dim": m.embedding_dim}


register_op(
    OpSpec(
        name="embedding",
        defaults={"vocab": REQUIRED, "dim": REQUIRED},
        infer_shape=lambda s, a: (s[0][0], a["dim"]),
        normalize=_embedding_normalize,
        params=lambda s, o, a: a["vocab"] * a["dim"],
        to_torch=_embedding_torch,
        onnx_op_types=("Gather",),
        from_onnx=_embedding_from_onnx,
        from_torch=_embedding_from_torch,
        onnx_weights=lambda n, a: {"weight": n.const(0)},
        description="Token embedding: (L,) integer ids -> (L, dim) vectors.",
    )
)


def _learned_tensor(shape: tuple[int, ...], std: float) -> Any:
    import torch

    return torch.nn.Parameter(torch.randn(*shape) * std)


def _pos_torch(in_shapes: Shapes, out: Shape, a: Attrs) -> Any:
    import torch

    class PositionalEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = _learned_tensor((1, *in_shapes[0]), 0.02)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, L, D)
            return x + self.weight

    return PositionalEmbedding()


def _pos_from_onnx(node: OnnxNode) -> dict[str, Any] | None:
    if node.n_inputs != 2 or len(node.data_inputs) != 1:
        return None
    w, shape = node.const(1 - node.data_inputs[0]), node.shapes[node.data_inputs[0]]
    return {} if w is not None and w.shape == (1, *shape) and len(shape) == 2 else None


register_op(
    OpSpec(
        name="pos_embedding",
        infer_shape=lambda s, a: s[0],
        normalize=lambda s, a: _check_tokens(s, a),
        params=lambda s, o, a: math.prod(s[0]),
        to_torch=_pos_torch,
        onnx_op_types=("Add",),
        from_onnx=_pos_from_onnx,
        onnx_weights=lambda n, a: {"weight": n.const(1 - n.data_inputs[0])},
        description="Learned positional embedding added to an (L, D) sequence.",
    )
)


def _check_tokens(in_shapes: Shapes, a: dict[str, Any]) -> dict[str, Any]:
    if len(in_shapes[0]) != 2:
        raise GraphError(f"expects an (L, D) token sequence per sample, got {in_shapes[0]}")
    return a


def _cls_torch(in_shapes: Shapes, out: Shape, a: Attrs) -> Any:
    import torch

    class ClassToken(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = _learned_tensor((1, 1, in_shapes[0][1]), 0.02)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, L, D) -> (batch, L+1, D)
            return torch.cat([self.weight.expand(x.shape[0], -1, -1), x], dim=1)

    return ClassToken()


def _cls_from_onnx(node: OnnxNode) -> dict[str, Any] | None:
    w = node.const(0)
    if node.data_inputs != (1,) or w is None or node.n_inputs != 2:
        return None
    shape = node.shapes[1]
    ok = len(shape) == 2 and w.shape == (1, 1, shape[1]) and node.attrs.get("axis") in (1, -2)
    return {} if ok else None


register_op(
    OpSpec(
        name="class_token",
        infer_shape=lambda s, a: (s[0][0] + 1, s[0][1]),
        normalize=lambda s, a: _check_tokens(s, a),
        params=lambda s, o, a: s[0][1],
        to_torch=_cls_torch,
        onnx_op_types=("Concat",),
        from_onnx=_cls_from_onnx,
        onnx_weights=lambda n, a: {"weight": n.const(0)},
        description="Prepend a learned class token: (L, D) -> (L + 1, D) (ViT).",
    )
)


def _layer_scale_torch(in_shapes: Shapes, out: Shape, a: Attrs) -> Any:
    import torch

    class LayerScale(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(in_shapes[0][-1]))

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, ..., D)
            return x * self.weight

    return LayerScale()


def _layer_scale_from_onnx(node: OnnxNode) -> dict[str, Any] | None:
    if node.n_inputs != 2 or len(node.data_inputs) != 1:
        return None
    w, shape = node.const(1 - node.data_inputs[0]), node.shapes[node.data_inputs[0]]
    return {} if w is not None and w.shape == (shape[-1],) and w.size > 1 else None


register_op(
    OpSpec(
        name="layer_scale",
        infer_shape=lambda s, a: s[0],
        params=lambda s, o, a: s[0][-1],
        to_torch=_layer_scale_torch,
        zero_preserving=True,
        onnx_op_types=("Mul",),
        from_onnx=_layer_scale_from_onnx,
        onnx_weights=lambda n, a: {"weight": n.const(1 - n.data_inputs[0])},
        description="Learned per-feature scale over the last dim (ConvNeXt, CaiT).",
    )
)


# --------------------------------------------------------------------------- token reductions
def _token_mean_from_onnx(node: OnnxNode) -> dict[str, Any] | None:
    if node.data_inputs != (0,) or len(node.shapes[0]) != 2 or node.attrs.get("keepdims", 1):
        return None
    axes = node.const(1) if node.n_inputs > 1 else node.attrs.get("axes")
    if axes is None:
        return None
    axes = [int(v) for v in (axes.reshape(-1) if hasattr(axes, "reshape") else axes)]
    return {} if [v % 3 for v in axes] == [1] else None


register_op(
    OpSpec(
        name="token_mean",
        infer_shape=lambda s, a: (s[0][1],),
        normalize=lambda s, a: _check_tokens(s, a),
        to_torch=_call("mean", dim=lambda a: 1),
        zero_preserving=True,
        onnx_op_types=("ReduceMean",),
        from_onnx=_token_mean_from_onnx,
        description="Mean over the tokens: (L, D) -> (D,).",
    )
)


def _select_normalize(in_shapes: Shapes, a: dict[str, Any]) -> dict[str, Any]:
    _check_tokens(in_shapes, a)
    n = in_shapes[0][0]
    if not isinstance(a["index"], int) or not -n <= a["index"] < n:
        raise GraphError(f"attr 'index' must be a token index in [{-n}, {n}), got {a['index']!r}")
    return {"index": a["index"] % n}


def _select_from_onnx(node: OnnxNode) -> dict[str, Any] | None:
    idx = node.const(1)
    if node.data_inputs != (0,) or idx is None or idx.ndim != 0 or len(node.shapes[0]) != 2:
        return None
    if _onnx_axis(node, int(node.attrs.get("axis", 0))) != 0:
        return None
    return {"index": int(idx) % node.shapes[0][0]}


register_op(
    OpSpec(
        name="select_token",
        defaults={"index": 0},
        infer_shape=lambda s, a: (s[0][1],),
        normalize=_select_normalize,
        to_torch=_call("select", dim=lambda a: 1, index=lambda a: a["index"]),
        zero_preserving=True,
        onnx_op_types=("Gather",),
        from_onnx=_select_from_onnx,
        description="One token of an (L, D) sequence -> (D,) (ViT's class token).",
    )
)
