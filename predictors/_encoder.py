"""A GIN-style graph encoder in plain torch (scatter via ``index_add_``; no PyTorch Geometric).

Each layer sums messages along edges in both directions (producers -> consumer and back, so a
node sees what it feeds as well as what feeds it), adds a per-graph virtual node (the mean of the
graph's nodes), and applies an MLP. The readout concatenates mean and max pooling of every
layer's node states (jumping knowledge) and projects them to the embedding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["EncoderConfig", "GraphEncoder", "segment_max", "segment_mean"]


@dataclass(frozen=True)
class EncoderConfig:
    """Encoder hyper-parameters.

    Attributes:
        in_dim: Node feature size (``FeatureSpec.dim``).
        hidden: Width of node states.
        layers: Message-passing layers.
        emb_dim: Graph embedding size.
        dropout: Dropout inside the layer MLPs.
    """

    in_dim: int
    hidden: int = 64
    layers: int = 4
    emb_dim: int = 64
    dropout: float = 0.0

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
        self.layers = nn.ModuleList(
            _GinLayer(config.hidden, config.dropout) for _ in range(config.layers)
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
        for layer in self.layers:
            h = layer(h, edge_index, batch, num_graphs)
            pooled += [segment_mean(h, batch, num_graphs), segment_max(h, batch, num_graphs)]
        return self.readout(torch.cat(pooled, dim=1))  # (graphs, emb_dim)
