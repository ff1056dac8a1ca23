"""`import nas.store` stays light: pyarrow is the store, but no torch and no ray."""

from __future__ import annotations

import subprocess
import sys


def test_import_does_not_pull_in_torch_or_ray() -> None:
    code = (
        "import sys, nas.store, nas.cli._store; print(sorted({'torch', 'ray'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_api_is_curated() -> None:
    import nas.store

    assert "ResultStore" in nas.store.__all__ and "Result" in nas.store.__all__
    assert all(not name.startswith("_") for name in nas.store.__all__)
    assert all(hasattr(nas.store, name) for name in nas.store.__all__)
