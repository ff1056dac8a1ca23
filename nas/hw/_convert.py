"""Rebuild the shipped latency tables from the public benchmark files (``nas bench import``).

Latencies are stored as float32 (7 significant digits, far below the measurements' noise) with
byte-stream-split encoding, so the three tables stay near 2 MB; NB-201 arch strings are checked to parse into ``nb201`` archs and
every HAT row to give a ``hat_subtransformer`` arch whose features are the row's.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nas.errors import StoreError
from nas.hw._tables import HAT_KEY_COLUMNS, PREFIX, _hat_key, hat_features, latency_table_info

__all__ = ["build_latency_table", "import_latency_table"]


def _read(folder: Path, file: str) -> Any:
    import pyarrow.parquet as pq

    path = folder / file
    if not path.is_file():
        raise StoreError(f"Expected {path} in the benchmark source folder; pass --source again.")
    return pq.read_table(path)


def _float32(table: Any, names: list[str]) -> list[Any]:
    import pyarrow as pa

    return [table.column(n).cast(pa.float32()) for n in names]


def _help_nb201(folder: Path) -> Any:
    import pyarrow as pa

    from nas.search_spaces.nb201 import format_arch_str, parse_arch_str

    src = _read(folder, "nb201_latency_help.parquet").sort_by("arch_index")
    strings = src.column("arch_str").to_pylist()
    for s in strings:  # every row is an arch of our nb201 space, written back the same
        if format_arch_str(parse_arch_str(s)) != s:
            raise StoreError(f"NB-201 arch string {s!r} does not round-trip through nb201")
    devices = sorted(c for c in src.column_names if c.startswith(PREFIX))
    return pa.table(
        [src.column("arch_index").cast(pa.int32()), pa.array(strings), *_float32(src, devices)],
        names=["arch_index", "arch_str", *devices],
    )


def _help_fbnet(folder: Path) -> Any:
    import pyarrow as pa

    src = _read(folder, "fbnet_latency_help.parquet").sort_by("sample_index")
    devices = sorted(c for c in src.column_names if c.startswith(PREFIX))
    return pa.table(
        [src.column("sample_index").cast(pa.int32()), src.column("ops"), *_float32(src, devices)],
        names=["sample_index", "ops", *devices],
    )


def _hat(folder: Path) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    from nas.search_spaces.transformer import hat_arch, hat_subtransformer

    src = _read(folder, "hat_latency.parquet")
    rows = src.select(HAT_KEY_COLUMNS).to_pylist()
    space = hat_subtransformer()
    keys = []
    for row in rows:
        key = _hat_key(row)
        if _hat_key(hat_features(hat_arch(space, row))) != key:
            raise StoreError(f"HAT row {row} does not map to an arch with its features")
        keys.append(key)
    task, hardware = (src.column(c).cast(pa.string()) for c in ("task", "hardware"))
    device = pa.array([f"{t}_{h}" for t, h in zip(task.to_pylist(), hardware.to_pylist())])
    total = pc.add(src.column("latency_mean_encoder"), src.column("latency_mean_decoder"))
    lat = [
        src.column(f"latency_{stat}_{part}").cast(pa.float32())
        for stat in ("mean", "std")
        for part in ("encoder", "decoder")
    ]
    ints = [src.column(c).cast(pa.int16()) for c in HAT_KEY_COLUMNS if not c.endswith("_avg")]
    avgs = [src.column(c) for c in HAT_KEY_COLUMNS if c.endswith("_avg")]
    names = [c for c in HAT_KEY_COLUMNS if not c.endswith("_avg")]
    names += [c for c in HAT_KEY_COLUMNS if c.endswith("_avg")]
    return pa.table(
        [device, task, hardware, pa.array(keys), *ints, *avgs,
         total.cast(pa.float32()), *lat],
        names=["device", "task", "hardware", "hat_key", *names, "lat_ms",
               "lat_ms_encoder", "lat_ms_decoder", "std_ms_encoder", "std_ms_decoder"],
    )  # fmt: skip


_FILES: dict[str, Callable[[Path], Any]] = {
    "help-nb201": _help_nb201,
    "help-fbnet": _help_fbnet,
    "hat-latency": _hat,
}


def build_latency_table(name: str, source: str | Path) -> Any:
    """Build latency table ``name`` from the public files; returns a ``pyarrow.Table``.

    Args:
        name: a name from :func:`~nas.hw.list_latency_tables`.
        source: the folder of the public files (``<root>/<source_folder>``) or its root.
    """
    from nas.bench._convert import source_folder

    info = latency_table_info(name)
    return _FILES[info.name](source_folder(source, info.source_folder))


def import_latency_table(
    name: str, source: str | Path, *, out_dir: str | Path | None = None
) -> Path:
    """Rebuild latency table ``name`` and write it as zstd Parquet (atomically); returns the path."""
    import pyarrow.parquet as pq

    from nas.bench import datasets_dir

    table = build_latency_table(name, source)
    path = Path(out_dir or datasets_dir()) / f"{latency_table_info(name).name}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    floats = [f.name for f in table.schema if f.type == "float"]
    pq.write_table(
        table,
        tmp,
        compression="zstd",
        compression_level=19,
        row_group_size=1 << 16,
        use_dictionary=[n for n in table.column_names if n not in floats],
        column_encoding=dict.fromkeys(floats, "BYTE_STREAM_SPLIT"),  # a third smaller
    )
    os.replace(tmp, path)
    return path
