"""Ranking metrics for predictors: Spearman, Kendall tau, NDCG@k, precision@top-5 %, MAE."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ndcg_at_k", "precision_at_top", "score_predictions"]


def ndcg_at_k(y_true: np.ndarray, y_score: np.ndarray, k: int = 10) -> float:
    """NDCG@k of ranking by ``y_score`` with relevance = ``y_true`` (e.g. accuracy in %).

    Example:
        >>> ndcg_at_k(np.array([3.0, 2.0, 1.0]), np.array([0.9, 0.5, 0.1]), k=2)
        1.0
    """
    y_true, y_score = np.asarray(y_true, float), np.asarray(y_score, float)
    k = min(k, len(y_true))
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    # ties in the score are broken pessimistically (worst true value first) so a constant
    # predictor does not look good by accident
    order = np.lexsort((y_true, -y_score))[:k]
    dcg = float((y_true[order] * discounts).sum())
    ideal = float((np.sort(y_true)[::-1][:k] * discounts).sum())
    return dcg / ideal if ideal > 0 else 0.0


def precision_at_top(y_true: np.ndarray, y_score: np.ndarray, share: float = 0.05) -> float:
    """Share of the predicted top ``share`` of archs that are in the true top ``share``.

    ``k = max(1, int(n * share))`` as FlowerFormer's and TNASP's ``P@topK``; score ties are
    broken pessimistically, as in :func:`ndcg_at_k`.

    Example:
        >>> precision_at_top(np.arange(20.0), np.arange(20.0), 0.1)
        1.0
    """
    y_true, y_score = np.asarray(y_true, float), np.asarray(y_score, float)
    k = max(1, int(len(y_true) * share))
    predicted = np.lexsort((y_true, -y_score))[:k]
    true_top = np.argsort(-y_true, kind="stable")[:k]
    return len(np.intersect1d(predicted, true_top)) / k


def score_predictions(
    y_true: np.ndarray, y_pred: np.ndarray, *, k: int = 10, with_mae: bool = True
) -> dict[str, float | None]:
    """Spearman, Kendall tau (b), NDCG@k, precision@top-5 % and MAE (``None`` for scores not
    in target units).

    Example:
        >>> s = score_predictions(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
        >>> s["spearman"], s["kendall"], round(s["mae"], 3)
        (1.0, 1.0, 0.333)
    """
    from scipy import stats

    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    constant = np.ptp(y_pred) == 0
    rho = 0.0 if constant else float(stats.spearmanr(y_true, y_pred).statistic)
    tau = 0.0 if constant else float(stats.kendalltau(y_true, y_pred).statistic)
    return {
        "spearman": 0.0 if math.isnan(rho) else rho,
        "kendall": 0.0 if math.isnan(tau) else tau,
        f"ndcg@{k}": ndcg_at_k(y_true, y_pred, k),
        "p@top5%": precision_at_top(y_true, y_pred, 0.05),
        "mae": float(np.abs(y_true - y_pred).mean()) if with_mae else None,
        "n": len(y_true),
    }
