from __future__ import annotations

import json
import os
import pickle
from dataclasses import replace

import numpy as np
import pytest
import torch

from nas.predictors import (
    FeatureSpec,
    GennapePredictor,
    PredictorConfig,
    PredictorError,
    PretrainedEncoder,
    featurize,
    fuzzy_cmeans,
    memberships,
    ndcg_at_k,
    score_predictions,
)
from nas.predictors._features import PATH_STATS
from nas.predictors._model import graph_inputs

from .conftest import TINY


def test_fuzzy_memberships_sum_to_one_and_lie_in_unit_interval():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (30, 4)), rng.normal(6, 1, (30, 4))])
    centers, u = fuzzy_cmeans(x, 3, m=2.0, rng=rng)
    assert u.shape == (60, 3) and centers.shape == (3, 4)
    np.testing.assert_allclose(u.sum(1), 1.0, rtol=1e-9)
    assert (u >= 0).all() and (u <= 1).all()
    # the two blobs land in different dominant clusters
    assert np.argmax(u[:30].mean(0)) != np.argmax(u[30:].mean(0))
    ut = memberships(
        torch.tensor(x, dtype=torch.float32), torch.tensor(centers, dtype=torch.float32), 2.0
    )
    np.testing.assert_allclose(ut.numpy(), u, atol=1e-4)


def test_fuzzifier_must_exceed_one():
    with pytest.raises(ValueError, match="m must be > 1"):
        fuzzy_cmeans(np.zeros((3, 2)), 2, m=1.0, rng=np.random.default_rng(0))


def test_model_memberships_are_normalized(macro_graphs):
    graphs, y = macro_graphs
    model = GennapePredictor(TINY).fit(graphs, y)
    u = model.memberships(graphs)
    np.testing.assert_allclose(u.sum(1), 1.0, rtol=1e-5)
    assert (u >= 0).all() and (u <= 1).all()
    pred = model.predict(graphs)
    assert (pred.std >= 0).all() and pred.std.max() > 0  # the heads disagree somewhere


@pytest.mark.parametrize("graph_inputs", [False, True])
def test_save_load_round_trip_gives_identical_predictions(tmp_path, macro_graphs, graph_inputs):
    graphs, y = macro_graphs
    model = GennapePredictor(replace(TINY, graph_inputs=graph_inputs)).fit(graphs[:30], y[:30])
    before = model.predict(graphs[30:])
    model.save(tmp_path / "m")
    loaded = GennapePredictor.load(tmp_path / "m")
    after = loaded.predict(graphs[30:])
    np.testing.assert_array_equal(before.mean, after.mean)
    np.testing.assert_array_equal(before.std, after.std)


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_graph_inputs_are_each_graphs_log_flops_and_params(macro_graphs):
    graphs, _ = macro_graphs
    feats = [featurize(g) for g in graphs[:5]]
    got = graph_inputs(feats, FeatureSpec.default())
    want = np.log1p([[g.flops, g.params] for g in graphs[:5]])
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_graph_inputs_let_few_labels_learn_a_size_target(macro_graphs):
    graphs, y = macro_graphs  # y = log params: the heads see it directly with graph inputs
    cfg = replace(TINY, epochs=30, n_clusters=1)
    # FLOPs and params only: the path statistics are other inputs 12 labels must sort out
    only_size = replace(cfg, graph_inputs=True, path_inputs=False)
    with_inputs = GennapePredictor(only_size).fit(graphs[:12], y[:12])
    s = score_predictions(y[12:], with_inputs.predict(graphs[12:]).mean)
    assert s["spearman"] > 0.9


def test_foreign_pickle_payload_is_refused(tmp_path, macro_graphs):
    graphs, y = macro_graphs
    GennapePredictor(TINY).fit(graphs[:10], y[:10]).save(tmp_path / "m")
    weights = tmp_path / "m" / "weights.pt"
    state = torch.load(weights, weights_only=True)
    state["evil"] = _Payload()
    torch.save(state, weights)  # a zip whose data.pkl calls os.system when unpickled
    with pytest.raises(PredictorError, match="Refused to load"):
        GennapePredictor.load(tmp_path / "m")
    # a raw pickle (not even a torch zip) is refused too
    weights.write_bytes(pickle.dumps(_Payload()))
    with pytest.raises(PredictorError, match="Refused to load"):
        GennapePredictor.load(tmp_path / "m")


def test_load_rejects_missing_or_wrong_kind(tmp_path):
    with pytest.raises(PredictorError, match=r"config\.json.*`nas predictor fit`"):
        GennapePredictor.load(tmp_path)
    # An encoder directory is made by pretraining, and the message says so.
    with pytest.raises(PredictorError, match="`nas predictor pretrain`"):
        PretrainedEncoder.load(tmp_path)
    (tmp_path / "config.json").write_text('{"kind": "encoder"}')
    (tmp_path / "weights.pt").write_bytes(b"")
    with pytest.raises(PredictorError, match="'gennape'"):
        GennapePredictor.load(tmp_path)


