"""Built-in ops, registered through :func:`register_op` exactly like a user's op.

Conventions (the whole package follows them):

* Shapes are per sample, batch dim excluded: ``(C, L)`` for 1-D, ``(C, H, W)`` for 2-D, ``(F,)``.
* FLOPs are multiply-accumulates (MACs) of conv and linear layers only, for one sample, bias adds
  excluded (the NAS-Bench-Macro convention). ``torch.utils.flop_counter.FlopCounterMode`` counts
  2 x MACs for conv and matmul, so ``2 * graph.flops`` equals its total at batch 1.
* Params are exactly the sum of ``p.numel()`` of the lowered module's parameters (batch-norm affine
  weights count, running statistics do not).
* Depthwise convolution is ``conv2d``/``conv1d`` with ``groups == in_channels`` (use
  :func:`nas.graph.depthwise_conv`), so it round-trips through ONNX ``Conv`` unchanged.

Families in their own modules, registered at the end of this one: pooling (``_ops_pool``),
tensor and sequence ops (``_ops_tensor``), upsampling / transposed conv / shuffle
(``_ops_vision``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from nas.errors import GraphError
from nas.graph._ops import REQUIRED, OnnxNode, OpSpec, Shape, TorchCall, register_op

__all__: list[str] = []

Attrs = Mapping[str, Any]
Shapes = tuple[Shape, ...]


# --------------------------------------------------------------------------- attribute helpers
def _tup(value: Any, nd: int, what: str, *, minimum: int = 1) -> tuple[int, ...]:
    """An int or an nd-tuple of ints -> nd-tuple, each >= minimum."""
    items = (value,) * nd if isinstance(value, int) and not isinstance(value, bool) else value
    try:
        out = tuple(int(v) for v in items)
    except TypeError:
        raise GraphError(f"attr {what!r} must be an int or {nd} ints, got {value!r}") from None
    if len(out) != nd or any(v < minimum for v in out) or any(isinstance(v, bool) for v in items):
        raise GraphError(
            f"attr {what!r} must be an int >= {minimum} or {nd} such ints, got {value!r}"
        )
    return out


def _canon(values: tuple[int, ...]) -> int | tuple[int, ...]:
    """Equal entries collapse to one int so ``3`` and ``(3, 3)`` are the same attr."""
    return values[0] if len(set(values)) == 1 else values


def _channels(c_in: int, a: Attrs) -> tuple[int, int]:
    """A convolution's ``(out_channels, groups)``: positive ints, groups dividing both widths."""
    out_c, groups = a["out_channels"], a["groups"]
    if isinstance(out_c, bool) or not isinstance(out_c, int) or out_c < 1:
        raise GraphError(f"attr 'out_channels' must be a positive int, got {out_c!r}")
    if (
        isinstance(groups, bool)
        or not isinstance(groups, int)
        or groups < 1
        or c_in % groups
        or out_c % groups
    ):
        raise GraphError(
            f"attr 'groups'={groups!r} must divide in_channels={c_in} and out_channels={out_c}"
        )
    return out_c, groups


def _rank(in_shapes: Shapes, ranks: tuple[int, ...], what: str) -> Shape:
    shape = in_shapes[0]
    if len(shape) not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise GraphError(f"expects a rank-{want} input (per sample, batch excluded), got {shape}")
    return shape


def _window_out(size: int, k: int, s: int, p: int, d: int, dim: int, shape: Shape) -> int:
    out = (size + 2 * p - d * (k - 1) - 1) // s + 1
    if out < 1:
        raise GraphError(
            f"input {shape} is too small along dim {dim} for kernel {k} (dilation {d}, padding {p}); "
            f"use a larger input, more padding or a smaller kernel"
        )
    return out


def _onnx_pads(node: OnnxNode, nd: int) -> tuple[int, ...] | None:
    pads = list(node.attrs.get("pads", [0] * (2 * nd)))
    if node.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", b"NOTSET") or pads[:nd] != pads[nd:]:
        return None  # asymmetric padding has no IR equivalent
    return tuple(pads[:nd])


def _round(x: float) -> float:
    """ONNX stores float32; round so 1e-5 comes back as 1e-5, not 9.99999974e-06."""
    return float(f"{float(x):.6g}")


