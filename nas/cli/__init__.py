"""The ``nas`` command line.

Each command group lives in its own module beside this one and exposes
``register(subparsers)``; handlers take the parsed ``argparse.Namespace`` and return an
exit code. Any :class:`~nas.errors.NasError` (and bad arguments) becomes one line on
stderr and exit code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from nas.errors import NasError

__all__ = ["main"]

# Command-group modules, imported lazily so `nas --help` stays fast.
_COMMAND_MODULES = (
    "nas.cli._spaces",
    "nas.cli._store",
    "nas.cli._bench",
    "nas.cli._search",
    "nas.cli._train",
    "nas.cli._predictor",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, like every other bad input
        self.exit(2, f"nas: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from nas import __version__

    parser = _Parser(prog="nas", description="Neural architecture search engine.")
    parser.add_argument("--version", action="version", version=f"nas-engine {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a command group not written yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except NasError as exc:
        if args.debug:
            raise
        print(f"nas: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nas: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
