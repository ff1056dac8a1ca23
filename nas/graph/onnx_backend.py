"""ONNX backend: export through ``torch.onnx``, import ONNX models back into the IR, check with ORT.

Export uses the TorchScript exporter (``dynamo=False``) with constant folding off, in eval mode:

* the dynamo exporter's optimizer fuses Conv + BatchNormalization (and is ~50x slower), which
  would break the IR -> ONNX -> IR round trip; with folding off every IR op stays one ONNX node
  (``silu`` becomes ``x * Sigmoid(x)`` and ``linear`` on a rank > 1 input ``MatMul + Add``: the
  importer fuses both patterns back);
* ``identity`` produces no ONNX node and eval-mode ``dropout`` is dropped by the exporter; both
  are identities at inference, so ``graph_hash``, params and FLOPs survive the round trip;
* nodes that reach no output are removed by the exporter (``graph_hash`` ignores them too, but
  the imported graph's params/FLOPs then lack them);
* the batch axis is dynamic; the default opset is 20 (native ``Gelu``).

Import maps each ONNX node through the ``from_onnx`` hooks of registered ops (a user's op wins
over a built-in), reading weight shapes from initializers. A custom op exported as a composition
of standard ONNX ops comes back as that op only if its spec has a hook claiming the pattern;
otherwise import fails with a :class:`GraphError` naming the ONNX node and how to register one.
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.errors import GraphError
from nas.graph._graph import Graph
from nas.graph._ops import OnnxNode, registered_specs

if TYPE_CHECKING:
    import onnx
    import torch

__all__ = ["export_onnx", "import_onnx", "onnx_check"]

DEFAULT_OPSET = 20


def _module_and_shapes(
    graph_or_module: Graph | torch.nn.Module, input_shape: Sequence[int] | None
) -> tuple[Any, list[tuple[int, ...]]]:
    from nas.graph.torch_backend import to_torch

    if isinstance(graph_or_module, Graph):
        module = to_torch(graph_or_module)
        shapes = [graph_or_module.shape(i) for i in graph_or_module.inputs]
        if input_shape is not None and tuple(input_shape) != shapes[0]:
            raise GraphError(
                f"input_shape {tuple(input_shape)} differs from the graph's {shapes[0]}"
            )
        return module, shapes
    if input_shape is None:
        raise GraphError("export_onnx of a torch module needs input_shape (per sample, no batch)")
    return graph_or_module, [tuple(int(d) for d in input_shape)]


def export_onnx(
    graph_or_module: Graph | torch.nn.Module,
    path: str | os.PathLike[str],
    *,
    input_shape: Sequence[int] | None = None,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = True,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Export an IR graph (lowered with :func:`to_torch`) or a torch module to ONNX, in eval mode.

    A graph is exported with freshly initialized weights; pass a trained module (and its
    ``input_shape``) to export what it learned.

    Args:
        graph_or_module: A :class:`Graph`, or a module (then ``input_shape`` is required).
        path: Destination ``.onnx`` file.
        input_shape: Per-sample input shape (batch excluded) for a module.
        opset: ONNX opset (>= 17 for LayerNormalization; 20 exports GELU as one node).
        dynamic_batch: Make the batch axis symbolic.
        metadata: String key/value pairs stored as the model's ``metadata_props`` (read them
            back with ``onnx.load(path).metadata_props`` or ONNX Runtime's
            ``get_modelmeta().custom_metadata_map``).

    Returns:
        The path written.

    Example:
        >>> from nas.graph import Graph, export_onnx
        >>> g = Graph(); x = g.add_input((4,)); g.set_outputs(g.add("linear", x, out_features=2))
        >>> import onnx, tempfile, os
        >>> p = export_onnx(g, os.path.join(tempfile.mkdtemp(), "g.onnx"), metadata={"k": "v"})
        >>> {m.key: m.value for m in onnx.load(p).metadata_props}
        {'k': 'v'}
    """
    module, shapes = _module_and_shapes(graph_or_module, input_shape)
    bad = [
        k for k, v in (metadata or {}).items() if not isinstance(k, str) or not isinstance(v, str)
    ]
    if bad:
        raise GraphError(
            f"ONNX metadata keys and values must be str (not for {bad!r}); json.dumps the values."
        )
    written = _export(module, shapes, Path(path), opset, dynamic_batch)
    if metadata:
        _set_metadata(written, metadata)
    return written


def _set_metadata(path: Path, metadata: Mapping[str, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, dict(metadata))
    tmp = path.with_name(f".{path.name}.tmp")
    onnx.save(model, str(tmp))
    os.replace(tmp, path)


def _export(
    module: torch.nn.Module, shapes: list[tuple[int, ...]], path: Path, opset: int, dynamic: bool
) -> Path:
    import torch

    was_training = module.training
    module.eval()
    args = tuple(torch.zeros(2, *s) for s in shapes)
    in_names = [f"input{i}" if len(shapes) > 1 else "input" for i in range(len(shapes))]
    with torch.no_grad():
        out = module(*args)
    n_out = len(out) if isinstance(out, tuple) else 1
    out_names = [f"output{i}" if n_out > 1 else "output" for i in range(n_out)]
    axes = {n: {0: "batch"} for n in [*in_names, *out_names]} if dynamic else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                module,
                args,
                str(path),
                dynamo=False,
                do_constant_folding=False,
                opset_version=opset,
                input_names=in_names,
                output_names=out_names,
                dynamic_axes=axes,
            )
    finally:
        module.train(was_training)
    return path


