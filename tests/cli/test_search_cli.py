"""`nas search` and `nas benchmark search` through the one search API: rows, run ids, Ctrl-C."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from nas.cli import main
from nas.store import ResultStore
from tests.search.helpers import NAS, interrupted_training_search, nas_env, runs_of


def test_benchmark_search_stores_strategies_times_seeds_times_queries_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    argv = ["benchmark", "search", "--table", "nb201-cifar10", "--strategies", "random,rea",
            "--seeds", "2", "--queries", "25", "--store", str(store), "--json"]  # fmt: skip
    assert main(argv) == 0
    rows = ResultStore(store).results()
    assert len(rows) == 2 * 2 * 25
    runs = {(r.strategy, r.seed, r.run_id) for r in rows}
    assert len(runs) == 4 and {(s, seed) for s, seed, _ in runs} == {
        (s, seed) for s in ("random", "rea") for seed in (0, 1)
    }
    capsys.readouterr()
    assert main(argv) == 0  # a re-run appends its own runs
    assert len(ResultStore(store)) == 2 * 2 * 2 * 25


def test_search_run_dir_name_is_the_rows_run_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    argv = ["search", "--space", "nb201", "--evaluator", "tabular:nb201-cifar10", "--strategy",
            "rea", "--budget", "60", "--store", str(store), "--json"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    rows = ResultStore(store).results()
    assert len(rows) == 60 == out["proposed"] and out["trained"] <= 60
    assert Path(out["run_dir"]).name == out["run_id"] == rows[0].run_id
    assert Path(out["run_dir"]) == (runs_of(store) / out["run_id"]).resolve()
    assert {r.run_id for r in rows} == {out["run_id"]}


def _rows(store: Path) -> int:
    s = ResultStore(store)
    return len(s) if s.is_present() else 0


@pytest.mark.slow
def test_ctrl_c_ends_interrupted_with_the_resume_command_and_resume_finishes(
    tmp_path: Path,
) -> None:
    store = tmp_path / "store"
    returncode, stdout, stderr = interrupted_training_search(store, 5, tmp_path)
    assert returncode == 130, stderr[-3000:]
    assert "Search interrupted" in stdout and "Search finished" not in stdout + stderr
    assert stdout.count("run search-") == 1  # the summary, printed once, with the run's id
    command = next(line for line in stdout.splitlines() if line.startswith("Resume with: "))
    resume = shlex.split(command.removeprefix("Resume with: "))
    assert resume[:2] == ["nas", "search"] and "--resume" in resume
    before = _rows(store)
    assert 1 <= before < 5
    done = subprocess.run(
        [*NAS, *resume[1:]],
        cwd=tmp_path,
        env=nas_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Search finished" in done.stdout
    rows = ResultStore(store).results()
    assert len(rows) == 5 == len({r.candidate_id for r in rows})  # none lost, none repeated
    assert len({r.run_id for r in rows}) == 1


def test_search_minimises_a_latency_table_objective(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--objectives val_accuracy:max,latency_pixel3:min` reads help-nb201's Pixel 3 latency:
    every stored row and every front member carries it, and the front is non-dominated."""
    from nas.hw import latency_table
    from nas.space import get_space

    table, space = latency_table("help-nb201"), get_space("nb201")
    argv = ["search", "--space", "nb201", "--evaluator", "tabular:nb201-cifar10", "--strategy",
            "rea", "--budget", "40", "--objectives", "val_accuracy:max,latency_pixel3:min",
            "--store", str(tmp_path / "store"), "--json"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    rows = ResultStore(tmp_path / "store").results()
    assert len(rows) == 40
    by_trial = {r.trial_id: r for r in rows if r.status == "ok"}
    for row in rows:  # a reused row is its isomorphic source's network, latency included
        source = by_trial[row.reused_from] if row.status == "reused" else row
        assert row.extra_dict()["latency_pixel3"] == pytest.approx(
            table.latency(space.validate(source.arch_dict()["values"]), "pixel3"), rel=1e-6
        )
    front = [(p["metrics"]["val_accuracy"], p["metrics"]["latency_pixel3"]) for p in out["pareto"]]
    assert front and all(lat is not None and lat > 0 for _, lat in front)
    for acc, lat in front:  # no member is beaten on both objectives by another
        assert not any(a >= acc and b <= lat and (a, b) != (acc, lat) for a, b in front)
    ok = [r for r in rows if r.status == "ok"]  # reference: the worst of each objective
    ref_acc, ref_lat = (
        min(r.val_accuracy for r in ok),
        max(r.extra_dict()["latency_pixel3"] for r in ok),
    )
    area, top = 0.0, ref_acc  # by hand: sweep the front from fastest, adding each step's strip
    for acc, lat in sorted(front, key=lambda p: (p[1], -p[0])):
        if acc > top:
            area, top = area + (ref_lat - lat) * (acc - top), acc
    assert out["hypervolume"] == pytest.approx(area) and area > 0
    assert main([*argv[:-5], "--objectives", "val_accuracy:max,latency_pixel9:min"]) == 2
    err = capsys.readouterr().err.strip()
    assert "'latency_pixel3'" in err and len(err.splitlines()) == 1
