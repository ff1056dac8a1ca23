"""Store files carry page checksums: of 300 single-bit flips in a store file, every read
either fails naming the file or gives exactly the original values (0 silently different)."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from nas.errors import StoreError
from nas.store import ResultStore


@pytest.fixture(scope="module")
def part(tabular_store: Path) -> Path:
    (path,) = tabular_store.glob("part-*.parquet")
    return path


def test_every_page_of_a_store_file_has_a_checksum(part: Path, tmp_path: Path) -> None:
    meta = pq.ParquetFile(part).metadata
    assert meta.num_row_groups >= 1
    # pyarrow exposes no page-level accessor; a file written without checksums is smaller
    table = pq.read_table(part)
    plain = tmp_path / "plain.parquet"
    pq.write_table(table, plain, compression="zstd")
    assert part.stat().st_size > plain.stat().st_size


def test_300_single_bit_flips_give_an_error_or_the_original_values(
    part: Path, tmp_path: Path
) -> None:
    original = ResultStore(part.parent).read()
    data = part.read_bytes()
    rng = random.Random(0)
    outcomes = {"error": 0, "same": 0, "different": 0}
    store = tmp_path / "flipped"
    store.mkdir()
    target = store / part.name
    for _ in range(300):
        flipped = bytearray(data)
        flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        target.write_bytes(bytes(flipped))
        try:
            table = ResultStore(store).read()
        except StoreError as exc:
            assert str(target) in str(exc) and "\n" not in str(exc)
            outcomes["error"] += 1
        else:
            outcomes["same" if table.equals(original) else "different"] += 1
    assert outcomes["different"] == 0, outcomes
    # most flips land in checksummed pages; how many depends on the file's layout (its JSON
    # columns carry the host's versions and git commit), so only "most" is asserted
    assert outcomes["error"] > 150, outcomes
