"""The predictor on real benchmark tables, all read through the one catalogue (``nas.bench``)."""

from __future__ import annotations

import numpy as np
import pytest

from nas.bench import load_table
from nas.predictors import GennapePredictor, PredictorConfig, load_labeled, score_predictions
from nas.predictors._errors import PredictorError


@pytest.mark.slow
def test_fuzzy_heads_beat_a_constant_predictor_on_nb201() -> None:
    table = load_labeled("nb201-cifar10")
    perm = np.random.default_rng(0).permutation(len(table))
    train, test = perm[:200], perm[200:700]
    cfg = PredictorConfig(hidden=24, layers=4, emb_dim=24, n_clusters=3, epochs=25, batch_size=50)
    model = GennapePredictor(cfg).fit(table.graphs(train), table.targets[train])
    pred = model.predict(table.graphs(test))
    scores = score_predictions(table.targets[test], pred.mean)
    assert scores["spearman"] > 0.3, scores
    # a constant predictor scores 0 and has this MAE; the model must do better on both
    constant_mae = np.abs(table.targets[test] - table.targets[train].mean()).mean()
    assert scores["mae"] < constant_mae, (scores, constant_mae)


@pytest.mark.parametrize(
    ("name", "space", "rows", "classes"),
    [
        ("nb101-cifar10", "nb101", 375, 10),
        ("nb301-cifar10", "nb301", 725, 10),
        ("tnb101-micro-object", "tnb101_micro_object", 711, 100),
        ("tnb101-micro-scene", "tnb101_micro_scene", 711, 63),
        ("tnb101-macro-object", "tnb101_macro_object", 662, 100),
        ("tnb101-macro-scene", "tnb101_macro_scene", 662, 63),
    ],
)
def test_benchmark_rows_are_archs_with_valid_graphs(
    name: str, space: str, rows: int, classes: int
) -> None:
    table = load_labeled(name)
    assert (len(table), table.space) == (rows, space)
    stored = load_table(name).to_pylist()
    for i in (0, rows // 2):
        g = table.graph(i)
        g.validate()
        assert g.shape(g.outputs[0]) == (classes,)
        assert table.keys[i] == stored[i]["arch_id"] and g.params == stored[i]["params"]
        assert table.targets[i] == stored[i]["val_accuracy"]


def test_old_names_and_both_signals() -> None:
    assert load_labeled("nb101").name == "nb101-cifar10"
    test = load_labeled("nb201-cifar10", signal="test_accuracy")
    assert test.signal == "test_accuracy" and round(float(test.targets.max()), 2) == 94.37
    with pytest.raises(PredictorError, match="records no 'test_accuracy'"):
        load_labeled("nb301-cifar10", signal="test_accuracy")
    with pytest.raises(PredictorError, match="did you mean 'nb-macro'"):
        load_labeled("nb_macro")
    with pytest.raises(PredictorError, match="several spaces"):
        load_labeled("suite-zero")
