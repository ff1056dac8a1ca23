"""Live progress of a search: a rich display on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import math
import sys
import time
from typing import IO, Any

from nas.store import Result

__all__ = ["SearchProgress"]

_PLAIN_EVERY_S = 10.0  # a plain line at least this often, and one per finished trial


def _clock(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class SearchProgress:
    """Counts finished, failed and running trials, the best so far, elapsed and remaining time.

    On a TTY (``stream.isatty()``) it draws a ``rich`` live panel; otherwise it prints one
    plain line per finished trial and at least every 10 s while trials run. ``enabled=False``
    prints nothing.

    Example:
        >>> import io
        >>> p = SearchProgress(total=2, stream=io.StringIO())
        >>> p.start(); p.close()
    """

    def __init__(
        self,
        total: int | None,
        *,
        time_budget_s: float | None = None,
        concurrency: int = 1,
        enabled: bool = True,
        stream: IO[str] | None = None,
        metric: str = "val_accuracy",
        done: int = 0,
        failed: int = 0,
    ) -> None:
        self.total = total
        self.time_budget_s = time_budget_s
        self.concurrency = max(1, concurrency)
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.metric = metric
        self.done = done  # finished trials, failed ones included (earlier sessions too)
        self.failed = failed
        self.running = 0
        self.best: Result | None = None
        self._previous = done  # finished before this session: not in the rate estimate
        self._start = time.monotonic()
        self._last_line = 0.0
        self._live: Any = None

    # -- state ---------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - self._start

    def remaining(self) -> float | None:
        """Seconds left: the time budget, or the finish rate so far times the trials left."""
        estimates = []
        if self.time_budget_s is not None:
            estimates.append(max(0.0, self.time_budget_s - self.elapsed()))
        finished_here = self.done - self._previous
        if self.total is not None and finished_here > 0:
            estimates.append(self.elapsed() / finished_here * max(0, self.total - self.done))
        return min(estimates) if estimates else None

    def record(self, result: Result) -> None:
        """Count one finished trial."""
        self.done += 1
        if result.status != "ok":
            self.failed += 1
        value = getattr(result, self.metric, None)
        if result.status == "ok" and value is not None and math.isfinite(value):
            best = None if self.best is None else getattr(self.best, self.metric)
            if best is None or value > best:
                self.best = result
        self._draw(force=True)

    def set_running(self, running: int) -> None:
        if running != self.running:
            self.running = running
            self._draw(force=False)
        else:
            self._draw(force=False)

    def line(self) -> str:
        total = "?" if self.total is None else str(self.total)
        best = "-"
        if self.best is not None:
            best = f"{getattr(self.best, self.metric):.2f} ({self.best.arch_id})"
        return (
            f"[{self.done}/{total}] done {self.done - self.failed}, failed {self.failed}, "
            f"running {self.running} | best {self.metric} {best} | "
            f"elapsed {_clock(self.elapsed())}, remaining {_clock(self.remaining())}"
        )

    # -- drawing -------------------------------------------------------------------------
    def start(self) -> None:
        if not self.enabled:
            return
        if self.stream.isatty():
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.stream)
            self._live = Live(self._renderable(), console=console, refresh_per_second=2)
            self._live.start()
        self._draw(force=True)

    def _renderable(self) -> Any:
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        total = "?" if self.total is None else str(self.total)
        table.add_row("trials", f"{self.done}/{total} finished, {self.running} running")
        table.add_row("failed", str(self.failed))
        if self.best is not None:
            b = self.best
            table.add_row("best", f"{self.metric} {getattr(b, self.metric):.2f}  arch {b.arch_id}")
        table.add_row(
            "time", f"{_clock(self.elapsed())} elapsed, {_clock(self.remaining())} remaining"
        )
        return table

    def _draw(self, *, force: bool) -> None:
        if not self.enabled:
            return
        if self._live is not None:
            self._live.update(self._renderable())
            return
        now = time.monotonic()
        if force or now - self._last_line >= _PLAIN_EVERY_S:
            self._last_line = now
            print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.update(self._renderable())
            self._live.stop()
            self._live = None
