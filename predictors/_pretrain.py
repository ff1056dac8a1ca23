"""Contrastive pretraining of the graph encoder on unlabelled graphs (GraphCL-style NT-Xent).

Graphs are sampled from registered spaces; each gets two augmented views (node-feature masking
and edge dropping that keeps every node reachable, so the view is still a DAG with one source
per node); the encoder learns to match the views of the same graph against the rest of the
batch. An auxiliary head regresses free targets (log FLOPs, log params), which ties the
embedding to network size the way accuracy is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nas.graph import Graph
from nas.predictors._encoder import EncoderConfig, GraphEncoder
from nas.predictors._features import FeatureSpec, GraphFeatures, batch_graphs, featurize
from nas.predictors._io import load_dir, save_dir

__all__ = [
    "PretrainConfig",
    "PretrainedEncoder",
    "augment",
    "free_target_scores",
    "nt_xent",
    "pretrain",
    "pretrain_free_targets",
    "sample_graphs",
]


@dataclass(frozen=True)
class PretrainConfig:
    """Pretraining hyper-parameters (see :func:`pretrain`)."""

    hidden: int = 64
    layers: int = 3
    emb_dim: int = 64
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    temperature: float = 0.2
    mask_prob: float = 0.15
    drop_edge_prob: float = 0.1
    aux_weight: float = 0.5
    seed: int = 0


@dataclass(frozen=True)
class PretrainedEncoder:
    """A pretrained encoder: its config, feature vocabulary and weights.

    Pass ``.as_init()`` to ``GennapePredictor(encoder=...)`` to start from it.
    """

    config: EncoderConfig
    spec: FeatureSpec
    state: dict
    history: tuple[float, ...] = ()

    def as_init(self) -> tuple[EncoderConfig, FeatureSpec, dict]:
        return self.config, self.spec, self.state

    def save(self, path: str | Path) -> Path:
        meta = {
            "kind": "encoder",
            "format": 1,
            "encoder": self.config.to_dict(),
            "feature_ops": list(self.spec.ops),
            "simplify": self.spec.simplify,
            "history": list(self.history),
        }
        return save_dir(path, meta, self.state)

    @classmethod
    def load(cls, path: str | Path) -> PretrainedEncoder:
        meta, state = load_dir(path, kind="encoder")
        spec = FeatureSpec(tuple(meta["feature_ops"]), bool(meta.get("simplify", True)))
        return cls(EncoderConfig(**meta["encoder"]), spec, state, tuple(meta.get("history", ())))


def sample_graphs(
    spaces: Sequence[str], n: int, rng: np.random.Generator, *, progress: Callable | None = None
) -> list[Graph]:
    """``n`` graphs of archs sampled round-robin from the named spaces."""
    from nas.space import get_space

    objs = [get_space(s) for s in spaces]
    out = []
    for i in range(n):
        space = objs[i % len(objs)]
        out.append(space.compile(space.sample(rng), check=False))
        if progress is not None:
            progress(1)
    return out


def augment(f: GraphFeatures, rng: np.random.Generator, mask: float, drop: float) -> GraphFeatures:
    """A random view: mask whole feature rows, drop edges but keep one input edge per node."""
    x = f.x.copy()
    x[rng.random(len(x)) < mask] = 0.0
    ei = f.edge_index
    if ei.shape[1]:
        keep = rng.random(int(ei.shape[1])) >= drop
        # keep the first input edge of every consumer so no node gets cut off the graph
        _, first = np.unique(ei[1], return_index=True)
        keep[first] = True
        ei = ei[:, keep]
    return GraphFeatures(x, ei)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent (SimCLR) over a batch of paired views ``(n, d)``; positives on the diagonal."""
    z = nn.functional.normalize(torch.cat([z1, z2]), dim=1)  # (2n, d)
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))
    n = len(z1)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return nn.functional.cross_entropy(sim, target)


