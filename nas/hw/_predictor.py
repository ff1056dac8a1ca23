"""A latency predictor fitted from a few measured archs of a device (HELP's setting: 10).

Features come from the IR graph, so any space (or an imported ONNX model) has them: per op
kind (convs split by kernel size) the node count, log MACs and log output elements, plus log
total MACs and params. The model is ridge regression on log latency. With 10 samples a plain
ridge has little to go on, so it can start from a *prior*: the mean coefficients of the same
regression fitted on other devices' full tables (:func:`device_prior`), and the 10 samples
only move it (ridge towards the prior, not towards zero). HELP meta-learns a predictor over
source devices in the same spirit; this is its plain linear cousin.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from nas.errors import EvaluationError

if TYPE_CHECKING:
    from nas.graph import Graph

__all__ = ["LatencyPredictor", "device_prior", "few_shot_correlation", "graph_features"]


def _kinds() -> list[str]:
    from nas.graph import list_ops

    kinds = []
    for op in list_ops():
        kinds += [f"{op}_k{k}" for k in (1, 3, 5, 7)] if op.startswith("conv") else [op]
    return kinds


def graph_features(graph: Graph) -> np.ndarray:
    """The predictor's feature vector of an IR graph (fixed length for a given op registry).

    Example:
        >>> from nas.space import get_space
        >>> import numpy as np
        >>> space = get_space("nb201")
        >>> f = graph_features(space.compile(space.sample(np.random.default_rng(0))))
        >>> f.ndim, bool(np.all(np.isfinite(f)))
        (1, True)
    """
    kinds = _kinds()
    where = {k: i for i, k in enumerate(kinds)}
    stats = np.zeros((len(kinds), 3))
    for name in graph.nodes():
        node = graph.node(name)
        if node.op == "input":
            continue
        kind = node.op
        if kind.startswith("conv"):
            size = node.attrs.get("kernel_size", 1)
            kind = f"{kind}_k{size[0] if isinstance(size, tuple) else size}"
        i = where.get(kind, where.get(node.op))
        if i is None:
            continue
        stats[i] += (1.0, node.flops, math.prod(node.shape))
    stats[:, 1:] = np.log1p(stats[:, 1:])
    return np.concatenate([stats.ravel(), [math.log1p(graph.flops), math.log1p(graph.params)]])


def _standardize(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return (x - mean) / scale


@dataclass
class LatencyPredictor:
    """Ridge regression of standardized log latency on standardized features.

    Args:
        alpha: ridge strength (towards ``prior`` when given, else towards zero).
        prior: coefficients to start from (:func:`device_prior`), in standardized units.
        mean, scale: the feature standardization (default: from the fit's own samples;
            pass a population's, e.g. the whole table's features, when the prior was fitted
            with them).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> X = rng.random((50, 3)); y = np.exp(X @ [1.0, 2.0, 0.0])
        >>> p = LatencyPredictor(alpha=0.1).fit(X[:10], y[:10])
        >>> float(np.corrcoef(p.predict(X[10:]), np.log(y[10:]))[0, 1]) > 0.9
        True
    """

    alpha: float = 1.0
    prior: np.ndarray | None = None
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    coef: np.ndarray = field(init=False, repr=False)
    intercept: float = field(init=False, default=0.0)

    def fit(
        self, features: np.ndarray, latency_ms: Sequence[float] | np.ndarray
    ) -> LatencyPredictor:
        """Fit on measured archs: ``features`` (n, f) and their latencies (ms, positive)."""
        X = np.asarray(features, dtype=float)
        y = np.asarray(latency_ms, dtype=float)
        if X.ndim != 2 or len(X) != len(y) or len(y) < 2 or np.any(y <= 0):
            raise EvaluationError(
                f"LatencyPredictor.fit needs (n, f) features and n >= 2 positive latencies "
                f"(got features {X.shape}, {len(y)} latencies, min {y.min() if len(y) else None})."
            )
        if self.mean is None:
            self.mean = X.mean(axis=0)
        if self.scale is None:
            self.scale = np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
        Z = _standardize(X, self.mean, self.scale)
        t = np.log(y)
        t = (t - t.mean()) / (t.std() or 1.0)
        prior = np.zeros(Z.shape[1]) if self.prior is None else np.asarray(self.prior)
        zc = Z - Z.mean(axis=0)
        resid = t - zc @ prior
        delta = np.linalg.solve(zc.T @ zc + self.alpha * np.eye(Z.shape[1]), zc.T @ resid)
        self.coef = prior + delta
        self.intercept = float(-(Z.mean(axis=0) @ self.coef))
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        """A score monotone in predicted latency (standardized log latency) for each row."""
        if self.mean is None or self.scale is None:
            raise EvaluationError("LatencyPredictor.predict before fit; call fit(...) first.")
        Z = _standardize(np.asarray(features, dtype=float), self.mean, self.scale)
        return Z @ self.coef + self.intercept


def device_prior(
    features: np.ndarray, latencies: Sequence[np.ndarray], alpha: float = 1.0
) -> np.ndarray:
    """Mean ridge coefficients over source devices (each a full latency column), standardized
    with the features' own mean and scale: the start :class:`LatencyPredictor` moves from."""
    X = np.asarray(features, dtype=float)
    scale = np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
    coefs = []
    for column in latencies:
        p = LatencyPredictor(alpha=alpha, mean=X.mean(axis=0), scale=scale).fit(X, column)
        coefs.append(p.coef)
    return np.mean(coefs, axis=0)


def few_shot_correlation(
    features: np.ndarray,
    latency_ms: np.ndarray,
    *,
    samples: int = 10,
    seeds: Sequence[int] = range(10),
    prior: np.ndarray | None = None,
    alpha: float = 1.0,
) -> dict[str, float]:
    """Fit on ``samples`` random rows, rank the rest: mean Spearman and Kendall over ``seeds``.

    ``features`` standardize with the whole population (the archs of the space are known,
    only their latencies are not), as the prior does.
    """
    from scipy.stats import kendalltau, spearmanr

    X = np.asarray(features, dtype=float)
    mean, scale = X.mean(axis=0), np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
    rho, tau = [], []
    for seed in seeds:
        idx = np.random.default_rng(seed).permutation(len(X))
        fit, rest = idx[:samples], idx[samples:]
        p = LatencyPredictor(alpha=alpha, prior=prior, mean=mean, scale=scale)
        pred = p.fit(X[fit], latency_ms[fit]).predict(X[rest])
        rho.append(float(spearmanr(pred, latency_ms[rest])[0]))
        tau.append(float(kendalltau(pred, latency_ms[rest])[0]))
    return {"spearman": float(np.mean(rho)), "kendall": float(np.mean(tau))}
