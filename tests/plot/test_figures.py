"""Every figure of ``nas plot``, written as a real PNG and read back (size, not blank),
without touching the caller's matplotlib backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nas.bench import TabularEvaluator, compare_strategies
from nas.cli import main
from nas.plot import PlotError, pred_vs_true_figure, save_png
from nas.store import ResultStore

matplotlib = pytest.importorskip("matplotlib")


def _read_png(path: Path, width: int, height: int) -> np.ndarray:
    import matplotlib.image

    pixels = matplotlib.image.imread(str(path))
    assert pixels.shape[:2] == (height, width)
    ink = (pixels[..., :3] < 0.9).any(axis=-1).mean()  # share of pixels that are not white
    assert 0.01 < ink < 0.9, f"{path.name} looks blank ({ink:.3f} of pixels drawn)"
    return pixels


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 real NB-201 rows, each with a per-epoch curve ending at its accuracy."""
    table = TabularEvaluator("nb201-cifar10")
    rows = []
    for i, arch_id in enumerate(table.arch_ids()[:200]):
        r = table.lookup(arch_id).to_row()
        final = r["val_accuracy"]
        r["val_accuracy_curve"] = [final * (1 - 0.5 ** (e + 1)) for e in range(12)]
        r["run_id"], r["candidate_id"] = "run-a", f"c{i:04d}"
        rows.append(r)
    import pyarrow as pa

    from nas.store import SCHEMA

    path = tmp_path_factory.mktemp("plot") / "store"
    ResultStore(path).append(pa.Table.from_pylist(rows, schema=SCHEMA))
    return path


@pytest.fixture()
def svg_backend() -> Any:
    before = matplotlib.get_backend()
    matplotlib.use("svg")
    yield
    matplotlib.use(before)


@pytest.mark.parametrize(("kind", "size"), [("pareto", (768, 504)), ("curves", (768, 504)),
                                            ("parallel", (816, 504))])  # fmt: skip
def test_store_figures(
    kind: str, size: tuple[int, int], store: Path, tmp_path: Path, svg_backend: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out = tmp_path / f"{kind}.png"
    assert main(["plot", kind, str(store), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    _read_png(out, *size)
    assert matplotlib.get_backend() == "svg"  # the caller's backend is left alone


def test_regret_from_a_benchmark_json_and_from_compare(tmp_path: Path, svg_backend: Any) -> None:
    result = compare_strategies("nb-macro", ["random", "rea"], queries=20, seeds=3, progress=False)
    source = tmp_path / "bench.json"
    source.write_text(json.dumps(result.to_dict()))
    assert main(["plot", "regret", str(source), "--out", str(tmp_path / "r.png")]) == 0
    _read_png(tmp_path / "r.png", 768, 504)
    _read_png(result.plot(tmp_path / "every_query.png"), 768, 504)
    assert matplotlib.get_backend() == "svg"


def test_pred_vs_true_names_tau_and_spearman(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y_true = rng.uniform(80, 94, 300)
    y_pred = y_true + rng.normal(0, 1.5, 300)
    source = tmp_path / "pred.json"
    source.write_text(json.dumps({"y_true": y_true.tolist(), "y_pred": y_pred.tolist()}))
    assert main(["plot", "pred-vs-true", str(source), "--out", str(tmp_path / "p.png")]) == 0
    _read_png(tmp_path / "p.png", 576, 552)
    fig = pred_vs_true_figure(y_true, y_pred, title="t")
    title = fig.axes[0].get_title()
    assert "Kendall τ" in title and "Spearman ρ" in title
    assert fig.axes[0].get_xlabel() == "true test_accuracy"


def test_bad_input_is_one_line(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plot", "regret", str(store), "--out", str(tmp_path / "x.png")]) == 2
    assert "drawn from a JSON file" in capsys.readouterr().err
    assert main(["plot", "pareto", str(tmp_path / "nope"), "--out", str(tmp_path / "x.png")]) == 2
    assert "No result store or run directory" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # --top 0 would draw no trial
        main(["plot", "curves", str(store), "--out", str(tmp_path / "x.png"), "--top", "0"])
    assert exit_.value.code == 2
    assert "expected an integer >= 1, got '0'" in capsys.readouterr().err
    with pytest.raises(PlotError, match=r"\.png"):
        save_png(pred_vs_true_figure([1, 2], [1, 2]), tmp_path / "x.jpg")