# --------------------------------------------------------------------------- convolution
def _conv_normalize(nd: int):
    def normalize(in_shapes: Shapes, a: dict[str, Any]) -> dict[str, Any]:
        c_in = _rank(in_shapes, (nd + 1,), f"conv{nd}d")[0]
        k = _tup(a["kernel_size"], nd, "kernel_size")
        d = _tup(a["dilation"], nd, "dilation")
        if a["padding"] == "same":
            if any(di * (ki - 1) % 2 for ki, di in zip(k, d)):
                raise GraphError(
                    f"padding='same' needs an odd effective kernel, got kernel_size={a['kernel_size']}"
                    f", dilation={a['dilation']}; give an explicit padding"
                )
            p = tuple(di * (ki - 1) // 2 for ki, di in zip(k, d))
        else:
            p = _tup(a["padding"], nd, "padding", minimum=0)
        out_c, groups = _channels(c_in, a)
        return {
            "out_channels": out_c,
            "kernel_size": _canon(k),
            "stride": _canon(_tup(a["stride"], nd, "stride")),
            "padding": _canon(p),
            "dilation": _canon(d),
            "groups": groups,
            "bias": bool(a["bias"]),
        }

    return normalize


def _conv_shape(nd: int):
    def infer(in_shapes: Shapes, a: Attrs) -> Shape:
        shape = in_shapes[0]
        k, s = _tup(a["kernel_size"], nd, "k"), _tup(a["stride"], nd, "s")
        p, d = _tup(a["padding"], nd, "p", minimum=0), _tup(a["dilation"], nd, "d")
        spatial = tuple(
            _window_out(shape[i + 1], k[i], s[i], p[i], d[i], i + 1, shape) for i in range(nd)
        )
        return (a["out_channels"], *spatial)

    return infer


def _conv_params(nd: int):
    def params(in_shapes: Shapes, out: Shape, a: Attrs) -> int:
        k = math.prod(_tup(a["kernel_size"], nd, "k"))
        return a["out_channels"] * (in_shapes[0][0] // a["groups"]) * k + (
            a["out_channels"] if a["bias"] else 0
        )

    return params


def _conv_flops(nd: int):
    def flops(in_shapes: Shapes, out: Shape, a: Attrs) -> int:
        k = math.prod(_tup(a["kernel_size"], nd, "k"))
        return math.prod(out) * (in_shapes[0][0] // a["groups"]) * k

    return flops


def _conv_torch(nd: int):
    def to_torch(in_shapes: Shapes, out: Shape, a: Attrs) -> Any:
        from torch import nn

        cls = nn.Conv1d if nd == 1 else nn.Conv2d
        return cls(
            in_shapes[0][0],
            a["out_channels"],
            a["kernel_size"],
            stride=a["stride"],
            padding=a["padding"],
            dilation=a["dilation"],
            groups=a["groups"],
            bias=a["bias"],
        )

    return to_torch


def _conv_from_onnx(nd: int):
    def hook(node: OnnxNode) -> dict[str, Any] | None:
        w = node.const(1)
        if w is None or w.ndim != nd + 2 or node.data_inputs != (0,):
            return None
        pads = _onnx_pads(node, nd)
        if pads is None:
            return None
        return {
            "out_channels": int(w.shape[0]),
            "kernel_size": tuple(int(v) for v in w.shape[2:]),
            "stride": tuple(node.attrs.get("strides", [1] * nd)),
            "padding": pads,
            "dilation": tuple(node.attrs.get("dilations", [1] * nd)),
            "groups": int(node.attrs.get("group", 1)),
            "bias": node.n_inputs > 2 and node.const(2) is not None,
        }

    return hook


def _conv_from_torch(nd: int):
    def hook(m: Any) -> dict[str, Any] | None:
        from torch import nn

        cls = nn.Conv1d if nd == 1 else nn.Conv2d
        if type(m) is not cls or m.padding_mode != "zeros":
            return None
        return {
            "out_channels": m.out_channels,
            "kernel_size": m.kernel_size,
            "stride": m.stride,
            "padding": m.padding,
            "dilation": m.dilation,
            "groups": m.groups,
            "bias": m.bias is not None,
        }

    return hook


def _conv_features(in_shapes: Shapes, out: Shape, a: Attrs) -> dict[str, float]:
    return {"depthwise": float(a["groups"] > 1 and a["groups"] == in_shapes[0][0])}


CONV_DEFAULTS: Mapping[str, Any] = {
    "out_channels": REQUIRED,
    "kernel_size": REQUIRED,
    "stride": 1,
    "padding": 0,
    "dilation": 1,
    "groups": 1,
    "bias": False,
}


def _conv_weights(node: OnnxNode, a: Attrs) -> dict[str, Any]:
    return {"weight": node.const(1), **({"bias": node.const(2)} if a["bias"] else {})}


for _nd in (1, 2):
    register_op(
        OpSpec(
            name=f"conv{_nd}d",
            arity=1,
            defaults=CONV_DEFAULTS,
            infer_shape=_conv_shape(_nd),
            normalize=_conv_normalize(_nd),
            params=_conv_params(_nd),
            flops=_conv_flops(_nd),
            to_torch=_conv_torch(_nd),
            features=_conv_features,
            zero_preserving=lambda a: not a["bias"],
            onnx_op_types=("Conv",),
            from_onnx=_conv_from_onnx(_nd),
            from_torch=_conv_from_torch(_nd),
            onnx_weights=_conv_weights,
            description=f"{_nd}-D convolution; padding='same' means d*(k-1)/2 on each side.",
        )
    )


# --------------------------------------------------------------------------- linear
def _linear_normalize(in_shapes: Shapes, a: dict[str, Any]) -> dict[str, Any]:
    if not in_shapes[0]:
        raise GraphError("expects an input of rank >= 1")
    if not isinstance(a["out_features"], int) or a["out_features"] < 1:
        raise GraphError(f"attr 'out_features' must be a positive int, got {a['out_features']!r}")
    return {"out_features": a["out_features"], "bias": bool(a["bias"])}


def _linear_torch(in_shapes: Shapes, out: Shape, a: Attrs) -> Any:
    from torch import nn

    return nn.Linear(in_shapes[0][-1], a["out_features"], bias=a["bias"])


def _linear_from_onnx(node: OnnxNode) -> dict[str, Any] | None:
    if node.data_inputs != (0,):
        return None
    w = node.const(1)
    if w is None or w.ndim != 2:
        return None
    if node.op_type == "Gemm":
        at = node.attrs
        if at.get("transA", 0) or at.get("alpha", 1.0) != 1.0 or at.get("beta", 1.0) != 1.0:
            return None
        out_f = w.shape[0] if at.get("transB", 0) else w.shape[1]
    else:  # MatMul or the fused MatMul + Add: weight is (in, out)
        out_f = w.shape[1]
    b = node.const(2) if node.n_inputs > 2 else None
    if b is not None and b.size != out_f:
        return None
    return {"out_features": int(out_f), "bias": b is not None}


def _linear_weights(node: OnnxNode, a: Attrs) -> dict[str, Any]:
    w: Any = node.const(1)  # torch keeps (out, in); Gemm(transB=1) too, MatMul keeps (in, out)
    trans = node.op_type == "Gemm" and node.attrs.get("transB", 0)
    out = {"weight": w if trans else w.T}
    bias: Any = node.const(2)
    return {**out, "bias": bias.reshape(-1)} if a["bias"] else out


def _linear_from_torch(m: Any) -> dict[str, Any] | None:
    from torch import nn

    if type(m) is not nn.Linear:
        return None
    return {"out_features": m.out_features, "bias": m.bias is not None}


register_op(
    OpSpec(
        name="linear",
        defaults={"out_features": REQUIRED, "bias": True},
        infer_shape=lambda s, a: (*s[0][:-1], a["out_features"]),
        normalize=_linear_normalize,
        params=lambda s, o, a: (
            s[0][-1] * a["out_features"] + (a["out_features"] if a["bias"] else 0)
        ),
        flops=lambda s, o, a: math.prod(o) * s[0][-1],
        to_torch=_linear_torch,
        zero_preserving=lambda a: not a["bias"],
        onnx_op_types=("Gemm", "MatMul", "nas.MatMulAdd"),
        from_onnx=_linear_from_onnx,
        from_torch=_linear_from_torch,
        onnx_weights=_linear_weights,
        description="Affine map over the last dim.",
    )
)


# --------------------------------------------------------------------------- normalization
def _bn_normalize(in_shapes: Shapes, a: dict[str, Any]) -> dict[str, Any]:
    _rank(in_shapes, (1, 2, 3), "batch_norm")
    if not a["eps"] > 0 or not 0 <= a["momentum"] <= 1:
        raise GraphError(
            f"attrs eps={a['eps']!r} must be > 0 and momentum={a['momentum']!r} in [0, 1]"
        )
    return {"affine": bool(a["affine"]), "eps": float(a["eps"]), "momentum": float(a["momentum"])}


def _bn_torch(in_shapes: Shapes, out: Shape, a: Attrs) -> Any:
    from torch import nn

    cls = nn.BatchNorm2d if len(in_shapes[0]) == 3 else nn.BatchNorm1d
    return cls(in_shapes[0][0], eps=a["eps"], momentum=a["momentum"], affine=a["affine"])


def _bn_from_onnx(node: OnnxNode) -> dict[str, Any] | None:
    if node.data_inputs != (0,) or node.attrs.get("training_mode", 0):
        return None
    scale, bias = node.const(1), node.const(2)
    # ONNX always carries scale and bias: torch writes affine=False as Constant ones/zeros,
    # affine=True as stored initializers. Ones/zeros that are not stored are not parameters.
    fixed = (
        not node.stored & {1, 2}
        and scale is not None
        and bias is not None
        and bool((scale == 1).all() and (bias == 0).all())
    )
    return {
        "affine": not fixed,
        "eps": _round(node.attrs.get("epsilon", 1e-5)),
        "momentum": _round(1.0 - node.attrs.get("momentum", 0.9)),  # ONNX keeps 1 - torch's
    }


def _bn_weights(node: OnnxNode, a: Attrs) -> dict[str, Any]:
    names = ("weight", "bias", "running_mean", "running_var")
    got = {k: node.const(i + 1) for i, k in enumerate(names)}
    return got if a["affine"] else {k: got[k] for k in names[2:]}


def _bn_from_torch(m: Any) -> dict[str, Any] | None:
    from torch import nn

    if type(m) not in (nn.BatchNorm1d, nn.BatchNorm2d) or not m.track_running_stats:
        return None
    return {"affine": m.affine, "eps": m.eps, "momentum": m.momentum}


register_op(
    OpSpec(
        name="batch_norm",
        defaults={"affine": True, "eps": 1e-5, "momentum": 0.1},
        infer_shape=lambda s, a: s[0],
        normalize=_bn_normalize,
        params=lambda s, o, a: 2 * s[0][0] if a["affine"] else 0,
        to_torch=_bn_torch,
        onnx_op_types=("BatchNormalization",),
        from_onnx=_bn_from_onnx,
        from_torch=_bn_from_torch,
        onnx_weights=_bn_weights,
        description="Batch norm over channels (dim 0); 1d or 2d from the input rank.",
    )
)


def _ln_normalize(in_shapes: Shapes, a: dict[str, Any]) -> dict[str, Any]:
    if not in_shapes[0]:
        raise GraphError("expects an input of rank >= 1")
    if not a["eps"] > 0:
        raise GraphError(f"attr eps must be > 0, got {a['eps']!r}")
    return {"affine": bool(a["affine"]), "eps": float(a["eps"])}


def _ln_torch(in_shapes: Shapes, out: Shape, a: Attrs) -> Any:
    from torch import nn

    return nn.LayerNorm(in_shapes[0][-1], eps=a["eps"], elementwise_affine=a["affine"])


def _ln_from_onnx(node: OnnxNode) -> dict[str, Any] | None:
    if node.data_inputs != (0,) or node.attrs.get("axis", -1) not in (-1, len(node.shapes[0])):
        return None
    # A weight-only LayerNormalization (bias omitted) has no IR equivalent.
    if node.n_inputs < 3 or node.const(2) is None:
        return None
    return {"affine": True, "eps": _round(node.attrs.get("epsilon", 1e-5))}


def _ln_from_torch(m: Any) -> dict[str, Any] | None:
    from torch import nn

    if type(m) is not nn.LayerNorm or len(m.normalized_shape) != 1:
        return None
    if m.elementwise_affine and m.bias is None:
        return None
    return {"affine": m.elementwise_affine, "eps": m.eps}


register_op(
    OpSpec(
        name="layer_norm",
        defaults={"affine": True, "eps": 1e-5},
        infer_shape=lambda s, a: s[0],
        normalize=_ln_normalize,
        params=lambda s, o, a: 2 * s[0][-1] if a["affine"] else 0,
        to_torch=_ln_torch,
        onnx_op_types=("LayerNormalization",),
        from_onnx=_ln_from_onnx,
        from_torch=_ln_from_torch,
        description="Layer norm over the last dim.",
    )
)


# --------------------------------------------------------------------------- activations
def _activation(
    name: str,
    fn_path: str,
    onnx_type: str,
    torch_cls: str,
    *,
    zero_preserving: bool,
    onnx_check: Any = None,
    defaults: Mapping[str, Any] | None = None,
    normalize: Any = None,
) -> None:
    """Register an elementwise, parameter-free op lowered to a torch function."""
    defaults = dict(defaults or {})

    def to_torch(in_shapes: Shapes, out: Shape, a: Attrs) -> TorchCall:
        import importlib

        mod, _, attr = fn_path.rpartition(".")
        return TorchCall(getattr(importlib.import_module(mod), attr), dict(a))

    def from_onnx(node: OnnxNode) -> dict[str, Any] | None:
        if node.data_inputs != (0,):
            return None
        if onnx_check is not None:
            return onnx_check(node)
        return {} if node.n_inputs == 1 else None

    def from_torch(m: Any) -> dict[str, Any] | None:
        from torch import nn

        if type(m) is not getattr(nn, torch_cls):
            return None
        return {k: getattr(m, k) for k in defaults}

    register_op(
        OpSpec(
            name=name,
            defaults=defaults,
            infer_shape=lambda s, a: s[0],
            to_torch=to_torch,
            **({"normalize": normalize} if normalize is not None else {}),
            zero_preserving=zero_preserving,
            onnx_op_types=(onnx_type,),
            from_onnx=from_onnx,
            from_torch=from_torch,
            description=f"Elementwise {name}.",
        )
    )


def _relu6_check(node: OnnxNode) -> dict[str, Any] | None:
    lo, hi = node.const(1), node.const(2)
    if lo is None or hi is None or float(lo) != 0.0 or float(hi) != 6.0:
        return None
    return {}


def _hardsigmoid_check(node: OnnxNode) -> dict[str, Any] | None:
    # torch's hardsigmoid is relu6(x + 3) / 6: ONNX HardSigmoid with alpha 1/6, beta 0.5
    alpha, beta = node.attrs.get("alpha", 0.2), node.attrs.get("beta", 0.5)
    return {} if abs(alpha - 1 / 6) < 1e-6 and beta == 0.5 else None


def _gelu_check(node: OnnxNode) -> dict[str, Any] | None:
    approx = node.attrs.get("approximate", "none")
    return {"approximate": approx.decode() if isinstance(approx, bytes) else approx}


def _gelu_normalize(in_shapes: Shapes, a: dict[str, Any]) -> dict[str, Any]:
    if a["approximate"] not in ("none", "tanh"):
        raise GraphError(f"attr 'approximate' must be 'none' or 'tanh', got {a['approximate']!r}")
    return a


_activation("relu", "torch.nn.functional.relu", "Relu", "ReLU", zero_preserving=True)
_activation(
    "relu6",
    "torch.nn.functional.relu6",
    "Clip",
    "ReLU6",
    zero_preserving=True,
    onnx_check=_relu6_check,
)
_activation(
    "gelu",
    "torch.nn.functional.gelu",
    "Gelu",
    "GELU",
    zero_preserving=True,
    onnx_check=_gelu_check,
    defaults={"approximate": "none"},
    normalize=_gelu_normalize,
)
_activation("silu", "torch.nn.functional.silu", "nas.Silu", "SiLU", zero_preserving=True)
_activation(
    "hardswish", "torch.nn.functional.hardswish", "HardSwish", "Hardswish", zero_preserving=True
)
_activation("sigmoid", "torch.sigmoid", "Sigmoid", "Sigmoid", zero_preserving=False)
_activation(
    "hardsigmoid",
    "torch.nn.functional.hardsigmoid",
    "HardSigmoid",
    "Hardsigmoid",
    zero_preserving=False,
    onnx_check=_hardsigmoid_check,
)
_activation("tanh", "torch.tanh", "Tanh", "Tanh", zero_preserving=True)


# --------------------------------------------------------------------------- merges
def _broadcast(in_shapes: Shapes, what: str) -> Shape:
    ranks = {len(s) for s in in_shapes}
    if len(ranks) > 1:
        raise GraphError(
            f"input shapes {' and '.join(str(s) for s in in_shapes)} have different ranks; "
            f"{what} broadcasts per sample, so make the ranks equal (keepdim=True on a global pool)"
        )
    out = []
    for dims in zip(*in_shapes):
        big = {d for d in dims if d != 1}
        if len(big) > 1:
            if len(in_shapes) == 2 and what == "add":
                raise GraphError(
                    f"input shapes {in_shapes[0]} and {in_shapes[1]} differ; make both branches "
                    f"produce the same shape (a 1x1 conv projection on the shortcut)."
                )
            raise GraphError(
                f"input shapes {', '.join(str(s) for s in in_shapes)} are not broadcast-compatible; "
                f"each dim must match or be 1"
            )
        out.append(big.pop() if big else 1)
    return tuple(out)


def _elementwise_from_onnx(node: OnnxNode) -> dict[str, Any] | None:
    return {} if node.n_inputs >= 2 and len(node.data_inputs) == node.n_inputs else None


def _fold_call(name: str) -> Any:
    def to_torch(in_shapes: Shapes, out: Shape, a: Attrs) -> TorchCall:
        import operator

        if len(in_shapes) == 1:
            return TorchCall(None)
        return TorchCall(getattr(operator, name), inputs="fold")

    return to_torch


register_op(
    OpSpec(
        name="add",
        arity=(1, None),
        infer_shape=lambda s, a: _broadcast(s, "add"),
        to_torch=_fold_call("add"),
        commutative=True,
        zero_preserving=True,
        onnx_op_types=("Add", "Sum"),
        from_onnx=_elementwise_from_onnx,
        description="Sum of n inputs with numpy-style per-sample broadcasting.",
    )
)

register_op(
    OpSpec(
        name="mul",
        arity=(2, None),
        infer_shape=lambda s, a: _broadcast(s, "mul"),
        to_torch=_fold_call("mul"),
        commutative=True,
        zero_preserving=True,
        onnx_op_types=("Mul",),
        from_onnx=_elementwise_from_onnx,
        description="Product with broadcasting, e.g. (C, 1, 1) * (C, H, W) for squeeze-excite.",
    )
)


def _concat_shape(in_shapes: Shapes, a: Attrs) -> Shape:
    first = in_shapes[0]
    if not first or any(len(s) != len(first) or s[1:] != first[1:] for s in in_shapes):
        raise GraphError(
            f"input shapes {', '.join(str(s) for s in in_shapes)} must agree on every dim but "
            f"the channels (dim 0); resize or pool the branches to the same spatial size"
        )
    return (sum(s[0] for s in in_shapes), *first[1:])


def _concat_torch(in_shapes: Shapes, out: Shape, a: Attrs) -> TorchCall:
    import torch

    if len(in_shapes) == 1:
        return TorchCall(None)
    return TorchCall(torch.cat, {"dim": 1}, inputs="list")


def _concat_from_onnx(node: OnnxNode) -> dict[str, Any] | None:
    if len(node.data_inputs) != node.n_inputs:
        return None
    rank = len(node.shapes[0])
    return {} if node.attrs.get("axis") in (1, 1 - (rank + 1)) else None


register_op(
    OpSpec(
        name="concat",
        arity=(1, None),
        infer_shape=_concat_shape,
        to_torch=_concat_torch,
        zero_preserving=True,
        onnx_op_types=("Concat",),
        from_onnx=_concat_from_onnx,
        description="Concatenation along channels (dim 0 per sample); input order matters.",
    )
)


# --------------------------------------------------------------------------- shape-preserving misc
def _identity_from_torch(m: Any) -> dict[str, Any] | None:
    from torch import nn

    return {} if type(m) is nn.Identity else None


register_op(
    OpSpec(
        name="identity",
        infer_shape=lambda s, a: s[0],
        to_torch=lambda s, o, a: TorchCall(None),
        zero_preserving=True,
        hash_transparent=True,
        onnx_op_types=("Identity",),
        from_onnx=lambda n: {} if n.data_inputs == (0,) else None,
        from_torch=_identity_from_torch,
        description="Skip connection; lowered to no node at all.",
    )
)


def _zero_torch(in_shapes: Shapes, out: Shape, a: Attrs) -> TorchCall:
    import torch

    return TorchCall(torch.zeros_like)


def _zero_from_onnx(node: OnnxNode) -> dict[str, Any] | None:
    # x * 0 (how NAS-Bench-201's reference code writes `none`) maps to zero as well.
    c = node.const(1) if node.data_inputs == (0,) else node.const(0)
    if node.n_inputs == 2 and len(node.data_inputs) == 1 and c is not None and c.size == 1:
        return {} if float(c.reshape(-1)[0]) == 0.0 else None
    return {} if node.op_type == "nas.ZerosLike" else None


register_op(
    OpSpec(
        name="zero",
        infer_shape=lambda s, a: s[0],
        to_torch=_zero_torch,
        zero_preserving=True,
        onnx_op_types=("nas.ZerosLike", "Mul"),
        from_onnx=_zero_from_onnx,
        description="Zeros shaped like the input (NAS-Bench-201 'none'); graph_hash drops it.",
    )
)


def _flatten_torch(in_shapes: Shapes, out: Shape, a: Attrs) -> TorchCall:
    import torch

    return TorchCall(torch.flatten, {"start_dim": 1})


def _flatten_from_onnx(node: OnnxNode) -> dict[str, Any] | None:
    if node.data_inputs != (0,):
        return None
    if node.op_type == "Flatten":
        return {} if node.attrs.get("axis", 1) == 1 else None
    target = node.const(1)
    size = math.prod(node.shapes[0])
    return {} if target is not None and node.per_sample(target, size) == (size,) else None


def _flatten_from_torch(m: Any) -> dict[str, Any] | None:
    from torch import nn

    return {} if type(m) is nn.Flatten and m.start_dim == 1 and m.end_dim == -1 else None


register_op(
    OpSpec(
        name="flatten",
        infer_shape=lambda s, a: (math.prod(s[0]),),
        to_torch=_flatten_torch,
        zero_preserving=True,
        onnx_op_types=("Flatten", "Reshape"),
        from_onnx=_flatten_from_onnx,
        from_torch=_flatten_from_torch,
        description="Flatten every per-sample dim: (C, H, W) -> (C*H*W,).",
    )
)


def _dropout_normalize(in_shapes: Shapes, a: dict[str, Any]) -> dict[str, Any]:
    if not 0.0 <= float(a["p"]) < 1.0:
        raise GraphError(f"attr 'p' must be in [0, 1), got {a['p']!r}")
    return {"p": float(a["p"])}


def _dropout_torch(in_shapes: Shapes, out: Shape, a: Attrs) -> Any:
    from torch import nn

    return nn.Dropout(a["p"])  # a module, so model.eval() switches it off


def _dropout_from_torch(m: Any) -> dict[str, Any] | None:
    from torch import nn

    return {"p": m.p} if type(m) is nn.Dropout else None


def _dropout_from_onnx(node: OnnxNode) -> dict[str, Any] | None:
    ratio = node.const(1) if node.n_inputs > 1 else None
    return {"p": _round(ratio) if ratio is not None else _round(node.attrs.get("ratio", 0.5))}


register_op(
    OpSpec(
        name="dropout",
        defaults={"p": 0.5},
        infer_shape=lambda s, a: s[0],
        normalize=_dropout_normalize,
        to_torch=_dropout_torch,
        zero_preserving=True,
        hash_transparent=True,  # identity at inference; eval-mode ONNX export drops it
        onnx_op_types=("Dropout",),
        from_onnx=_dropout_from_onnx,
        from_torch=_dropout_from_torch,
        description="Dropout with probability p (identity in eval mode).",
    )
)


# The other families live in their own modules; importing them here registers them with the rest.
from nas.graph import _ops_pool, _ops_tensor, _ops_vision  # noqa: E402, F401
