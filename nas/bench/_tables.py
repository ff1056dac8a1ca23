"""The catalogue of shipped benchmark tables and how to find and load them.

Tables are Parquet files in the store schema (:data:`nas.store.SCHEMA`) under the
repository's ``datasets/`` folder (data only, never a Python package), one card
``NAME.md`` beside each. ``$NAS_DATASETS_DIR`` points elsewhere (a wheel install, a
mirror); a table is read once per process and then served from memory.
"""

from __future__ import annotations

import difflib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas._registry import Registry
from nas.errors import RegistryError, StoreError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "ALIASES",
    "TableInfo",
    "datasets_dir",
    "is_builtin",
    "list_tables",
    "load_table",
    "read_cached",
    "read_table_info",
    "table_info",
    "table_path",
]

DATASETS_ENV = "NAS_DATASETS_DIR"


@dataclass(frozen=True)
class TableInfo:
    """What one shipped table holds and where it came from.

    Attributes:
        name: table name (``nb201-cifar10``), also the file stem under ``datasets/``.
        spaces: the ``space`` values of its rows (built-in spaces where one exists).
        datasets: the ``dataset`` values of its rows.
        source_folder: folder under ``shared/benchmarks`` that ``nas bench import`` reads
            (empty for a user's table, which ``nas bench add`` writes).
        source: one line of provenance (benchmark, paper, license).
        signal: what ``val_accuracy`` holds (the search signal).
        reported: what ``test_accuracy`` holds (the metric a search is judged by).
    """

    name: str
    spaces: tuple[str, ...]
    datasets: tuple[str, ...]
    source_folder: str
    source: str
    signal: str
    reported: str

    @property
    def space(self) -> str:
        """The table's space, or the comma-joined spaces of a multi-space table."""
        return ",".join(self.spaces)


_TABLES: Registry[TableInfo] = Registry("benchmark table")

for _info in (
    TableInfo(
        name="nb201-cifar10",
        spaces=("nb201",),
        datasets=("cifar10",),
        source_folder="nasbench201",
        source="NAS-Bench-201 / NATS-Bench TSS (Dong & Yang, ICLR 2020; TPAMI 2021), CIFAR-10",
        signal="12-epoch accuracy on the cifar10-valid validation split",
        reported="200-epoch test accuracy (trained on train+valid), mean over seeds",
    ),
    TableInfo(
        name="nb201-cifar100",
        spaces=("nb201_c100",),
        datasets=("cifar100",),
        source_folder="nasbench201",
        source="NAS-Bench-201 / NATS-Bench TSS (Dong & Yang, ICLR 2020; TPAMI 2021), CIFAR-100",
        signal="12-epoch accuracy on the x-valid split",
        reported="200-epoch accuracy on the x-test split, mean over seeds",
    ),
    TableInfo(
        name="nb-macro",
        spaces=("nb_macro",),
        datasets=("cifar10",),
        source_folder="nas_bench_macro",
        source="NAS-Bench-Macro (Su et al., CVPR 2021; Apache-2.0), CIFAR-10",
        signal="mean test accuracy of 3 runs (the benchmark has no validation split)",
        reported="mean test accuracy of 3 runs",
    ),
    *(
        TableInfo(
            name=name,
            spaces=(space,),
            datasets=(dataset,),
            source_folder="nasbench_suite_zero_subsets",
            source=f"{bench} rows of the NAS-Bench-Suite-Zero subsets from NASLib "
            "(Krishnakumar et al., NeurIPS 2022; Apache-2.0)",
            signal=signal,
            reported="none (test_accuracy is null: the subsets record one accuracy)",
        )
        for name, bench, space, dataset, signal in (
            (
                "nb101-cifar10",
                "NAS-Bench-101 (Ying et al., ICML 2019)",
                "nb101",
                "cifar10",
                "CIFAR-10 validation accuracy (108 epochs) as NASLib stores it",
            ),
            (
                "nb301-cifar10",
                "NAS-Bench-301 (Siems, Zela et al., 2020; surrogate)",
                "nb301",
                "cifar10",
                "surrogate-predicted CIFAR-10 validation accuracy as NASLib stores it",
            ),
            *(
                (
                    f"tnb101-{kind}-{task.removeprefix('class_')}",
                    f"TransNAS-Bench-101 {kind} (Duan et al., CVPR 2021)",
                    f"tnb101_{kind}_{task.removeprefix('class_')}",
                    task,
                    f"{task} validation top-1 accuracy as NASLib stores it",
                )
                for kind in ("micro", "macro")
                for task in ("class_object", "class_scene")
            ),
        )
    ),
    TableInfo(
        name="suite-zero",
        spaces=(
            "nasbench101",
            "nb201",
            "nb201_c100",
            "nasbench301",
            "transbench101_micro",
            "transbench101_macro",
        ),
        datasets=(
            "cifar10",
            "cifar100",
            "class_scene",
            "class_object",
            "autoencoder",
            "normal",
            "jigsaw",
            "room_layout",
            "segmentsemantic",
        ),
        source_folder="nasbench_suite_zero_subsets",
        source="NAS-Bench-Suite-Zero subsets from NASLib (Krishnakumar et al., NeurIPS 2022; "
        "Apache-2.0)",
        signal="each benchmark's validation metric as NASLib stores it (accuracy % or task score)",
        reported="none (test_accuracy is null); zero-cost proxies are in 'extra'",
    ),
):
    _TABLES.register(_info.name, _info)


