"""Bad input raises a NasError subclass whose one-line message names the path."""

from __future__ import annotations

import numpy as np
import pytest

from nas.errors import ArchError, GraphError, NasError, RegistryError, SpaceError
from nas.space import Choice, FloatRange, IntRange, Op, Residual, Seq, Space, get_space


def test_missing_decision_names_path() -> None:
    space = get_space("nb_macro")
    values = dict(space.sample(np.random.default_rng(0)).values)
    del values["layer3"]
    with pytest.raises(ArchError, match=r"Missing decision 'layer3'.*one of"):
        space.validate(values)


def test_extra_decision_names_path() -> None:
    space = get_space("nb_macro")
    values = dict(space.sample(np.random.default_rng(0)).values, bogus=1)
    with pytest.raises(ArchError, match=r"Unexpected decision 'bogus'"):
        space.validate(values)


def test_inactive_decision_is_extra() -> None:
    space = get_space("cnn1d")
    arch = space.sample(np.random.default_rng(1))
    depth = arch["blocks.depth"]
    extra = f"blocks.{depth}.conv.kernel_size"  # the block after the last one is inactive
    if depth < 4:
        with pytest.raises(ArchError, match="inactive"):
            space.validate(dict(arch.values, **{extra: 3}))


def test_out_of_range_names_path_value_and_domain() -> None:
    space = get_space("cnn1d")
    values = dict(space.sample(np.random.default_rng(0)).values)
    values["blocks.depth"] = 9
    with pytest.raises(
        ArchError, match=r"Expected an int in \[1, 4\] for 'blocks.depth' \(got 9\)"
    ):
        space.validate(values)


def test_wrong_type_is_out_of_domain() -> None:
    space = get_space("nb201")
    values = dict(space.sample(np.random.default_rng(0)).values)
    values["cell.n1_from0"] = "conv_3x3"
    with pytest.raises(ArchError, match=r"cell\.n1_from0"):
        space.compile(values)


def test_unknown_op_suggests_close_match() -> None:
    with pytest.raises(RegistryError, match=r"did you mean 'conv2d'"):
        Op("conv2D", out_channels=3, kernel_size=1)


def test_shape_mismatch_between_blocks_names_the_node() -> None:
    body = Residual(Seq(conv=Op("conv2d", out_channels=8, kernel_size=3, stride=2, padding=1)))
    space = Space("t_mismatch", Seq(block=body), input_shape=(4, 8, 8))
    with pytest.raises(GraphError, match=r"block\.add"):
        space.compile({})


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("{not json", "malformed"),
        ('{"format": "other"}', "format"),
        (
            '{"format": "nas-space/2", "name": "x", "input_shape": [3], "body": {"type": "Sq"}}',
            r"Space JSON at body: Unknown node type 'Sq'; did you mean 'Seq'",
        ),
        (
            '{"format": "nas-space/2", "name": "x", "input_shape": [3], '
            '"body": {"type": "Seq", "items": {"fc": {"type": "Op", "op": "linear", "attrs": '
            '{"out_features": {"type": "IntRange", "low": 5, "high": 1}}}}}}',
            r"body.items.fc.attrs.out_features: IntRange needs low <= high",
        ),
        (
            '{"format": "nas-space/2", "name": "x", "input_shape": [3], '
            '"body": {"type": "Seq", "items": {"0": {"type": "Op", "op": "lnear"}}}}',
            r"body.items.0.*did you mean 'linear'",
        ),
        (
            '{"format": "nas-space/2", "name": "x", "input_shape": [3], "body": {"type": "Seq"}}',
            r"Space JSON at body: missing field 'items'",
        ),
        ('{"format": "nas-space/1", "name": "x"}', r"format 'nas-space/1'; expected 'nas-space/2'"),
    ],
)
def test_malformed_space_json(text: str, pattern: str) -> None:
    with pytest.raises(NasError, match=pattern):
        Space.from_json(text)


@pytest.mark.parametrize(
    "make",
    [
        lambda: IntRange(5, 1),
        lambda: IntRange(1, 5, step=3),
        lambda: FloatRange(0.0, 1.0, log=True),
        lambda: Choice([]),
        lambda: Choice([1, 1]),
        lambda: Choice([object()]),
    ],
)
def test_bad_decisions(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SpaceError):
        make()


def test_sample_needs_a_generator() -> None:
    with pytest.raises(SpaceError, match="default_rng"):
        get_space("nb201").sample(42)  # type: ignore[arg-type]


def test_errors_mirror_builtins() -> None:
    assert issubclass(ArchError, ValueError) and issubclass(RegistryError, LookupError)
