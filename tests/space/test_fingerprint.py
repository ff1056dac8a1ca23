"""``arch_id`` carries the space's structural fingerprint; ``Space.max_epochs()``."""

from __future__ import annotations

import numpy as np
import pytest

from nas.errors import SpaceError
from nas.space import (
    Arch,
    Choice,
    FloatRange,
    IntRange,
    Op,
    Recipe,
    Seq,
    Space,
    get_space,
    restamp,
)


def tiny(width: list[int] | None = None, *, kernel: int = 3, act: str = "relu") -> Space:
    body = Seq(
        conv=Op("conv1d", out_channels=Choice(width or [4, 8]), kernel_size=kernel, padding=1),
        act=Op(act),
        pool=Op("global_avg_pool"),
        fc=Op("linear", out_features=3),
    )
    return Space("t_tiny", body, input_shape=(2, 16))


def test_fingerprint_is_stable_across_builds_and_json() -> None:
    space = tiny()
    assert len(space.fingerprint) == 16
    assert tiny().fingerprint == space.fingerprint
    assert Space.from_json(space.to_json()).fingerprint == space.fingerprint
    # Pinned: a change of this value means every stored arch_id changes (bump on purpose).
    assert space.fingerprint == "39468d6a6f295aff"


@pytest.mark.parametrize(
    "edited",
    [
        lambda: tiny([4, 16]),  # a decision's values
        lambda: tiny([8, 4]),  # their order (the encoding's indices)
        lambda: tiny(kernel=5),  # a fixed attribute of an op
        lambda: tiny(act="gelu"),  # an op of the tree
        lambda: Space("t_tiny", tiny().body, input_shape=(2, 32)),  # the input shape
        lambda: Space("t_tiny", tiny().body, input_shape=(2, 16), recipe=Recipe(epochs=3)),
    ],
)
def test_an_edited_space_never_reuses_old_ids(edited) -> None:  # type: ignore[no-untyped-def]
    old, new = tiny(), edited()
    assert (new.name, new.version) == (old.name, old.version)
    assert new.fingerprint != old.fingerprint
    values = {"conv.out_channels": 4}
    assert new.arch(values).arch_id != old.arch(values).arch_id


def test_name_and_description_are_not_structure() -> None:
    space = tiny()
    other = Space("t_other", space.body, input_shape=space.input_shape, description="notes")
    assert other.fingerprint == space.fingerprint
    assert (
        other.arch({"conv.out_channels": 4}).arch_id != space.arch({"conv.out_channels": 4}).arch_id
    )


def test_arch_json_carries_the_fingerprint() -> None:
    space = get_space("nb201")
    arch = space.sample(np.random.default_rng(0))
    assert arch.fingerprint == space.fingerprint and f'"{space.fingerprint}"' in arch.to_json()
    again = Arch.from_json(arch.to_json())
    assert again == arch and again.arch_id == arch.arch_id
    bare = Arch("toy", "1", {"width": 16})  # no space: no fingerprint, id from name/version/values
    assert "fingerprint" not in bare.to_json() and Arch.from_json(bare.to_json()) == bare


def test_restamp_re_keys_archs_stored_before_fingerprints() -> None:
    space = get_space("nb201")
    arch = space.sample(np.random.default_rng(1))
    old = Arch(arch.space, arch.version, arch.values)
    assert old.arch_id != arch.arch_id
    assert restamp(old) == arch and restamp(arch) is arch
    other_version = Arch(arch.space, "0", arch.values)
    unknown = Arch("not_registered", "1", {"x": 1})
    assert restamp(other_version) is other_version and restamp(unknown) is unknown


@pytest.mark.parametrize(
    ("epochs", "expected"),
    [
        (Choice([10, 40, 20]), 40),
        (IntRange(1, 12), 12),
        (IntRange(2, 11, step=3), 11),
        (7, 7),
    ],
)
def test_max_epochs(epochs: object, expected: int) -> None:
    space = Space("t_epochs", Op("linear", out_features=2), input_shape=(3,),
                  recipe=Recipe(lr=0.1, epochs=epochs))  # fmt: skip
    assert space.max_epochs() == expected


def test_max_epochs_of_builtins_and_spaces_without_epochs() -> None:
    assert get_space("cnn1d").max_epochs() == 40 and get_space("mlp").max_epochs() == 40
    assert get_space("nb201").max_epochs() is None
    no_epochs = Space("t_lr", Op("relu"), input_shape=(3,), recipe=Recipe(lr=0.1))
    assert no_epochs.max_epochs() is None
    for epochs in (Choice([1.5, 2.5]), FloatRange(1.0, 9.5), "10"):
        bad = Space("t_bad", Op("relu"), input_shape=(3,), recipe=Recipe(epochs=epochs))
        with pytest.raises(SpaceError, match="recipe epochs must be ints"):
            bad.max_epochs()
