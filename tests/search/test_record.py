"""Every stored row of a search carries a reproducibility record (the ``record`` column)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from nas.cli import main
from nas.search._record import LIBRARIES, RECORD_FIELDS, trial_record
from nas.space import get_space
from nas.store import ResultStore


def test_a_stored_row_lists_every_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["search", "--space", "nb201", "--evaluator", "tabular:nb201-cifar10", "--strategy",
            "tpe", "--option", "n_startup_trials=4", "--budget", "6", "--seed", "5",
            "--store", str(tmp_path / "store"), "--json"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["nas", *argv])
    assert main(argv) == 0
    capsys.readouterr()
    rows = ResultStore(tmp_path / "store").read().to_pylist()
    assert len(rows) == 6
    records = [json.loads(r["record"]) for r in rows]
    record = records[0]
    assert set(RECORD_FIELDS) <= set(record)
    assert record["strategy"] == "tpe" == rows[0]["strategy"]
    assert record["strategy_settings"]["n_startup_trials"] == 4
    assert record["strategy_settings"]["seed"] == 5
    assert record["strategy_settings"]["objectives"] == ["val_accuracy:max"]
    assert record["run_settings"]["budget"] == "6"
    assert record["run_settings"]["option"] == ["n_startup_trials=4"]
    assert set(record["libraries"]) == set(LIBRARIES)
    for name in ("torch", "ray", "optuna", "numpy"):
        assert record["libraries"][name] == version(name)
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        assert record["git_commit"] is None
    else:  # HEAD when the run started: HEAD itself, or an ancestor if a commit landed since
        ancestor = ["git", "merge-base", "--is-ancestor", record["git_commit"], "HEAD"]
        assert len(record["git_commit"]) == 40 and subprocess.run(ancestor).returncode == 0
    assert record["command"] == shlex.join(["nas", *argv])
    assert record["space_fingerprint"] == get_space("nb201").fingerprint
    assert record["evaluator"] == "TabularEvaluator"
    assert record["device"] == "none"  # a table lookup trains nothing
    assert all(r == record for r in records)


def test_a_trained_row_names_its_device() -> None:
    assert trial_record({"strategy": "rea"}, {"device": "cuda:0"})["device"] == "cuda:0"
    assert trial_record({"strategy": "rea"}, '{"device":"cuda:0"}')["device"] == "cuda:0"
    assert trial_record({"strategy": "rea"}, None) == {"strategy": "rea", "device": "none"}
    # "device" as a value, or in a non-object extra, names no device
    assert (
        trial_record({}, '{"note":"device"}')
        == trial_record({}, '["device"]')
        == {"device": "none"}
    )
