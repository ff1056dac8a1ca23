"""``nas spaces``, ``nas sample``, ``nas compile`` and ``nas export``."""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from nas.cli._common import CliInputError, add_json_flag, emit, read_json_arg

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser("spaces", help="list the registered search spaces")
    add_json_flag(p)
    p.set_defaults(handler=_spaces)

    p = sub.add_parser("sample", help="sample archs from a space (JSON lines)")
    p.add_argument("space", help="space name (see `nas spaces`)")
    p.add_argument("-n", type=int, default=1, help="number of archs (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_json_flag(p)
    p.set_defaults(handler=_sample)

    for name, helptext in (
        ("compile", "compile an arch and summarize its IR graph"),
        ("export", "compile an arch and export it to ONNX"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("space", help="space name (see `nas spaces`)")
        p.add_argument(
            "--arch",
            required=True,
            help="arch JSON (an object of decision values, or the output of "
            "`nas sample`), or @FILE",
        )
        if name == "export":
            p.add_argument("--onnx", required=True, metavar="PATH", help="ONNX file to write")
            p.add_argument(
                "--no-check", action="store_true", help="skip the ONNX Runtime vs torch comparison"
            )
        else:
            p.add_argument("--text", action="store_true", help="print the IR graph as text")
        add_json_flag(p)
        p.set_defaults(handler=_compile if name == "compile" else _export)


def _space(name: str) -> Any:
    from nas.space import get_space

    return get_space(name)


def _arch(space: Any, value: str) -> Any:
    from nas.space import Arch

    obj = read_json_arg(value, "--arch")
    if not isinstance(obj, dict):
        raise CliInputError(f"--arch: expected a JSON object (got {type(obj).__name__}).")
    if "values" in obj and isinstance(obj["values"], dict):
        arch = Arch.from_json(obj)
        if arch.space and arch.space != space.name:
            raise CliInputError(
                f"--arch belongs to space {arch.space!r}, not {space.name!r}; "
                f"run `nas compile {arch.space} ...`."
            )
        return space.validate(arch.values)
    return space.validate(obj)


def _spaces(args: argparse.Namespace) -> int:
    from nas.space import list_spaces

    rows = []
    for name in list_spaces():
        space = _space(name)
        size = space.size()
        rows.append(
            {
                "name": name,
                "size": size,
                "architectures": space.size(include_recipe=False),
                "decisions": len(space.decisions),
                "input_shape": list(space.input_shape),
                "description": space.description,
            }
        )
    if args.json:
        for row in rows:
            emit(row, as_json=True)
        return 0
    width = max(len(r["name"]) for r in rows)
    lines = [f"{'name':<{width}}  {'size':>16}  description"]
    for r in rows:
        size = f"{r['size']:,}" if r["size"] is not None else f"inf ({r['architectures']:,} nets)"
        lines.append(f"{r['name']:<{width}}  {size:>16}  {r['description']}")
    print("\n".join(lines))
    return 0


def _sample(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise CliInputError(f"-n must be >= 1 (got {args.n}).")
    space = _space(args.space)
    rng = np.random.default_rng(args.seed)
    for _ in range(args.n):
        arch = space.sample(rng)
        print(
            json.dumps(
                {
                    "space": arch.space,
                    "version": arch.version,
                    "arch_id": arch.arch_id,
                    "values": arch.json_values(),
                }
            )
        )
    return 0


def _summary(space: Any, arch: Any, graph: Any) -> dict[str, Any]:
    return {
        "space": space.name,
        "arch_id": arch.arch_id,
        "graph_hash": graph.graph_hash(),
        "nodes": len(graph.nodes()),
        "params": graph.params,
        "flops": graph.flops,
        "input_shape": list(space.input_shape),
        "output_shape": list(graph.shape(graph.outputs[0])),
        "recipe": space.recipe(arch),
    }


def _print_summary(info: dict[str, Any]) -> None:
    print(
        f"space {info['space']}  arch_id {info['arch_id']}\n"
        f"nodes {info['nodes']}  params {info['params']:,}  FLOPs (MACs) {info['flops']:,}\n"
        f"input {tuple(info['input_shape'])} -> output {tuple(info['output_shape'])}\n"
        f"graph_hash {info['graph_hash']}"
        + (f"\nrecipe {json.dumps(info['recipe'])}" if info["recipe"] else "")
    )


def _compile(args: argparse.Namespace) -> int:
    space = _space(args.space)
    arch = _arch(space, args.arch)
    graph = space.compile(arch)
    graph.validate()
    info = _summary(space, arch, graph)
    if args.json:
        if args.text:
            info["text"] = graph.to_text()
        emit(info, as_json=True)
    else:
        _print_summary(info)
        if args.text:
            print(graph.to_text())
    return 0


def _export(args: argparse.Namespace) -> int:
    from nas.graph import export_onnx, onnx_check

    space = _space(args.space)
    arch = _arch(space, args.arch)
    graph = space.compile(arch)
    path = export_onnx(graph, args.onnx)
    info = _summary(space, arch, graph)
    info["onnx"] = str(path)
    if not args.no_check:
        info["onnxruntime_max_abs_diff"] = onnx_check(graph, path)
    if args.json:
        emit(info, as_json=True)
    else:
        _print_summary(info)
        diff = info.get("onnxruntime_max_abs_diff")
        checked = (
            f" (ONNX Runtime matches torch, max |diff| {diff:.2e})" if diff is not None else ""
        )
        print(f"wrote {path}{checked}")
    return 0
