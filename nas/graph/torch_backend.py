"""Torch backend: lower an IR graph to ``torch.fx.GraphModule`` and import fx-traceable modules.

Torch is imported inside the functions, so ``import nas.graph`` stays torch-free.
"""

from __future__ import annotations

import keyword
import math
import operator
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nas.errors import GraphError
from nas.graph._graph import INPUT_OP, Graph
from nas.graph._ops import TorchCall, get_op, registered_specs

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
    and returns a tensor (one output) or a tuple.

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


# --------------------------------------------------------------------------- import
def _function_table() -> dict[Any, tuple[str, Any]]:
    """fx call_function/call_method targets -> (IR op, attrs from (args, kwargs))."""
    import torch
    import torch.nn.functional as F

    same = {
        F.relu: "relu",
        torch.relu: "relu",
        F.relu6: "relu6",
        F.gelu: "gelu",
        F.silu: "silu",
        F.hardswish: "hardswish",
        torch.sigmoid: "sigmoid",
        F.sigmoid: "sigmoid",
        torch.tanh: "tanh",
        F.tanh: "tanh",
        "relu": "relu",
        "sigmoid": "sigmoid",
        "tanh": "tanh",
    }
    table: dict[Any, tuple[str, Any]] = {k: (v, None) for k, v in same.items()}
    for add in (operator.add, operator.iadd, torch.add, "add"):
        table[add] = ("add", None)
    for mul in (operator.mul, operator.imul, torch.mul, "mul"):
        table[mul] = ("mul", None)
    for cat in (torch.cat, torch.concat):
        table[cat] = ("concat", None)
    for flat in (torch.flatten, "flatten"):
        table[flat] = ("flatten", None)
    table[torch.mean] = ("global_avg_pool", None)
    table["mean"] = ("global_avg_pool", None)
    table[F.adaptive_avg_pool2d] = ("global_avg_pool", None)
    table[F.adaptive_avg_pool1d] = ("global_avg_pool", None)
    table[F.dropout] = ("dropout", None)
    pools: tuple[Any, ...] = (F.avg_pool1d, F.avg_pool2d)
    for fn in pools:
        table[fn] = ("avg_pool", None)
    pools = (F.max_pool1d, F.max_pool2d)
    for fn in pools:
        table[fn] = ("max_pool", None)
    for m in ("view", "reshape"):
        table[m] = ("flatten", None)
    return table


def _arg(args: Sequence[Any], kwargs: dict[str, Any], i: int, key: str, default: Any) -> Any:
    return args[i] if len(args) > i else kwargs.get(key, default)


def _function_attrs(op: str, target: Any, args: tuple, kwargs: dict, rank: int) -> dict | None:
    """Attrs for a mapped function call, or None when the call does not fit the IR op."""
    if op in ("add", "mul"):
        return {} if kwargs.get("alpha", 1) == 1 else None
    if op == "concat":
        dim = _arg(args, kwargs, 1, "dim", 0)
        return {} if dim in (1, -rank) else None  # channels of (batch, C, ...)
    if op == "flatten":
        if target in ("view", "reshape"):
            return {}  # shape pattern checked by the caller
        start = _arg(args, kwargs, 1, "start_dim", 0)
        end = _arg(args, kwargs, 2, "end_dim", -1)
        return {} if start == 1 and end == -1 else None
    if op == "global_avg_pool":
        if getattr(target, "__name__", "").startswith("adaptive_avg_pool"):
            size = _arg(args, kwargs, 1, "output_size", None)
            return {"keepdim": True} if size in (1, (1,), (1, 1)) else None
        dims = _arg(args, kwargs, 1, "dim", None)
        keep = _arg(args, kwargs, 2, "keepdim", False)
        dims = (dims,) if isinstance(dims, int) else tuple(dims or ())
        norm = sorted(d % (rank + 1) for d in dims)
        return {"keepdim": bool(keep)} if norm == list(range(2, rank + 1)) else None
    if op == "gelu":
        return {"approximate": kwargs.get("approximate", "none")}
    if op == "dropout":
        return {"p": _arg(args, kwargs, 1, "p", 0.5)}
    if op in ("avg_pool", "max_pool"):
        names = ["kernel_size", "stride", "padding", "ceil_mode"]
        names += ["count_include_pad", "divisor_override"] if op == "avg_pool" else ["dilation"]
        vals = {n: _arg(args, kwargs, i + 1, n, None) for i, n in enumerate(names)}
        if (
            vals["ceil_mode"]
            or vals.get("divisor_override")
            or vals.get("dilation") not in (None, 1)
        ):
            return None
        out = {"kernel_size": vals["kernel_size"], "stride": vals["stride"] or None}
        out["padding"] = vals["padding"] or 0
        if op == "avg_pool":
            cip = vals["count_include_pad"]
            out["count_include_pad"] = True if cip is None else cip
        return out
    return {}


