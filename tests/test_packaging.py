"""Packaging: every ``nas.*`` module is where tools look, in the checkout and in a wheel.

``predictors/`` and ``search_spaces/`` stay at the repository root and are packaged as
``nas.predictors`` and ``nas.search_spaces`` through in-tree symlinks under ``nas/``; the
editable install is a static ``.pth`` path, so a user's mypy finds the package.
"""

from __future__ import annotations

import ast
import importlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("predictors", "search_spaces")  # top-level folders shipped as nas.<folder>


@pytest.mark.parametrize("folder", FOLDERS)
def test_nas_subpackage_is_the_top_level_folder(folder: str) -> None:
    link = REPO / "nas" / folder
    assert link.is_symlink() and link.resolve() == REPO / folder
    module = importlib.import_module(f"nas.{folder}")
    assert Path(str(module.__file__)).resolve() == REPO / folder / "__init__.py"


def test_shipped_code_imports_the_folders_only_as_nas_subpackages() -> None:
    # the checkout root is on sys.path in an editable install, so `import predictors` would
    # work there and fail from a wheel
    files = {p.resolve() for d in ("nas", *FOLDERS) for p in (REPO / d).rglob("*.py")}
    offenders = []
    for path in sorted(files):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            offenders += [f"{where} imports {n}" for n in names if n.split(".")[0] in FOLDERS]
    assert offenders == []


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_wheel_ships_and_imports_predictors_and_search_spaces(tmp_path: Path) -> None:
    src = tmp_path / "src"  # a copy, so the build leaves nothing in the checkout
    skip = shutil.ignore_patterns(".*", "build", "dist", "*.egg-info", "__pycache__")
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for name in ("nas", *FOLDERS, "datasets"):
        shutil.copytree(REPO / name, src / name, symlinks=True, ignore=skip)
    built = _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "-w", tmp_path / "dist", src, cwd=tmp_path,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("nas_engine-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in FOLDERS:
        shipped = {p.name for p in (REPO / folder).glob("*.py")}
        assert {n.rsplit("/", 1)[1] for n in names if n.startswith(f"nas/{folder}/")} == shipped
    assert "nas/py.typed" in names
    tables = {
        p.name for p in (REPO / "datasets").iterdir() if p.suffix in (".parquet", ".md", ".json")
    }
    assert {n.rsplit("/", 1)[1] for n in names if n.startswith("nas/_datasets/")} == tables
    dist_info = "-".join(wheel.name.split("-")[:2]) + ".dist-info"
    assert {n.split("/", 1)[0] for n in names} == {"nas", dist_info}  # no tests/, datasets/

    # install the wheel alone; its dependencies come from this environment
    target = tmp_path / "site"
    installed = _run(
        sys.executable, "-m", "pip", "install", "--no-deps", "--target", target, wheel,
        cwd=tmp_path,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    code = (
        "import nas.predictors, nas.search_spaces, nas.space\n"
        "print(nas.predictors.__file__); print(nas.search_spaces.__file__)\n"
        "print(nas.space.get_space('nb201').size())\n"
        "from nas.bench import load_table; print(load_table('nb201-cifar10').num_rows)"
    )
    env_path = f"PYTHONPATH={target}"
    ran = _run("env", "-u", "NAS_DATASETS_DIR", env_path, sys.executable, "-c", code, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    pred_file, spaces_file, size, rows = ran.stdout.split()
    assert Path(pred_file) == target / "nas" / "predictors" / "__init__.py"
    assert Path(spaces_file) == target / "nas" / "search_spaces" / "__init__.py"
    assert size == "15625"
    assert rows == "15625"  # the shipped tables travel inside the wheel


_GOOD = """\
import numpy as np
from nas.predictors import GennapePredictor, PredictorConfig, ndcg_at_k

model = GennapePredictor(PredictorConfig(hidden=8, n_clusters=2))
score: float = ndcg_at_k(np.array([3.0, 2.0]), np.array([0.9, 0.5]), k=2)
"""
_BAD = """\
from nas.predictors import PredictorConfig

config = PredictorConfig(hidden="eight")
"""


@pytest.mark.slow
def test_user_script_type_checks_against_the_installed_package(tmp_path: Path) -> None:
    # outside the checkout, with no mypy config: what a user's mypy sees after the README install
    (tmp_path / "good.py").write_text(_GOOD)
    (tmp_path / "bad.py").write_text(_BAD)
    checked = _run(sys.executable, "-m", "mypy", "good.py", "bad.py", cwd=tmp_path)
    errors = [line for line in checked.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, checked.stdout
    assert errors[0].startswith('bad.py:3: error: Argument "hidden" to "PredictorConfig"')
    assert checked.returncode == 1
