"""The one Arrow schema every stored result follows, ours or imported from a benchmark.

Per-epoch curves carry a ``_curve`` suffix so that the bare names (``val_accuracy``,
``test_accuracy``) are the final metrics that filters and rankings use. Accuracies are in
percent. The schema version travels in the Parquet key-value metadata of every file.

Version 2 (this one) adds ``strategy``, ``candidate_id``, ``reused_from`` and
``checkpoint``, ``record`` (a search row's reproducibility record: strategy and settings,
library versions, git commit, command line, space fingerprint, device; see
``nas.search._record``), the statuses ``cut`` and ``reused``, and puts ``run_id`` and
``candidate_id`` in the key, so every evaluation of every run is its own row. Files of
version 1 read as they are: the new columns read as nulls, and their rows (no run id, no
candidate id) keep the version-1 key.
"""

from __future__ import annotations

import pyarrow as pa

from nas.errors import NasError
from nas.search._status import STATUSES

__all__ = [
    "KEY_COLUMNS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "SCHEMA_VERSION_KEY",
    "STATUSES",
    "ResultError",
]

SCHEMA_VERSION = "2"
SCHEMA_VERSION_KEY = b"nas.schema_version"

# Two rows with the same key are the same row written twice (a retried append); appends
# dedupe on it. Two evaluations of one run are two candidates; two runs are two run ids.
KEY_COLUMNS = (
    "space", "arch_id", "dataset", "recipe", "seed", "fidelity", "run_id", "candidate_id",
)  # fmt: skip

_CURVE = pa.list_(pa.float64())

SCHEMA = pa.schema(
    [
        pa.field("space", pa.string(), nullable=False),
        pa.field("space_version", pa.string()),
        pa.field("arch", pa.string(), nullable=False),  # canonical JSON
        pa.field("arch_id", pa.string(), nullable=False),
        pa.field("graph_hash", pa.string()),
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("recipe", pa.string()),  # canonical JSON
        pa.field("seed", pa.int64()),
        pa.field("fidelity", pa.int32()),  # epochs trained, or the benchmark's epoch budget
        pa.field("status", pa.string(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("train_loss_curve", _CURVE),
        pa.field("val_accuracy_curve", _CURVE),
        pa.field("test_accuracy_curve", _CURVE),
        pa.field("epoch_seconds", _CURVE),
        pa.field("val_accuracy", pa.float64()),
        pa.field("test_accuracy", pa.float64()),
        pa.field("val_loss", pa.float64()),
        pa.field("params", pa.int64()),
        pa.field("flops", pa.int64()),
        pa.field("latency_ms", pa.float64()),
        pa.field("train_seconds", pa.float64()),
        pa.field("extra", pa.string()),  # JSON object: zero-cost proxies, other benchmark columns
        pa.field("run_id", pa.string()),  # the run directory's name
        pa.field("trial_id", pa.string()),  # the executor's id (a Ray Tune trial id)
        pa.field("strategy", pa.string()),
        pa.field("candidate_id", pa.string()),  # the strategy's id, unique within a run
        pa.field("reused_from", pa.string()),  # status "reused": the candidate_id it reuses
        pa.field("checkpoint", pa.string()),  # path/URI of the trial's best-epoch weights
        pa.field("host", pa.string()),
        pa.field("node_id", pa.string()),
        pa.field("engine_version", pa.string()),
        pa.field("record", pa.string()),  # JSON object: the reproducibility record of the row
        pa.field("created_at", pa.timestamp("us", tz="UTC")),
        pa.field("source", pa.string(), nullable=False),  # "nas" or the benchmark's name
    ],
    metadata={SCHEMA_VERSION_KEY: SCHEMA_VERSION.encode()},
)


class ResultError(NasError, ValueError):
    """A result or a table of results does not fit the store's schema."""
