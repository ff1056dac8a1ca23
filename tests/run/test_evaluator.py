"""TrainingEvaluator in-process: real training on small real data, faults as statuses."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from nas.run import TrainingEvaluator
from nas.space import Arch, get_space

SYNTH = {"num_classes": 10, "length": 40}


@pytest.fixture(scope="module")
def space():
    return get_space("mlp")


@pytest.fixture(scope="module")
def arch(space):
    return space.sample(np.random.default_rng(3))


def test_ok_result_has_curves_metrics_and_identity(space, arch) -> None:
    ev = TrainingEvaluator(
        space, "synthetic", device="cpu", recipe_overrides={"epochs": 2}, dataset_kwargs=SYNTH
    )
    partials = []
    r = ev.evaluate(arch, seed=5, trial_id="t1", on_epoch=partials.append)
    graph = space.compile(arch)
    assert r.status == "ok" and r.error is None
    assert r.fidelity == 2 and len(r.val_accuracy_curve) == 2 == len(r.train_loss_curve)
    best = r.val_accuracy_curve.index(max(r.val_accuracy_curve))  # the best epoch's metrics
    assert r.val_accuracy == r.val_accuracy_curve[best] and 0 <= r.val_accuracy <= 100
    assert r.test_accuracy == r.test_accuracy_curve[best]
    assert r.extra_dict()["best_epoch"] == best + 1
    assert (r.params, r.flops, r.graph_hash) == (graph.params, graph.flops, graph.graph_hash())
    assert r.arch_id == arch.arch_id and Arch.from_json(r.arch) == arch
    assert r.recipe_dict()["epochs"] == 2 and r.seed == 5 and r.trial_id == "t1"
    assert r.host and r.node_id is None  # outside Ray there is no node id
    assert r.train_seconds > 0 and len(r.epoch_seconds) == 2
    # Every epoch reported a partial result with the same key as the final one.
    assert [p.fidelity for p in partials] == [1, 2]
    assert partials[-1].val_accuracy_curve == r.val_accuracy_curve
    assert {p.recipe for p in partials} == {r.recipe}


def test_same_seed_same_result(space, arch) -> None:
    ev = TrainingEvaluator(
        space, "synthetic", device="cpu", recipe_overrides={"epochs": 1}, dataset_kwargs=SYNTH
    )
    a, b = ev.evaluate(arch, seed=1), ev.evaluate(arch, seed=1)
    assert a.val_accuracy_curve == b.val_accuracy_curve and a.key == b.key


def test_divergence_is_a_status_with_reason(space, arch) -> None:
    ev = TrainingEvaluator(
        space, "synthetic", device="cpu", dataset_kwargs=SYNTH,
        recipe_overrides={"epochs": 2, "lr": 1e6, "optimizer": "sgd"},
    )  # fmt: skip
    r = ev.evaluate(arch, seed=0)
    assert r.status == "diverged" and "Loss became" in r.error


def test_timeout_is_a_status_with_reason(space, arch) -> None:
    ev = TrainingEvaluator(
        space, "synthetic", device="cpu", time_limit_s=0.01, dataset_kwargs=SYNTH,
        recipe_overrides={"epochs": 50},
    )  # fmt: skip
    r = ev.evaluate(arch, seed=0)
    assert r.status == "timeout" and "Time limit" in r.error and r.fidelity < 50


def test_model_that_does_not_fit_the_data_fails_with_reason() -> None:
    space = get_space("cnn1d")
    arch = space.sample(np.random.default_rng(0))
    # digits are (1, 8, 8) images: a 1-D conv net cannot take them.
    ev = TrainingEvaluator(space, "digits", device="cpu", recipe_overrides={"epochs": 1})
    r = ev.evaluate(arch, seed=0)
    assert r.status == "failed" and r.error and r.fidelity == 0


def test_bad_recipe_override_fails_the_trial_not_the_caller(space, arch) -> None:
    ev = TrainingEvaluator(space, "synthetic", recipe_overrides={"momentum": 1.5})
    r = ev.evaluate(arch, seed=0)
    assert r.status == "failed" and "momentum" in r.error


def test_unknown_dataset_fails_with_reason(space, arch) -> None:
    r = TrainingEvaluator(space, "no_such_dataset").evaluate(arch, seed=0)
    assert r.status == "failed" and "no_such_dataset" in r.error


def test_pickles_by_space_name(space) -> None:
    ev = TrainingEvaluator(space, "synthetic", recipe_overrides={"epochs": 1})
    blob = pickle.dumps(ev)
    assert b"mlp" in blob and len(blob) < 1000  # the space travels by name, not as a tree
    back = pickle.loads(blob)
    assert back.space.to_json() == space.to_json() and back.recipe_overrides == {"epochs": 1}
