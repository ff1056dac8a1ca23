"""Optuna strategies keep their study in a real Optuna storage that Optuna and
optuna-dashboard read back (SQLite by default in the run directory, or a journal file)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from nas.cli import main
from nas.search import SearchError, get_strategy
from nas.search._optuna import open_storage, optuna_study
from nas.store import ResultStore

optuna = pytest.importorskip("optuna")


def _search(tmp_path: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, Any]:
    code = main(
        ["search", "--space", "nb201", "--evaluator", "tabular:nb201-cifar10", "--strategy",
         "tpe", "--store", str(tmp_path / "store"), "--json", *flags]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def _candidate_trials(study: Any) -> dict[str, Any]:
    return {t.user_attrs["candidate_id"]: t for t in study.trials if "candidate_id" in t.user_attrs}


def test_a_tpe_search_reads_back_with_load_study(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _search(tmp_path, capsys, "--budget", "25", "--seed", "3")
    run_dir = Path(out["run_dir"])
    url = f"sqlite:///{run_dir / 'optuna.sqlite3'}"
    study = optuna.load_study(study_name=run_dir.name, storage=url)
    rows = ResultStore(tmp_path / "store").read().to_pylist()
    assert len(rows) == 25
    trials = _candidate_trials(study)
    assert len(trials) == len(rows)  # one trial per stored row; repeats carry duplicate_of
    assert all("duplicate_of" in t.user_attrs for t in study.trials if t not in trials.values())
    for row in rows:
        trial = trials[row["candidate_id"]]
        assert trial.state.name == "COMPLETE"
        assert trial.values == [pytest.approx(row["val_accuracy"])]
        assert trial.user_attrs["arch_id"] == row["arch_id"]
    assert study.metric_names == ["val_accuracy"]
    assert study.best_value == pytest.approx(out["best"]["metrics"]["val_accuracy"])


def test_a_resumed_search_continues_the_same_study(tmp_path: Path) -> None:
    from nas.bench import TabularEvaluator
    from nas.search import run

    journal, run_dir, store = tmp_path / "study.log", tmp_path / "runs" / "r1", tmp_path / "s"
    options = optuna_study("tpe", f"journal:{journal}", run_dir)
    evaluator = TabularEvaluator("nb201-cifar10")
    for budget, resume in ((12, False), (20, True)):  # a second session with a larger budget
        strategy = get_strategy("tpe", "nb201", seed=0, **options)
        out = run(strategy.space, strategy, evaluator, budget=budget, store=store,
                  run_dir=run_dir, resume=resume, progress=False)  # fmt: skip
        assert out.proposed == budget
    study = optuna.load_study(study_name="r1", storage=open_storage(f"journal:{journal}"))
    trials = _candidate_trials(study)
    rows = ResultStore(store).read().to_pylist()
    assert sorted(trials) == sorted(r["candidate_id"] for r in rows)
    assert len(trials) == 20
    assert not [t for t in study.trials if t.state.name == "RUNNING"]


def test_a_restored_strategy_asks_the_study_in_its_storage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'o.sqlite3'}"
    first = get_strategy("tpe", "nb201", seed=1, storage=url, study_name="s")
    batch = first.ask(3)
    first.tell(batch[0].candidate_id, {"val_accuracy": 0.5})
    state = json.loads(json.dumps(first.state_dict()))
    assert "journal" not in state["extra"]  # the storage holds the trials, not the state
    second = get_strategy("tpe", "nb201", seed=1, storage=url, study_name="s")
    second.load_state_dict(state)
    assert second.pending == [c.candidate_id for c in batch[1:]]
    for c in batch[1:]:  # pending trials of an earlier process are told by number
        second.tell(c.candidate_id, {"val_accuracy": 0.25})
    study = optuna.load_study(study_name="s", storage=url)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    with pytest.raises(SearchError, match="storage"):
        get_strategy("tpe", "nb201", storage=url, study_name="x").load_state_dict(
            {**state, "extra": {**state["extra"], "storage": "sqlite:///elsewhere.db"}}
        )


def test_storage_flags_are_checked() -> None:
    with pytest.raises(SearchError, match="Optuna strategies"):
        optuna_study("rea", "sqlite:///x.db", None)
    assert optuna_study("rea", None, "runs/r1") == {}
    assert optuna_study("tpe", None, None) == {}
    got = optuna_study("nsga2", None, "runs/r1")
    assert got["study_name"] == "r1" and got["storage"].endswith("runs/r1/optuna.sqlite3")
    with pytest.raises(SearchError, match="does not exist"):
        open_storage("journal:/no/such/dir/x.log")
    with pytest.raises(SearchError, match="storage URL"):
        open_storage("  ")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_optuna_dashboard_shows_the_search(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("optuna_dashboard", reason="optuna-dashboard is in the dev extra")
    exe = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent))
    assert exe is not None, "optuna-dashboard is installed but its command is missing"
    out = _search(tmp_path, capsys, "--budget", "15")
    run_dir = Path(out["run_dir"])
    port = _free_port()
    url = f"sqlite:///{run_dir / 'optuna.sqlite3'}"
    server = subprocess.Popen(
        [exe, url, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        studies = None
        for _ in range(100):
            try:
                studies = _get(f"http://127.0.0.1:{port}/api/studies")["study_summaries"]
                break
            except OSError:
                time.sleep(0.2)
        assert studies is not None, "optuna-dashboard did not answer in 20 s"
        [summary] = [s for s in studies if s["study_name"] == run_dir.name]
        detail = _get(f"http://127.0.0.1:{port}/api/studies/{summary['study_id']}?after=0")
        trials = [t for t in detail["trials"] if t["state"] == "Complete"]
        with_candidates = [
            t for t in trials if any(a["key"] == "candidate_id" for a in t["user_attrs"])
        ]
        assert len(with_candidates) == out["proposed"] == 15
        assert all(t["params"] and len(t["values"]) == 1 for t in trials)
        best = max(v for t in trials for v in t["values"])
        assert best == pytest.approx(out["best"]["metrics"]["val_accuracy"])
    finally:
        server.terminate()
        server.wait(timeout=10)
