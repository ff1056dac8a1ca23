"""The built-in benchmark spaces agree with the benchmarks, row by row.

Default tests read the shipped tables (``datasets/``), whose rows carry both our IR's params
and the benchmark's own count (``extra``); ``source`` tests read the public files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from nas.bench import load_table
from nas.search_spaces import nb101 as nb101_mod
from nas.search_spaces import nb201 as nb201_mod
from nas.search_spaces import nb301 as nb301_mod
from nas.search_spaces import nb_macro as nb_macro_mod
from nas.search_spaces import tnb101 as tnb101_mod
from nas.space import Arch, get_space


def _rows(name: str, n: int | None = None, seed: int = 0) -> list[dict]:
    table = load_table(name)
    if n is None or n >= table.num_rows:
        return table.to_pylist()
    idx = np.random.default_rng(seed).choice(table.num_rows, size=n, replace=False)
    return table.take(sorted(idx.tolist())).to_pylist()


def test_nb201_params_match_suite_zero() -> None:
    """NB-201's own parameter counts (Suite-Zero's ``params_m``) equal our IR's, every row."""
    rows = [r for r in _rows("suite-zero") if r["space"] in ("nb201", "nb201_c100")]
    assert len(rows) == 1450
    bad = [r for r in rows if abs(r["params"] / 1e6 - json.loads(r["extra"])["params_m"]) > 5e-7]
    assert not bad, bad[:3]
    for r in rows[::100]:  # and the rows' params are today's IR's
        assert get_space(r["space"]).compile(Arch.from_json(r["arch"])).params == r["params"]


# Tables whose rows' benchmark keys parse into the space of the table: every row's IR params
# equal the benchmark's own count (the spaces compile the benchmarks' exact networks).
ROWS = {
    "tnb101-macro-object": 662,
    "tnb101-macro-scene": 662,
    "tnb101-micro-object": 711,
    "tnb101-micro-scene": 711,
    "nb101-cifar10": 375,
    "nb301-cifar10": 725,
}
PARSE = {
    "nb101-cifar10": nb101_mod.parse_key,
    "nb301-cifar10": nb301_mod.parse_genotype,
    "tnb101-micro-object": tnb101_mod.parse_micro_key,
    "tnb101-micro-scene": tnb101_mod.parse_micro_key,
    "tnb101-macro-object": tnb101_mod.parse_macro_key,
    "tnb101-macro-scene": tnb101_mod.parse_macro_key,
}


@pytest.mark.parametrize("name", sorted(ROWS))
def test_params_of_every_row_equal_the_benchmarks(name: str) -> None:
    rows = _rows(name)
    assert len(rows) == ROWS[name]
    bad = [r for r in rows if r["params"] != json.loads(r["extra"])["params_benchmark"]]
    assert not bad, [(json.loads(r["extra"])["arch_key"], r["params"]) for r in bad[:3]]
    space = get_space(rows[0]["space"])
    for r in _rows(name, 12):  # and the rows are today's DSL spaces' archs and graphs
        arch = PARSE[name](json.loads(r["extra"])["arch_key"], space)
        assert Arch.from_json(r["arch"]) == arch and r["arch_id"] == arch.arch_id
        graph = space.compile(arch)
        assert (r["params"], r["flops"], r["graph_hash"]) == (
            graph.params,
            graph.flops,
            graph.graph_hash(),
        )


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ROWS))
def test_every_benchmark_key_compiles_to_the_benchmarks_params(name: str) -> None:
    """Every key of the table (merged ones in ``same_arch`` too) through the DSL space."""
    space = get_space(_rows(name, 1)[0]["space"])
    for r in _rows(name):
        extra = json.loads(r["extra"])
        keys = [extra["arch_key"], *(k["arch_key"] for k in extra.get("same_arch", []))]
        for key in keys:
            assert space.compile(PARSE[name](key, space)).params == extra["params_benchmark"], key


def test_nb101_cell_uses_the_benchmarks_vertex_widths() -> None:
    """A spec whose output reads three vertices splits 128 channels as 43 + 43 + 42."""
    m = [[0, 1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 0, 0, 1], [0] * 7, [0] * 7, [0] * 7]  # fmt: skip
    space = get_space("nb101")
    graph = space.compile(nb101_mod.parse_spec(m, [0, 4, 4, 3, 2, 2, 1], space))
    widths = [graph.shape(n)[0] for n in graph.nodes() if n.startswith("stack0.0.node") and
              n.endswith(".relu") and ".proj" not in n]  # fmt: skip
    assert widths == [43, 43, 42]


def test_nb301_cells_read_the_two_cells_before_them() -> None:
    """Cell 1's first preprocessing reads the stem's 96 channels, cell 3's a factorized
    reduction of cell 1's output (the cell before the reduction cell 2)."""
    key = [[(0, 3), (1, 3), (0, 2), (2, 4), (1, 0), (3, 5), (0, 2), (4, 6)]] * 2
    graph = get_space("nb301").compile(nb301_mod.parse_genotype(key))
    assert graph.in_shapes("cells.cell1.pre0.conv")[0] == (96, 32, 32)
    assert graph.in_shapes("cells.cell1.pre1.conv")[0] == (128, 32, 32)
    assert graph.in_shapes("cells.cell3.pre0.conv_1")[0] == (128, 32, 32)
    assert graph.shape("cells.cell3.pre0.bn") == (64, 16, 16)
    assert nb301_mod.format_genotype(nb301_mod.parse_genotype(key)) == str(key)


