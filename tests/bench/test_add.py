"""``nas bench add``: a user's own NB-201-style table joins the one catalogue, for good."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nas.bench import TabularEvaluator, list_tables, load_table, table_info
from nas.cli import main
from nas.errors import StoreError
from nas.search_spaces.nb201 import parse_arch_str
from nas.space import get_space

ROWS = 300


@pytest.fixture(scope="module")
def user_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's table: NB-201 arch strings, their own column names, one column of notes."""
    rows = load_table("nb201-cifar10").slice(0, ROWS).to_pylist()
    path = tmp_path_factory.mktemp("user") / "my_runs.parquet"
    strings = [json.loads(r["extra"])["arch_str"] for r in rows]
    table = pa.table(
        {
            "genotype": strings,
            "acc_12ep": [r["val_accuracy"] for r in rows],
            "acc_200ep": [r["test_accuracy"] for r in rows],
            "gpu": ["a100"] * ROWS,
        }
    )
    pq.write_table(table, path)
    return path


@pytest.fixture
def datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "datasets"
    monkeypatch.setenv("NAS_DATASETS_DIR", str(folder))
    return folder


def _add(user_file: Path, *extra: str) -> int:
    argv = ["bench", "add", "my-nb201", str(user_file), "--space", "nb201"]
    argv += ["--arch-column", "genotype", "--signal", "acc_12ep", "--report", "acc_200ep"]
    return main([*argv, "--license", "CC-BY-4.0", "--json", *extra])


_CLI = "import sys; from nas.cli import main; sys.exit(main())"


def _nas(*argv: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CLI, *argv, "--json"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=True,
        timeout=300,
    )
    return json.loads(out.stdout)


@pytest.mark.slow
def test_added_table_is_seen_by_every_reader_and_a_later_process(
    user_file: Path, datasets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _add(user_file) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["rows"] == ROWS and Path(payload["path"]) == datasets / "my-nb201.parquet"

    # rows in the store schema, archs of the space, the user's other columns kept in extra
    table = load_table("my-nb201")
    row = table.slice(7, 1).to_pylist()[0]
    source = pq.read_table(user_file).slice(7, 1).to_pylist()[0]
    space = get_space("nb201")
    arch = parse_arch_str(source["genotype"], space)
    graph = space.compile(arch)
    assert row["arch_id"] == arch.arch_id and row["graph_hash"] == graph.graph_hash()
    assert (row["params"], row["flops"]) == (graph.params, graph.flops)
    assert (row["val_accuracy"], row["test_accuracy"]) == (source["acc_12ep"], source["acc_200ep"])
    assert json.loads(row["extra"]) == {"gpu": "a100"}
    card = (datasets / "my-nb201.md").read_text()
    assert "CC-BY-4.0" in card and f"Rows: {ROWS}" in card and "sha256" in card

    # this process: catalogue, tabular evaluator, predictor tables
    assert "my-nb201" in list_tables() and table_info("my-nb201").spaces == ("nb201",)
    assert TabularEvaluator("my-nb201").lookup(arch).test_accuracy == source["acc_200ep"]
    from nas.predictors import load_labeled

    labeled = load_labeled("my-nb201", signal="test_accuracy")
    assert len(labeled) == ROWS and labeled.graph(7).params == graph.params

    # a later process finds it (the registration is on disk): list, search, benchmark search
    listed = {r["name"]: r for r in _nas("bench", "list")["tables"]}
    assert listed["my-nb201"]["rows"] == ROWS and listed["my-nb201"]["space"] == "nb201"
    best = max(r["test_accuracy"] for r in table.to_pylist())
    race = _nas(
        "benchmark", "search", "--table", "my-nb201", "--strategies", "random",
        "--queries", "10", "--seeds", "2",
    )  # fmt: skip
    assert race["optimum_test_accuracy"] == best
    run = _nas(
        "search", "--space", "nb201", "--evaluator", "tabular:my-nb201",
        "--strategy", "random", "--budget", "5", "--seed", "0",
    )  # fmt: skip
    assert run["evaluations"] == 5


@pytest.mark.slow
def test_add_errors_are_one_line(
    user_file: Path, datasets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _add(user_file) == 0
    capsys.readouterr()
    assert _add(user_file) == 2  # already added
    assert "--replace" in capsys.readouterr().err
    assert _add(user_file, "--replace") == 0
    capsys.readouterr()
    assert main(["bench", "import", "my-nb201", "--source", str(datasets)]) == 2
    assert "table you added" in capsys.readouterr().err
    argv = ["bench", "add", "nb201-cifar10", str(user_file), "--space", "nb201"]
    assert main([*argv, "--arch-column", "genotype", "--signal", "acc_12ep"]) == 2
    assert "shipped table" in capsys.readouterr().err
    argv = ["bench", "add", "other", str(user_file), "--space", "nb201"]
    assert main([*argv, "--arch-column", "arch", "--signal", "acc_12ep"]) == 2
    err = capsys.readouterr().err
    assert "no column 'arch'" in err and "genotype" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(StoreError, match=r"Row 0 .* column 'gpu'"):
        from nas.bench import add_table

        add_table("bad", user_file, space="nb201", arch_column="gpu", signal="acc_12ep")
