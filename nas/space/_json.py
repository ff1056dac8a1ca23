"""JSON form of spaces: every node and decision as ``{"type": ..., ...}``.

Errors name the JSON path of the offending element, e.g. ``body.items[2].attrs.kernel_size``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from nas.errors import NasError, SpaceError
from nas.space._decisions import Choice, Decision, FloatRange, IntRange, _freeze, _thaw
from nas.space._nodes import (
    Branches,
    EdgeCell,
    Expr,
    InChannels,
    InputCell,
    Node,
    Op,
    Project,
    Recipe,
    Repeat,
    Residual,
    SamePadding,
    Scaled,
    Select,
    Seq,
    SqueezeExcite,
    _with_key,
)

__all__ = ["space_from_json", "space_to_json"]


def value_to_json(v: Any) -> Any:
    if isinstance(v, Decision):
        return decision_to_json(v)
    if isinstance(v, Node):
        return node_to_json(v)
    if isinstance(v, InChannels):
        return {"type": "InChannels", "mult": value_to_json(v.mult), "divisor": v.divisor}
    if isinstance(v, Scaled):
        return {
            "type": "Scaled",
            "base": v.base,
            "factor": value_to_json(v.factor),
            "divisor": v.divisor,
        }
    if isinstance(v, SamePadding):
        return {"type": "SamePadding"}
    if isinstance(v, Expr):
        raise SpaceError(f"Expression {type(v).__name__} has no JSON form.")
    return _thaw(v)


def decision_to_json(d: Decision) -> dict[str, Any]:
    if isinstance(d, Choice):
        if d.subtrees is not None:
            options: Any = {str(k): node_to_json(n) for k, n in d.subtrees.items()}
        else:
            options = [_thaw(o) for o in d.labels]
        return {"type": "Choice", "options": options, "name": d.name}
    if isinstance(d, IntRange):
        return {"type": "IntRange", "low": d.low, "high": d.high, "step": d.step, "name": d.name}
    if isinstance(d, FloatRange):
        return {"type": "FloatRange", "low": d.low, "high": d.high, "log": d.log, "name": d.name}
    raise SpaceError(f"Decision {type(d).__name__} has no JSON form.")


def node_to_json(n: Node) -> dict[str, Any]:
    base: dict[str, Any] = {"type": type(n).__name__, "key": n.key}
    if isinstance(n, Op):
        base["op"] = value_to_json(n.op)
        base["attrs"] = {k: value_to_json(v) for k, v in n.attrs.items()}
    elif isinstance(n, Seq):
        base["items"] = [node_to_json(c) for c in n.items]
    elif isinstance(n, Branches):
        base["items"] = [node_to_json(c) for c in n.items]
        base["merge"] = n.merge
    elif isinstance(n, Residual):
        base["body"] = node_to_json(n.body)
        base["shortcut"] = value_to_json(n.shortcut)
    elif isinstance(n, Repeat):
        base["block"] = node_to_json(n.block)
        base["depth"] = value_to_json(n.depth)
        base["first"] = node_to_json(n.first) if n.first is not None else None
    elif isinstance(n, EdgeCell):
        base.update(
            nodes=n.nodes,
            name=n.name,
            output=n.output,
            ops={k: node_to_json(v) for k, v in n.ops.items()},
        )
    elif isinstance(n, InputCell):
        base.update(nodes=n.nodes, name=n.name, ops={k: node_to_json(v) for k, v in n.ops.items()})
    elif isinstance(n, Select):
        base["choice"] = decision_to_json(n.choice)
    elif isinstance(n, SqueezeExcite):
        base.update(reduction=n.reduction, divisor=n.divisor, enabled=value_to_json(n.enabled))
    elif isinstance(n, Project):
        base.update(out_channels=value_to_json(n.out_channels), stride=n.stride)
    elif isinstance(n, Recipe):
        base["fields"] = {k: value_to_json(v) for k, v in n.fields.items()}
    else:
        raise SpaceError(f"Node {type(n).__name__} has no JSON form.")
    return base


def space_to_json(space: Any) -> dict[str, Any]:
    return {
        "format": "nas-space/1",
        "name": space.name,
        "version": space.version,
        "description": space.description,
        "input_shape": list(space.input_shape),
        "body": node_to_json(space.body),
        "recipe": node_to_json(space.recipe_node) if space.recipe_node is not None else None,
    }


# ----------------------------------------------------------------------------- loading
def _need(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, Mapping) or key not in obj:
        raise SpaceError(f"Space JSON at {where}: missing field {key!r}.")
    return obj[key]


def value_from_json(v: Any, where: str) -> Any:
    if isinstance(v, Mapping) and "type" in v:
        t = v["type"]
        if t in _DECISIONS:
            return decision_from_json(v, where)
        if t == "InChannels":
            return InChannels(
                value_from_json(v.get("mult", 1), f"{where}.mult"), int(v.get("divisor", 1))
            )
        if t == "SamePadding":
            return SamePadding()
        if t == "Scaled":
            return Scaled(
                _need(v, "base", where),
                value_from_json(_need(v, "factor", where), f"{where}.factor"),
                int(v.get("divisor", 8)),
            )
        return node_from_json(v, where)
    return _freeze(v)


def decision_from_json(obj: Mapping[str, Any], where: str) -> Decision:
    t = obj["type"]
    name = obj.get("name")
    try:
        if t == "Choice":
            options = _need(obj, "options", where)
            if isinstance(options, Mapping):
                return Choice(
                    {k: node_from_json(n, f"{where}.options.{k}") for k, n in options.items()},
                    name=name,
                )
            return Choice(list(options), name=name)
        if t == "IntRange":
            return IntRange(
                _need(obj, "low", where), _need(obj, "high", where), obj.get("step", 1), name=name
            )
        return FloatRange(
            _need(obj, "low", where),
            _need(obj, "high", where),
            bool(obj.get("log", False)),
            name=name,
        )
    except SpaceError as exc:
        raise SpaceError(f"Space JSON at {where}: {exc}") from None


def node_from_json(obj: Any, where: str) -> Node:
    if not isinstance(obj, Mapping):
        raise SpaceError(
            f"Space JSON at {where}: expected a node object (got {type(obj).__name__})."
        )
    t = obj.get("type")
    builder = _NODES.get(t)  # type: ignore[arg-type]
    if builder is None:
        raise SpaceError(
            f"Space JSON at {where}: unknown node type {t!r} (known: {', '.join(sorted(_NODES))})."
        )
    try:
        node = builder(obj, where)
    except SpaceError as exc:
        if str(exc).startswith("Space JSON at"):
            raise
        raise SpaceError(f"Space JSON at {where}: {exc}") from None
    except NasError as exc:  # e.g. an unknown op name from the registry
        raise type(exc)(f"Space JSON at {where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise SpaceError(f"Space JSON at {where}: {exc}") from None
    key = obj.get("key")
    if key is not None and node.key != key:
        node = _with_key(node, key)
    return node


def _items(obj: Mapping[str, Any], where: str) -> list[Node]:
    items = _need(obj, "items", where)
    if not isinstance(items, list):
        raise SpaceError(f"Space JSON at {where}.items: expected a list.")
    return [node_from_json(c, f"{where}.items[{i}]") for i, c in enumerate(items)]


def _ops(obj: Mapping[str, Any], where: str) -> dict[str, Node]:
    ops = _need(obj, "ops", where)
    if not isinstance(ops, Mapping):
        raise SpaceError(f"Space JSON at {where}.ops: expected an object of label -> node.")
    return {k: node_from_json(v, f"{where}.ops.{k}") for k, v in ops.items()}


_DECISIONS = {"Choice", "IntRange", "FloatRange"}

_NODES: dict[str, Callable[[Mapping[str, Any], str], Node]] = {
    "Op": lambda o, w: Op(
        value_from_json(_need(o, "op", w), f"{w}.op"),
        **{k: value_from_json(v, f"{w}.attrs.{k}") for k, v in dict(o.get("attrs", {})).items()},
    ),
    "Seq": lambda o, w: Seq(*_items(o, w)),
    "Branches": lambda o, w: Branches(*_items(o, w), merge=o.get("merge", "add")),
    "Residual": lambda o, w: Residual(
        node_from_json(_need(o, "body", w), f"{w}.body"),
        value_from_json(o.get("shortcut", "identity"), f"{w}.shortcut"),
    ),
    "Repeat": lambda o, w: Repeat(
        node_from_json(_need(o, "block", w), f"{w}.block"),
        value_from_json(_need(o, "depth", w), f"{w}.depth"),
        first=node_from_json(o["first"], f"{w}.first") if o.get("first") else None,
    ),
    "EdgeCell": lambda o, w: EdgeCell(
        _need(o, "nodes", w), _ops(o, w), name=o.get("name"), output=o.get("output", "last")
    ),
    "InputCell": lambda o, w: InputCell(_need(o, "nodes", w), _ops(o, w), name=o.get("name")),
    "Select": lambda o, w: Select(decision_from_json(_need(o, "choice", w), f"{w}.choice")),  # type: ignore[arg-type]
    "SqueezeExcite": lambda o, w: SqueezeExcite(
        int(o.get("reduction", 4)),
        int(o.get("divisor", 8)),
        value_from_json(o.get("enabled", True), f"{w}.enabled"),
    ),
    "Project": lambda o, w: Project(
        value_from_json(_need(o, "out_channels", w), f"{w}.out_channels"), int(o.get("stride", 1))
    ),
    "Recipe": lambda o, w: Recipe(
        **{k: value_from_json(v, f"{w}.fields.{k}") for k, v in dict(o.get("fields", {})).items()}
    ),
}


def space_from_json(obj: Any) -> Any:
    from nas.space._space import Space

    if not isinstance(obj, Mapping):
        raise SpaceError(f"Space JSON must be an object (got {type(obj).__name__}).")
    if obj.get("format") != "nas-space/1":
        raise SpaceError(
            f"Space JSON has format {obj.get('format')!r}; expected 'nas-space/1' "
            f"(write it with Space.to_json())."
        )
    recipe = obj.get("recipe")
    return Space(
        str(_need(obj, "name", "space")),
        node_from_json(_need(obj, "body", "space"), "body"),
        input_shape=tuple(_need(obj, "input_shape", "space")),
        recipe=node_from_json(recipe, "recipe") if recipe else None,  # type: ignore[arg-type]
        version=str(obj.get("version", "1")),
        description=str(obj.get("description", "")),
    )
