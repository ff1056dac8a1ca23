"""The evaluation harness: every predictor, every train size, several seeds, held-out archs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from nas.predictors._baselines import EncodingRegressor, random_batch, size_scores, zero_cost_scores
from nas.predictors._errors import PredictorError
from nas.predictors._features import featurize
from nas.predictors._metrics import score_predictions
from nas.predictors._model import GennapePredictor, PredictorConfig
from nas.predictors._tables import LabeledTable, load_labeled

if TYPE_CHECKING:
    from nas.predictors._pretrain import PretrainedEncoder
    from nas.space import Space

__all__ = ["PREDICTORS", "evaluate_table", "evaluate_transfer", "scatter_plot", "summarize"]

PREDICTORS = ("gennape", "single_head", "gbr", "rf", "mlp", "params", "flops", "zc")


def _split(
    n_rows: int, sizes: Sequence[int], test_size: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n_rows)
    test = perm[len(perm) - min(test_size, n_rows - max(sizes)) :]
    return perm, test


def evaluate_table(
    table: str | LabeledTable,
    *,
    train_sizes: Sequence[int] = (20, 50, 100, 1000),
    seeds: int = 5,
    test_size: int = 1000,
    predictors: Sequence[str] = PREDICTORS,
    config: PredictorConfig | None = None,
    zc_archs: int = 100,
    pretrained: PretrainedEncoder | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """Fit each learned predictor on ``n`` random archs and score it on held-out ones.

    Returns:
        One row per (predictor, train_size, seed): metrics from :func:`score_predictions`.
        Training-free scores (params, FLOPs, zero-cost proxies) appear with ``train_size=0``.
    """
    t = load_labeled(table) if isinstance(table, str) else table
    config = config or PredictorConfig()
    rows: list[dict] = []
    zc_cache: dict[int, dict[str, float]] = {}
    for seed in range(seeds):
        perm, test = _split(len(t), train_sizes, test_size, seed)
        y_test = t.targets[test]
        test_feats = None
        for name in ("params", "flops"):
            if name in predictors:
                s = size_scores(t.graphs(test))[name]
                rows.append(
                    {
                        "predictor": name,
                        "train_size": 0,
                        "seed": seed,
                        **score_predictions(y_test, s, with_mae=False),
                    }
                )
        if "zc" in predictors and t.space is not None:
            rows += _zc_rows(t, test[:zc_archs], seed, zc_cache)
        for n in train_sizes:
            train = perm[:n]
            for name in predictors:
                if name in ("params", "flops", "zc"):
                    continue
                if progress is not None:
                    progress(f"{name} n={n} seed={seed}")
                if name in ("gennape", "single_head"):
                    if test_feats is None:
                        test_feats = [featurize(g) for g in t.graphs(test)]
                    cfg = replace(
                        config,
                        seed=seed,
                        n_clusters=1 if name == "single_head" else config.n_clusters,
                    )
                    init = pretrained.as_init() if pretrained is not None else None
                    model = GennapePredictor(cfg, encoder=init)
                    model.fit([featurize(g, model.spec) for g in t.graphs(train)], t.targets[train])
                    pred = model.predict(test_feats).mean
                else:
                    if t.archs is None:
                        continue  # no DSL encoding for this table
                    x_train, x_test = _encode(t, train), _encode(t, test)
                    reg = EncodingRegressor(name, seed=seed).fit(x_train, t.targets[train])
                    pred = reg.predict(x_test)
                rows.append(
                    {
                        "predictor": name,
                        "train_size": int(n),
                        "seed": seed,
                        **score_predictions(y_test, pred),
                    }
                )
    return rows


def _space_archs(t: LabeledTable) -> tuple[Space, list]:
    """The table's DSL space and its rows' archs (the encoding and zero-cost baselines need both)."""
    from nas.space import get_space

    if t.space is None or t.archs is None:
        raise PredictorError(
            f"Table {t.name!r} has no DSL space, so the encoding and zero-cost baselines cannot "
            "run on it; pick a predictor among gennape, single_head, params, flops."
        )
    return get_space(t.space), t.archs


def _encode(t: LabeledTable, rows_: np.ndarray) -> np.ndarray:
    space, archs = _space_archs(t)
    return np.stack([space.encode(archs[int(i)], onehot=True) for i in rows_])


def _zc_rows(t: LabeledTable, rows_: np.ndarray, seed: int, cache: dict) -> list[dict]:
    space, archs = _space_archs(t)
    num_classes = 100 if str(t.space).endswith("c100") else 10
    batch = random_batch(space.input_shape, num_classes, batch_size=16, seed=0)
    for i in rows_:
        if int(i) not in cache:
            cache[int(i)] = zero_cost_scores(space.to_torch(archs[int(i)]), batch)
    out = []
    for proxy in sorted(cache[int(rows_[0])]) if len(rows_) else ():
        s = np.array([cache[int(i)][proxy] for i in rows_])
        out.append(
            {
                "predictor": f"zc:{proxy}",
                "train_size": 0,
                "seed": seed,
                **score_predictions(t.targets[rows_], np.nan_to_num(s), with_mae=False),
            }
        )
    return out


def evaluate_transfer(
    pretrain_on: Sequence[str],
    finetune_on: str,
    *,
    finetune_size: int = 50,
    per_table: int = 500,
    seeds: int = 1,
    test_size: int = 1000,
    config: PredictorConfig | None = None,
    progress: Callable[[str], None] | None = None,
    encoder: PretrainedEncoder | None = None,
) -> list[dict]:
    """Train on other tables (targets z-scored per table), test on ``finetune_on`` zero-shot
    and after fine-tuning on ``finetune_size`` of its labels; a from-scratch model on the same
    labels is the control.

    ``encoder`` (e.g. contrastively pretrained on unlabelled graphs, see
    :func:`~nas.predictors.pretrain`) initializes the transferred model's encoder; the
    from-scratch control always starts from random weights."""
    config = config or PredictorConfig()
    target = load_labeled(finetune_on)
    rows = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        graphs, ys, groups = [], [], []
        for name in pretrain_on:
            src = load_labeled(name)
            pick = rng.permutation(len(src))[:per_table]
            graphs += src.graphs(pick)
            ys += list(src.targets[pick])
            groups += [name] * len(pick)
        perm, test = _split(len(target), [finetune_size], test_size, seed)
        ft = perm[:finetune_size]
        y_test = target.targets[test]
        test_graphs = target.graphs(test)
        if progress is not None:
            progress(f"transfer fit seed={seed}")
        init = None if encoder is None else encoder.as_init()
        model = GennapePredictor(replace(config, seed=seed), encoder=init).fit(
            graphs, ys, groups=groups
        )
        test_feats = model.featurize(test_graphs)
        zero = model.predict(test_feats).mean
        rows.append(
            {"mode": "zero-shot", "seed": seed, **score_predictions(y_test, zero, with_mae=False)}
        )
        model.finetune(target.graphs(ft), target.targets[ft])
        rows.append(
            {
                "mode": f"finetune-{finetune_size}",
                "seed": seed,
                **score_predictions(y_test, model.predict(test_feats).mean),
            }
        )
        scratch = GennapePredictor(replace(config, seed=seed)).fit(
            target.graphs(ft), target.targets[ft]
        )
        rows.append(
            {
                "mode": f"scratch-{finetune_size}",
                "seed": seed,
                **score_predictions(y_test, scratch.predict(test_feats).mean),
            }
        )
    return rows


def summarize(
    rows: Sequence[dict], keys: Sequence[str] = ("predictor", "train_size")
) -> list[dict]:
    """Mean and std of every metric over seeds, per group of ``keys``."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for key, rs in groups.items():
        entry = dict(zip(keys, key))
        entry["seeds"] = len(rs)
        for metric in ("spearman", "kendall", "ndcg@10", "mae"):
            vals = [r[metric] for r in rs if r.get(metric) is not None]
            if vals:
                entry[metric] = float(np.mean(vals))
                entry[f"{metric}_std"] = float(np.std(vals))
        out.append(entry)
    return out


def scatter_plot(y_true: np.ndarray, y_pred: np.ndarray, path: str, *, title: str = "") -> str:
    """Save a predicted-vs-true scatter plot (PNG) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(y_true, y_pred, s=6, alpha=0.5)
    lo, hi = float(np.min(y_true)), float(np.max(y_true))
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
