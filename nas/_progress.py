"""A progress bar on stderr when it is a terminal, nothing otherwise (shared by every command)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

__all__ = ["Advance", "progress_bar"]


class Advance(Protocol):
    def __call__(self, steps: int = 1, *, completed: int | None = None, note: str = "") -> None: ...


def _nothing(steps: int = 1, *, completed: int | None = None, note: str = "") -> None:
    return None


@contextmanager
def progress_bar(total: int | None, description: str, *, enabled: bool = True) -> Iterator[Advance]:
    """Yield ``advance(steps, completed=None, note="")``; draws a ``rich`` bar only when stderr
    is a TTY. ``completed`` sets the position instead of advancing; ``note`` is shown after
    the bar (e.g. the best result so far).

    Example:
        >>> with progress_bar(3, "work", enabled=False) as advance:
        ...     advance(3)
    """
    if not (enabled and sys.stderr.isatty()):
        yield _nothing
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total, note="")

        def advance(steps: int = 1, *, completed: int | None = None, note: str = "") -> None:
            if completed is None:
                bar.update(task, advance=steps, note=note)
            else:
                bar.update(task, completed=completed, note=note)

        yield advance
