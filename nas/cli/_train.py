"""``nas train``: train one arch in-process and print its metrics."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nas.cli._common import CliInputError, add_json_flag, emit, read_json_arg

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train one architecture and print its metrics",
        description=(
            "Compile an arch of SPACE, train it with its recipe on a dataset (in this process) "
            "and print validation/test accuracy, params, FLOPs and the per-epoch curve."
        ),
        epilog=(
            "example: nas train cnn1d --arch @arch.json --dataset mnist1d --epochs 5 "
            "--onnx best.onnx --store runs/store"
        ),
    )
    parser.add_argument("space", metavar="SPACE", help="a registered space (see `nas spaces`)")
    parser.add_argument(
        "--arch",
        required=True,
        metavar="JSON_OR_@FILE",
        help='the arch: {"path": value, ...}, an arch JSON with "values", or @file.json',
    )
    parser.add_argument("--dataset", required=True, help="a registered dataset, e.g. mnist1d")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    parser.add_argument("--epochs", type=int, help="override the recipe's number of epochs")
    parser.add_argument(
        "--device", default="auto", choices=("auto", "cpu", "cuda"), help="default auto"
    )
    parser.add_argument("--time-limit", type=float, metavar="SECONDS", help="training time limit")
    parser.add_argument("--onnx", metavar="PATH", help="also export the arch to this ONNX file")
    parser.add_argument("--store", metavar="DIR_OR_URI", help="append the result to this store")
    add_json_flag(parser)
    parser.set_defaults(handler=_train)


def _arch(space: Any, value: str) -> Any:
    from nas.space import Arch

    obj = read_json_arg(value, "--arch")
    if not isinstance(obj, dict):
        raise CliInputError(
            f"--arch: expected a JSON object of decisions (got {type(obj).__name__})."
        )
    if isinstance(obj.get("values"), dict):  # a full arch JSON, as Arch.to_json writes it
        arch = Arch.from_json(obj)
        if arch.space and arch.space != space.name:
            raise CliInputError(
                f"--arch is an arch of space {arch.space!r}, not {space.name!r}; pass "
                f"SPACE {arch.space!r}."
            )
        obj = dict(arch.values)
    return space.validate(obj)


def _text(result: Any, onnx: Path | None, stored: str | None) -> str:
    lines = [f"arch {result.arch_id} on {result.dataset}: {result.status}"]
    if result.error:
        lines.append(f"  reason: {result.error}")
    if result.val_accuracy is not None:
        test = "-" if result.test_accuracy is None else f"{result.test_accuracy:.2f}%"
        lines.append(f"  val {result.val_accuracy:.2f}%, test {test}")
    lines.append(
        f"  params {result.params or 0:,}, FLOPs (MACs) {result.flops or 0:,}, "
        f"epochs {result.fidelity}, {result.train_seconds or 0:.1f} s"
    )
    if result.val_accuracy_curve:
        curve = " ".join(f"{v:.1f}" for v in result.val_accuracy_curve)
        lines.append(f"  val accuracy per epoch: {curve}")
    if onnx is not None:
        lines.append(f"  ONNX: {onnx}")
    if stored:
        lines.append(f"  stored in {stored}")
    return "\n".join(lines)


def _train(args: argparse.Namespace) -> int:
    from nas.run import TrainingEvaluator
    from nas.space import get_space

    space = get_space(args.space)
    arch = _arch(space, args.arch)
    if args.epochs is not None and args.epochs < 1:
        raise CliInputError(f"--epochs must be >= 1 (got {args.epochs}).")
    overrides = {} if args.epochs is None else {"epochs": args.epochs}
    evaluator = TrainingEvaluator(
        space,
        args.dataset,
        device=args.device,
        time_limit_s=args.time_limit,
        recipe_overrides=overrides,
    )

    def on_epoch(partial: Any) -> None:
        if not args.json:  # one line per epoch, so a long run shows it is alive
            print(
                f"epoch {partial.fidelity}: val {partial.val_accuracy:.2f}%",
                file=sys.stderr,
                flush=True,
            )

    result = evaluator.evaluate(arch, seed=args.seed, on_epoch=on_epoch)
    onnx = None
    if args.onnx:
        from nas.graph import export_onnx

        onnx = Path(export_onnx(space.compile(arch), args.onnx))
    stored = None
    if args.store:
        from nas.store import ResultStore

        store = ResultStore(args.store)
        store.append([result], on_duplicate="skip")
        stored = repr(store)
    row = result.to_row()
    row.update(onnx=None if onnx is None else str(onnx), store=args.store)
    emit(row, as_json=args.json, text=_text(result, onnx, stored))
    return 0 if result.status == "ok" else 1
