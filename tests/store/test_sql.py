"""`nas store query --sql`: DuckDB over the store's rows equals the same query in pandas, and
pandas/DuckDB read the store directory as is (run metadata under `_runs/` included)."""

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
    """10,000 real NB-201 CIFAR-10 rows in 4 Parquet files, and a run directory inside."""
    path = tmp_path_factory.mktemp("sql") / "store"
    table = TabularEvaluator("nb201-cifar10")
    store = ResultStore(path)
    ids = table.arch_ids()[:10_000]
    for start in range(0, 10_000, 2_500):
        store.append([table.lookup(i) for i in ids[start : start + 2_500]])
    run_dir = path / "_runs" / "search-x"
    run_dir.mkdir(parents=True)
    (run_dir / "search_state.json").write_text("{}")
    return path


def _sql(store: Path, sql: str, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    assert main(["store", "query", str(store), "--sql", sql, "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_sql_equals_pandas_on_10k_rows(store_10k: Path, capsys: pytest.CaptureFixture[str]) -> None:
    got = _sql(store_10k, SQL, capsys)
    df = pd.read_parquet(store_10k)  # the directory as is: `_runs/` is not data
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


def test_polars_reads_the_data_glob(store_10k: Path) -> None:
    polars = pytest.importorskip(
        "polars", reason="polars is not a dependency; checked when present"
    )
    assert polars.read_parquet(f"{store_10k}/*.parquet").height == 10_000


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
