"""The evaluation harness: every predictor, every train size, several seeds, on a split of the
field's protocols (:mod:`nas.predictors._protocol`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nas.predictors._baselines import (
    ALL_PROXIES,
    EncodingRegressor,
    ProxyCache,
    graph_proxy_scores,
    size_scores,
)
from nas.predictors._errors import PredictorError
from nas.predictors._features import FeatureSpec, GraphFeatures, featurize
from nas.predictors._metrics import score_predictions
from nas.predictors._model import GennapePredictor, PredictorConfig
from nas.predictors._protocol import Protocol, protocol_split, score_all_and_unique, table_meta
from nas.predictors._tables import LabeledTable, load_labeled

if TYPE_CHECKING:
    from nas.predictors._pretrain import PretrainedEncoder
    from nas.space import Space

__all__ = ["PREDICTORS", "config_from_dict", "evaluate_table", "evaluate_transfer", "summarize"]

PREDICTORS = ("gennape", "single_head", "gbr", "rf", "mlp", "params", "flops", "zc")
UNLABELED = ("none", "pool")  # what evaluate_table passes as fit(unlabeled=...)


def config_from_dict(
    given: Mapping[str, Any], base: PredictorConfig | None = None, *, what: str = "--config"
) -> PredictorConfig:
    """``base`` (default: the defaults) with the fields of ``given`` (e.g. parsed JSON), each
    checked against its field's type; a bad name or value is one :class:`PredictorError`.

    Example:
        >>> config_from_dict({"proxy_inputs": ["synflow_bn"], "epochs": 40}).proxy_inputs
        ('synflow_bn',)
    """
    import difflib

    base = base or PredictorConfig()
    if not isinstance(given, Mapping):
        raise PredictorError(
            f"{what}: expected a JSON object of PredictorConfig fields, got {type(given).__name__}"
            ' (e.g. {"proxy_inputs": ["synflow_bn"]}).'
        )
    names = [f.name for f in fields(PredictorConfig)]
    for key, value in given.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"fields: {', '.join(names)}."
            raise PredictorError(f"{what}: unknown PredictorConfig field {key!r}; {hint}")
        default = getattr(base, key)
        if isinstance(default, tuple):
            ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
            want = "a list of names"
        elif isinstance(default, bool):
            ok, want = isinstance(value, bool), "true or false"
        elif isinstance(default, int):
            ok, want = isinstance(value, int) and not isinstance(value, bool), "an integer"
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            want = "a number"
        else:
            ok, want = isinstance(value, type(default)), type(default).__name__
        if not ok:
            raise PredictorError(f"{what}: field {key!r} expects {want} (got {value!r}).")
    try:
        return replace(base, **dict(given))
    except PredictorError as exc:
        raise PredictorError(f"{what}: {exc}") from None


def evaluate_table(
    table: str | LabeledTable,
    *,
    train_sizes: Sequence[int] = (20, 50, 100, 1000),
    seeds: int | Sequence[int] = 5,
    test_size: int = 1000,
    predictors: Sequence[str] = PREDICTORS,
    config: PredictorConfig | None = None,
    zc_archs: int = 100,
    pretrained: PretrainedEncoder | None = None,
    progress: Callable[[str], None] | None = None,
    target: str = "test_accuracy",
    split: str = "random",
    on_predictions: Callable[[dict], None] | None = None,
    proxy_cache: str | Path | None = None,
    unlabeled: str = "none",
) -> list[dict]:
    """Fit each learned predictor on ``n`` labelled archs of a split and score it on its test set.

    Args:
        table: A table name (loaded with ``target`` as the label) or a loaded table (its
            ``signal`` is the target).
        train_sizes: Label counts ``N``.
        seeds: A count (seeds ``0..seeds-1``) or the seeds themselves; a seed draws the
            training archs and seeds the model.
        test_size: Test archs of the ``random`` split (``gates`` and ``tnasp`` fix their own).
        predictors: Names from :data:`PREDICTORS`.
        zc_archs: Test archs (one fixed random draw) the zero-cost proxies are scored on.
        target: ``test_accuracy`` (NB-201: 200 epochs) or ``val_accuracy`` (NB-201: 12 epochs).
        split: ``gates``, ``tnasp`` or ``random`` (see :mod:`nas.predictors._protocol`).
        on_predictions: Called after each learned fit with the test predictions it was
            scored on: ``{"predictor", "train_size", "seed", "arch_ids", "y_true",
            "y_pred"}`` (lists in test order), so a figure can show the model that was
            evaluated (its ``"all"`` row's Kendall tau is that of these lists).
        proxy_cache: A directory that keeps zero-cost proxy scores across runs (the model's
            ``proxy_inputs`` and the ``zc`` baseline); the figures are the same without it.
        unlabeled: ``"pool"`` passes the split's unlabelled candidates (the archs it could
            have drawn labels from, minus the drawn ones and the test archs: the gates
            pool's other archs; on ``tnasp``, whose test set is every arch, all other archs),
            one per graph_hash class, to ``fit(unlabeled=...)``: fuzzy clustering runs on
            them, and ``config.pretrain_epochs`` pretrains on their free targets (FLOPs,
            params and the ``proxy_inputs`` scores). ``"none"`` (default): labelled archs only.

    Returns:
        Two rows per (predictor, train_size, seed), ``archs="all"`` and ``archs="unique"``
        (graph_hash classes once), with the metrics of :func:`score_predictions`.
        Training-free scores (params, FLOPs, zero-cost proxies) appear with ``train_size=0``.
    """
    t = load_labeled(table, signal=target) if isinstance(table, str) else table
    Protocol(t.name, t.signal, split, tuple(train_sizes), (0,))  # validates split and target
    if unlabeled not in UNLABELED:
        raise PredictorError(
            f"Unknown unlabeled set {unlabeled!r}; use one of {', '.join(UNLABELED)}."
        )
    config = config or PredictorConfig()
    meta = table_meta(t)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    graphs = _graphs_of(t, meta.graph_hash)
    if proxy_cache is not None:
        graphs.use_disk_cache(Path(proxy_cache))
    rows: list[dict] = []

    def emit(name: str, n: int, seed: int, test: np.ndarray, pred: np.ndarray, mae: bool) -> None:
        hashes = [meta.graph_hash[int(i)] for i in test]
        scores = score_all_and_unique(t.targets[test], pred, hashes, with_mae=mae)
        for archs, s in scores.items():
            rows.append({"predictor": name, "train_size": n, "seed": seed, "archs": archs, **s})

    for seed in seed_list:
        test = protocol_split(
            split, meta, 1, seed, test_size=test_size, max_train=max(train_sizes)
        )[1]
        for name in ("params", "flops"):
            if name in predictors:
                emit(name, 0, seed, test, graphs.size(test)[name], False)
        if "zc" in predictors and t.space is not None and zc_archs > 0:
            pick = np.random.default_rng(0).permutation(test)[:zc_archs]
            zc = graphs.zero_cost(pick)
            for proxy, s in zc.items():
                emit(f"zc:{proxy}", 0, seed, pick, s, False)
            free = training_free(zc, graphs.size(pick))
            emit("zc:aggregate", 0, seed, pick, rank_aggregate(free), False)
        for n in train_sizes:
            train, test = protocol_split(
                split, meta, n, seed, test_size=test_size, max_train=max(train_sizes)
            )
            for name in predictors:
                if name in ("params", "flops", "zc"):
                    continue
                if progress is not None:
                    progress(f"{name} n={n} seed={seed}")
                if name in ("gennape", "single_head"):
                    cfg = replace(
                        config,
                        seed=seed,
                        n_clusters=1 if name == "single_head" else config.n_clusters,
                    )
                    init = pretrained.as_init() if pretrained is not None else None
                    model = GennapePredictor(cfg, encoder=init)
                    pool_feats = (
                        graphs.features(graphs.unlabeled(split, train, test), model.spec)
                        if unlabeled == "pool"
                        else []
                    )
                    feats = graphs.features(train, model.spec)
                    model.fit(feats, t.targets[train], unlabeled=pool_feats)
                    pred = graphs.predict(model, test)
                else:
                    if t.archs is None:
                        continue  # no DSL encoding for this table
                    x_train, x_test = _encode(t, train), _encode(t, test)
                    reg = EncodingRegressor(name, seed=seed).fit(x_train, t.targets[train])
                    pred = reg.predict(x_test)
                emit(name, int(n), seed, test, pred, True)
                if on_predictions is not None:
                    on_predictions(
                        {"predictor": name, "train_size": int(n), "seed": seed,
                         "arch_ids": [t.keys[int(i)] for i in test],
                         "y_true": t.targets[test].tolist(), "y_pred": pred.tolist()}
                    )  # fmt: skip
    return rows


class _Graphs:
    """Compiles, featurizes and predicts once per graph_hash class (isomorphic archs share
    one graph up to node order, so their features and predictions are the same)."""

    def __init__(self, t: LabeledTable, hashes: Sequence[str]) -> None:
        first: dict[str, int] = {}
        self.rep = np.array([first.setdefault(h, i) for i, h in enumerate(hashes)], np.int64)
        self.t = t
        self._feats: dict[tuple, GraphFeatures] = {}
        self.proxies = ProxyCache()  # in memory; use_disk_cache swaps in one on disk

    def use_disk_cache(self, root: Path) -> None:
        if self.proxies.root != root.expanduser():
            self.proxies = ProxyCache(root)

    def representatives(self, rows_: np.ndarray) -> np.ndarray:
        return self.rep[np.asarray(rows_, dtype=np.int64)]

    def size(self, rows_: np.ndarray) -> dict[str, np.ndarray]:
        return size_scores(self.t.graphs(self.representatives(rows_)))

    def features(self, rows_: np.ndarray, spec: FeatureSpec) -> list[GraphFeatures]:
        out = []
        for r in self.representatives(rows_):
            key = (spec, int(r))
            f = self._feats.get(key)
            if f is None:
                graph = self.t.graph(int(r))
                f = self._feats[key] = featurize(graph, spec, proxy_cache=self.proxies)
            out.append(f)
        return out

    def unlabeled(self, split: str, train: np.ndarray, test: np.ndarray) -> np.ndarray:
        """One row per graph_hash class the split leaves unlabelled: neither drawn for
        training nor (except on ``tnasp``, which tests on every arch) in the test set."""
        n = len(self.rep)
        skip = np.zeros(n, dtype=bool)
        if split != "tnasp":
            skip[test] = True
        taken = np.zeros(n, dtype=bool)
        taken[self.rep[np.asarray(train, dtype=np.int64)]] = True
        classes = np.unique(self.rep[~skip])
        return classes[~taken[classes]]

    def predict(self, model: GennapePredictor, rows_: np.ndarray) -> np.ndarray:
        reps = self.representatives(rows_)
        classes, back = np.unique(reps, return_inverse=True)
        return model.predict(self.features(classes, model.spec)).mean[back]

    def zero_cost(self, rows_: np.ndarray) -> dict[str, np.ndarray]:
        """Every zero-cost proxy's score of rows (the scores the model's ``proxy_inputs``
        read: one batch of 16 with random labels, CIFAR-shaped noise or, for the ``_photo``
        names, crops of photos, see :mod:`nas.predictors._baselines`). An undefined score
        (NaN) ranks the arch last."""
        reps = self.representatives(rows_)
        s = np.stack([graph_proxy_scores(g, ALL_PROXIES, cache=self.proxies)
                      for g in self.t.graphs(reps)])  # fmt: skip
        out = {}
        for j, p in enumerate(ALL_PROXIES):
            finite = np.isfinite(s[:, j])
            floor = s[finite, j].min() - 1.0 if finite.any() else 0.0
            out[p] = np.where(finite, s[:, j], floor)  # below every defined score: last
        return out


_GRAPHS: dict[str, _Graphs] = {}


def _graphs_of(t: LabeledTable, hashes: Sequence[str]) -> _Graphs:
    """The table's featurized graphs, kept across calls in one process (a run of several
    splits or sizes compiles, featurizes and scores proxies once per graph)."""
    g = _GRAPHS.get(t.name)
    if g is None or len(g.rep) != len(hashes):
        g = _GRAPHS[t.name] = _Graphs(t, hashes)
    return g


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


#: The scores the training-free ranking (``zc:aggregate``) combines. Chosen once, among all
#: 1,023 subsets of the nine proxies (ALL_PROXIES: six fed noise, three fed photos) and FLOPs,
#: by Kendall tau on the GATES pool half of NB-201 CIFAR-10 (arch_index < 7813, 200-epoch
#: target): 0.756 there (unique archs 0.727), against 0.740 for synflow, jacov (on noise) and
#: FLOPs, the best subset before the photo-fed proxies existed; the test half, which the
#: reported figure is measured on, had no say. Params is left out: on NB-201 it ranks exactly
#: as FLOPs do, so it would double them.
TRAINING_FREE = ("synflow", "jacov_photo", "flops")


def training_free(
    proxies: Mapping[str, np.ndarray], size: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The :data:`TRAINING_FREE` scores out of zero-cost proxy scores and ``size_scores``."""
    scores = {**proxies, **size}
    return {k: scores[k] for k in TRAINING_FREE}


