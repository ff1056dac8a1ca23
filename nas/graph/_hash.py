"""``graph_hash``: one hash per function, so isomorphic candidates are trained once.

Rules, applied to the *live* graph (params and FLOPs still count the full graph):

1. ``zero`` nodes are zero; an op with ``zero_preserving`` whose inputs are all zero is zero; a
   ``mul`` with a zero input is zero; an ``add`` ignores its zero inputs.
2. ``identity`` and ``dropout`` (``hash_transparent``, identity at inference), and an ``add`` or
   ``concat`` left with one input of its own shape, are folded into their input.
3. Parameter-free nodes with the same op, attrs and inputs are one node (common
   subexpressions: ``relu(x)`` computed twice is ``relu(x)`` read twice, as ONNX exporters
   write it). Nodes with parameters stay distinct: two convs of one input are two functions.
4. An ``add`` whose input is another ``add`` used only there (same shape) is flattened into it,
   so ``(a + b) + c`` (how ONNX writes an n-ary sum) equals ``add(a, b, c)``.
5. Nodes that do not reach an output are dropped (dead code).
6. Each remaining node is labelled with op + attrs + output shape (inputs and outputs also
   with their position). A bottom-up (Merkle) pass digests every node's label with its
   inputs' digests (in port order for order-sensitive ops, sorted for commutative ones), so a
   node's digest covers its whole expression; a top-down pass adds who consumes each node
   and at which port, so one node with parameters read twice differs from two equal ones. The hash digests
   the sorted multiset of node digests (blake2b, 32 bytes): invariant to node names and
   insertion order, linear in the graph size, and independent of any library version.
   It is the DAG analogue of Weisfeiler-Lehman run to full depth.

Node names never enter the hash.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from nas.graph._graph import INPUT_OP
from nas.graph._ops import _OPS, OpSpec, get_op

if TYPE_CHECKING:
    from nas.graph._graph import Graph, Node

__all__ = ["graph_hash", "live_graph"]

_ZERO = "zero"
_LEN16 = (16).to_bytes(4, "little")  # the length prefix of every 16-byte node digest
_PORTS = [str(pos).encode() for pos in range(64)]  # input positions as hashed

# (op, attrs items, shape) -> the node's label; candidates of one space repeat a few hundred
# labels millions of times, and the JSON of the attrs is most of a label's cost
_LABELS: dict[tuple[Any, ...], str] = {}


def _canon(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, tuple | list):
        return [_canon(v) for v in value]
    return value


def _label(node: Node) -> str:
    try:
        key: tuple[Any, ...] | None = (node.op, tuple(node.attrs.items()), node.shape)
        label = _LABELS.get(key)  # type: ignore[arg-type]
    except TypeError:  # an unhashable attr value: no cache
        key, label = None, None
    if label is None:
        attrs = json.dumps({k: _canon(v) for k, v in node.attrs.items()}, sort_keys=True)
        label = f"{node.op}|{attrs}|{node.shape}"
        if key is not None:
            if len(_LABELS) > 100_000:
                _LABELS.clear()
            _LABELS[key] = label
    return label


def live_graph(graph: Graph) -> tuple[dict[str, tuple[str, list[str]]], list[str], set[str]]:
    """Apply rules 1-5.

    Returns:
        ``(kept, outputs, zeros)``: ``kept`` maps each live node to ``(label, inputs)``,
        ``outputs`` are the resolved output nodes, ``zeros`` the nodes known to be zero
        (a zero that is still read, by ``concat`` say, stays in ``kept`` as a leaf).
    """
    nodes = graph._nodes
    alias: dict[str, str] = {}
    zeros: set[str] = set()
    kept: dict[str, tuple[str, list[str]]] = {}
    common: dict[tuple[str, ...], str] = {}
    specs: dict[str, OpSpec] = {}

    def resolve(n: str) -> str:
        while n in alias:
            n = alias[n]
        return n

    for pos_in, name in enumerate(graph.inputs):
        kept[name] = (f"input#{pos_in}|{nodes[name].shape}", [])
    for name, node in nodes.items():
        op = node.op
        if op == INPUT_OP:
            continue
        spec = specs.get(op)
        if spec is None:
            spec = specs[op] = get_op(op)
        ins = [resolve(i) for i in node.inputs] if alias else list(node.inputs)
        if zeros:
            zin = [i in zeros for i in ins]
            if op == _ZERO or (all(zin) and spec.is_zero_preserving(node.attrs)):
                zeros.add(name)
                continue
            if op == "mul" and any(zin):
                zeros.add(name)
                continue
            if op == "add":
                ins = [i for i in ins if i not in zeros]
        elif op == _ZERO or (not ins and spec.is_zero_preserving(node.attrs)):
            zeros.add(name)
            continue
        if spec.hash_transparent or (
            (op == "add" or op == "concat") and len(ins) == 1 and nodes[ins[0]].shape == node.shape
        ):
            alias[name] = ins[0]
            continue
        label = _label(node)
        if node.params == 0:  # rule 3: one node per parameter-free subexpression
            key = (label, *(sorted(ins) if spec.commutative else ins))
            if key in common:
                alias[name] = common[key]
                continue
            common[key] = name
        kept[name] = (label, ins)

    outputs = [resolve(o) for o in graph.outputs]
    if zeros:
        for z in {i for _, ins in kept.values() for i in ins} | set(outputs):
            if z in zeros:
                kept[z] = (f"zero|{nodes[z].shape}", [])

    # rule 4: flatten single-use adds into the add that reads them
    uses = Counter(i for _, ins in kept.values() for i in ins)
    uses.update(outputs)
    for name, (label, ins) in kept.items():
        if not label.startswith("add|"):
            continue
        flat: list[str] = []
        shape = nodes[name].shape
        for i in ins:
            inner = kept.get(i)
            if inner and uses[i] == 1 and inner[0].startswith("add|") and nodes[i].shape == shape:
                flat.extend(inner[1])
            else:
                flat.append(i)
        kept[name] = (label, flat)

    # rule 5: keep what the outputs reach
    live: set[str] = set()
    stack = list(outputs)
    while stack:
        n = stack.pop()
        if n not in live:
            live.add(n)
            stack.extend(kept[n][1])
    return {n: v for n, v in kept.items() if n in live}, outputs, zeros


def graph_hash(graph: Graph, *, digest_size: int = 32) -> str:
    """Hash of the live computation of ``graph`` (hex, ``2 * digest_size`` characters).

    Example:
        >>> from nas.graph import Graph
        >>> a = Graph(); x = a.add_input((4,), name="x"); a.set_outputs(a.add("relu", x))
        >>> b = Graph(); y = b.add_input((4,), name="y"); b.set_outputs(b.add("relu", y, name="r"))
        >>> a.graph_hash() == b.graph_hash()
        True
    """
    kept, outputs, _ = live_graph(graph)
    out_tags: dict[str, list[int]] = {}
    for pos, o in enumerate(outputs):
        out_tags.setdefault(o, []).append(pos)
    order = [n for n in graph._nodes if n in kept]  # topological
    ordered_ops: dict[str, bool] = {}

    # Bottom-up (Merkle) pass: a node's digest covers its label and, in port order for
    # order-sensitive ops (sorted for commutative ones), the digests of its inputs, i.e. the
    # whole computation that produces it. Exact for DAGs, linear in the graph size.
    up: dict[str, bytes] = {}
    consumers: dict[str, list[tuple[str, bytes]]] = {n: [] for n in order}
    for name in order:
        label, ins = kept[name]
        op = label.split("|", 1)[0]
        ordered = ordered_ops.get(op)
        if ordered is None:
            ordered = ordered_ops[op] = not _commutative(op)
        text = (label + f"|out{out_tags[name]}" if name in out_tags else label).encode()
        parts = [up[i] for i in ins] if ordered else sorted(up[i] for i in ins)
        up[name] = _digest(text, parts)
        for pos, i in enumerate(ins):
            port = (_PORTS[pos] if pos < 64 else str(pos).encode()) if ordered else b"x"
            consumers[i].append((name, port))
    # Top-down pass: a node's digest also covers who consumes it and at which port, so two
    # distinct nodes computing the same thing are told apart from one node read twice.
    down: dict[str, bytes] = {}
    for name in reversed(order):
        uses = sorted(down[c] + port for c, port in consumers[name])
        down[name] = _digest(up[name], uses)
    whole = sorted(down.values())
    return hashlib.blake2b(b"".join(_LEN16 + d for d in whole), digest_size=digest_size).hexdigest()


def _digest(first: bytes, rest: list[bytes]) -> bytes:
    """blake2b (16 bytes) of every part, each after its 4-byte little-endian length (what
    ``update`` per piece would digest, joined first: one call instead of two per part)."""
    data = [len(first).to_bytes(4, "little"), first]
    for part in rest:
        data.append(_LEN16 if len(part) == 16 else len(part).to_bytes(4, "little"))
        data.append(part)
    return hashlib.blake2b(b"".join(data), digest_size=16).digest()


def _commutative(op: str) -> bool:
    # a label's op may be no op at all: "input#0", or "zero" for a zeroed node read by a concat
    return op in _OPS and _OPS.get(op).commutative
