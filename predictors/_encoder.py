"""Graph encoders in plain torch (scatter via ``index_add_``; no PyTorch Geometric).

Two layer kinds share the readout:

* ``gin``: each layer sums messages along edges in both directions (producers -> consumer and
  back, so a node sees what it feeds as well as what feeds it), adds a per-graph virtual node
  (the mean of the graph's nodes), and applies an MLP.
* ``flow``: each layer follows the computation (FlowerFormer, Hwang et al., CVPR 2024): a
  forward sweep updates nodes in topological order, each from the sum of its producers'
  *already updated* states through a GRU cell, so one layer carries information from the
  inputs to the output; a backward sweep does the same from the output back along consumers.
  The virtual node and the residual MLP of ``gin`` follow. Nodes of one depth are updated
  together across the batch, so a sweep costs one GRU call per depth level.

The readout concatenates mean and max pooling of every layer's node states (jumping
knowledge) and projects them to the embedding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["ENCODER_KINDS", "EncoderConfig", "GraphEncoder", "segment_max", "segment_mean"]

ENCODER_KINDS = ("gin", "flow")


@dataclass(frozen=True)
class EncoderConfig:
    """Encoder hyper-parameters.

    Attributes:
        in_dim: Node feature size (``FeatureSpec.dim``).
        hidden: Width of node states.
        layers: Message-passing layers.
        emb_dim: Graph embedding size.
        dropout: Dropout inside the layer MLPs.
        kind: Layer kind, ``"gin"`` or ``"flow"`` (see the module docstring).
    """

    in_dim: int
    hidden: int = 64
    layers: int = 4
    emb_dim: int = 64
    dropout: float = 0.0
    kind: str = "gin"

    def __post_init__(self) -> None:
        if self.kind not in ENCODER_KINDS:
            raise ValueError(
                f"Unknown encoder kind {self.kind!r}; use one of {', '.join(ENCODER_KINDS)}."
            )

    def to_dict(self) -> dict:
        return asdict(self)


def segment_mean(h: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Mean of the rows of ``h`` (nodes, d) per graph id in ``batch`` -> (num_graphs, d)."""
    out = h.new_zeros(num_graphs, h.shape[1]).index_add_(0, batch, h)
    count = h.new_zeros(num_graphs).index_add_(0, batch, h.new_ones(h.shape[0]))
    return out / count.clamp_min(1.0).unsqueeze(1)


