"""``nas bench``, ``nas benchmark search`` and ``nas search`` through ``nas.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nas.cli import main
from nas.store import ResultStore


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> object:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_bench_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    rows = _json(capsys, ["bench", "list", "--json"])["tables"]
    assert {r["name"]: r["rows"] for r in rows}["nb201-cifar10"] == 15625
    assert all(r["space"] and r["source"] for r in rows)
    shown = _json(capsys, ["bench", "show", "nb-macro", "--limit", "3", "--json"])
    assert shown["rows"] == 6561 and len(shown["top"]) == 3
    assert shown["top"][0]["val_accuracy"] == shown["stats"]["val_accuracy"]["max"]
    assert main(["bench", "show", "nb-macro"]) == 0
    assert "nb-macro: 6561 rows" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:  # a negative --limit showed "top 0" silently
        main(["bench", "show", "nb-macro", "--limit", "-1"])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and "expected an integer >= 0, got '-1'" in err
    assert len(err.splitlines()) == 1


def test_bench_list_shows_the_latency_tables_in_their_own_section(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = _json(capsys, ["bench", "list", "--json"])
    latency = {r["name"]: r for r in listed["latency_tables"]}
    assert {n: (r["rows"], r["devices"]) for n, r in latency.items()} == {
        "hat-latency": (16000, 8),
        "help-fbnet": (5000, 27),
        "help-nb201": (15625, 27),
    }
    assert latency["help-nb201"]["spaces"] == ["nb201", "nb201_c100"]
    assert all(r["bytes"] > 100_000 and "MIT" in r["source"] for r in latency.values())
    assert not set(latency) & {r["name"] for r in listed["tables"]}  # no accuracy: not results
    assert main(["bench", "list"]) == 0
    results, _, section = capsys.readouterr().out.partition("\nlatency tables")
    assert "nb201-cifar10" in results and "help-" not in results and "hat-" not in results
    lines = {line.split()[0]: line.split() for line in section.splitlines()[2:]}
    assert lines["help-nb201"][1:5] == ["15625", "27", "1.3", "MB"]
    assert lines["hat-latency"][1:3] == ["16000", "8"] and lines["hat-latency"][4] == "kB"

    monkeypatch.setenv("NAS_DATASETS_DIR", str(tmp_path))  # a folder without the files
    missing = _json(capsys, ["bench", "list", "--json"])["latency_tables"]
    assert {(r["rows"], r["devices"], r["bytes"]) for r in missing} == {(None, None, None)}
    assert main(["bench", "list"]) == 0
    assert "help-nb201" in capsys.readouterr().out


def test_search_tabular_json_writes_the_store(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    out = _json(
        capsys,
        [
            "search",
            "--space",
            "nb201",
            "--evaluator",
            "tabular:nb201-cifar10",
            "--strategy",
            "rea",
            "--option",
            "population_size=10",
            "--budget",
            "40",
            "--seed",
            "2",
            "--store",
            str(store),
            "--objectives",
            "val_accuracy:max,params:min",
            "--constraint",
            "params<=1e6",
            "--json",
        ],
    )
    # isomorphic proposals are stored as 'reused' rows (never evaluated twice)
    assert out["evaluations"] == 40 and set(out["statuses"]) <= {"ok", "reused"}
    assert sum(out["statuses"].values()) == 40 and out["statuses"]["ok"] > 20
    stored = ResultStore(store).results()
    assert len(stored) == 40 and {r.run_id for r in stored} == {out["run_id"]}
    best = out["best"]
    assert best["metrics"]["params"] <= 1e6
    assert best["metrics"]["val_accuracy"] == max(r.val_accuracy for r in stored if r.params <= 1e6)
    assert best["arch"]["space"] == "nb201" and len(out["pareto"]) >= 1


def test_search_time_budget_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["search", "--space", "nb_macro", "--evaluator", "tabular:nb-macro", "--budget", "1s"])
        == 0
    )
    text = capsys.readouterr().out
    assert "best arch_id" in text and "proposed" in text and "trained" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--budget", "ten"], "--budget: expected a positive number"),
        (["--budget", "5", "--constraint", "params<1e6"], "--constraint: expected METRIC<=VALUE"),
        (["--budget", "5", "--objectives", "params:down"], "--objectives: expected METRIC:max"),
        (["--budget", "5", "--strategy", "reaa"], "did you mean 'rea'"),
        (["--budget", "5", "--option", "population_size"], "--option: expected KEY=VALUE"),
        (["--budget", "5", "--resume", "no-such-run"], "holds no search state to resume"),
    ],
)
def test_search_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    base = ["search", "--space", "nb_macro", "--evaluator", "tabular:nb-macro"]
    assert main(base + argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_search_space_table_mismatch_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["search", "--space", "nb201", "--evaluator", "tabular:nb-macro", "--budget", "5"])
        == 2
    )
    assert "pass --space nb_macro" in capsys.readouterr().err


def test_benchmark_search_tiny(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plot = tmp_path / "regret.png"
    out = _json(
        capsys,
        [
            "benchmark",
            "search",
            "--table",
            "nb201-cifar10",
            "--strategies",
            "random,rea",
            "--queries",
            "20",
            "--seeds",
            "2",
            "--checkpoints",
            "5,10,20",
            "--plot",
            str(plot),
            "--json",
        ],
    )
    assert out["checkpoints"] == [5, 10, 20] and out["seeds"] == [0, 1]
    assert round(out["optimum_test_accuracy"], 2) == 94.37
    for name in ("random", "rea"):
        curve = out["strategies"][name]
        assert len(curve["test_accuracy_mean"]) == 3 and len(curve["final"]) == 2
        # the incumbent only improves on the search signal; regret is never negative
        assert all(r >= 0 for r in curve["regret_mean"])
        assert curve["regret_mean"][-1] == pytest.approx(
            out["optimum_test_accuracy"] - curve["test_accuracy_mean"][-1], abs=1e-3
        )
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_benchmark_search_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "benchmark",
                "search",
                "--table",
                "nb201-cifar10",
                "--strategies",
                "random,foo",
                "--queries",
                "5",
                "--seeds",
                "1",
            ]
        )
        == 2
    )
    assert "--strategies: unknown ['foo']" in capsys.readouterr().err
    assert main(["benchmark", "search", "--table", "nb201-c10", "--queries", "5"]) == 2
    assert "did you mean 'nb201-cifar10'" in capsys.readouterr().err


def test_search_bad_max_failures_is_one_line_before_ray_starts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import ray

    argv = ["search", "--space", "cnn1d", "--dataset", "mnist1d", "--budget", "2"]
    argv += ["--store", str(tmp_path / "s"), "--max-failures", "-2"]
    with pytest.raises(SystemExit) as exit_:  # refused as the flag is parsed
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--max-failures: expected an integer >= -1" in err and err.count("\n") == 1
    assert not ray.is_initialized()
