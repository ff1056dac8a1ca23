"""`nas search --resume RUN_DIR` alone continues with the run's saved flags (budget, epochs
override, objectives, ...); a flag given again that disagrees is refused in one line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from nas.cli import main
from nas.store import ResultStore
from tests.search.helpers import NAS, interrupted_training_search, nas_env, runs_of

TABULAR = ["search", "--space", "nb201", "--evaluator", "tabular:nb201-cifar10"]


def test_resume_restores_the_saved_flags_and_refuses_different_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    argv = [*TABULAR, "--budget", "6", "--strategy", "rea", "--seed", "3", "--store", str(store),
            "--objectives", "val_accuracy:max,params:min", "--constraint", "params<=1e6"]  # fmt: skip
    assert main(argv) == 0
    (run_dir,) = runs_of(store).iterdir()
    saved = json.loads((run_dir / "search_state.json").read_text())["settings"]
    assert saved["budget"] == "6" and saved["seed"] == 3 and saved["constraint"] == ["params<=1e6"]
    capsys.readouterr()
    assert main(["search", "--resume", str(run_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["evaluations"] == 6 and out["strategy"] == "rea" and out["seed"] == 3
    assert out["objectives"] == [["val_accuracy", "max"], ["params", "min"]]
    assert out["constraints"] == [["params", None, 1e6]]
    assert main(["search", "--resume", str(run_dir), "--seed", "3"]) == 0  # agrees: fine
    capsys.readouterr()
    assert main(["search", "--resume", str(run_dir), "--strategy", "random"]) == 2
    err = capsys.readouterr().err
    assert "--strategy 'random' disagrees with the run's saved 'rea'" in err
    assert len(ResultStore(store)) == 6


@pytest.mark.slow
def test_resume_with_no_flags_stores_exactly_the_remaining_trials_at_the_saved_epochs(
    tmp_path: Path,
) -> None:
    store = tmp_path / "store"
    returncode, stdout, _ = interrupted_training_search(store, 4, tmp_path)
    assert returncode == 130
    (run_dir,) = runs_of(store).iterdir()
    assert f"Resume with: nas search --resume {run_dir}" in stdout
    before = {r.candidate_id for r in ResultStore(store).results()}
    assert 1 <= len(before) < 4
    done = subprocess.run(
        [*NAS, "search", "--resume", str(run_dir)], cwd=tmp_path, env=nas_env(),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = ResultStore(store).results()
    assert len(rows) == 4 == len({r.candidate_id for r in rows})  # the remaining ones, once
    trained = [r for r in rows if r.status not in ("reused", "cut")]
    assert trained and {r.fidelity for r in trained} == {1}  # --epochs 1 held on resume
