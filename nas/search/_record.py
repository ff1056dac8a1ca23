"""The reproducibility record every stored row of a search carries (its ``record`` column):
one JSON object of the :data:`RECORD_FIELDS`, all but the trial's device built once per
session (:func:`run_record`)."""

from __future__ import annotations

import functools
import json
import math
import platform
import shlex
import subprocess
import sys
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

__all__ = ["LIBRARIES", "RECORD_FIELDS", "run_record", "trial_record"]

LIBRARIES = ("nas-engine", "torch", "ray", "optuna", "numpy", "pyarrow")
RECORD_FIELDS = (
    "strategy", "strategy_settings", "run_settings", "libraries", "python", "git_commit",
    "command", "space", "space_version", "space_fingerprint", "evaluator", "device",
)  # fmt: skip


def run_record(
    strategy: Any, space: Any, evaluator: Any, settings: Mapping[str, Any]
) -> dict[str, Any]:
    """The record's fields shared by every row of a run (all but ``device``)."""
    return {
        "strategy": getattr(strategy, "name", type(strategy).__name__),
        "strategy_settings": _settings_of(strategy),
        "run_settings": {k: _plain(v) for k, v in settings.items()},
        "libraries": _libraries(),
        "python": platform.python_version(),
        "git_commit": _git_commit(),
        "command": shlex.join(sys.argv),
        "space": space.name,
        "space_version": space.version,
        "space_fingerprint": space.fingerprint,
        "evaluator": type(evaluator).__name__,
    }


def trial_record(base: Mapping[str, Any], extra: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """``base`` plus the trial's device: the trainer's (``device`` in ``extra``, a mapping or
    its JSON), or ``none`` for a row no model was trained for (a lookup, a reused or cut row)."""
    # Canonical JSON spells every key as it is: no '"device"' in the text, no device key.
    found = json.loads(extra) if isinstance(extra, str) and '"device"' in extra else extra
    device = found.get("device") if isinstance(found, Mapping) else None
    return {**base, "device": str(device) if device else "none"}


def _settings_of(strategy: Any) -> dict[str, Any]:
    """The strategy's public settings: plain attributes, objectives and constraints."""
    out: dict[str, Any] = {}
    for key, value in sorted(vars(strategy).items()):
        if key.startswith("_") or key == "space":
            continue
        if key == "objectives":
            out[key] = [f"{o.metric}:{o.direction}" for o in value]
        elif key == "constraints":
            out[key] = [[c.metric, c.min, c.max] for c in value]
        elif value is None or isinstance(value, (bool, int, float, str)):
            out[key] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    """A JSON value: non-finite floats become None, anything else not JSON its str."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return str(value)
    return value


@functools.cache
def _libraries() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


@functools.cache
def _git_commit() -> str | None:
    """HEAD of the git checkout the command runs in (None: not one, or no git)."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) >= 40 else None
