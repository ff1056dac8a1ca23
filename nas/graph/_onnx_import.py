"""Import ONNX models into the IR, with their weights.

Each ONNX node is offered to the ``from_onnx`` hooks of registered ops (a user's op first); the
node's constants become the IR node's weights (``OpSpec.onnx_weights``), stored in
``Graph.weights`` and loaded by :func:`nas.graph.to_torch`. Before that:

* shape arithmetic is evaluated with numpy: ``Shape`` of a graph value is its static shape with
  the batch dim set to the model's static batch size or to :data:`nas.graph._ops.BATCH`, so
  ``x.view(x.size(0), -1)``'s Shape -> Gather -> Unsqueeze -> Concat -> Reshape and a fixed-batch
  ``Reshape(x, [1, -1])`` both reach the reshape hooks as constant targets;
* exporter decompositions are fused back into one pseudo-node: ``x * Sigmoid(x)`` (``nas.Silu``),
  ``MatMul + Add`` (``nas.MatMulAdd``), erf-GELU ``Div/Erf/Add/Mul/Mul`` (``Gelu``), the
  opset < 17 LayerNorm ``ReduceMean/Sub/Pow/.../Add`` (``LayerNormalization``) and
  ``Cast -> Gather`` (an embedding fed float ids); ``Split`` becomes one ``Slice`` per output;
* after mapping, IR patterns fold into their op (Reshape/Transpose/Reshape -> ``channel_shuffle``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nas.errors import GraphError
from nas.graph._fold import fold_patterns
from nas.graph._graph import Graph
from nas.graph._ops import BATCH, OnnxNode, OpSpec, registered_specs

if TYPE_CHECKING:
    import numpy as np
    import onnx

__all__ = ["import_onnx"]


@dataclass
class _Node:
    op: str
    ins: list[str]
    outs: list[str]
    attrs: dict[str, Any]
    name: str


# --------------------------------------------------------------------------- constants
def _np_ops() -> dict[str, Callable[..., Any]]:
    import numpy as np
    from onnx import helper

    def gather(v: list[Any], a: dict) -> Any:
        return np.take(v[0], v[1], axis=a.get("axis", 0))

    def slice_(v: list[Any], a: dict) -> Any:
        starts, ends = v[1], v[2]
        axes = v[3] if len(v) > 3 else range(len(starts))
        steps = v[4] if len(v) > 4 else [1] * len(starts)
        index = [slice(None)] * v[0].ndim
        for s, e, ax, st in zip(starts, ends, axes, steps):
            index[int(ax)] = slice(int(s), int(e), int(st))
        return v[0][tuple(index)]

    def squeeze(v: list[Any], a: dict) -> Any:
        axes = v[1] if len(v) > 1 else a.get("axes")
        return np.squeeze(v[0], None if axes is None else tuple(int(x) for x in axes))

    def unsqueeze(v: list[Any], a: dict) -> Any:
        axes = v[1] if len(v) > 1 else a["axes"]
        return np.expand_dims(v[0], tuple(int(x) for x in np.reshape(axes, -1)))

    def cast(v: list[Any], a: dict) -> Any:
        return v[0].astype(helper.tensor_dtype_to_np_dtype(a["to"]))

    def div(v: list[Any], a: dict) -> Any:
        if v[0].dtype.kind in "iu":
            return np.trunc(v[0] / v[1]).astype(v[0].dtype)  # ONNX integer Div truncates
        return v[0] / v[1]

    def constant_of_shape(v: list[Any], a: dict) -> Any:
        from onnx import numpy_helper

        fill = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
        return np.full(tuple(int(d) for d in v[0]), fill.reshape(-1)[0], dtype=fill.dtype)

    return {
        "Identity": lambda v, a: v[0],
        "Cast": cast,
        "CastLike": lambda v, a: v[0].astype(v[1].dtype),
        "Shape": lambda v, a: np.array(v[0].shape, dtype=np.int64),
        "Unsqueeze": unsqueeze,
        "Squeeze": squeeze,
        "Reshape": lambda v, a: v[0].reshape(tuple(int(d) for d in v[1])),
        "Concat": lambda v, a: np.concatenate([np.atleast_1d(x) for x in v], axis=a["axis"]),
        "Neg": lambda v, a: -v[0],
        "Transpose": lambda v, a: np.transpose(v[0], a.get("perm")),
        "Gather": gather,
        "Slice": slice_,
        "Add": lambda v, a: v[0] + v[1],
        "Sub": lambda v, a: v[0] - v[1],
        "Mul": lambda v, a: v[0] * v[1],
        "Div": div,
        "Equal": lambda v, a: v[0] == v[1],
        "Where": lambda v, a: np.where(v[0], v[1], v[2]),
        "ConstantOfShape": constant_of_shape,
        "Sqrt": lambda v, a: np.sqrt(v[0]),
        "Range": lambda v, a: np.arange(v[0], v[1], v[2]),
        "Expand": lambda v, a: np.broadcast_to(
            v[0], np.broadcast_shapes(v[0].shape, tuple(int(d) for d in v[1]))
        ),
    }


def _constant_value(attrs: dict[str, Any]) -> Any:
    import numpy as np
    from onnx import numpy_helper

    if "value" in attrs:
        return numpy_helper.to_array(attrs["value"])
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32)):
        if key in attrs:
            return np.array(attrs[key], dtype=dtype)
    for key in ("value_int", "value_ints"):
        if key in attrs:
            return np.array(attrs[key], dtype=np.int64)
    raise GraphError(f"Unsupported ONNX Constant attributes {sorted(attrs)}")


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    from onnx import helper

    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = (
            v.decode()
            if isinstance(v, bytes)
            else (list(v) if isinstance(v, Sequence) and not isinstance(v, str) else v)
        )
    return out


def _ir_name(node_name: str, op_type: str) -> str:
    """``/stage1/conv/Conv`` -> ``stage1.conv.Conv`` (a taken name gets a suffix in the graph)."""
    name = re.sub(r"[^\w.]", "_", node_name.strip("/").replace("/", "."))
    return name or op_type.lower()


# --------------------------------------------------------------------------- fusions
class _Fuser:
    """Rewrites exporter decompositions into single pseudo-nodes (see the module docstring)."""

    def __init__(self, nodes: list[_Node], consts: dict[str, Any], known: set[str]) -> None:
        self.nodes, self.consts, self.known = nodes, consts, known  # known: constant-valued
        self.producer = {v: n for n in nodes for v in n.outs}
        self.uses: dict[str, int] = {}
        for n in nodes:
            for v in n.ins:
                self.uses[v] = self.uses.get(v, 0) + 1
        self.dropped: set[int] = set()

    def run(self) -> list[_Node]:
        out = []
        for n in self.nodes:
            fused = self._silu(n) or self._matmul_add(n) or self._gelu(n) or self._layer_norm(n)
            out.append(fused or self._cast_gather(n) or n)
        return [n for n in out if id(n) not in self.dropped]

    def _prod(self, value: str, op: str, uses: int = 1) -> _Node | None:
        p = self.producer.get(value)
        return p if p is not None and p.op == op and self.uses.get(value, 0) == uses else None

    def _scalar(self, value: str) -> float | None:
        c = self.consts.get(value)
        return float(c.reshape(-1)[0]) if c is not None and c.size == 1 else None

    def _split(self, n: _Node) -> tuple[str, str] | None:
        """A binary node's (data, constant) operands in either order."""
        if len(n.ins) != 2:
            return None
        a, b = n.ins
        return (b, a) if a in self.known and b not in self.known else (a, b)

    def _drop(self, *nodes: _Node) -> None:
        self.dropped.update(id(n) for n in nodes)

    def _silu(self, n: _Node) -> _Node | None:
        if n.op != "Mul" or len(n.ins) != 2:
            return None
        for a, b in ((n.ins[0], n.ins[1]), (n.ins[1], n.ins[0])):
            p = self._prod(b, "Sigmoid")
            if p is not None and p.ins == [a]:
                self._drop(p)
                return _Node("nas.Silu", [a], n.outs, {}, n.name)
        return None

    def _matmul_add(self, n: _Node) -> _Node | None:
        if n.op != "Add" or len(n.ins) != 2:
            return None
        for a, b in ((n.ins[0], n.ins[1]), (n.ins[1], n.ins[0])):
            p = self._prod(a, "MatMul")
            if p is not None and b in self.known and p.ins[1] in self.known:
                self._drop(p)
                return _Node("nas.MatMulAdd", [*p.ins, b], n.outs, {}, p.name)
        return None

    def _gelu(self, n: _Node) -> _Node | None:
        """0.5 * (x * (1 + erf(x / sqrt(2)))): torch's GELU below opset 20."""
        split = self._split(n) if n.op == "Mul" else None
        if split is None or self._scalar(split[1]) != 0.5:
            return None
        inner = self._prod(split[0], "Mul")
        if inner is None or len(inner.ins) != 2:
            return None
        for x, one_plus in (inner.ins, inner.ins[::-1]):
            add = self._prod(one_plus, "Add")
            pair = self._split(add) if add is not None else None
            if pair is None or self._scalar(pair[1]) != 1.0:
                continue
            erf = self._prod(pair[0], "Erf")
            div = self._prod(erf.ins[0], "Div") if erf is not None else None
            if div is None or div.ins[0] != x:
                continue
            if abs((self._scalar(div.ins[1]) or 0.0) - 2**0.5) > 1e-4:
                continue
            self._drop(inner, add, erf, div)  # type: ignore[arg-type]
            return _Node("Gelu", [x], n.outs, {"approximate": "none"}, div.name)
        return None

    def _layer_norm(self, n: _Node) -> _Node | None:
        """(x - mean) / sqrt(var + eps) * W + B over the last axis (LayerNorm below opset 17)."""
        split = self._split(n) if n.op == "Add" else None
        if split is None or split[1] not in self.known:
            return None
        mul = self._prod(split[0], "Mul")
        pair = self._split(mul) if mul is not None else None
        if pair is None or pair[1] not in self.known:
            return None
        div = self._prod(pair[0], "Div")
        sub = self._prod(div.ins[0], "Sub", uses=2) if div is not None else None
        sqrt = self._prod(div.ins[1], "Sqrt") if div is not None else None
        add = self._prod(sqrt.ins[0], "Add") if sqrt is not None else None
        eps_pair = self._split(add) if add is not None else None
        if sub is None or eps_pair is None or self._scalar(eps_pair[1]) is None:
            return None
        var = self._prod(eps_pair[0], "ReduceMean")
        pw = self._prod(var.ins[0], "Pow") if var is not None else None
        mean = self._prod(sub.ins[1], "ReduceMean")
        if var is None or pw is None or mean is None:
            return None
        if pw.ins[0] != sub.outs[0] or mean.ins[0] != sub.ins[0]:
            return None
        if self._scalar(pw.ins[1]) != 2.0 or any(m.attrs.get("axes") != [-1] for m in (mean, var)):
            return None
        self._drop(mul, div, sub, sqrt, add, var, pw, mean)  # type: ignore[arg-type]
        eps = self._scalar(eps_pair[1])
        ins = [sub.ins[0], pair[1], split[1]]
        return _Node("LayerNormalization", ins, n.outs, {"epsilon": eps, "axis": -1}, mean.name)

    def _cast_gather(self, n: _Node) -> _Node | None:
        if n.op != "Gather" or len(n.ins) != 2 or n.ins[0] not in self.known:
            return None
        cast = self._prod(n.ins[1], "Cast")
        if cast is None or cast.ins[0] in self.known:
            return None
        self._drop(cast)
        return _Node("Gather", [n.ins[0], cast.ins[0]], n.outs, n.attrs, n.name)


