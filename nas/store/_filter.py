"""A small, safe filter language for the CLI, compiled to ``pyarrow.dataset`` expressions.

Grammar (keywords are case-insensitive; nothing is ever ``eval``-ed)::

    expr    := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | atom
    atom    := "(" expr ")"
             | COLUMN ("==" | "=" | "!=" | "<" | "<=" | ">" | ">=") LITERAL
             | LITERAL OP COLUMN
             | COLUMN "is" ["not"] "null"
             | COLUMN ["not"] "in" "(" LITERAL ("," LITERAL)* ")"
    LITERAL := number | 'text' | "text" | true | false

Columns are checked against the schema, and literals against the column's type, so a
typo fails before any file is read.
"""

from __future__ import annotations

import difflib
import re
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from nas.errors import NasError
from nas.store._schema import SCHEMA

__all__ = ["FilterError", "parse_filter"]


class FilterError(NasError, ValueError):
    """A ``--where`` filter string is malformed or names an unknown column."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)
      | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<op>==|!=|<=|>=|=|<|>|\(|\)|,)
      | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "is", "in", "null", "true", "false"}
_COMPARE = {
    "==": lambda a, b: a == b,
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "=": "=", "!=": "!="}


def _tokenize(text: str) -> list[tuple[str, Any, int]]:
    tokens: list[tuple[str, Any, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            start = len(text) - len(text[pos:].lstrip())
            raise FilterError(
                f"Bad filter {text!r}: unexpected {text[start : start + 10]!r} at column {start + 1}; "
                f"write e.g. \"space == 'nb201' and val_accuracy > 90\"."
            )
        kind = match.lastgroup or ""
        raw = match.group(kind)
        start = match.start(kind)
        value: Any = raw
        if kind == "num":
            value = float(raw) if any(c in raw for c in ".eE") else int(raw)
        elif kind == "str":
            value = re.sub(r"\\(.)", r"\1", raw[1:-1])
        elif kind == "name" and raw.lower() in _KEYWORDS:
            kind, value = "kw", raw.lower()
        tokens.append((kind, value, start))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def error(self, what: str) -> FilterError:
        if self.i < len(self.tokens):
            where = f"at column {self.tokens[self.i][2] + 1} ({self.tokens[self.i][1]!r})"
        else:
            where = "at the end"
        return FilterError(
            f"Bad filter {self.text!r}: expected {what} {where}; "
            f"write e.g. \"space == 'nb201' and val_accuracy > 90\"."
        )

    def peek(self, kind: str, value: Any = None) -> bool:
        if self.i >= len(self.tokens):
            return False
        k, v, _ = self.tokens[self.i]
        return k == kind and (value is None or v == value)

    def take(self, kind: str, value: Any = None, what: str = "") -> Any:
        if not self.peek(kind, value):
            raise self.error(what or repr(value) if value is not None else what or kind)
        self.i += 1
        return self.tokens[self.i - 1][1]

    def parse(self) -> pc.Expression:
        if not self.tokens:
            raise self.error("a condition")
        expr = self.expr()
        if self.i != len(self.tokens):
            raise self.error("'and', 'or' or the end")
        return expr

    def expr(self) -> pc.Expression:
        out = self.conj()
        while self.peek("kw", "or"):
            self.i += 1
            out = out | self.conj()
        return out

    def conj(self) -> pc.Expression:
        out = self.negation()
        while self.peek("kw", "and"):
            self.i += 1
            out = out & self.negation()
        return out

    def negation(self) -> pc.Expression:
        if self.peek("kw", "not"):
            self.i += 1
            return ~self.negation()
        return self.atom()

    def atom(self) -> pc.Expression:
        if self.peek("op", "("):
            self.i += 1
            inner = self.expr()
            self.take("op", ")", "')'")
            return inner
        if self.peek("name"):
            column = self.column(self.take("name"))
            if self.peek("kw", "is"):
                self.i += 1
                negate = self.peek("kw", "not")
                self.i += negate
                self.take("kw", "null", "'null'")
                test = pc.field(column).is_null()
                return ~test if negate else test
            negate = self.peek("kw", "not")
            if negate or self.peek("kw", "in"):
                self.i += negate
                self.take("kw", "in", "'in'")
                values = self.literal_list(column)
                test = pc.field(column).isin(values)
                return ~test if negate else test
            op = self.operator()
            return _COMPARE[op](pc.field(column), self.literal(column))
        # a literal on the left, e.g. "90 < val_accuracy"
        left_at = self.i
        self.literal(None)
        op = self.operator()
        column = self.column(self.take("name", what="a column name"))
        end = self.i
        self.i = left_at
        value = self.literal(column)
        self.i = end
        return _COMPARE[_FLIP[op]](pc.field(column), value)

    def operator(self) -> str:
        if self.peek("op") and self.tokens[self.i][1] in _COMPARE:
            self.i += 1
            return str(self.tokens[self.i - 1][1])
        raise self.error("a comparison (==, !=, <, <=, >, >=, is null, in)")

    def column(self, name: str) -> str:
        if name in SCHEMA.names:
            return name
        close = difflib.get_close_matches(name, SCHEMA.names, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"columns are {', '.join(SCHEMA.names)}."
        raise FilterError(f"Bad filter {self.text!r}: unknown column {name!r}; {hint}")

    def literal_list(self, column: str) -> list[Any]:
        self.take("op", "(", "'('")
        values = [self.literal(column)]
        while self.peek("op", ","):
            self.i += 1
            values.append(self.literal(column))
        self.take("op", ")", "')'")
        return values

    def literal(self, column: str | None) -> Any:
        if self.peek("num") or self.peek("str"):
            kind, value, _ = self.tokens[self.i]
        elif self.peek("kw", "true") or self.peek("kw", "false"):
            kind, value = "bool", self.tokens[self.i][1] == "true"
        else:
            raise self.error("a number, a 'quoted string', true or false")
        if column is not None:
            value = _check_type(self.text, column, kind, value)
        self.i += 1
        return value


def _check_type(text: str, column: str, kind: str, value: Any) -> Any:
    """Check a literal against its column's type; return it in the form Arrow compares."""
    type_ = SCHEMA.field(column).type
    if pa.types.is_string(type_):
        ok = kind == "str"
        want = "a 'quoted string'"
    elif pa.types.is_integer(type_) or pa.types.is_floating(type_):
        ok = kind == "num"
        want = "a number"
    elif pa.types.is_timestamp(type_):
        ok = kind == "str"
        want = "a 'quoted ISO time'"
    else:
        raise FilterError(
            f"Bad filter {text!r}: column {column!r} is a {type_} and cannot be compared; "
            f"filter on a scalar column instead."
        )
    if not ok:
        raise FilterError(f"Bad filter {text!r}: column {column!r} needs {want} (got {value!r}).")
    if pa.types.is_timestamp(type_):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise FilterError(
                f"Bad filter {text!r}: {value!r} is not an ISO time; write e.g. '2025-01-31T12:00'."
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return pa.scalar(moment, type=type_)
    return value


def parse_filter(text: str) -> pc.Expression:
    """Compile a filter string into a ``pyarrow.dataset`` expression.

    Example:
        >>> parse_filter("space == 'nb201' and val_accuracy > 90")
        <pyarrow.compute.Expression ((space == "nb201") and (val_accuracy > 90))>
    """
    if not isinstance(text, str):
        raise FilterError(
            f"A filter must be a str or a pyarrow expression (got {type(text).__name__})."
        )
    try:
        return _Parser(text).parse()
    except RecursionError:
        raise FilterError(
            f"Filter {text[:40]!r}... is nested too deeply; remove redundant parentheses."
        ) from None
