"""Convert a benchmark's public files (a folder you pass) into store-schema tables.

Every NAS-Bench-201, NAS-Bench-Macro, and Suite-Zero NB-101 / NB-301 / TransNAS-Bench-101 row
is parsed into an arch of the matching built-in space and compiled, so ``arch``, ``arch_id``, ``graph_hash``, ``params`` and
``flops`` come from our IR, not from the source; only the measured metrics are copied.
Compiling is the slow part (about 10 ms per NB-201 arch plus 5 ms for its graph_hash), so
it runs in a process pool.
"""

from __future__ import annotations

import ast
import json
import math
import multiprocessing
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas._progress import progress_bar
from nas.bench._tables import table_info, table_path
from nas.errors import StoreError

if TYPE_CHECKING:
    from nas.space import Arch

__all__ = [
    "build_table",
    "import_table",
    "ir_facts",
    "ir_row",
    "one_row_per_arch",
    "parse_arch",
]

# space name -> "module:function" that parses one benchmark arch string into its arch.
_PARSERS = {
    "nb201": "nas.search_spaces.nb201:parse_arch_str",
    "nb201_c100": "nas.search_spaces.nb201:parse_arch_str",
    "nb_macro": "nas.search_spaces.nb_macro:parse_arch_str",
    "nb101": "nas.search_spaces.nb101:parse_key",
    "nb301": "nas.search_spaces.nb301:parse_genotype",
    **{
        f"tnb101_{kind}_{task}": f"nas.search_spaces.tnb101:parse_{kind}_key"
        for kind in ("micro", "macro")
        for task in ("object", "scene")
    },
}
# Tables cut from the Suite-Zero subsets: name -> (its search_space, its task, our space).
_SUITE_TABLES = {
    "nb101-cifar10": ("nasbench101", "cifar10", "nb101"),
    "nb301-cifar10": ("nasbench301", "cifar10", "nb301"),
    **{
        f"tnb101-{kind}-{task}": (f"transbench101_{kind}", f"class_{task}", f"tnb101_{kind}_{task}")
        for kind in ("micro", "macro")
        for task in ("object", "scene")
    },
}
_PROXIES = (
    "synflow",
    "snip",
    "grasp",
    "fisher",
    "grad_norm",
    "jacov",
    "l2_norm",
    "plain",
    "nwot",
    "epe_nas",
)
# TransNAS-Bench-101 tasks whose NASLib "val_accuracy" is not an accuracy.
_TASK_METRIC = {
    "room_layout": "negative L2 loss",
    "autoencoder": "SSIM",
    "normal": "SSIM",
    "segmentsemantic": "as stored by NASLib (mIoU-like score)",
}


def ir_facts(job: tuple[str, str]) -> tuple[str, str, str, str | None, int, int]:
    """Compile one arch of a registered space.

    Args:
        job: ``(space name, arch JSON or the benchmark's arch string)``.

    Returns:
        ``(arch JSON, arch_id, space version, graph_hash, params, flops)`` from the IR.
    """
    from nas.space import get_space

    space_name, arch_str = job
    space = get_space(space_name)
    arch = parse_arch(space_name, arch_str)
    graph = space.compile(arch)
    return (
        arch.to_json(),
        arch.arch_id,
        space.version,
        graph.graph_hash(),
        graph.params,
        graph.flops,
    )


def parse_arch(space_name: str, value: Any) -> Arch:
    """An arch of ``space_name`` from arch JSON, a ``{path: value}`` mapping (or its JSON
    text), or a benchmark string that the space's parser reads (``nb201``'s arch strings)."""
    import importlib

    from nas.space import Arch, get_space

    space = get_space(space_name)
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise StoreError(f"Unreadable arch JSON {value[:60]!r} ({exc}).") from None
    if isinstance(value, Mapping):
        if "values" in value and "space" in value:
            arch = Arch.from_json(dict(value))
            if arch.space != space_name:
                raise StoreError(
                    f"An arch of space {arch.space!r} in a table of space {space_name!r}; "
                    f"pass --space {arch.space}."
                )
            value = arch.values
        return space.validate(value)
    parser = _PARSERS.get(space_name)
    if not isinstance(value, str) or parser is None:
        raise StoreError(
            f"Space {space_name!r} reads archs as arch JSON or a {{path: value}} mapping"
            + (f" or a benchmark string, not {type(value).__name__}" if parser else "")
            + f" (got {str(value)[:60]!r})."
        )
    module, _, function = parser.partition(":")
    parsed: Arch = getattr(importlib.import_module(module), function)(value, space)
    return parsed


