"""A hung trial is stopped at its limit and stored (``timeout`` with its partial curve, or
``cut`` at the time budget's end), and a time budget holds across a SIGKILL and a resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nas.search import RayOptions, get_strategy, run
from nas.space import get_space
from nas.store import ResultStore
from tests.conftest import REPO
from tests.reliability._hang import Hangs


def _first_arch_id(seed: int = 0) -> str:
    return get_strategy("random", get_space("nb201"), seed=seed).ask(1)[0].arch.arch_id


def test_a_hung_trial_is_stopped_at_the_trial_timeout_and_stored_with_its_curve(
    tmp_path: Path,
) -> None:
    start = time.monotonic()
    out = run(
        get_space("nb201"), "random", Hangs({_first_arch_id()}), budget=3, trial_timeout_s=1.0,
        store=tmp_path / "store", run_dir=tmp_path / "run", progress=False,
    )  # fmt: skip
    assert time.monotonic() - start < 30
    rows = sorted(ResultStore(tmp_path / "store").results(), key=lambda r: r.candidate_id)
    assert [r.status for r in rows] == ["timeout", "ok", "ok"]
    hung = rows[0]
    assert hung.fidelity == 2 and hung.val_accuracy_curve == (10.0, 20.0)
    assert "trial timeout after 1 s and 2 epoch(s)" in (hung.error or "")
    saved = json.loads((tmp_path / "run" / "search_state.json").read_text())
    assert saved["trial_timeout_s"] == 1.0  # a resume keeps it
    assert out.best is not None and out.best.status == "ok"


def test_a_trial_running_at_the_time_budgets_end_is_stored_cut(tmp_path: Path) -> None:
    out = run(
        get_space("nb201"), "random", Hangs(), time_budget_s=1.5, store=tmp_path / "store",
        run_dir=tmp_path / "run", progress=False,
    )  # fmt: skip
    assert out.wall_seconds < 10
    (row,) = ResultStore(tmp_path / "store").results()
    assert row.status == "cut" and row.fidelity == 2 and "time budget" in (row.error or "")


@pytest.mark.slow
def test_a_time_budget_holds_across_a_sigkill_and_a_resume(tmp_path: Path) -> None:
    budget, kill_at = 8.0, 4.5
    argv = [sys.executable, "-m", "tests.reliability._hang", str(tmp_path / "run"),
            str(tmp_path / "store"), str(budget)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = subprocess.Popen(argv, cwd=REPO, env=env)
    state = tmp_path / "run" / "search_state.json"
    deadline = time.monotonic() + 120
    while not state.is_file():  # the search has started (imports can take seconds)
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(kill_at)
    first.kill()
    first.wait()
    saved = json.loads(state.read_text())["elapsed_s"]
    assert kill_at - 2.5 <= saved <= kill_at + 0.5  # saved every ~2 s while the trial hung
    start = time.monotonic()
    second = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr[-2000:]
    wall = float(second.stdout.split()[1])
    assert wall <= budget - saved + 1.5  # the resumed session spent only what was left
    assert saved + wall <= kill_at + (budget - kill_at) + 3.0
    assert time.monotonic() - start < 60
    rows = ResultStore(tmp_path / "store").results()
    assert rows and {r.status for r in rows} == {"cut"}


@pytest.mark.slow
@pytest.mark.ray
def test_ray_kills_a_hung_trials_actor_at_the_trial_timeout(tmp_path: Path) -> None:
    out = run(
        get_space("nb201"), "random", Hangs({_first_arch_id()}), executor="ray", budget=2,
        trial_timeout_s=4.0, store=tmp_path / "store", run_dir=tmp_path / "run",
        ray=RayOptions(max_concurrent=1), progress=False,
    )  # fmt: skip
    rows = sorted(ResultStore(tmp_path / "store").results(), key=lambda r: r.candidate_id)
    assert [r.status for r in rows] == ["timeout", "ok"]
    assert rows[0].fidelity == 2 and rows[0].val_accuracy_curve == (10.0, 20.0)
    assert "actor was killed" in (rows[0].error or "")
    assert out.proposed == 2
