"""Tune's own CSV and TensorBoard loggers, switched on by option, get every epoch's report."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from nas.cli import main
from nas.errors import NasError
from nas.run import TrainingEvaluator
from nas.run._ray_search import check_loggers
from nas.search import RayOptions, get_strategy, run
from nas.space import get_space
from nas.store import ResultStore


@pytest.mark.slow
@pytest.mark.ray
def test_csv_and_tensorboard_loggers_get_every_epoch(tmp_path: Path) -> None:
    space = get_space("cnn1d")
    ev = TrainingEvaluator(space, "mnist1d", device="cpu", recipe_overrides={"epochs": 3})
    store = ResultStore(tmp_path / "store")
    out = run(
        space, get_strategy("random", space, seed=3), ev, executor="ray", budget=2, store=store,
        run_dir=tmp_path / "run", progress=False,
        ray=RayOptions(max_concurrent=1, loggers=("csv", "tensorboard")),
    )  # fmt: skip
    rows = [r for r in store.results() if r.status == "ok"]
    assert len(out.results) == 2 and rows
    progress = sorted((tmp_path / "run" / "tune").rglob("progress.csv"))
    events = sorted((tmp_path / "run" / "tune").rglob("events.out.tfevents.*"))
    assert len(progress) == 2 and len(events) == 2
    curves = set()
    for path in progress:
        with path.open() as f:
            reports = list(csv.DictReader(f))
        # one report per epoch, then the trial's final result
        assert [int(r["training_iteration"]) for r in reports] == [1, 2, 3, 4]
        curves.add(tuple(round(float(r["val_accuracy"]), 6) for r in reports[:3]))
    stored = {tuple(round(v, 6) for v in r.val_accuracy_curve) for r in rows}
    assert stored <= curves  # the logged epochs are the stored curve's


def test_bad_logger_options_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(NasError, match="Unknown Tune logger 'tb'"):
        check_loggers(["csv", "tb"])
    argv = ["search", "--space", "nb201", "--evaluator", "tabular:nb201-cifar10", "--budget",
            "3", "--tune-loggers", "csv"]  # fmt: skip
    assert main(argv) == 2
    assert "need --executor ray" in capsys.readouterr().err