def test_predict_before_fit_raises(macro_graphs):
    with pytest.raises(PredictorError, match="not fitted"):
        GennapePredictor(TINY).predict(macro_graphs[0][:2])


def test_metrics():
    y = np.array([90.0, 80.0, 70.0, 60.0])
    assert ndcg_at_k(y, np.array([4, 3, 2, 1.0]), k=2) == 1.0
    assert ndcg_at_k(y, np.array([1, 2, 3, 4.0]), k=2) < 1.0
    s = score_predictions(y, np.full(4, 5.0))
    assert s["spearman"] == 0.0 and s["kendall"] == 0.0
    s = score_predictions(y, -y, with_mae=False)
    assert s["spearman"] == -1.0 and s["mae"] is None


@pytest.mark.parametrize("kind", ["gbr", "rf", "mlp"])
def test_every_encoding_regressor_fits_a_learnable_target(kind):
    from nas.predictors import EncodingRegressor

    rng = np.random.default_rng(0)
    x = rng.random((80, 6))
    y = 3.0 * x[:, 0] - 2.0 * x[:, 1]
    reg = EncodingRegressor(kind, seed=0).fit(x[:60], y[:60])
    pred = reg.predict(x[60:])
    assert pred.shape == (20,)
    assert np.corrcoef(pred, y[60:])[0, 1] > 0.8


