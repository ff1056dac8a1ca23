"""``nas train``: train one arch in-process (or reproduce a stored trial) and print its metrics."""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nas.cli._common import CliInputError, add_json_flag, emit

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train one architecture (or reproduce a stored trial) and print its metrics",
        description=(
            "Compile an arch of SPACE, train it with its recipe on a dataset (in this process) "
            "and print validation/test accuracy, params, FLOPs and the per-epoch curve. The "
            "reported metrics are the best epoch's (by validation accuracy); --onnx exports "
            "that epoch's weights. With --from-store STORE --trial ID, train a stored trial "
            "again (its arch, recipe, seed, dataset, device and torch threads) and compare the "
            "new curves with the stored ones."
        ),
        epilog=(
            "examples: nas train cnn1d --arch @arch.json --dataset mnist1d --epochs 5 "
            "--onnx best.onnx --store runs/store;  "
            "nas train --from-store runs/store --trial train-1a2b3c4d"
        ),
    )
    parser.add_argument(
        "space", metavar="SPACE", nargs="?", help="a registered space (see `nas spaces`)"
    )
    parser.add_argument(
        "--arch",
        metavar="JSON_OR_@FILE",
        help='the arch: {"path": value, ...}, an arch JSON with "values", or @file.json',
    )
    parser.add_argument("--dataset", help="a registered dataset, e.g. mnist1d")
    parser.add_argument("--seed", type=int, help="training seed (default 0)")
    parser.add_argument("--epochs", type=int, help="override the recipe's number of epochs")
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        help="default auto (a reproduced trial: its own)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="torch CPU threads (CPU results depend on it; a reproduced trial: its own)",
    )
    parser.add_argument("--time-limit", type=float, metavar="SECONDS", help="training time limit")
    parser.add_argument(
        "--onnx", metavar="PATH", help="export the trained network (best epoch) to this ONNX file"
    )
    parser.add_argument("--store", metavar="DIR_OR_URI", help="append the result to this store")
    parser.add_argument(
        "--checkpoint",
        metavar="DIR",
        help="keep the best epoch's weights in DIR (default with a local --store: "
        "STORE-checkpoints/TRIAL_ID beside it)",
    )
    parser.add_argument(
        "--from-store", metavar="STORE", help="reproduce a trial of this store (with --trial)"
    )
    parser.add_argument("--trial", metavar="TRIAL_ID", help="the stored trial to reproduce")
    parser.add_argument("--run-id", help="the run of --trial, when several runs have that id")
    add_json_flag(parser)
    parser.set_defaults(handler=_train)


def check_writable(path: str, flag: str) -> None:
    """Raise a one-line error unless a file can be written at ``path`` (checked by writing)."""
    target = Path(path)
    existed = target.exists()
    if target.is_dir():
        raise CliInputError(f"{flag} {path!r} is a directory; pass a file path such as best.onnx.")
    try:
        with open(target, "ab"):
            pass
    except OSError as err:
        raise CliInputError(
            f"{flag}: cannot write {path!r} ({err.strerror or err}); pass a path in an "
            f"existing, writable directory."
        ) from None
    if not existed:
        target.unlink()


