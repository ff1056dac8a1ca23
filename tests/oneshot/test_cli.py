"""`nas search --strategy darts|beta_darts|spos`: one supernet trial, --budget in epochs."""

from __future__ import annotations

import json

import pytest

from nas.cli import main
from nas.space import Arch, get_space
from nas.store import ResultStore


def test_search_cli_runs_spos_as_one_trial(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    code = main([
        "search", "--space", "nb201_1d", "--dataset", "mnist1d", "--strategy", "spos",
        "--budget", "1", "--executor", "local", "--store", str(store), "--device", "cpu",
        "--option", "evaluations=3", "--option", "population_size=2",
        "--option", "sample_size=2", "--json",
    ])  # fmt: skip
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and payload["strategy"] == "spos" and payload["proposed"] == 1
    [row] = ResultStore(store).results()
    assert row.fidelity == 1 and row.extra_dict()["score"] == "supernet-inherited"
    assert payload["best"]["arch_id"] == row.arch_id
    get_space("nb201_1d").validate(Arch.from_json(row.arch))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--dataset", "mnist1d", "--budget", "5m"], "--budget N"),
        (["--dataset", "mnist1d", "--budget", "2", "--epochs", "3"], "without --epochs"),
        (["--evaluator", "tabular:nb201-cifar10", "--budget", "2"], "pass --dataset NAME"),
        (["--dataset", "mnist1d", "--budget", "2", "--option", "epochs=5"], "drop epochs from"),
        (["--dataset", "mnist1d", "--budget", "2", "--option", "lr=-1"], "one-shot option 'lr'"),
    ],
)
def test_search_cli_one_shot_errors_are_one_line(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["search", "--space", "nb201_1d", "--strategy", "darts", "--executor", "local",
                 *extra])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "\n" not in err
