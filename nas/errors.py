"""The exception hierarchy of ``nas``.

Every error the engine raises on purpose is a :class:`NasError`. Each subclass also
inherits the builtin exception it mirrors, so ``except ValueError`` keeps working for
callers that do not know about ``nas``. Messages say what was expected, what was got,
where, and how to fix it; the CLI prints them as one line and exits with code 2.
"""

from __future__ import annotations

__all__ = [
    "ArchError",
    "DataError",
    "EvaluationError",
    "GraphError",
    "NasError",
    "RegistryError",
    "SpaceError",
    "StoreError",
    "TrainingError",
    "describe_error",
]


class NasError(Exception):
    """Root of every error raised on purpose by ``nas``."""


class SpaceError(NasError, ValueError):
    """A search space is malformed (bad decision bounds, bad JSON, duplicate names)."""


class ArchError(NasError, ValueError):
    """An architecture does not belong to its space (missing, extra or out-of-range decision)."""


class GraphError(NasError, ValueError):
    """An IR graph is invalid (shape mismatch, cycle, unknown input, bad op attributes)."""


class RegistryError(NasError, LookupError):
    """A name is unknown to a registry, or registered twice."""

    def __str__(self) -> str:  # LookupError would quote the message like a KeyError; keep it plain
        return str(self.args[0]) if self.args else ""


class StoreError(NasError, OSError):
    """A result store cannot be read or written (corrupt file, schema mismatch, bad path)."""


class DataError(NasError, ValueError):
    """A dataset is missing, malformed or asked for with bad arguments."""


class EvaluationError(NasError, RuntimeError):
    """An architecture could not be evaluated (not in a table, training failed)."""


class TrainingError(EvaluationError):
    """Training diverged or failed; the message carries the reason that is stored."""


def describe_error(err: BaseException, limit: int = 500) -> str:
    """One line ``Type: message`` (stored errors are one line), cut to ``limit`` characters.

    Example:
        >>> describe_error(ValueError("bad   value"))
        'ValueError: bad value'
    """
    text = " ".join(str(err).split())
    line = f"{type(err).__name__}: {text}" if text else type(err).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."
