"""``nas bench add``: a user's own tabular benchmark joins the catalogue.

The user's Parquet file (one row per arch, any columns) becomes a store-schema table
``NAME.parquet`` in :func:`~nas.bench.datasets_dir`, with a generated card ``NAME.md`` and a
registration ``NAME.table.json`` that :func:`~nas.bench.list_tables` finds in every later
process. Each arch is validated against the space and compiled, so ``arch``, ``arch_id``,
``graph_hash``, ``params`` and ``flops`` are our IR's; the other columns go to ``extra``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nas.bench._convert import _compile_all, _results, ir_row, one_row_per_arch, parse_arch
from nas.bench._tables import USER_SUFFIX, TableInfo, datasets_dir, is_builtin
from nas.errors import NasError, StoreError

__all__ = ["add_table"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def add_table(
    name: str,
    path: str | Path,
    *,
    space: str,
    arch_column: str,
    signal: str,
    report: str | None = None,
    dataset: str = "custom",
    license: str = "not stated",
    replace: bool = False,
    processes: int | None = None,
    progress: bool = True,
) -> Path:
    """Convert the user's table at ``path`` and register it as benchmark table ``name``.

    Args:
        name: the new table's name (lower case, digits, ``-``, ``_``, ``.``).
        path: a Parquet file with one row per arch.
        space: a registered space every arch belongs to.
        arch_column: the column holding each arch: arch JSON (``{"space": ..., "values":
            {...}}``), a ``{path: value}`` JSON mapping, or a string the space's benchmark
            parser reads (``nb201``: ``|nor_conv_3x3~0|+...``).
        signal: the column that becomes ``val_accuracy`` (the search signal).
        report: the column that becomes ``test_accuracy`` (the metric a search is judged by).
        dataset: the rows' ``dataset`` value.
        license: the data's license, written on the card.
        replace: overwrite a table of the user's with this name.
        processes: compile workers (default: up to 2).
        progress: draw a progress bar when stderr is a terminal.

    Returns:
        The written table, ``datasets_dir() / f"{name}.parquet"``.

    Example:
        >>> add_table("my-nb201", "runs.parquet", space="nb201", arch_column="arch_str",
        ...           signal="val_acc", report="test_acc")  # doctest: +SKIP
    """
    from nas.space import get_space

    folder = datasets_dir()
    target = folder / f"{name}.parquet"
    _check_name(name, folder, replace)
    get_space(space)  # an unknown space fails here, with close matches
    rows = _read_user(Path(path), [arch_column, signal, *([report] if report else [])])
    archs = []
    for i, row in enumerate(rows):
        try:
            archs.append(parse_arch(space, row[arch_column]))
        except NasError as exc:
            raise StoreError(f"Row {i} of {path}, column {arch_column!r}: {exc}") from None
    facts = _compile_all(
        [(space, a.to_json()) for a in archs], processes=processes, progress=progress, what=name
    )
    pairs = []
    for row, ir in zip(rows, facts):
        extra = {k: _jsonable(v) for k, v in row.items() if k not in (arch_column, signal, report)}
        kept = ir_row(
            ir,
            space=space,
            dataset=dataset,
            val_accuracy=_number(row[signal], signal),
            test_accuracy=_number(row[report], report) if report else None,
            extra=extra,
        )
        pairs.append((kept, {signal: kept["val_accuracy"], **extra}))
    table = _results(one_row_per_arch(pairs), name)
    info = TableInfo(
        name=name,
        spaces=(space,),
        datasets=(dataset,),
        source_folder="",
        source=f"user table {Path(path).name} (nas bench add; license: {license})",
        signal=f"column {signal!r} of {Path(path).name}",
        reported=f"column {report!r} of {Path(path).name}" if report else "none (null)",
    )
    folder.mkdir(parents=True, exist_ok=True)
    _write(table, target)
    _write_text(
        folder / f"{name}.md", _card(info, Path(path), table, len(rows), arch_column, license)
    )
    _write_text(folder / f"{name}{USER_SUFFIX}", json.dumps(asdict(info), indent=1) + "\n")
    return target


def _check_name(name: str, folder: Path, replace: bool) -> None:
    if not _NAME.match(name):
        raise StoreError(
            f"Table name {name!r} is not allowed; use lower-case letters, digits, '-', '_' "
            f"and '.' (at most 64), e.g. 'my-nb201'."
        )
    if is_builtin(name):
        raise StoreError(f"{name!r} is a shipped table; pick another name for yours.")
    if (folder / f"{name}{USER_SUFFIX}").exists() and not replace:
        raise StoreError(f"You already added a table {name!r}; pass --replace to overwrite it.")
    if (folder / f"{name}.parquet").exists() and not (folder / f"{name}{USER_SUFFIX}").exists():
        raise StoreError(
            f"{folder / name}.parquet exists and is not a table you added; pick another name."
        )


def _read_user(path: Path, columns: list[str]) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    if not path.is_file():
        raise StoreError(f"Table file {path} not found; pass the path of a Parquet file.")
    try:
        table = pq.read_table(path)
    except OSError as exc:
        raise StoreError(f"{path} is not a readable Parquet file ({exc}).") from None
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise StoreError(
            f"{path} has no column {missing[0]!r}; its columns: {', '.join(table.column_names)}."
        )
    if table.num_rows == 0:
        raise StoreError(f"{path} has no rows.")
    return table.to_pylist()


def _number(value: Any, column: str | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StoreError(f"Column {column!r} must hold numbers (got {value!r}).")
    return float(value) if math.isfinite(value) else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # dates, decimals: their text


def _write(table: Any, path: Path) -> None:
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp, compression="zstd", compression_level=19)
    os.replace(tmp, path)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _card(
    info: TableInfo, source: Path, table: Any, rows_in: int, arch_column: str, license: str
) -> str:
    import pyarrow.compute as pc

    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    lines = [
        f"# {info.name} — a user table (nas bench add)",
        "",
        f"**Rows: {table.num_rows:,}** · space `{info.space}` · dataset `{info.datasets[0]}`",
        "",
        "## Source",
        f"- File `{source.resolve()}` (sha256 `{digest}`), {rows_in:,} rows.",
        f"- **License: {license}**.",
        "",
        "## How converted",
        f"`nas bench add {info.name} {source.name} --space {info.space} --arch-column "
        f"{arch_column}`: every arch was validated against `{info.space}` and compiled, so "
        "`arch`, `arch_id`, `graph_hash`, `params` and `flops` are our IR's; "
        f"`val_accuracy` = {info.signal}; `test_accuracy` = {info.reported}; every other "
        "column is in `extra` (rows of one arch are one row, the others in `extra.same_arch`).",
        "",
        "## Sanity figures",
    ]
    for column in ("val_accuracy", "test_accuracy", "params", "flops"):
        mm = pc.min_max(table[column]).as_py()
        lines.append(f"- `{column}` {mm['min']} .. {mm['max']} ({table[column].null_count} nulls)")
    lines.append(f"- {pc.count_distinct(table['graph_hash']).as_py()} distinct `graph_hash` values")
    return "\n".join(lines) + "\n"
