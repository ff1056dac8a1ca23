"""Fuzzers that stay: arch JSON, space JSON, benchmark arch keys, ``--where`` filters and
``nas`` flags give a valid result or one clean error (a ``NasError``; on the CLI one line,
exit 1 or 2), never a traceback. Bounded: a fixed number of examples each, no deadline per example."""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nas.cli import main
from nas.errors import NasError
from nas.space import Arch, Space, get_space
from nas.store import ResultStore

#: outcomes per fuzzer, for the report: accepted, clean (a NasError), traceback
COUNTS: dict[str, Counter[str]] = {}
FUZZ = settings(
    max_examples=200, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)  # fmt: skip

SCALARS = (
    st.none() | st.booleans() | st.integers() | st.integers(-(10**400), 10**400)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
)  # fmt: skip
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _outcome(name: str, call: Any) -> None:
    counts = COUNTS.setdefault(name, Counter())
    try:
        call()
    except NasError:
        counts["clean"] += 1
    except BaseException:
        counts["traceback"] += 1
        raise
    else:
        counts["accepted"] += 1


def _mutated(data: st.DataObject, obj: Any) -> Any:
    """``obj`` with one value somewhere replaced by arbitrary JSON (or a key dropped)."""
    if not isinstance(obj, dict | list) or not obj or data.draw(st.booleans()):
        return data.draw(JSON)
    out = dict(obj) if isinstance(obj, dict) else list(obj)
    key = data.draw(st.sampled_from(sorted(out) if isinstance(out, dict) else range(len(out))))
    if isinstance(out, dict) and data.draw(st.integers(0, 9)) == 0:
        del out[key]
    else:
        out[key] = _mutated(data, out[key])
    return out


@pytest.mark.parametrize("space_name", ["nb201", "cnn1d"])
@FUZZ
@given(data=st.data())
def test_arch_json_fuzz(space_name: str, data: st.DataObject) -> None:
    space = get_space(space_name)
    valid = json.loads(space.sample(np.random.default_rng(0)).to_json())
    obj = _mutated(data, valid)

    def check() -> None:
        try:
            text = json.dumps(obj)
        except ValueError:  # a 4,300-digit int has no text form; the mapping still goes in
            text = "{"
        values = obj.get("values") if isinstance(obj, dict) else obj
        with contextlib.suppress(NasError):
            Arch.from_json(text)
        with contextlib.suppress(NasError):
            space.validate(values)
        space.compile(values).validate()

    _outcome(f"arch JSON ({space_name})", check)


@FUZZ
@given(data=st.data())
def test_space_json_fuzz(data: st.DataObject) -> None:
    obj = _mutated(data, json.loads(get_space("cnn1d").to_json()))
    as_text = data.draw(st.booleans())

    def check() -> None:
        space = Space.from_json(json.dumps(obj, default=str) if as_text else obj)
        space.size()
        arch = space.sample(np.random.default_rng(0))
        space.compile(arch)

    _outcome("space JSON", check)


def _benchmark_keys() -> dict[str, tuple[Any, Any]]:
    """Each benchmark parser: (a valid input from its formatter, a call on a mutated one)."""
    from nas.search_spaces import nb101, nb201, nb301, tnb101

    rng = np.random.default_rng(0)
    s101, s201, s301 = get_space("nb101"), get_space("nb201"), get_space("nb301")
    micro, macro = get_space("tnb101_micro_object"), get_space("tnb101_macro_object")
    matrix, names = nb101.format_spec(s101.sample(rng))
    key = [v for row in matrix for v in row] + [0, 2, 3, 4, 2, 3, 1]
    genotype = nb301.format_genotype(s301.sample(rng)).replace("(", "[").replace(")", "]")

    def spec(obj: Any) -> Arch:
        matrix, ops = obj if isinstance(obj, list) and len(obj) == 2 else (obj, obj)
        return nb101.parse_spec(matrix, ops, s101)

    return {
        "nb101 spec": ([matrix, names], spec),
        "nb101 key": (key, lambda o: nb101.parse_key(o, s101)),
        "nb201 string": (nb201.format_arch_str(s201.sample(rng)),
                         lambda o: nb201.parse_arch_str(o, s201)),
        "nb301 genotype": (json.loads(genotype), lambda o: nb301.parse_genotype(o, s301)),
        "tnb101 micro key": (tnb101.format_micro_key(micro.sample(rng)),
                             lambda o: tnb101.parse_micro_key(o, micro)),
        "tnb101 macro key": (tnb101.format_macro_key(macro.sample(rng)),
                             lambda o: tnb101.parse_macro_key(o, macro)),
    }  # fmt: skip


