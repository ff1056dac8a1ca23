"""The state file of a run: what a killed search needs to continue where it stopped."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas.errors import NasError

__all__ = ["STATE_FILE", "RunState", "StateError"]

STATE_FILE = "search_state.json"
_STATE_FORMAT = 2


class StateError(NasError, ValueError):
    """The run directory's state file is unreadable or belongs to another search."""


@dataclass
class RunState:
    """One JSON file in the run directory, rewritten atomically at every checkpoint after
    the rows it counts are in the store (metrics live only in the store).

    Attributes:
        run_id: the run's id (the run directory's name when it was created).
        space, dataset, strategy_name: checked on resume.
        budget: proposals in all (None: until the strategy or the time runs out).
        seed: the evaluation seed of every trial.
        strategy: the strategy's ``state_dict()`` at the last checkpoint.
        proposals: candidate id -> arch JSON, in ask order.
        told: candidate ids whose row is stored and told, in tell order.
        time_budget_s: wall-clock limit of the whole search, resumed sessions included.
        elapsed_s: wall time the search has run so far, over all its sessions (saved at
            every checkpoint and, while trials run, every few seconds).
        trial_timeout_s: wall-clock limit of one trial (None: none).
        settings: what started the run (the CLI's flags), restored by ``nas search --resume``.
    """

    run_id: str
    space: str
    dataset: str
    strategy_name: str
    budget: int | None
    seed: int
    strategy: dict[str, Any] = field(default_factory=dict)
    proposals: dict[str, str] = field(default_factory=dict)
    told: list[str] = field(default_factory=list)
    time_budget_s: float | None = None
    elapsed_s: float = 0.0
    trial_timeout_s: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def pending(self) -> list[str]:
        """Candidates proposed but not yet told, in ask order."""
        done = set(self.told)
        return [cid for cid in self.proposals if cid not in done]

    def save(self, run_dir: str | os.PathLike[str]) -> None:
        """Write atomically (the store's temp file, fsync, rename): a reader sees the old or
        the new file."""
        from nas.store._io import resolve

        location = resolve(run_dir, None)
        location.ensure()
        payload = json.dumps({"format": _STATE_FORMAT, **self.__dict__}, separators=(",", ":"))
        location.write_text_atomic(STATE_FILE, payload)

    @classmethod
    def load(cls, run_dir: str | os.PathLike[str], *, required: bool = False) -> RunState | None:
        """The saved state, or None when the run directory has none (``required``: raise)."""
        path = Path(run_dir) / STATE_FILE
        if not path.is_file() and required:
            raise StateError(
                f"Run directory {str(run_dir)!r} holds no search state to resume; pass the run "
                f"directory the search printed (STORE.runs/RUN_ID), or start it without resume."
            )
        if not path.is_file():
            return None
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise StateError(
                f"Cannot read the search state {str(path)!r} ({exc}); remove it to start a "
                f"new search in that run directory."
            ) from None
        if raw.pop("format", None) != _STATE_FORMAT:
            raise StateError(
                f"{str(path)!r} is not a search state of format {_STATE_FORMAT} (written by "
                f"another engine version); start the search in another run directory."
            )
        try:
            return cls(**raw)
        except TypeError as exc:
            raise StateError(f"{str(path)!r} is not a valid search state: {exc}.") from None
