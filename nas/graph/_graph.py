"""The IR graph: a DAG of atomic ops whose shapes, params and FLOPs come from the op registry."""

from __future__ import annotations

import json
import math
import weakref
from collections.abc import Callable, Hashable, Mapping, Sequence
from itertools import accumulate, count, islice, repeat
from operator import itemgetter
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from nas.errors import GraphError
from nas.graph._ops import Shape, as_shape, get_op

if TYPE_CHECKING:
    import networkx

__all__ = ["INPUT_OP", "Graph", "Node"]

INPUT_OP = "input"

# (op, input shapes, attrs) -> (spec, resolved attrs, shape, params, flops); see Graph._make_node
_RULES_CACHE: dict[tuple[Any, ...], tuple[Any, ...]] = {}
"""The pseudo-op of graph inputs (not in the op registry: it has no inputs, params or FLOPs)."""

FORMAT = "nas.graph/1"


class Node(NamedTuple):
    """One node of an IR graph; immutable (build a new graph to change it).

    A named tuple: a compiled candidate holds hundreds of nodes and copies them per cell
    (:meth:`Graph.splice`), and a tuple is the cheapest immutable record to make.

    Attributes:
        name: Unique name inside its graph.
        op: Registry name of the op, or ``"input"`` for a graph input.
        attrs: Normalized attributes, defaults filled in (read-only).
        inputs: Producer node names, in order (order matters for ``concat``).
        shape: Per-sample output shape (batch excluded).
        params: Learnable parameters of this node.
        flops: MACs of this node for one sample (conv and linear only).
    """

    name: str
    op: str
    attrs: Mapping[str, Any]
    inputs: tuple[str, ...]
    shape: Shape
    params: int = 0
    flops: int = 0


# ``Node(...)`` without the named tuple's Python-level ``__new__`` (hot path): all 7 fields
_new = tuple.__new__
Draw = Callable[["Graph", str, str], str]  # (graph, path, input) -> output: adds nodes at path


class _SplicePlan(NamedTuple):
    """Nodes as :meth:`Graph.splice` copies them, one column per field: the name after the
    root, the fields kept as they are, and where the inputs come from (``gather`` takes
    every node's inputs, in order, from the bound inputs followed by the copies' names;
    ``cuts`` slices them per node)."""

    rests: tuple[str, ...]
    ops: tuple[str, ...]
    attrs: tuple[Mapping[str, Any], ...]
    gather: itemgetter[Any]
    cuts: tuple[slice, ...]
    shapes: tuple[Shape, ...]
    params: tuple[int, ...]
    flops: tuple[int, ...]
    positions: dict[str, int]  # a node's name where it was drawn -> its index in the table


def _plan(
    columns: tuple[tuple[Any, ...], ...], inputs: Sequence[str], root: str, where: str
) -> _SplicePlan:
    """The plan that copies nodes (``columns``: their 7 fields' columns; named ``root +
    rest``, reading ``inputs`` and each other) wherever ``inputs`` are bound. Raises
    :class:`GraphError` naming a node not under ``root``, or when one reads a node outside."""
    names, ops, attrs, ins, shapes, params, flops = columns or ((),) * 7
    if INPUT_OP in ops or not all(map(str.startswith, names, repeat(root))):
        bad = next(n for n, op in zip(names, ops) if op == INPUT_OP or not n.startswith(root))
        raise GraphError(
            f"Splicing {where!r}: node {bad!r} is not under root {root!r}; pass the root "
            f"every node name begins with"
        )
    positions = dict(zip((*inputs, *names), count()))
    try:
        refs = [positions[i] for node_ins in ins for i in node_ins]
    except KeyError:
        raise GraphError(f"Splicing {where!r}: a node reads one it is not given") from None
    stops = list(accumulate(map(len, ins)))
    cuts = tuple(map(slice, [0, *stops[:-1]], stops))
    gather = itemgetter(*refs, 0)  # a last, unused index: always a tuple, even of one
    rests = tuple(name[len(root) :] for name in names)
    return _SplicePlan(rests, ops, attrs, gather, cuts, shapes, params, flops, positions)