def from_torch(
    module: torch.nn.Module, input_shape: Sequence[int], *, name: str | None = None
) -> Graph:
    """Import an fx-traceable module as an IR graph (shapes come from the IR rules).

    Maps ``nn.Conv1d/2d``, ``Linear``, ``BatchNorm1d/2d``, ``LayerNorm``, activations, pools,
    ``AdaptiveAvgPool(1)``, ``Flatten``, ``Dropout``, ``Identity``, ``+``/``*``, ``torch.cat``,
    ``torch.flatten``, ``x.view(x.size(0), -1)``, ``mean`` over the spatial dims and
    ``F.relu``-style functions; a registered op's ``from_torch`` hook claims other modules.

    Raises:
        GraphError: Naming the module or function that has no IR mapping.

    Example:
        >>> import torch
        >>> from nas.graph import from_torch
        >>> m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())
        >>> from_torch(m, (3, 8, 8)).params
        224
    """
    from torch import fx

    gm = fx.symbolic_trace(module)
    g = Graph(name or type(module).__name__)
    env: dict[str, Any] = {}  # fx node name -> IR node name, or ("size", ir, dim) for x.size(d)
    table = _function_table()
    modules = dict(gm.named_modules())
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise GraphError(
            f"from_torch expects a module with one tensor input, got {len(placeholders)}"
        )

    def ir(a: Any, where: str) -> str:
        if isinstance(a, fx.Node) and isinstance(env.get(a.name), str):
            return env[a.name]
        raise GraphError(f"{where}: argument {a!r} is not a tensor the IR can track")

    for n in gm.graph.nodes:
        where = f"fx node {n.name!r} ({n.op} {n.target})"
        if n.op == "placeholder":
            env[n.name] = g.add_input(tuple(input_shape), name=n.name)
        elif n.op == "call_module":
            mod = modules[n.target]
            env[n.name] = _import_module(g, mod, n.target, [ir(a, where) for a in n.args])
        elif n.op in ("call_function", "call_method"):
            env[n.name] = _import_call(g, n, table, env, ir, where)
        elif n.op == "output":
            outs = n.args[0] if isinstance(n.args[0], tuple | list) else (n.args[0],)
            g.set_outputs(*[ir(o, where) for o in outs])
        else:
            raise GraphError(f"{where}: {n.op} nodes (attributes, constants) have no IR mapping")
    g.validate()
    return g


def _import_module(g: Graph, mod: Any, target: str, ins: list[str]) -> str:
    for spec in registered_specs():
        if spec.from_torch is None:
            continue
        attrs = spec.from_torch(mod)
        if attrs is not None:
            return g.add(spec.name, ins, name=target, **attrs)
    raise GraphError(
        f"Module {target!r} ({type(mod).__name__}) has no IR op; register an OpSpec whose "
        f"from_torch hook returns its attrs for {type(mod).__name__} instances"
    )


def _import_call(g: Graph, n: Any, table: dict, env: dict, ir: Any, where: str) -> Any:
    from torch import fx

    target = n.target
    if target == "size" and n.op == "call_method":
        return ("size", ir(n.args[0], where), _arg(n.args, n.kwargs, 1, "dim", None))
    if target is getattr and n.args[1] == "shape":  # x.shape -> treat like x.size()
        return ("size", ir(n.args[0], where), None)
    if target is operator.getitem and isinstance(env.get(getattr(n.args[0], "name", "")), tuple):
        kind, src, _ = env[n.args[0].name]
        return (kind, src, n.args[1])
    try:
        op, _ = table[target]
    except (KeyError, TypeError):
        op = None
    label = getattr(target, "__name__", str(target))
    if op is None:
        raise GraphError(
            f"{where}: function {label!r} has no IR mapping; rewrite it with mapped ops or "
            f"wrap it in a module claimed by a registered op's from_torch hook"
        )
    tensors = n.args[0] if op == "concat" else n.args
    if op == "concat":
        ins = [ir(a, where) for a in tensors]
    elif op in ("add", "mul"):
        ins = [ir(a, where) for a in n.args[:2] if isinstance(a, fx.Node)]
        if len(ins) != 2:
            raise GraphError(f"{where}: {label} with a constant operand has no IR mapping")
    else:
        ins = [ir(n.args[0], where)]
    rank = len(g.shape(ins[0]))
    if op == "flatten" and target in ("view", "reshape"):
        rest = list(n.args[1:])
        if len(rest) == 1 and isinstance(rest[0], tuple | list):
            rest = list(rest[0])

        def is_batch(a: Any) -> bool:  # x.size(0) or x.shape[0]
            info = env.get(a.name) if isinstance(a, fx.Node) else None
            return isinstance(info, tuple) and info[2] == 0

        total = math.prod(g.shape(ins[0]))
        ok = len(rest) == 2 and (
            (is_batch(rest[0]) and rest[1] in (-1, total)) or (rest[0] == -1 and rest[1] == total)
        )
        if not ok:
            raise GraphError(f"{where}: only x.view(x.size(0), -1) style flattening maps to the IR")
    attrs = _function_attrs(op, target, tuple(n.args), dict(n.kwargs), rank)
    if attrs is None:
        raise GraphError(f"{where}: {label} with these arguments has no IR mapping")
    return g.add(op, ins, name=n.name, **attrs)
