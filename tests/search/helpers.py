"""Spaces, synthetic objectives and ask/tell drivers shared by the strategy tests."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nas.search import Strategy, get_strategy
from nas.space import Arch, Choice, IntRange, Op, Recipe, Repeat, Seq, Space, get_space

STRATEGIES = ["random", "rea", "ls", "tpe", "nsga2"]
# Small populations so the evolutionary phases start within a test's few dozen steps.
OPTIONS: dict[str, dict] = {
    "random": {},
    "rea": {"population_size": 12, "sample_size": 4},
    "ls": {"num_init": 5},
    "tpe": {"n_startup_trials": 8},
    "nsga2": {"population_size": 10},
}


def tiny_space() -> Space:
    """Six archs: 3 widths x 2 activations."""
    return Space(
        "tiny_search",
        Seq(fc=Op("linear", out_features=Choice([8, 16, 32])), act=Op(Choice(["relu", "gelu"]))),
        input_shape=(4,),
    )


def conditional_tiny_space() -> Space:
    """12 archs: a variable depth (1-2 blocks of width 4 or 8) and a tuple-valued recipe choice."""
    block = Seq(fc=Op("linear", out_features=Choice([4, 8])), act=Op("relu"))
    return Space(
        "tiny_conditional",
        Seq(blocks=Repeat(block, depth=IntRange(1, 2)), out=Op("linear", out_features=3)),
        input_shape=(4,),
        recipe=Recipe(optimizer="adamw", betas=Choice([(0.9, 0.999), (0.8, 0.99)])),
    )


def space_named(name: str) -> Space:
    if name == "tiny":
        return tiny_space()
    if name == "tiny_conditional":
        return conditional_tiny_space()
    return get_space(name)


def make(name: str, space: Space, seed: int = 0, **kw) -> Strategy:
    return get_strategy(name, space, seed=seed, **{**OPTIONS[name], **kw})


def synthetic_score(space: Space) -> Callable[[Arch], float]:
    """A deterministic, rugged function of the arch's encoding (inactive decisions count 0)."""
    weights = np.random.default_rng(1234).normal(size=len(space.decisions))

    def score(arch: Arch) -> float:
        code = np.nan_to_num(space.encode(arch), nan=0.0)
        return float(50.0 + 10.0 * math.tanh(float(weights @ code) / 4.0))

    return score


def drive(strategy: Strategy, steps: int, score: Callable[[Arch], float]) -> list[Arch]:
    """Sequential ask/tell; every 7th candidate fails. Returns the proposed archs."""
    out: list[Arch] = []
    for _ in range(steps):
        got = strategy.ask(1)
        if not got:
            break
        [c] = got
        out.append(c.arch)
        if len(out) % 7 == 0:
            strategy.tell(c.candidate_id, None, status="failed")
        else:
            strategy.tell(c.candidate_id, {"val_accuracy": score(c.arch)})
    return out


def json_round_trip(state: dict) -> dict:
    return json.loads(json.dumps(state, allow_nan=False))


NAS = [sys.executable, "-c", "import sys; from nas.cli import main; sys.exit(main())"]


def nas_env() -> dict[str, str]:
    """The environment of a `nas` subprocess: this checkout first on the import path."""
    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def runs_of(store: Path) -> Path:
    """Where `nas search --store STORE` puts its run directories: STORE.runs beside it."""
    return store.with_name(f"{store.name}.runs")


def _default_sigint() -> None:
    """A job started in the background of a non-interactive shell inherits SIGINT ignored,
    and Python then never raises KeyboardInterrupt: give the search the default handling a
    terminal's Ctrl-C meets."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupted_training_search(store: Path, budget: int, cwd: Path) -> tuple[int, str, str]:
    """`nas search` of ``budget`` one-epoch cnn1d trainings (in-process, CPU) into ``store``
    as its own process, sent Ctrl-C once its second trial started: (exit code, stdout,
    stderr)."""
    argv = ["search", "--space", "cnn1d", "--dataset", "mnist1d", "--executor", "local",
            "--epochs", "1", "--device", "cpu", "--budget", str(budget), "--store", str(store)]  # fmt: skip
    proc = subprocess.Popen(
        [*NAS, *argv], cwd=cwd, env=nas_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=_default_sigint,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not list(runs_of(store).glob("*/weights/000001")):  # the second trial started
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "no trial started in time"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, stdout, stderr
