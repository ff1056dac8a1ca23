"""`nas predictor rank --store DIR` writes its ranked candidates as rows of the result store."""

from __future__ import annotations

import json

import pytest

from nas.cli import main
from nas.predictors import GennapePredictor
from nas.store import ResultStore

from .conftest import TINY


@pytest.fixture(scope="module")
def model_dir(macro_graphs, tmp_path_factory) -> str:
    graphs, y = macro_graphs
    out = tmp_path_factory.mktemp("models") / "macro-tiny"
    GennapePredictor(TINY).fit(graphs, y).save(out)
    return str(out)


def test_rank_into_a_store_writes_one_row_per_candidate_with_its_prediction(
    model_dir, tmp_path, capsys
) -> None:
    store = tmp_path / "store"
    argv = ["predictor", "rank", "--space", "nb_macro", "--candidates", "200", "--top", "50"]
    argv += ["--model", model_dir, "--store", str(store), "--dataset", "cifar10", "--json"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert len(printed["top"]) == 50 and printed["store"]["rows"] == 50

    rows = ResultStore(store).read().to_pylist()
    assert len(rows) == 50
    rows.sort(key=lambda r: json.loads(r["extra"])["rank"])
    assert {r["source"] for r in rows} == {"predictor:macro-tiny"}
    assert {r["status"] for r in rows} == {"pending"}
    assert {r["strategy"] for r in rows} == {"predictor-rank"}
    assert {r["dataset"] for r in rows} == {"cifar10"}
    (run_id,) = {r["run_id"] for r in rows}  # one run of its own, named as a ranking
    assert run_id.startswith("rank-") and len(run_id) == len("rank-20260101T000000-") + 8
    assert [r["arch_id"] for r in rows] == [t["arch_id"] for t in printed["top"]]
    extras = [json.loads(r["extra"]) for r in rows]
    assert [e["predicted"] for e in extras] == [t["score"] for t in printed["top"]]
    assert [e["predicted_std"] for e in extras] == [t["std"] for t in printed["top"]]
    assert all(r["params"] > 0 and r["graph_hash"] for r in rows)

    # `nas store query --where` finds them by the model's name, beside any true result
    assert main(["predictor", "rank", "--space", "nb_macro", "--candidates", "20", "--top", "3",
                 "--store", str(store), "--dataset", "cifar10"]) == 0  # fmt: skip
    capsys.readouterr()
    where = "source == 'predictor:macro-tiny'"
    assert main(["store", "query", str(store), "--where", where, "--columns", "arch_id"]) == 0
    assert "50 row(s)" in capsys.readouterr().out
    assert ResultStore(store).read("source == 'predictor:params'").num_rows == 3


def test_store_without_dataset_is_one_line_and_exit_2(tmp_path, capsys) -> None:
    argv = ["predictor", "rank", "--space", "nb_macro", "--candidates", "20"]
    assert main([*argv, "--store", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--dataset" in err
    assert not (tmp_path / "s").exists()