# --------------------------------------------------------------------------- import
def _const_eval(op: str, vals: list[Any], attrs: dict[str, Any]) -> Any | None:
    """numpy evaluation of the few ops exporters use to build constants."""
    import numpy as np
    from onnx import helper

    if op == "Identity":
        return vals[0]
    if op == "Cast":
        return vals[0].astype(helper.tensor_dtype_to_np_dtype(attrs["to"]))
    if op == "CastLike":
        return vals[0].astype(vals[1].dtype)
    if op == "Shape":
        return np.array(vals[0].shape, dtype=np.int64)
    if op == "Unsqueeze":
        axes = vals[1] if len(vals) > 1 else attrs["axes"]
        return np.expand_dims(vals[0], tuple(int(a) for a in np.reshape(axes, -1)))
    if op == "Reshape":
        return vals[0].reshape(tuple(int(d) for d in vals[1]))
    if op == "Concat":
        return np.concatenate(vals, axis=attrs["axis"])
    if op == "Neg":
        return -vals[0]
    if op == "Transpose":
        return np.transpose(vals[0], attrs.get("perm"))
    return None


_CONST_OPS = {
    "Identity",
    "Cast",
    "CastLike",
    "Shape",
    "Unsqueeze",
    "Reshape",
    "Concat",
    "Neg",
    "Transpose",
}


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


def _fuse(nodes: list[Any], const_values: set[str]) -> list[Any]:
    """Rewrite exporter patterns into single pseudo-nodes: x * Sigmoid(x) -> ``nas.Silu``;
    MatMul(x, W) + b -> ``nas.MatMulAdd``. Returns ``(op_type, inputs, outputs, attrs, name)``."""
    consumers: dict[str, int] = {}
    producer: dict[str, int] = {}
    for i, n in enumerate(nodes):
        for v in n[1]:
            consumers[v] = consumers.get(v, 0) + 1
        for v in n[2]:
            producer[v] = i
    skip: set[int] = set()
    out = list(nodes)
    for i, (op, ins, outs, _, name) in enumerate(nodes):
        if op == "Mul" and len(ins) == 2:
            for a, b in ((ins[0], ins[1]), (ins[1], ins[0])):
                p = producer.get(b)
                if (
                    p is not None
                    and nodes[p][0] == "Sigmoid"
                    and nodes[p][1] == [a]
                    and consumers[b] == 1
                ):
                    skip.add(p)
                    out[i] = ("nas.Silu", [a], outs, {}, name)
                    break
        if op == "Add" and len(ins) == 2:
            for a, b in ((ins[0], ins[1]), (ins[1], ins[0])):
                p = producer.get(a)
                if (
                    p is not None
                    and nodes[p][0] == "MatMul"
                    and consumers[a] == 1
                    and b in const_values
                    and nodes[p][1][1] in const_values
                ):
                    skip.add(p)
                    out[i] = ("nas.MatMulAdd", [*nodes[p][1], b], outs, {}, nodes[p][4])
                    break
    return [n for i, n in enumerate(out) if i not in skip]


