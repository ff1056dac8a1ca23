"""A latency predictor fitted from a few measured archs of a device (HELP's setting: 10).

Features come from the IR graph, so any space (or an imported ONNX model) has them: per op
kind (convs split by kernel size) the node count, log MACs and log output elements, plus log
total MACs and params. The model is linear in the features on standardized log latency. With
10 samples a plain ridge has little to go on, so it starts from a *prior* learnt on other
devices (:func:`device_prior`): the same regression fitted on each source device gives one
coefficient vector per device, and their mean and covariance say where a new device's
coefficients are likely to lie. The 10 samples then move the coefficients only along the
directions in which devices were seen to differ (a Gaussian prior, its MAP estimate). HELP
meta-learns a hardware-conditioned predictor over source devices in the same spirit; this is
its linear, closed-form cousin.
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

__all__ = [
    "DevicePrior",
    "LatencyPredictor",
    "device_prior",
    "few_shot_correlation",
    "graph_features",
]


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


def _scale(X: np.ndarray) -> np.ndarray:
    std = X.std(axis=0)
    return np.where(std > 0, std, 1.0)


def _target(latency_ms: np.ndarray) -> np.ndarray:
    t = np.log(latency_ms)
    return (t - t.mean()) / (t.std() or 1.0)


def _check(X: np.ndarray, y: np.ndarray, where: str) -> None:
    if X.ndim != 2 or len(X) != len(y) or len(y) < 2 or np.any(y <= 0):
        raise EvaluationError(
            f"{where} needs (n, f) features and n >= 2 positive latencies "
            f"(got features {X.shape}, {len(y)} latencies, min {y.min() if len(y) else None})."
        )


@dataclass(frozen=True)
class DevicePrior:
    """Where a new device's coefficients are likely to lie, learnt from source devices.

    Attributes:
        mean: (f,) mean of the source devices' coefficients (standardized units).
        cov: (f, f) their covariance.
        feature_mean, feature_scale: (f,) the standardization the coefficients are in.
        devices: how many source devices it was fitted on.
    """

    mean: np.ndarray
    cov: np.ndarray
    feature_mean: np.ndarray
    feature_scale: np.ndarray
    devices: int


@dataclass
class LatencyPredictor:
    """Linear model of standardized log latency on standardized features, MAP under a prior.

    The coefficients get a Gaussian prior ``N(m, S)``: with a :class:`DevicePrior`,
    ``m`` is its mean and ``S`` its covariance plus ``spread`` times its mean variance on the
    diagonal (room to move off the source devices' span); without one, ``m = 0`` and
    ``S = I`` (plain ridge). ``alpha`` is the noise variance of the standardized target, so
    larger means trust the samples less. Solved in sample space (n x n), so 10 samples cost
    nothing whatever the feature count.

    Args:
        alpha: noise variance of the standardized log latency (> 0).
        prior: the prior from source devices (:func:`device_prior`); its standardization is
            used. Without one the features are standardized with the fit's own samples.
        spread: isotropic prior variance added to ``prior.cov``, relative to its mean
            diagonal (>= 0).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> X = rng.random((50, 3)); y = np.exp(X @ [1.0, 2.0, 0.0])
        >>> p = LatencyPredictor(alpha=0.1).fit(X[:10], y[:10])
        >>> float(np.corrcoef(p.predict(X[10:]), np.log(y[10:]))[0, 1]) > 0.9
        True
    """

    alpha: float = 1.0
    prior: DevicePrior | None = None
    spread: float = 0.0
    coef: np.ndarray = field(init=False, repr=False)
    mean: np.ndarray = field(init=False, repr=False)
    scale: np.ndarray = field(init=False, repr=False)
    intercept: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if not self.alpha > 0 or not self.spread >= 0:
            raise EvaluationError(
                f"LatencyPredictor needs alpha > 0 and spread >= 0 "
                f"(got alpha={self.alpha}, spread={self.spread})."
            )

    def fit(
        self, features: np.ndarray, latency_ms: Sequence[float] | np.ndarray
    ) -> LatencyPredictor:
        """Fit on measured archs: ``features`` (n, f) and their latencies (ms, positive)."""
        X = np.asarray(features, dtype=float)
        y = np.asarray(latency_ms, dtype=float)
        _check(X, y, "LatencyPredictor.fit")
        if self.prior is None:
            self.mean, self.scale = X.mean(axis=0), _scale(X)
            m, S = np.zeros(X.shape[1]), np.eye(X.shape[1])
        else:
            if self.prior.mean.shape != X.shape[1:]:
                raise EvaluationError(
                    f"LatencyPredictor.fit got {X.shape[1]} features but its prior has "
                    f"{len(self.prior.mean)}; compute both with the same feature function."
                )
            self.mean, self.scale = self.prior.feature_mean, self.prior.feature_scale
            m, S = self.prior.mean, self.prior.cov
            S = S + self.spread * max(float(np.trace(S)) / len(m), 1e-12) * np.eye(len(m))
        Z = (X - self.mean) / self.scale
        zc = Z - Z.mean(axis=0)  # (n, f): the intercept is free, so fit on centred data
        t = _target(y)
        gain = np.linalg.solve(zc @ S @ zc.T + self.alpha * np.eye(len(t)), t - zc @ m)
        self.coef = m + S @ zc.T @ gain
        self.intercept = float(-(Z.mean(axis=0) @ self.coef))
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        """A score monotone in predicted latency (standardized log latency) for each row."""
        if not hasattr(self, "coef"):
            raise EvaluationError("LatencyPredictor.predict before fit; call fit(...) first.")
        Z = (np.asarray(features, dtype=float) - self.mean) / self.scale
        return Z @ self.coef + self.intercept


def device_prior(
    sources: Sequence[tuple[np.ndarray, np.ndarray]], alpha: float = 1.0
) -> DevicePrior:
    """The prior a new device starts from: ridge coefficients fitted on each source device.

    Args:
        sources: per source device, ``(features (n_i, f), latency_ms (n_i,))`` of the archs
            measured on it (the rows may differ between devices).
        alpha: ridge strength of each source fit (standardized units).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> X = rng.random((40, 3))
        >>> prior = device_prior([(X, np.exp(X @ [1.0, w, 0.0])) for w in (1.0, 2.0, 3.0)])
        >>> prior.devices, prior.cov.shape
        (3, (3, 3))
    """
    if len(sources) < 2:
        raise EvaluationError(
            f"device_prior needs at least 2 source devices (got {len(sources)}): their spread "
            f"is what the prior learns."
        )
    stacked = np.concatenate([np.asarray(x, dtype=float) for x, _ in sources])
    mean, scale = stacked.mean(axis=0), _scale(stacked)
    coefs = []
    for x, y in sources:
        X, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        _check(X, y, "device_prior")
        zc = (X - mean) / scale
        zc -= zc.mean(axis=0)
        coefs.append(np.linalg.solve(zc.T @ zc + alpha * np.eye(len(mean)), zc.T @ _target(y)))
    C = np.stack(coefs)  # (devices, f)
    return DevicePrior(C.mean(axis=0), np.cov(C.T, bias=True), mean, scale, len(C))


def few_shot_correlation(
    features: np.ndarray,
    latency_ms: np.ndarray,
    *,
    samples: int = 10,
    seeds: Sequence[int] = range(10),
    prior: DevicePrior | None = None,
    alpha: float = 1.0,
    spread: float = 0.0,
    pool: np.ndarray | None = None,
    query: np.ndarray | None = None,
) -> dict[str, float]:
    """Fit on ``samples`` rows drawn from ``pool``, rank ``query``: mean Spearman and Kendall
    over ``seeds`` (one draw each).

    ``pool`` and ``query`` are row indices (default: every row, and the rows not drawn);
    HELP's protocol draws from a fixed pool and scores a disjoint fixed query set.
    """
    from scipy.stats import kendalltau, spearmanr

    X = np.asarray(features, dtype=float)
    y = np.asarray(latency_ms, dtype=float)
    pool = np.arange(len(X)) if pool is None else np.asarray(pool)
    if samples < 2 or samples > len(pool):
        raise EvaluationError(
            f"few_shot_correlation draws {samples} samples from a pool of {len(pool)} rows; "
            f"pass samples in [2, {len(pool)}]."
        )
    rho, tau = [], []
    for seed in seeds:
        fit = np.random.default_rng(seed).choice(pool, samples, replace=False)
        rest = np.setdiff1d(np.arange(len(X)), fit) if query is None else np.asarray(query)
        p = LatencyPredictor(alpha=alpha, prior=prior, spread=spread).fit(X[fit], y[fit])
        pred = p.predict(X[rest])
        rho.append(float(spearmanr(pred, y[rest])[0]))
        tau.append(float(kendalltau(pred, y[rest])[0]))
    return {"spearman": float(np.mean(rho)), "kendall": float(np.mean(tau))}
