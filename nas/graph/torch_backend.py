"""Torch backend: lower an IR graph to ``torch.fx.GraphModule``; import lives in ``_torch_import``.

Torch is imported inside the functions, so ``import nas.graph`` stays torch-free.
"""

from __future__ import annotations

import keyword
import re
from typing import TYPE_CHECKING, Any

from nas.errors import GraphError
from nas.graph._graph import INPUT_OP, Graph
from nas.graph._ops import TorchCall, get_op
from nas.graph._torch_import import from_torch

if TYPE_CHECKING:
    import torch

__all__ = ["from_torch", "to_torch"]


def _sanitize(name: str, taken: set[str]) -> str:
    base = re.sub(r"\W", "_", name) or "node"
    if base[0].isdigit() or keyword.iskeyword(base):
        base = f"n_{base}"
    out, i = base, 1
    while out in taken:
        out, i = f"{base}_{i}", i + 1
    taken.add(out)
    return out


def to_torch(graph: Graph) -> torch.fx.GraphModule:
    """Lower ``graph`` to a ``torch.fx.GraphModule`` whose forward is exactly the IR dataflow.

    Parametric ops (and ``dropout``) become submodules named after their nodes (sanitized:
    ``stage1.conv`` -> ``stage1_conv``); functional ops become ``call_function`` nodes; ``identity``
    produces no node. The module takes one batch tensor ``(batch, *input_shape)`` per graph input
    and returns a tensor (one output) or a tuple. Nodes with ``graph.weights`` (an imported
    model's) get those weights; the others are freshly initialized.

    Example:
        >>> from nas.graph import Graph, to_torch
        >>> import torch
        >>> g = Graph(); x = g.add_input((3, 8, 8))
        >>> g.set_outputs(g.add("conv2d", x, out_channels=4, kernel_size=3))
        >>> to_torch(g)(torch.zeros(2, 3, 8, 8)).shape
        torch.Size([2, 4, 6, 6])
    """
    import torch
    from torch import fx

    graph.validate()
    root = torch.nn.Module()
    fxg = fx.Graph()
    taken: set[str] = set()
    env: dict[str, fx.Node] = {}
    for name in graph.nodes():
        node = graph.node(name)
        if node.op == INPUT_OP:
            env[name] = fxg.placeholder(_sanitize(name, taken))
            continue
        spec = get_op(node.op)
        args = [env[i] for i in node.inputs]
        lowered = spec.to_torch(graph.in_shapes(name), node.shape, node.attrs)
        if isinstance(lowered, torch.nn.Module):
            target = _sanitize(name, taken)
            if name in graph.weights:
                _load(lowered, graph.weights[name], name, node.op)
            root.add_module(target, lowered)
            env[name] = fxg.call_module(target, tuple(args))
        elif isinstance(lowered, TorchCall):
            env[name] = _call(fxg, lowered, args, name)
        else:
            raise GraphError(
                f"Node {name!r} ({node.op}): to_torch returned {type(lowered).__name__}; "
                f"return a torch.nn.Module or a nas.graph.TorchCall"
            )
    outs = [env[o] for o in graph.outputs]
    fxg.output(outs[0] if len(outs) == 1 else tuple(outs))
    gm = fx.GraphModule(root, fxg, class_name=_sanitize(graph.name, set()))
    return gm


def _load(module: torch.nn.Module, weights: dict[str, Any], name: str, op: str) -> None:
    """Load a node's imported weights; every tensor of the lowering must be given."""
    import torch

    state = module.state_dict()
    wanted = {k for k in state if not k.endswith("num_batches_tracked")}
    if set(weights) != wanted or any(tuple(weights[k].shape) != state[k].shape for k in wanted):
        got = {k: tuple(v.shape) for k, v in weights.items()}
        want = {k: tuple(state[k].shape) for k in sorted(wanted)}
        raise GraphError(
            f"Node {name!r} ({op}): weights {got} do not fit its lowering {want}; the op's "
            f"from_torch/onnx_weights hook must return the lowered module's state_dict"
        )
    with torch.no_grad():
        for k in wanted:
            state[k].copy_(torch.as_tensor(weights[k]))


def _call(fxg: Any, call: TorchCall, args: list[Any], name: str) -> Any:
    if call.fn is None:
        if len(args) != 1:
            raise GraphError(f"Node {name!r}: a pass-through lowering needs exactly one input")
        return args[0]
    kwargs = dict(call.kwargs)
    if call.inputs == "list":
        return fxg.call_function(call.fn, (list(args),), kwargs)
    if call.inputs == "fold":
        acc = args[0]
        for a in args[1:]:
            acc = fxg.call_function(call.fn, (acc, a), kwargs)
        return acc
    return fxg.call_function(call.fn, tuple(args), kwargs)
