"""The space API's entry points raise ArchError/SpaceError for bad input, never a builtin."""

from __future__ import annotations

import json

import pytest

from nas.errors import ArchError, SpaceError
from nas.space import Arch, FloatRange, Space, get_space


@pytest.mark.parametrize("bad", [[1], "cell", None, 5])
def test_compile_refuses_what_is_not_an_arch_like_validate(bad: object) -> None:
    with pytest.raises(ArchError, match="An arch must be an Arch or a mapping"):
        get_space("nb201").compile(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"values": {"a": NaN}}', "NaN"),
        ('{"values": {"a": 1e999}}', "1e999"),
        ('{"values": {"a": 1}, "values": {}}', "'values' twice"),
        ("[" * 5000, "nested too deeply"),
        ('{"values": {"a": ' + "9" * 5000 + "}}", "4300"),
        ("{", "malformed"),
    ],
)
def test_arch_from_json_refuses_bad_text_in_one_error(text: str, says: str) -> None:
    with pytest.raises(ArchError, match=says):
        Arch.from_json(text)


def test_a_huge_int_for_a_float_decision_is_out_of_domain() -> None:
    decision = FloatRange(0.0, 1.0)
    assert not decision.contains(10**400) and decision.normalize(10**400) == 10**400
    assert decision.contains(1) and decision.normalize(1) == 1.0


def _space_json(items: dict[str, object]) -> str:
    body = {"type": "Seq", "items": items}
    return json.dumps({"format": "nas-space/2", "name": "t", "version": "1",
                       "input_shape": [1, 8], "body": body})  # fmt: skip


LINEAR = {"type": "Op", "op": "linear",
          "attrs": {"out_features": {"type": "Choice", "options": [2, 4], "name": None}}}  # fmt: skip


def test_a_dotted_child_key_cannot_share_a_nested_childs_decision() -> None:
    nested = {"type": "Seq", "items": {"b": LINEAR}}
    with pytest.raises(SpaceError, match=r"'a\.b' contains '\.'"):
        Space.from_json(_space_json({"a": nested, "a.b": LINEAR}))


def test_a_key_given_twice_in_a_space_json_is_refused() -> None:
    text = _space_json({"fc": LINEAR, "fc2": LINEAR}).replace('"fc2"', '"fc"')
    with pytest.raises(SpaceError, match="'fc' twice"):
        Space.from_json(text)
    with pytest.raises(SpaceError, match="nested too deeply"):
        Space.from_json("[" * 5000)
