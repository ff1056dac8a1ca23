"""The few-shot latency predictor on real NB-201 latencies (HELP's 10-sample setting)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from nas.errors import EvaluationError
from nas.graph import Graph
from nas.hw import (
    LatencyPredictor,
    device_prior,
    few_shot_correlation,
    graph_features,
    latency_table,
)
from nas.search_spaces.nb201 import parse_arch_str
from nas.space import get_space

SOURCE = ["1080ti_32", "silver_4114", "pixel3", "samsung_s7"]  # a few of HELP's meta-train set


@pytest.fixture(scope="module")
def population() -> tuple[np.ndarray, np.ndarray]:
    table = latency_table("help-nb201")
    space = get_space("nb201")
    rows = np.sort(np.random.default_rng(0).choice(len(table), 400, replace=False))
    strings = table.table.column("arch_str").to_pylist()
    X = np.stack([graph_features(space.compile(parse_arch_str(strings[i]))) for i in rows])
    return X, rows


def test_features_have_one_length_for_every_graph(population) -> None:
    X, _ = population
    g = Graph()
    x = g.add_input((3, 8, 8))
    g.set_outputs(g.add("conv2d", x, out_channels=4, kernel_size=3, padding=1))
    assert graph_features(g).shape == X.shape[1:]
    assert np.all(np.isfinite(X)) and X.std(axis=0).max() > 0


@pytest.mark.parametrize("device", ["titan_rtx_256", "gold_6226", "fpga"])
def test_ten_samples_rank_the_rest(population, device: str) -> None:
    X, rows = population
    table = latency_table("help-nb201")
    prior = device_prior(X, [table.column(d)[rows] for d in SOURCE])
    y = table.column(device)[rows]
    got = few_shot_correlation(X, y, samples=10, seeds=range(5), prior=prior, alpha=10.0)
    assert got["spearman"] > 0.9 and got["kendall"] > 0.7
    flops = float(spearmanr(X[:, -2], y)[0])
    assert got["spearman"] > flops - 0.02  # no worse than ranking by FLOPs alone


def test_predictor_checks_its_input() -> None:
    with pytest.raises(EvaluationError, match="positive latencies"):
        LatencyPredictor().fit(np.ones((3, 2)), [1.0, 0.0, 2.0])
    with pytest.raises(EvaluationError, match="before fit"):
        LatencyPredictor().predict(np.ones((3, 2)))
