"""Shared fixtures, and the ``source`` tests that rebuild tables from the public benchmark files.

Default runs read only what the repository ships (``datasets/``). Tests marked ``source``
read ``../shared/benchmarks`` (or ``$NAS_SHARED_BENCHMARKS``); they are deselected unless
``--source`` is given or ``$NAS_SHARED_BENCHMARKS`` is set, and once requested a missing
folder fails them, never skips them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCE_ENV = "NAS_SHARED_BENCHMARKS"


def shared_benchmarks() -> Path:
    """``$NAS_SHARED_BENCHMARKS``, else ``../shared/benchmarks`` beside the checkout."""
    env = os.environ.get(SOURCE_ENV)
    return Path(env) if env else REPO.parent / "shared" / "benchmarks"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--source",
        action="store_true",
        help="also run the tests marked 'source', which rebuild tables from "
        f"../shared/benchmarks (or ${SOURCE_ENV})",
    )


def _source_requested(config: pytest.Config) -> bool:
    return bool(config.getoption("--source") or os.environ.get(SOURCE_ENV))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:  # the public files are only ever read by a 'source' test
        if "benchmarks_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.source)
    if _source_requested(config):
        return
    source = [item for item in items if item.get_closest_marker("source") is not None]
    if source:
        config.hook.pytest_deselected(items=source)
        items[:] = [item for item in items if item.get_closest_marker("source") is None]
        config.stash[_DESELECTED] = len(source)


_DESELECTED = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    n = terminalreporter.config.stash.get(_DESELECTED, 0)
    if n:
        terminalreporter.write_line(
            f"{n} 'source' tests deselected: they rebuild tables from ../shared/benchmarks; "
            f"run them with --source (or set ${SOURCE_ENV})."
        )


@pytest.fixture(scope="session")
def benchmarks_dir() -> Path:
    """The public benchmark files; a ``source`` test that asks for them fails without them."""
    path = shared_benchmarks()
    if not path.is_dir():
        pytest.fail(
            f"'source' tests were requested but the benchmark files are not at {path}; set "
            f"${SOURCE_ENV} to the folder (shared/benchmarks) or run without --source."
        )
    return path
