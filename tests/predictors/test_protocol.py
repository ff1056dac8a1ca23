"""The field's protocol in the harness: fixed GATES split, unique-arch scoring, CLI options."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nas.cli import main
from nas.predictors import load_labeled
from nas.predictors._metrics import precision_at_top
from nas.predictors._protocol import (
    GATES_POOL,
    Protocol,
    protocol_split,
    score_all_and_unique,
    table_meta,
)


@pytest.fixture(scope="module")
def nb201():
    t = load_labeled("nb201-cifar10", signal="test_accuracy")
    return t, table_meta(t)


def test_gates_pool_and_test_half_are_disjoint_and_fixed(nb201):
    _, meta = nb201
    tests = []
    for seed, n in [(0, 78), (1, 78), (0, 781), (7, 156)]:
        train, test = protocol_split("gates", meta, n, seed)
        assert len(train) == n and len(set(train.tolist())) == n
        assert (meta.arch_index[train] < GATES_POOL).all()
        assert set(train.tolist()).isdisjoint(test.tolist())
        tests.append(test)
    for test in tests[1:]:
        assert np.array_equal(test, tests[0])  # the test half never moves
    assert sorted(meta.arch_index[tests[0]].tolist()) == list(range(GATES_POOL, 15625))
    a, b = protocol_split("gates", meta, 78, 0)[0], protocol_split("gates", meta, 78, 1)[0]
    assert not np.array_equal(np.sort(a), np.sort(b))  # a seed draws other labels
    assert np.array_equal(a, protocol_split("gates", meta, 78, 0)[0])  # and the same again


def test_tnasp_tests_on_all_and_random_keeps_train_out_of_test(nb201):
    _, meta = nb201
    train, test = protocol_split("tnasp", meta, 156, 3)
    assert len(test) == 15625 and len(train) == 156
    train, test = protocol_split("random", meta, 50, 3, test_size=200, max_train=100)
    assert len(test) == 200 and set(train.tolist()).isdisjoint(test.tolist())


def test_gates_split_refuses_a_table_that_is_not_nb201():
    t = load_labeled("nb-macro")
    with pytest.raises(ValueError, match="--split random"):
        protocol_split("gates", table_meta(t), 78, 0)


def test_unique_counting_merges_isomorphic_archs(nb201):
    t, meta = nb201
    by_hash: dict[str, list[int]] = {}
    for i, h in enumerate(meta.graph_hash):
        by_hash.setdefault(h, []).append(i)
    iso = next(rows for rows in by_hash.values() if len(rows) >= 3)[:3]
    other = next(rows for rows in by_hash.values() if len(rows) == 1)
    rows = np.array([*iso, *other])
    assert len({t.keys[i] for i in rows}) == 4  # four different archs ...
    y = t.targets[rows]
    pred = np.array([1.0, 2.0, 3.0, 0.0])
    s = score_all_and_unique(y, pred, [meta.graph_hash[i] for i in rows])
    assert s["all"]["n"] == 4 and s["unique"]["n"] == 2  # ... but two functions
    # the isomorphic archs' class stands at its mean target and mean prediction
    assert s["unique"]["mae"] == pytest.approx((abs(y[:3].mean() - 2.0) + abs(y[3] - 0.0)) / 2)


def test_precision_at_top_counts_the_overlap_of_the_top_shares():
    y = np.arange(100.0)
    assert precision_at_top(y, y) == 1.0
    assert precision_at_top(y, -y) == 0.0
    swapped = y.copy()
    swapped[[99, 0]] = swapped[[0, 99]]  # the best arch predicted worst
    assert precision_at_top(y, swapped) == pytest.approx(4 / 5)
    assert precision_at_top(y, np.zeros(100)) == 0.0  # ties broken pessimistically


def test_every_protocol_option_is_in_json(capsys):
    argv = ["predictor", "eval", "--table", "nb201-cifar10", "--split", "gates"]
    argv += ["--target", "val_accuracy", "--train-sizes", "20,30", "--seeds", "2", "--seed", "4"]
    argv += ["--predictors", "rf", "--json"]
    assert main(argv) == 0
    got = json.loads(capsys.readouterr().out)
    p = got["protocol"]
    assert p["table"] == "nb201-cifar10" and p["split"] == "gates"
    assert p["target"] == "val_accuracy" and p["target_label"] == "12-epoch validation accuracy"
    assert p["train_sizes"] == [20, 30] and p["seeds"] == [4, 5]
    assert p["test_size"] is None and p["zc_archs"] == 0
    assert "arch_index < 7813" in p["line"] and "12-epoch" in p["line"]
    assert {r["seed"] for r in got["rows"]} == {4, 5}
    kinds = {(s["train_size"], s["archs"]) for s in got["summary"]}
    assert kinds == {(20, "all"), (20, "unique"), (30, "all"), (30, "unique")}
    for s in got["summary"]:
        assert {"kendall", "spearman", "ndcg@10", "p@top5%", "mae"} <= set(s)
        assert s["seeds"] == 2 and "kendall_std" in s
    n = {s["archs"]: s for s in got["summary"] if s["train_size"] == 20}
    assert next(r["n"] for r in got["rows"] if r["archs"] == "all") == 15625 - GATES_POOL
    assert next(r["n"] for r in got["rows"] if r["archs"] == "unique") < 15625 - GATES_POOL
    assert n["all"]["kendall"] != n["unique"]["kendall"]


@pytest.mark.parametrize("flag, value", [("--split", "gatez"), ("--target", "test_accuracy_200")])
def test_bad_split_or_target_is_one_line_exit_2(flag, value, capsys):
    rc = main(["predictor", "eval", "--predictors", "rf", flag, value])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("nas: error:") and err.count("\n") == 1 and flag in err


def test_protocol_line_names_target_split_and_seeds():
    line = Protocol("nb201-cifar100", "test_accuracy", "tnasp", (156,), (0, 1, 2, 3, 4)).line()
    assert "200-epoch test accuracy" in line and "test on all archs" in line
    assert "seeds 0..4 (5)" in line


def test_rank_aggregate_needs_every_score_to_agree():
    from nas.predictors._evaluate import rank_aggregate

    a = np.array([1.0, 2.0, 3.0, 4.0])
    assert np.argsort(rank_aggregate({"a": a, "b": a})).tolist() == [0, 1, 2, 3]
    # arch 3 is best on "a" but worst on "b": the aggregate ranks it below arch 2
    agg = rank_aggregate({"a": a, "b": np.array([1.0, 2.0, 3.0, 0.5])})
    assert agg[2] > agg[3]


def test_training_free_ranking_reads_the_chosen_scores_only():
    from nas.predictors import ALL_PROXIES
    from nas.predictors._evaluate import TRAINING_FREE, training_free

    rng = np.random.default_rng(0)
    proxies = {p: rng.normal(size=5) for p in ALL_PROXIES}
    size = {"flops": rng.normal(size=5), "params": rng.normal(size=5)}
    got = training_free(proxies, size)
    assert tuple(got) == TRAINING_FREE and "params" not in got  # params would double FLOPs
    for k, v in got.items():
        assert v is {**proxies, **size}[k]
