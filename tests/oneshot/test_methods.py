"""DARTS, beta-DARTS and SPOS through the one search driver, on small real data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nas.data import get_dataset
from nas.oneshot import OneShotConfig, OneShotError, Scorer, plan, search
from nas.search import run
from nas.space import Arch, get_space
from nas.store import ResultStore

DATA = {"length": 40, "num_classes": 10, "num_train": 240, "num_test": 60}
TINY = {"batch_size": 32, "evaluations": 6, "population_size": 3, "sample_size": 2}


@pytest.mark.parametrize("method", ["darts", "beta_darts", "spos"])
def test_method_runs_as_one_trial_of_the_driver(method: str, tmp_path) -> None:
    space = get_space("nb201_1d")
    strategy, evaluator = plan(
        method, space, "synthetic", epochs=2, seed=3, device="cpu", options=TINY,
        dataset_kwargs=DATA,
    )  # fmt: skip
    out = run(space, strategy, evaluator, budget=1, store=tmp_path / "store", progress=False)
    assert out.proposed == 1 and out.best is not None
    [row] = ResultStore(tmp_path / "store").results()
    derived = space.validate(Arch.from_json(row.arch))  # an ordinary arch of the space
    assert row.status == "ok" and row.strategy == method and row.arch_id == derived.arch_id
    assert row.graph_hash == space.compile(derived).graph_hash()
    assert 0.0 <= row.val_accuracy <= 100.0 and row.fidelity == 2
    extra = row.extra_dict()
    assert extra["score"] == "supernet-inherited" and extra["oneshot_method"] == method
    trajectory = extra["trajectory"]
    assert [e["epoch"] for e in trajectory] == [1, 2] and len(row.train_loss_curve) == 2
    if method == "spos":
        assert len(extra["evolution_best"]) == 6
        assert extra["evolution_best"] == sorted(extra["evolution_best"])
    else:  # the argmax of the last architecture parameters is the derived arch
        probs = trajectory[-1]["probs"]
        assert set(probs) == set(derived.values)
        for key, p in probs.items():
            assert math.isclose(sum(p), 1.0, abs_tol=1e-3)
            assert derived[key] == space.decisions[key].values()[int(np.argmax(p))]


def test_same_seed_same_search_and_score_matches_a_rescore() -> None:
    space, data = get_space("nb201_1d"), get_dataset("synthetic", **DATA)
    config = OneShotConfig(epochs=1, **TINY)
    a = search(space, data, "darts", config=config, seed=5, device="cpu")
    b = search(space, data, "darts", config=config, seed=5, device="cpu")
    assert a.arch == b.arch and a.trajectory == b.trajectory
    assert Scorer(a.supernet, data, config, 5)(a.arch, "val") == a.val_accuracy
    with pytest.raises(OneShotError, match="Expected split 'val' or 'test' \\(got 'train'\\)"):
        Scorer(a.supernet, data, config, 5)(a.arch, "train")


def test_beta_regulariser_changes_the_architecture_parameters() -> None:
    space, data = get_space("nb201_1d"), get_dataset("synthetic", **DATA)
    config = OneShotConfig(epochs=3, beta_weight=20.0, **TINY)
    plain = search(space, data, "darts", config=config, seed=0, device="cpu")
    beta = search(space, data, "beta_darts", config=config, seed=0, device="cpu")
    assert plain.trajectory[0] == beta.trajectory[0]  # lambda ramps up from 0 in epoch 1
    assert plain.trajectory[-1]["probs"] != beta.trajectory[-1]["probs"]


def test_bad_options_are_one_line_errors() -> None:
    space = get_space("nb201_1d")
    with pytest.raises(OneShotError, match=r"Unknown one-shot option 'alpha_lr'.*arch_lr"):
        plan("darts", space, "synthetic", epochs=2, options={"alpha_lr": 1.0})
    with pytest.raises(OneShotError, match="an int >= 1 for one-shot option 'epochs' \\(got 0\\)"):
        plan("darts", space, "synthetic", epochs=0)
    with pytest.raises(OneShotError, match="Unknown one-shot method 'enas'"):
        plan("enas", space, "synthetic", epochs=2)
    with pytest.raises(OneShotError, match=r"shape \(1, 8, 8\).*expects \(1, 40\)"):
        search(space, get_dataset("digits"), "spos", config=OneShotConfig(epochs=1))
    with pytest.raises(OneShotError, match=r"epochs are the budget .*drop epochs"):
        plan("darts", space, "synthetic", epochs=2, options={"epochs": 5})
    with pytest.raises(OneShotError, match=r"'cell\.n9_from0', which is not a decision"):
        plan("darts", space, "synthetic", epochs=2, options={"fixed": {"cell.n9_from0": "none"}})
    tiny = get_dataset("synthetic", length=40, num_classes=2, num_train=2, num_test=6)
    with pytest.raises(OneShotError, match="has 2 training and 0 validation samples"):
        search(space, tiny, "darts", config=OneShotConfig(epochs=1))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lr": -1}, "Expected a finite float > 0 for one-shot option 'lr' (got -1.0)."),
        ({"lr": "0.1"}, "Expected float for one-shot option 'lr' (got '0.1' of type str)."),
        ({"momentum": 1.0}, "Expected a float in [0, 1) for one-shot option 'momentum'"),
        ({"grad_clip": 0}, "Expected None or a float > 0 for one-shot option 'grad_clip'"),
        ({"batch_size": True}, "Expected int for one-shot option 'batch_size'"),
        ({"sample_size": 0}, "Expected an int >= 1 for one-shot option 'sample_size' (got 0)."),
        ({"arch_lr": 0.0}, "Expected a finite number > 0 for one-shot option 'arch_lr'"),
        ({"beta_weight": math.nan}, "Expected a finite number >= 0 for one-shot option"),
        ({"fixed": "cell.n1_from0"}, "Expected a mapping of decision -> value for one-shot"),
    ],
)
def test_every_option_out_of_range_is_one_line_before_training(options: dict, message: str) -> None:
    space = get_space("nb201_1d")
    with pytest.raises(OneShotError) as caught:
        plan("darts", space, "synthetic", epochs=2, options=options)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_options_are_coerced_like_a_recipe_and_grad_clip_none_trains() -> None:
    config = OneShotConfig.from_options(
        {"epochs": 1.0, "population_size": np.int64(3), "lr": np.float32(0.05), "grad_clip": None}
    )
    assert (config.epochs, config.population_size) == (1, 3)
    assert type(config.epochs) is int and type(config.lr) is float
    space, data = get_space("nb201_1d"), get_dataset("synthetic", **DATA)
    out = search(space, data, "darts", config=config, seed=0, device="cpu")
    assert math.isfinite(out.trajectory[0]["train_loss"])


@pytest.mark.slow
@pytest.mark.ray
def test_one_shot_search_runs_as_a_ray_trial(tmp_path) -> None:
    space = get_space("nb201_1d")
    strategy, evaluator = plan(
        "spos", space, "synthetic", epochs=1, device="auto", options=TINY, dataset_kwargs=DATA
    )
    out = run(
        space, strategy, evaluator, executor="ray", budget=1, store=tmp_path / "store",
        run_dir=tmp_path / "run", progress=False,
    )  # fmt: skip
    [row] = ResultStore(tmp_path / "store").results()
    assert out.trained == 1 and row.status == "ok", row.error
    assert row.extra_dict()["score"] == "supernet-inherited"
    space.validate(Arch.from_json(row.arch))