def segment_max(h: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Max of the rows of ``h`` per graph -> (num_graphs, d)."""
    index = batch.unsqueeze(1).expand_as(h)
    out = h.new_full((num_graphs, h.shape[1]), float("-inf"))
    return out.scatter_reduce(0, index, h, reduce="amax", include_self=True)


class _GinLayer(nn.Module):
    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.eps = nn.Parameter(torch.zeros(1))
        self.mlp = nn.Sequential(
            nn.Linear(4 * dim, 2 * dim),
            nn.LayerNorm(2 * dim),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(2 * dim, dim),
        )
        self.norm = nn.LayerNorm(dim)

    def forward(
        self, h: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor, num_graphs: int
    ) -> torch.Tensor:
        src, dst = edge_index[0], edge_index[1]
        fwd = torch.zeros_like(h).index_add_(0, dst, h[src])  # (nodes, dim) from producers
        bwd = torch.zeros_like(h).index_add_(0, src, h[dst])  # (nodes, dim) from consumers
        virtual = segment_mean(h, batch, num_graphs)[batch]  # (nodes, dim) graph context
        z = torch.cat([(1 + self.eps) * h, fwd, bwd, virtual], dim=1)
        return self.norm(h + self.mlp(z))


def _depth(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Longest-path depth of every node from the graph's sources (0 at a source)."""
    src, dst = edge_index[0], edge_index[1]
    depth = torch.zeros(num_nodes, dtype=torch.long, device=edge_index.device)
    for _ in range(num_nodes):  # relax until fixed; at most the longest path's length rounds
        new = depth.scatter_reduce(0, dst, depth[src] + 1, reduce="amax", include_self=True)
        if torch.equal(new, depth):
            return depth
        depth = new
    raise ValueError("The graph has a cycle; the flow encoder needs a DAG.")


class _Sweep:
    """One direction's schedule: per depth level, the nodes it updates and the edges feeding
    them, with each node's slot within its level (``slot``) for the scatter."""

    def __init__(self, senders: torch.Tensor, receivers: torch.Tensor, num_nodes: int) -> None:
        depth = _depth(torch.stack([senders, receivers]), num_nodes)
        levels = int(depth.max()) + 1 if num_nodes else 0
        node_order = torch.argsort(depth, stable=True)
        node_counts = torch.bincount(depth, minlength=levels).tolist()
        slot = torch.empty(num_nodes, dtype=torch.long, device=depth.device)
        start = 0
        self.nodes: list[torch.Tensor] = []
        for count in node_counts:
            group = node_order[start : start + count]
            slot[group] = torch.arange(count, device=depth.device)
            self.nodes.append(group)
            start += count
        edge_level = depth[receivers]
        edge_order = torch.argsort(edge_level, stable=True)
        edge_counts = torch.bincount(edge_level, minlength=levels).tolist()
        self.edges: list[torch.Tensor] = list(torch.split(edge_order, edge_counts))
        self.slot = slot
        self.senders, self.receivers = senders, receivers

    def run(self, h: torch.Tensor, cell: nn.GRUCell) -> torch.Tensor:
        # in place on a copy: an out-of-place update would copy all states once per level;
        # the gathers below save only their indices, so autograd allows the later writes
        h = h.clone()
        for level in range(1, len(self.nodes)):  # sources (level 0) keep their state
            nodes, edges = self.nodes[level], self.edges[level]
            msg = h.new_zeros(len(nodes), h.shape[1])
            msg = msg.index_add(0, self.slot[self.receivers[edges]], h[self.senders[edges]])
            h.index_copy_(0, nodes, cell(msg, h[nodes]))
        return h


class _FlowLayer(nn.Module):
    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.forward_cell = nn.GRUCell(dim, dim)
        self.backward_cell = nn.GRUCell(dim, dim)
        self.mlp = nn.Sequential(
            nn.Linear(2 * dim, 2 * dim),
            nn.LayerNorm(2 * dim),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(2 * dim, dim),
        )
        self.norm = nn.LayerNorm(dim)

    def forward(
        self,
        h: torch.Tensor,
        sweeps: tuple[_Sweep, _Sweep],
        batch: torch.Tensor,
        num_graphs: int,
    ) -> torch.Tensor:
        forward, backward = sweeps
        flowed = backward.run(forward.run(h, self.forward_cell), self.backward_cell)
        virtual = segment_mean(flowed, batch, num_graphs)[batch]  # (nodes, dim) graph context
        return self.norm(flowed + self.mlp(torch.cat([flowed, virtual], dim=1)))


class GraphEncoder(nn.Module):
    """Node features -> one embedding per graph.

    Example:
        >>> enc = GraphEncoder(EncoderConfig(in_dim=5, hidden=8, layers=2, emb_dim=4))
        >>> x = torch.randn(3, 5); ei = torch.tensor([[0, 1], [1, 2]])
        >>> enc(x, ei, torch.zeros(3, dtype=torch.long), 1).shape
        torch.Size([1, 4])
    """

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Sequential(nn.Linear(config.in_dim, config.hidden), nn.ReLU())
        layer = _FlowLayer if config.kind == "flow" else _GinLayer
        self.layers = nn.ModuleList(
            layer(config.hidden, config.dropout) for _ in range(config.layers)
        )
        self.readout = nn.Sequential(
            nn.Linear(2 * config.hidden * (config.layers + 1), config.emb_dim),
            nn.LayerNorm(config.emb_dim),
        )

    def forward(
        self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor, num_graphs: int
    ) -> torch.Tensor:
        h = self.embed(x)  # (nodes, hidden)
        pooled = [segment_mean(h, batch, num_graphs), segment_max(h, batch, num_graphs)]
        context: object = edge_index
        if self.config.kind == "flow":  # the schedules depend on the graphs only: build once
            src, dst = edge_index[0], edge_index[1]
            context = (_Sweep(src, dst, h.shape[0]), _Sweep(dst, src, h.shape[0]))
        for layer in self.layers:
            h = layer(h, context, batch, num_graphs)
            pooled += [segment_mean(h, batch, num_graphs), segment_max(h, batch, num_graphs)]
        return self.readout(torch.cat(pooled, dim=1))  # (graphs, emb_dim)
