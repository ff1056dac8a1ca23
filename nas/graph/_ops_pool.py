"""Built-in pooling ops: average and max pooling (1-D or 2-D, ``ceil_mode``) and global
average pooling; registered like every other op (see ``_catalogue.py`` for the conventions).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nas.errors import GraphError
from nas.graph._catalogue import _canon, _onnx_pads, _rank, _tup, _window_out
from nas.graph._ops import REQUIRED, OnnxNode, OpSpec, Shape, TorchCall, register_op

__all__: list[str] = []

Attrs = Mapping[str, Any]
Shapes = tuple[Shape, ...]


# --------------------------------------------------------------------------- pooling
def _pool_normalize(kind: str) -> Any:
    def normalize(in_shapes: Shapes, a: dict[str, Any]) -> dict[str, Any]:
        nd = len(_rank(in_shapes, (2, 3), f"{kind}_pool")) - 1
        k = _tup(a["kernel_size"], nd, "kernel_size")
        s = k if a["stride"] is None else _tup(a["stride"], nd, "stride")
        p = _tup(a["padding"], nd, "padding", minimum=0)
        if any(pi * 2 > ki for pi, ki in zip(p, k)):
            raise GraphError(f"attr padding={a['padding']!r} must be at most half the kernel {k}")
        out = {"kernel_size": _canon(k), "stride": _canon(s), "padding": _canon(p)}
        if kind == "avg":
            out["count_include_pad"] = bool(a["count_include_pad"])
        if a["ceil_mode"]:  # only when set, so graphs (and hashes) without it are unchanged
            out["ceil_mode"] = True
        return out

    return normalize


def _pool_shape(in_shapes: Shapes, a: Attrs) -> Shape:
    shape = in_shapes[0]
    nd = len(shape) - 1
    k, s = _tup(a["kernel_size"], nd, "k"), _tup(a["stride"], nd, "s")
    p = _tup(a["padding"], nd, "p", minimum=0)
    out = [_window_out(shape[i + 1], k[i], s[i], p[i], 1, i + 1, shape) for i in range(nd)]
    if a.get("ceil_mode"):  # torch's rule: round up, but the last window must start inside
        for i in range(nd):
            size = shape[i + 1] + 2 * p[i] - k[i]
            up = -(-size // s[i]) + 1
            out[i] = up - 1 if (up - 1) * s[i] >= shape[i + 1] + p[i] else up
    return (shape[0], *out)


def _pool_torch(kind: str) -> Any:
    def to_torch(in_shapes: Shapes, out: Shape, a: Attrs) -> TorchCall:
        import torch.nn.functional as F

        nd = len(in_shapes[0]) - 1
        fn = getattr(F, f"{kind}_pool{nd}d")
        kw = {"kernel_size": a["kernel_size"], "stride": a["stride"], "padding": a["padding"]}
        if kind == "avg":
            kw["count_include_pad"] = a["count_include_pad"]
        if a.get("ceil_mode"):
            kw["ceil_mode"] = True
        return TorchCall(fn, kw)

    return to_torch


def _pool_from_onnx(kind: str) -> Any:
    def hook(node: OnnxNode) -> dict[str, Any] | None:
        if node.data_inputs != (0,):
            return None
        k = tuple(node.attrs["kernel_shape"])
        nd = len(k)
        pads = _onnx_pads(node, nd)
        if pads is None or any(d != 1 for d in node.attrs.get("dilations", [1] * nd)):
            return None
        out: dict[str, Any] = {
            "kernel_size": k,
            "stride": tuple(node.attrs.get("strides", [1] * nd)),
            "padding": pads,
        }
        if kind == "avg":
            out["count_include_pad"] = bool(node.attrs.get("count_include_pad", 0))
        out["ceil_mode"] = bool(node.attrs.get("ceil_mode", 0))
        return out

    return hook


def _pool_from_torch(kind: str) -> Any:
    def hook(m: Any) -> dict[str, Any] | None:
        from torch import nn

        name = "AvgPool" if kind == "avg" else "MaxPool"
        if type(m) not in (getattr(nn, f"{name}1d"), getattr(nn, f"{name}2d")):
            return None
        if kind == "max" and (m.dilation not in (1, (1, 1)) or m.return_indices):
            return None  # the op has no dilation and returns no indices
        if kind == "avg" and getattr(m, "divisor_override", None):
            return None
        out = {"kernel_size": m.kernel_size, "stride": m.stride, "padding": m.padding}
        if kind == "avg":
            out["count_include_pad"] = m.count_include_pad
        out["ceil_mode"] = bool(m.ceil_mode)
        return out

    return hook


for _kind in ("avg", "max"):
    _defaults: dict[str, Any] = {"kernel_size": REQUIRED, "stride": None, "padding": 0}
    if _kind == "avg":
        _defaults["count_include_pad"] = True
    _defaults["ceil_mode"] = False
    register_op(
        OpSpec(
            name=f"{_kind}_pool",
            defaults=_defaults,
            infer_shape=_pool_shape,
            normalize=_pool_normalize(_kind),
            to_torch=_pool_torch(_kind),
            zero_preserving=True,
            onnx_op_types=("AveragePool" if _kind == "avg" else "MaxPool",),
            from_onnx=_pool_from_onnx(_kind),
            from_torch=_pool_from_torch(_kind),
            description=(
                f"{_kind} pooling, 1d or 2d from the input rank; stride defaults to the kernel; "
                f"ceil_mode as in torch."
            ),
        )
    )


def _gap_shape(in_shapes: Shapes, a: Attrs) -> Shape:
    shape = _rank(in_shapes, (2, 3), "global_avg_pool")
    return (shape[0], *([1] * (len(shape) - 1))) if a["keepdim"] else (shape[0],)


def _gap_torch(in_shapes: Shapes, out: Shape, a: Attrs) -> TorchCall:
    import torch

    # mean over the spatial dims exports as one ONNX ReduceMean (keepdims kept)
    dims = tuple(range(2, len(in_shapes[0]) + 1))  # (batch, C, *spatial)
    return TorchCall(torch.mean, {"dim": dims, "keepdim": a["keepdim"]})


def _gap_from_onnx(node: OnnxNode) -> dict[str, Any] | None:
    if node.data_inputs != (0,):
        return None
    rank = len(node.shapes[0])
    if node.op_type == "GlobalAveragePool":
        return {"keepdim": True}
    axes = node.const(1) if node.n_inputs > 1 else node.attrs.get("axes")
    if axes is None:
        return None
    axes = sorted(
        int(x) % (rank + 1) for x in list(axes.reshape(-1) if hasattr(axes, "reshape") else axes)
    )
    if axes != list(range(2, rank + 1)):
        return None
    return {"keepdim": bool(node.attrs.get("keepdims", 1))}


def _gap_from_torch(m: Any) -> dict[str, Any] | None:
    from torch import nn

    if type(m) in (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d) and m.output_size in (
        1,
        (1,),
        (1, 1),
    ):
        return {"keepdim": True}
    return None


register_op(
    OpSpec(
        name="global_avg_pool",
        defaults={"keepdim": False},
        infer_shape=_gap_shape,
        normalize=lambda s, a: {"keepdim": bool(a["keepdim"])},
        to_torch=_gap_torch,
        zero_preserving=True,
        onnx_op_types=("ReduceMean", "GlobalAveragePool"),
        from_onnx=_gap_from_onnx,
        from_torch=_gap_from_torch,
        description="Mean over spatial dims: (C,) or, with keepdim, (C, 1, 1) / (C, 1).",
    )
)
