"""`nas spaces|sample|compile|export` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from nas.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_spaces_lists_builtins(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path))  # the listing's cache goes here
    code, out, _ = run(capsys, "spaces", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    sizes = {r["name"]: r["size"] for r in rows}
    assert code == 0 and sizes["nb201"] == 15625 and sizes["nb_macro"] == 6561
    assert sizes["cnn1d"] is None  # continuous recipe decisions


def _listed(cache: Path) -> tuple[list[dict], list[str]]:
    """`nas spaces --json` in a fresh process: its rows, and the heavy modules it imported."""
    import os
    import subprocess
    import sys

    probe = (
        "import contextlib, io, json, sys\nfrom nas.cli import main\nout = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n    main(['spaces', '--json'])\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] == 'numpy' or m == 'nas.space']\n"
        "print(json.dumps([out.getvalue(), heavy]))"
    )
    env = {**os.environ, "NAS_CACHE_DIR": str(cache)}
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    text, heavy = json.loads(run.stdout.splitlines()[-1])
    return [json.loads(line) for line in text.splitlines()], heavy


def test_spaces_listing_is_cached_and_then_imports_nothing_heavy(tmp_path: Path) -> None:
    first, heavy_first = _listed(tmp_path)
    assert "nas.space" in heavy_first  # built and counted once
    (cached,) = tmp_path.glob("spaces-*.json")
    again, heavy_again = _listed(tmp_path)
    assert again == first and heavy_again == []
    cached.write_text("{not json")  # a damaged cache is rebuilt, not trusted
    rebuilt, heavy_rebuilt = _listed(tmp_path)
    assert rebuilt == first and "nas.space" in heavy_rebuilt
    assert json.loads(cached.read_text()) == first


def test_spaces_listing_reads_the_registry_entry_point_group() -> None:
    from nas.cli._spaces import SPACES_GROUP
    from nas.space._registry import ENTRY_POINT_GROUP

    assert SPACES_GROUP == ENTRY_POINT_GROUP


def test_sample_is_reproducible_and_compiles(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _, first, _ = run(capsys, "sample", "cnn1d", "-n", "3", "--seed", "5")
    _, again, _ = run(capsys, "sample", "cnn1d", "-n", "3", "--seed", "5")
    assert first == again and len(first.splitlines()) == 3
    arch_file = tmp_path / "arch.json"
    arch_file.write_text(first.splitlines()[0])
    code, out, _ = run(capsys, "compile", "cnn1d", "--arch", f"@{arch_file}", "--json")
    info = json.loads(out)
    assert code == 0 and info["output_shape"] == [10]
    assert info["arch_id"] == json.loads(first.splitlines()[0])["arch_id"]
    assert info["params"] > 0 and len(info["graph_hash"]) == 64


def test_export_writes_a_checked_onnx_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    arch = json.dumps({f"layer{i}": d for i, d in enumerate("01201212")})
    path = tmp_path / "macro.onnx"
    code, out, _ = run(capsys, "export", "nb_macro", "--arch", arch, "--onnx", str(path), "--json")
    info = json.loads(out)
    assert code == 0 and path.is_file()
    onnx.checker.check_model(onnx.load(str(path)))
    assert info["onnxruntime_max_abs_diff"] < 1e-4


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["compile", "nb201", "--arch", '{"cell.n1_from0": "conv"}'], "cell.n1_from0"),
        (["compile", "nb201", "--arch", "{bad"], "not valid JSON"),
        (["compile", "nb2011", "--arch", "{}"], "did you mean 'nb201'"),
        (["compile", "nb_macro", "--arch", "@/does/not/exist.json"], "does not exist"),
        (["sample", "nb201", "-n", "0"], "-n must be >= 1"),
        (["compile", "nb_macro", "--arch", '{"layer0": "0"}'], "Missing decision 'layer1'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_unknown_flag_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sample", "nb201", "--bogus"])
    assert exc.value.code == 2
