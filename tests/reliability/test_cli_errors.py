"""Every bad input to the CLI is one line on stderr and exit 2, never a traceback; a run in
which every evaluation failed exits 1; output piped into `head` ends quietly."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nas.cli import error_line, main
from tests.conftest import REPO

SEARCH = ["search", "--space", "nb201", "--evaluator", "tabular:nb201-cifar10"]
DEEP = "[" * 5000
CUDA = importlib.util.find_spec("torch") is not None and __import__("torch").cuda.is_available()
HUGE = "9" * 5000


def run_cli(argv: list[str]) -> int:
    """``nas ARGV`` in this process; a bad argument's exit (argparse) is its code too."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def _one_line(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 2) -> str:
    assert run_cli(argv) == code
    err = capsys.readouterr().err.strip()
    assert err.startswith("nas: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["compile", "nb201", "--arch", DEEP], "nested too deeply"),
        (["compile", "nb201", "--arch", '{"cell.n1_from0": ' + HUGE + "}"], "digits"),
        (["compile", "nb201", "--arch", '{"cell.n1_from0": NaN}'], "NaN"),
        (["compile", "nb201", "--arch", '{"cell.n1_from0": Infinity}'], "Infinity"),
        ([*SEARCH, "--budget", "²"], "--budget"),
        ([*SEARCH, "--budget", HUGE], "--budget"),
        ([*SEARCH, "--budget", "3", "--seed", "-1"], "--seed"),
        ([*SEARCH, "--budget", "3", "--trial-timeout", "soon"], "--trial-timeout"),
        ([*SEARCH, "--budget", "3", "--gpus-per-trial", "nan"], "--gpus-per-trial"),
        ([*SEARCH, "--budget", "3", "--cpus-per-trial", "0"], "--cpus-per-trial"),
        ([*SEARCH, "--budget", "3", "--epochs", "-1"], "--epochs"),
        ([*SEARCH, "--budget", "3", "--device", "bogus"], "--device"),
        (["search", "--budget", "3"], "--space"),
        (["predictor", "pretrain", "--epochs", "0", "--out", "enc"], "--epochs"),
        (["predictor", "fit", "--train-size", "-3", "--out", "model"], "--train-size"),
        (["predictor", "rank", "--space", "nb201", "--top", "0"], "--top"),
        pytest.param(
            [
                "search",
                "--space",
                "cnn1d",
                "--dataset",
                "mnist1d",
                "--executor",
                "local",
                "--budget",
                "1",
                "--device",
                "cuda",
            ],
            "--device",
            marks=pytest.mark.skipif(CUDA, reason="this host has CUDA"),
        ),
    ],
)
def test_bad_flags_and_values_are_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    assert says in _one_line(capsys, argv)


def test_a_store_that_cannot_be_created_fails_before_any_trial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("x")
    err = _one_line(capsys, [*SEARCH, "--budget", "3", "--store", str(tmp_path / "file" / "s")])
    assert "Cannot create the result store" in err


@pytest.mark.parametrize("flag", ["--resume", "--run-dir"])
def test_a_run_directory_that_is_a_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    (tmp_path / "file").write_text("x")
    assert str(tmp_path / "file") in _one_line(
        capsys, [*SEARCH, "--budget", "3", flag, str(tmp_path / "file")]
    )


def test_where_nested_too_deeply_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    assert main([*SEARCH, "--budget", "3", "--store", str(store)]) == 0
    capsys.readouterr()
    assert "nested too deeply" in _one_line(
        capsys, ["store", "query", str(store), "--where", "(" * 5000]
    )


def test_a_foreign_parquet_file_is_named_and_repair_quarantines_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    assert main([*SEARCH, "--budget", "3", "--store", str(store)]) == 0
    assert main([*SEARCH, "--budget", "2", "--store", str(store)]) == 0
    pq.write_table(pa.table({"x": [1, 2]}), store / "foreign.parquet")
    capsys.readouterr()
    assert "foreign.parquet" in _one_line(capsys, ["store", "compact", str(store)])
    assert main(["store", "repair", str(store)]) == 0
    assert "Quarantined" in capsys.readouterr().out
    assert (store / "_quarantine" / "foreign.parquet").is_file()
    assert main(["store", "compact", str(store)]) == 0


def test_a_run_whose_every_evaluation_failed_exits_1_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # no such dataset: every training fails, and the reason names it
    err = _one_line(
        capsys,
        ["search", "--space", "cnn1d", "--dataset", "no-such-dataset", "--executor", "local",
         "--budget", "2", "--epochs", "1"],
        code=1,
    )  # fmt: skip
    assert "Every evaluation of the run failed (2)" in err and "no-such-dataset" in err


def test_unexpected_errors_say_so_and_exit_1() -> None:
    code, line = error_line(TypeError("boom"))
    assert code == 1 and "unexpected TypeError: boom" in line and "--debug" in line
    assert error_line(FileNotFoundError(2, "No such file or directory", "x.json"))[0] == 2


def test_output_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    nas = f"{sys.executable} -c 'import sys; from nas.cli import main; sys.exit(main())'"
    command = f"{nas} sample nb201 -n 20000 --seed 0 | head -1"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], env=env, capture_output=True, text=True,
        timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout)["space"] == "nb201"