def pretrain(
    graphs: Sequence[Graph],
    config: PretrainConfig | None = None,
    *,
    spec: FeatureSpec | None = None,
    report: Callable[[int, float], None] | None = None,
) -> PretrainedEncoder:
    """Pretrain an encoder on unlabelled graphs.

    Args:
        graphs: Graphs from any spaces (e.g. :func:`sample_graphs`).
        config: Hyper-parameters.
        spec: Feature vocabulary (default: every registered op).
        report: Called ``(epoch, mean_loss)`` after each epoch.

    Example:
        >>> import numpy as np
        >>> gs = sample_graphs(["nb_macro"], 8, np.random.default_rng(0))
        >>> enc = pretrain(gs, PretrainConfig(hidden=8, layers=1, emb_dim=4, epochs=1))
        >>> len(enc.history)
        1
    """
    c = config or PretrainConfig()
    spec = spec or FeatureSpec.default()
    torch.manual_seed(c.seed)
    rng = np.random.default_rng(c.seed)
    feats = [featurize(g, spec) for g in graphs]
    free = np.array([[np.log1p(g.flops), np.log1p(g.params)] for g in graphs], dtype=np.float32)
    free = (free - free.mean(0)) / (free.std(0) + 1e-6)
    aux_target = torch.from_numpy(free)
    enc_cfg = EncoderConfig(spec.dim, c.hidden, c.layers, c.emb_dim)
    encoder = GraphEncoder(enc_cfg)
    proj = nn.Sequential(nn.Linear(c.emb_dim, c.emb_dim), nn.ReLU(), nn.Linear(c.emb_dim, 32))
    aux = nn.Linear(c.emb_dim, 2)
    params = [*encoder.parameters(), *proj.parameters(), *aux.parameters()]
    opt = torch.optim.AdamW(params, lr=c.lr, weight_decay=1e-4)
    history = []
    for epoch in range(c.epochs):
        order = rng.permutation(len(feats))
        losses = []
        for start in range(0, len(order) - 1, c.batch_size):
            idx = order[start : start + c.batch_size]
            if len(idx) < 2:
                continue
            views = []
            for _ in range(2):
                b = batch_graphs(
                    [augment(feats[i], rng, c.mask_prob, c.drop_edge_prob) for i in idx]
                )
                views.append(encoder(*b.to_torch()))
            loss = nt_xent(proj(views[0]), proj(views[1]), c.temperature)
            loss = loss + c.aux_weight * nn.functional.mse_loss(
                aux((views[0] + views[1]) / 2), aux_target[idx]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        history.append(float(np.mean(losses)) if losses else float("nan"))
        if report is not None:
            report(epoch, history[-1])
    state = {k: v.detach().clone() for k, v in encoder.state_dict().items()}
    return PretrainedEncoder(enc_cfg, spec, state, tuple(history))


def config_dict(config: PretrainConfig) -> dict:
    return asdict(config)


def free_target_scores(values: np.ndarray) -> np.ndarray:
    """Each column of ``values`` (graphs, targets) as the normal quantiles of its ranks.

    Free targets (log FLOPs, params, a proxy score) have long tails and scales of their own;
    on normal scores each weighs the same in the loss. NaN (a proxy undefined for a graph)
    stays NaN and is masked out of the loss.

    Example:
        >>> free_target_scores(np.array([[1.0], [np.nan], [3.0], [2.0]])).round(2).ravel()
        array([-0.67,   nan,  0.67,  0.  ])
    """
    from scipy.special import ndtri
    from scipy.stats import rankdata

    out = np.full(values.shape, np.nan)
    for j in range(values.shape[1]):
        ok = np.isfinite(values[:, j])
        if ok.sum() >= 2:
            out[ok, j] = ndtri(rankdata(values[ok, j]) / (ok.sum() + 1))
    return out


def pretrain_free_targets(
    encoder: GraphEncoder,
    feats: Sequence[GraphFeatures],
    targets: np.ndarray,
    *,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
) -> tuple[float, ...]:
    """Train ``encoder`` in place to regress free graph-level targets from its embedding.

    The free targets need no training run (log FLOPs and params, zero-cost proxy scores), so
    every unlabelled graph of a space can teach the encoder before the few labels do, as
    FBNetV3 (FLOPs, params) and FGP (flow surrogates) pretrain their predictors. A two-layer
    head reads the embedding and is discarded afterwards.

    Args:
        encoder: The encoder to train (its weights change).
        feats: Featurized graphs, labelled or not.
        targets: ``(graphs, k)`` free targets, e.g. :func:`free_target_scores` of the raw
            values; NaN entries are left out of the loss.
        epochs: Passes over ``feats``.
        lr: AdamW learning rate.
        batch_size: Graphs per step.
        seed: Seeds the head's init and the batch order.

    Returns:
        The mean masked MSE of each epoch.

    Example:
        >>> from nas.space import get_space
        >>> gs = sample_graphs(["nb_macro"], 8, np.random.default_rng(0))
        >>> spec = FeatureSpec.default(); fs = [featurize(g, spec) for g in gs]
        >>> enc = GraphEncoder(EncoderConfig(spec.dim, 8, 1, 4))
        >>> t = free_target_scores(np.log1p([[g.flops, g.params] for g in gs]))
        >>> len(pretrain_free_targets(enc, fs, t, epochs=2))
        2
    """
    if len(feats) != len(targets):
        raise ValueError(f"Expected one target row per graph, got {len(targets)} for {len(feats)}.")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dim = encoder.config.emb_dim
    target = torch.as_tensor(targets, dtype=torch.float32)  # (graphs, k)
    known = torch.isfinite(target)
    target = torch.nan_to_num(target)
    head = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, target.shape[1]))
    opt = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], lr=lr, weight_decay=1e-4)
    encoder.train()
    history = []
    for _ in range(epochs):
        order = rng.permutation(len(feats))
        losses = []
        for start in range(0, len(order), batch_size):
            idx = torch.as_tensor(order[start : start + batch_size])
            z = encoder(*batch_graphs([feats[int(i)] for i in idx]).to_torch())  # (batch, dim)
            err = (head(z) - target[idx]) ** 2 * known[idx]
            loss = err.sum() / known[idx].sum().clamp_min(1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        history.append(float(np.mean(losses)) if losses else float("nan"))
    encoder.eval()
    return tuple(history)