def test_zero_cost_proxies_survive_an_arch_whose_output_ignores_its_input():
    from nas.predictors import random_batch, zero_cost_scores
    from nas.search_spaces.nb201 import parse_arch_str
    from nas.space import get_space

    arch = parse_arch_str("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    batch = random_batch((3, 32, 32), 10, batch_size=4, seed=0)
    scores = zero_cost_scores(get_space("nb201").to_torch(arch), batch, proxies=("jacov",))
    assert set(scores) == {"jacov"} and np.isnan(scores["jacov"])


def test_rank_group_norm_puts_each_table_on_normal_scores():
    from dataclasses import replace

    from scipy.stats import norm

    # Two tables on different scales; the first has one failed arch far below the rest.
    y = np.array([90.0, 91.0, 92.0, 10.0, 0.5, 0.7, 0.6])
    groups = ["a", "a", "a", "a", "b", "b", "b"]
    z = GennapePredictor(TINY)._normalize(y, groups)
    r = GennapePredictor(replace(TINY, group_norm="rank"))._normalize(y, groups)
    expected_a = norm.ppf(np.array([2, 3, 4, 1]) / 5)
    np.testing.assert_allclose(r[:4], expected_a)
    np.testing.assert_allclose(r[4:], norm.ppf(np.array([1, 3, 2]) / 4))
    # z-scores squeeze the three working archs together next to the outlier; ranks do not.
    assert np.ptp(z[:3]) < 0.2 < np.ptp(r[:3])
    with pytest.raises(PredictorError, match="group_norm"):
        replace(TINY, group_norm="minmax")


def test_group_norm_survives_save_and_load(tmp_path, macro_graphs):
    from dataclasses import replace

    graphs, y = macro_graphs
    model = GennapePredictor(replace(TINY, group_norm="rank")).fit(graphs, y)
    assert GennapePredictor.load(model.save(tmp_path / "m")).config.group_norm == "rank"


def test_rank_target_norm_maps_back_monotonically_and_survives_save(tmp_path, macro_graphs):
    graphs, y = macro_graphs
    cfg = replace(TINY, target_norm="rank", epochs=3)
    model = GennapePredictor(cfg).fit(graphs[:20], y[:20])
    z = np.linspace(-4.0, 4.0, 50)  # beyond the training quantiles on both sides
    units, _ = model._to_units(z, np.zeros_like(z))
    assert (np.diff(units) > 0).all()  # strictly monotone: no ties, ranks are kept
    assert units.min() < y[:20].min() and units.max() > y[:20].max()
    before = model.predict(graphs[20:]).mean
    model.save(tmp_path / "m")
    np.testing.assert_array_equal(
        GennapePredictor.load(tmp_path / "m").predict(graphs[20:]).mean, before
    )
    with pytest.raises(PredictorError, match="target_norm"):
        replace(TINY, target_norm="minmax")


def test_a_model_saved_before_graph_inputs_loads_with_its_own_options(tmp_path, macro_graphs):
    graphs, y = macro_graphs
    cfg = replace(TINY, graph_inputs=False, target_norm="zscore")
    model = GennapePredictor(cfg).fit(graphs[:20], y[:20])
    model.save(tmp_path / "m")
    path = tmp_path / "m" / "config.json"
    config = json.loads(path.read_text())
    for key in ("graph_inputs", "target_norm"):  # what an older version wrote
        del config["predictor"][key]
    del config["quantiles"]
    path.write_text(json.dumps(config))
    loaded = GennapePredictor.load(tmp_path / "m")
    assert not loaded.config.graph_inputs and loaded.config.target_norm == "zscore"
    np.testing.assert_array_equal(loaded.predict(graphs[20:]).mean, model.predict(graphs[20:]).mean)


def test_a_model_saved_before_path_inputs_loads_without_them(tmp_path, macro_graphs):
    graphs, y = macro_graphs
    model = GennapePredictor(replace(TINY, path_inputs=False)).fit(graphs[:20], y[:20])
    model.save(tmp_path / "m")
    path = tmp_path / "m" / "config.json"
    config = json.loads(path.read_text())
    del config["predictor"]["path_inputs"]  # what an older version wrote
    path.write_text(json.dumps(config))
    loaded = GennapePredictor.load(tmp_path / "m")
    assert loaded.config.graph_inputs and not loaded.config.path_inputs
    np.testing.assert_array_equal(loaded.predict(graphs[20:]).mean, model.predict(graphs[20:]).mean)


def test_path_inputs_are_graph_inputs_between_size_and_proxies(macro_graphs):
    graphs, _ = macro_graphs
    feats = [featurize(g) for g in graphs[:5]]
    spec = FeatureSpec.default()
    got = graph_inputs(feats, spec, paths=True)
    assert got.shape == (5, 2 + len(PATH_STATS))
    np.testing.assert_array_equal(got[:, :2], graph_inputs(feats, spec))
    np.testing.assert_array_equal(got[:, 2:], np.stack([f.path_stats for f in feats]))
    model = GennapePredictor(TINY)  # path_inputs on by default: the heads read all six
    assert model.net.graph_mean.shape == (2 + len(PATH_STATS),)


def test_average_tail_is_the_mean_of_the_last_epochs_weights(macro_graphs):
    graphs, y = macro_graphs
    one_phase = replace(TINY, n_clusters=1, epochs=4, average_tail=0.0)  # no clustering step

    def params(cfg: PredictorConfig) -> list[torch.Tensor]:
        model = GennapePredictor(cfg).fit(graphs[:16], y[:16])
        return [p.detach().clone() for p in model.net.parameters()]

    after_3, after_4 = params(replace(one_phase, epochs=3)), params(one_phase)
    averaged = params(replace(one_phase, average_tail=0.5))  # epochs 3 and 4 averaged
    assert not torch.equal(after_3[0], after_4[0])
    for got, a, b in zip(averaged, after_3, after_4):
        torch.testing.assert_close(got, (a + b) / 2, rtol=1e-5, atol=1e-6)
    with pytest.raises(PredictorError, match="average_tail"):
        replace(TINY, average_tail=1.0)


def test_ensemble_averages_members_and_survives_save_load(tmp_path, macro_graphs):
    graphs, y = macro_graphs
    one = GennapePredictor(TINY).fit(graphs[:24], y[:24])
    ens = GennapePredictor(replace(TINY, ensemble=3)).fit(graphs[:24], y[:24])
    assert [m.config.seed for m in ens.members] == [1000, 2000]
    # member 0 is the single model: same seed, same training
    np.testing.assert_array_equal(ens.embed(graphs[24:]), one.embed(graphs[24:]))
    p = ens.predict(graphs[24:])
    assert not np.allclose(p.mean, one.predict(graphs[24:]).mean)
    assert (p.std > 0).all()
    ens.save(tmp_path / "m")
    back = GennapePredictor.load(tmp_path / "m")
    np.testing.assert_array_equal(back.predict(graphs[24:]).mean, p.mean)
    with pytest.raises(PredictorError, match="ensemble >= 1"):
        PredictorConfig(ensemble=0)


def test_encoder_dropout_trains_noisy_predicts_deterministic_and_is_checked(tmp_path, macro_graphs):
    graphs, y = macro_graphs
    with pytest.raises(PredictorError, match=r"dropout in \[0, 1\)"):
        PredictorConfig(dropout=1.0)
    model = GennapePredictor(replace(TINY, dropout=0.5)).fit(graphs[:30], y[:30])
    assert model.net.encoder.config.dropout == 0.5
    feats = model.featurize(graphs[30:])
    model.net.train()
    noisy = [model._forward(feats)[0].detach() for _ in range(2)]
    assert not torch.equal(*noisy)  # dropout is live in train mode
    first = model.predict(graphs[30:]).mean
    np.testing.assert_array_equal(first, model.predict(graphs[30:]).mean)  # and off in predict
    model.save(tmp_path / "m")
    np.testing.assert_array_equal(
        first, GennapePredictor.load(tmp_path / "m").predict(graphs[30:]).mean
    )
