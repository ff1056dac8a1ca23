"""Pretraining the encoder on free targets of unlabelled graphs (``pretrain_epochs``)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from nas.predictors import (
    EncoderConfig,
    FeatureSpec,
    GennapePredictor,
    GraphEncoder,
    PredictorConfig,
    PredictorError,
    featurize,
)
from nas.predictors._model import graph_inputs
from nas.predictors._pretrain import free_target_scores, pretrain_free_targets

from .conftest import TINY


def test_free_target_scores_keep_order_and_leave_undefined_out():
    values = np.array([[3.0, 1.0], [np.nan, 2.0], [1.0, 2.0], [2.0, 9.0]])
    z = free_target_scores(values)
    assert np.isnan(z[1, 0]) and np.isfinite(z[[0, 2, 3], 0]).all()
    assert z[2, 0] < z[3, 0] < z[0, 0]  # ranks of the defined entries
    assert z[1, 1] == z[2, 1]  # ties share a score
    assert abs(z[:, 1].mean()) < 1e-12  # normal scores of ranks are centred


def test_pretraining_on_free_targets_lowers_their_loss(macro_graphs):
    graphs, _ = macro_graphs
    spec = FeatureSpec.default()
    feats = [featurize(g, spec) for g in graphs]
    targets = free_target_scores(graph_inputs(feats, spec))
    enc = GraphEncoder(EncoderConfig(spec.dim, 16, 2, 16))
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    history = pretrain_free_targets(enc, feats, targets, epochs=60, lr=3e-3, batch_size=40)
    assert len(history) == 60
    assert history[-1] < 0.7 * history[0]  # it learned the graphs' sizes
    assert any(not (before[k] == v).all() for k, v in enc.state_dict().items())
    with pytest.raises(ValueError, match="one target row per graph"):
        pretrain_free_targets(enc, feats, targets[:3], epochs=1)


def test_fit_pretrains_on_labelled_and_unlabelled_graphs(tmp_path, macro_graphs):
    graphs, y = macro_graphs
    cfg = replace(TINY, pretrain_epochs=4)
    plain = GennapePredictor(TINY).fit(graphs[:10], y[:10], unlabeled=graphs[10:])
    model = GennapePredictor(cfg).fit(graphs[:10], y[:10], unlabeled=graphs[10:])
    assert plain.pretrain_history == () and len(model.pretrain_history) == 4
    p = model.predict(graphs[10:])
    assert not np.allclose(p.mean, plain.predict(graphs[10:]).mean)
    model.save(tmp_path / "m")
    back = GennapePredictor.load(tmp_path / "m")
    assert back.config.pretrain_epochs == 4
    np.testing.assert_array_equal(back.predict(graphs[10:]).mean, p.mean)
    ens = GennapePredictor(replace(cfg, ensemble=2)).fit(graphs[:10], y[:10], unlabeled=graphs[10:])
    assert len(ens.members[0].pretrain_history) == 4  # every member pretrains


def test_unlabelled_features_without_proxy_scores_give_nan_free_targets(macro_graphs):
    graphs, _ = macro_graphs
    spec = replace(FeatureSpec.default(), proxies=("synflow",))
    feats = [featurize(g, FeatureSpec.default()) for g in graphs[:3]]  # no scores
    with pytest.raises(PredictorError, match="proxy scores"):
        graph_inputs(feats, spec)
    loose = graph_inputs(feats, spec, strict=False)
    assert loose.shape == (3, 3) and np.isnan(loose[:, 2]).all()
    np.testing.assert_array_equal(loose[:, :2], graph_inputs(feats, FeatureSpec.default()))


def test_negative_pretrain_epochs_are_refused():
    with pytest.raises(PredictorError, match="pretrain_epochs >= 0"):
        PredictorConfig(pretrain_epochs=-1)
