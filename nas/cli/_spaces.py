"""``nas spaces``, ``nas sample``, ``nas compile`` and ``nas export``."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from pathlib import Path
from typing import Any

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

    p = sub.add_parser("compile", help="compile an arch and summarize its IR graph")
    _add_arch_args(p, required=True)
    p.add_argument("--text", action="store_true", help="print the IR graph as text")
    add_json_flag(p)
    p.set_defaults(handler=_compile)

    p = sub.add_parser(
        "export",
        help="export an arch, or a stored trial's trained network, to ONNX",
        description=(
            "Export SPACE --arch (freshly initialized weights), or with --from-store a stored "
            "trial's trained network (its best epoch's weights): --best (the run's or store's "
            "best ok trial with weights) or --trial ID. A trial's ONNX file carries its space, "
            "arch, ids and metrics as metadata_props."
        ),
        epilog="example: nas export --from-store runs/store --best --onnx best.onnx",
    )
    _add_arch_args(p, required=False)
    p.add_argument("--onnx", required=True, metavar="PATH", help="ONNX file to write")
    p.add_argument("--from-store", metavar="STORE", help="export a trial of this result store")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--best", action="store_true", help="the best trial (by val accuracy)")
    which.add_argument("--trial", metavar="TRIAL_ID", help="this trial")
    p.add_argument("--run-id", help="only trials of this run")
    p.add_argument(
        "--no-check", action="store_true", help="skip the ONNX Runtime vs torch comparison"
    )
    add_json_flag(p)
    p.set_defaults(handler=_export)


def _add_arch_args(p: Any, *, required: bool) -> None:
    p.add_argument("space", nargs=None if required else "?", help="space name (see `nas spaces`)")
    p.add_argument(
        "--arch",
        required=required,
        help="arch JSON (an object of decision values, or the output of `nas sample`), or @FILE",
    )


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
                f"pass SPACE {arch.space!r}."
            )
        return space.validate(arch.values)
    return space.validate(obj)


def _spaces(args: argparse.Namespace) -> int:
    rows = _listing()
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


# The entry-point group of nas.space._registry, spelt here too: importing that module imports
# nas.space and numpy, which a cached listing never needs (tests/cli/test_spaces_cli.py checks
# that the two agree).
SPACES_GROUP = "nas.search_spaces"


def _listing() -> list[dict[str, Any]]:
    """The rows of ``nas spaces``: built and counted once, then read from a cache file while
    no source a space comes from changed (so a listing imports neither nas.space nor numpy).
    """
    path = _cache_path()
    if path is not None:
        with contextlib.suppress(OSError, ValueError):
            rows = json.loads(path.read_text())
            if isinstance(rows, list):
                return rows
    rows = _count_spaces()
    if path is not None:
        with contextlib.suppress(OSError):  # a read-only cache only costs the next listing
            path.parent.mkdir(parents=True, exist_ok=True)
            for old in path.parent.glob("spaces-*.json"):  # listings of older sources
                old.unlink(missing_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(rows))
            os.replace(tmp, path)
    return rows


def _cache_path() -> Path | None:
    """``$NAS_CACHE_DIR`` (else ``$XDG_CACHE_HOME/nas``, else ``~/.cache/nas``) /
    ``spaces-KEY.json``; the key hashes nas's version, the registered entry points, and the
    modification time and size of every module in nas.space's folder and in the folders of
    the entry points' modules. None when a module cannot be located without importing it."""
    import hashlib
    from importlib.metadata import entry_points

    import nas

    root = os.environ.get("NAS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nas"
    )
    eps = sorted((ep.name, ep.value) for ep in entry_points(group=SPACES_GROUP))
    folders = {Path(nas.__file__).resolve().parent / "space"}
    for _, value in eps:
        file = _module_file(value.partition(":")[0])
        if file is None:
            return None
        folders.add(file.parent)
    parts: list[Any] = [nas.__version__, eps]
    for folder in sorted(folders):
        for file in sorted(folder.glob("*.py")):
            stat = file.stat()
            parts.append([str(file), stat.st_mtime_ns, stat.st_size])
    key = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]
    return Path(root) / f"spaces-{key}.json"


