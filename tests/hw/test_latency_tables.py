"""The shipped latency tables: rows, devices, lookups, HAT rows as archs (``source``: rebuilt)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from nas.bench import datasets_dir
from nas.errors import EvaluationError, RegistryError
from nas.hw import build_latency_table, hat_features, latency_table, list_latency_tables
from nas.search_spaces.nb201 import parse_arch_str
from nas.search_spaces.transformer import hat_arch, hat_subtransformer
from nas.space import get_space

ROWS = {"help-nb201": 15625, "help-fbnet": 5000, "hat-latency": 16000}
ARCH0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"


def test_catalogue_rows_devices_and_cards() -> None:
    assert list_latency_tables() == sorted(ROWS)
    for name, rows in ROWS.items():
        table = latency_table(name)
        assert len(table) == rows
        card = (datasets_dir() / f"{name}.md").read_text()
        assert "License" in card and f"{rows:,}" in card
        for device in table.devices:
            column = table.column(device)
            assert len(column) == len(table.rows(device)) and np.all(column > 0)
    assert (
        len(latency_table("help-nb201").devices) == len(latency_table("help-fbnet").devices) == 27
    )
    assert len(latency_table("hat-latency").devices) == 8
    with pytest.raises(RegistryError, match="did you mean 'help-nb201'"):
        latency_table("help_nb201")


def test_nb201_lookup_matches_hw_nas_bench_arch0() -> None:
    table = latency_table("help-nb201")
    arch = parse_arch_str(ARCH0)
    expected = {"raspi4": 10.481977, "fpga": 2.57296, "eyeriss": 3.64562, "pixel3": 3.60585}
    for device, ms in expected.items():
        assert table.latency(arch, device) == pytest.approx(ms, rel=1e-6)
    # the cifar100 space has the same cell, so the same row
    c100 = get_space("nb201_c100").validate(arch.values)
    assert table.latency(c100, "pixel3") == table.latency(arch, "pixel3")
    with pytest.raises(RegistryError, match="did you mean 'pixel3'"):
        table.latency(arch, "pixel_3")
    other = get_space("nb_macro").sample(np.random.default_rng(0))
    with pytest.raises(EvaluationError, match="nb201, nb201_c100, not 'nb_macro'"):
        table.latency(other, "pixel3")


def test_every_nb201_row_is_a_distinct_arch_with_more_latency_for_more_convs() -> None:
    table = latency_table("help-nb201")
    strings = table.table.column("arch_str").to_pylist()
    assert len(set(strings)) == len(strings)
    convs = np.array([s.count("nor_conv_3x3") for s in strings])
    gpu = table.column("titan_rtx_256")
    assert gpu[convs == 6].mean() > 2 * gpu[convs == 0].mean()


def test_hat_rows_become_archs_that_find_their_row() -> None:
    table = latency_table("hat-latency")
    space = hat_subtransformer(length=4, vocab=64)
    rows = table.table.to_pylist()
    for i in np.random.default_rng(0).choice(len(rows), 40, replace=False):
        row = rows[int(i)]
        arch = hat_arch(space, row)
        assert table.key(arch) == row["hat_key"]
        assert table.latency(arch, row["device"]) > 0
        feats = hat_features(arch)
        assert feats["decoder_layer_num"] == row["decoder_layer_num"]
        assert feats["encoder_ffn_embed_dim_avg"] == pytest.approx(row["encoder_ffn_embed_dim_avg"])


def test_hat_rows_compile_to_ir_graphs() -> None:
    # the full-size space (vocab 32768): the IR needs no tensors, so compiling is cheap
    table = latency_table("hat-latency")
    space = hat_subtransformer()
    rows = table.table.to_pylist()
    params = []
    for i in (0, 1, 2001, 9000):
        graph = space.compile(hat_arch(space, rows[i]))
        graph.validate()
        params.append(graph.params)
    assert min(params) > 40_000_000  # two 32768-token embeddings and the output projection


@pytest.mark.parametrize("name", sorted(ROWS))
def test_rebuilt_from_the_public_files_equals_the_shipped_table(
    name: str, benchmarks_dir: Path
) -> None:
    built = build_latency_table(name, benchmarks_dir)
    shipped = pq.read_table(datasets_dir() / f"{name}.parquet")
    assert built.equals(shipped)
