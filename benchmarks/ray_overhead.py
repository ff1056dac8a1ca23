"""How much wall time Ray Tune adds to a search of short trials: plain Tune vs ``nas.run``.

Both executors train the same 20 cnn1d archs on mnist1d (the first 20 a seeded random
strategy proposes; epochs sized so a trial trains ~5 s on one core), 2 at a time, one CPU
each, in a fresh Ray started for the occasion (each executor in its own subprocess, so
neither inherits the other's Ray or environment). For each it reports the sum of the trials'
training time, the ideal wall time (that sum / 2), the measured wall time of the search
(Ray start-up and the import of Ray Tune excluded for both, Ray start-up reported apart)
and their ratio.

- plain: ``tune.Tuner`` with Ray Tune's defaults: a function trainable, ``grid_search`` over
  the archs, ``max_concurrent_trials=2``, default loggers, checkpointing and output.
- ours: ``nas.search.run(..., executor="ray")`` with the random strategy over the same space
  and seed.
  It also reports when the first trial started training (``first_training_start_s``) and
  the CPU seconds a new trial worker spends before its trial runs (``worker_start_cpu_s``,
  from a probe trial on fresh workers after the search), and from that ``floor_ratio``:
  the ratio if nothing but the slots' first worker start stood between trials.

Run: ``python benchmarks/ray_overhead.py [--trials 20] [--epochs 5] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SPACE = "cnn1d"
DATASET = "mnist1d"
CONCURRENCY = 2


def _archs(n: int, seed: int) -> list[Any]:
    from nas.search import get_strategy
    from nas.space import get_space

    return [c.arch for c in get_strategy("random", get_space(SPACE), seed=seed).ask(n)]


def _evaluator(epochs: int) -> Any:
    from nas.run import TrainingEvaluator

    return TrainingEvaluator(SPACE, DATASET, device="cpu", recipe_overrides={"epochs": epochs})


def _plain(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    import ray
    from ray import tune

    start = time.perf_counter()
    ray.init()
    ray_start = time.perf_counter() - start
    evaluator = _evaluator(args.epochs)

    def trainable(config: dict[str, Any]) -> None:
        import torch

        from nas.space import Arch

        torch.set_num_threads(1)
        result = evaluator.evaluate(Arch.from_json(config["arch"]), seed=0)
        tune.report({"val_accuracy": result.val_accuracy, "train_seconds": result.train_seconds})

    archs = [a.to_json() for a in _archs(args.trials, args.seed)]
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        param_space={"arch": tune.grid_search(archs)},
        tune_config=tune.TuneConfig(max_concurrent_trials=CONCURRENCY),
        run_config=tune.RunConfig(storage_path=str(workdir / "plain")),
    )
    start = time.perf_counter()
    grid = tuner.fit()
    wall = time.perf_counter() - start
    seconds = [r.metrics["train_seconds"] for r in grid]
    ray.shutdown()
    return {"ray_start_s": ray_start, "wall_s": wall, "train_seconds": seconds}


def _ours(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from nas.run import init_ray
    from nas.search import RayOptions, get_strategy, run
    from nas.space import get_space

    space = get_space(SPACE)
    # Imported before the clock starts, as plain Tune's `from ray import tune` is.
    import nas.run._tune  # noqa: F401  # (imports Ray Tune)

    start = time.perf_counter()
    # The same start-up the Ray executor would do itself, timed apart as for plain Tune.
    init_ray(None, env_vars={"NAS_CACHE_DIR": os.environ["NAS_CACHE_DIR"]})
    ray_start = time.perf_counter() - start
    start = time.perf_counter()
    clock_start = time.time()
    result = run(
        space,
        get_strategy("random", space, seed=args.seed),
        _evaluator(args.epochs),
        executor="ray",
        budget=args.trials,
        store=workdir / "ours" / "store",
        run_dir=workdir / "ours",
        ray=RayOptions(max_concurrent=CONCURRENCY),
        progress=False,
    )
    wall = time.perf_counter() - start
    # A row is created when its trial's training ends (worker clock: this machine's).
    starts = [_epoch_s(r.created_at) - (r.train_seconds or 0.0) for r in result.results]
    worker_cpu = _worker_start_cpu(workdir)
    import ray

    ray.shutdown()
    statuses = sorted({r.status for r in result.results})
    return {
        "ray_start_s": ray_start,
        "wall_s": wall,
        "train_seconds": [r.train_seconds for r in result.results],
        "statuses": statuses,
        "first_training_start_s": min(starts) - clock_start,
        "worker_start_cpu_s": worker_cpu,
    }


def _epoch_s(created_at: Any) -> float:
    from datetime import timezone

    if created_at.tzinfo is None:  # the store keeps UTC timestamps without a zone
        created_at = created_at.replace(tzinfo=timezone.utc)
    return float(created_at.timestamp())


def _worker_start_cpu(workdir: Path) -> list[float]:
    """CPU seconds a new trial worker of ``nas.run`` spends before its trial function runs.

    Each concurrent slot's first trial needs a new Ray worker process: the Ray worker's own
    start, the job's setup hook (torch, the torch.compile machinery torch's optimizers import,
    the trainer) and Ray Tune's trainable. These imports run in one thread, so no number of
    cores makes a slot's first trial start sooner than this.
    """
    from ray import tune

    def probe(config: dict[str, Any]) -> None:
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        tune.report({"cpu_s": usage.ru_utime + usage.ru_stime})

    tuner = tune.Tuner(
        tune.with_resources(probe, {"cpu": 1}),
        param_space={"slot": tune.grid_search(list(range(CONCURRENCY)))},
        tune_config=tune.TuneConfig(max_concurrent_trials=CONCURRENCY),
        run_config=tune.RunConfig(storage_path=str(workdir / "probe"), verbose=0),
    )
    return sorted(float(r.metrics["cpu_s"]) for r in tuner.fit())


def _child(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = (_plain if args.child == "plain" else _ours)(args, Path(tmp))
    print("RESULT " + json.dumps(out))


def _run_child(mode: str, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", mode, "--trials", str(args.trials)]
    cmd += ["--epochs", str(args.epochs), "--seed", str(args.seed)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"the {mode} run failed (exit {proc.returncode})")
    out = json.loads(lines[-1][len("RESULT ") :])
    total = sum(out["train_seconds"])
    ideal = total / CONCURRENCY
    out.update(
        trials=len(out["train_seconds"]),
        sum_train_s=total,
        ideal_wall_s=ideal,
        ratio=out["wall_s"] / ideal,
    )
    if "worker_start_cpu_s" in out:
        # Every slot waits for its first worker: the ratio with nothing else in the way.
        out["floor_ratio"] = (ideal + max(out["worker_start_cpu_s"])) / ideal
    del out["train_seconds"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=5, help="epochs per trial (~5 s total)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--executors", default="plain,ours", help="which to run (default: both, one run)"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", choices=("plain", "ours"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NAS_CACHE_DIR": cache}
        # Generate the dataset once, into the on-disk cache both executors read, so neither
        # pays for it inside the measured search.
        subprocess.run(
            [sys.executable, "-c", f"from nas.data import get_dataset; get_dataset({DATASET!r})"],
            env=env,
            check=True,
        )
        modes = [m for m in ("plain", "ours") if m in args.executors.split(",")]
        rows = {mode: _run_child(mode, args, env) for mode in modes}
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(
        f"{args.trials} trials of {SPACE} on {DATASET} ({args.epochs} epochs), {CONCURRENCY} at a time"
    )
    print(
        f"{'executor':<8} {'sum train s':>11} {'ideal wall s':>12} {'wall s':>7} {'ratio':>6} {'ray start s':>11}"
    )
    for mode, r in rows.items():
        print(
            f"{mode:<8} {r['sum_train_s']:>11.1f} {r['ideal_wall_s']:>12.1f} {r['wall_s']:>7.1f} "
            f"{r['ratio']:>6.2f} {r['ray_start_s']:>11.1f}"
        )
        if "floor_ratio" in r:
            print(
                f"{'':<8} first training started at {r['first_training_start_s']:.1f} s; a new "
                f"worker spends {max(r['worker_start_cpu_s']):.1f} CPU s before its trial "
                f"(floor ratio {r['floor_ratio']:.2f})"
            )


if __name__ == "__main__":
    main()
