"""The shipped tables: row counts, schema, cards, and rows from our IR (``source``: against
the public files)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from nas.bench import list_tables, load_table, table_info, table_path
from nas.errors import RegistryError, StoreError
from nas.search_spaces import nb201 as nb201_mod
from nas.search_spaces import nb_macro as nb_macro_mod
from nas.space import Arch, get_space
from nas.store import SCHEMA

ROWS = {
    "nb201-cifar10": 15625,
    "nb201-cifar100": 15625,
    "nb-macro": 6561,
    "suite-zero": 12601,
    # Suite-Zero rows of one benchmark task, one row per distinct arch of our space
    "nb101-cifar10": 375,
    "nb301-cifar10": 725,
    "tnb101-micro-object": 711,
    "tnb101-micro-scene": 711,
    "tnb101-macro-object": 662,
    "tnb101-macro-scene": 662,
    # trained by this project (the one-shot check's ground truth), added with `nas bench add`
    "nb201-1d-mnist1d": 200,
}


def test_catalogue_lists_the_shipped_tables() -> None:
    assert list_tables() == sorted(ROWS)
    with pytest.raises(RegistryError, match="did you mean 'nb-macro'"):
        table_info("nb_macro")
    assert table_info("nb101").name == "nb101-cifar10"  # the earlier name still works


@pytest.mark.parametrize("name", ["help-nb201", "help-fbnet", "hat-latency"])
def test_a_latency_table_is_not_a_result_table_and_the_error_says_where_it_is(name: str) -> None:
    assert name not in list_tables()
    with pytest.raises(RegistryError, match=rf"'{name}' is a latency table.*nas.hw.latency_table"):
        table_info(name)


@pytest.mark.parametrize("name", sorted(ROWS))
def test_table_loads_with_the_store_schema_and_row_count(name: str) -> None:
    table = load_table(name)
    assert table.num_rows == ROWS[name]
    assert table.schema.equals(SCHEMA, check_metadata=False)
    assert set(table["space"].to_pylist()) <= set(table_info(name).spaces)
    assert table["status"].unique().to_pylist() == ["ok"]
    assert table["source"].unique().to_pylist() == [name]
    # card beside the table, with provenance
    card = table_path(name).with_suffix(".md").read_text()
    assert "License" in card and "Rows" in card and str(ROWS[name]) in card.replace(",", "")
    assert load_table(name) is table  # read once per process


def test_a_missing_table_is_a_store_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAS_DATASETS_DIR", str(tmp_path))
    with pytest.raises(StoreError, match="nas bench import nb-macro"):
        load_table("nb-macro")


def _sample(table, n: int, seed: int = 0) -> list[dict]:
    idx = np.random.default_rng(seed).choice(table.num_rows, size=n, replace=False)
    return table.take(sorted(idx.tolist())).to_pylist()


@pytest.mark.source
@pytest.mark.parametrize(
    ("name", "space_name", "prefix", "val_col"),
    [
        ("nb201-cifar10", "nb201", "cifar10", "cifar10valid_val_acc_12ep"),
        ("nb201-cifar100", "nb201_c100", "cifar100", "cifar100_val_acc_12ep"),
    ],
)
def test_nb201_rows_come_from_the_ir_and_the_source(
    name: str, space_name: str, prefix: str, val_col: str, benchmarks_dir: Path
) -> None:
    table = load_table(name)
    src12 = pq.read_table(benchmarks_dir / "nasbench201" / "nb201_acc_12ep.parquet").to_pylist()
    src200 = pq.read_table(benchmarks_dir / "nasbench201" / "nb201_acc_200ep.parquet").to_pylist()
    space = get_space(space_name)
    for row in _sample(table, 25):
        extra = json.loads(row["extra"])
        i = extra["arch_index"]
        assert src12[i]["arch_index"] == i and src12[i]["arch_str"] == extra["arch_str"]
        arch = nb201_mod.parse_arch_str(extra["arch_str"], space)
        graph = space.compile(arch)
        assert Arch.from_json(row["arch"]) == arch and row["arch_id"] == arch.arch_id
        assert (row["params"], row["flops"]) == (graph.params, graph.flops)
        assert row["graph_hash"] == graph.graph_hash()
        assert row["val_accuracy"] == src12[i][val_col]
        assert row["test_accuracy"] == src200[i][f"{prefix}_test_acc_200ep"]
        assert extra["test_accuracy_12ep"] == src12[i][f"{prefix}_test_acc_12ep"]
        assert row["fidelity"] == 200
    # published optimum (NAS-Bench-201 paper: 94.37 / 73.51)
    best = pc.max(table["test_accuracy"]).as_py()
    assert round(best, 2) == (73.51 if prefix == "cifar100" else 94.37)
    assert pc.count_distinct(table["arch_id"]).as_py() == 15625


@pytest.mark.source
def test_nb_macro_rows_come_from_the_ir_and_match_the_source(benchmarks_dir: Path) -> None:
    table = load_table("nb-macro")
    src = {
        r["arch"]: r
        for r in pq.read_table(
            benchmarks_dir / "nas_bench_macro" / "nas_bench_macro_cifar10.parquet"
        ).to_pylist()
    }
    space = get_space("nb_macro")
    for row in _sample(table, 25, seed=1):
        extra = json.loads(row["extra"])
        s = src[extra["arch_str"]]
        graph = space.compile(nb_macro_mod.parse_arch_str(extra["arch_str"], space))
        assert (row["params"], row["flops"]) == (graph.params, graph.flops)
        assert (row["params"], row["flops"]) == (s["params"], s["flops"])  # spot-check
        assert row["graph_hash"] == graph.graph_hash()
        # no validation split: the search signal is the mean of the 3 test runs
        assert row["val_accuracy"] == row["test_accuracy"] == s["mean_acc"]
        assert extra["runs"] == [s["test_acc_run0"], s["test_acc_run1"], s["test_acc_run2"]]
    assert round(pc.max(table["test_accuracy"]).as_py(), 3) == 93.127


def test_suite_zero_keeps_proxies_and_native_encodings() -> None:
    table = load_table("suite-zero")
    rows = table.to_pylist()
    by_space: dict[str, int] = {}
    for r in rows:
        by_space[r["space"]] = by_space.get(r["space"], 0) + 1
    assert by_space == {
        "nasbench101": 500,
        "nb201": 725,
        "nb201_c100": 725,
        "nasbench301": 725,
        "transbench101_micro": 711 * 7,
        "transbench101_macro": 725 * 5 + 662 * 2,
    }
    nb201 = get_space("nb201")
    for r in rows[:: len(rows) // 40]:
        extra = json.loads(r["extra"])
        assert "snip" in extra and "params_m" in extra
        if r["space"] == "nb201":
            graph = nb201.compile(Arch.from_json(r["arch"]))
            assert r["params"] == graph.params and r["graph_hash"] == graph.graph_hash()
            assert abs(graph.params / 1e6 - extra["params_m"]) < 5e-7
        elif r["space"] not in ("nb201_c100",):
            arch = Arch.from_json(r["arch"])
            assert arch.version == "naslib" and isinstance(arch["arch_key"], list)
            assert r["graph_hash"] is None and r["flops"] is None
