"""Benchmark tables in the store schema, and a tabular evaluator that answers from them.

The shipped tables (``datasets/NAME.parquet``, a card ``NAME.md`` beside each) are public NAS
benchmarks converted into :data:`nas.store.SCHEMA`: ``nb201-cifar10``, ``nb201-cifar100``,
``nb-macro``, ``nb101-cifar10``, ``nb301-cifar10``, ``tnb101-{micro,macro}-{object,scene}``
and ``suite-zero``; :func:`add_table` (``nas bench add``) registers a user's own.
:class:`TabularEvaluator` looks an arch up by ``arch_id``, so strategies can be compared over
many seeds in seconds.

Example:
    >>> import numpy as np
    >>> from nas.bench import TabularEvaluator, list_tables
    >>> from nas.space import get_space
    >>> "nb201-cifar10" in list_tables()
    True
    >>> ev = TabularEvaluator("nb201-cifar10")
    >>> arch = get_space("nb201").sample(np.random.default_rng(0))
    >>> ev.evaluate(arch, seed=0).status
    'ok'
"""

from __future__ import annotations

from nas.bench._compare import Comparison, StrategyCurve, compare_strategies
from nas.bench._convert import build_table, import_table
from nas.bench._evaluator import TabularEvaluator
from nas.bench._tables import (
    TableInfo,
    datasets_dir,
    list_tables,
    load_table,
    table_info,
    table_path,
    table_rows,
)
from nas.bench._user import add_table

__all__ = [
    "Comparison",
    "StrategyCurve",
    "TableInfo",
    "TabularEvaluator",
    "add_table",
    "build_table",
    "compare_strategies",
    "datasets_dir",
    "import_table",
    "list_tables",
    "load_table",
    "table_info",
    "table_path",
    "table_rows",
]
