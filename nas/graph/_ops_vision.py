"""Built-in vision ops beyond the basics: upsampling, transposed convolution, channel shuffle.

FLOPs follow torch's FLOP counter: a transposed convolution counts
``in_channels * out_channels / groups * prod(kernel) * prod(input spatial)`` MACs (each input
pixel scatters one kernel); upsampling and channel shuffle count nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from nas.errors import GraphError
from nas.graph._catalogue import CONV_DEFAULTS, _canon, _channels, _onnx_pads, _rank, _tup
from nas.graph._ops import REQUIRED, OnnxNode, OpSpec, Shape, TorchCall, register_op

__all__ = ["channel_shuffle"]

Attrs = Mapping[str, Any]
Shapes = tuple[Shape, ...]


# --------------------------------------------------------------------------- upsample
_MODES = ("nearest", "linear")


def _upsample_normalize(in_shapes: Shapes, a: dict[str, Any]) -> dict[str, Any]:
    _rank(in_shapes, (2, 3), "upsample")
    s = a["scale_factor"]
    if isinstance(s, bool) or not isinstance(s, int) or s < 1:
        raise GraphError(f"attr 'scale_factor' must be a positive int, got {s!r}")
    if a["mode"] not in _MODES:
        raise GraphError(f"attr 'mode' must be one of {_MODES}, got {a['mode']!r}")
    return {"scale_factor": s, "mode": a["mode"]}


def _torch_mode(rank: int, mode: str) -> str:
    return "nearest" if mode == "nearest" else ("linear" if rank == 2 else "bilinear")


def _upsample_torch(in_shapes: Shapes, out: Shape, a: Attrs) -> TorchCall:
    import torch.nn.functional as F

    kw: dict[str, Any] = {"scale_factor": float(a["scale_factor"])}
    kw["mode"] = _torch_mode(len(in_shapes[0]), a["mode"])
    if a["mode"] == "linear":
        kw["align_corners"] = False
    return TorchCall(F.interpolate, kw)


def _upsample_from_onnx(node: OnnxNode) -> dict[str, Any] | None:
    if node.data_inputs != (0,):
        return None
    shape = node.shapes[0]
    scales = node.const(2) if node.n_inputs > 2 else None
    if scales is None or scales.size == 0:
        sizes = node.const(3) if node.n_inputs > 3 else None
        if sizes is None:
            return None
        scales = [1.0, *(o / i for o, i in zip(sizes.reshape(-1)[1:], shape))]
    spatial = [float(v) for v in list(scales)[2:]]
    if list(scales)[:2] != [1.0, 1.0] or len(set(spatial)) != 1 or not spatial[0].is_integer():
        return None
    mode, ctm = node.attrs.get("mode", "nearest"), node.attrs.get("coordinate_transformation_mode")
    if mode == "nearest":
        ok = ctm == "asymmetric" and node.attrs.get("nearest_mode", "round_prefer_floor") == "floor"
    else:
        ok = mode == "linear" and ctm in ("half_pixel", "pytorch_half_pixel")
    return {"scale_factor": int(spatial[0]), "mode": mode} if ok else None


def _upsample_from_torch(m: Any) -> dict[str, Any] | None:
    from torch import nn

    if type(m) is not nn.Upsample or m.size is not None or m.align_corners:
        return None
    s: Any = m.scale_factor
    s = s[0] if isinstance(s, tuple) and len(set(s)) == 1 else s
    if (
        not isinstance(s, int | float)
        or not float(s).is_integer()
        or m.mode not in ("nearest", "linear", "bilinear")
    ):
        return None
    return {"scale_factor": int(s), "mode": "nearest" if m.mode == "nearest" else "linear"}


register_op(
    OpSpec(
        name="upsample",
        defaults={"scale_factor": 2, "mode": "nearest"},
        infer_shape=lambda s, a: (s[0][0], *(d * a["scale_factor"] for d in s[0][1:])),
        normalize=_upsample_normalize,
        to_torch=_upsample_torch,
        zero_preserving=True,
        onnx_op_types=("Resize",),
        from_onnx=_upsample_from_onnx,
        from_torch=_upsample_from_torch,
        description="Upsample the spatial dims by an int factor: nearest or (bi)linear.",
    )
)


# --------------------------------------------------------------------------- transposed conv
def _convt_normalize(nd: int) -> Any:
    def normalize(in_shapes: Shapes, a: dict[str, Any]) -> dict[str, Any]:
        c_in = _rank(in_shapes, (nd + 1,), f"conv_transpose{nd}d")[0]
        out_c, groups = _channels(c_in, a)
        s, d = _tup(a["stride"], nd, "stride"), _tup(a["dilation"], nd, "dilation")
        op = _tup(a["output_padding"], nd, "output_padding", minimum=0)
        if any(o >= max(si, di) for o, si, di in zip(op, s, d)):
            raise GraphError(f"attr output_padding={op} must be smaller than stride or dilation")
        return {
            "out_channels": out_c,
            "kernel_size": _canon(_tup(a["kernel_size"], nd, "kernel_size")),
            "stride": _canon(s),
            "padding": _canon(_tup(a["padding"], nd, "padding", minimum=0)),
            "output_padding": _canon(op),
            "dilation": _canon(d),
            "groups": groups,
            "bias": bool(a["bias"]),
        }

    return normalize


def _convt_shape(nd: int) -> Any:
    def infer(in_shapes: Shapes, a: Attrs) -> Shape:
        shape = in_shapes[0]
        k, s = _tup(a["kernel_size"], nd, "k"), _tup(a["stride"], nd, "s")
        p, d = _tup(a["padding"], nd, "p", minimum=0), _tup(a["dilation"], nd, "d")
        op = _tup(a["output_padding"], nd, "op", minimum=0)
        spatial = []
        for i in range(nd):
            size = (shape[i + 1] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op[i] + 1
            if size < 1:
                raise GraphError(f"padding {p[i]} leaves no output along dim {i + 1} of {shape}")
            spatial.append(size)
        return (a["out_channels"], *spatial)

    return infer


def _convt_params(nd: int) -> Any:
    def params(in_shapes: Shapes, out: Shape, a: Attrs) -> int:
        k = math.prod(_tup(a["kernel_size"], nd, "k"))
        return in_shapes[0][0] * (a["out_channels"] // a["groups"]) * k + (
            a["out_channels"] if a["bias"] else 0
        )

    return params


def _convt_flops(nd: int) -> Any:
    def flops(in_shapes: Shapes, out: Shape, a: Attrs) -> int:
        k = math.prod(_tup(a["kernel_size"], nd, "k"))
        c_in, *spatial = in_shapes[0]
        return c_in * (a["out_channels"] // a["groups"]) * k * math.prod(spatial)

    return flops


def _convt_torch(nd: int) -> Any:
    def to_torch(in_shapes: Shapes, out: Shape, a: Attrs) -> Any:
        from torch import nn

        cls = nn.ConvTranspose1d if nd == 1 else nn.ConvTranspose2d
        kw = {k: a[k] for k in ("stride", "padding", "output_padding", "dilation", "groups")}
        return cls(in_shapes[0][0], a["out_channels"], a["kernel_size"], bias=a["bias"], **kw)

    return to_torch


def _convt_from_onnx(nd: int) -> Any:
    def hook(node: OnnxNode) -> dict[str, Any] | None:
        w = node.const(1)
        if w is None or w.ndim != nd + 2 or node.data_inputs != (0,):
            return None
        pads = _onnx_pads(node, nd)
        if pads is None or "output_shape" in node.attrs:
            return None
        groups = int(node.attrs.get("group", 1))
        return {
            "out_channels": int(w.shape[1]) * groups,
            "kernel_size": tuple(int(v) for v in w.shape[2:]),
            "stride": tuple(node.attrs.get("strides", [1] * nd)),
            "padding": pads,
            "output_padding": tuple(node.attrs.get("output_padding", [0] * nd)),
            "dilation": tuple(node.attrs.get("dilations", [1] * nd)),
            "groups": groups,
            "bias": node.n_inputs > 2 and node.const(2) is not None,
        }

    return hook


def _convt_from_torch(nd: int) -> Any:
    def hook(m: Any) -> dict[str, Any] | None:
        from torch import nn

        cls = nn.ConvTranspose1d if nd == 1 else nn.ConvTranspose2d
        if type(m) is not cls or m.padding_mode != "zeros":
            return None
        keys = ("out_channels", "kernel_size", "stride", "padding", "output_padding")
        out = {k: getattr(m, k) for k in (*keys, "dilation", "groups")}
        return {**out, "bias": m.bias is not None}

    return hook


for _nd in (1, 2):
    register_op(
        OpSpec(
            name=f"conv_transpose{_nd}d",
            defaults={**CONV_DEFAULTS, "output_padding": 0},
            infer_shape=_convt_shape(_nd),
            normalize=_convt_normalize(_nd),
            params=_convt_params(_nd),
            flops=_convt_flops(_nd),
            to_torch=_convt_torch(_nd),
            zero_preserving=lambda a: not a["bias"],
            onnx_op_types=("ConvTranspose",),
            from_onnx=_convt_from_onnx(_nd),
            from_torch=_convt_from_torch(_nd),
            onnx_weights=lambda n, a: {
                "weight": n.const(1),
                **({"bias": n.const(2)} if a["bias"] else {}),
            },
            description=f"{_nd}-D transposed convolution (U-Net / decoder upsampling).",
        )
    )


# --------------------------------------------------------------------------- channel shuffle
def channel_shuffle(x: Any, groups: int, shape: tuple[int, ...]) -> Any:
    """ShuffleNet's shuffle of a ``(batch, *shape)`` tensor: channels ``(g, C/g)`` -> ``(C/g, g)``.

    Written with static per-sample sizes so it exports as Reshape -> Transpose -> Reshape with
    constant targets (the importer folds that back into one ``channel_shuffle``).
    """
    c, *spatial = shape
    y = x.reshape(-1, groups, c // groups, *spatial)  # (batch, g, C/g, *spatial)
    return y.transpose(1, 2).reshape(-1, c, *spatial)


def _shuffle_normalize(in_shapes: Shapes, a: dict[str, Any]) -> dict[str, Any]:
    c = _rank(in_shapes, (2, 3), "channel_shuffle")[0]
    g = a["groups"]
    if isinstance(g, bool) or not isinstance(g, int) or g < 2 or c % g:
        raise GraphError(f"attr 'groups' must be an int >= 2 dividing the {c} channels, got {g!r}")
    return {"groups": g}


register_op(
    OpSpec(
        name="channel_shuffle",
        defaults={"groups": REQUIRED},
        infer_shape=lambda s, a: s[0],
        normalize=_shuffle_normalize,
        to_torch=lambda s, o, a: TorchCall(channel_shuffle, {"groups": a["groups"], "shape": s[0]}),
        zero_preserving=True,
        description="ShuffleNet channel shuffle; ONNX Reshape/Transpose/Reshape folds back to it.",
    )
)
