"""ASHA/Hyperband's max_t is the largest epoch count a trial can train (not a default 100)."""

from __future__ import annotations

import pytest

from nas.errors import NasError
from nas.run import TrainingEvaluator
from nas.run._ray_search import max_epochs
from nas.search import RayOptions
from nas.space import get_space


@pytest.mark.parametrize("name", ["cnn1d", "mlp"])
def test_max_t_comes_from_the_space_recipe(name: str) -> None:
    space = get_space(name)
    assert max_epochs(space, TrainingEvaluator(space, "mnist1d"), RayOptions()) == 40


def test_max_t_follows_an_epoch_override_and_the_option() -> None:
    space = get_space("cnn1d")
    short = TrainingEvaluator(space, "mnist1d", recipe_overrides={"epochs": 3})
    assert max_epochs(space, short, RayOptions()) == 3
    assert max_epochs(space, short, RayOptions(max_epochs=7)) == 7


def test_a_space_without_an_epoch_decision_names_the_fix() -> None:
    space = get_space("nb201")
    with pytest.raises(NasError, match="max_epochs"):
        max_epochs(space, TrainingEvaluator(space, "mnist1d"), RayOptions())


def test_a_bad_ray_option_fails_before_the_run_directory_is_written(tmp_path) -> None:
    from nas.search import run

    space = get_space("cnn1d")
    with pytest.raises(NasError, match="Unknown scheduler 'asha2'"):
        run(
            space, "random", TrainingEvaluator(space, "mnist1d"), executor="ray", budget=2,
            run_dir=tmp_path / "run", ray=RayOptions(scheduler="asha2"),
        )  # fmt: skip
    assert not (tmp_path / "run").exists()  # so the corrected command needs no --resume
