"""The weight-sharing supernet of a space whose op choices are local.

A choice is *local* when every candidate maps the same single input to one output of the
same shape and choosing another candidate changes nothing else in the graph (NB-201 and
DARTS cell edges, a per-layer op or kernel choice with same padding). The supernet is found
from the space itself, through the node contract (``Node.build`` and ``ctx.decide``):

1. the space is built for a base arch while recording every place (*position*) a decision
   is met; a named decision used in several places, like the NB-201 cell's edges, is met at many;
2. for every decision and every value it is built again; the candidate's nodes at a
   position are those under ``path.label`` (a choice over subtrees, the node contract's
   convention) or the node that owns the decided attribute (a value choice such as an op
   name or a kernel size);
3. what lies outside the candidates must be the same graph for every value (else the
   choice is not local and :class:`OneShotError` names it).

The supernet keeps one copy of the common nodes (outside every candidate) and one copy of every candidate at every
position, each lowered by the op registry exactly as ``nas.graph.to_torch`` lowers it. It runs
one path (``path={key: label}``: SPOS, evaluating an arch) or the weighted sum of every
candidate (``weights={key: tensor}``: DARTS). :meth:`Supernet.to_standalone` returns the
compiled stand-alone module of an arch with the supernet's weights copied in.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from nas.errors import NasError
from nas.graph import Graph, get_op
from nas.graph._ops import TorchCall
from nas.space import Arch, Choice, Space
from nas.space._context import BuildContext, FromValues

if TYPE_CHECKING:
    from nas.space import Decision

__all__ = ["OneShotError", "Position", "Supernet"]


class OneShotError(NasError, ValueError):
    """A space cannot become a supernet, or a one-shot search was misconfigured."""


@dataclass(frozen=True)
class Position:
    """One place where a searched decision is met.

    Attributes:
        path: the tree path where the decision is decided (``stage0.n1_from0``).
        key: the arch key of the decision (its explicit name, else ``path``).
        labels: the candidate values, in the decision's order.
    """

    path: str
    key: str
    labels: tuple[Any, ...]


class _Recorder(BuildContext):
    """A build context that remembers every (path, key) where a decision is decided."""

    __slots__ = ("met",)
    splice = False  # every decision is met at its own path, never inside a template

    def __init__(self, values: Mapping[str, Any], space: Space) -> None:
        super().__init__(FromValues(values, space.name))
        self.met: list[tuple[str, str, Decision]] = []

    def decide(self, path: str, decision: Decision) -> Any:
        self.met.append((path, decision.name or path, decision))
        return super().decide(path, decision)


def _build(
    space: Space, values: Mapping[str, Any]
) -> tuple[Graph, list[tuple[str, str, Decision]]]:
    graph = Graph(name=space.name)
    ctx = _Recorder(values, space)
    graph.set_outputs(space.body.build(ctx, graph, "", graph.add_input(space.input_shape)))
    return graph, ctx.met


def _segment(graph: Graph, path: str, decision: Any, value: Any) -> list[str]:
    """The nodes of the candidate ``value`` of the decision met at ``path``, in order."""
    if isinstance(decision, Choice) and decision.subtrees is not None:
        prefix = f"{path}.{value}" if path else str(value)
        return [n for n in graph.nodes() if n == prefix or n.startswith(prefix + ".")]
    owner = path.rpartition(".")[0]  # a value decided for an attribute of the op at ``owner``
    return [owner] if owner in graph.nodes() else []


class _Program(nn.Module):
    """IR nodes lowered one by one and run in order (the same lowering as ``to_torch``)."""

    def __init__(self, graph: Graph, names: Sequence[str], rename: Mapping[str, str]) -> None:
        super().__init__()
        self.steps: list[tuple[str, tuple[str, ...], Any]] = []
        self.module_of: dict[str, nn.Module] = {}
        mods = []
        for name in names:
            node = graph.node(name)
            lowered = get_op(node.op).to_torch(graph.in_shapes(name), node.shape, node.attrs)
            if isinstance(lowered, nn.Module):
                self.module_of[name] = lowered
                mods.append(lowered)
            inputs = tuple(rename.get(i, i) for i in node.inputs)
            self.steps.append((name, inputs, lowered))
        self.mods = nn.ModuleList(mods)

    def run(self, env: dict[str, torch.Tensor], name: str) -> torch.Tensor:
        """Execute the steps over ``env`` (name -> tensor) and return node ``name``'s value."""
        for out, inputs, fn in self.steps:
            env[out] = _apply(fn, [env[i] for i in inputs])
        return env[name]


