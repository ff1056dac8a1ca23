"""Store append vs raw pyarrow: 10k result rows in appends of 100 rows.

The baseline writes the same rows with pyarrow alone (``Table.from_pylist`` with the store
schema, zstd Parquet into a temp file, file fsync, rename, directory fsync: the same
durability as ``ResultStore.append``). Ours is ``ResultStore.append`` (conform, dedupe
against every stored key, atomic write). ``--no-durable`` also times the non-durable mode.

Run: python benchmarks/scale_store.py [--rows 10000] [--batch 100] [--repeats 5] [--save]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from scale_common import compare, line, save

from nas.search_spaces.nb201 import EDGES, OPS
from nas.store import SCHEMA, Result, ResultStore


def make_rows(n: int) -> list[Result]:
    rows = []
    for i in range(n):
        arch = {f"cell.n{a}_from{b}": OPS[(i // 5**j) % 5] for j, (a, b) in enumerate(EDGES)}
        rows.append(
            Result(
                space="nb201", arch=arch, arch_id=f"a{i:08d}", dataset="cifar10",
                status="ok", seed=0, fidelity=200, val_accuracy=80.0 + (i % 97) / 10,
                test_accuracy=79.0 + (i % 89) / 10, params=100_000 + i, flops=10_000_000 + i,
                train_seconds=1200.0, val_accuracy_curve=[float(e) for e in range(12)],
                run_id="bench", candidate_id=str(i), trial_id=str(i), strategy="rea",
            )
        )  # fmt: skip
    return rows


def raw_write(directory: str, rows: list[Result], batch: int) -> None:
    os.makedirs(directory, exist_ok=True)
    for start in range(0, len(rows), batch):
        table = pa.Table.from_pylist([r.to_row() for r in rows[start : start + batch]], SCHEMA)
        temp = os.path.join(directory, f".tmp-{uuid.uuid4().hex}")
        with open(temp, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, os.path.join(directory, f"part-{uuid.uuid4().hex}.parquet"))
        fd = os.open(directory, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)


def store_write(directory: str, rows: list[Result], batch: int, durable: bool) -> None:
    store = ResultStore(directory, durable=durable)
    for start in range(0, len(rows), batch):
        store.append(rows[start : start + batch])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-durable", action="store_true", help="also time durable=False")
    parser.add_argument(
        "--save", action="store_true", help="write benchmarks/results/scale_store.json"
    )
    args = parser.parse_args()
    rows = make_rows(args.rows)
    root = tempfile.mkdtemp(prefix="scale-store-")

    def fresh(fn: Any) -> Any:
        def run() -> None:
            directory = os.path.join(root, uuid.uuid4().hex)
            fn(directory)
            shutil.rmtree(directory)

        return run

    figures: dict[str, Any] = {}
    raw = fresh(lambda d: raw_write(d, rows, args.batch))
    figures["append_durable"] = compare(
        fresh(lambda d: store_write(d, rows, args.batch, True)), raw, args.repeats
    )
    print(line(f"append {args.rows} rows / {args.batch}", figures["append_durable"]))
    if args.no_durable:
        figures["append_not_durable"] = compare(
            fresh(lambda d: store_write(d, rows, args.batch, False)), raw, args.repeats
        )
        print(line("append, durable=False", figures["append_not_durable"]))
    check = os.path.join(root, "check")
    store_write(check, rows, args.batch, True)
    assert len(ResultStore(check)) == len(rows), "the store lost or doubled rows"
    shutil.rmtree(root)
    if args.save:
        print(save("scale_store", figures, "baseline: raw pyarrow with the same fsyncs and rename"))


if __name__ == "__main__":
    main()