def import_onnx(
    model: str | os.PathLike[str] | onnx.ModelProto, *, name: str | None = None
) -> Graph:
    """Import an ONNX model as an IR graph.

    Maps Conv, Gemm, MatMul(+Add), BatchNormalization, LayerNormalization, Relu, Clip(0, 6),
    Gelu, x*Sigmoid(x), Sigmoid, HardSwish, Tanh, Add/Sum, Mul, Concat, AveragePool, MaxPool,
    GlobalAveragePool, ReduceMean (spatial), Flatten, Reshape-as-flatten, Identity, Dropout and
    Shape -> ConstantOfShape(0) (zeros) to IR ops through the registered ``from_onnx`` hooks.
    The first axis of every graph input is the batch.

    Raises:
        GraphError: An ONNX node no registered op claims (naming it and how to register one).

    Example:
        >>> from nas.graph import Graph, export_onnx, import_onnx
        >>> g = Graph(); x = g.add_input((4,)); g.set_outputs(g.add("linear", x, out_features=2))
        >>> import tempfile, os; p = export_onnx(g, os.path.join(tempfile.mkdtemp(), "g.onnx"))
        >>> import_onnx(p).graph_hash() == g.graph_hash()
        True
    """
    import onnx
    from onnx import numpy_helper

    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model))
    og = proto.graph
    consts: dict[str, Any] = {t.name: numpy_helper.to_array(t) for t in og.initializer}
    g = Graph(name or og.name or "onnx")
    dyn: dict[str, str] = {}
    for inp in og.input:
        if inp.name in consts:
            continue
        dims = inp.type.tensor_type.shape.dim
        shape = tuple(d.dim_value for d in dims[1:])
        if any(d.dim_value <= 0 for d in dims[1:]):
            raise GraphError(f"ONNX input {inp.name!r} needs static per-sample dims, got {dims}")
        dyn[inp.name] = g.add_input(shape, name=re.sub(r"\W", "_", inp.name))

    raw = [(n.op_type, list(n.input), list(n.output), _attrs(n), n.name) for n in og.node]
    const_values = set(consts)
    for op, ins, outs, _, _ in raw:
        if op == "Constant" or (op in _CONST_OPS and all(i in const_values for i in ins if i)):
            const_values.update(outs)
    shape_of: dict[str, str] = {}
    specs = registered_specs()
    for op, ins, outs, attrs, node_name in _fuse(raw, const_values):
        if op == "Constant":
            consts[outs[0]] = _constant_value(attrs)
            continue
        if all(i in consts for i in ins if i) and ins:
            value = _const_eval(op, [consts[i] for i in ins if i], attrs)
            if value is not None:
                consts[outs[0]] = value
                continue
        if op == "Shape" and ins[0] in dyn:
            shape_of[outs[0]] = ins[0]
            continue
        if op == "ConstantOfShape" and ins[0] in shape_of:
            fill = attrs.get("value")
            if fill is None or not numpy_helper.to_array(fill).any():
                op, ins = "nas.ZerosLike", [shape_of[ins[0]]]
        consts_at: dict[int, Any] = {}
        shapes_at: dict[int, tuple[int, ...]] = {}
        for pos, v in enumerate(ins):
            if not v:
                continue
            if v in consts:
                consts_at[pos] = consts[v]
            elif v in dyn:
                shapes_at[pos] = g.shape(dyn[v])
            else:
                raise GraphError(
                    f"ONNX node {node_name!r} ({op}): input {v!r} comes from a node the IR "
                    f"could not map (shape arithmetic or an unsupported pattern)"
                )
        view = OnnxNode(op, node_name, attrs, consts_at, shapes_at, len(ins))
        for spec in specs:
            if op in spec.onnx_op_types and spec.from_onnx is not None:
                got = spec.from_onnx(view)
                if got is not None:
                    ir_ins = [dyn[ins[p]] for p in view.data_inputs]
                    dyn[outs[0]] = g.add(spec.name, ir_ins, name=_ir_name(node_name, op), **got)
                    break
        else:
            claimed = [s.name for s in specs if op in s.onnx_op_types]
            why = (
                f"ops {claimed} claim {op} but rejected these attributes/inputs"
                if claimed
                else f"no registered op claims ONNX op type {op!r}"
            )
            raise GraphError(
                f"ONNX node {node_name!r} ({op}): {why}; register an OpSpec with "
                f"onnx_op_types=({op!r},) and a from_onnx hook returning its attrs"
            )
    missing = [o.name for o in og.output if o.name not in dyn]
    if missing:
        raise GraphError(f"ONNX outputs {missing} are constants or unmapped values")
    g.set_outputs(*[dyn[o.name] for o in og.output])
    g.validate()
    return g


# --------------------------------------------------------------------------- check
def onnx_check(
    graph_or_module: Graph | torch.nn.Module,
    path: str | os.PathLike[str] | None = None,
    *,
    input_shape: Sequence[int] | None = None,
    batch: int = 3,
    seed: int = 0,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> float:
    """Export to ONNX, run ONNX Runtime on a random input and compare with torch (eval mode).

    A graph is lowered with :func:`to_torch` once, so ORT and torch share the same weights.

    Returns:
        The largest absolute difference over all outputs.

    Raises:
        GraphError: If the outputs' shapes differ or values differ beyond ``atol``/``rtol``.

    Example:
        >>> from nas.graph import Graph, onnx_check
        >>> g = Graph(); x = g.add_input((4,)); g.set_outputs(g.add("linear", x, out_features=2))
        >>> onnx_check(g) < 1e-5
        True
    """
    import numpy as np
    import onnxruntime as ort
    import torch

    module, shapes = _module_and_shapes(graph_or_module, input_shape)
    module.eval()
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(path) if path is not None else Path(tmp) / "model.onnx"
        _export(module, shapes, target, DEFAULT_OPSET, True)
        gen = torch.Generator().manual_seed(seed)
        xs = [torch.randn(batch, *s, generator=gen) for s in shapes]
        with torch.no_grad():
            ref = module(*xs)
        refs = list(ref) if isinstance(ref, tuple) else [ref]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(str(target), opts, providers=["CPUExecutionProvider"])
        feed = {i.name: x.numpy() for i, x in zip(sess.get_inputs(), xs)}
        got = sess.run(None, feed)
    worst = 0.0
    for k, (r, o) in enumerate(zip(refs, got)):
        r = r.numpy()
        if r.shape != o.shape:
            raise GraphError(f"Output {k}: torch shape {r.shape} != ONNX Runtime shape {o.shape}")
        if r.size:
            worst = max(worst, float(np.max(np.abs(r - o))))
        if not np.allclose(r, o, atol=atol, rtol=rtol):
            raise GraphError(f"Output {k}: ONNX Runtime differs from torch by up to {worst:g}")
    return worst
