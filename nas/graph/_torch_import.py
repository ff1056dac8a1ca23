"""Import fx-traceable torch modules into the IR, with their weights.

``torch.fx.symbolic_trace`` gives the dataflow; each ``call_module`` node is offered to the
registered ops' ``from_torch`` hooks (its ``state_dict`` becomes the node's weights), functions
and methods map through a table, and sizes are tracked as ints (the batch as
:data:`nas.graph._ops.BATCH`), so ``b, c, h, w = x.size(); x.view(b, g, c // g, h, w)`` maps.
Parameters used directly in ``forward`` map by use: ``cat([cls.expand(B, -1, -1), x], 1)`` is a
``class_token``, ``x + pos`` a ``pos_embedding``, ``x * gamma`` a ``layer_scale``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nas.errors import GraphError
from nas.graph._fold import fold_patterns
from nas.graph._graph import Graph
from nas.graph._ops import BATCH, per_sample_shape, registered_specs
from nas.graph.builders import multi_head_attention

if TYPE_CHECKING:
    import torch

__all__ = ["from_torch"]


@dataclass(frozen=True)
class _Param:
    """A parameter or buffer used in ``forward`` (numpy copy, full shape)."""

    value: Any


@dataclass(frozen=True)
class _Chunks:
    """``x.chunk(n, dim)`` / ``x.split(size, dim)``: pieces made by indexing."""

    src: str
    dim: int  # per-sample
    bounds: tuple[tuple[int, int], ...]


def _arg(args: Sequence[Any], kwargs: dict[str, Any], i: int, key: str, default: Any) -> Any:
    return args[i] if len(args) > i else kwargs.get(key, default)


def _numpy(t: Any) -> Any:
    return t.detach().cpu().numpy().copy()


class _Tracer:
    def __init__(self, module: torch.nn.Module, input_shape: Sequence[int], name: str) -> None:
        from torch import fx

        self.fx = fx
        self.gm = fx.symbolic_trace(module)
        self.g = Graph(name)
        self.env: dict[str, Any] = {}
        self.modules = dict(self.gm.named_modules())
        self.input_shape = tuple(int(d) for d in input_shape)
        self.calls = _call_table()

    def run(self) -> Graph:
        nodes = list(self.gm.graph.nodes)
        if sum(n.op == "placeholder" for n in nodes) != 1:
            raise GraphError("from_torch expects a module with exactly one tensor input")
        for n in nodes:
            where = f"fx node {n.name!r} ({n.op} {getattr(n.target, '__name__', n.target)})"
            self.env[n.name] = self._node(n, where)
        g = fold_patterns(self.g)
        g.validate()
        return g

    # ---------------------------------------------------------------- values
    def val(self, a: Any) -> Any:
        if isinstance(a, self.fx.Node):
            return self.env[a.name]
        if isinstance(a, tuple | list):
            return type(a)(self.val(x) for x in a)
        return a

    def tensor(self, a: Any, where: str) -> str:
        v = self.val(a)
        if isinstance(v, str):
            return v
        raise GraphError(f"{where}: argument {a!r} is not a tensor the IR can track")

    def rank(self, x: str) -> int:
        return len(self.g.shape(x))

    def dim(self, x: str, d: int, where: str) -> int:
        """A full-tensor dim of IR value ``x`` -> its per-sample dim."""
        full = d % (self.rank(x) + 1)
        if full == 0:
            raise GraphError(f"{where}: operating on the batch dim has no IR mapping")
        return full - 1

    def add(self, op: str, ins: str | list[str], name: str, **attrs: Any) -> str:
        return self.g.add(op, ins, name=name, **attrs)

    # ---------------------------------------------------------------- nodes
    def _node(self, n: Any, where: str) -> Any:
        if n.op == "placeholder":
            return self.g.add_input(self.input_shape, name=n.name)
        if n.op == "get_attr":
            obj = self.gm
            for part in str(n.target).split("."):
                obj = getattr(obj, part)
            return _Param(_numpy(obj))
        if n.op == "call_module":
            return self._module(n, where)
        if n.op in ("call_function", "call_method"):
            return self._call(n, where)
        if n.op == "output":
            outs = n.args[0] if isinstance(n.args[0], tuple | list) else (n.args[0],)
            self.g.set_outputs(*[self.tensor(o, where) for o in outs])
            return None
        raise GraphError(f"{where}: {n.op} nodes have no IR mapping")

    def _module(self, n: Any, where: str) -> Any:
        mod = self.modules[n.target]
        from torch import nn

        if type(mod) is nn.MultiheadAttention:
            return [self._attention(n, mod, where), None]  # (output, weights) as MHA returns
        ins = [self.tensor(a, where) for a in n.args]
        for spec in registered_specs():
            if spec.from_torch is None:
                continue
            attrs = spec.from_torch(mod)
            if attrs is not None:
                node = self.add(spec.name, ins, str(n.target), **attrs)
                state = {
                    k: _numpy(v)
                    for k, v in mod.state_dict().items()
                    if not k.endswith("num_batches_tracked")
                }
                if state:
                    self.g.weights[node] = state
                return node
        raise GraphError(
            f"Module {n.target!r} ({type(mod).__name__}) has no IR op; register an OpSpec whose "
            f"from_torch hook returns its attrs for {type(mod).__name__} instances"
        )

    def _attention(self, n: Any, mod: Any, where: str) -> str:
        """``nn.MultiheadAttention`` -> :func:`multi_head_attention` with its weights split."""
        args = [*n.args, *(n.kwargs.get(k) for k in ("key", "value") if k in n.kwargs)]
        masks = [n.kwargs.get(k) for k in ("key_padding_mask", "attn_mask")]
        ok = (
            mod.batch_first
            and mod._qkv_same_embed_dim
            and mod.bias_k is None
            and not mod.add_zero_attn
            and len(args) == 3
            and args[1] is args[2]
            and all(m is None for m in masks)
        )
        if not ok:
            raise GraphError(
                f"{where}: only batch_first self- or encoder-decoder attention without masks "
                f"(query, key is value) maps nn.MultiheadAttention to the IR"
            )
        x, kv = self.tensor(args[0], where), self.tensor(args[1], where)
        name = str(n.target)
        bias = mod.in_proj_bias is not None
        out = multi_head_attention(
            self.g, x, mod.num_heads, context=None if kv == x else kv, bias=bias, name=name
        )
        w = _numpy(mod.in_proj_weight)
        b = _numpy(mod.in_proj_bias) if bias else None
        d = w.shape[0] // 3
        for i, key in enumerate("qkv"):
            part = {"weight": w[i * d : (i + 1) * d]}
            self.g.weights[f"{name}.{key}"] = (
                part if b is None else {**part, "bias": b[i * d : (i + 1) * d]}
            )
        proj = {"weight": _numpy(mod.out_proj.weight)}
        if mod.out_proj.bias is not None:
            proj["bias"] = _numpy(mod.out_proj.bias)
        self.g.weights[out] = proj
        return out

    def _call(self, n: Any, where: str) -> Any:
        target = n.target
        args, kwargs = self.val(tuple(n.args)), self.val(dict(n.kwargs))
        if not any(isinstance(a, str | _Param | _Chunks) for a in _flat([args, kwargs])):
            return _evaluate(target, args, kwargs, where)  # size arithmetic on ints
        handler = self.calls.get(target) if _hashable(target) else None
        label = getattr(target, "__name__", str(target))
        if handler is None:
            raise GraphError(
                f"{where}: function {label!r} has no IR mapping; rewrite it with mapped ops or "
                f"wrap it in a module claimed by a registered op's from_torch hook"
            )
        out = handler(self, n.name, args, kwargs, where)
        if out is None:
            raise GraphError(f"{where}: {label} with these arguments has no IR mapping")
        return out


def _hashable(x: Any) -> bool:
    try:
        hash(x)
    except TypeError:
        return False
    return True


def _flat(x: Any) -> list[Any]:
    if isinstance(x, dict):
        return [v for item in x.values() for v in _flat(item)]
    if isinstance(x, tuple | list):
        return [v for item in x for v in _flat(item)]
    return [x]


def _evaluate(target: Any, args: tuple, kwargs: dict, where: str) -> Any:
    if isinstance(target, str):
        raise GraphError(f"{where}: method {target!r} on a non-tensor has no IR mapping")
    return target(*args, **kwargs)


# --------------------------------------------------------------------------- call handlers
Handler = Callable[[_Tracer, str, tuple, dict, str], Any]


def _unary(
    op: str, attrs: Callable[[_Tracer, str, tuple, dict], dict | None] | None = None
) -> Handler:
    def handle(t: _Tracer, name: str, args: tuple, kwargs: dict, where: str) -> Any:
        x = t.tensor(args[0], where)
        got = {} if attrs is None else attrs(t, x, args, kwargs)
        return None if got is None else t.add(op, x, name, **got)

    return handle


def _size(t: _Tracer, name: str, args: tuple, kwargs: dict, where: str) -> Any:
    x = t.tensor(args[0], where)
    full = [BATCH, *t.g.shape(x)]
    d = _arg(args, kwargs, 1, "dim", None)
    return full if d is None else full[d]


def _getattr(t: _Tracer, name: str, args: tuple, kwargs: dict, where: str) -> Any:
    if args[1] == "shape":
        return [BATCH, *t.g.shape(t.tensor(args[0], where))]
    return None


def _getitem(t: _Tracer, name: str, args: tuple, kwargs: dict, where: str) -> Any:
    src, index = args
    if isinstance(src, _Chunks):
        lo, hi = src.bounds[index]
        return t.add("slice", src.src, name, axis=src.dim, start=lo, end=hi)
    if isinstance(src, list | tuple):
        return src[index]
    if isinstance(src, str) and isinstance(index, tuple) and len(index) == 2:
        if index[0] == slice(None) and isinstance(index[1], int) and t.rank(src) == 2:
            return t.add("select_token", src, name, index=index[1])
        if index[0] == slice(None) and isinstance(index[1], slice) and index[1].step is None:
            size = t.g.shape(src)[0]
            lo, hi, _ = index[1].indices(size)
            return t.add("slice", src, name, axis=0, start=lo, end=hi)
    return None


def _binary(op: str) -> Handler:
    """``add``/``mul`` of two tensors; with a parameter: pos_embedding/layer_scale; a scalar."""

    def handle(t: _Tracer, name: str, args: tuple, kwargs: dict, where: str) -> Any:
        if kwargs.get("alpha", 1) != 1 or len(args) != 2:
            return None
        a, b = args
        if isinstance(a, str) and isinstance(b, str):
            return t.add(op, [a, b], name)
        x, other = (a, b) if isinstance(a, str) else (b, a)
        if isinstance(other, _Param):
            return _with_param(t, op, name, x, other.value)
        if isinstance(other, int | float) and not isinstance(other, bool):
            if op == "mul":
                return t.add("mul_scalar", x, name, value=float(other))
            if op == "truediv" and x is a:
                return t.add("mul_scalar", x, name, value=1.0 / float(other))
        return None

    return handle


def _with_param(t: _Tracer, op: str, name: str, x: str, w: Any) -> str | None:
    shape = t.g.shape(x)
    if op == "add" and w.shape == (1, *shape) and len(shape) == 2:
        node = t.add("pos_embedding", x, name)
    elif op == "mul" and w.shape == (shape[-1],):
        node = t.add("layer_scale", x, name)
    else:
        return None
    t.g.weights[node] = {"weight": w}
    return node


def _cat(t: _Tracer, name: str, args: tuple, kwargs: dict, where: str) -> Any:
    items = list(args[0])
    dim = _arg(args, kwargs, 1, "dim", 0)
    if all(isinstance(i, str) for i in items):
        if t.dim(items[0], dim, where) != 0:
            return None
        return t.add("concat", items, name)
    if len(items) == 2 and isinstance(items[0], _Param) and isinstance(items[1], str):
        x, w = items[1], items[0].value
        if t.rank(x) == 2 and t.dim(x, dim, where) == 0 and w.shape == (1, 1, t.g.shape(x)[1]):
            node = t.add("class_token", x, name)
            t.g.weights[node] = {"weight": w}
            return node
    return None


def _expand(t: _Tracer, name: str, args: tuple, kwargs: dict, where: str) -> Any:
    w = args[0]
    sizes = args[1:] if not isinstance(args[1], list | tuple) else args[1]
    if isinstance(w, _Param) and w.value.shape[0] == 1 and sizes and sizes[0] == BATCH:
        return w  # broadcast over the batch: the consumer sees the parameter
    return None


def _reshape(t: _Tracer, name: str, args: tuple, kwargs: dict, where: str) -> Any:
    x = t.tensor(args[0], where)
    dims = list(args[1:]) if not isinstance(args[1], list | tuple) else list(args[1])
    if not all(isinstance(d, int) for d in dims):
        return None
    shape = per_sample_shape(dims, math.prod(t.g.shape(x)), BATCH)
    if shape is None:
        raise GraphError(
            f"{where}: reshape to {dims} does not keep the batch dim first "
            f"(use x.size(0), -1 or 0 there)"
        )
    if shape == t.g.shape(x):
        return x
    if len(shape) == 1:
        return t.add("flatten", x, name)
    return t.add("reshape", x, name, shape=shape)


def _flatten(t: _Tracer, name: str, args: tuple, kwargs: dict, where: str) -> Any:
    x = t.tensor(args[0], where)
    shape = t.g.shape(x)
    start = t.dim(x, _arg(args, kwargs, 1, "start_dim", 0), where)
    end = _arg(args, kwargs, 2, "end_dim", -1) % (len(shape) + 1) - 1
    if start == 0 and end == len(shape) - 1:
        return t.add("flatten", x, name)
    new = (*shape[:start], math.prod(shape[start : end + 1]), *shape[end + 1 :])
    return t.add("reshape", x, name, shape=new)


def _transpose(t: _Tracer, name: str, args: tuple, kwargs: dict, where: str) -> Any:
    x = t.tensor(args[0], where)
    a, b = (t.dim(x, d, where) for d in args[1:3])
    perm = list(range(t.rank(x)))
    perm[a], perm[b] = perm[b], perm[a]
    return t.add("transpose", x, name, perm=tuple(perm))


def _permute(t: _Tracer, name: str, args: tuple, kwargs: dict, where: str) -> Any:
    x = t.tensor(args[0], where)
    dims = list(args[1]) if len(args) == 2 and isinstance(args[1], list | tuple) else args[1:]
    if not dims or dims[0] % (t.rank(x) + 1) != 0:
        return None
    return t.add("transpose", x, name, perm=tuple(t.dim(x, d, where) for d in dims[1:]))


def _chunk(t: _Tracer, name: str, args: tuple, kwargs: dict, where: str) -> Any:
    x = t.tensor(args[0], where)
    n = _arg(args, kwargs, 1, "chunks", None)
    d = t.dim(x, _arg(args, kwargs, 2, "dim", 0), where)
    size = t.g.shape(x)[d]
    step = -(-size // n)
    bounds = tuple((lo, min(lo + step, size)) for lo in range(0, size, step))
    return _Chunks(x, d, bounds)


def _mean(t: _Tracer, name: str, args: tuple, kwargs: dict, where: str) -> Any:
    x = t.tensor(args[0], where)
    dims = _arg(args, kwargs, 1, "dim", None)
    keep = bool(_arg(args, kwargs, 2, "keepdim", False))
    dims = (dims,) if isinstance(dims, int) else tuple(dims or ())
    per = sorted(t.dim(x, d, where) for d in dims)
    rank = t.rank(x)
    if rank == 2 and per == [0] and not keep and t.g.shape(x):
        return t.add("token_mean", x, name)
    if rank in (2, 3) and per == list(range(1, rank)):
        return t.add("global_avg_pool", x, name, keepdim=keep)
    return None


def _adaptive_pool(t: _Tracer, name: str, args: tuple, kwargs: dict, where: str) -> Any:
    x = t.tensor(args[0], where)
    size = _arg(args, kwargs, 1, "output_size", None)
    return t.add("global_avg_pool", x, name, keepdim=True) if size in (1, (1,), (1, 1)) else None


def _pool(op: str) -> Handler:
    def handle(t: _Tracer, name: str, args: tuple, kwargs: dict, where: str) -> Any:
        x = t.tensor(args[0], where)
        names = ["kernel_size", "stride", "padding", "ceil_mode"]
        names += ["count_include_pad", "divisor_override"] if op == "avg_pool" else ["dilation"]
        vals = {k: _arg(args, kwargs, i + 1, k, None) for i, k in enumerate(names)}
        if vals.get("divisor_override") or vals.get("dilation") not in (None, 1):
            return None
        out = {"kernel_size": vals["kernel_size"], "stride": vals["stride"] or None}
        out["padding"] = vals["padding"] or 0
        out["ceil_mode"] = bool(vals["ceil_mode"])
        if op == "avg_pool":
            cip = vals["count_include_pad"]
            out["count_include_pad"] = True if cip is None else cip
        return t.add(op, x, name, **out)

    return handle


def _interpolate(t: _Tracer, name: str, args: tuple, kwargs: dict, where: str) -> Any:
    x = t.tensor(args[0], where)
    scale = _arg(args, kwargs, 2, "scale_factor", None)
    mode = _arg(args, kwargs, 3, "mode", "nearest")
    if scale is None or not float(scale).is_integer() or _arg(args, kwargs, 4, "align_corners", 0):
        return None
    if mode not in ("nearest", "linear", "bilinear"):
        return None
    ir_mode = "nearest" if mode == "nearest" else "linear"
    return t.add("upsample", x, name, scale_factor=int(scale), mode=ir_mode)


def _matmul(t: _Tracer, name: str, args: tuple, kwargs: dict, where: str) -> Any:
    return t.add("matmul", [t.tensor(a, where) for a in args[:2]], name)


def _call_table() -> dict[Any, Handler]:
    import torch
    import torch.nn.functional as F

    table: dict[Any, Handler] = {}
    same: dict[str, tuple[Any, ...]] = {
        "relu": (F.relu, torch.relu, "relu"),
        "relu6": (F.relu6,),
        "silu": (F.silu,),
        "hardswish": (F.hardswish,),
        "hardsigmoid": (F.hardsigmoid,),
        "sigmoid": (torch.sigmoid, F.sigmoid, "sigmoid"),
        "tanh": (torch.tanh, F.tanh, "tanh"),
    }
    for op, targets in same.items():
        for target in targets:
            table[target] = _unary(op)
    table[F.gelu] = _unary("gelu", lambda t, x, a, k: {"approximate": k.get("approximate", "none")})
    table[F.dropout] = _unary("dropout", lambda t, x, a, k: {"p": _arg(a, k, 1, "p", 0.5)})

    def softmax_attrs(t: _Tracer, x: str, a: tuple, k: dict) -> dict:
        return {"dim": t.dim(x, _arg(a, k, 1, "dim", -1), "softmax")}

    groups: list[tuple[tuple[Any, ...], Handler]] = [
        ((torch.softmax, F.softmax, "softmax"), _unary("softmax", softmax_attrs)),
        ((operator.add, operator.iadd, torch.add, "add"), _binary("add")),
        ((operator.mul, operator.imul, torch.mul, "mul"), _binary("mul")),
        ((operator.truediv,), _binary("truediv")),
        ((torch.cat, torch.concat), _cat),
        ((torch.flatten, "flatten"), _flatten),
        (("view", "reshape", torch.reshape), _reshape),
        (("transpose", torch.transpose), _transpose),
        (("permute", torch.permute), _permute),
        ((torch.matmul, operator.matmul, "matmul"), _matmul),
        ((torch.mean, "mean"), _mean),
        ((F.adaptive_avg_pool1d, F.adaptive_avg_pool2d), _adaptive_pool),
        ((F.avg_pool1d, F.avg_pool2d), _pool("avg_pool")),
        ((F.max_pool1d, F.max_pool2d), _pool("max_pool")),
        (("chunk", torch.chunk), _chunk),
    ]
    for targets, handler in groups:
        for target in targets:
            table[target] = handler
    table[F.interpolate] = _interpolate
    table["size"] = _size
    table[getattr] = _getattr
    table[operator.getitem] = _getitem
    table["expand"] = _expand
    table["contiguous"] = lambda t, name, a, k, w: t.tensor(a[0], w)
    return table


def from_torch(
    module: torch.nn.Module, input_shape: Sequence[int], *, name: str | None = None
) -> Graph:
    """Import an fx-traceable module as an IR graph with its weights (``Graph.weights``).

    Maps ``nn.Conv1d/2d``, ``ConvTranspose1d/2d``, ``Linear``, ``BatchNorm1d/2d``,
    ``LayerNorm``, ``Embedding``, ``Upsample``, activations, pools (``ceil_mode`` too),
    ``AdaptiveAvgPool(1)``, ``Flatten``, ``Dropout``, ``Identity``; ``+``/``*``/``@``, scalar
    ``*``/``/``, ``torch.cat``, ``flatten``, ``view``/``reshape`` (sizes from ``x.size()``
    tracked), ``transpose``/``permute``, ``chunk``, ``softmax``, ``mean``, ``x[:, i]``,
    ``F.interpolate`` and parameters used in ``forward`` (class token, positional embedding,
    layer scale); a registered op's ``from_torch`` hook claims other modules. The lowered
    module (:func:`nas.graph.to_torch`) computes what ``module`` computes in eval mode.

    Raises:
        GraphError: Naming the module or function that has no IR mapping.

    Example:
        >>> import torch
        >>> from nas.graph import from_torch, to_torch
        >>> m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU()).eval()
        >>> g = from_torch(m, (3, 8, 8)); x = torch.randn(2, 3, 8, 8)
        >>> g.params, bool(torch.allclose(to_torch(g)(x), m(x)))
        (224, True)
    """
    return _Tracer(module, input_shape, name or type(module).__name__).run()
