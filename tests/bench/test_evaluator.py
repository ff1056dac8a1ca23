"""TabularEvaluator: O(1) answers from the table, an error (never a zero) otherwise."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nas.bench import TabularEvaluator
from nas.errors import EvaluationError
from nas.search_spaces import nb201 as nb201_mod
from nas.space import Arch, get_space

BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def test_answers_a_known_arch_with_the_recorded_values() -> None:
    ev = TabularEvaluator("nb201-cifar10")
    space = get_space("nb201")
    arch = nb201_mod.parse_arch_str(BEST_C10, space)
    r = ev.evaluate(arch, seed=7, trial_id="000001")
    assert (r.status, r.arch_id, r.dataset, r.seed, r.trial_id) == (
        "ok",
        arch.arch_id,
        "cifar10",
        7,
        "000001",
    )
    assert round(r.test_accuracy, 2) == 94.37  # the benchmark's best CIFAR-10 cell
    assert json.loads(r.extra)["arch_index"] == 6111
    assert r.train_seconds is None  # the source records no training time
    assert r.params == space.compile(arch).params
    again = ev.evaluate(arch, seed=8, trial_id="000002")
    assert (again.seed, again.trial_id, r.seed, r.trial_id) == (8, "000002", 7, "000001")
    assert len(ev) == 15625 and arch in ev
    assert ev.optimum() == r.test_accuracy


def test_unknown_arch_raises_evaluation_error() -> None:
    ev = TabularEvaluator("nb201-cifar10")
    c100_arch = get_space("nb201_c100").sample(np.random.default_rng(0))
    with pytest.raises(EvaluationError, match="not in table 'nb201-cifar10'"):
        ev.evaluate(c100_arch, seed=0)
    with pytest.raises(EvaluationError, match="not in table"):
        ev.evaluate(Arch("nb201", "1", {"cell.n1_from0": "conv_7x7"}), seed=0)
    with pytest.raises(EvaluationError, match="is not in table"):
        ev.lookup("0123456789abcdef")


def test_every_sampled_arch_of_the_space_is_answered() -> None:
    ev = TabularEvaluator("nb201-cifar100")
    space = get_space("nb201_c100")
    rng = np.random.default_rng(1)
    values = [ev.evaluate(space.sample(rng), seed=0).val_accuracy for _ in range(50)]
    assert all(0 < v < 100 for v in values)


def test_signal_swaps_what_the_strategy_sees() -> None:
    arch = nb201_mod.parse_arch_str(BEST_C10, get_space("nb201"))
    plain = TabularEvaluator("nb201-cifar10").evaluate(arch, seed=0)
    oracle = TabularEvaluator("nb201-cifar10", signal="test_accuracy").evaluate(arch, seed=0)
    assert oracle.val_accuracy == plain.test_accuracy == oracle.test_accuracy
    assert json.loads(oracle.extra)["recorded_val_accuracy"] == plain.val_accuracy
    short = TabularEvaluator("nb201-cifar10", signal="test_accuracy_12ep").evaluate(arch, seed=0)
    assert short.val_accuracy == json.loads(plain.extra)["test_accuracy_12ep"]
    with pytest.raises(EvaluationError, match="Unknown signal 'accuracy'"):
        TabularEvaluator("nb201-cifar10", signal="accuracy")


def test_multi_task_table_needs_a_dataset() -> None:
    with pytest.raises(EvaluationError, match="pass dataset="):
        TabularEvaluator("suite-zero")
    ev = TabularEvaluator("suite-zero", dataset="class_scene", signal="snip")
    assert ev.dataset == "class_scene" and len(ev) == 711 + 662
    with pytest.raises(EvaluationError, match="has no dataset 'imagenet'"):
        TabularEvaluator("suite-zero", dataset="imagenet")
