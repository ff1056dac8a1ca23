"""GENNAPE-style performance predictors (packaged as ``nas.predictors``).

Any IR graph is featurized (op one-hot + shape-aware numeric features), embedded by a GIN-style
encoder (optionally pretrained contrastively on unlabelled graphs from many spaces), clustered
with fuzzy c-means, and scored by K small heads mixed by each graph's fuzzy memberships; the
heads' membership-weighted spread is the uncertainty. Baselines (params, FLOPs, zero-cost
proxies, a regressor on the arch encoding) run in the same harness. Importing this package
registers the ``"predictor"`` search strategy.

Example:
    >>> import numpy as np
    >>> from nas.predictors import GennapePredictor, PredictorConfig
    >>> from nas.space import get_space
    >>> space = get_space("nb_macro"); rng = np.random.default_rng(0)
    >>> graphs = [space.compile(space.sample(rng)) for _ in range(10)]
    >>> model = GennapePredictor(PredictorConfig(hidden=8, layers=1, emb_dim=8, epochs=2))
    >>> model.fit(graphs, [g.params for g in graphs]).predict(graphs).mean.shape
    (10,)
"""

from __future__ import annotations

from nas.predictors._baselines import (
    ALL_PROXIES,
    PHOTO_PROXIES,
    ZC_PROXIES,
    EncodingRegressor,
    ProxyCache,
    photo_batch,
    random_batch,
    zero_cost_scores,
)
from nas.predictors._encoder import EncoderConfig, GraphEncoder
from nas.predictors._errors import PredictorError
from nas.predictors._evaluate import evaluate_table, evaluate_transfer, summarize
from nas.predictors._fcm import fuzzy_cmeans, memberships
from nas.predictors._features import FeatureSpec, GraphBatch, GraphFeatures, batch_graphs, featurize
from nas.predictors._metrics import ndcg_at_k, score_predictions
from nas.predictors._model import GennapePredictor, Prediction, PredictorConfig
from nas.predictors._pretrain import PretrainConfig, PretrainedEncoder, pretrain, sample_graphs
from nas.predictors._rank import RankResult, rank_candidates
from nas.predictors._tables import LabeledTable, load_labeled

try:  # registers "predictor" with nas.search; the core must not need the predictor package
    from nas.predictors._strategy import PredictorGuidedSearch
except ImportError:  # pragma: no cover - nas.search missing in a stripped install
    PredictorGuidedSearch = None  # type: ignore[assignment,misc]

__all__ = [
    "ALL_PROXIES",
    "PHOTO_PROXIES",
    "ZC_PROXIES",
    "EncoderConfig",
    "EncodingRegressor",
    "FeatureSpec",
    "GennapePredictor",
    "GraphBatch",
    "GraphEncoder",
    "GraphFeatures",
    "LabeledTable",
    "Prediction",
    "PredictorConfig",
    "PredictorError",
    "PredictorGuidedSearch",
    "PretrainConfig",
    "PretrainedEncoder",
    "ProxyCache",
    "RankResult",
    "batch_graphs",
    "evaluate_table",
    "evaluate_transfer",
    "featurize",
    "fuzzy_cmeans",
    "load_labeled",
    "memberships",
    "ndcg_at_k",
    "photo_batch",
    "pretrain",
    "random_batch",
    "rank_candidates",
    "sample_graphs",
    "score_predictions",
    "summarize",
    "zero_cost_scores",
]