BENCHMARK_KEYS = _benchmark_keys()


@pytest.mark.parametrize("parser", sorted(BENCHMARK_KEYS))
@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_benchmark_key_fuzz(parser: str, data: st.DataObject) -> None:
    """A benchmark's arch encoding, mutated: an arch of the space or one clean error."""
    valid, parse = BENCHMARK_KEYS[parser]
    parse(valid)  # the formatter's own output parses
    if isinstance(valid, str) and data.draw(st.booleans()):  # splice text into the string
        i = data.draw(st.integers(0, len(valid)))
        j = data.draw(st.integers(i, len(valid)))
        obj: Any = valid[:i] + data.draw(st.text("0123456789|~+,()[] -_abnorvx", max_size=4))
        obj += valid[j:]
    else:
        obj = _mutated(data, valid)
    _outcome(f"benchmark key ({parser})", lambda: parse(obj))


FILTER_TOKENS = st.sampled_from(
    ["val_accuracy", "params", "space", "status", "seed", "nope", "==", "!=", ">", "<=", "and",
     "or", "not", "in", "(", ")", "[", "]", ",", "'nb201'", "'", "90", "-1e999", "1e5", "nan",
     "null", "is", "\\", "é", "0x10", " "]
)  # fmt: skip


VALID_FILTERS = st.sampled_from(
    ["val_accuracy > 80", "params <= 1e6 and status == 'ok'", "space in ['nb201', 'x']",
     "not (seed == 0)", "val_accuracy >= 70 or params < 5e5"]
)  # fmt: skip


@FUZZ
@given(
    tokens=st.lists(FILTER_TOKENS, max_size=9), valid=VALID_FILTERS,
    join=st.sampled_from(["", " and ", " or "]), noise=st.text(max_size=4),
)  # fmt: skip
def test_where_fuzz(
    tabular_store: Path, tokens: list[str], valid: str, join: str, noise: str
) -> None:
    text = (
        valid
        if not tokens
        else " ".join(tokens) + noise
        if not join
        else valid + join + " ".join(tokens)
    )
    _outcome("--where", lambda: ResultStore(tabular_store).read(filter=text))


FLAG_VALUES = st.sampled_from(
    ["0", "-1", "1", "2", "1.5", "nan", "inf", "²", "1e999", "", " ", "x", "90s", "0s", "9" * 30,
     "auto", "cpu", "cuda:99", "val_accuracy:max", "params<=1e6", "@/nonexistent", "{}", "[["]
)  # fmt: skip
FLAGS = st.sampled_from(
    ["--budget", "--seed", "--trial-timeout", "--cpus-per-trial", "--gpus-per-trial",
     "--max-concurrent", "--max-failures", "--epochs", "--device", "--objectives",
     "--constraint", "--option", "--top", "--keep-weights", "--strategy", "--resume",
     "--run-dir"]
)  # fmt: skip


@settings(FUZZ, max_examples=60)  # a run that starts costs a table load: fewer examples
@given(flags=st.lists(st.tuples(FLAGS, FLAG_VALUES), max_size=3))
def test_cli_flag_fuzz(
    tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str], flags: list
) -> None:
    argv = ["search", "--space", "nb201", "--evaluator", "tabular:nb201-cifar10"]
    if not any(f == "--budget" for f, _ in flags):
        argv += ["--budget", "2"]
    for flag, value in flags:
        argv += [flag, value]
    counts = COUNTS.setdefault("CLI flags", Counter())
    capsys.readouterr()
    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))  # relative --run-dir values land in a temp dir
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refused a flag: its one line, exit 2
        code = exc.code
    finally:
        os.chdir(here)
    err = capsys.readouterr().err.strip()
    if code == 0:
        counts["accepted"] += 1
        return
    counts["clean" if code in (1, 2) and "unexpected" not in err else "traceback"] += 1
    assert code in (1, 2), (argv, code, err)
    lines = [line for line in err.splitlines() if line.startswith("nas: error:")]
    assert len(lines) == 1 and "Traceback" not in err and "unexpected" not in err, (argv, err)


def test_zz_report_fuzz_counts() -> None:
    """Prints the fuzzers' counts (run with -s); every fuzzer ran and none raised."""
    for name, counts in sorted(COUNTS.items()):
        print(f"{name}: {sum(counts.values())} inputs, {counts['accepted']} accepted, "
              f"{counts['clean']} clean errors, {counts['traceback']} tracebacks")  # fmt: skip
        assert counts["traceback"] == 0
