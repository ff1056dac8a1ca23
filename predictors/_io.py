"""Safe model files: a torch state_dict loaded with ``weights_only=True`` + a JSON config.

A model directory holds ``config.json`` (plain JSON: no code, no pickle) and ``weights.pt``
(``torch.save`` of a flat ``{name: tensor}`` dict). Loading uses ``torch.load(weights_only=True)``,
whose unpickler only rebuilds tensors and plain containers, so a file carrying any other pickle
payload (the classic ``__reduce__`` -> ``os.system`` trick) is refused instead of executed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from nas.predictors._errors import PredictorError

__all__ = ["load_dir", "save_dir"]

CONFIG = "config.json"
WEIGHTS = "weights.pt"


def save_dir(path: str | Path, config: dict[str, Any], state: dict[str, torch.Tensor]) -> Path:
    """Write ``config.json`` and ``weights.pt`` into ``path`` (atomically, file by file)."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    tmp = out / f".{WEIGHTS}.tmp"
    torch.save(tensors, tmp)
    os.replace(tmp, out / WEIGHTS)
    tmp = out / f".{CONFIG}.tmp"
    tmp.write_text(json.dumps(config, indent=2, sort_keys=True))
    os.replace(tmp, out / CONFIG)
    return out


# The command that writes each kind of model directory.
_MAKER = {"gennape": "fit", "encoder": "pretrain"}


def load_dir(path: str | Path, *, kind: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read a model directory written by :func:`save_dir`; refuses anything but tensors.

    Args:
        path: The directory.
        kind: The expected ``config["kind"]`` (``"gennape"`` or ``"encoder"``).

    Raises:
        PredictorError: Missing files, wrong kind, or a weights file that is not a plain
            ``{name: tensor}`` dict (for example one carrying a foreign pickle payload).
    """
    root = Path(path)
    cfg_path, weights_path = root / CONFIG, root / WEIGHTS
    if not cfg_path.is_file() or not weights_path.is_file():
        raise PredictorError(
            f"Expected a model directory with {CONFIG} and {WEIGHTS} at {str(root)!r}; "
            f"create one with `nas predictor {_MAKER.get(kind, 'fit')}` or `.save(dir)`."
        )
    try:
        config = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PredictorError(f"{cfg_path}: not valid JSON ({exc}); re-save the model.") from None
    if not isinstance(config, dict) or config.get("kind") != kind:
        got = config.get("kind") if isinstance(config, dict) else type(config).__name__
        raise PredictorError(
            f"{cfg_path}: expected a {kind!r} model config, got kind {got!r}; "
            f"pass the directory of a {kind} model."
        )
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the unpickler's refusal comes as several exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PredictorError(
            f"Refused to load {str(weights_path)!r}: not a plain tensor state_dict ({first}); "
            f"only load model files you trust, and re-save them with this version."
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise PredictorError(
            f"Refused to load {str(weights_path)!r}: expected a {{name: tensor}} dict, "
            f"got {type(state).__name__}; re-save the model with this version."
        )
    return config, state
