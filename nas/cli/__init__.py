"""The ``nas`` command line.

Each command group lives in its own module beside this one and exposes
``register(subparsers)``; handlers take the parsed ``argparse.Namespace`` and return an
exit code. Every failure becomes one line on stderr (:func:`error_line`): exit code 2 for
bad input (a :class:`~nas.errors.NasError`, a bad argument or path, input nested too
deeply), 1 for a run that failed (:class:`~nas.errors.EvaluationError`, an unexpected
error); ``--debug`` shows the traceback instead. Output piped into a reader that stops
early (``| head``) ends quietly.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from nas.errors import EvaluationError, NasError

__all__ = ["error_line", "main"]

# Command-group modules, imported lazily so `nas --help` stays fast.
_COMMAND_MODULES = (
    "nas.cli._spaces",
    "nas.cli._store",
    "nas.cli._bench",
    "nas.cli._plot",
    "nas.cli._report",
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
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        # The reader (`| head`) has what it wanted; keep Python's exit flush quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("nas: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        code, line = error_line(exc)
        print(f"nas: error: {line}", file=sys.stderr)
        return code


def error_line(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one line the CLI prints for ``exc``.

    Example:
        >>> error_line(RecursionError("maximum recursion depth exceeded"))[0]
        2
    """
    if isinstance(exc, NasError):
        code, text = (1 if isinstance(exc, EvaluationError) else 2), str(exc)
    elif isinstance(exc, RecursionError):
        code, text = 2, "the input is nested too deeply to parse; flatten it."
    elif isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename!r}" if exc.filename else ""
        code, text = 2, f"{exc.strerror}{where}; check the path and its permissions."
    elif isinstance(exc, ValueError | OverflowError | OSError):  # ArrowInvalid is a ValueError
        code, text = 2, f"invalid input ({type(exc).__name__}: {exc})."
    else:
        code, text = (
            1,
            (
                f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback "
                f"and report it)."
            ),
        )
    text = " ".join(text.split())
    return code, text if len(text) <= 600 else text[:597] + "..."


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