def test_nb201_graph_hash_agrees_with_benchmark_isomorphism() -> None:
    """Our graph_hash and NB-201's own isomorphism key (``unique_str``) mostly agree.

    They differ by convention at the edges: our hash ignores dead code that the benchmark's
    key keeps (e.g. an op feeding only a ``none`` edge), and it keeps ReLU-conv-BN applied
    to a zero node (batch norm adds a learned bias) where the benchmark's key drops it.
    """
    rows = load_table("nb201-cifar10").slice(0, 1500).to_pylist()
    by_class: dict[str, set[str]] = {}
    by_hash: dict[str, set[str]] = {}
    for row in rows:
        h, unique = row["graph_hash"], json.loads(row["extra"])["unique_str"]
        by_class.setdefault(unique, set()).add(h)
        by_hash.setdefault(h, set()).add(unique)
    one_hash = sum(len(v) == 1 for v in by_class.values()) / len(by_class)
    one_class = sum(len(v) == 1 for v in by_hash.values()) / len(by_hash)
    assert one_hash > 0.85 and one_class > 0.85, (one_hash, one_class)
    assert len(by_hash) < 1000  # isomorphic candidates do share hashes (1,500 archs)


def test_nb_macro_arch_string_round_trip() -> None:
    for s in ("00000000", "22212202", "01201212"):
        assert nb_macro_mod.format_arch_str(nb_macro_mod.parse_arch_str(s)) == s


def test_benchmark_keys_round_trip() -> None:
    for key in ("(1, 0, 0, 2, 1, 3)", "(0, 3, 3, 3, 3, 3)"):
        assert tnb101_mod.format_micro_key(tnb101_mod.parse_micro_key(key)) == key
    for key in ("(1, 2, 4, 2, 0, 0)", "(4, 3, 2, 1, 4, 3)"):
        assert tnb101_mod.format_macro_key(tnb101_mod.parse_macro_key(key)) == key
    row = _rows("nb101-cifar10", 1)[0]
    adj, ops = nb101_mod.format_spec(Arch.from_json(row["arch"]))
    assert nb101_mod.parse_spec(adj, ops).arch_id == row["arch_id"]


@pytest.mark.parametrize(
    ("parse", "key", "match"),
    [
        (tnb101_mod.parse_micro_key, "(1, 0, 9, 2, 1, 3)", "micro op codes"),
        (tnb101_mod.parse_macro_key, "(1, 2, 0, 2, 0, 0)", "followed by zeros"),
        (nb301_mod.parse_genotype, str([[(0, 9)] * 8, [(0, 0)] * 8]), "compact encoding"),
        (nb301_mod.parse_genotype, "not a list", r"8 \(node, op\) pairs"),
        (nb101_mod.parse_key, "(0, 1)", "56-value"),
    ],
)
def test_a_bad_benchmark_key_is_a_clear_error(parse, key: str, match: str) -> None:  # type: ignore[no-untyped-def]
    from nas.errors import ArchError

    with pytest.raises(ArchError, match=match):
        parse(key)


@pytest.mark.source
def test_nb201_params_match_suite_zero_source(benchmarks_dir: Path) -> None:
    table = pq.read_table(benchmarks_dir / "nasbench_suite_zero_subsets" / "zc_subsets.parquet")
    rows = table.filter(pc.equal(table["search_space"], "nasbench201")).to_pylist()
    rows = [r for r in rows if r["params"] is not None and r["task"] in ("cifar10", "cifar100")]
    spaces = {"cifar10": get_space("nb201"), "cifar100": get_space("nb201_c100")}
    for row in rows[::25]:
        space = spaces[row["task"]]
        graph = space.compile(nb201_mod.parse_arch_str(row["nb201_arch_str"], space))
        assert abs(graph.params / 1e6 - row["params"]) <= 5e-7


@pytest.mark.slow
@pytest.mark.source
def test_nb_macro_params_and_flops_match_all_rows(benchmarks_dir: Path) -> None:
    table = pq.read_table(
        benchmarks_dir / "nas_bench_macro" / "nas_bench_macro_cifar10.parquet",
        columns=["arch", "params", "flops"],
    )
    space = get_space("nb_macro")
    rows = table.to_pylist()
    assert len(rows) == 6561
    bad = []
    for row in rows:
        graph = space.compile(nb_macro_mod.parse_arch_str(row["arch"], space))
        if graph.params != row["params"] or graph.flops != row["flops"]:
            bad.append((row["arch"], graph.params, row["params"], graph.flops, row["flops"]))
    assert not bad, bad[:5]


@pytest.mark.slow
@pytest.mark.source
def test_all_nb201_arch_strings_parse_compile_and_format_back(benchmarks_dir: Path) -> None:
    table = pq.read_table(
        benchmarks_dir / "nasbench201" / "nb201_acc_200ep.parquet",
        columns=["arch_index", "arch_str"],
    )
    space = get_space("nb201")
    strings = table["arch_str"].to_pylist()
    assert len(strings) == 15625 == len(set(strings))
    ids = set()
    for s in strings:
        arch = nb201_mod.parse_arch_str(s, space)
        graph = space.compile(arch)
        assert graph.shape(graph.outputs[0]) == (10,)
        assert nb201_mod.format_arch_str(arch) == s
        ids.add(arch.arch_id)
    assert len(ids) == 15625
