"""The transfer path: PredictorConfig fields reach it, proxies are put on one scale per table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nas.cli import main
from nas.predictors import PredictorError
from nas.predictors._evaluate import _per_table_scores, config_from_dict, evaluate_transfer
from nas.predictors._features import GraphFeatures

SMALL = ["--pretrain-on", "nb-macro", "--finetune-on", "nb201-cifar10", "--per-table", "12"]
SMALL += ["--finetune-size", "6", "--test-size", "12", "--seeds", "1", "--epochs", "2"]
SMALL += ["--hidden", "8", "--json"]


def _feats(scores: list[float]) -> list[GraphFeatures]:
    x, e = np.zeros((1, 3), np.float32), np.zeros((2, 0), np.int64)
    return [GraphFeatures(x, e, np.array([s])) for s in scores]


def test_proxy_scores_become_normal_scores_of_their_ranks_within_the_table():
    out = np.array([f.scores[0] for f in _per_table_scores(_feats([1e6, 3.0, np.nan, 50.0]))])
    assert np.isnan(out[2])  # undefined stays undefined (the model reads the mean)
    assert out[1] < out[3] < out[0]  # order kept, scale gone
    np.testing.assert_allclose(out[[1, 3, 0]], [-0.6745, 0.0, 0.6745], atol=1e-4)
    # a table whose raw scores are 1000x larger gets the same inputs
    same = _per_table_scores(_feats([1e9, 3e3, np.nan, 5e4]))
    np.testing.assert_array_equal(np.array([f.scores[0] for f in same]), out)


def test_cli_config_reaches_the_transfer_path(tmp_path, capsys):
    cache = ["--proxy-cache", str(tmp_path / "proxies")]
    assert main(["predictor", "eval", *SMALL, *cache]) == 0
    plain = json.loads(capsys.readouterr().out)
    config = '{"proxy_inputs": ["synflow"], "n_clusters": 2}'
    assert main(["predictor", "eval", *SMALL, *cache, "--config", config]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["config"]["proxy_inputs"] == ["synflow"] and got["config"]["n_clusters"] == 2
    assert got["config"]["epochs"] == 2 and got["config"]["hidden"] == 8  # flags on top
    assert plain["config"]["proxy_inputs"] == []
    # same seed, data and sizes: only the proxy input (and K) differ, so the fits differ
    mae = {d["mode"]: d["mae"] for d in got["summary"] if "mae" in d}
    mae_plain = {d["mode"]: d["mae"] for d in plain["summary"] if "mae" in d}
    assert mae["finetune-6"] != mae_plain["finetune-6"]
    assert any(p.name.startswith("v1-") for p in (tmp_path / "proxies").iterdir())


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ('{"epoch": 3}', "did you mean 'epochs'"),
        ('{"epochs": "many"}', "'epochs' expects an integer"),
        ('{"proxy_inputs": ["synflw"]}', "Unknown zero-cost proxy 'synflw'"),
        ("[1, 2]", "expected a JSON object"),
        ('{"epochs": ', "not valid JSON"),
    ],
)
def test_a_bad_config_is_one_line_and_exit_2(config, says, capsys):
    assert main(["predictor", "eval", *SMALL, "--config", config]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("nas: error: --config")
    assert says in err


def test_config_from_dict_keeps_the_base_and_checks_types():
    cfg = config_from_dict({"proxy_inputs": ["synflow_bn"], "lr": 1})
    assert cfg.proxy_inputs == ("synflow_bn",) and cfg.lr == 1 and cfg.epochs == 120
    with pytest.raises(PredictorError, match="true or false"):
        config_from_dict({"graph_inputs": 1})


def test_transfer_rows_put_training_free_scores_beside_the_model(tmp_path):
    rows = evaluate_transfer(
        ["nb-macro"],
        "nb201-cifar10",
        finetune_size=6,
        per_table=12,
        test_size=12,
        config=config_from_dict({"epochs": 2, "hidden": 8, "n_clusters": 2}),
        proxy_cache=tmp_path,
        zc_archs=5,
        timings=(timings := {}),
    )
    modes = {(r["mode"], r["archs"]) for r in rows}
    assert {("zero-shot", "test"), ("flops", "test"), ("zero-shot", "zc")} <= modes
    assert {("zc:synflow_bn", "zc"), ("zc:aggregate", "zc")} <= modes
    assert {"featurize", "fit", "finetune", "scratch"} <= set(timings)
    assert all(-1 <= r["spearman"] <= 1 for r in rows)
