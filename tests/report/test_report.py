"""`nas report`: one self-contained HTML file, loaded and screenshotted in a real headless
Chromium (no console errors, the best arch id on the page)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from nas.cli import main
from nas.plot import PlotError
from nas.report import render_report
from nas.store import ResultStore


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real tpe search over the NB-201 table: its store and run directory."""
    root = tmp_path_factory.mktemp("report")
    argv = ["search", "--space", "nb201", "--evaluator", "tabular:nb201-cifar10", "--strategy",
            "tpe", "--budget", "30", "--store", str(root / "store")]  # fmt: skip
    assert main(argv) == 0
    [path] = (root / "store.runs").iterdir()  # beside the store, out of its data
    return path


def _best_id(store: Path) -> str:
    rows = [r for r in ResultStore(store).read().to_pylist() if r["status"] == "ok"]
    return max(rows, key=lambda r: r["val_accuracy"])["arch_id"]


def test_the_report_is_one_self_contained_file(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    assert main(["report", str(run_dir), "--out", str(out)]) == 0
    html = out.read_text()
    best = _best_id(run_dir.parent.parent / "store")
    assert f'<code id="best-arch">{best}</code>' in html
    assert html.count('src="data:image/png;base64,') == 2  # pareto and parallel
    assert "Not drawn: No ok row has a " in html  # table rows have no curves: said, not drawn
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)  # nothing fetched
    assert "&quot;git_commit&quot;" in html and "&quot;space_fingerprint&quot;" in html
    assert main(["report", str(run_dir), "--out", str(tmp_path / "r.pdf")]) == 2
    assert ".html output path" in capsys.readouterr().err


def test_top_lists_that_many_best_trials_and_must_be_at_least_one(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "top.html"
    assert main(["report", str(run_dir), "--out", str(out), "--top", "3"]) == 0
    best_table = out.read_text().split("<h2>Best trials</h2>")[1].split("<h2>")[0]
    assert best_table.count("<tr>") == 1 + 3  # the header and three trials
    for bad in ("0", "-3"):
        with pytest.raises(SystemExit) as exit_:
            main(["report", str(run_dir), "--out", str(out), "--top", bad])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert f"expected an integer >= 1, got '{bad}'" in err and "Traceback" not in err
    with pytest.raises(PlotError, match=r"int >= 1 best trials to list \(got top=0\)"):
        render_report(run_dir, top=0)


def _chromium() -> str | None:
    return next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p),
        None,
    )


@pytest.mark.slow
@pytest.mark.browser
def test_chromium_loads_the_report(run_dir: Path, tmp_path: Path) -> None:
    exe = _chromium()
    if exe is None:
        pytest.skip("no chromium binary (apt-get install chromium; .ci/run installs it)")
    out = tmp_path / "report.html"
    assert main(["report", str(run_dir), "--out", str(out)]) == 0
    shot = tmp_path / "report.png"
    flags = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", "--enable-logging=stderr", "--v=0",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1600"]  # fmt: skip
    done = subprocess.run(
        [*flags, f"--screenshot={shot}", out.as_uri()], capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    dom = subprocess.run(
        [*flags, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert _best_id(run_dir.parent.parent / "store") in dom.stdout
    assert dom.stdout.count("data:image/png;base64,") == 2
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))
    assert pixels.shape[:2] == (1600, 1200)
    ink = (pixels[..., :3] < 0.9).any(axis=-1).mean()
    assert ink > 0.02, f"the screenshot is blank ({ink:.4f} of pixels drawn)"
    keep = Path(__file__).parent / "screenshots"
    if keep.is_dir():  # a developer's folder for looking at the page (not in git)
        shutil.copy(shot, keep / "report.png")
