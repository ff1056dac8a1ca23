"""The harness's unlabelled set: the split's candidates that were neither drawn nor tested."""

from __future__ import annotations

import numpy as np
import pytest

from nas.predictors import load_labeled
from nas.predictors._errors import PredictorError
from nas.predictors._evaluate import _graphs_of, evaluate_table
from nas.predictors._protocol import GATES_POOL, protocol_split, table_meta


@pytest.fixture(scope="module")
def nb201():
    t = load_labeled("nb201-cifar10", signal="test_accuracy")
    meta = table_meta(t)
    return meta, _graphs_of(t, meta.graph_hash)


def test_gates_unlabeled_is_the_pool_once_per_class_without_the_labels(nb201):
    meta, graphs = nb201
    train, test = protocol_split("gates", meta, 78, 0)
    free = graphs.unlabeled("gates", train, test)
    hashes = [meta.graph_hash[int(i)] for i in free]
    assert len(set(hashes)) == len(free)  # one row per graph_hash class
    labelled = {meta.graph_hash[int(i)] for i in train}
    assert labelled.isdisjoint(hashes)  # no labelled graph comes back unlabelled
    pool = {meta.graph_hash[int(i)] for i in np.flatnonzero(meta.arch_index < GATES_POOL)}
    assert set(hashes) == pool - labelled  # every other pool class, nothing else
    tested_only = {meta.graph_hash[int(i)] for i in test} - pool
    assert tested_only and tested_only.isdisjoint(hashes)


def test_tnasp_unlabeled_is_every_other_class(nb201):
    meta, graphs = nb201
    train, test = protocol_split("tnasp", meta, 156, 0)
    free = graphs.unlabeled("tnasp", train, test)
    labelled = {meta.graph_hash[int(i)] for i in train}
    assert len(free) == len(set(meta.graph_hash)) - len(labelled)


def test_an_unknown_unlabeled_set_is_one_clear_error():
    with pytest.raises(PredictorError, match=r"unlabeled set 'all'.*none, pool"):
        evaluate_table("nb201-cifar10", train_sizes=[78], split="gates", unlabeled="all")
