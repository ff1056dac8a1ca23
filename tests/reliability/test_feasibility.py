"""Impossible resources and unreachable clusters are refused before any trial, in seconds."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nas.errors import NasError
from nas.run._ray_search import check_options
from nas.search import RayOptions, run
from nas.space import get_space


@pytest.mark.parametrize(
    "options",
    [
        RayOptions(gpus_per_trial=1.5),
        RayOptions(gpus_per_trial=float("nan")),
        RayOptions(cpus_per_trial=float("inf")),
        RayOptions(cpus_per_trial=2.5),
        RayOptions(cpus_per_trial=0),
    ],
)
def test_resources_that_no_trial_can_have_are_refused(options: RayOptions) -> None:
    with pytest.raises(NasError, match="cpus_per_trial > 0 and gpus_per_trial >= 0"):
        check_options(options)


def _objective(arch: object) -> dict[str, float]:
    return {"val_accuracy": 1.0}


def test_an_address_that_takes_no_connection_fails_in_seconds(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(NasError, match=r"No Ray cluster answers at --address '127\.0\.0\.1:1'"):
        run(get_space("nb201"), "random", _objective, executor="ray", budget=1,
            run_dir=tmp_path / "run", ray=RayOptions(address="127.0.0.1:1"), progress=False)  # fmt: skip
    assert time.monotonic() - start < 30


@pytest.mark.slow
@pytest.mark.ray
def test_more_cpus_per_trial_than_any_node_has_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NasError, match="No node of the Ray cluster can run a trial"):
        run(get_space("nb201"), "random", _objective, executor="ray", budget=1,
            run_dir=tmp_path / "run", ray=RayOptions(cpus_per_trial=64), progress=False)  # fmt: skip
