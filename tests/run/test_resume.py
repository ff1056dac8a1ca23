"""A search killed with SIGKILL resumes from its run directory, on either executor: every row
stored before the kill is kept, none is repeated, and the budget holds."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nas.run import TrainingEvaluator
from nas.search import get_strategy, run
from nas.space import get_space
from nas.store import ResultStore

REPO = Path(__file__).resolve().parents[2]


def _stored(store_dir: Path) -> int:
    store = ResultStore(store_dir)
    return len(store) if store.is_present() else 0


def _start_and_kill(tmp_path: Path, executor: str, budget: int, kill_after: int) -> None:
    args = [
        sys.executable, "-m", "tests.run._search_driver", str(tmp_path), str(budget),
        "--executor", executor,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    driver = subprocess.Popen(
        args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while _stored(tmp_path / "store") < kill_after:
            assert driver.poll() is None, driver.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the driver stored nothing in time"
            time.sleep(0.2)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        # A killed driver's own Ray dies with it (Ray shares its fate); its group too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["inprocess", pytest.param("ray", marks=pytest.mark.ray)])
def test_resume_after_sigkill_loses_and_repeats_nothing(executor: str, tmp_path: Path) -> None:
    budget, kill_after = 6, 2
    _start_and_kill(tmp_path, executor, budget, kill_after)
    before = ResultStore(tmp_path / "store").results()
    assert kill_after <= len(before) < budget
    state = json.loads((tmp_path / "run" / "search_state.json").read_text())
    assert state["run_id"] == "run"  # the run directory's name

    space = get_space("cnn1d")
    ev = TrainingEvaluator(space, "mnist1d", device="cpu", recipe_overrides={"epochs": 1})
    out = run(
        space, get_strategy("random", space, seed=3), ev, executor=executor, budget=budget,
        store=tmp_path / "store", run_dir=tmp_path / "run", resume=True, progress=False,
    )  # fmt: skip
    rows = ResultStore(tmp_path / "store").results()
    assert len(rows) == budget == len({r.candidate_id for r in rows}) == out.proposed
    assert {r.run_id for r in rows} == {"run"} == {out.run_id}
    assert {r.key for r in before} <= {r.key for r in rows}  # nothing stored is lost
    final = json.loads((tmp_path / "run" / "search_state.json").read_text())
    assert len(final["told"]) == budget == len(set(final["told"]))
    assert sorted(final["proposals"]) == sorted(final["told"])
    # The proposals are the ones a strategy with this seed makes, in one session or two.
    expected = [c.arch.arch_id for c in get_strategy("random", space, seed=3).ask(budget)]
    assert [r.arch_id for r in sorted(rows, key=lambda r: r.candidate_id)] == expected