def _module_file(module: str) -> Path | None:
    """Where ``module`` is, found without importing it or its packages."""
    from importlib.machinery import PathFinder

    search: list[str] | None = None
    origin = None
    for depth, _ in enumerate(module.split(".")):
        spec = PathFinder.find_spec(".".join(module.split(".")[: depth + 1]), search)
        if spec is None:
            return None
        search = list(spec.submodule_search_locations or [])
        origin = spec.origin
    return Path(origin).resolve() if origin else None


def _count_spaces() -> list[dict[str, Any]]:
    from nas.space import list_spaces

    rows = []
    for name in list_spaces():
        space = _space(name)
        size = space.size()
        # counting is most of `nas spaces`: count the network alone only when a recipe differs
        nets = size if space.recipe_node is None else space.size(include_recipe=False)
        rows.append(
            {
                "name": name,
                "size": size,
                "architectures": nets,
                "decisions": len(space.decisions),
                "input_shape": list(space.input_shape),
                "description": space.description,
            }
        )
    return rows


def _sample(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise CliInputError(f"-n must be >= 1 (got {args.n}).")
    import numpy as np  # here, not at the top: `nas --help` must not pay for numpy

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

    if args.from_store:
        return _export_trial(args)
    if args.best or args.trial or args.run_id:
        raise CliInputError("--best, --trial and --run-id need --from-store STORE.")
    if args.space is None or args.arch is None:
        raise CliInputError("nas export needs SPACE --arch ARCH, or --from-store STORE --best.")
    space = _space(args.space)
    arch = _arch(space, args.arch)
    graph = space.compile(arch)
    meta = _untrained_metadata(space, arch, graph)
    info = _summary(space, arch, graph)
    info["onnx"] = args.onnx
    if args.no_check:
        export_onnx(graph, args.onnx, metadata=meta)
    else:  # the checked export is the file written
        info["onnxruntime_max_abs_diff"] = onnx_check(graph, args.onnx, metadata=meta)
    _print_export(info, args.json)
    return 0


def _untrained_metadata(space: Any, arch: Any, graph: Any) -> dict[str, str]:
    from nas import __version__

    return {
        "space": space.name,
        "space_version": str(space.version),
        "arch": arch.to_json(),
        "arch_id": arch.arch_id,
        "graph_hash": graph.graph_hash(),
        "weights": "untrained (freshly initialized)",
        "engine_version": __version__,
    }


def _print_export(info: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit(info, as_json=True)
        return
    _print_summary(info)
    for key in ("trial_id", "val_accuracy", "test_accuracy", "onnxruntime_test_accuracy"):
        if info.get(key) is not None:
            value = info[key]
            print(f"{key} {value:.2f}%" if isinstance(value, float) else f"{key} {value}")
    diff = info.get("onnxruntime_max_abs_diff")
    checked = f" (ONNX Runtime matches torch, max |diff| {diff:.2e})" if diff is not None else ""
    print(f"wrote {info['onnx']}{checked}")


def _export_trial(args: argparse.Namespace) -> int:
    """``nas export --from-store``: a stored trial's trained weights, with metadata."""
    from nas.space import Arch
    from nas.store import ResultStore
    from nas.train._export import export_result_onnx, onnx_accuracy, stored_trial

    if args.space is not None or args.arch is not None:
        raise CliInputError("--from-store exports the trial's own arch; drop SPACE and --arch.")
    if not (args.best or args.trial):
        raise CliInputError("--from-store needs --best or --trial TRIAL_ID.")
    from nas.cli._train import check_writable

    check_writable(args.onnx, "--onnx")
    result = stored_trial(ResultStore(args.from_store), trial_id=args.trial, run_id=args.run_id)
    space = _space(result.space)
    arch = Arch.from_json(result.arch)
    graph = space.compile(arch.values)
    path = export_result_onnx(space, result, args.onnx)
    info = _summary(space, arch, graph)
    info.update(
        onnx=str(path),
        trial_id=result.trial_id,
        run_id=result.run_id,
        val_accuracy=result.val_accuracy,
        test_accuracy=result.test_accuracy,
        checkpoint=result.checkpoint,
        recipe=result.recipe_dict(),  # what it was trained with (overrides included)
    )
    if not args.no_check:
        kwargs = (result.extra_dict() or {}).get("dataset_kwargs") or {}
        info["onnxruntime_test_accuracy"] = onnx_accuracy(path, result.dataset, **kwargs)
    _print_export(info, args.json)
    return 0
