"""Best-epoch weights on disk: one directory per trial, one format for every executor.

A checkpoint is a directory holding ``weights.pt`` (the module's ``state_dict``, every tensor
on the CPU, read back with ``torch.load(weights_only=True)``) and ``checkpoint.json`` (the
format tag, the epoch and its metrics). A directory, not a file, because Ray Tune moves
checkpoints as directories (``ray.tune.Checkpoint.from_directory``): a Ray trial's weights
reach the run's storage path (a shared filesystem or ``s3://``/``gs://``) the same way an
in-process trial's reach the run directory.

A location is a local path or a URI that ``pyarrow.fs`` understands.

Example:
    >>> import tempfile
    >>> from torch import nn
    >>> net = nn.Linear(3, 2)
    >>> where = save_checkpoint(tempfile.mkdtemp(), cpu_state(net), {"epoch": 1})
    >>> ckpt = load_checkpoint(where)
    >>> ckpt.meta["epoch"], sorted(ckpt.state)
    (1, ['bias', 'weight'])
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.errors import NasError

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "FORMAT",
    "Checkpoint",
    "CheckpointError",
    "CheckpointKeeper",
    "checkpoint_bytes",
    "cpu_state",
    "delete_checkpoint",
    "load_checkpoint",
    "save_checkpoint",
]

FORMAT = "nas-checkpoint/1"
WEIGHTS = "weights.pt"
META = "checkpoint.json"


class CheckpointError(NasError, OSError):
    """A checkpoint is missing, unreadable or not in the ``nas`` checkpoint format."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: the weights (CPU tensors) and what was saved with them."""

    state: dict[str, torch.Tensor]
    meta: dict[str, Any]
    location: str


def cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of ``module.state_dict()`` (safe from a CUDA module, and from later
    optimizer steps changing the weights in place)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def save_checkpoint(
    directory: str | os.PathLike[str], state: Mapping[str, torch.Tensor], meta: Mapping[str, Any]
) -> str:
    """Write ``state`` and ``meta`` into the local ``directory`` (created); returns its path.

    Each file is written under a temporary name and renamed, so a reader sees the previous
    checkpoint or the new one, never half of one.
    """
    import torch

    if "://" in str(directory):  # Path() would quietly make a local folder named "s3:"
        raise CheckpointError(
            f"Checkpoints are written to a local directory (got {str(directory)!r}); a Ray "
            f"trial's weights reach remote storage through Ray's own checkpoint upload."
        )
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
        tmp = path / f".{WEIGHTS}.tmp"
        torch.save(dict(state), tmp)
        os.replace(tmp, path / WEIGHTS)
        tmp = path / f".{META}.tmp"
        tmp.write_text(json.dumps({"format": FORMAT, **meta}, indent=1, default=str))
        os.replace(tmp, path / META)
    except OSError as err:
        raise CheckpointError(
            f"Cannot write a checkpoint into {str(directory)!r} ({type(err).__name__}: "
            f"{err.strerror or err}); pass a writable local directory."
        ) from None
    return str(path)


def _filesystem(location: str) -> tuple[Any, str]:
    import pyarrow.fs as pafs

    if "://" in location:
        try:
            return pafs.FileSystem.from_uri(location)
        except Exception as err:
            raise CheckpointError(
                f"Cannot open checkpoint location {location!r}: {err}. Pass a local path or a "
                f"URI pyarrow supports (s3://, gs://, file://)."
            ) from None
    return pafs.LocalFileSystem(), str(Path(location).absolute())


def load_checkpoint(location: str | os.PathLike[str]) -> Checkpoint:
    """Read the checkpoint at ``location`` (a local directory or a ``pyarrow.fs`` URI).

    Raises:
        CheckpointError: nothing there (e.g. deleted after falling out of a run's top-k), or
            not a ``nas`` checkpoint.
    """
    location = str(location)
    fs, root = _filesystem(location)
    try:
        with fs.open_input_stream(f"{root}/{META}") as f:
            meta = json.loads(f.read().decode())
        with fs.open_input_stream(f"{root}/{WEIGHTS}") as f:
            blob = f.read()
    except (OSError, ValueError) as err:
        raise CheckpointError(
            f"No readable checkpoint at {location!r} ({type(err).__name__}: {err}); a run keeps "
            f"the weights of its top-k trials only (`nas search --keep-weights K`)."
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{location!r} is not a {FORMAT} checkpoint (its {META} says "
            f"{meta.get('format') if isinstance(meta, dict) else meta!r})."
        )
    import torch

    try:
        state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file fails inside torch's unpickler
        raise CheckpointError(
            f"The weights at {location!r} are unreadable ({type(err).__name__}); the file is "
            f"damaged or not written by save_checkpoint."
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(
            f"The weights at {location!r} are a {type(state).__name__}, not a state_dict."
        )
    return Checkpoint(state=state, meta=meta, location=location)


def checkpoint_bytes(location: str | os.PathLike[str]) -> int | None:
    """Size of the weights file at ``location`` in bytes; None when it is gone."""
    import pyarrow.fs as pafs

    fs, root = _filesystem(str(location))
    info = fs.get_file_info(f"{root}/{WEIGHTS}")
    return None if info.type == pafs.FileType.NotFound else int(info.size or 0)


def delete_checkpoint(location: str | os.PathLike[str]) -> None:
    """Remove the checkpoint directory at ``location``; a missing one is not an error."""
    fs, root = _filesystem(str(location))
    with contextlib.suppress(FileNotFoundError):
        fs.delete_dir(root)


class CheckpointKeeper:
    """Keeps the checkpoints of a run's ``keep`` best trials and deletes the others as they
    fall out of the top ``keep``, so a long search holds at most ``keep`` sets of weights
    (each about 4 bytes per parameter).

    Args:
        keep: how many to keep (0: none survive; None: keep every one).

    Example:
        >>> import tempfile
        >>> from torch import nn
        >>> keeper = CheckpointKeeper(1)
        >>> a = save_checkpoint(tempfile.mkdtemp(), cpu_state(nn.Linear(1, 1)), {})
        >>> b = save_checkpoint(tempfile.mkdtemp(), cpu_state(nn.Linear(1, 1)), {})
        >>> keeper.offer(a, 0.5), keeper.offer(b, 0.9) == [a], keeper.kept() == [b]
        ([], True, True)
    """

    def __init__(self, keep: int | None) -> None:
        if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 0):
            raise CheckpointError(
                f"Expected the number of checkpoints to keep to be an int >= 0 or None (got "
                f"{keep!r})."
            )
        self.keep = keep
        self._scores: dict[str, Any] = {}  # location -> score (bigger is better)
        self._order: dict[str, int] = {}  # location -> offer number: earlier wins ties

    def offer(self, location: str, score: Any) -> list[str]:
        """Rank ``location`` by ``score`` (bigger is better, earlier wins ties); returns the
        locations deleted because they are no longer among the best ``keep``."""
        self._scores[location] = score
        self._order.setdefault(location, len(self._order))
        if self.keep is None:
            return []
        ranked = sorted(self._scores, key=lambda loc: (self._scores[loc], -self._order[loc]))
        dropped = ranked[: max(0, len(ranked) - self.keep)]
        for loc in dropped:
            delete_checkpoint(loc)
            del self._scores[loc]
        return dropped

    def kept(self) -> list[str]:
        """The locations kept, best first."""
        return sorted(self._scores, key=lambda loc: (-self._scores[loc], self._order[loc]))
