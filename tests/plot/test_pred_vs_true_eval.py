"""`nas predictor eval --plot` draws the model the table scored: same tau, no re-fit."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nas.cli import main
from nas.plot import figure_from_source


def _title_scores(fig) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    match = re.search(r"Kendall τ (-?[\d.]+), Spearman ρ (-?[\d.]+)", fig.axes[0].get_title())
    assert match is not None, fig.axes[0].get_title()
    return float(match.group(1)), float(match.group(2))


def test_eval_plot_shows_the_evaluated_models_tau(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "pvt.png"
    argv = ["predictor", "eval", "--table", "nb201-cifar10", "--split", "random"]
    argv += ["--train-sizes", "12", "--test-size", "80", "--seeds", "1", "--seed", "3"]
    argv += ["--epochs", "3", "--predictors", "gennape,flops", "--plot", str(png), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    (row,) = [r for r in out["rows"] if r["predictor"] == "gennape" and r["archs"] == "all"]
    plot = out["plot"]
    assert (plot["predictor"], plot["train_size"], plot["seed"]) == ("gennape", 12, 3)
    assert plot["kendall"] == pytest.approx(row["kendall"], abs=1e-12)
    assert plot["spearman"] == pytest.approx(row["spearman"], abs=1e-12)
    assert png.stat().st_size > 1000
    saved = json.loads(Path(plot["json"]).read_text())
    assert len(saved["y_true"]) == len(saved["y_pred"]) == len(saved["arch_ids"]) == 80
    # the figure redrawn from the kept predictions prints the table's tau and rho
    tau, rho = _title_scores(figure_from_source("pred-vs-true", plot["json"]))
    assert tau == pytest.approx(row["kendall"], abs=5e-4)
    assert rho == pytest.approx(row["spearman"], abs=5e-4)


def test_eval_plot_without_a_learned_predictor_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["predictor", "eval", "--table", "nb201-cifar10", "--split", "random", "--seeds", "1"]
    argv += ["--train-sizes", "12", "--test-size", "40", "--predictors", "flops"]
    argv += ["--plot", str(tmp_path / "x.png")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "learned predictor" in err
