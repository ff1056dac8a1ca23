"""Helpers shared by the CLI command modules."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from nas.errors import NasError

__all__ = ["add_json_flag", "emit", "read_json_arg"]


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
        source = path.read_text()
    try:
        return json.loads(source)
    except json.JSONDecodeError as exc:
        raise CliInputError(
            f"{what}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            f"pass a JSON object or @file.json."
        ) from None


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()