def rank_aggregate(scores: dict[str, np.ndarray]) -> np.ndarray:
    """Combine training-free scores without labels: the sum of each score's log normalized
    rank (AZ-NAS), so an arch must rank well on every score to rank well overall.

    Example:
        >>> rank_aggregate({"a": np.array([1.0, 2.0, 3.0]), "b": np.array([3.0, 2.0, 1.0])}).round(2)
        array([-1.1 , -0.81, -1.1 ])
    """
    from scipy.stats import rankdata

    total = np.zeros(len(next(iter(scores.values()))))
    for s in scores.values():
        total += np.log(rankdata(s) / len(s))
    return total


def evaluate_transfer(
    pretrain_on: Sequence[str],
    finetune_on: str,
    *,
    finetune_size: int = 50,
    per_table: int = 500,
    seeds: int | Sequence[int] = 1,
    test_size: int = 1000,
    config: PredictorConfig | None = None,
    progress: Callable[[str], None] | None = None,
    encoder: PretrainedEncoder | None = None,
    target_signal: str = "test_accuracy",
    on_predictions: Callable[[dict], None] | None = None,
    proxy_cache: str | Path | None = None,
    zc_archs: int = 0,
    timings: dict[str, float] | None = None,
) -> list[dict]:
    """Train on other tables (targets put on one scale per table by ``config.group_norm``),
    test on ``finetune_on`` zero-shot and after fine-tuning on ``finetune_size`` of its
    labels; a from-scratch model on the same labels is the control.

    ``encoder`` (e.g. contrastively pretrained on unlabelled graphs, see
    :func:`~nas.predictors.pretrain`) initializes the transferred model's encoder; the
    from-scratch control always starts from random weights. ``target_signal`` is the
    ``finetune_on`` column scored (NB-201: ``test_accuracy`` = 200 epochs); source tables
    train on their search signal. ``on_predictions`` gets each fine-tuned model's scored test
    predictions, as in :func:`evaluate_table`.

    With ``config.proxy_inputs``, each graph's proxies are scored on its own input shape and
    class count (a ``proxy_cache`` directory keeps them across runs) and each proxy is
    replaced by the normal scores of its ranks within its table: the source table's drawn
    archs, or the target's fine-tuning and test archs together (label-free: the zero-shot
    model sees the target's proxies, never its labels), since a proxy's scale differs
    across spaces. Rows carry ``mode`` and ``archs``: ``"test"`` (all test archs) or
    ``"zc"`` (the first ``zc_archs`` of a fixed shuffle of them, where the training-free
    scores are computed). ``flops`` and ``params`` are scored on the test archs, the
    zero-cost proxies and their rank aggregate (as in :func:`evaluate_table`) on the
    ``zc`` archs, beside the models' predictions of the same archs. ``timings`` (if given)
    accumulates seconds per stage: ``featurize`` (compile, features, proxies), ``fit``,
    ``finetune``, ``scratch``, ``predict``.
    """
    import time

    config = config or PredictorConfig()
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    target = load_labeled(finetune_on, signal=target_signal)
    meta = table_meta(target)
    tables = {name: load_labeled(name) for name in pretrain_on}
    graphs_of = {name: _graphs_of(t, table_meta(t).graph_hash) for name, t in tables.items()}
    graphs_of[finetune_on] = target_graphs = _graphs_of(target, meta.graph_hash)
    if proxy_cache is not None:
        for g in graphs_of.values():
            g.use_disk_cache(Path(proxy_cache))
    clock = timings if timings is not None else {}

    def timed(stage: str, t0: float) -> None:
        clock[stage] = clock.get(stage, 0.0) + time.perf_counter() - t0

    def feats_of(name: str, rows_: np.ndarray, spec: FeatureSpec) -> list[GraphFeatures]:
        t0 = time.perf_counter()
        out = _per_table_scores(graphs_of[name].features(rows_, spec))
        timed("featurize", t0)
        return out

    rows: list[dict] = []

    def emit(mode: str, seed: int, archs: str, y: np.ndarray, pred: np.ndarray, mae: bool) -> None:
        rows.append(
            {"mode": mode, "seed": seed, "archs": archs, **score_predictions(y, pred, with_mae=mae)}
        )

    for seed in seed_list:
        rng = np.random.default_rng(seed)
        init = None if encoder is None else encoder.as_init()
        model = GennapePredictor(replace(config, seed=seed), encoder=init)
        feats, ys, groups = [], [], []
        for name, src in tables.items():
            pick = rng.permutation(len(src))[:per_table]
            feats += feats_of(name, pick, model.spec)
            ys += list(src.targets[pick])
            groups += [name] * len(pick)
        ft, test = protocol_split("random", meta, finetune_size, seed, test_size=test_size)
        target_feats = feats_of(finetune_on, np.concatenate([ft, test]), model.spec)
        ft_feats, test_feats = target_feats[: len(ft)], target_feats[len(ft) :]
        y_ft, y_test = target.targets[ft], target.targets[test]
        zc = np.random.default_rng(0).permutation(len(test))[:zc_archs]  # positions in test
        if progress is not None:
            progress(f"transfer fit seed={seed}")
        t0 = time.perf_counter()
        model.fit(feats, ys, groups=groups)
        timed("fit", t0)
        mode = f"finetune-{finetune_size}"
        preds: dict[str, np.ndarray] = {}
        t0 = time.perf_counter()
        preds["zero-shot"] = model.predict(test_feats).mean
        timed("predict", t0)
        t0 = time.perf_counter()
        model.finetune(ft_feats, y_ft)
        timed("finetune", t0)
        preds[mode] = model.predict(test_feats).mean
        if on_predictions is not None:
            on_predictions(
                {"predictor": mode, "train_size": finetune_size, "seed": seed,
                 "arch_ids": [target.keys[int(i)] for i in test],
                 "y_true": y_test.tolist(), "y_pred": preds[mode].tolist()}
            )  # fmt: skip
        t0 = time.perf_counter()
        scratch = GennapePredictor(replace(config, seed=seed)).fit(ft_feats, y_ft)
        timed("scratch", t0)
        preds[f"scratch-{finetune_size}"] = scratch.predict(test_feats).mean
        for name, pred in preds.items():
            emit(name, seed, "test", y_test, pred, name != "zero-shot")
        for name, score in target_graphs.size(test).items():
            emit(name, seed, "test", y_test, score, False)
        if len(zc):
            for name, pred in preds.items():
                emit(name, seed, "zc", y_test[zc], pred[zc], False)
            t0 = time.perf_counter()
            free = target_graphs.zero_cost(test[zc])
            timed("featurize", t0)
            for proxy, score in free.items():
                emit(f"zc:{proxy}", seed, "zc", y_test[zc], score, False)
            agg = training_free(free, target_graphs.size(test[zc]))
            emit("zc:aggregate", seed, "zc", y_test[zc], rank_aggregate(agg), False)
    return rows


