"""The figures: regret, Pareto front, training curves, parallel coordinates, pred vs true."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nas.errors import NasError
from nas.plot._kinds import KINDS

__all__ = [
    "KINDS", "PlotError", "curves_figure", "parallel_figure", "pareto_figure",
    "pred_vs_true_figure", "regret_figure", "save_png", "save_pred_vs_true",
]  # fmt: skip


class PlotError(NasError, ValueError):
    """A figure cannot be drawn from what it was given (no rows, a missing metric, ...)."""


def _figure(width: float = 6.4, height: float = 4.2) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` as a PNG (folders created); returns the path."""
    out = Path(path)
    if out.suffix.lower() != ".png":
        raise PlotError(f"Expected a .png output path (got {str(path)!r}).")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


def regret_figure(comparison: Mapping[str, Any]) -> Any:
    """Mean test regret over seeds per strategy, with a band of +/- one standard error of
    the mean, on a linear axis (a zero-regret curve stays visible; the band is the
    uncertainty of the mean, not of one run).

    Args:
        comparison: ``Comparison.to_dict()`` (regret at its checkpoints), optionally with
            ``"trajectories": {strategy: [[test accuracy per query] per seed]}``, which
            draws every query.
    """
    strategies = comparison.get("strategies")
    if not strategies:
        raise PlotError("No strategies to plot; pass a `nas benchmark search --json` result.")
    fig = _figure()
    ax = fig.add_subplot()
    n = len(comparison.get("seeds", [])) or 1
    trajectories = comparison.get("trajectories") or {}
    for name, curve in strategies.items():
        if name in trajectories:
            regret = comparison["optimum_test_accuracy"] - np.asarray(trajectories[name])
            x = np.arange(1, regret.shape[1] + 1)
            mean = regret.mean(axis=0)
            sem = (
                regret.std(axis=0, ddof=1) / math.sqrt(len(regret)) if len(regret) > 1 else 0 * mean
            )
        else:
            x = np.asarray(comparison["checkpoints"])
            mean = np.asarray(curve["regret_mean"])
            sem = np.asarray(curve["regret_std"]) / math.sqrt(n)
        (line,) = ax.plot(x, mean, marker="" if len(x) > 30 else "o", label=name)
        ax.fill_between(x, mean - sem, mean + sem, color=line.get_color(), alpha=0.2, lw=0)
    ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]))
    ax.set_xlabel("queries")
    ax.set_ylabel("test regret (accuracy points)")
    ax.set_title(f"{comparison.get('table', '')}: mean over {n} seeds, band = ±1 s.e.m.")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def _ok(rows: Sequence[Mapping[str, Any]], *metrics: str) -> list[Mapping[str, Any]]:
    out = [
        r for r in rows
        if r.get("status") == "ok"
        and all(isinstance(r.get(m), (int, float)) and math.isfinite(r[m]) for m in metrics)
    ]  # fmt: skip
    if not out:
        raise PlotError(
            f"No ok rows with {', '.join(metrics)} to plot; pick metrics the rows have."
        )
    return out


def pareto_figure(
    rows: Sequence[Mapping[str, Any]],
    x: str = "params",
    y: str = "val_accuracy",
    *,
    x_direction: str = "min",
    y_direction: str = "max",
) -> Any:
    """Every ok row as a point, the non-dominated ones joined as the front, and the
    front's hypervolume (reference: the worst value of each metric among the rows)."""
    from nas._pareto import non_dominated
    from nas.hw import hypervolume

    ok = _ok(rows, x, y)
    sx, sy = (1 if x_direction == "min" else -1), (1 if y_direction == "min" else -1)
    points = [[sx * float(r[x]), sy * float(r[y])] for r in ok]
    front = non_dominated(points)
    ref = [max(p[0] for p in points), max(p[1] for p in points)]
    hv = hypervolume([points[i] for i in front], ref)
    fig = _figure()
    ax = fig.add_subplot()
    on = set(front)
    dom = [i for i in range(len(ok)) if i not in on]
    ax.scatter([ok[i][x] for i in dom], [ok[i][y] for i in dom], s=10, c="0.6",
               label=f"dominated ({len(dom)})")  # fmt: skip
    order = sorted(front, key=lambda i: ok[i][x])
    ax.plot([ok[i][x] for i in order], [ok[i][y] for i in order], "o-", color="C3", ms=5,
            label=f"Pareto front ({len(front)})")  # fmt: skip
    ax.set_xlabel(f"{x} ({x_direction})")
    ax.set_ylabel(f"{y} ({y_direction})")
    if x in ("params", "flops") and min(float(r[x]) for r in ok) > 0:
        ax.set_xscale("log")
    ax.set_title(f"{len(ok)} ok trials; front hypervolume {hv:.4g} (ref.: the worst of each)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def curves_figure(
    rows: Sequence[Mapping[str, Any]], metric: str = "val_accuracy", *, top: int = 8
) -> Any:
    """The per-epoch ``METRIC_curve`` of the ``top`` best rows by ``metric``."""
    column = f"{metric}_curve"
    with_curves = [r for r in _ok(rows, metric) if r.get(column)]
    if not with_curves:
        raise PlotError(f"No ok row has a {column!r}; train with a training evaluator first.")
    best = sorted(with_curves, key=lambda r: -float(r[metric]))[: max(1, top)]
    fig = _figure()
    ax = fig.add_subplot()
    for r in best:
        curve = list(r[column])
        label = f"{r.get('arch_id')!s} ({float(r[metric]):.2f})"
        ax.plot(range(1, len(curve) + 1), curve, marker="o" if len(curve) < 30 else "", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"training curves of the best {len(best)} of {len(with_curves)} trials")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def parallel_figure(
    rows: Sequence[Mapping[str, Any]], metric: str = "val_accuracy", *, max_decisions: int = 12
) -> Any:
    """Parallel coordinates: one axis per decision (values in sorted order) and one for
    ``metric``; each ok row is a line coloured by ``metric``."""
    ok = _ok(rows, metric)
    archs = [_values(r["arch"]) for r in ok]
    every = sorted({k for a in archs for k in a})
    varied = [n for n in every if len({json.dumps(a.get(n)) for a in archs}) > 1]
    names = (varied or every)[:max_decisions]
    if not names:
        raise PlotError("The rows' archs have no decisions to draw.")
    levels = {n: sorted({json.dumps(a.get(n)) for a in archs}) for n in names}
    data = np.array(
        [
            [_level(levels[n], a.get(n)) for n in names] + [float(r[metric])]
            for a, r in zip(archs, ok)
        ]
    )
    lo, hi = data.min(axis=0), data.max(axis=0)
    scaled = (data - lo) / np.where(hi > lo, hi - lo, 1.0)
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    fig = _figure(max(6.4, 0.8 * len(names) + 2), 4.2)
    ax = fig.add_subplot()
    xs = np.arange(len(names) + 1)
    for row in scaled[np.argsort(scaled[:, -1])]:
        ax.plot(xs, row, color=cmap(row[-1]), alpha=0.35, lw=0.8)
    for i, n in enumerate(names):  # name each axis's values (up to 8)
        if len(levels[n]) <= 8:
            for text in levels[n]:
                at = (_level(levels[n], json.loads(text)) - lo[i]) / ((hi[i] - lo[i]) or 1.0)
                ax.text(i + 0.03, at, str(json.loads(text))[:16], fontsize=6, va="center")
    ax.set_xticks(xs)
    ax.set_xticklabels([n.split(".")[-1][:14] for n in names] + [metric], rotation=30, fontsize=7)
    ax.set_yticks([0, 1])
    ax.set_yticklabels(["low", "high"])
    ax.set_title(f"{len(ok)} trials; colour and last axis: {metric} ({lo[-1]:.2f}-{hi[-1]:.2f})")
    fig.tight_layout()
    return fig


