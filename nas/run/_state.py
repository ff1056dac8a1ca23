"""The driver's state file: what a killed search needs to continue exactly where it stopped.

One JSON file in the run directory, rewritten atomically (temp file, fsync, rename) after
every ask and every tell, holds the strategy's ``state_dict``, every proposal with its arch
and the ids of the candidates already told. Results themselves live only in the store; the
file never holds a metric the store does not.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas.errors import NasError

__all__ = ["STATE_FILE", "RunState", "StateError"]

STATE_FILE = "search_state.json"
_FORMAT = 1


class StateError(NasError, ValueError):
    """The run directory's state file is unreadable or belongs to another search."""


@dataclass
class RunState:
    """What the driver knows about one search; see the module docstring.

    Attributes:
        run_id: the search's id, stored on every result row.
        space: space name, checked on resume.
        dataset: dataset name, checked on resume.
        budget: total number of evaluations (None: until the strategy or time runs out).
        seed: the training seed of every trial.
        strategy: the strategy's ``state_dict()`` as of the last ask or tell.
        proposals: candidate id -> ``{"arch": arch JSON, "arch_id": ...}``, in ask order.
        told: candidate ids whose result is stored and told, in tell order.
        time_budget_s: wall-clock limit of the whole search, resumed sessions included.
        elapsed_s: wall time the search has run so far, over all its sessions.
    """

    run_id: str
    space: str
    dataset: str
    budget: int | None
    seed: int
    strategy: dict[str, Any] = field(default_factory=dict)
    proposals: dict[str, dict[str, Any]] = field(default_factory=dict)
    told: list[str] = field(default_factory=list)
    time_budget_s: float | None = None
    elapsed_s: float = 0.0

    def pending(self) -> list[str]:
        """Candidates proposed but not yet told, in ask order."""
        done = set(self.told)
        return [cid for cid in self.proposals if cid not in done]

    def save(self, run_dir: str | os.PathLike[str]) -> None:
        """Write atomically: a reader, or a resumed driver, sees the old or the new file."""
        directory = Path(run_dir)
        directory.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"format": _FORMAT, **self.__dict__}, separators=(",", ":"))
        fd, tmp = tempfile.mkstemp(prefix=f".{STATE_FILE}.", dir=directory)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, directory / STATE_FILE)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, run_dir: str | os.PathLike[str]) -> RunState | None:
        """The saved state, or None when the run directory has none."""
        path = Path(run_dir) / STATE_FILE
        if not path.is_file():
            return None
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise StateError(
                f"Cannot read the search state {str(path)!r} ({exc}); remove it to start a "
                f"new search in that run directory."
            ) from None
        if raw.pop("format", None) != _FORMAT:
            raise StateError(
                f"{str(path)!r} is not a search state of format {_FORMAT}; use another "
                f"run directory."
            )
        try:
            return cls(**raw)
        except TypeError as exc:
            raise StateError(f"{str(path)!r} is not a valid search state: {exc}.") from None
