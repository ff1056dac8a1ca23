"""The catalogue of shipped latency tables, and a lookup of an arch's latency on a device.

A latency table is not a result table: it holds no accuracy, only what one architecture costs on
each device setting, so it lives beside the result tables (``datasets/NAME.parquet`` and a card
``NAME.md``) with a catalogue of its own. Each table says which space its rows belong to and how
an arch of that space finds its row (its *key*): ``help-nb201`` by the official NB-201 arch
string, ``hat-latency`` by the per-layer averages HAT's table records, ``help-fbnet`` by the op
list (FBNet's space is not one of ours, so its rows serve the latency predictor only).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nas._registry import Registry
from nas.errors import EvaluationError, RegistryError

if TYPE_CHECKING:
    import pyarrow as pa

    from nas.space import Arch

__all__ = [
    "LatencyTable",
    "LatencyTableInfo",
    "latency_table",
    "latency_table_info",
    "latency_table_path",
    "list_latency_tables",
]

#: Prefix of a device column in a shipped latency table (milliseconds).
PREFIX = "lat_ms_"


@dataclass(frozen=True)
class LatencyTableInfo:
    """What one shipped latency table holds and where it came from.

    Attributes:
        name: table name, also the file stem under ``datasets/``.
        spaces: the registered spaces whose archs find a row (empty: no space of ours).
        source_folder: folder under ``shared/benchmarks`` that ``nas bench import`` reads.
        source: one line of provenance (benchmark, paper, license).
        key: the column an arch's key is matched against.
    """

    name: str
    spaces: tuple[str, ...]
    source_folder: str
    source: str
    key: str


_TABLES: Registry[LatencyTableInfo] = Registry("latency table")
for _info in (
    LatencyTableInfo(
        name="help-nb201",
        spaces=("nb201", "nb201_c100"),
        source_folder="hw_latency_help",
        source="HELP (Lee et al., NeurIPS 2021; MIT) NAS-Bench-201 latencies, 27 device settings, "
        "several from HW-NAS-Bench (Li et al., ICLR 2021; MIT)",
        key="arch_str",
    ),
    LatencyTableInfo(
        name="help-fbnet",
        spaces=(),
        source_folder="hw_latency_help",
        source="HELP (Lee et al., NeurIPS 2021; MIT) FBNet-space latencies of 5,000 sampled "
        "archs, 27 device settings",
        key="ops",
    ),
    LatencyTableInfo(
        name="hat-latency",
        spaces=("hat_subtransformer",),
        source_folder="hat_transformer_latency",
        source="HAT (Wang et al., ACL 2020; MIT) measured SubTransformer latencies, 4 tasks x "
        "3 hardware (8 settings)",
        key="hat_key",
    ),
):
    _TABLES.register(_info.name, _info)


def list_latency_tables() -> list[str]:
    """Names of the shipped latency tables.

    Example:
        >>> list_latency_tables()
        ['hat-latency', 'help-fbnet', 'help-nb201']
    """
    return sorted(_TABLES.names())


def latency_table_info(name: str) -> LatencyTableInfo:
    """The :class:`LatencyTableInfo` of ``name`` (a ``RegistryError`` names close matches)."""
    if name in _TABLES:
        return _TABLES.get(name)
    close = difflib.get_close_matches(name, _TABLES.names(), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise RegistryError(
        f"Unknown latency table {name!r}{hint} (known: {', '.join(list_latency_tables())})."
    )


def _hat_key(values: Mapping[str, Any]) -> str:
    """The row key of HAT's table: dims, layer counts and per-layer averages (2 decimals)."""
    return "|".join(f"{float(values[c]):.2f}" for c in HAT_KEY_COLUMNS)


HAT_KEY_COLUMNS = (
    "encoder_embed_dim",
    "encoder_layer_num",
    "encoder_ffn_embed_dim_avg",
    "encoder_self_attention_heads_avg",
    "decoder_embed_dim",
    "decoder_layer_num",
    "decoder_ffn_embed_dim_avg",
    "decoder_self_attention_heads_avg",
    "decoder_ende_attention_heads_avg",
    "decoder_arbitrary_ende_attn_avg",
)


def hat_features(arch: Arch) -> dict[str, float]:
    """HAT's latency-table features of a ``hat_subtransformer`` arch (averages over layers)."""
    v = arch.values
    enc = [i for i in range(6) if f"encoder.{i}.ffn" in v]
    dec = range(int(v["decoder.depth"]))

    def mean(keys: Sequence[str]) -> float:
        return float(np.mean([v[k] for k in keys]))

    return {
        "encoder_embed_dim": float(v["encoder.dim"]),
        "encoder_layer_num": float(len(enc)),
        "encoder_ffn_embed_dim_avg": mean([f"encoder.{i}.ffn" for i in enc]),
        "encoder_self_attention_heads_avg": mean([f"encoder.{i}.heads" for i in enc]),
        "decoder_embed_dim": float(v["decoder.dim"]),
        "decoder_layer_num": float(len(dec)),
        "decoder_ffn_embed_dim_avg": mean([f"decoder.{i}.ffn" for i in dec]),
        "decoder_self_attention_heads_avg": mean([f"decoder.{i}.heads" for i in dec]),
        "decoder_ende_attention_heads_avg": mean([f"decoder.{i}.ende_heads" for i in dec]),
        "decoder_arbitrary_ende_attn_avg": mean([f"decoder.{i}.ende" for i in dec]),
    }