# --------------------------------------------------------------------------- the importer
class _Importer:
    def __init__(self, proto: onnx.ModelProto, name: str | None) -> None:
        from onnx import numpy_helper

        og = proto.graph
        self.og = og
        self.consts: dict[str, Any] = {t.name: numpy_helper.to_array(t) for t in og.initializer}
        self.initializers = set(self.consts)  # stored weights, and Identity views of them
        self.g = Graph(name or og.name or "onnx")
        self.dyn: dict[str, str] = {}  # ONNX value -> IR node
        self.shape_of: dict[str, str] = {}  # Shape(x) output -> x, for ConstantOfShape zeros
        self.specs = registered_specs()
        self.np_ops = _np_ops()
        self.batch = BATCH
        for inp in og.input:
            if inp.name in self.consts:
                continue
            dims = inp.type.tensor_type.shape.dim
            if any(d.dim_value <= 0 for d in dims[1:]):
                raise GraphError(
                    f"ONNX input {inp.name!r} needs static per-sample dims, got {dims}"
                )
            if dims and dims[0].dim_value > 0:
                self.batch = dims[0].dim_value
            shape = tuple(d.dim_value for d in dims[1:])
            self.dyn[inp.name] = self.g.add_input(shape, name=re.sub(r"\W", "_", inp.name))

    def run(self) -> Graph:
        nodes = []
        for n in self.og.node:
            node = _Node(n.op_type, list(n.input), list(n.output), _attrs(n), n.name)
            if node.op == "Constant":
                self.consts[node.outs[0]] = _constant_value(node.attrs)
            else:
                if node.op == "Identity" and node.ins[0] in self.initializers:
                    self.initializers.add(node.outs[0])  # torch dedupes equal initializers
                nodes.append(node)
        known = set(self.consts)
        for node in nodes:  # values computed from constants only (weights seen through a Cast)
            if node.op in self.np_ops and all(i in known for i in node.ins if i):
                known.update(node.outs)
        for node in _Fuser(nodes, self.consts, known).run():
            self._node(node)
        missing = [o.name for o in self.og.output if o.name not in self.dyn]
        if missing:
            raise GraphError(f"ONNX outputs {missing} are constants or unmapped values")
        self.g.set_outputs(*[self.dyn[o.name] for o in self.og.output])
        g = fold_patterns(self.g)
        g.validate()
        return g

    def _node(self, n: _Node) -> None:
        import numpy as np

        op, ins = n.op, n.ins
        if op == "Shape" and ins[0] in self.dyn:
            self.shape_of[n.outs[0]] = ins[0]
            self.consts[n.outs[0]] = np.array([self.batch, *self.g.shape(self.dyn[ins[0]])])
            return
        if op == "ConstantOfShape" and ins[0] in self.shape_of:
            fill = n.attrs.get("value")
            if fill is None or not _array(fill).any():
                op, ins = "nas.ZerosLike", [self.shape_of[ins[0]]]
        elif ins and all(i in self.consts for i in ins if i) and op in self.np_ops:  # noqa: SIM102
            if self._evaluate(n):  # else the node maps like any other (ZerosLike, Expand)
                return
        if op == "Split":
            self._split(n)
            return
        self._map(_Node(op, ins, n.outs, n.attrs, n.name))

    def _evaluate(self, n: _Node) -> bool:
        """Evaluate a node on constants; ``False`` when it would fill a batch-sized tensor.

        ``Expand`` of a parameter over the batch (``cls_token.expand(B, -1, -1)``) keeps the
        parameter with a batch dim of 1: the consumer's hook sees the parameter itself.
        """
        import numpy as np

        vals = [self.consts[i] for i in n.ins if i]
        over_batch = n.op in ("Expand", "ConstantOfShape") and self.batch in vals[-1].reshape(-1)
        if over_batch and n.op == "Expand" and self.batch != 1:
            target = [int(v) for v in vals[1].reshape(-1)]
            w = vals[0]
            if target[0] != self.batch or w.ndim != len(target) or w.shape[0] != 1:
                return False
            self.consts[n.outs[0]] = np.broadcast_to(
                w, np.broadcast_shapes(w.shape, (1, *target[1:]))
            )
            return True
        if over_batch and self.batch != 1:
            return False
        self.consts[n.outs[0]] = self.np_ops[n.op](vals, n.attrs)
        return True

    def _split(self, n: _Node) -> None:
        """``Split`` -> one ``Slice`` per output (the IR has single-output nodes)."""
        import numpy as np

        x = n.ins[0]
        if x not in self.dyn:
            raise GraphError(f"ONNX node {n.name!r} (Split): splits a value the IR does not track")
        rank = len(self.g.shape(self.dyn[x])) + 1
        axis = int(n.attrs.get("axis", 0)) % rank
        size = self.g.shape(self.dyn[x])[axis - 1] if axis else 0
        if len(n.ins) > 1 and n.ins[1]:
            parts = [int(v) for v in self.consts[n.ins[1]]]
        elif "split" in n.attrs:
            parts = [int(v) for v in n.attrs["split"]]
        else:
            k = len(n.outs)
            parts = [-(-size // k)] * (k - 1) + [size - (k - 1) * -(-size // k)]
        start = 0
        for i, (out, part) in enumerate(zip(n.outs, parts)):
            names = [f"{out}#{k}" for k in ("starts", "ends", "axes")]
            for key, v in zip(names, (start, start + part, axis)):
                self.consts[key] = np.array([v], dtype=np.int64)
            self._map(_Node("nas.Split", [x, *names], [out], {}, f"{n.name}_{i}"))
            start += part

    def _map(self, n: _Node) -> None:
        consts_at: dict[int, Any] = {}
        shapes_at: dict[int, tuple[int, ...]] = {}
        for pos, v in enumerate(n.ins):
            if not v:
                continue
            if v in self.consts:
                consts_at[pos] = self.consts[v]
            elif v in self.dyn:
                shapes_at[pos] = self.g.shape(self.dyn[v])
            else:
                raise GraphError(
                    f"ONNX node {n.name!r} ({n.op}): input {v!r} comes from a node the IR "
                    f"could not map (shape arithmetic or an unsupported pattern)"
                )
        stored = frozenset(p for p, v in enumerate(n.ins) if v in self.initializers)
        view = OnnxNode(n.op, n.name, n.attrs, consts_at, shapes_at, len(n.ins), self.batch, stored)
        for spec in self.specs:
            if n.op in spec.onnx_op_types and spec.from_onnx is not None:
                got = spec.from_onnx(view)
                if got is not None:
                    ir_ins = [self.dyn[n.ins[p]] for p in view.data_inputs]
                    node = self.g.add(spec.name, ir_ins, name=_ir_name(n.name, n.op), **got)
                    self.dyn[n.outs[0]] = node
                    self._weights(spec, view, node)
                    return
        claimed = [s.name for s in self.specs if n.op in s.onnx_op_types]
        why = (
            f"ops {claimed} claim {n.op} but none accepts these attributes/inputs"
            if claimed
            else f"no registered op claims ONNX op type {n.op!r}"
        )
        raise GraphError(
            f"ONNX node {n.name!r} ({n.op}): {why}; register an OpSpec with "
            f"onnx_op_types=({n.op!r},) and a from_onnx hook returning its attrs"
        )

    def _weights(self, spec: OpSpec, view: OnnxNode, node: str) -> None:
        import numpy as np

        ir = self.g.node(node)
        if spec.onnx_weights is not None:
            got = spec.onnx_weights(view, ir.attrs)
        elif ir.params:
            got = _match_by_shape(spec, self.g, node, [view.consts[i] for i in sorted(view.consts)])
        else:
            return
        self.g.weights[node] = {k: np.array(v, dtype=np.float32) for k, v in got.items()}


def _array(tensor: Any) -> np.ndarray:
    from onnx import numpy_helper

    return numpy_helper.to_array(tensor)


def _match_by_shape(spec: OpSpec, g: Graph, node: str, consts: list[Any]) -> dict[str, Any]:
    """A user op without ``onnx_weights``: its constant inputs, in order, are its parameters."""
    ir = g.node(node)
    module = spec.to_torch(g.in_shapes(node), ir.shape, ir.attrs)
    params = list(module.named_parameters())
    if len(params) != len(consts) or any(
        tuple(p.shape) != tuple(c.shape) for (_, p), c in zip(params, consts)
    ):
        want = [(k, tuple(p.shape)) for k, p in params]
        got = [tuple(c.shape) for c in consts]
        raise GraphError(
            f"Node {node!r} ({spec.name}): cannot tell which ONNX constants {got} are its "
            f"parameters {want}; give the op an onnx_weights hook returning its state_dict"
        )
    return {k: c for (k, _), c in zip(params, consts)}


def import_onnx(
    model: str | os.PathLike[str] | onnx.ModelProto, *, name: str | None = None
) -> Graph:
    """Import an ONNX model as an IR graph with its weights (``Graph.weights``).

    Maps every ONNX node through the registered ``from_onnx`` hooks (see the module docstring for
    the patterns fused first). The first axis of every graph input is the batch; opsets 13-20.
    ``to_torch`` of the result computes what ONNX Runtime computes on the file.

    Raises:
        GraphError: An ONNX node no registered op claims (naming it, its op type and what to
            register).

    Example:
        >>> from nas.graph import Graph, export_onnx, import_onnx
        >>> g = Graph(); x = g.add_input((4,)); g.set_outputs(g.add("linear", x, out_features=2))
        >>> import tempfile, os; p = export_onnx(g, os.path.join(tempfile.mkdtemp(), "g.onnx"))
        >>> back = import_onnx(p)
        >>> back.graph_hash() == g.graph_hash(), [sorted(w) for w in back.weights.values()]
        (True, [['bias', 'weight']])
    """
    import onnx

    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model))
    return _Importer(proto, name).run()
