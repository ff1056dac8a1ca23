"""The figure kinds (no imports: the CLI lists them without loading matplotlib)."""

from __future__ import annotations

KINDS = ("regret", "pareto", "curves", "parallel", "pred-vs-true")
