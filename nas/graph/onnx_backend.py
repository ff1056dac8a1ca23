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

Import (``nas.graph._onnx_import``) maps each ONNX node through the ``from_onnx`` hooks of
registered ops (a user's op wins over a built-in) and keeps the weights. A custom op exported as
a composition of standard ONNX ops comes back as that op only if its spec has a hook claiming the
pattern; otherwise import fails with a :class:`GraphError` naming the ONNX node and how to
register one.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.errors import GraphError
from nas.graph._graph import Graph
from nas.graph._onnx_import import import_onnx

if TYPE_CHECKING:
    import torch

__all__ = ["export_onnx", "id_bounds", "import_onnx", "onnx_check", "random_inputs"]

DEFAULT_OPSET = 20


def id_bounds(graph: Graph) -> dict[str, int]:
    """For each graph input that holds token ids, the number of valid ids.

    An input holds ids when it reaches, through any nodes in between (``slice``, ``reshape``),
    a node with an int ``vocab`` attribute (the ``embedding`` op, or a user's op that indexes a
    table the same way): every id must be in ``[0, vocab)`` of each such node it reaches, so
    the bound is the smallest ``vocab``. The walk stops at such a node (its output is vectors).

    Example:
        >>> g = Graph(); x = g.add_input((6,))
        >>> src = g.add("slice", x, axis=0, start=0, end=3)
        >>> g.set_outputs(g.add("embedding", src, vocab=50, dim=4))
        >>> id_bounds(g)
        {'input': 50}
    """
    consumers = graph.consumers()
    bounds: dict[str, int] = {}
    for name in graph.inputs:
        seen: set[str] = set()
        todo, vocabs = [name], []
        while todo:
            for c in consumers[todo.pop()]:
                if c in seen:
                    continue
                seen.add(c)
                vocab = graph.node(c).attrs.get("vocab")
                if isinstance(vocab, int) and not isinstance(vocab, bool):
                    vocabs.append(vocab)
                else:
                    todo.append(c)
        if vocabs:
            bounds[name] = min(vocabs)
    return bounds


def random_inputs(graph: Graph, batch: int, generator: torch.Generator) -> list[torch.Tensor]:
    """A random ``(batch, *shape)`` tensor per graph input, in order: standard normal floats,
    or uniform integer ids in ``[0, vocab)`` (see :func:`id_bounds`) as floats, the dtype of
    every IR input.

    Example:
        >>> import torch
        >>> g = Graph(); x = g.add_input((5,))
        >>> g.set_outputs(g.add("embedding", x, vocab=7, dim=2))
        >>> ids = random_inputs(g, 3, torch.Generator().manual_seed(0))[0]
        >>> ids.shape, ids.dtype, bool((ids == ids.round()).all() and ids.min() >= 0 and ids.max() < 7)
        (torch.Size([3, 5]), torch.float32, True)
    """
    import torch

    bounds = id_bounds(graph)
    out = []
    for name in graph.inputs:
        shape = (batch, *graph.shape(name))
        if name in bounds:
            out.append(torch.randint(bounds[name], shape, generator=generator).float())
        else:
            out.append(torch.randn(*shape, generator=generator))
    return out


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

    A graph is exported with its ``Graph.weights`` (an imported model's) and freshly
    initialized weights elsewhere; pass a trained module (and its ``input_shape``) to export
    what it learned.

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
    checked = _checked_metadata(metadata or {})
    written = _export(module, shapes, Path(path), opset, dynamic_batch)
    if checked:
        _set_metadata(written, checked)
    return written


def _checked_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    bad = [k for k, v in metadata.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise GraphError(
            f"ONNX metadata keys and values must be str (not for {bad!r}); json.dumps the values."
        )
    return dict(metadata)


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
    metadata: Mapping[str, str] | None = None,
) -> float:
    """Export to ONNX, run ONNX Runtime on a random input and compare with torch (eval mode).

    A graph is lowered with :func:`to_torch` once, so ORT and torch share the same weights; its
    inputs come from :func:`random_inputs` (valid token ids for an input feeding an embedding).
    With ``path`` the checked file stays there, with ``metadata`` as in :func:`export_onnx`.

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
        if metadata:
            _set_metadata(target, _checked_metadata(metadata))
        gen = torch.Generator().manual_seed(seed)
        if isinstance(graph_or_module, Graph):
            xs = random_inputs(graph_or_module, batch, gen)
        else:
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
