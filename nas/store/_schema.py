"""The one Arrow schema every stored result follows, ours or imported from a benchmark.

Per-epoch curves carry a ``_curve`` suffix so that the bare names (``val_accuracy``,
``test_accuracy``) are the final metrics that filters and rankings use. Accuracies are in
percent. The schema version travels in the Parquet key-value metadata of every file.
"""

from __future__ import annotations

import pyarrow as pa

from nas.errors import NasError

__all__ = [
    "KEY_COLUMNS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "SCHEMA_VERSION_KEY",
    "STATUSES",
    "ResultError",
]

SCHEMA_VERSION = "1"
SCHEMA_VERSION_KEY = b"nas.schema_version"

STATUSES = ("ok", "failed", "timeout", "diverged", "pending")

# Two rows with the same key are the same experiment; appends dedupe on it.
KEY_COLUMNS = ("space", "arch_id", "dataset", "recipe", "seed", "fidelity")

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
        pa.field("run_id", pa.string()),
        pa.field("trial_id", pa.string()),
        pa.field("host", pa.string()),
        pa.field("node_id", pa.string()),
        pa.field("engine_version", pa.string()),
        pa.field("created_at", pa.timestamp("us", tz="UTC")),
        pa.field("source", pa.string(), nullable=False),  # "nas" or the benchmark's name
    ],
    metadata={SCHEMA_VERSION_KEY: SCHEMA_VERSION.encode()},
)


class ResultError(NasError, ValueError):
    """A result or a table of results does not fit the store's schema."""