def _nb201_key(arch: Arch) -> str:
    from nas.search_spaces.nb201 import format_arch_str

    return format_arch_str(arch)


_ARCH_KEYS: dict[str, Callable[[Arch], str]] = {
    "arch_str": _nb201_key,
    "hat_key": lambda arch: _hat_key(hat_features(arch)),
}


class LatencyTable:
    """One shipped latency table: the latency (ms) of each row on each device setting.

    A table is *wide* (one ``lat_ms_<device>`` column per device, every row measured on every
    device: the HELP tables) or *long* (a ``device`` column and one ``lat_ms`` column, each
    device with rows of its own: HAT's table, where it is encoder plus decoder latency).

    Args:
        name: a name from :func:`list_latency_tables`.

    Example:
        >>> from nas.search_spaces.nb201 import parse_arch_str
        >>> t = latency_table("help-nb201")
        >>> arch = parse_arch_str("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+"
        ...                       "|nor_conv_1x1~0|skip_connect~1|skip_connect~2|")
        >>> round(t.latency(arch, "pixel3"), 3)  # HW-NAS-Bench's arch 0 on a Pixel 3
        3.606
    """

    def __init__(self, name: str) -> None:
        self.info = latency_table_info(name)
        self.name = self.info.name
        self.table = _load(self.name)
        names = self.table.column_names
        keys = np.asarray(self.table.column(self.info.key).to_pylist(), dtype=object)
        self._rows: dict[str, np.ndarray] = {}
        self._latency: dict[str, np.ndarray] = {}
        if "device" in names:  # long
            device = np.asarray(self.table.column("device").to_pylist(), dtype=object)
            latency = self.table.column(PREFIX.rstrip("_")).to_numpy()
            for d in dict.fromkeys(device.tolist()):
                self._rows[d] = np.flatnonzero(device == d)
                self._latency[d] = latency[self._rows[d]]
        else:
            everything = np.arange(self.table.num_rows)
            for c in names:
                if c.startswith(PREFIX):
                    self._rows[c.removeprefix(PREFIX)] = everything
                    self._latency[c.removeprefix(PREFIX)] = self.table.column(c).to_numpy()
        self.devices: tuple[str, ...] = tuple(self._rows)
        self._keys = keys
        self._index: dict[str, dict[str, list[int]]] = {}

    def __repr__(self) -> str:
        return f"LatencyTable({self.name!r}, rows={len(self)}, devices={len(self.devices)})"

    def __len__(self) -> int:
        return int(self.table.num_rows)

    def check_device(self, device: str) -> str:
        """``device`` if the table has it, else a ``RegistryError`` naming close matches."""
        if device in self._rows:
            return device
        close = difflib.get_close_matches(device, self.devices, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise RegistryError(
            f"Latency table {self.name!r} has no device {device!r}{hint} (devices: "
            f"{', '.join(self.devices)})."
        )

    def rows(self, device: str) -> np.ndarray:
        """Indices (into :attr:`table`) of the rows measured on ``device``."""
        return self._rows[self.check_device(device)]

    def column(self, device: str) -> np.ndarray:
        """The latency (ms) on ``device`` of each of :meth:`rows`, in the same order."""
        return self._latency[self.check_device(device)]

    def key(self, arch: Arch) -> str:
        """The row key of ``arch`` (matched against the table's ``key`` column)."""
        if arch.space not in self.info.spaces:
            raise EvaluationError(
                f"Latency table {self.name!r} answers archs of space(s) "
                f"{', '.join(self.info.spaces) or 'none of ours'}, not {arch.space!r}."
            )
        return _ARCH_KEYS[self.info.key](arch)

    def latency(self, arch: Arch, device: str) -> float:
        """The recorded latency (ms) of ``arch`` on ``device``; the mean where rows repeat.

        Raises:
            EvaluationError: If the table has no row for ``arch`` on ``device``.
        """
        index = self._index.get(device)
        if index is None:
            index = {}
            for pos, row in enumerate(self.rows(device)):
                index.setdefault(self._keys[row], []).append(pos)
            self._index[device] = index
        found = index.get(self.key(arch))
        if not found:
            raise EvaluationError(
                f"Arch {arch.arch_id} of space {arch.space!r} has no row for device {device!r} "
                f"in latency table {self.name!r} ({len(self.rows(device))} rows there); fit a "
                f"latency predictor (nas.hw.LatencyPredictor) for archs a table does not cover."
            )
        return float(self._latency[device][found].mean())


def latency_table_path(name: str) -> Path:
    """Where latency table ``name`` lives (``datasets/NAME.parquet``), whether or not it exists.

    Example:
        >>> latency_table_path("help-nb201").name
        'help-nb201.parquet'
    """
    from nas.bench._tables import datasets_dir

    return datasets_dir() / f"{latency_table_info(name).name}.parquet"


def _load(name: str) -> pa.Table:
    from nas.bench._tables import read_cached

    how = f"rebuild it with `nas bench import {name} --source DIR` (DIR: the public files)"
    return read_cached(latency_table_path(name), f"Latency table {name!r}", how)


_OPEN: dict[str, LatencyTable] = {}


def latency_table(name: str) -> LatencyTable:
    """The :class:`LatencyTable` ``name``, opened once per process."""
    info = latency_table_info(name)
    found = _OPEN.get(info.name)
    if found is None or found.table is not _load(info.name):
        found = _OPEN[info.name] = LatencyTable(info.name)
    return found
