"""``nas.train`` and ``nas.oneshot`` import without torch; their torch names load on first use."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
import nas.oneshot, nas.train
from nas.train import Recipe
Recipe.from_mapping({"epochs": 2})
before = "torch" in sys.modules
methods = nas.oneshot.METHODS
train = nas.train.train
print(json.dumps({
    "torch_before": before,
    "methods": list(methods),
    "torch_after": "torch" in sys.modules,
    "cached": nas.train.__dict__.get("train") is train,
    "module": train.__module__,
}))
"""


def test_torch_names_load_on_first_use_and_stay() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    got = json.loads(out.stdout)
    assert got == {
        "torch_before": False,
        "methods": ["darts", "beta_darts", "spos"],
        "torch_after": True,
        "cached": True,
        "module": "nas.train._trainer",
    }


@pytest.mark.parametrize("package", ["nas.train", "nas.oneshot"])
def test_an_unknown_name_is_an_attribute_error_naming_the_package(package: str) -> None:
    module = __import__(package, fromlist=["_"])
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'nope'"):
        module.nope  # noqa: B018
    assert not hasattr(module, "nope")
