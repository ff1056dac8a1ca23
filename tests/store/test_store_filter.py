"""The filter string language: parsing, errors and its meaning on real rows."""

from __future__ import annotations

import re

import pyarrow.compute as pc
import pytest

from nas.store import FilterError, ResultStore, parse_filter


@pytest.fixture
def filled(store: ResultStore, results) -> ResultStore:
    store.append(results(10))
    store.append(results(2, start=100, space="darts", status="failed", val_accuracy=None))
    return store


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("space == 'nb201'", 10),
        ('space = "darts"', 2),
        ("space == 'nb201' and val_accuracy > 85", 4),
        ("85 < val_accuracy and space == 'nb201'", 4),
        ("val_accuracy >= 89 or status == 'failed'", 3),
        ("not (status == 'ok')", 2),
        ("val_accuracy is null", 2),
        ("val_accuracy is not null and seed in (0, 2)", 7),
        ("status not in ('ok')", 2),
        ("params <= 1004 AND flops != 10003", 4),
        ("created_at >= '2025-01-02T00:00:00' and created_at < '2025-01-03'", 12),
        ("val_accuracy > 8.5e1", 4),
    ],
)
def test_filter_strings_select_the_right_rows(
    filled: ResultStore, text: str, expected: int
) -> None:
    assert filled.count(text) == expected


def test_string_and_expression_filters_agree(filled: ResultStore) -> None:
    expr = (pc.field("space") == "nb201") & (pc.field("val_accuracy") > 85)
    assert filled.read(expr).equals(filled.read("space == 'nb201' and val_accuracy > 85"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("val_acc > 90", "unknown column 'val_acc'; did you mean 'val_accuracy'"),
        ("space == 3", "column 'space' needs a 'quoted string'"),
        ("val_accuracy > 'high'", "column 'val_accuracy' needs a number"),
        ("space ==", "expected a number, a 'quoted string', true or false at the end"),
        ("__import__('os').system('true')", "unexpected"),
        ("space == 'a'; rm", "unexpected ';"),
        ("space == 'a' val_accuracy > 1", "expected 'and', 'or' or the end"),
        ("(space == 'a'", "expected ')'"),
        ("train_loss_curve > 1", "cannot be compared"),
        ("created_at > 'yesterday'", "not an ISO time"),
        ("", "expected a condition"),
    ],
)
def test_bad_filters_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(FilterError, match=re.escape(message)) as info:
        parse_filter(text)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)