def _per_table_scores(feats: list[GraphFeatures]) -> list[GraphFeatures]:
    """Each proxy score as the normal score of its rank among ``feats`` (one table's graphs);
    an undefined score stays NaN (the model reads it as the mean). Without proxies: as is."""
    if not feats or not feats[0].scores.size:
        return feats
    from nas.predictors._model import _normal_scores

    s = np.stack([f.scores for f in feats])  # (graphs, proxies)
    out = np.full_like(s, np.nan)
    for j in range(s.shape[1]):
        ok = np.isfinite(s[:, j])
        if ok.sum() >= 2:
            out[ok, j] = _normal_scores(s[ok, j])
    return [replace(f, scores=row) for f, row in zip(feats, out)]


def summarize(
    rows: Sequence[dict], keys: Sequence[str] = ("predictor", "train_size", "archs")
) -> list[dict]:
    """Mean and std of every metric over seeds, per group of ``keys`` (absent keys skipped)."""
    groups: dict[tuple, list[dict]] = {}
    keys = [k for k in keys if any(k in r for r in rows)]
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for key, rs in groups.items():
        entry = dict(zip(keys, key))
        entry["seeds"] = len(rs)
        for metric in ("kendall", "spearman", "ndcg@10", "p@top5%", "mae"):
            vals = [r[metric] for r in rs if r.get(metric) is not None]
            if vals:
                entry[metric] = float(np.mean(vals))
                entry[f"{metric}_std"] = float(np.std(vals))
        out.append(entry)
    return out