#: Earlier names of tables, still accepted everywhere a table name is.
ALIASES = {"nb101": "nb101-cifar10", "nb301": "nb301-cifar10"}
#: A user's table (``nas bench add``) is registered by ``NAME.table.json`` beside its Parquet.
USER_SUFFIX = ".table.json"


def _user_tables() -> dict[str, TableInfo]:
    folder = datasets_dir()
    found: dict[str, TableInfo] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob(f"*{USER_SUFFIX}")):
        info = read_table_info(path)
        found[info.name] = info
    return found


def read_table_info(path: Path) -> TableInfo:
    """The :class:`TableInfo` saved in a user table's ``NAME.table.json``."""
    try:
        obj = json.loads(path.read_text())
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in obj.items()}
        return TableInfo(**fields)
    except (OSError, ValueError, TypeError) as exc:
        raise StoreError(
            f"Table registration {path} is unreadable ({exc}); re-run `nas bench add` for it "
            f"or delete the file."
        ) from None


def list_tables() -> list[str]:
    """Names of the shipped benchmark tables and of the user's tables (``nas bench add``).

    Example:
        >>> "nb201-cifar10" in list_tables()
        True
    """
    return sorted({*_TABLES.names(), *_user_tables()})


def is_builtin(name: str) -> bool:
    """True for a table shipped with the project (``nas bench import`` rebuilds it)."""
    return ALIASES.get(name, name) in _TABLES


def table_info(name: str) -> TableInfo:
    """The :class:`TableInfo` of table ``name`` (a ``RegistryError`` names close matches)."""
    name = ALIASES.get(name, name)
    if name in _TABLES:
        return _TABLES.get(name)
    user = _user_tables()
    if name in user:
        return user[name]
    from nas.hw._tables import list_latency_tables

    if name in list_latency_tables():
        raise RegistryError(
            f"{name!r} is a latency table (no accuracy), not a benchmark table; read it with "
            f"nas.hw.latency_table({name!r}) or use it as an objective: "
            "`--objectives val_accuracy:max,latency_DEVICE:min`."
        )
    close = difflib.get_close_matches(name, [*_TABLES.names(), *user], n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise RegistryError(
        f"Unknown benchmark table {name!r}{hint} (known: {', '.join(list_tables())}); "
        f"add your own with `nas bench add`."
    )


def datasets_dir() -> Path:
    """``$NAS_DATASETS_DIR``, else the shipped tables: ``nas/_datasets``.

    In a checkout ``nas/_datasets`` is a symlink to the repository's ``datasets/`` folder;
    a wheel carries the files themselves, so the tables work from an installed package.
    """
    env = os.environ.get(DATASETS_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[1] / "_datasets"


def table_path(name: str) -> Path:
    """Where table ``name`` lives (whether or not it exists yet)."""
    return datasets_dir() / f"{table_info(name).name}.parquet"


_CACHE: dict[Path, tuple[float, pa.Table]] = {}
_LOCK = threading.Lock()


def load_table(name: str) -> pa.Table:
    """Read table ``name`` (rows in the ``nas.store`` schema); cached per process.

    The cache is keyed by path and modification time, so a table rebuilt by
    ``nas bench import`` is read again.

    Example:
        >>> load_table("nb201-cifar10").num_rows
        15625
    """
    how = (
        f"rebuild it with `nas bench import {name} --source DIR`"
        if is_builtin(name)
        else "add it again with `nas bench add`"
    )
    return read_cached(table_path(name), f"Benchmark table {name!r}", how)


def read_cached(path: Path, what: str, how: str) -> pa.Table:
    """Read the Parquet file ``path`` once per process (again when its mtime changes).

    A missing or unreadable file is a ``StoreError``: "``what`` not found at PATH; ``how``".
    """
    import pyarrow.parquet as pq

    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        raise StoreError(f"{what} not found at {path}; {how} or set ${DATASETS_ENV}.") from None
    with _LOCK:
        hit = _CACHE.get(path)
        if hit is not None and hit[0] == mtime:
            return hit[1]
    try:
        table = pq.read_table(path)
    except OSError as exc:
        raise StoreError(f"{what} at {path} is unreadable ({exc}); {how}.") from None
    with _LOCK:
        _CACHE[path] = (mtime, table)
    return table


def table_rows(name: str) -> int | None:
    """Row count from the Parquet footer (no data read); None when the file is missing."""
    import pyarrow.parquet as pq

    path = table_path(name)
    if not path.is_file():
        return None
    return int(pq.ParquetFile(path).metadata.num_rows)