def _values(arch: Any) -> Mapping[str, Any]:
    """The ``{decision path: value}`` of a stored arch (its canonical JSON's ``values``)."""
    data = arch if isinstance(arch, Mapping) else json.loads(arch)
    values = data.get("values", data)
    return values if isinstance(values, Mapping) else {}


def _level(values: list[str], value: Any) -> float:
    text = json.dumps(value)
    try:
        return float(value) if all(_is_number(v) for v in values) else float(values.index(text))
    except (TypeError, ValueError):
        return float(values.index(text))


def _is_number(text: str) -> bool:
    value = json.loads(text)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def pred_vs_true_figure(
    y_true: Sequence[float], y_pred: Sequence[float], *, target: str = "test_accuracy",
    title: str = "",
) -> Any:  # fmt: skip
    """Predicted vs true values of the model that was evaluated, with Kendall's tau and
    Spearman's rho on the figure and the identity line."""
    from scipy.stats import kendalltau, spearmanr

    t, p = np.asarray(y_true, float), np.asarray(y_pred, float)
    if t.shape != p.shape or t.size < 2:
        raise PlotError(
            f"Expected two equally long lists of >= 2 values (got {t.size} true, {p.size} predicted)."
        )
    tau, rho = float(kendalltau(t, p).statistic), float(spearmanr(t, p).statistic)
    fig = _figure(4.8, 4.6)
    ax = fig.add_subplot()
    ax.scatter(t, p, s=6, alpha=0.5)
    lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="predicted = true")
    ax.set_xlabel(f"true {target}")
    ax.set_ylabel(f"predicted {target}")
    ax.set_title(f"{title}\nKendall τ {tau:.3f}, Spearman ρ {rho:.3f}, n = {t.size}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def save_pred_vs_true(
    record: Mapping[str, Any], path: str | os.PathLike[str], *, target: str = "test_accuracy",
    title: str = "",
) -> dict[str, Any]:  # fmt: skip
    """Draw the predictions an evaluation scored (``record``: ``y_true``/``y_pred`` lists, as
    ``evaluate_table(on_predictions=...)`` hands them out) into the PNG ``path`` and keep
    them beside it as ``path`` with ``.json`` (``nas plot pred-vs-true`` redraws from it).

    Returns:
        What the figure shows: ``{"png", "json", "kendall", "spearman", "n"}``.

    Example:
        >>> import tempfile
        >>> out = save_pred_vs_true({"y_true": [1, 2, 3], "y_pred": [1, 3, 2]},
        ...                         Path(tempfile.mkdtemp()) / "p.png")
        >>> round(out["kendall"], 3), out["n"]
        (0.333, 3)
    """
    from scipy.stats import kendalltau, spearmanr

    t, p = np.asarray(record["y_true"], float), np.asarray(record["y_pred"], float)
    fig = pred_vs_true_figure(record["y_true"], record["y_pred"], target=target, title=title)
    png = save_png(fig, path)
    side = png.with_suffix(".json")
    scores = {
        "kendall": float(kendalltau(t, p).statistic), "spearman": float(spearmanr(t, p).statistic),
        "n": int(t.size),
    }  # fmt: skip
    side.write_text(json.dumps({**record, **scores, "target": target, "title": title}) + "\n")
    return {"png": str(png), "json": str(side), **scores}
