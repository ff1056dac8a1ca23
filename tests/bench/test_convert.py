"""Rebuilding a shipped table from the public files gives the shipped table."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from nas.bench import import_table, load_table
from nas.cli import main
from nas.errors import StoreError


@pytest.mark.slow
@pytest.mark.source
def test_nb_macro_rebuild_equals_the_shipped_table(benchmarks_dir: Path, tmp_path: Path) -> None:
    path = import_table("nb-macro", benchmarks_dir, out_dir=tmp_path, processes=1, progress=False)
    rebuilt = pq.read_table(path)
    assert rebuilt.equals(load_table("nb-macro"))


@pytest.mark.source
@pytest.mark.parametrize("name", ["nb301-cifar10", "tnb101-macro-object", "nb101-cifar10"])
def test_suite_zero_cut_rebuild_equals_the_shipped_table(
    name: str, benchmarks_dir: Path, tmp_path: Path
) -> None:
    path = import_table(name, benchmarks_dir, out_dir=tmp_path, processes=1, progress=False)
    assert pq.read_table(path).equals(load_table(name))


def test_import_from_a_wrong_folder_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"nas_bench_macro_cifar10\.parquet"):
        import_table("nb-macro", tmp_path, out_dir=tmp_path, progress=False)


def test_cli_import_bad_source_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["bench", "import", "nb-macro", "--source", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and err.count("\n") == 1
