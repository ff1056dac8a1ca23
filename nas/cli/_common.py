"""Helpers shared by the CLI command modules."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nas.errors import NasError

__all__ = ["add_json_flag", "emit", "int_at_least", "number_at_least", "read_json_arg"]


def add_json_flag(parser: Any) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable JSON output")


def emit(obj: Any, *, as_json: bool, text: str | None = None) -> None:
    """Print ``obj`` as JSON (``--json``) or ``text`` (a human-readable rendering)."""
    if as_json:
        print(json.dumps(obj, indent=None, default=str))
    else:
        print(text if text is not None else json.dumps(obj, indent=2, default=str))


class CliInputError(NasError, ValueError):
    """Bad command-line input."""


def read_json_arg(value: str, what: str = "--arch") -> Any:
    """Parse a JSON string, or ``@PATH`` to read JSON from a file."""
    source = value
    if value.startswith("@"):
        path = Path(value[1:])
        if not path.is_file():
            raise CliInputError(f"{what}: file {str(path)!r} does not exist.")
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CliInputError(
                f"{what}: cannot read {str(path)!r} as UTF-8 text ({exc})."
            ) from None
    return loads_strict(source, what)


def loads_strict(text: str, what: str) -> Any:
    """``json.loads`` that refuses NaN/Infinity, huge numbers and deep nesting in one line."""

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number; give a finite number")

    try:
        return json.loads(text, parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise CliInputError(
            f"{what}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            f"pass a JSON object or @file.json."
        ) from None
    except (RecursionError, ValueError) as exc:  # 5,000 '[' or a 4,300-digit integer
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise CliInputError(f"{what}: not usable JSON ({why}).") from None


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer >= ``low`` (ASCII digits only)."""

    def parse(text: str) -> int:
        if not re.fullmatch(r"\s*[-+]?[0-9]{1,18}\s*", text) or int(text) < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
        return int(text)

    return parse


def number_at_least(low: float, *, above: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a finite number >= ``low`` (> ``low`` with ``above``)."""

    def parse(text: str) -> float:
        try:
            value = float(text) if text.isascii() else math.nan
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < low or (above and value == low):
            sign = ">" if above else ">="
            raise argparse.ArgumentTypeError(
                f"expected a finite number {sign} {low:g}, got {text!r}"
            )
        return value

    return parse


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()