def _text(result: Any, onnx: Path | None, stored: str | None, compared: dict | None) -> str:
    lines = [f"arch {result.arch_id} on {result.dataset}: {result.status}"]
    if result.error:
        lines.append(f"  reason: {result.error}")
    if result.val_accuracy is not None:
        test = "-" if result.test_accuracy is None else f"{result.test_accuracy:.2f}%"
        best = (result.extra_dict() or {}).get("best_epoch")
        at = f" (best epoch {best})" if best is not None else ""
        lines.append(f"  val {result.val_accuracy:.2f}%, test {test}{at}")
    lines.append(
        f"  params {result.params or 0:,}, FLOPs (MACs) {result.flops or 0:,}, "
        f"epochs {result.fidelity}, {result.train_seconds or 0:.1f} s"
    )
    if result.val_accuracy_curve:
        curve = " ".join(f"{v:.1f}" for v in result.val_accuracy_curve)
        lines.append(f"  val accuracy per epoch: {curve}")
    if result.trial_id:
        lines.append(f"  trial {result.trial_id}")
    if compared is not None:
        how = (
            f"identical curves over its {compared['epochs']} epochs"
            if compared["identical"]
            else f"curves differ (max |diff| {compared['max_abs_diff']:.4g})"
        )
        lines.append(f"  reproduces trial {compared['trial_id']}: {how}")
    if onnx is not None:
        lines.append(f"  ONNX: {onnx}")
    elif result.status != "ok":
        lines.append("  ONNX: not written (no finished training to export)")
    if stored:
        lines.append(f"  stored in {stored}")
    return "\n".join(lines)


_CURVES = ("train_loss_curve", "val_accuracy_curve", "test_accuracy_curve")


def compare_curves(stored: Any, new: Any) -> dict[str, Any]:
    """How far ``new``'s curves are from ``stored``'s (epoch times excluded).

    A stored trial that a scheduler or a time limit stopped early holds fewer epochs than
    its recipe; the learning-rate schedule depends on the recipe only, so its epochs are
    compared with the same first epochs of the full new run.
    """
    epochs = len(stored.val_accuracy_curve or ())
    diffs = [0.0 if len(new.val_accuracy_curve or ()) >= epochs else math.inf]
    for name in _CURVES:
        a, b = getattr(stored, name) or (), (getattr(new, name) or ())[:epochs]
        diffs += [abs(x - y) for x, y in zip(a, b, strict=False)]
    return {"trial_id": stored.trial_id, "epochs": epochs, "identical": max(diffs) == 0.0,
            "max_abs_diff": max(diffs)}  # fmt: skip


