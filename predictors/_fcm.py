"""Fuzzy c-means (Bezdek 1981) on embeddings, in numpy, plus torch memberships for training."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["fuzzy_cmeans", "memberships"]

ArrayT = TypeVar("ArrayT", np.ndarray, "torch.Tensor")


def memberships(x: ArrayT, centers: ArrayT, m: float) -> ArrayT:
    """Fuzzy memberships ``(n, K)`` of points ``x (n, d)`` to ``centers (K, d)``; rows sum to 1.

    Works for numpy arrays and torch tensors alike (so it is differentiable in training).
    ``u_ik = 1 / sum_j (d_ik / d_ij)^(2/(m-1))``, computed from squared distances in a stable
    softmax form: ``u = softmax(-log(d^2) / (m-1))``.

    Example:
        >>> u = memberships(np.array([[0.0], [1.0]]), np.array([[0.0], [1.0]]), 2.0)
        >>> bool(np.allclose(u.sum(1), 1.0)) and bool(u[0, 0] > 0.99)
        True
    """
    if isinstance(x, np.ndarray):
        d2 = ((x[:, None, :] - centers[None, :, :]) ** 2).sum(-1) + 1e-12
        logits = -np.log(d2) / (m - 1.0)
        logits -= logits.max(axis=1, keepdims=True)
        u = np.exp(logits)
        return u / u.sum(axis=1, keepdims=True)
    import torch

    d2 = torch.cdist(x, centers).pow(2) + 1e-12
    return torch.softmax(-torch.log(d2) / (m - 1.0), dim=1)


def fuzzy_cmeans(
    x: np.ndarray,
    k: int,
    *,
    m: float = 2.0,
    rng: np.random.Generator,
    max_iter: int = 200,
    tol: float = 1e-6,
    init: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster ``x (n, d)`` into ``k`` fuzzy clusters with fuzzifier ``m > 1``.

    ``init`` (k, d) starts from given centers instead of random memberships, so re-clustering
    slowly moving embeddings keeps each cluster (and the head trained on it) in place.

    Returns:
        ``(centers (k, d), memberships (n, k))``.

    Example:
        >>> x = np.array([[0.0], [0.1], [5.0], [5.1]])
        >>> c, u = fuzzy_cmeans(x, 2, rng=np.random.default_rng(0))
        >>> [round(float(v), 2) for v in sorted(c[:, 0])]  # the two cluster means
        [0.05, 5.05]
    """
    if m <= 1.0:
        raise ValueError(f"Fuzzifier m must be > 1 (got {m}); GENNAPE and Bezdek use m=2.")
    x = np.asarray(x, dtype=np.float64)
    k = max(1, min(int(k), len(x)))
    if init is not None and len(init) == k:
        u = memberships(x, np.asarray(init, dtype=np.float64), m)
    else:
        u = rng.dirichlet(np.ones(k), size=len(x))  # (n, k), rows sum to 1
    centers = np.zeros((k, x.shape[1]))
    for _ in range(max_iter):
        w = u**m
        centers = (w.T @ x) / w.sum(axis=0)[:, None]
        new_u = memberships(x, centers, m)
        if np.abs(new_u - u).max() < tol:
            u = new_u
            break
        u = new_u
    return centers, u