def _compile_all(
    jobs: Sequence[tuple[str, str]], *, processes: int | None, progress: bool, what: str
) -> list[tuple[str, str, str, str | None, int, int]]:
    processes = processes or min(2, os.cpu_count() or 1)
    out: list[tuple[str, str, str, str | None, int, int]] = []
    with progress_bar(len(jobs), f"compile {what}", enabled=progress) as advance:
        if processes <= 1 or len(jobs) < 64:
            for job in jobs:
                out.append(ir_facts(job))
                advance()
            return out
        # fork keeps the already-imported engine; the workers only compile (no torch).
        ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        with ctx.Pool(processes) as pool:
            for facts in pool.imap(ir_facts, jobs, chunksize=64):
                out.append(facts)
                advance()
    return out


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _read(path: Path, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    if not path.is_file():
        raise StoreError(
            f"Benchmark source file {path} not found; pass --source the folder that holds "
            f"{path.name} (the benchmark's public files, folder {path.parent.name!r})."
        )
    return pq.read_table(path, columns=list(columns) if columns else None).to_pylist()


def _results(rows: Iterable[Mapping[str, Any]], name: str) -> Any:
    from nas.store import Result, results_to_table

    # Shipped tables are data, not runs: no creation time, so a rebuild is byte-stable.
    return results_to_table(Result(**row, source=name, created_at=None) for row in rows)


def _nb201(source: Path, name: str, *, processes: int | None, progress: bool) -> Any:
    c100 = name == "nb201-cifar100"
    prefix = "cifar100" if c100 else "cifar10"
    space = "nb201_c100" if c100 else "nb201"
    val_col = "cifar100_val_acc_12ep" if c100 else "cifar10valid_val_acc_12ep"
    short = _read(
        source / "nb201_acc_12ep.parquet",
        ["arch_index", "arch_str", val_col, f"{prefix}_test_acc_12ep"],
    )
    long = {
        r["arch_index"]: r
        for r in _read(
            source / "nb201_acc_200ep.parquet",
            ["arch_index", "arch_str", f"{prefix}_test_acc_200ep", "unique_str"],
        )
    }
    short.sort(key=lambda r: r["arch_index"])
    for r in short:
        other = long.get(r["arch_index"])
        if other is None or other["arch_str"] != r["arch_str"]:
            raise StoreError(
                f"NB-201 files disagree at arch_index {r['arch_index']}: 12-epoch "
                f"{r['arch_str']!r} vs 200-epoch {other and other['arch_str']!r}; "
                f"re-export both from the same index order."
            )
    facts = _compile_all(
        [(space, r["arch_str"]) for r in short], processes=processes, progress=progress, what=name
    )
    rows = []
    for r, (arch, arch_id, version, ghash, params, flops) in zip(short, facts):
        rows.append(
            dict(
                space=space,
                space_version=version,
                arch=arch,
                arch_id=arch_id,
                graph_hash=ghash,
                dataset=prefix,
                fidelity=200,
                status="ok",
                val_accuracy=_finite(r[val_col]),
                test_accuracy=_finite(long[r["arch_index"]][f"{prefix}_test_acc_200ep"]),
                params=params,
                flops=flops,
                extra={
                    "arch_index": r["arch_index"],
                    "arch_str": r["arch_str"],
                    "test_accuracy_12ep": _finite(r[f"{prefix}_test_acc_12ep"]),
                    "unique_str": long[r["arch_index"]]["unique_str"],
                },
            )
        )
    return _results(rows, name)


def _nb_macro(source: Path, name: str, *, processes: int | None, progress: bool) -> Any:
    src = _read(source / "nas_bench_macro_cifar10.parquet")
    src.sort(key=lambda r: r["arch"])
    facts = _compile_all(
        [("nb_macro", r["arch"]) for r in src], processes=processes, progress=progress, what=name
    )
    rows = []
    for r, (arch, arch_id, version, ghash, params, flops) in zip(src, facts):
        runs = [_finite(r[f"test_acc_run{i}"]) for i in range(3)]
        mean = _finite(r["mean_acc"])
        rows.append(
            dict(
                space="nb_macro",
                space_version=version,
                arch=arch,
                arch_id=arch_id,
                graph_hash=ghash,
                dataset="cifar10",
                status="ok",
                # no validation split in NAS-Bench-Macro: the search signal is the test mean
                val_accuracy=mean,
                test_accuracy=mean,
                params=params,
                flops=flops,
                extra={"arch_str": r["arch"], "runs": runs, "std_acc": _finite(r["std_acc"])},
            )
        )
    return _results(rows, name)


def _naslib_key(text: str) -> Any:
    def lists(v: Any) -> Any:
        return [lists(x) for x in v] if isinstance(v, tuple | list) else v

    try:
        return lists(ast.literal_eval(text))
    except (ValueError, SyntaxError):
        raise StoreError(
            f"Unreadable NASLib arch_key {text[:60]!r}; expected a Python tuple/list literal."
        ) from None


def _suite_zero(source: Path, name: str, *, processes: int | None, progress: bool) -> Any:
    from nas.space import Arch

    src = _read(source / "zc_subsets.parquet")
    nb201 = [r for r in src if r["search_space"] == "nasbench201"]
    facts = dict(
        zip(
            [id(r) for r in nb201],
            _compile_all(
                [
                    ("nb201_c100" if r["task"] == "cifar100" else "nb201", r["nb201_arch_str"])
                    for r in nb201
                ],
                processes=processes,
                progress=progress,
                what=f"{name} (NB-201 rows)",
            ),
        )
    )
    rows = []
    for r in src:
        extra: dict[str, Any] = {"arch_key": r["arch_key"]}
        extra.update({p: v for p in _PROXIES if (v := _finite(r[p])) is not None})
        extra["params_m"] = _finite(r["params"])
        extra["flops_m"] = _finite(r["flops"])
        if r["task"] in _TASK_METRIC:
            extra["metric"] = _TASK_METRIC[r["task"]]
        if r["search_space"] == "nasbench201":
            arch, arch_id, version, ghash, params, flops = facts[id(r)]
            space = "nb201_c100" if r["task"] == "cifar100" else "nb201"
            extra["arch_index"] = r["nb201_arch_index"]
            extra["arch_str"] = r["nb201_arch_str"]
        else:
            space = r["search_space"]
            # No built-in space: keep the benchmark's own encoding, versioned as NASLib's.
            a = Arch(space, "naslib", {"arch_key": _naslib_key(r["arch_key"])})
            arch, arch_id, version, ghash = a.to_json(), a.arch_id, "naslib", None
            p = _finite(r["params"])
            params, flops = (None if p is None else round(p * 1e6)), None  # type: ignore[assignment]
        rows.append(
            dict(
                space=space,
                space_version=version,
                arch=arch,
                arch_id=arch_id,
                graph_hash=ghash,
                dataset=r["task"],
                status="ok",
                val_accuracy=_finite(r["val_accuracy"]),
                params=params,
                flops=flops,
                extra=extra,
            )
        )
    return _results(rows, name)


def ir_row(ir: tuple[str, str, str, str | None, int, int], **fields: Any) -> dict[str, Any]:
    """A table row (``status`` ok) from :func:`ir_facts` output and the measured ``fields``."""
    arch, arch_id, version, ghash, params, flops = ir
    return dict(
        space_version=version,
        arch=arch,
        arch_id=arch_id,
        graph_hash=ghash,
        status="ok",
        params=params,
        flops=flops,
        **fields,
    )


def one_row_per_arch(rows: Iterable[tuple[dict[str, Any], Any]]) -> list[dict[str, Any]]:
    """``(row, note)`` pairs -> one row per arch_id: the first, each later one's note in
    its ``extra["same_arch"]`` (nothing dropped; a tabular lookup needs unique archs)."""
    first: dict[str, dict[str, Any]] = {}
    for row, note in rows:
        kept = first.get(row["arch_id"])
        if kept is None:
            first[row["arch_id"]] = row
        else:
            kept["extra"].setdefault("same_arch", []).append(note)
    return list(first.values())


def _suite_subset(source: Path, name: str, *, processes: int | None, progress: bool) -> Any:
    bench, task, space = _SUITE_TABLES[name]
    src = [
        r
        for r in _read(source / "zc_subsets.parquet")
        if r["search_space"] == bench and r["task"] == task
    ]
    facts = _compile_all(
        [(space, r["arch_key"]) for r in src], processes=processes, progress=progress, what=name
    )
    rows = []
    for r, ir in zip(src, facts):
        p = _finite(r["params"])
        row = ir_row(
            ir,
            space=space,
            dataset=task,
            val_accuracy=_finite(r["val_accuracy"]),
            extra={
                "arch_key": r["arch_key"],
                "params_benchmark": None if p is None else round(p * 1e6),
                "flops_m_benchmark": _finite(r["flops"]),
            },
        )
        # two encodings of one arch (pair order, pruned vertices): one row, both kept
        rows.append((row, {"arch_key": r["arch_key"], "val_accuracy": row["val_accuracy"]}))
    return _results(one_row_per_arch(rows), name)


_BUILDERS: dict[str, Callable[..., Any]] = {
    **dict.fromkeys(_SUITE_TABLES, _suite_subset),
    "nb201-cifar10": _nb201,
    "nb201-cifar100": _nb201,
    "nb-macro": _nb_macro,
    "suite-zero": _suite_zero,
}


def build_table(
    name: str, source: str | Path, *, processes: int | None = None, progress: bool = True
) -> Any:
    """Build table ``name`` from its public source folder; returns a ``pyarrow.Table``.

    Args:
        name: a table of :func:`~nas.bench.list_tables`.
        source: the folder of the public files (``<root>/<source_folder>``), or the root
            folder that holds one such folder per benchmark.
        processes: compile workers (default: up to 2).
        progress: draw a progress bar when stderr is a terminal.

    Example:
        >>> t = build_table("nb-macro", "PUBLIC_FILES_ROOT", progress=False)  # doctest: +SKIP
    """
    info = table_info(name)
    if info.name not in _BUILDERS:
        raise StoreError(
            f"{info.name!r} is a table you added, not one built from the public files; "
            f"re-run `nas bench add {info.name} FILE ... --replace` to rebuild it."
        )
    folder = source_folder(source, info.source_folder)
    return _BUILDERS[info.name](folder, info.name, processes=processes, progress=progress)


def source_folder(source: str | Path, name: str) -> Path:
    """``source/name`` when ``source`` is the root of the public files, else ``source``
    itself; a folder that does not exist is a ``StoreError`` naming what to pass."""
    folder = Path(source)
    if (folder / name).is_dir():
        folder = folder / name
    if not folder.is_dir():
        raise StoreError(
            f"Benchmark source folder {str(folder)!r} does not exist; pass --source "
            f"the folder of the public files ({name!r}) or its parent."
        )
    return folder


def import_table(
    name: str,
    source: str | Path,
    *,
    out_dir: str | Path | None = None,
    processes: int | None = None,
    progress: bool = True,
) -> Path:
    """Rebuild table ``name`` from ``source`` and write it as zstd Parquet (atomically).

    Returns:
        The path written: ``out_dir/NAME.parquet`` (default: the ``datasets/`` folder).
    """
    import pyarrow.parquet as pq

    table = build_table(name, source, processes=processes, progress=progress)
    path = Path(out_dir) / f"{name}.parquet" if out_dir is not None else table_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp, compression="zstd", compression_level=19, row_group_size=1 << 16)
    os.replace(tmp, path)
    return path
