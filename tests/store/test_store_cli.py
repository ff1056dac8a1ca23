"""``nas store``: real stores on disk, driven through ``nas.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nas.cli import main
from nas.store import ResultStore


@pytest.fixture
def filled(store: ResultStore, results) -> ResultStore:
    store.append(results(6))
    store.append(results(2, start=100, status="failed", val_accuracy=None, error="OOM"))
    return store


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_show_prints_counts_and_recent_rows(filled: ResultStore, capsys) -> None:
    code, out, _ = _run(capsys, "store", "show", filled.path)
    assert code == 0
    assert "8 rows in 2 file(s)" in out
    assert "arch_id" in out and "val_accuracy" in out and "arch-00101" in out
    assert "85.00" in out and "failed" in out


def test_show_best_as_json(filled: ResultStore, capsys) -> None:
    code, out, _ = _run(
        capsys, "store", "show", filled.path, "--best", "val_accuracy", "--limit", "2", "--json"
    )
    assert code == 0
    payload = json.loads(out)
    assert payload["rows"] == 8 and len(payload["files"]) == 2
    assert [r["val_accuracy"] for r in payload["results"]] == [85.0, 84.0]


def test_query_filters_sorts_limits_and_selects(filled: ResultStore, capsys) -> None:
    code, out, _ = _run(
        capsys,
        "store",
        "query",
        filled.path,
        "--where",
        "val_accuracy > 81",
        "--sort",
        "val_accuracy",
        "--desc",
        "--limit",
        "3",
        "--columns",
        "arch_id,val_accuracy,train_loss_curve,created_at",
        "--json",
    )
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["arch_id"] for r in rows] == ["arch-00005", "arch-00004", "arch-00003"]
    assert set(rows[0]) == {"arch_id", "val_accuracy", "train_loss_curve", "created_at"}
    assert rows[0]["created_at"].startswith("2025-01-02T03:04:05")
    code, out, _ = _run(capsys, "store", "query", filled.path, "--where", "status == 'failed'")
    assert code == 0 and "2 row(s)" in out and "arch-00100" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["store", "show", "{missing}"], "No result store at"),
        (["store", "query", "{dir}", "--where", "val_acc > 9"], "did you mean 'val_accuracy'"),
        (["store", "query", "{dir}", "--where", "space == "], "Bad filter"),
        (["store", "query", "{dir}", "--columns", "arch_id,nope"], "Unknown result column 'nope'"),
        (["store", "query", "{dir}", "--sort", "acc"], "Unknown result column 'acc'"),
        (["store", "compact", "{missing}"], "No result store at"),
        (["store", "repair", "{missing}"], "No result store at"),
        (["store", "show", "{dir}", "--limit", "-1"], "--limit must be 0 or more"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    filled: ResultStore, tmp_path: Path, capsys, argv: list[str], message: str
) -> None:
    argv = [a.format(dir=filled.path, missing=tmp_path / "missing") for a in argv]
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert err.startswith("nas: error: ") and message in err
    assert err.count("\n") == 1 and out == ""


def test_corrupt_file_exits_2_naming_it_and_repair_fixes_it(filled: ResultStore, capsys) -> None:
    bad = filled.files()[0]
    Path(bad).write_bytes(b"not parquet at all")
    code, _, err = _run(capsys, "store", "show", filled.path)
    assert code == 2 and bad in err and "nas store repair" in err and err.count("\n") == 1
    code, out, _ = _run(capsys, "store", "repair", filled.path, "--json")
    assert code == 0 and json.loads(out)["quarantined"] == [
        str(Path(filled.path) / "_quarantine" / Path(bad).name)
    ]
    code, out, _ = _run(capsys, "store", "show", filled.path, "--json")
    assert code == 0 and json.loads(out)["rows"] == 2


def test_compact_merges_and_reports(filled: ResultStore, capsys) -> None:
    code, out, _ = _run(capsys, "store", "compact", filled.path)
    assert code == 0 and out.startswith("Merged 2 files (8 rows) into ")
    code, out, _ = _run(capsys, "store", "compact", filled.path, "--json")
    assert code == 0 and json.loads(out)["merged_file"] is None
    assert len(ResultStore(filled.path)) == 8
    code, out, _ = _run(capsys, "store", "repair", filled.path)
    assert code == 0 and "nothing to do" in out


@pytest.mark.parametrize("command", ["show", "query", "compact", "repair"])
def test_every_command_has_help_and_json(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["store", command, "--help"])
    assert info.value.code == 0
    assert "--json" in capsys.readouterr().out


def test_show_uses_a_rich_table_on_a_terminal(filled: ResultStore, capsys, monkeypatch) -> None:
    from nas.cli import _store

    monkeypatch.setattr(_store, "stdout_is_tty", lambda: True)  # capsys is never a TTY
    code, out, _ = _run(capsys, "store", "show", filled.path, "--limit", "3")
    assert code == 0 and "most recent 3" in out and "┃" in out