class _Drawn(NamedTuple):
    """Where a subtree's first drawing lies in its graph (kept by :meth:`Graph.splice_once`
    until the subtree repeats; the graph is not kept alive for it)."""

    graph: weakref.ref[Graph]
    start: int
    stop: int
    path: str
    input: str
    output: str


def _planned(graph: Graph, drawn: _Drawn) -> tuple[_SplicePlan, int] | Literal[False]:
    """The plan of a drawing and its output's position, or False when the drawing cannot
    be copied (it names a node outside its path or reads one other than its input)."""
    columns = tuple(zip(*islice(graph._nodes.values(), drawn.start, drawn.stop)))
    try:
        plan = _plan(columns, [drawn.input], drawn.path, graph.name)
        return plan, plan.positions[drawn.output]
    except (GraphError, KeyError):
        return False


def _attr_text(value: Any) -> str:
    return repr(value) if not isinstance(value, float) else f"{value:g}"


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


class Graph:
    """A DAG of ops; every :meth:`add` infers shape, params and FLOPs right away (no torch).

    Example:
        >>> g = Graph("tiny")
        >>> x = g.add_input((3, 32, 32))
        >>> y = g.add("conv2d", x, out_channels=8, kernel_size=3, padding="same")
        >>> y = g.add("relu", y)
        >>> g.set_outputs(y)
        >>> g.shape(y), g.params, g.flops
        ((8, 32, 32), 216, 221184)
    """

    def __init__(self, name: str = "graph") -> None:
        self.name = name
        self._nodes: dict[str, Node] = {}  # insertion order is a topological order
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        # node name -> the lowered module's state_dict as numpy arrays; filled by the importers
        # (import_onnx, from_torch) and loaded by to_torch; empty for a compiled candidate
        self.weights: dict[str, dict[str, Any]] = {}
        self._plans: dict[str, tuple[int, _SplicePlan]] = {}  # root -> (node count, plan)
        self._suffixed = 0  # names that got a numeric suffix (a taken name), ever

    # ------------------------------------------------------------------ building
    def _unique(self, base: str) -> str:
        if base not in self._nodes:
            return base
        self._suffixed += 1
        i = 1
        while f"{base}_{i}" in self._nodes:
            i += 1
        return f"{base}_{i}"

    def add_input(self, shape: Shape, name: str = "input") -> str:
        """Add a graph input of per-sample ``shape``; returns its (unique) node name."""
        node_name = self._unique(str(name))
        self._nodes[node_name] = Node(
            node_name, INPUT_OP, MappingProxyType({}), (), as_shape(shape)
        )
        self.inputs.append(node_name)
        return node_name

    def add(
        self, op: str, inputs: str | Sequence[str], *, name: str | None = None, **attrs: Any
    ) -> str:
        """Add a node and infer its shape, params and FLOPs from the op registry.

        Args:
            op: Registered op name (``"conv2d"``).
            inputs: Producer node name(s), in order.
            name: Node name; ``None`` derives one from ``op``; a taken name gets a numeric suffix.
            **attrs: Op attributes; defaults fill in the rest.

        Returns:
            The node's name.

        Raises:
            RegistryError: Unknown op (with a "did you mean" suggestion).
            GraphError: Unknown input, wrong arity, bad attribute or shape mismatch; the message
                names the node, the op and the input shapes.
        """
        nodes = self._nodes
        ins = (inputs,) if isinstance(inputs, str) else tuple(inputs)
        base = str(name) if name is not None else op
        node_name = base if base not in nodes else self._unique(base)
        try:
            in_shapes = (
                (nodes[ins[0]].shape,) if len(ins) == 1 else tuple(nodes[i].shape for i in ins)
            )
        except (KeyError, TypeError):
            get_op(op)  # an unknown op is reported first, with close matches
            missing = next(i for i in ins if not isinstance(i, str) or i not in nodes)
            raise GraphError(
                f"Node {node_name!r} ({op}): input {missing!r} is not in graph {self.name!r}; "
                f"add it first (nodes are added in dataflow order)"
            ) from None
        node = self._make_node(node_name, op, ins, in_shapes, attrs)
        nodes[node_name] = node
        return node_name

    def _make_node(
        self,
        name: str,
        op: str,
        ins: tuple[str, ...],
        in_shapes: tuple[Shape, ...],
        attrs: Mapping[str, Any],
    ) -> Node:
        spec = get_op(op)
        # Candidates of one space repeat the same (op, input shapes, attrs) over and over: the
        # registry's rules are pure, so their answers are memoized per spec object.
        try:
            key = (op, in_shapes, tuple(attrs.items()))
            hit = _RULES_CACHE.get(key)
        except TypeError:  # an unhashable attr value: compute without the cache
            key, hit = None, None
        if hit is not None and hit[0] is spec:
            _, resolved, shape, params, flops = hit
            return _new(Node, (name, op, resolved, ins, shape, params, flops))
        shapes_text = " and ".join(str(s) for s in in_shapes) or "()"
        try:
            bad = spec.check_arity(len(ins))
            if bad:
                raise GraphError(bad)
            resolved = spec.resolve_attrs(in_shapes, attrs)
            shape = as_shape(spec.infer_shape(in_shapes, resolved))
            params = int(spec.params(in_shapes, shape, resolved))
            flops = int(spec.flops(in_shapes, shape, resolved))
        except GraphError as err:
            msg = str(err)
            if shapes_text not in msg:
                msg = f"{msg} (input shapes: {shapes_text})"
            raise GraphError(f"Node {name!r} ({op}): {msg}") from None
        frozen = MappingProxyType(resolved)
        if key is not None:
            if len(_RULES_CACHE) > 200_000:
                _RULES_CACHE.clear()
            _RULES_CACHE[key] = (spec, frozen, shape, params, flops)
        return Node(name, op, frozen, ins, shape, params, flops)

    def splice(
        self, template: Graph, inputs: Sequence[str], *, prefix: str = "", root: str = ""
    ) -> list[str]:
        """Copy ``template``'s nodes into this graph and return its outputs' names here.

        A cell compiled once is spliced wherever it repeats: the template's inputs are bound
        to ``inputs`` (nodes of this graph with the same shapes) and every other node, named
        ``root + rest``, is added as ``prefix + rest`` (a taken name gets a numeric suffix, as
        in :meth:`add`), with its attrs, shape, params and FLOPs reused, not re-inferred: the
        template inferred them from the same input shapes. Adding the nodes one by one under
        those names gives the same graph (same ``to_text``, same ``graph_hash``).

        Example:
            >>> cell = Graph("cell"); x = cell.add_input((4,), name="x")
            >>> cell.set_outputs(cell.add("relu", cell.add("linear", x, out_features=4)))
            >>> g = Graph(); y = g.add_input((4,))
            >>> y = g.splice(cell, [y], prefix="c0.")[0]; y = g.splice(cell, [y], prefix="c1.")[0]
            >>> g.nodes(), g.params
            (['input', 'c0.linear', 'c0.relu', 'c1.linear', 'c1.relu'], 40)

        Raises:
            GraphError: The number or the shapes of ``inputs`` differ from the template's, or
                a node's name does not begin with ``root``.
        """
        nodes = self._nodes
        if len(inputs) != len(template.inputs):
            raise GraphError(
                f"Splicing {template.name!r} into {self.name!r}: expected "
                f"{len(template.inputs)} inputs, got {len(inputs)}; pass one node per template input"
            )
        for inner, outer in zip(template.inputs, inputs):
            want = template._nodes[inner].shape
            if outer not in nodes or nodes[outer].shape != want:
                got = nodes[outer].shape if outer in nodes else "no such node"
                raise GraphError(
                    f"Splicing {template.name!r} into {self.name!r}: input {outer!r} must have "
                    f"shape {want} like the template's {inner!r} (got {got}); compile the "
                    f"template for this input shape"
                )
        size, plan = template._plans.get(root, (-1, None))
        if plan is None or size != len(template._nodes):  # nodes are only ever appended
            body = [n for n in template._nodes.values() if n.op != INPUT_OP]
            plan = _plan(tuple(zip(*body)), template.inputs, root, template.name)
            template._plans[root] = (len(template._nodes), plan)
        table = self._copy(plan, inputs, prefix)
        for name, weights in template.weights.items():
            self.weights[table[plan.positions[name]]] = dict(weights)
        return [table[plan.positions[o]] for o in template.outputs]

    def _copy(self, plan: _SplicePlan, inputs: Sequence[str], prefix: str) -> tuple[str, ...]:
        """Add the plan's nodes under ``prefix`` on ``inputs``; returns the table its
        positions index (the inputs, then the copies' names). Loops run in C (``map``,
        ``zip``): a compiled candidate copies hundreds of nodes."""
        nodes = self._nodes
        names = list(map(prefix.__add__, plan.rests))
        if not nodes.keys().isdisjoint(names):  # named as add names them, one after the other
            free = []
            for name in names:
                free.append(self._unique(name))
                nodes[free[-1]] = None  # type: ignore[assignment]  # held: its node comes below
            names = free
        table = (*inputs, *names)
        ins = map(plan.gather(table).__getitem__, plan.cuts)
        fields = zip(names, plan.ops, plan.attrs, ins, plan.shapes, plan.params, plan.flops)
        nodes.update(zip(names, map(_new, repeat(Node), fields)))
        return table

    def splice_once(
        self, templates: dict[Any, Any], key: Hashable, x: str, path: str, draw: Draw
    ) -> str:
        """``draw(self, path, x)``, which adds nodes named ``path`` or ``path + rest``, drawn
        in place the first time per ``key`` and shape of ``x``, and spliced from that first
        drawing under ``path`` wherever it repeats (the same nodes, names included; the plan
        is made when it first repeats and kept in ``templates``). Drawn as it is when ``path``
        is empty, when a first drawing named a node outside its path, read a node other than
        its input, or met a taken name.

        Example:
            >>> def block(g, path, x): return g.add("relu", g.add("linear", x, name=path, out_features=4), name=path + ".act")
            >>> g = Graph(); x = g.add_input((4,)); templates = {}
            >>> for i in range(3): x = g.splice_once(templates, "block", x, f"b{i}", block)
            >>> len(templates), g.nodes()[-2:]
            (1, ['b2', 'b2.act'])
        """
        nodes = self._nodes
        if not path or x not in nodes:
            return draw(self, path, x)
        slot = (key, nodes[x].shape)
        entry: Any = templates.get(slot)
        graph = entry.graph() if type(entry) is _Drawn else None  # its first drawing's graph
        if entry is None or (graph is None and type(entry) is _Drawn):
            if len(templates) >= 4096:  # a long search meets many keys: bound the memory
                templates.clear()
            size, suffixed = len(nodes), self._suffixed
            out = draw(self, path, x)
            if suffixed != self._suffixed:  # a taken name: the drawing is not the template
                templates[slot] = False
                return out
            drawn = _Drawn(weakref.ref(self), size, len(nodes), path, x, out)
            # planned when it repeats; a repeat whose first drawing is gone plans this one
            templates[slot] = drawn if entry is None else _planned(self, drawn)
            return out
        if graph is not None:
            entry = templates[slot] = _planned(graph, entry)
        if entry is False:
            return draw(self, path, x)
        plan, output = entry
        return self._copy(plan, (x,), path)[output]

    def set_outputs(self, *nodes: str) -> None:
        """Mark the graph outputs, in order (a model returning a tuple has several)."""
        for n in nodes:
            if n not in self._nodes:
                raise GraphError(f"Output {n!r} is not a node of graph {self.name!r}")
        self.outputs = list(nodes)

    # ------------------------------------------------------------------ queries
    def nodes(self) -> list[str]:
        """Node names in topological order (inputs first)."""
        return list(self._nodes)

    def node(self, name: str) -> Node:
        """The :class:`Node` called ``name``."""
        try:
            return self._nodes[name]
        except KeyError:
            raise GraphError(f"No node {name!r} in graph {self.name!r}") from None

    def shape(self, name: str) -> Shape:
        """Per-sample output shape of node ``name``."""
        return self.node(name).shape

    def in_shapes(self, name: str) -> tuple[Shape, ...]:
        """Shapes of node ``name``'s inputs, in order."""
        return tuple(self._nodes[i].shape for i in self.node(name).inputs)

    def consumers(self) -> dict[str, list[str]]:
        """For each node, the nodes that read it (a consumer appears once per use)."""
        out: dict[str, list[str]] = {n: [] for n in self._nodes}
        for node in self._nodes.values():
            for i in node.inputs:
                out[i].append(node.name)
        return out

    @property
    def params(self) -> int:
        """Total learnable parameters (dead and zero-fed nodes included)."""
        return sum(n.params for n in self._nodes.values())

    @property
    def flops(self) -> int:
        """Total MACs of conv and linear nodes for one sample."""
        return sum(n.flops for n in self._nodes.values())

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, nodes={len(self)}, params={self.params}, flops={self.flops})"

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Check the graph like ``torch.fx.Graph.lint()``.

        Checks: outputs are set and exist; every input of a node exists and comes earlier (so the
        graph is acyclic); arity; inputs have no inputs; re-inferring every node's attrs, shape,
        params and FLOPs gives what is stored.

        Raises:
            GraphError: Naming the first offending node.
        """
        if not self.inputs:
            raise GraphError(f"Graph {self.name!r} has no inputs; call add_input() first")
        if not self.outputs:
            raise GraphError(f"Graph {self.name!r} has no outputs; call set_outputs() first")
        seen: set[str] = set()
        for name, node in self._nodes.items():
            if node.name != name:
                raise GraphError(f"Node {name!r} is stored under another name ({node.name!r})")
            if node.op == INPUT_OP:
                if node.inputs or name not in self.inputs:
                    raise GraphError(
                        f"Input node {name!r} must have no inputs and be in graph.inputs"
                    )
            else:
                for i in node.inputs:
                    if i not in seen:
                        why = "does not exist" if i not in self._nodes else "comes later (a cycle)"
                        raise GraphError(f"Node {name!r} ({node.op}): input {i!r} {why}")
                fresh = self._make_node(
                    name, node.op, node.inputs, self.in_shapes(name), node.attrs
                )
                if fresh != node:
                    raise GraphError(
                        f"Node {name!r} ({node.op}): stored shape/params/flops/attrs "
                        f"{node.shape}/{node.params}/{node.flops}/{dict(node.attrs)} differ from "
                        f"re-inferred {fresh.shape}/{fresh.params}/{fresh.flops}/{dict(fresh.attrs)}"
                    )
            seen.add(name)
        for n in [*self.inputs, *self.outputs]:
            if n not in self._nodes:
                raise GraphError(
                    f"Graph {self.name!r} lists {n!r} as input/output but has no such node"
                )

    # ------------------------------------------------------------------ views
    def to_text(self) -> str:
        """A readable, deterministic listing (golden tests): one line per node.

        Example:
            >>> g = Graph("t"); x = g.add_input((4,)); g.set_outputs(g.add("relu", x))
            >>> print(g.to_text())
            graph t
              input = input() -> (4,)
              relu = relu(input) -> (4,)
            outputs: relu
            params: 0  flops: 0
        """
        lines = [f"graph {self.name}"]
        for node in self._nodes.values():
            args = [*node.inputs, *(f"{k}={_attr_text(v)}" for k, v in node.attrs.items())]
            line = f"  {node.name} = {node.op}({', '.join(args)}) -> {node.shape}"
            if node.params or node.flops:
                line += f"  params={node.params} flops={node.flops}"
            lines.append(line)
        lines.append(f"outputs: {', '.join(self.outputs)}")
        lines.append(f"params: {self.params}  flops: {self.flops}")
        return "\n".join(lines)

    def graph_hash(self) -> str:
        """An isomorphism- and name-invariant hash of the live computation.

        See :func:`nas.graph._hash.graph_hash` for the rules (zero ops dropped, identity and
        dropout folded, dead nodes ignored, Weisfeiler-Lehman over op + attrs + shape labels).
        """
        from nas.graph._hash import graph_hash

        return graph_hash(self)

    def node_features(self, name: str) -> dict[str, float]:
        """Predictor features of node ``name`` from its op spec (empty for inputs)."""
        node = self.node(name)
        if node.op == INPUT_OP:
            return {"out_size": float(math.prod(node.shape))}
        return get_op(node.op).node_features(self.in_shapes(name), node.shape, node.attrs)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; :meth:`from_dict` rebuilds an equal graph.

        Example:
            >>> g = Graph(); x = g.add_input((4,)); g.set_outputs(g.add("relu", x))
            >>> Graph.from_dict(g.to_dict()).to_text() == g.to_text()
            True
        """
        nodes = []
        for node in self._nodes.values():
            entry: dict[str, Any] = {"name": node.name, "op": node.op, "shape": list(node.shape)}
            if node.op != INPUT_OP:
                entry["inputs"] = list(node.inputs)
                entry["attrs"] = {k: _jsonable(v) for k, v in node.attrs.items()}
            nodes.append(entry)
        return {"format": FORMAT, "name": self.name, "nodes": nodes, "outputs": list(self.outputs)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Graph:
        """Rebuild a graph from :meth:`to_dict` output (re-inferring and checking every shape)."""
        if data.get("format") != FORMAT:
            raise GraphError(
                f"Expected a graph dict with format {FORMAT!r}, got {data.get('format')!r}"
            )
        g = cls(data.get("name", "graph"))
        for entry in data["nodes"]:
            if entry["op"] == INPUT_OP:
                got = g.add_input(tuple(entry["shape"]), name=entry["name"])
            else:
                got = g.add(
                    entry["op"], entry["inputs"], name=entry["name"], **entry.get("attrs", {})
                )
            if got != entry["name"] or ("shape" in entry and g.shape(got) != tuple(entry["shape"])):
                raise GraphError(
                    f"Node {entry['name']!r} ({entry['op']}): stored shape {tuple(entry['shape'])} "
                    f"differs from the re-inferred {g.shape(got)}, or its name is duplicated"
                )
        g.set_outputs(*data["outputs"])
        return g

    def to_json(self) -> str:
        """:meth:`to_dict` as canonical JSON text."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def to_networkx(self) -> networkx.DiGraph:
        """A networkx copy: node attrs ``op``, ``attrs``, ``shape``, ``params``, ``flops``;
        edge attr ``index`` (first input position) and ``indices`` (all positions, for a node
        used twice by one consumer). Graph attrs ``name``, ``inputs``, ``outputs``.
        """
        import networkx as nx

        dg = nx.DiGraph(name=self.name, inputs=list(self.inputs), outputs=list(self.outputs))
        for node in self._nodes.values():
            dg.add_node(
                node.name,
                op=node.op,
                attrs=dict(node.attrs),
                shape=node.shape,
                params=node.params,
                flops=node.flops,
            )
        for node in self._nodes.values():
            for pos, i in enumerate(node.inputs):
                if dg.has_edge(i, node.name):
                    dg.edges[i, node.name]["indices"] += (pos,)
                else:
                    dg.add_edge(i, node.name, index=pos, indices=(pos,))
        return dg

    def copy(self) -> Graph:
        """An independent copy (nodes are immutable, so sharing them is safe)."""
        g = Graph(self.name)
        g._nodes = dict(self._nodes)
        g.inputs = list(self.inputs)
        g.outputs = list(self.outputs)
        g.weights = dict(self.weights)
        return g
