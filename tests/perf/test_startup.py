"""`nas --help` starts without the heavy libraries (their import is most of its start-up time)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("numpy", "torch", "pyarrow", "ray", "onnx", "onnxruntime", "optuna", "scipy", "pandas")


def _imported_after(code: str) -> list[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    modules = set(json.loads(out.splitlines()[-1]))
    return sorted(m for m in HEAVY if m in modules)


def test_importing_the_cli_imports_nothing_heavy() -> None:
    assert _imported_after("import nas.cli") == []


def test_building_every_command_parser_imports_nothing_heavy() -> None:
    # build_parser imports every command module: `nas --help` and `nas COMMAND --help` pay this
    assert _imported_after("import nas.cli\nnas.cli.build_parser()") == []


def test_help_runs_and_lists_the_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "from nas.cli import main; main(['--help'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "spaces" in out and "search" in out