def _apply(fn: Any, args: list[torch.Tensor]) -> torch.Tensor:
    if isinstance(fn, nn.Module):
        return fn(*args)
    call: TorchCall = fn
    f = call.fn
    if f is None:
        return args[0]
    if call.inputs == "list":
        return f(list(args), **call.kwargs)
    if call.inputs == "fold":
        return functools.reduce(lambda a, b: f(a, b, **call.kwargs), args)
    return f(*args, **call.kwargs)


class _Candidate(nn.Module):
    def __init__(self, graph: Graph, names: list[str], source: str, output: str) -> None:
        super().__init__()
        self.program = _Program(graph, names, {source: "@in"})
        self.output = output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.program.run({"@in": x}, self.output)


class MixedOp(nn.Module):
    """Every candidate of one position; runs one of them or their weighted sum."""

    def __init__(self, candidates: list[_Candidate]) -> None:
        super().__init__()
        self.candidates = nn.ModuleList(candidates)

    def forward(
        self, x: torch.Tensor, index: int | None = None, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        if weights is None:
            assert index is not None
            return self.candidates[index](x)
        # (batch, ...) per candidate, weighted by the softmaxed architecture parameters
        return sum(w * c(x) for w, c in zip(weights, self.candidates))  # type: ignore[return-value]


class Supernet(nn.Module):
    """One module holding every candidate of every local choice of ``space`` once per position.

    Args:
        space: the space; every active decision of its network must be a local choice, or
            fixed in ``fixed``.
        fixed: values for decisions the supernet does not search (and recipe decisions).

    Raises:
        OneShotError: naming the decision that is not local, with the fix.

    Example:
        >>> import torch
        >>> from nas.space import get_space
        >>> space = get_space("nb201_1d")
        >>> net = Supernet(space)
        >>> net.keys[:2], len(net.positions)
        (['cell.n1_from0', 'cell.n2_from0'], 12)
        >>> arch = space.sample(__import__("numpy").random.default_rng(0))
        >>> net(torch.zeros(2, 1, 40), path=arch).shape
        torch.Size([2, 10])
    """

    def __init__(self, space: Space, fixed: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.space = space
        self.fixed = dict(fixed or {})
        self.base = base_values(space, self.fixed)
        graph, met = _build(space, self.base)
        self.keys: list[str] = []  # searched decision keys, in first-met order
        self.labels: dict[str, tuple[Any, ...]] = {}
        self.positions: list[Position] = []
        decisions = {}
        for path, key, decision in met:
            if key.startswith("recipe.") or key in self.fixed:
                continue
            if not isinstance(decision, Choice) or decision.size() < 2:
                if isinstance(decision, Choice):
                    continue  # a single-option choice is not a decision to search
                raise OneShotError(
                    f"Decision {key!r} ({decision.describe()}) is not a choice among candidates; "
                    f"a supernet searches Choice decisions only. Fix it with "
                    f"fixed={{{key!r}: value}}."
                )
            if key not in self.labels:
                self.keys.append(key)
                self.labels[key] = tuple(decision.values())
                decisions[key] = decision
            self.positions.append(Position(path, key, self.labels[key]))
        if not self.positions:
            raise OneShotError(f"Space {space.name!r} has no choice for a supernet to search.")
        self._build_modules(graph, decisions)

    # ------------------------------------------------------------------ construction
    def _build_modules(self, base_graph: Graph, decisions: dict[str, Any]) -> None:
        skeleton = self._skeleton(base_graph, self.base, decisions)
        mixed: dict[str, list[_Candidate]] = {p.path: [] for p in self.positions}
        self._inputs: dict[str, str] = {}
        for key in self.keys:
            for label in self.labels[key]:
                values = {**self.base, key: label}
                graph, _ = _build(self.space, values)
                variant = self._skeleton(graph, values, decisions)
                if variant["nodes"] != skeleton["nodes"]:
                    where = _first_difference(skeleton["nodes"], variant["nodes"])
                    raise OneShotError(
                        f"Decision {key!r} is not local: choosing {label!r} changes the graph "
                        f"outside its candidates (at node {where!r}); fix it with "
                        f"fixed={{{key!r}: value}}."
                    )
                for p in self.positions:
                    if p.key != key:
                        continue
                    names, source, output = variant["segments"][p.path]
                    feed = variant["rename"].get(source, source)
                    if self._inputs.setdefault(p.path, feed) != feed:
                        raise OneShotError(
                            f"Decision {key!r} is not local: the input of its candidates at "
                            f"{p.path!r} depends on the value chosen; fix it with fixed=."
                        )
                    mixed[p.path].append(_Candidate(graph, names, source, output))
        self.common = _Program(base_graph, skeleton["common"], skeleton["rename"])
        self._order = skeleton["order"]
        self._slot = {p.path: i for i, p in enumerate(self.positions)}
        self._out = base_graph.outputs[0]
        self._input = base_graph.nodes()[0]
        self.mixed = nn.ModuleList([MixedOp(mixed[p.path]) for p in self.positions])

    def _skeleton(
        self, graph: Graph, values: Mapping[str, Any], decisions: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The graph outside the candidates, with each candidate's output named ``@path``."""
        segments: dict[str, tuple[list[str], str, str]] = {}
        owner: dict[str, str] = {}
        for p in self.positions:
            path, value = p.path, values[p.key]
            names = _segment(graph, path, decisions[p.key], value)
            taken = [n for n in names if n in owner]
            if taken:
                raise OneShotError(
                    f"Decisions {p.key!r} and the one at {owner[taken[0]]!r} both choose node "
                    f"{taken[0]!r}; a supernet needs one decision per candidate op: fix one "
                    f"of them with fixed=."
                )
            inside = set(names)
            sources = {i for n in names for i in graph.node(n).inputs if i not in inside}
            users = {n for n in graph.nodes() if n not in inside}
            outputs = [
                n
                for n in names
                if n in graph.outputs or any(n in graph.node(u).inputs for u in users)
            ]
            if not names or len(sources) != 1 or len(outputs) != 1:
                raise OneShotError(
                    f"Decision {p.key!r} at {path!r} is not local: its candidate {value!r} has "
                    f"{len(names)} node(s), {len(sources)} input(s) and {len(outputs)} output(s) "
                    f"(expected one input and one output); fix it with "
                    f"fixed={{{p.key!r}: value}}."
                )
            segments[path] = (names, sources.pop(), outputs[0])
            owner.update({n: path for n in names})
        rename = {seg[2]: f"@{path}" for path, seg in segments.items()}
        common: list[str] = []
        nodes: list[tuple[Any, ...]] = []
        order: list[tuple[str, str]] = []  # ("node", name) or ("mixed", path), in run order
        done: set[str] = set()
        for name in graph.nodes()[1:]:
            at = owner.get(name)
            if at is None:
                node = graph.node(name)
                inputs = tuple(rename.get(i, i) for i in node.inputs)
                nodes.append((name, node.op, dict(node.attrs), node.shape, inputs))
                common.append(name)
                order.append(("node", name))
            elif at not in done:
                done.add(at)
                order.append(("mixed", at))
        return {"nodes": nodes, "segments": segments, "rename": rename, "common": common,
                "order": order}  # fmt: skip

    # ------------------------------------------------------------------ running
    def forward(
        self,
        x: torch.Tensor,
        *,
        path: Arch | Mapping[str, Any] | None = None,
        weights: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Run one path (``path``: an arch or ``{key: label}``) or the weighted sum of every
        candidate (``weights``: ``{key: (num_labels,) tensor}``); exactly one of them.

        ``x``: ``(batch, *space.input_shape)``; returns the network's output.
        """
        if (path is None) == (weights is None):
            raise OneShotError("Supernet.forward needs exactly one of path= or weights=.")
        values = path.values if isinstance(path, Arch) else path
        given: Mapping[str, Any] = values if values is not None else weights or {}
        missing = [k for k in self.keys if k not in given]
        if missing:
            raise OneShotError(
                f"Supernet.forward got no {'weights' if values is None else 'value'} for "
                f"decision {missing[0]!r}; give every searched decision: {', '.join(self.keys)}."
            )
        env: dict[str, torch.Tensor] = {self._input: x}
        for kind, name in self._order:
            if kind == "node":
                _, inputs, fn = self._common_step[name]
                env[name] = _apply(fn, [env[i] for i in inputs])
                continue
            slot = self._slot[name]
            p, op = self.positions[slot], self.mixed[slot]
            source = env[self._inputs[p.path]]
            if weights is not None:
                env[f"@{name}"] = op(source, weights=weights[p.key])
            else:
                env[f"@{name}"] = op(source, index=self.index(p.key, values[p.key]))  # type: ignore[index]
        return env[self._out]

    @functools.cached_property
    def _common_step(self) -> dict[str, tuple[str, tuple[str, ...], Any]]:
        return {s[0]: s for s in self.common.steps}

    def index(self, key: str, label: Any) -> int:
        """The candidate index of ``label`` for decision ``key``."""
        try:
            return self.labels[key].index(label)
        except (KeyError, ValueError):
            raise OneShotError(
                f"Expected one of {list(self.labels.get(key, ()))} for {key!r} (got {label!r})."
            ) from None

    def arch(self, labels: Mapping[str, Any]) -> Arch:
        """The space's arch for searched ``labels`` (the fixed values fill the rest)."""
        return self.space.validate({**self.base, **labels})

    # ------------------------------------------------------------------ export
    def to_standalone(self, arch: Arch | Mapping[str, Any]) -> torch.fx.GraphModule:
        """The compiled stand-alone module of ``arch`` (``space.to_torch``) with the supernet's
        weights (parameters and buffers) copied in."""
        from nas.graph import to_torch

        arch = self.space.validate(arch)
        graph, _ = _build(self.space, arch.values)
        module = to_torch(graph)
        owned: dict[str, nn.Module] = dict(self.common.module_of)
        for i, p in enumerate(self.positions):
            mixed: MixedOp = self.mixed[i]  # type: ignore[assignment]
            candidate: _Candidate = mixed.candidates[self.index(p.key, arch[p.key])]  # type: ignore[assignment]
            owned.update(candidate.program.module_of)
        ours = [owned[n] for n in graph.nodes() if n in owned]
        theirs = [
            module.get_submodule(n.target) for n in module.graph.nodes if n.op == "call_module"
        ]
        if len(ours) != len(theirs) or any(type(a) is not type(b) for a, b in zip(ours, theirs)):
            raise OneShotError(
                f"The supernet's modules do not match the compiled module of arch "
                f"{arch.arch_id} ({len(ours)} vs {len(theirs)}); this is a bug in nas.oneshot."
            )
        for src, dst in zip(ours, theirs):
            dst.load_state_dict(src.state_dict())
        return module


def base_values(space: Space, fixed: Mapping[str, Any]) -> dict[str, Any]:
    """Every decision at its default, ``fixed`` applied: the supernet's base arch's values."""
    unknown = [k for k in fixed if k not in space.decisions]
    if unknown:
        raise OneShotError(
            f"fixed= names {unknown[0]!r}, which is not a decision of space {space.name!r}; "
            f"its decisions are {', '.join(space.decisions)}."
        )
    values = {k: fixed.get(k, d.default()) for k, d in space.decisions.items()}
    try:
        return dict(space.validate(values).values)
    except NasError as err:
        raise OneShotError(
            f"Space {space.name!r} has conditional decisions ({err}); a supernet needs every "
            f"searched decision active in every arch: fix the conditional ones with fixed=."
        ) from None


def _first_difference(a: Sequence[Any], b: Sequence[Any]) -> str:
    for x, y in zip(a, b):
        if x != y:
            return str(x[0])
    longer = a if len(a) > len(b) else b
    return str(longer[min(len(a), len(b))][0]) if longer else "?"
