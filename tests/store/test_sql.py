"""`nas store query --sql`: DuckDB over the store's rows equals the same query in pandas, and
pandas/DuckDB (and polars, when installed) read the store directory as is: a search keeps its
run directory beside the store (STORE.runs/RUN_ID), out of the data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from nas.bench import TabularEvaluator
from nas.cli import main
from nas.store import ResultStore

duckdb = pytest.importorskip("duckdb", reason="DuckDB is the sql extra")
pd = pytest.importorskip("pandas")

SQL = (
    "SELECT status, count(*) AS n, round(avg(val_accuracy), 6) AS mean_val, "
    "max(test_accuracy) AS best_test, sum(params) AS params FROM results "
    "WHERE val_accuracy > 60 GROUP BY status ORDER BY n DESC"
)


@pytest.fixture(scope="module")
def store_10k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10,000 real NB-201 CIFAR-10 rows in 4 Parquet files."""
    path = tmp_path_factory.mktemp("sql") / "store"
    table = TabularEvaluator("nb201-cifar10")
    store = ResultStore(path)
    ids = table.arch_ids()[:10_000]
    for start in range(0, 10_000, 2_500):
        store.append([table.lookup(i) for i in ids[start : start + 2_500]])
    return path


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store two real `nas search` runs wrote (tpe: its Optuna study, state and summary)."""
    path = tmp_path_factory.mktemp("searched") / "store"
    for strategy in ("tpe", "rea"):
        argv = ["search", "--space", "nb201", "--evaluator", "tabular:nb201-cifar10",
                "--strategy", strategy, "--budget", "20", "--store", str(path)]  # fmt: skip
        assert main(argv) == 0
    return path


def _sql(store: Path, sql: str, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    assert main(["store", "query", str(store), "--sql", sql, "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_sql_equals_pandas_on_10k_rows(store_10k: Path, capsys: pytest.CaptureFixture[str]) -> None:
    got = _sql(store_10k, SQL, capsys)
    df = pd.read_parquet(store_10k)  # the directory as is
    assert len(df) == 10_000
    kept = df[df.val_accuracy > 60]
    want = (
        kept.groupby("status")
        .agg(n=("arch_id", "size"), mean_val=("val_accuracy", "mean"),
             best_test=("test_accuracy", "max"), params=("params", "sum"))
        .sort_values("n", ascending=False)
        .reset_index()
    )  # fmt: skip
    assert [r["status"] for r in got] == list(want.status)
    assert [r["n"] for r in got] == list(want.n)
    assert [r["params"] for r in got] == list(want.params)
    assert [r["best_test"] for r in got] == pytest.approx(list(want.best_test))
    assert [r["mean_val"] for r in got] == pytest.approx(list(want.mean_val), abs=1e-6)
    with duckdb.connect() as con:
        glob = con.execute(f"SELECT count(*) FROM read_parquet('{store_10k}/*.parquet')")
        assert glob.fetchall() == [(10_000,)]


def test_the_store_directory_holds_data_only_and_reads_as_is(searched: Path) -> None:
    runs = sorted(searched.with_name("store.runs").iterdir())
    assert len(runs) == 2 and all((r / "search_state.json").is_file() for r in runs)
    assert (runs[0] / "optuna.sqlite3").is_file() or (runs[1] / "optuna.sqlite3").is_file()
    files = [p for p in searched.rglob("*") if p.is_file()]
    assert files and all(p.suffix == ".parquet" and p.parent == searched for p in files)
    assert len(ResultStore(searched)) == 40
    assert len(pd.read_parquet(searched)) == 40
    with duckdb.connect() as con:
        for source in (f"{searched}/*.parquet", f"{searched}/**/*.parquet", f"{searched}/"):
            count = con.execute(f"SELECT count(*) FROM read_parquet('{source}')").fetchall()
            assert count == [(40,)], source


def test_polars_reads_the_store_directory_and_its_globs(searched: Path) -> None:
    polars = pytest.importorskip(
        "polars", reason="polars is not a dependency; checked when present"
    )
    assert polars.read_parquet(searched).height == 40  # failed when runs sat in STORE/_runs
    assert polars.scan_parquet(f"{searched}/*.parquet").collect().height == 40
    assert polars.scan_parquet(f"{searched}/**/*.parquet").collect().height == 40


def test_plot_and_report_find_the_store_of_a_run_directory(searched: Path) -> None:
    from nas.plot._source import load_rows

    run = sorted(searched.with_name("store.runs").iterdir())[0]
    saved = (run / "search_state.json").read_text()
    state = json.loads(saved)
    state["settings"]["store"] = None  # found from where the run directory sits
    old = searched / "_runs" / run.name  # where earlier versions put run directories
    old.mkdir(parents=True)
    try:
        for place in (run, old):
            (place / "search_state.json").write_text(json.dumps(state))
            rows = load_rows(place)
            assert len(rows) == 20 and {r["run_id"] for r in rows} == {run.name}
        assert len(pd.read_parquet(searched)) == 40  # `_runs/` is not data to pandas either
    finally:
        (run / "search_state.json").write_text(saved)
        (old / "search_state.json").unlink()
        old.rmdir()
        old.parent.rmdir()


def test_text_output_shows_ids_that_where_matches(
    store_10k: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = "SELECT arch_id, val_accuracy FROM results ORDER BY val_accuracy DESC LIMIT 1"
    assert main(["store", "query", str(store_10k), "--sql", sql]) == 0
    shown = capsys.readouterr().out.splitlines()[-1].split()[0]
    where = f"arch_id == '{shown}'"
    assert main(["store", "query", str(store_10k), "--where", where, "--json"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["arch_id"] == shown


def test_sql_errors_are_one_line(
    store_10k: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["store", "query", str(store_10k), "--sql", "SELEC 1"]) == 2
    assert "--sql failed: Parser Error" in capsys.readouterr().err
    assert (
        main(["store", "query", str(store_10k), "--sql", "SELECT 1", "--where", "seed == 0"]) == 2
    )
    assert "does not combine with --where" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "duckdb", None)  # as if the extra were not installed
    assert main(["store", "query", str(store_10k), "--sql", "SELECT 1"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'nas-engine[sql]'" in err