def _reproduction(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The stored row to reproduce and the training settings it was made with."""
    from nas.space import Arch
    from nas.store import ResultStore
    from nas.train._export import stored_trial

    if args.trial is None:
        raise CliInputError("--from-store needs --trial TRIAL_ID (the trial to reproduce).")
    given = [f for f in ("space", "arch", "dataset", "seed", "epochs") if getattr(args, f)]
    if given:
        raise CliInputError(
            f"--from-store takes the trial's own {', '.join(given)}; drop "
            f"{', '.join('SPACE' if f == 'space' else '--' + f for f in given)}."
        )
    row = stored_trial(ResultStore(args.from_store), trial_id=args.trial, run_id=args.run_id)
    if not row.recipe:
        raise CliInputError(
            f"Trial {args.trial!r} has no stored recipe (status {row.status!r}, a tabular or "
            f"imported row?); only trained trials can be reproduced."
        )
    extra = row.extra_dict() or {}
    from nas.data import SPLIT_SEED, VAL_FRACTION

    split = {"val_fraction": VAL_FRACTION, "seed": SPLIT_SEED}
    if extra.get("data_split", split) != split:
        raise CliInputError(
            f"Trial {args.trial!r} was trained on the data split {extra['data_split']}; this "
            f"engine splits {split}: it cannot be reproduced here."
        )
    device = str(extra.get("device") or "auto")
    settings = {
        "space": row.space,
        "arch": Arch.from_json(row.arch),
        "dataset": row.dataset,
        "seed": int(row.seed or 0),
        "recipe": row.recipe_dict(),
        "device": args.device or ("cuda" if device.startswith("cuda") else device),
        "threads": args.threads if args.threads is not None else extra.get("threads"),
        "dataset_kwargs": extra.get("dataset_kwargs") or {},
    }
    return row, settings


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    missing = [f"--{f}" for f in ("arch", "dataset") if getattr(args, f) is None]
    if args.space is None:
        missing.insert(0, "SPACE")
    if missing:
        raise CliInputError(
            f"nas train needs {', '.join(missing)} (or --from-store STORE --trial ID)."
        )
    if args.epochs is not None and args.epochs < 1:
        raise CliInputError(f"--epochs must be >= 1 (got {args.epochs}).")
    from nas.cli._spaces import _arch
    from nas.space import get_space

    space = get_space(args.space)
    return {
        "space": args.space,
        "arch": _arch(space, args.arch),
        "dataset": args.dataset,
        "seed": 0 if args.seed is None else args.seed,
        "recipe": {} if args.epochs is None else {"epochs": args.epochs},
        "device": args.device or "auto",
        "threads": args.threads,
        "dataset_kwargs": {},
    }


@contextlib.contextmanager
def _checkpoint_dir(args: argparse.Namespace, trial_id: str) -> Iterator[str | None]:
    """Where the best epoch's weights go: --checkpoint, beside a local store, or a temporary
    directory that lives as long as the export needs it."""
    if args.checkpoint:
        yield str(Path(args.checkpoint).absolute())
        return
    if args.store and "://" not in args.store:
        store = Path(args.store).absolute()
        yield str(store.parent / f"{store.name}-checkpoints" / trial_id)
        return
    if args.onnx:
        with tempfile.TemporaryDirectory(prefix="nas-train-") as tmp:
            yield tmp
        return
    yield None


def _train(args: argparse.Namespace) -> int:
    row = None
    if args.from_store:
        row, settings = _reproduction(args)
    else:
        settings = _settings(args)
    if settings["threads"] is not None and int(settings["threads"]) < 1:
        raise CliInputError(f"--threads must be >= 1 (got {settings['threads']}).")
    if args.onnx:
        check_writable(args.onnx, "--onnx")  # before training, not after it
    from nas.run import TrainingEvaluator
    from nas.space import get_space

    space = get_space(settings["space"])
    evaluator = TrainingEvaluator(
        space,
        settings["dataset"],
        device=settings["device"],
        time_limit_s=args.time_limit,
        recipe_overrides=settings["recipe"],
        dataset_kwargs=settings["dataset_kwargs"],
        threads=None if settings["threads"] is None else int(settings["threads"]),
    )

    def on_epoch(partial: Any) -> None:
        if not args.json:  # one line per epoch, so a long run shows it is alive
            curve = partial.val_accuracy_curve or (math.nan,)
            print(f"epoch {partial.fidelity}: val {curve[-1]:.2f}%", file=sys.stderr, flush=True)

    trial_id = f"train-{uuid.uuid4().hex[:8]}"
    with _checkpoint_dir(args, trial_id) as checkpoint_dir:
        result = evaluator.evaluate(
            settings["arch"],
            seed=settings["seed"],
            trial_id=trial_id,
            on_epoch=on_epoch,
            checkpoint_dir=checkpoint_dir,
        )
        onnx = None
        if args.onnx and result.status == "ok" and checkpoint_dir is not None:
            from nas.train._export import export_result_onnx

            onnx = export_result_onnx(space, result, args.onnx)
    if checkpoint_dir is not None and not (args.checkpoint or args.store):
        result = _without_checkpoint(result)  # the temporary directory is gone
    stored = None
    if args.store:
        from nas.store import ResultStore

        store = ResultStore(args.store)
        store.append([result], on_duplicate="skip")
        stored = repr(store)
    compared = None if row is None else compare_curves(row, result)
    out = result.to_row()
    out.update(onnx=None if onnx is None else str(onnx), store=args.store)
    if compared is not None:
        out["reproduces"] = compared
    emit(out, as_json=args.json, text=_text(result, onnx, stored, compared))
    return 0 if result.status == "ok" else 1


def _without_checkpoint(result: Any) -> Any:
    import dataclasses

    if result.checkpoint is None:
        return result
    return dataclasses.replace(result, checkpoint=None)
