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

# Every command and the module that registers it (with its one-line help, shown by
# `nas --help`): only the module of the command being run is imported, so `nas --help` and
# `nas spaces` pay for no other command's imports. tests/cli/test_startup.py checks that
# this table says what the modules register.
_COMMANDS: dict[str, tuple[str, str]] = {
    "spaces": ("nas.cli._spaces", "list the registered search spaces"),
    "sample": ("nas.cli._spaces", "sample archs from a space (JSON lines)"),
    "compile": ("nas.cli._spaces", "compile an arch and summarize its IR graph"),
    "export": ("nas.cli._spaces", "export an arch, or a stored trial's trained network, to ONNX"),
    "store": (
        "nas.cli._store",
        "inspect, query and maintain a result store (a directory of Parquet files)",
    ),
    "bench": ("nas.cli._bench", "list, show, rebuild and add benchmark tables"),
    "benchmark": ("nas.cli._bench", "compare search strategies on benchmark tables"),
    "plot": (
        "nas.cli._plot",
        "draw a figure (regret, pareto, curves, parallel, pred-vs-true) as a PNG",
    ),
    "report": ("nas.cli._report", "write a self-contained HTML report of a store or run directory"),
    "search": (
        "nas.cli._search",
        "search a space with a strategy (tabular benchmark or real training)",
    ),
    "train": (
        "nas.cli._train",
        "train one architecture (or reproduce a stored trial) and print its metrics",
    ),
    "predictor": ("nas.cli._predictor", "GENNAPE-style performance predictor"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, like every other bad input
        self.exit(2, f"nas: error: {message} (see `{self.prog} --help`)\n")


def build_parser(commands: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``nas`` parser with every command module registered, or only the modules of
    ``commands``: the other commands stay listed in ``--help`` without importing theirs."""
    from nas import __version__

    parser = _Parser(prog="nas", description="Neural architecture search engine.")
    parser.add_argument("--version", action="version", version=f"nas-engine {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    wanted = _COMMANDS if commands is None else commands
    for name in dict.fromkeys(_COMMANDS[c][0] for c in wanted):
        importlib.import_module(name).register(sub)
    for cmd, (_, help_text) in _COMMANDS.items():
        if cmd not in sub.choices:  # listed, not loaded: running it loads its module
            sub.add_parser(cmd, help=help_text, add_help=False)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` (the first word that names one), if any."""
    return next((word for word in argv if word in _COMMANDS), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command(argv)
    parser = build_parser([command] if command is not None else [])
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
